//! The Debian package as `scripts/package.sh` builds it (cargo-deb, from the binary this test
//! run built): what it contains, its control data and maintainer scripts (installed, never
//! enabled or started), and the extracted files at work: `--version`, `check` on the packaged
//! example, the unit through `systemd-analyze verify`, the bash completion through `bash -n`,
//! the man page through `man -l`. Needs cargo-deb, dpkg-deb, man-db and systemd-analyze
//! (scripts/setup.sh installs them) and fails without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/setup.sh installs it): {e}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 paths")
}

/// Builds the package once into a scratch dir; returns (scratch dir, the .deb).
fn build_package() -> (PathBuf, PathBuf) {
    let scratch = std::env::temp_dir().join(format!("vipd-package-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package.sh");
    ok(
        "bash",
        &[
            path(&script),
            "--binary",
            env!("CARGO_BIN_EXE_vipd"),
            "--output",
            path(&scratch),
        ],
    );
    let deb = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .unwrap_or_else(|| panic!("no .deb in {}", scratch.display()));
    (scratch, deb)
}

#[test]
fn debian_package_holds_the_daemon_its_unit_config_completions_and_man_page() {
    let (scratch, deb) = build_package();
    let deb = path(&deb);

    let listing = ok("dpkg-deb", &["-c", deb]);
    for file in [
        "./usr/sbin/vipd",
        "./etc/vipd/vipd.yaml",
        "/systemd/system/vipd.service",
        "./usr/share/man/man8/vipd.8.gz",
        "./usr/share/bash-completion/completions/vipd",
        "./usr/share/zsh/vendor-completions/_vipd",
        "./usr/share/fish/vendor_completions.d/vipd.fish",
    ] {
        assert!(
            listing.lines().any(|l| l.contains(file)),
            "{file} not in the package:\n{listing}"
        );
    }

    let info = ok("dpkg-deb", &["-I", deb]);
    assert!(info.contains("Package: vipd"), "{info}");
    assert!(
        info.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(
        info.contains("Depends:") && info.contains("libc6"),
        "{info}"
    );
    assert!(info.contains("Recommends: nftables"), "{info}");

    // Control files: the example config is a conffile; no maintainer script enables or starts.
    let control = scratch.join("control");
    ok("dpkg-deb", &["-e", deb, path(&control)]);
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap_or_default();
    assert!(
        conffiles.lines().any(|l| l == "/etc/vipd/vipd.yaml"),
        "conffiles: {conffiles:?}"
    );
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        let Ok(text) = std::fs::read_to_string(control.join(script)) else {
            assert_ne!(
                script, "prerm",
                "no prerm: removal would leave vipd running"
            );
            continue;
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.contains("vipd.service") {
                continue;
            }
            let words: Vec<&str> = l.split_whitespace().collect();
            let starts = words
                .iter()
                .any(|w| matches!(*w, "start" | "restart" | "reenable"));
            // Re-creating the links of a unit the operator had enabled is fine; enabling is not.
            let guarded = lines[i.saturating_sub(3)..i]
                .iter()
                .any(|p| p.contains("was-enabled vipd.service"));
            let enables = words.contains(&"enable") && !guarded;
            assert!(
                !starts && !enables,
                "{script} would enable or start vipd before the operator's config exists: {l}"
            );
        }
        if script == "prerm" {
            assert!(text.contains("stop vipd.service"), "prerm: {text}");
        }
    }

    // The extracted files at work.
    let root = scratch.join("root");
    ok("dpkg-deb", &["-x", deb, path(&root)]);
    let vipd = root.join("usr/sbin/vipd");
    let version = ok(path(&vipd), &["--version"]);
    assert_eq!(
        version.trim(),
        format!("vipd {}", env!("CARGO_PKG_VERSION"))
    );
    let example = root.join("etc/vipd/vipd.yaml");
    ok(path(&vipd), &["check", "-c", path(&example)]);

    let unit_dir = ["lib/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.join("vipd.service").exists())
        .expect("vipd.service extracted");
    let unit = std::fs::read_to_string(unit_dir.join("vipd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/sbin/vipd run"), "{unit}");
    assert!(
        unit.contains("ConditionPathExists=/etc/vipd/vipd.yaml"),
        "{unit}"
    );
    // Verified on this machine's systemd with the commands pointing at the extracted binary
    // (a --root holding only the package has none of the targets the unit orders itself after).
    let relocated = scratch.join("vipd.service");
    std::fs::write(&relocated, unit.replace("/usr/sbin/vipd", path(&vipd))).unwrap();
    let verify = run("systemd-analyze", &["verify", path(&relocated)]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    let completion = root.join("usr/share/bash-completion/completions/vipd");
    ok("bash", &["-n", path(&completion)]);
    let registered = ok(
        "bash",
        &[
            "-c",
            &format!("source {} && complete -p vipd", path(&completion)),
        ],
    );
    assert!(registered.contains("vipd"), "{registered}");

    let man = root.join("usr/share/man/man8/vipd.8.gz");
    let page = Command::new("man")
        .args(["-l", "-P", "cat", path(&man)])
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db)");
    assert!(
        page.status.success(),
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );
    let page = String::from_utf8_lossy(&page.stdout);
    for expected in ["vipd", "VRRP", "run", "check", "status", "reload"] {
        assert!(
            page.contains(expected),
            "man page lacks {expected:?}:\n{page}"
        );
    }
    assert!(
        !page.contains("completions") && !page.contains("manpage"),
        "hidden subcommands in the man page:\n{page}"
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}
