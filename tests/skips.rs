//! Every test that skips does so through `common::skip` (tests/common/mod.rs), which fails
//! instead when `CI` is set: no other file under tests/ prints a `SKIPPED` line of its own.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_common_skip_prints_skipped() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let exempt = [tests.join("common/mod.rs"), tests.join("skips.rs")];
    let mut files = Vec::new();
    rust_files(&tests, &mut files);
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !exempt.contains(f)) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("\"SKIPPED") {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "skip through common::skip (a failure when CI is set) instead of printing SKIPPED:\n{}",
        offenders.join("\n")
    );
}
