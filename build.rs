//! Link options of vipd's own binary (nothing is generated here).
//!
//! Relative relocations packed (`DT_RELR`, glibc 2.36+, GNU ld 2.38+ or lld): the position-
//! independent binary carries ~7000 of them, 154 KB of `.rela.dyn` that the dynamic loader reads
//! at every start and that stays in vipd's RSS; packed they take a few hundred bytes. An older
//! linker ignores the option with a warning.

fn main() {
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
