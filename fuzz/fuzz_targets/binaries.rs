//! Go build information and Java archives, fed in pieces as the walk feeds them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inventory::gobin::GoScanner;
use portcullis_inventory::java::JarScanner;

fuzz_target!(|data: &[u8]| {
    let piece = 4096.min(data.len().max(1));
    let mut go = GoScanner::default();
    let mut jar = JarScanner::for_path("app/lib/fuzz-1.0.jar");
    let mut offset = 0u64;
    for chunk in data.chunks(piece) {
        go.chunk(offset, chunk);
        jar.feed(chunk);
        offset += chunk.len() as u64;
    }
    let _ = go.finish();
    let _ = jar.finish();
});
