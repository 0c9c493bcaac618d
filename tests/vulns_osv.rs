//! `portcullis scan --osv-db`: images built here, with an apk, a dpkg and a Python package
//! whose installed versions fall in the ranges of small OSV records the tests write (as
//! osv.dev and pypa/advisory-database publish them), as a directory and as a zip.

mod common;

use common::alpine::{APK_DB, BUSYBOX_UNFIXED_RECORD};
use common::builder::{DockerArchive, Image, Layer};
use common::{Run, portcullis, run_command, text};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

const URLLIB3_METADATA: &str =
    "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.17\nSummary: HTTP library\n";
const URLLIB3_PATH: &str = "usr/lib/python3.11/site-packages/urllib3-1.26.17.dist-info/METADATA";

/// Alpine 3.19 (layer 0) with an application layer that pip-installed urllib3 (layer 1).
fn alpine_app() -> Image {
    Image::new()
        .user("app")
        .layer(
            Layer::new()
                .dir("etc")
                .file(
                    "etc/os-release",
                    "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
                )
                .file("etc/alpine-release", "3.19.1\n")
                .dir("lib/apk/db")
                .file("lib/apk/db/installed", APK_DB),
        )
        .layer(Layer::new().gzip().file(URLLIB3_PATH, URLLIB3_METADATA))
}

/// OpenSSL's CVE-2023-5678 as osv.dev publishes Alpine advisories: by source package and
/// release branch. The v3.18 entry must not match a 3.19 image.
const ALPINE_RECORD: &str = r#"{
  "id": "ALPINE-CVE-2023-5678",
  "modified": "2024-01-10T00:00:00Z",
  "published": "2023-11-06T16:15:42Z",
  "upstream": ["CVE-2023-5678"],
  "details": "Issue summary: Generating excessively long X9.42 DH keys or checking excessively long X9.42 DH keys or parameters may be very slow.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}],
  "affected": [
    {"package": {"ecosystem": "Alpine:v3.19", "name": "openssl", "purl": "pkg:apk/alpine/openssl?arch=source"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r3"}]}]},
    {"package": {"ecosystem": "Alpine:v3.18", "name": "openssl", "purl": "pkg:apk/alpine/openssl?arch=source"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r1"}]}]}
  ]
}"#;

/// A record withdrawn before the tests' clock: it matches nothing.
const WITHDRAWN_RECORD: &str = r#"{
  "id": "ALPINE-CVE-2000-0001",
  "modified": "2024-01-10T00:00:00Z",
  "withdrawn": "2024-01-11T00:00:00Z",
  "affected": [
    {"package": {"ecosystem": "Alpine:v3.19", "name": "musl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}
  ]
}"#;

/// urllib3's GHSA-g4mx-q9vg-27p4 in pypa/advisory-database's YAML form.
const URLLIB3_RECORD: &str = "\
id: GHSA-g4mx-q9vg-27p4
modified: 2023-11-20T20:05:06Z
published: 2023-10-17T20:15:10Z
aliases:
- CVE-2023-45803
summary: urllib3's request body not stripped after redirect from 303 status changes request method to GET
details: urllib3 previously wouldn't remove the HTTP request body when an HTTP redirect
  response using status 303 \"See Other\" after the request had its method changed.
affected:
- package:
    ecosystem: PyPI
    name: urllib3
    purl: pkg:pypi/urllib3
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: \"0\"
    - fixed: 1.26.18
    - introduced: \"2.0.0\"
    - fixed: 2.0.7
database_specific:
  severity: MODERATE
  cwe_ids:
  - CWE-200
references:
- type: ADVISORY
  url: https://github.com/urllib3/urllib3/security/advisories/GHSA-g4mx-q9vg-27p4
";

/// Writes the records as a directory tree: `alpine/*.json`, `pypi/urllib3/*.yaml`.
fn write_db_dir(dir: &Path) -> PathBuf {
    let db = dir.join("osv");
    for (rel, body) in db_files() {
        let path = db.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    db
}

fn db_files() -> [(&'static str, &'static str); 4] {
    [
        ("alpine/ALPINE-CVE-2023-5678.json", ALPINE_RECORD),
        ("alpine/ALPINE-CVE-2023-42366.json", BUSYBOX_UNFIXED_RECORD),
        ("alpine/ALPINE-CVE-2000-0001.json", WITHDRAWN_RECORD),
        ("pypi/urllib3/GHSA-g4mx-q9vg-27p4.yaml", URLLIB3_RECORD),
    ]
}

/// The same records as one zip, as osv.dev exports an ecosystem.
fn write_db_zip(dir: &Path) -> PathBuf {
    let path = dir.join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (rel, body) in db_files() {
        let name = rel.rsplit('/').next().unwrap();
        zip.start_file(
            name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn write_image(dir: &Path, image: &Image) -> PathBuf {
    let path = dir.join("app.tar");
    DockerArchive::docker25()
        .image(&image.build(), &["app:1"])
        .write(&path);
    path
}

fn scan(dir: &Path, args: &[&str]) -> Run {
    run_command(
        portcullis()
            .current_dir(dir)
            .env(portcullis::cli::scan::NOW_ENV, "2026-06-01")
            .args(["scan", "app.tar", "--format", "json", "--exit-code", "0"])
            .args(args),
    )
}

/// The vuln-package findings of a report, keyed by (package, vulnerability).
fn vulns(report: &Value) -> Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "vuln-package")
        .cloned()
        .collect()
}

fn find<'a>(findings: &'a [Value], package: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["data"]["package"] == package)
        .unwrap_or_else(|| panic!("no finding for {package}: {findings:#?}"))
}

/// The packages of the vuln-package findings, sorted.
fn package_names(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = vulns(report)
        .iter()
        .map(|f| f["data"]["package"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn layer_digest(report: &Value, layer: usize) -> Value {
    report["image"]["layers"][layer]["digest"].clone()
}

#[test]
fn osv_records_in_a_directory_become_exact_findings() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    write_db_dir(dir.path());
    let run = scan(dir.path(), &["--osv-db", "osv"]);
    run.expect_code(0);
    let report = run.json();
    let found = vulns(&report);
    let mut keys: Vec<(String, String)> = found
        .iter()
        .map(|f| {
            (
                f["data"]["package"].as_str().unwrap().to_string(),
                f["data"]["vulnerability"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("busybox".into(), "CVE-2023-42366".into()),
            ("libcrypto3".into(), "CVE-2023-5678".into()),
            ("libssl3".into(), "CVE-2023-5678".into()),
            ("urllib3".into(), "CVE-2023-45803".into()),
        ]
    );

    let libssl = find(&found, "libssl3");
    assert_eq!(
        libssl,
        &json!({
            "check": "vuln-package",
            "severity": "medium",
            "title": "Package with a known vulnerability",
            "message": "libssl3 3.1.4-r2 is affected by CVE-2023-5678 (ALPINE-CVE-2023-5678); fixed in 3.1.4-r3",
            "location": {
                "path": "/lib/apk/db/installed",
                "layer": 0,
                "layer_digest": layer_digest(&report, 0),
            },
            "data": {
                "package": "libssl3",
                "rule": "CVE-2023-5678",
                "version": "3.1.4-r2",
                "ecosystem": "Alpine",
                "vulnerability": "CVE-2023-5678",
                "ids": ["ALPINE-CVE-2023-5678"],
                "aliases": ["CVE-2023-5678"],
                "upstream": ["CVE-2023-5678"],
                "fixed_version": "3.1.4-r3",
                "source": "osv",
                "reported_by": ["osv"],
                "severity_basis": "CVSS:3.1 5.3",
                "purl": "pkg:apk/alpine/libssl3@3.1.4-r2?arch=x86_64&distro=alpine-3.19.1",
                "source_package": "openssl",
                "databases": ["osv"],
                "layer": 0,
            },
            "origin": {
                "part": "image",
                "layer": 0,
                "history": 0,
                "created_by": "ADD layer0.tar / # buildkit",
            }
        })
    );

    let urllib3 = find(&found, "urllib3");
    assert_eq!(urllib3["severity"], "medium");
    assert_eq!(
        urllib3["message"],
        "urllib3 1.26.17 is affected by CVE-2023-45803 (GHSA-g4mx-q9vg-27p4): urllib3's request \
         body not stripped after redirect from 303 status changes request method to GET; fixed \
         in 1.26.18"
    );
    assert_eq!(urllib3["location"]["path"], format!("/{URLLIB3_PATH}"));
    assert_eq!(urllib3["location"]["layer"], 1);
    assert_eq!(
        urllib3["location"]["layer_digest"],
        layer_digest(&report, 1)
    );
    assert_eq!(urllib3["data"]["ids"], json!(["GHSA-g4mx-q9vg-27p4"]));
    assert_eq!(urllib3["data"]["aliases"], json!(["CVE-2023-45803"]));
    assert_eq!(urllib3["data"]["severity_basis"], "database: MODERATE");
    assert_eq!(urllib3["data"]["purl"], "pkg:pypi/urllib3@1.26.17");
    assert_eq!(
        urllib3["data"]["url"],
        "https://github.com/urllib3/urllib3/security/advisories/GHSA-g4mx-q9vg-27p4"
    );

    let busybox = find(&found, "busybox");
    assert_eq!(busybox["severity"], "info", "a record without a rating");
    assert_eq!(busybox["data"]["fixed_version"], Value::Null);
    assert!(
        busybox["message"]
            .as_str()
            .unwrap()
            .ends_with("; no fixed version yet")
    );

    assert_eq!(
        report["sources"],
        json!([
            {"name": "osv", "status": "used", "detail": "1 database, 4 records, 1 withdrawn"},
            {"name": "trivy", "status": "disabled"},
            {"name": "package-index", "status": "not configured", "detail": "no --package-index, and the image configures no apt, apk or yum repository: outdated packages not checked"},
        ])
    );
}

#[test]
fn a_zip_database_gives_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    write_db_dir(dir.path());
    write_db_zip(dir.path());
    let from_dir = vulns(&scan(dir.path(), &["--osv-db", "osv"]).json());
    let run = scan(dir.path(), &["--osv-db", "all.zip"]);
    run.expect_code(0);
    let report = run.json();
    let strip = |fs: Vec<Value>| -> Vec<Value> {
        fs.into_iter()
            .map(|mut f| {
                f["data"].as_object_mut().unwrap().remove("databases");
                f
            })
            .collect()
    };
    assert_eq!(strip(vulns(&report)), strip(from_dir));
    assert_eq!(
        report["sources"][0]["detail"],
        "1 database, 4 records, 1 withdrawn"
    );
    assert_eq!(
        find(&vulns(&report), "libssl3")["data"]["databases"],
        json!(["all.zip"])
    );
}

#[test]
fn ignore_unfixed_leaves_out_what_no_release_fixes() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    write_db_dir(dir.path());
    let report = scan(dir.path(), &["--osv-db", "osv", "--ignore-unfixed"]).json();
    let packages = package_names(&report);
    assert!(!packages.contains(&"busybox".to_string()), "{packages:?}");
    assert_eq!(packages.len(), 3);

    // The same from the policy, with the database path relative to the policy file.
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/policy.toml"),
        "[params.osv]\ndatabases = [\"../osv\"]\nignore_unfixed = true\necosystems = [\"PyPI\"]\n",
    )
    .unwrap();
    let report = scan(dir.path(), &["--policy", "conf/policy.toml"]).json();
    let packages = package_names(&report);
    assert_eq!(packages, ["urllib3"], "only the PyPI ecosystem");
}

#[test]
fn waivers_name_a_package_or_one_vulnerability() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    write_db_dir(dir.path());
    std::fs::write(
        dir.path().join("waivers.toml"),
        "[[waiver]]\ncheck = \"vuln-package\"\nrule = \"CVE-2023-45803\"\nreason = \"no redirects to untrusted hosts\"\n\n\
         [[waiver]]\ncheck = \"vuln-package\"\npackage = \"libssl3\"\nreason = \"TLS is terminated elsewhere\"\n",
    )
    .unwrap();
    let report = scan(
        dir.path(),
        &["--osv-db", "osv", "--ignore-file", "waivers.toml"],
    )
    .json();
    let waived: Vec<String> = vulns(&report)
        .iter()
        .filter(|f| f.get("waived").is_some())
        .map(|f| f["data"]["package"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(waived, ["libssl3", "urllib3"]);
}

/// Debian advisories name source packages and source versions: a binary package built
/// from openssl is affected by a DSA for openssl.
#[test]
fn debian_advisories_match_binary_packages_by_source() {
    let dir = tempfile::tempdir().unwrap();
    let status = "\
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1

";
    let image = Image::new().user("app").layer(
        Layer::new()
            .file(
                "etc/os-release",
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
            )
            .file("var/lib/dpkg/status", status),
    );
    write_image(dir.path(), &image);
    let db = dir.path().join("debian");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(
        db.join("DSA-5532-1.json"),
        r#"{
  "id": "DSA-5532-1",
  "summary": "openssl - security update",
  "modified": "2023-10-24T00:00:00Z",
  "published": "2023-10-24T00:00:00Z",
  "aliases": ["CVE-2023-5363"],
  "affected": [
    {"package": {"ecosystem": "Debian:12", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]},
    {"package": {"ecosystem": "Debian:11", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1w-0+deb11u1"}]}]}
  ],
  "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2023/dsa-5532"}]
}"#,
    )
    .unwrap();
    let report = scan(dir.path(), &["--osv-db", text(&db)]).json();
    let found = vulns(&report);
    let mut packages: Vec<&str> = found
        .iter()
        .map(|f| f["data"]["package"].as_str().unwrap())
        .collect();
    packages.sort();
    assert_eq!(packages, ["libssl3", "openssl"]);
    let libssl = find(&found, "libssl3");
    assert_eq!(
        libssl["message"],
        "libssl3 3.0.11-1~deb12u1 is affected by CVE-2023-5363 (DSA-5532-1): openssl - security \
         update; fixed in 3.0.11-1~deb12u2"
    );
    assert_eq!(libssl["data"]["source_package"], "openssl");
    assert_eq!(libssl["location"]["path"], "/var/lib/dpkg/status");
    assert_eq!(
        libssl["severity"], "info",
        "Debian's records carry no rating"
    );
}

#[test]
fn without_a_database_nothing_is_looked_up_and_the_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    let run = scan(dir.path(), &[]);
    let report = run.json();
    assert!(vulns(&report).is_empty());
    assert_eq!(report["sources"][0]["status"], "not configured");

    let table = run_command(portcullis().current_dir(dir.path()).args([
        "scan",
        "app.tar",
        "--exit-code",
        "0",
    ]));
    assert!(
        table.stdout.contains(
            "  sources   osv not configured (local database: none yet; no data for Alpine:v3.19 (offline; run `portcullis db update`); no data for PyPI (offline; run `portcullis db update`)); trivy disabled; package-index not configured (no --package-index, and the image configures no apt, apk or yum repository: outdated packages not checked)\n"
        ),
        "{}",
        table.stdout
    );

    // A policy that turns the family off consults nothing.
    std::fs::write(
        dir.path().join("policy.toml"),
        "[checks.vulns]\nenabled = false\n[params.osv]\ndatabases = [\"missing\"]\n",
    )
    .unwrap();
    let report = scan(dir.path(), &["--policy", "./policy.toml"]).json();
    assert_eq!(report["sources"][0]["status"], "disabled");
}

#[test]
fn a_missing_database_is_an_error_and_broken_records_are_notes() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    let run = scan(dir.path(), &["--osv-db", "nowhere"]);
    run.expect_code(2);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("OSV database nowhere") && run.stderr.contains("No such file"),
        "{}",
        run.stderr
    );

    let db = write_db_dir(dir.path());
    std::fs::write(db.join("broken.json"), "{\"id\": \"X\", ").unwrap();
    let run = scan(dir.path(), &["--osv-db", "osv"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(vulns(&report).len(), 4);
    let notes: Vec<&Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "osv")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("OSV database osv: broken.json: skipped: not valid JSON"),
        "{notes:?}"
    );
    assert_eq!(
        report["sources"][0]["detail"],
        "1 database, 4 records, 1 withdrawn, 1 file skipped"
    );
}

/// `attest` looks vulnerabilities up as `scan` does, and cosign's vuln predicate names the
/// sources it used as its scanner database.
#[test]
fn attestations_carry_the_vulnerability_findings_and_their_sources() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), &alpine_app());
    write_db_dir(dir.path());
    run_command(portcullis().current_dir(dir.path()).args([
        "keygen",
        "--type",
        "ed25519",
        "--no-password",
        "--out",
        "release",
    ]))
    .expect_code(0);
    let run = run_command(
        portcullis()
            .current_dir(dir.path())
            .env(portcullis::cli::scan::NOW_ENV, "2026-06-01")
            .args([
                "attest",
                "app.tar",
                "--key",
                "release.key",
                "--predicate",
                "vuln",
            ])
            .args(["--osv-db", "osv"]),
    );
    run.expect_code(0);
    let envelope: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let scanner = &statement["predicate"]["scanner"];
    assert_eq!(
        scanner["db"],
        json!({"uri": "osv", "version": "osv used (1 database, 4 records, 1 withdrawn)"})
    );
    assert_eq!(vulns(&scanner["result"]).len(), 4);
}
