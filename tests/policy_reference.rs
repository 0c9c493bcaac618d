//! docs/policy-reference.md is what `portcullis explain --policy-reference` prints, which is
//! generated from the check table, the parameters and the built-in policies: a new check,
//! parameter or policy change that is not in the committed file fails here. Regenerate it
//! with
//!
//!     PORTCULLIS_BLESS=1 cargo test --test policy_reference

mod common;

use std::path::Path;

#[test]
fn the_committed_policy_reference_is_up_to_date() {
    let run = common::run(&["explain", "--policy-reference"]);
    run.expect_code(0);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/policy-reference.md");
    if std::env::var_os("PORTCULLIS_BLESS").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&file, &run.stdout).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == run.stdout,
        "docs/policy-reference.md is out of date; regenerate it with\n    \
         PORTCULLIS_BLESS=1 cargo test --test policy_reference"
    );
}
