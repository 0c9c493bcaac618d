//! Image configs (with the list counting before the parse) and image references.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((config, _)) = portcullis_image::resolve::parse_config(data, "fuzz") {
        let _ = portcullis_gate::checks::history::steps(&config);
        let _ = portcullis_gate::checks::history::layer_steps(&config, 3);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = portcullis_image::reference::ImageRef::parse(text);
    }
});
