//! Fuzz target for the YAML front end and the typed build: any text gives a configuration or
//! positioned errors, never a panic; every error names a line and column of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd_config::LoadError;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match vipd_config::parse_str(text, "fuzz.yaml") {
        Ok(_) => {}
        Err(LoadError::Invalid { errors, .. }) => {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| e.line >= 1 && e.col >= 1), "{errors:?}");
        }
        Err(e) => panic!("unexpected {e}"),
    }
});
