//! Prints the diagnostics for a configuration file: `cargo run -p vipd-config --example check -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: check FILE");
    match vipd_config::load_file(std::path::Path::new(&path)) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            println!("{:#?}", loaded.config);
        }
        Err(e) => {
            if let vipd_config::LoadError::Invalid { warnings, .. } = &e {
                for w in warnings {
                    println!("warning: {w}");
                }
            }
            println!("{e}");
            std::process::exit(e.exit_code());
        }
    }
}
