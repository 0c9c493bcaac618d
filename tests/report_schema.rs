//! The JSON report validates against the schema documented in docs/report-schema.json, so
//! the documentation cannot drift from what the tool writes.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json"),
    )
    .expect("docs/report-schema.json");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn report_for(reference: &str) -> Value {
    let out = common::offline_data(&mut Command::new(env!("CARGO_BIN_EXE_portcullis")))
        .args(["scan", reference, "--format", "json"])
        .output()
        .expect("run portcullis");
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report is JSON")
}

fn assert_valid(validator: &jsonschema::Validator, report: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: report does not match docs/report-schema.json:\n{}",
        errors.join("\n")
    );
}

#[test]
fn demo_report_matches_the_documented_schema() {
    let validator = schema();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo.tar");
    let report = report_for(demo.to_str().unwrap());
    assert_valid(&validator, &report, "testdata/demo.tar");
    assert_eq!(report["schema_version"], "2.2");
    assert_eq!(report["image"]["manifest_digest"], Value::Null);
}

#[test]
fn the_schema_rejects_what_it_should() {
    let validator = schema();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo.tar");
    let mut report = report_for(demo.to_str().unwrap());
    report["gate"]["result"] = Value::String("MAYBE".into());
    assert!(
        !validator.is_valid(&report),
        "a bad verdict must not validate"
    );
}

#[test]
fn corpus_reports_match_the_documented_schema() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let validator = schema();
    for rel in [
        "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz",
        "google_go-containerregistry/pkg/v1/mutate/testdata/whiteout_dir.tar",
        "wagoodman_dive/.data/test-oci-zstd-image.tar",
    ] {
        let report = report_for(corpus.join(rel).to_str().unwrap());
        assert_valid(&validator, &report, rel);
    }
    let layout = format!(
        "oci:{}",
        corpus
            .join("anchore_stereoscope/pkg/image/oci/testdata/multiplatform_oci_dir")
            .display()
    );
    let report = report_for(&format!(
        "{layout}@sha256:5ed07065bcbc6c52e3ad28526557d7b6833613fc79257b1a786de85e37c03b05"
    ));
    assert_valid(&validator, &report, &layout);
}

/// The fields a policy and a waiver file add (thresholds per check, disabled checks, the
/// waiver list, waived findings) are documented too.
#[test]
fn gate_and_waiver_fields_match_the_documented_schema() {
    let validator = schema();
    let dir = tempfile::tempdir().unwrap();
    common::gate::write_image(dir.path());
    common::gate::write_waivers(dir.path());
    std::fs::write(
        dir.path().join("policy.toml"),
        "[checks.user-not-found]\nfail_on = \"never\"\n[checks.user-numeric-unmapped]\nenabled = false\n",
    )
    .unwrap();
    let run = common::run_command(
        common::portcullis()
            .current_dir(dir.path())
            .env(portcullis::cli::scan::NOW_ENV, common::gate::NOW)
            .args([
                "scan",
                "app.tar",
                "--format",
                "json",
                "--policy",
                "./policy.toml",
            ]),
    );
    run.expect_code(0);
    let report = run.json();
    assert_valid(&validator, &report, "app.tar with waivers");
    assert_eq!(report["gate"]["check_fail_on"]["user-not-found"], "never");
    assert_eq!(report["gate"]["disabled"][0], "user-numeric-unmapped");
    assert_eq!(report["waivers"].as_array().map(Vec::len), Some(4));

    let mut bad = report.clone();
    bad["waivers"][0]["state"] = Value::from("forgotten");
    assert!(
        !validator.is_valid(&bad),
        "a bad waiver state must not validate"
    );
}
