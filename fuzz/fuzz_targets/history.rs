//! Build history analysis: a `created_by` line through every reader of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_gate::checks::history;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = history::instruction(text);
    for command in history::commands(text) {
        let _ = history::invocation(&command);
    }
    let _ = history::apt_update_alone(text);
    let _ = history::apt_lists_left(text);
    let _ = history::apk_cache_left(text);
});
