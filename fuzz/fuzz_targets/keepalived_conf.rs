//! Fuzz target for the keepalived.conf front end: any text through keepalived's line reading
//! (definitions, ~SEQ, conditionals, braces), the block walk, the leniency pass, the typed
//! build and, when it builds, the import to YAML, which must read back to the same
//! configuration. Includes are refused so the input never reaches the file system.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd_config::keepalived::{self, import, Options};
use vipd_config::LoadError;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let options = Options { config_id: Some("lb1".into()), refuse_includes: true };
    let parsed = keepalived::parse(text, "fuzz.conf", &options);
    match import::to_yaml(&parsed, "fuzz.conf", "lb1") {
        Ok(imported) => {
            assert!(vipd_config::parse_str(&imported.yaml, "import.yaml").is_ok());
        }
        Err(LoadError::Invalid { errors, .. }) => {
            assert!(!errors.is_empty());
            for e in &errors {
                assert!(!e.message.starts_with("the YAML written"), "import mismatch: {e}\n{text:?}");
            }
        }
        Err(e) => panic!("unexpected {e}"),
    }
});
