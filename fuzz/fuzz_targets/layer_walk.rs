//! One layer blob (any compression) through the walk with the inventory and secret
//! analyzers, under small limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_layer::analyzer::Analyzer;
use portcullis_layer::{Budget, Limits};

fuzz_target!(|data: &[u8]| {
    let budget = Budget::new(Limits {
        max_entries: 10_000,
        max_total_bytes: 64 << 20,
        max_entry_size: 16 << 20,
    });
    let rules = portcullis_secrets::RuleSet::builtin();
    let mut analyzers: Vec<Box<dyn Analyzer>> = vec![
        Box::new(portcullis_inventory::analyzer::InventoryAnalyzer::default()),
        Box::new(portcullis_secrets::SecretsAnalyzer::new(rules)),
    ];
    let _ = portcullis_layer::scan_layer(
        Box::new(std::io::Cursor::new(data.to_vec())),
        u64::MAX,
        &mut analyzers,
        &budget,
    );
});
