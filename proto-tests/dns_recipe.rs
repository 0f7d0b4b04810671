//! Seed 002's DNS recipe in the lab, as shipped in conf/ (dns-failover-a.yaml, -b.yaml,
//! dns-failover-notify.sh): two vipd over unicast VRRP and a real BIND 9 (Debian's `named`, in a
//! namespace of its own, with a test zone in the lab dir and a TSIG key from `tsig-keygen`).
//! The new master's notify command moves the A record with `nsupdate`; after a failover (the
//! master's vipd killed) the record points at the new master within Master_Down_Interval plus
//! the update, and back at A once it returns. Needs the packages bind9 and bind9-dnsutils.

use crate::daemon_support::*;
use crate::lab::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The instance both recipe files configure.
const RECIPE_INSTANCE: &str = "VI_dns_record";
const DNS_SERVER: &str = "198.51.100.53";
const NAME: &str = "service.example.com";
const NODE_A: &str = "198.51.100.10";
const NODE_B: &str = "198.51.100.11";

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 lab path")
}

/// Starts `named` in `node` with zone example.com (service → 198.51.100.99 at first) that
/// accepts updates signed with the key in `key_file`; everything lives in `dir`.
fn start_named(node: &Node, dir: &Path, key_file: &Path) -> Proc {
    std::fs::write(
        dir.join("example.com.db"),
        format!(
            "$TTL 5\n@ IN SOA ns.example.com. hostmaster.example.com. 1 60 60 600 5\n\
             @ IN NS ns.example.com.\nns IN A {DNS_SERVER}\nservice IN A 198.51.100.99\n"
        ),
    )
    .expect("write the zone file");
    let conf = dir.join("named.conf");
    let d = path_text(dir);
    std::fs::write(
        &conf,
        format!(
            "include \"{key}\";\n\
             options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; \
             session-keyfile \"{d}/session.key\"; managed-keys-directory \"{d}\"; \
             listen-on port 53 {{ {DNS_SERVER}; }}; listen-on-v6 {{ none; }}; \
             recursion no; dnssec-validation no; allow-query {{ any; }}; }};\n\
             controls {{ }};\n\
             zone \"example.com\" {{ type primary; file \"{d}/example.com.db\"; \
             allow-update {{ key \"vipd-failover\"; }}; }};\n",
            key = path_text(key_file),
        ),
    )
    .expect("write named.conf");
    node.exec(&["named-checkconf", path_text(&conf)]);
    // -g: foreground, logging to stderr; -n 1: one worker thread on this small machine.
    let named = node.spawn_labelled("named", &["named", "-g", "-n", "1", "-c", path_text(&conf)]);
    wait_for(Duration::from_secs(10), "named answering", || {
        lookup(node).is_some()
    });
    named
}

/// The A record of [`NAME`] as the server answers it now (`dig +short`).
fn lookup(node: &Node) -> Option<String> {
    let out = node.try_exec(&[
        "dig",
        "+short",
        "+time=1",
        "+tries=1",
        "-p",
        "53",
        "@198.51.100.53",
        NAME,
        "A",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty() && !text.starts_with(';')).then_some(text)
}

/// A shipped recipe file with the lab's paths for the notify script and its settings.
fn recipe(file: &str, env_file: &Path) -> String {
    let yaml = std::fs::read_to_string(repo(file)).expect("read the recipe");
    let script = repo("conf/dns-failover-notify.sh");
    let notify = format!(
        "DNS_FAILOVER_ENV={} {}",
        path_text(env_file),
        path_text(&script)
    );
    assert!(
        yaml.contains("/etc/vipd/dns-failover-notify.sh "),
        "{file} no longer calls the notify script"
    );
    yaml.replace("/etc/vipd/dns-failover-notify.sh", &notify)
}

fn instance_state(vipd: &VipdProc) -> Option<String> {
    vipd.state_of(RECIPE_INSTANCE)
}

#[test]
fn dns_recipe_moves_the_record_to_the_new_master() {
    for tool in ["named", "nsupdate", "dig", "tsig-keygen", "named-checkconf"] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: install the Debian packages bind9 and bind9-dnsutils (scripts/setup.sh)"
        );
    }
    let lab = Lab::new("dns_recipe");
    let ns = lab.add_node("ns");
    let a = lab.add_node("dns-a");
    let b = lab.add_node("dns-b");
    ns.add_addr(&format!("{DNS_SERVER}/24"));
    a.add_addr(&format!("{NODE_A}/24"));
    b.add_addr(&format!("{NODE_B}/24"));

    let dir = lab.dir().join("named");
    std::fs::create_dir_all(&dir).expect("named dir");
    let key_file = dir.join("vipd-failover.key");
    let key = ns.exec_stdout(&["tsig-keygen", "-a", "hmac-sha256", "vipd-failover"]);
    std::fs::write(&key_file, key).expect("write the key");
    let _named = start_named(&ns, &dir, &key_file);
    assert_eq!(lookup(&ns).as_deref(), Some("198.51.100.99"));
    // Only updates signed with the key are accepted.
    let unsigned = a.try_exec(&[
        "sh",
        "-c",
        &format!(
            "printf 'server {DNS_SERVER}\\nzone example.com\\nupdate add {NAME} 5 A 203.0.113.9\\nsend\\n' | nsupdate -t 3"
        ),
    ]);
    let said = String::from_utf8_lossy(&unsigned.stderr).into_owned()
        + &String::from_utf8_lossy(&unsigned.stdout);
    assert!(
        !unsigned.status.success() && said.contains("REFUSED"),
        "an unsigned update was not refused: {said}"
    );
    assert_eq!(lookup(&ns).as_deref(), Some("198.51.100.99"));

    let env_file = lab.dir().join("dns-failover.env");
    let shipped = std::fs::read_to_string(repo("conf/dns-failover.env")).expect("read env");
    std::fs::write(
        &env_file,
        shipped.replace("/etc/vipd/dns-failover.key", path_text(&key_file)),
    )
    .expect("write env");

    let mut vipd_a = a.start_vipd(&recipe("conf/dns-failover-a.yaml", &env_file));
    let vipd_b = b.start_vipd(&recipe("conf/dns-failover-b.yaml", &env_file));
    wait_for(
        Duration::from_secs(10),
        "dns-a MASTER, dns-b BACKUP",
        || {
            instance_state(&vipd_a).as_deref() == Some("MASTER")
                && instance_state(&vipd_b).as_deref() == Some("BACKUP")
        },
    );
    wait_for(
        Duration::from_secs(10),
        "the record pointing at dns-a",
        || lookup(&ns).as_deref() == Some(NODE_A),
    );

    // Nothing to announce on a shared segment, and status says why.
    let status_a = vipd_a.instance(RECIPE_INSTANCE).expect("dns-a status");
    assert!(
        status_a["garp_note"]
            .as_str()
            .is_some_and(|n| n.starts_with("garp: not sent — unicast peers only")),
        "{status_a}"
    );
    assert_eq!(status_a["vips"][0]["announcements"], 0, "{status_a}");
    assert_eq!(status_a["vips"][0]["held"], true, "{status_a}");
    assert_eq!(
        vipd_b.instance(RECIPE_INSTANCE).expect("dns-b")["peer_master"]["address"],
        NODE_A
    );

    // dns-a dies without a word (no priority-0 advert): dns-b waits Master_Down_Interval, takes
    // over and moves the record.
    let master_down = Duration::from_secs_f64(3.0 + (256.0 - 100.0) / 256.0);
    let allowed = master_down + Duration::from_secs(3);
    vipd_a.kill();
    let moved = time_until(allowed + Duration::from_secs(5), || {
        lookup(&ns).as_deref() == Some(NODE_B)
    })
    .unwrap_or_else(|| panic!("the record never moved to dns-b: {:?}", lookup(&ns)));
    println!(
        "dns_recipe: record at dns-b {:.2} s after dns-a died (Master_Down_Interval {:.2} s)",
        moved.as_secs_f64(),
        master_down.as_secs_f64()
    );
    assert!(
        moved <= allowed,
        "the record moved after {moved:?}, more than Master_Down_Interval + 3 s ({allowed:?})"
    );
    assert_eq!(instance_state(&vipd_b).as_deref(), Some("MASTER"));

    // dns-a comes back, preempts, and the record follows it.
    drop(vipd_a);
    let vipd_a = a.start_vipd(&recipe("conf/dns-failover-a.yaml", &env_file));
    wait_for(Duration::from_secs(15), "the record back at dns-a", || {
        lookup(&ns).as_deref() == Some(NODE_A)
    });
    assert_eq!(instance_state(&vipd_a).as_deref(), Some("MASTER"));
    assert_eq!(instance_state(&vipd_b).as_deref(), Some("BACKUP"));
}
