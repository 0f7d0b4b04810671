//! Link options of vipd's own binary (nothing is generated here).
//!
//! Relative relocations packed (`DT_RELR`, glibc 2.36+, GNU ld 2.38+ or lld): the position-
//! independent binary carries ~7000 of them, 154 KB of `.rela.dyn` that the dynamic loader reads
//! at every start and that stays in vipd's RSS; packed they take a few hundred bytes. An older
//! linker ignores the option with a warning.
//!
//! The code a started daemon runs placed first in `.text`, in the order of
//! `link/steady-state.order` (written by `proto-tests/code_order.sh`): the kernel maps code 64 KiB
//! around each fault, so steady-state code spread over the whole text keeps most of it resident.
//! Only lld reads a symbol ordering file; rustc links x86_64-unknown-linux-gnu with its own lld
//! since 1.90, unless a linker is configured. Names the binary lacks are skipped silently.

use std::process::Command;

fn main() {
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let order = format!("{manifest_dir}/link/steady-state.order");
    if links_with_rustc_lld() && std::path::Path::new(&order).exists() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo:rerun-if-changed={order}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}

/// Whether rustc's default linker for this target is its own lld: x86_64-unknown-linux-gnu from
/// rustc 1.90 on, with no linker of the user's choice (`linker = …` in Cargo's config sets
/// `RUSTC_LINKER`; `-C linker`/`-C link-self-contained`/`-C linker-flavor` in the flags).
fn links_with_rustc_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || std::env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "link-self-contained", "linker-flavor"]
        .iter()
        .any(|option| flags.contains(option))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    // "rustc 1.95.0 (…)"
    let mut numbers = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
