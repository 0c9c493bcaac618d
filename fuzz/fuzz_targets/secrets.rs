//! The secret engine on file content in windows, on config text, and the report scrubber.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let rules: Arc<portcullis_secrets::RuleSet> = portcullis_secrets::RuleSet::builtin();
    let _ = portcullis_secrets::scan_file(&rules, "app/config.env", data, 997);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rules.scan_text(text);
        let _ = portcullis_secrets::config::scan_config_text(&rules, text, false);
        let scrubber = portcullis_secrets::scrub::Scrubber::new(&rules, [text]);
        let _ = scrubber.scrub(text);
    }
});
