//! SARIF output is valid: against the official SARIF 2.1.0 JSON schema
//! (../shared/corpus/schemas/sarif-2.1.0.json), and by Microsoft's SARIF multitool with its
//! SARIF and GitHub rule sets, with no error-level result.
//!
//! The multitool is a self-contained .NET program shipped in the npm package
//! `@microsoft/sarif-multitool-linux`; scripts/test.sh unpacks it and sets
//! `PORTCULLIS_SARIF_MULTITOOL` to `package/Sarif.Multitool`. Without it, that test says
//! SKIPPED and checks nothing, or fails when `CI` is set.

mod common;

use common::{gate, portcullis, run_command};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// SARIF files for the built image (waived, expired, unused, diagnostic), and for the
/// corpus images when the corpus is there. Written into `out`.
fn sarif_files(out: &Path) -> Vec<PathBuf> {
    let work = tempfile::tempdir().unwrap();
    gate::write_image(work.path());
    gate::write_waivers(work.path());
    let mut references = vec![(work.path().to_path_buf(), "app.tar".to_string())];
    if let Some(corpus) = common::corpus() {
        for r in [
            "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz",
            "goodwithtech_dockle/pkg/scanner/testdata/scratch.tar",
            "oci:anchore_stereoscope/pkg/image/oci/testdata/valid_oci_dir:1.0",
            "google_go-containerregistry/pkg/v1/mutate/testdata/whiteout_dir.tar",
        ] {
            references.push((corpus.clone(), r.to_string()));
        }
    }
    let mut files = Vec::new();
    for (i, (cwd, reference)) in references.iter().enumerate() {
        let file = out.join(format!("{i}.sarif"));
        let run = run_command(
            portcullis()
                .current_dir(cwd)
                .env(portcullis::cli::scan::NOW_ENV, gate::NOW)
                .args(["scan", reference, "--format"])
                .arg(format!("sarif={}", file.display())),
        );
        assert!(
            run.code == 0 || run.code == 1,
            "{reference}: exit {}\n{}",
            run.code,
            run.stderr
        );
        files.push(file);
    }
    files
}

const BAD_LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

fn escape_stray_bracket(value: &mut Value) -> usize {
    match value {
        Value::String(s) if s == BAD_LANGUAGE_PATTERN => {
            *s = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$".to_string();
            1
        }
        Value::Array(items) => items.iter_mut().map(escape_stray_bracket).sum(),
        Value::Object(map) => map.values_mut().map(escape_stray_bracket).sum(),
        _ => 0,
    }
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let mut schema: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("schemas/sarif-2.1.0.json")).unwrap(),
    )
    .unwrap();
    // The published schema's pattern for `language` (of a run and of a tool component) has a
    // stray `]`, which a strict ECMA-262 regex (as the schema's meta-schema demands) rejects.
    // portcullis never writes `language`; escaping the bracket lets the rest of the schema
    // compile unchanged.
    let fixed = escape_stray_bracket(&mut schema);
    assert!(
        fixed > 0,
        "the schema's language pattern changed: drop this work-around"
    );
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let out = tempfile::tempdir().unwrap();
    for file in sarif_files(out.path()) {
        let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            file.display(),
            errors.join("\n")
        );
        assert_eq!(sarif["version"], "2.1.0");

        let mut broken = sarif.clone();
        broken["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = Value::from("not a uri");
        broken["runs"][0]["invocations"][0]["executionSuccessful"] = Value::from("yes");
        assert!(
            !validator.is_valid(&broken),
            "the schema must reject a broken log"
        );
    }
}

/// GitHub code scanning rejects results without a physical location; findings about the
/// image config get one too.
#[test]
fn every_result_has_a_relative_physical_location_and_a_known_rule() {
    let out = tempfile::tempdir().unwrap();
    for file in sarif_files(out.path()) {
        let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let run = &sarif["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        for result in run["results"].as_array().unwrap() {
            let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no location: {result}", file.display()));
            assert!(!uri.is_empty() && !uri.starts_with('/'), "{uri}");
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            assert!(
                rules[index]["help"]["text"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            );
        }
    }
}

#[test]
fn the_built_image_shows_suppressions_and_notifications() {
    let out = tempfile::tempdir().unwrap();
    let file = &sarif_files(out.path())[0];
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let run = &sarif["runs"][0];
    let waived: Vec<&Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    let rules: Vec<&str> = waived
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["account-extra-uid0", "user-uid0-alias"]);
    assert!(
        waived
            .iter()
            .all(|r| r["suppressions"][0]["status"] == "accepted")
    );
    let config = run["invocations"][0]["toolConfigurationNotifications"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = config
        .iter()
        .map(|n| n["descriptor"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["waiver-expired", "waiver-unused"]);
    assert_eq!(
        run["invocations"][0]["toolExecutionNotifications"][0]["locations"][0]["logicalLocations"]
            [0]["name"],
        "layer 1"
    );
}

#[test]
fn microsofts_sarif_multitool_finds_no_error() {
    let Some(tool) = std::env::var_os("PORTCULLIS_SARIF_MULTITOOL").filter(|v| !v.is_empty())
    else {
        common::skip(
            "PORTCULLIS_SARIF_MULTITOOL is not set (scripts/test.sh installs \
             @microsoft/sarif-multitool-linux with npm and sets it)",
        );
        return;
    };
    let out = tempfile::tempdir().unwrap();
    for file in sarif_files(out.path()) {
        let log = file.with_extension("validation.sarif");
        let run = Command::new(&tool)
            .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
            .args(["validate", "--rule-kind", "Sarif;Gh", "--output"])
            .arg(&log)
            .arg(&file)
            .output()
            .expect("run the SARIF multitool");
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "multitool failed on {}:\n{stdout}{}",
            file.display(),
            String::from_utf8_lossy(&run.stderr)
        );
        let validation: Value =
            serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
        let errors: Vec<String> = validation["runs"][0]["results"]
            .as_array()
            .into_iter()
            .flatten()
            // SARIF's default level for a result without one is "warning".
            .filter(|r| r["level"] == "error")
            .map(|r| format!("{} {}", r["ruleId"], r["message"]))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: the multitool reports errors:\n{}\n{stdout}",
            file.display(),
            errors.join("\n")
        );
    }
}
