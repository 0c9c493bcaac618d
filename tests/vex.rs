//! VEX: `scan --vex FILE` (and the policy's `osv.vex`) suppress the vulnerability findings
//! that `not_affected` and `fixed` statements cover, as waivers do; `portcullis vex` writes
//! the waivers of vulnerabilities as OpenVEX. The image is Alpine 3.19 with OpenSSL's
//! libraries and busybox, and the OSV records those match (as osv.dev publishes Alpine's);
//! the VEX documents are written by the tests, and the real ones of the OpenVEX
//! specification and CycloneDX's examples are read from ../shared/corpus.

mod common;

use common::alpine::{BUSYBOX_UNFIXED_RECORD, OPENSSL_RECORD};
use common::builder::{DockerArchive, Image, Layer};
use common::{Run, corpus, portcullis, run_command};
use portcullis_advisories::vex::{self, Format, Status};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const APK_DB: &str = "\
C:Q1Aoa+pOeyCnUAFQFTOcBb/Sb/RSc=
P:libcrypto3
V:3.1.4-r2
A:x86_64
o:openssl

C:Q1uqjAWlRnsCy5xnBAuTVj6JGbmN8=
P:libssl3
V:3.1.4-r2
A:x86_64
o:openssl

C:Q1Wf9FJzDcYLOu/T6RsDpeXx1UqQU=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox

";

/// The day the tests run on: Alpine 3.19 is supported.
const NOW: &str = "2024-06-01";

const LIBSSL: &str = "pkg:apk/alpine/libssl3@3.1.4-r2";
const LIBCRYPTO: &str = "pkg:apk/alpine/libcrypto3";

/// A directory holding `app.tar` (tagged `app:1`) and the OSV database `osv/`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let image = Image::new().user("app").layer(
        Layer::new()
            .dir("etc")
            .file(
                "etc/os-release",
                "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
            )
            .file("etc/alpine-release", "3.19.1\n")
            .file(
                "etc/passwd",
                "root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000::/app:/sbin/nologin\n",
            )
            .file("etc/group", "root:x:0:\napp:x:1000:\n")
            .dir("lib/apk/db")
            .file("lib/apk/db/installed", APK_DB),
    );
    DockerArchive::docker25()
        .image(&image.build(), &["app:1"])
        .write(&dir.path().join("app.tar"));
    let db = dir.path().join("osv");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("ALPINE-CVE-2023-5678.json"), OPENSSL_RECORD).unwrap();
    std::fs::write(
        db.join("ALPINE-CVE-2023-42366.json"),
        BUSYBOX_UNFIXED_RECORD,
    )
    .unwrap();
    dir
}

fn scan(dir: &Path, args: &[&str]) -> Run {
    run_command(
        portcullis()
            .current_dir(dir)
            .env(portcullis::cli::scan::NOW_ENV, NOW)
            .args(["scan", "app.tar", "--osv-db", "osv", "--fail-on", "medium"])
            .args(args),
    )
}

/// An OpenVEX document of `statements`.
fn openvex(statements: Value) -> String {
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/app-1",
        "author": "Acme Security",
        "timestamp": "2024-05-01T10:00:00Z",
        "version": 1,
        "statements": statements,
    })
    .to_string()
}

/// The report validates against docs/report-schema.json, its `vex` list included.
fn assert_matches_report_schema(report: &Value) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json"),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// (package, suppressed-by reason) of each vuln-package finding, sorted by package.
fn vulns(report: &Value) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "vuln-package")
        .map(|f| {
            (
                f["data"]["package"].as_str().unwrap().to_string(),
                f["waived"]["reason"].as_str().map(str::to_string),
            )
        })
        .collect();
    out.sort();
    out
}

/// (statement, state, matched, suppressed) of the report's `vex` list.
fn vex_states(report: &Value) -> Vec<(u64, String, u64, u64)> {
    report["vex"]
        .as_array()
        .unwrap_or_else(|| panic!("no vex list: {report:#}"))
        .iter()
        .map(|v| {
            (
                v["statement"].as_u64().unwrap(),
                v["state"].as_str().unwrap().to_string(),
                v["matched"].as_u64().unwrap(),
                v["suppressed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn without_vex_the_openssl_findings_fail_the_gate() {
    let dir = workspace();
    let run = scan(dir.path(), &["--format", "json"]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(
        vulns(&report),
        [
            ("busybox".into(), None),
            ("libcrypto3".into(), None),
            ("libssl3".into(), None)
        ]
    );
    let checks: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(report["gate"]["failing"], 2, "{checks:?}");
    assert!(report.get("vex").is_none());
}

#[test]
fn not_affected_and_fixed_statements_suppress_what_they_cover() {
    let dir = workspace();
    write(
        dir.path(),
        "vex.json",
        &openvex(json!([
            {
                "vulnerability": {"name": "CVE-2023-5678"},
                "products": [{"@id": LIBSSL}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": "the application never generates X9.42 DH keys"
            },
            {
                "vulnerability": {"name": "ALPINE-CVE-2023-5678"},
                "products": [{"@id": LIBCRYPTO}],
                "status": "fixed"
            },
            {
                "vulnerability": {"name": "CVE-2099-0001"},
                "products": [{"@id": LIBSSL}],
                "status": "not_affected",
                "justification": "component_not_present"
            },
            {
                "vulnerability": {"name": "CVE-2023-42366"},
                "products": [{"@id": "pkg:apk/alpine/busybox"}],
                "status": "affected",
                "action_statement": "remove busybox from the final stage"
            }
        ])),
    );
    let run = scan(dir.path(), &["--format", "json", "--vex", "vex.json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(
        vulns(&report),
        [
            ("busybox".into(), None),
            (
                "libcrypto3".into(),
                Some("VEX fixed (vex.json, statement 2)".into())
            ),
            (
                "libssl3".into(),
                Some(
                    "VEX not_affected: vulnerable_code_not_in_execute_path; the application \
                     never generates X9.42 DH keys (vex.json, statement 1)"
                        .into()
                )
            ),
        ]
    );
    let libssl = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["data"]["package"] == "libssl3")
        .unwrap();
    assert_eq!(
        libssl["waived"]["vex"],
        json!({"file": "vex.json", "statement": 1, "status": "not_affected",
               "justification": "vulnerable_code_not_in_execute_path"})
    );
    assert_eq!(report["gate"]["failing"], 0);
    assert_eq!(report["summary"]["waived"], 2);
    assert_matches_report_schema(&report);
    assert_eq!(
        vex_states(&report),
        [
            (1, "applied".into(), 1, 1),
            (2, "applied".into(), 1, 1),
            (3, "unused".into(), 0, 0),
            (4, "matched".into(), 1, 0),
        ]
    );
    assert_eq!(
        report["vex"][3],
        json!({
            "file": "vex.json", "statement": 4, "vulnerability": "CVE-2023-42366",
            "products": ["pkg:apk/alpine/busybox"], "status": "affected",
            "action_statement": "remove busybox from the final stage",
            "state": "matched", "matched": 1, "suppressed": 0
        })
    );

    // The table shows them as waived, with the statement, and warns of the unused one.
    let table = scan(dir.path(), &["--vex", "vex.json"]);
    table.expect_code(0);
    assert!(
        table.stdout.contains(
            "vuln-package  libcrypto3 CVE-2023-5678  /lib/apk/db/installed  layer 0  (VEX fixed \
             (vex.json, statement 2))"
        ),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains(
            "warning: vex.json: VEX statement 3 (CVE-2099-0001 not_affected) is about no \
             finding of this image"
        ),
        "{}",
        table.stdout
    );

    // SARIF: an accepted suppression naming the statement; the unused one a notification.
    let sarif = scan(dir.path(), &["--format", "sarif", "--vex", "vex.json"]);
    sarif.expect_code(0);
    let sarif = sarif.json();
    let run = &sarif["runs"][0];
    let suppressed: Vec<&Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 2);
    assert!(suppressed.iter().any(|r| r["suppressions"][0]["properties"]
        == json!({"vexFile": "vex.json", "vexStatement": 1, "vexStatus": "not_affected",
                  "vexJustification": "vulnerable_code_not_in_execute_path"})));
    let notes = run["invocations"][0]["toolConfigurationNotifications"]
        .as_array()
        .unwrap();
    assert!(
        notes.iter().any(|n| n["descriptor"]["id"] == "vex-unused"
            && n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "vex.json"),
        "{notes:#?}"
    );

    // JUnit lists every statement in a suite of its own.
    let junit = scan(dir.path(), &["--format", "junit", "--vex", "vex.json"]);
    assert!(
        junit
            .stdout
            .contains("<testsuite name=\"vex\" tests=\"4\" failures=\"0\""),
        "{}",
        junit.stdout
    );
}

#[test]
fn a_purl_names_one_version_or_every_version() {
    let dir = workspace();
    let statement = |product: &str| {
        openvex(json!([{
            "vulnerability": {"name": "CVE-2023-5678"},
            "products": [{"@id": product}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present"
        }]))
    };
    let table = [
        ("pkg:apk/alpine/libssl3@3.1.4-r2", true),
        ("pkg:apk/alpine/libssl3", true),
        ("pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64", true),
        ("pkg:apk/alpine/libssl3@3.1.4-r1", false),
        ("pkg:apk/alpine/libssl3?arch=armv7", false),
        ("pkg:deb/debian/libssl3", false),
    ];
    for (product, suppressed) in table {
        write(dir.path(), "vex.json", &statement(product));
        let run = scan(dir.path(), &["--format", "json", "--vex", "vex.json"]);
        let report = run.json();
        let libssl = vulns(&report)
            .into_iter()
            .find(|(p, _)| p == "libssl3")
            .unwrap();
        assert_eq!(libssl.1.is_some(), suppressed, "{product}");
        let state = if suppressed { "applied" } else { "unused" };
        assert_eq!(report["vex"][0]["state"], state, "{product}");
    }
}

#[test]
fn affected_and_under_investigation_suppress_nothing_and_the_latest_statement_decides() {
    let dir = workspace();
    for status in ["affected", "under_investigation"] {
        let mut statement = json!({
            "vulnerability": {"name": "CVE-2023-5678"},
            "products": [{"@id": LIBSSL}],
            "status": status,
        });
        if status == "affected" {
            statement["action_statement"] = json!("upgrade openssl");
        }
        write(dir.path(), "vex.json", &openvex(json!([statement])));
        let run = scan(dir.path(), &["--format", "json", "--vex", "vex.json"]);
        run.expect_code(1);
        let report = run.json();
        assert!(vulns(&report).iter().all(|(_, w)| w.is_none()), "{status}");
        assert_eq!(vex_states(&report), [(1, "matched".into(), 1, 0)]);
        assert_eq!(report["vex"][0]["status"], status);
    }

    // A later statement (by timestamp, whatever the order) overrides an earlier one.
    write(
        dir.path(),
        "vex.json",
        &openvex(json!([
            {"vulnerability": {"name": "CVE-2023-5678"}, "products": [{"@id": LIBSSL}],
             "status": "affected", "action_statement": "upgrade",
             "timestamp": "2026-05-02T00:00:00Z"},
            {"vulnerability": {"name": "CVE-2023-5678"}, "products": [{"@id": LIBSSL}],
             "status": "not_affected", "justification": "vulnerable_code_not_present",
             "timestamp": "2026-05-01T00:00:00Z"},
            {"vulnerability": {"name": "CVE-2023-5678"}, "products": [{"@id": LIBCRYPTO}],
             "status": "under_investigation"},
            {"vulnerability": {"name": "CVE-2023-5678"}, "products": [{"@id": LIBCRYPTO}],
             "status": "fixed"}
        ])),
    );
    let report = scan(dir.path(), &["--format", "json", "--vex", "vex.json"]).json();
    assert_eq!(
        vex_states(&report),
        [
            (1, "matched".into(), 1, 0),
            (2, "matched".into(), 1, 0),
            (3, "matched".into(), 1, 0),
            (4, "applied".into(), 1, 1),
        ]
    );
}

#[test]
fn the_image_as_product_with_or_without_subcomponents() {
    let dir = workspace();
    let report = scan(dir.path(), &["--format", "json"]).json();
    let config_digest = report["image"]["config_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        // The image by name, narrowed to libssl3.
        (
            json!({"@id": "app:1", "subcomponents": [{"@id": "pkg:apk/alpine/libssl3"}]}),
            vec!["libssl3"],
        ),
        // The image by digest: every package of it.
        (json!({"@id": config_digest}), vec!["libcrypto3", "libssl3"]),
        // Another image.
        (json!({"@id": "app:2"}), vec![]),
    ];
    for (product, expected) in cases {
        write(
            dir.path(),
            "vex.json",
            &openvex(json!([{
                "vulnerability": {"name": "CVE-2023-5678"},
                "products": [product],
                "status": "not_affected",
                "impact_statement": "not reachable"
            }])),
        );
        let report = scan(dir.path(), &["--format", "json", "--vex", "vex.json"]).json();
        let suppressed: Vec<String> = vulns(&report)
            .into_iter()
            .filter(|(_, w)| w.is_some())
            .map(|(p, _)| p)
            .collect();
        assert_eq!(suppressed, expected, "{product}");
    }
}

#[test]
fn cyclonedx_vex_resolves_bom_refs_to_the_packages() {
    let dir = workspace();
    write(
        dir.path(),
        "bom.cdx.json",
        &json!({
            "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
            "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "metadata": {"component": {"type": "container", "name": "app", "version": "1", "bom-ref": "image"}},
            "components": [{"type": "library", "name": "libssl3", "bom-ref": "libssl3@3.1.4-r2",
                            "purl": "pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64"}],
            "vulnerabilities": [
                {"id": "CVE-2023-5678",
                 "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                              "detail": "no DH key generation"},
                 "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#libssl3@3.1.4-r2"}]},
                {"id": "CVE-2023-42366", "analysis": {"state": "resolved"},
                 "affects": [{"ref": "image"}]}
            ]
        })
        .to_string(),
    );
    let run = scan(dir.path(), &["--format", "json", "--vex", "bom.cdx.json"]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(
        vulns(&report),
        [
            (
                "busybox".into(),
                Some("VEX fixed (bom.cdx.json, statement 2)".into())
            ),
            ("libcrypto3".into(), None),
            (
                "libssl3".into(),
                Some(
                    "VEX not_affected: code_not_reachable; no DH key generation \
                     (bom.cdx.json, statement 1)"
                        .into()
                )
            ),
        ]
    );
    assert_eq!(report["vex"][1]["written_status"], "resolved");
}

#[test]
fn a_policy_lists_vex_documents_relative_to_itself() {
    let dir = workspace();
    std::fs::create_dir(dir.path().join("ci")).unwrap();
    write(
        &dir.path().join("ci"),
        "vex.json",
        &openvex(json!([{
            "vulnerability": {"name": "CVE-2023-5678"},
            "products": [{"@id": "pkg:apk/alpine/libssl3"}, {"@id": LIBCRYPTO}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present"
        }])),
    );
    write(
        &dir.path().join("ci"),
        "gate.toml",
        "extends = \"default\"\nfail_on = \"medium\"\n[params.osv]\nvex = [\"vex.json\"]\n",
    );
    let run = scan(
        dir.path(),
        &["--format", "json", "--policy", "ci/gate.toml"],
    );
    run.expect_code(0);
    assert_eq!(run.json()["summary"]["waived"], 2);
}

#[test]
fn an_unreadable_vex_document_is_an_error_naming_it() {
    let dir = workspace();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "missing.json",
            "",
            &["missing.json", "invalid VEX document"],
        ),
        (
            "broken.json",
            "{\"statements\": [",
            &["broken.json", "not JSON"],
        ),
        (
            "status.json",
            r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "CVE-1"}, "status": "fine"}]}"#,
            &["status.json", "statement 1: unknown status \"fine\""],
        ),
        (
            "sbom.json",
            r#"{"spdxVersion": "SPDX-2.3"}"#,
            &["sbom.json", "not a VEX document"],
        ),
    ];
    for (name, text, reasons) in cases {
        if !text.is_empty() {
            write(dir.path(), name, text);
        }
        let run = scan(dir.path(), &["--format", "json", "--vex", name]);
        run.expect_scan_error(name, reasons);
    }
}

/// A statement as the corpus test compares it: vulnerability, status, and each product's
/// identifiers.
type Summary = (String, Status, Vec<Vec<String>>);

/// What each real example yields: its format, and (vulnerability, status, products as
/// their identifiers) of every statement; CycloneDX BOMs beside the VEX documents yield none.
#[test]
fn the_real_examples_of_openvex_and_cyclonedx_parse() {
    let Some(corpus) = corpus() else {
        return;
    };
    let summary = |path: &Path| -> (Format, Vec<Summary>) {
        let doc = vex::load(path).unwrap_or_else(|e| panic!("{e}"));
        let statements = doc
            .statements
            .iter()
            .map(|s| {
                (
                    s.vulnerability.clone(),
                    s.status,
                    s.products.iter().map(|p| p.identifiers.clone()).collect(),
                )
            })
            .collect();
        (doc.format, statements)
    };
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let openvex = corpus.join("openvex_spec/examples");
    assert_eq!(
        summary(&openvex.join("spec-example-1.json")),
        (
            Format::OpenVex,
            vec![(
                "CVE-2023-12345".into(),
                Status::Fixed,
                vec![
                    owned(&["pkg:apk/wolfi/git@2.39.0-r1?arch=armv7"]),
                    owned(&["pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"])
                ]
            )]
        )
    );
    assert_eq!(
        summary(&openvex.join("spec-example-2.json")).1[0].1,
        Status::UnderInvestigation
    );

    let cdx = corpus.join("CycloneDX_bom-examples/VEX");
    let jackson = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar";
    let (format, statements) = summary(&cdx.join("vex.json"));
    assert_eq!(format, Format::CycloneDx);
    assert_eq!(
        statements,
        [(
            "CVE-2020-25649".to_string(),
            Status::NotAffected,
            vec![owned(&[
                &format!("urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#{jackson}"),
                jackson
            ])]
        )]
    );
    // Every VEX document and BOM of the examples: (file, statements by status:
    // not_affected, affected, fixed, under_investigation).
    let expected: &[(&str, [usize; 4])] = &[
        ("CISA-Use-Cases/Case-1/vex-affected.json", [0, 1, 0, 0]),
        ("CISA-Use-Cases/Case-1/vex-fixed.json", [0, 0, 1, 0]),
        ("CISA-Use-Cases/Case-1/vex-not_affected.json", [1, 0, 0, 0]),
        (
            "CISA-Use-Cases/Case-1/vex-under_investigation.json",
            [0, 0, 0, 1],
        ),
        ("CISA-Use-Cases/Case-2/vex.json", [19, 0, 0, 0]),
        ("CISA-Use-Cases/Case-3/vex.json", [6, 5, 3, 5]),
        ("CISA-Use-Cases/Case-4/vex.json", [0, 1, 0, 0]),
        ("CISA-Use-Cases/Case-5/vex.json", [0, 0, 0, 1]),
        ("CISA-Use-Cases/Case-6/vex.json", [1, 1, 0, 0]),
        ("CISA-Use-Cases/Case-7/bom-1.json", [0, 0, 0, 0]),
        ("CISA-Use-Cases/Case-7/bom-2.json", [0, 0, 0, 0]),
        ("CISA-Use-Cases/Case-7/vex.json", [2, 1, 1, 0]),
        ("CISA-Use-Cases/Case-8/bom-1.json", [0, 0, 0, 0]),
        ("CISA-Use-Cases/Case-8/bom-2.json", [0, 0, 0, 0]),
        ("CISA-Use-Cases/Case-8/vex.json", [4, 2, 2, 0]),
        ("Use-Cases/Case-1/vex.json", [1, 0, 0, 0]),
        ("Use-Cases/Case-10/vex.json", [1, 0, 0, 0]),
        ("Use-Cases/Case-11/vex.json", [19, 0, 0, 0]),
        ("Use-Cases/Case-12/vex.json", [2, 1, 0, 0]),
        ("Use-Cases/Case-13/bom-1.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-13/bom-2.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-13/bom-3.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-13/vex.json", [1, 1, 0, 0]),
        ("Use-Cases/Case-2/vex.json", [0, 1, 0, 0]),
        ("Use-Cases/Case-3/vex.json", [0, 0, 0, 1]),
        ("Use-Cases/Case-4/vex.json", [1, 0, 0, 0]),
        ("Use-Cases/Case-5/vex.json", [1, 1, 0, 0]),
        ("Use-Cases/Case-6/bom-1.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-6/bom-2.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-6/bom-3.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-6/vex.json", [1, 0, 0, 0]),
        ("Use-Cases/Case-7/vex.json", [1, 0, 0, 0]),
        ("Use-Cases/Case-8/vex.json", [1, 0, 0, 0]),
        ("Use-Cases/Case-9/bom-1.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-9/bom-2.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-9/bom-3.json", [0, 0, 0, 0]),
        ("Use-Cases/Case-9/vex.json", [19, 0, 0, 0]),
        ("bom.json", [0, 0, 0, 0]),
        ("vex.json", [1, 0, 0, 0]),
    ];
    let mut found: Vec<String> = Vec::new();
    let mut pending = vec![cdx.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                found.push(path.strip_prefix(&cdx).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    let listed: Vec<String> = expected.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(found, listed, "every example is listed");
    for (file, counts) in expected {
        let (format, statements) = summary(&cdx.join(file));
        assert_eq!(format, Format::CycloneDx, "{file}");
        let by_status = [
            Status::NotAffected,
            Status::Affected,
            Status::Fixed,
            Status::UnderInvestigation,
        ]
        .map(|want| statements.iter().filter(|(_, s, _)| *s == want).count());
        assert_eq!(by_status, *counts, "{file}");
    }
    // Case 13's BOM-Links name products of other BOMs, which stay as written; Case 1's
    // bom-ref is the document's own subject.
    let (_, case13) = summary(&cdx.join("Use-Cases/Case-13/vex.json"));
    assert_eq!(
        case13[0].2[0],
        owned(&["urn:cdx:2c385cf7-e1ee-46e9-a51c-13de1ecb380a/1#acme-product-1"])
    );
    let (_, case1) = summary(&cdx.join("Use-Cases/Case-1/vex.json"));
    assert_eq!(case1[0].2, [owned(&["acme-product"])]);
}

/// The real documents read on a scan: none of them is about this image, so each of their
/// statements is listed as unused and the verdict is what it was.
#[test]
fn real_examples_given_to_a_scan_are_listed_unused() {
    let Some(corpus) = corpus() else {
        return;
    };
    let dir = workspace();
    let spec = corpus.join("openvex_spec/examples/spec-example-1.json");
    let cisa = corpus.join("CycloneDX_bom-examples/VEX/CISA-Use-Cases/Case-3/vex.json");
    let run = scan(
        dir.path(),
        &[
            "--format",
            "json",
            "--vex",
            spec.to_str().unwrap(),
            "--vex",
            cisa.to_str().unwrap(),
        ],
    );
    run.expect_code(1);
    let report = run.json();
    let states = vex_states(&report);
    assert_eq!(states.len(), 1 + 19);
    assert!(states.iter().all(|(_, s, _, _)| s == "unused"));
    assert_eq!(report["vex"][0]["products"].as_array().unwrap().len(), 2);
    assert_eq!(report["vex"][6]["written_status"], "resolved");
}

const WAIVERS: &str = r#"
[[waiver]]
check = "vuln-package"
rule = "CVE-2023-5678"
package = "libssl3"
reason = "the application never generates X9.42 DH keys"
expires = 2027-01-01

[[waiver]]
check = "vuln-package"
rule = "CVE-2023-42366"
reason = "busybox is only used at build time"

[[waiver]]
check = "vuln-package"
rule = "CVE-2020-0001"
reason = "expired"
expires = 2024-01-01

[[waiver]]
check = "user-root"
reason = "not a vulnerability"
"#;

fn vex_command(dir: &Path, args: &[&str]) -> Run {
    run_command(
        portcullis()
            .current_dir(dir)
            .env(portcullis::cli::scan::NOW_ENV, NOW)
            .arg("vex")
            .args(args),
    )
}

#[test]
fn vex_writes_the_waivers_as_openvex_that_validates_and_round_trips() {
    let Some(corpus) = corpus() else {
        return;
    };
    let dir = workspace();
    write(dir.path(), "waivers.toml", WAIVERS);
    let run = vex_command(
        dir.path(),
        &[
            "--ignore-file",
            "waivers.toml",
            "--image",
            "app.tar",
            "--author",
            "Acme Security",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "portcullis: note: waivers.toml:14: waiver for CVE-2020-0001 expired on 2024-01-01: \
             left out"
        ) && run
            .stderr
            .contains("waivers.toml:20: waiver for user-root names no vulnerability"),
        "{}",
        run.stderr
    );
    let document = run.json();

    let schema_text =
        std::fs::read_to_string(corpus.join("openvex_spec/openvex_json_schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the OpenVEX schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{document:#}");

    assert_eq!(document["@context"], "https://openvex.dev/ns/v0.2.0");
    assert_eq!(document["author"], "Acme Security");
    assert_eq!(document["timestamp"], "2024-06-01T00:00:00Z");
    let image = scan(dir.path(), &["--format", "json"]).json();
    let product = format!(
        "pkg:oci/app@{}?repository_url=app",
        image["image"]["manifest_digest"]
            .as_str()
            .unwrap()
            .replace(':', "%3A")
    );
    assert_eq!(
        document["statements"],
        json!([
            {
                "vulnerability": {"name": "CVE-2023-5678"},
                "products": [{"@id": product, "subcomponents": [{"@id": "pkg:apk/alpine/libssl3"}]}],
                "status": "not_affected",
                "impact_statement": "the application never generates X9.42 DH keys",
                "status_notes": "portcullis waiver waivers.toml:2, until 2027-01-01"
            },
            {
                "vulnerability": {"name": "CVE-2023-42366"},
                "products": [{"@id": product}],
                "status": "not_affected",
                "impact_statement": "busybox is only used at build time",
                "status_notes": "portcullis waiver waivers.toml:9"
            }
        ])
    );

    // Read back, it suppresses what the waivers waive.
    write(dir.path(), "app.vex.json", &run.stdout);
    let waived = scan(
        dir.path(),
        &["--format", "json", "--ignore-file", "waivers.toml"],
    )
    .json();
    let vexed = scan(dir.path(), &["--format", "json", "--vex", "app.vex.json"]).json();
    let suppressed = |report: &Value| -> Vec<(String, bool)> {
        vulns(report)
            .into_iter()
            .map(|(p, w)| (p, w.is_some()))
            .collect()
    };
    assert_eq!(suppressed(&vexed), suppressed(&waived));
    assert_eq!(
        suppressed(&vexed),
        [
            ("busybox".into(), true),
            ("libcrypto3".into(), false),
            ("libssl3".into(), true)
        ]
    );

    // The same inputs at the same time make the same bytes; SOURCE_DATE_EPOCH sets the time.
    let again = vex_command(
        dir.path(),
        &[
            "--ignore-file",
            "waivers.toml",
            "--image",
            "app.tar",
            "--author",
            "Acme Security",
        ],
    );
    assert_eq!(again.stdout, run.stdout);
    let epoch = run_command(
        portcullis()
            .current_dir(dir.path())
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .args(["vex", "--ignore-file", "waivers.toml", "--product", "app:1"])
            .args(["--timestamp", "2026-01-01T00:00:00Z"]),
    );
    // A waiver with a package needs the image to name it by purl.
    epoch.expect_code(2);
    assert!(
        epoch.stderr.contains("waivers.toml:2: the waiver for CVE-2023-5678 names the package libssl3: give the image (--image)"),
        "{}",
        epoch.stderr
    );
}

#[test]
fn vex_without_a_product_or_a_vulnerability_waiver_is_an_error() {
    let dir = workspace();
    write(
        dir.path(),
        "waivers.toml",
        "[[waiver]]\ncheck = \"vuln-package\"\nrule = \"CVE-1\"\nreason = \"x\"\n",
    );
    let run = vex_command(dir.path(), &["--ignore-file", "waivers.toml"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--image IMAGE, or --product ID"),
        "{}",
        run.stderr
    );

    let run = run_command(
        portcullis()
            .current_dir(dir.path())
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .args(["vex", "--ignore-file", "waivers.toml", "--product", "app:1"]),
    );
    run.expect_code(0);
    let document = run.json();
    assert_eq!(document["timestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(
        document["statements"][0]["products"],
        json!([{"@id": "app:1"}])
    );

    write(
        dir.path(),
        "waivers.toml",
        "[[waiver]]\ncheck = \"user-root\"\nreason = \"x\"\n",
    );
    let run = vex_command(
        dir.path(),
        &["--ignore-file", "waivers.toml", "--product", "app:1"],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("waivers.toml: no waiver of a vulnerability to write"),
        "{}",
        run.stderr
    );
}
