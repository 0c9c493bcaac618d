//! A `docker save` stream read once, every layer-like blob walked as it passes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_image::LayerScanner;
use portcullis_layer::{Budget, LayerError, Limits, ScannedLayer};
use std::io::Read;

struct Walk;

impl LayerScanner<portcullis_layer::Listing> for Walk {
    fn scan(
        &self,
        raw: Box<dyn Read + Send + '_>,
        max_blob_size: u64,
        budget: &Budget,
    ) -> Result<ScannedLayer, LayerError> {
        let mut none: Vec<Box<dyn portcullis_layer::analyzer::Analyzer>> = Vec::new();
        portcullis_layer::scan_layer(raw, max_blob_size, &mut none, budget)
    }
}

fuzz_target!(|data: &[u8]| {
    let budget = Budget::new(Limits {
        max_entries: 10_000,
        max_total_bytes: 64 << 20,
        max_entry_size: 16 << 20,
    });
    let _ = portcullis_image::stream::scan_stream(std::io::Cursor::new(data), &Walk, &budget);
});
