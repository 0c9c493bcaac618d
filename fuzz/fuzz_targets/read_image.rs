//! A whole image through acquire and merge: the bytes as an OCI archive and as a `docker
//! save` archive, read through the store (index, manifest, config, every layer, digests
//! checked), each layer analysed, and the layers merged in order (whiteouts, opaque
//! directories, implicit parents, links), then the inventory built from the result. Seeded
//! with real archives (`cargo fuzz run read_image corpus/read_image ../testdata`), so that the
//! mutations reach the multi-layer merge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_gate::analyze::Analyzers;
use portcullis_gate::{ReadOptions, read_image};
use portcullis_layer::Limits;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    let options = ReadOptions {
        limits: Limits {
            max_entries: 10_000,
            max_total_bytes: 64 << 20,
            max_entry_size: 16 << 20,
        },
        ..ReadOptions::default()
    };
    let path = file.path().display().to_string();
    for transport in ["oci-archive", "docker-archive"] {
        if let Ok(facts) = read_image(
            &format!("{transport}:{path}"),
            &options,
            &Analyzers::default(),
        ) {
            let _ = facts.inventory();
        }
    }
});
