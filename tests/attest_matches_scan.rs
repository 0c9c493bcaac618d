//! What `attest` signs is what `scan` gates on: for every predicate, and under each option
//! that changes findings or the verdict (a policy that disables secret rules, a secret rule
//! file, a package index, a severity filter, a fail threshold), the findings and the verdict
//! in the signed statement equal `scan --format json` of the same image with the same options.

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::{Run, portcullis, run_command, text};
use portcullis::attest::dsse::Envelope;
use serde_json::Value;
use std::path::{Path, PathBuf};

const NOW: &str = "2026-01-15";

const STATUS: &str = "\
Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n\n\
Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";

const SECURITY: &str = "\
Package: curl\nVersion: 7.88.1-10+deb12u12\nArchitecture: amd64\n\n\
Package: tzdata\nVersion: 2025b-0+deb12u1\nArchitecture: all\n";

const DEBIAN_OS: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A Debian image that runs as root, with two outdated packages, a credentials file holding
/// an AWS key pair, and a GitHub token in an application file.
fn write_image(dir: &Path) -> PathBuf {
    let image = Image::new()
        .layer(
            Layer::new()
                .dir("etc")
                .file("etc/os-release", DEBIAN_OS)
                .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
                .dir("var/lib/dpkg")
                .file("var/lib/dpkg/status", STATUS),
        )
        .layer(
            Layer::new()
                .dir("app")
                .file(
                    "app/credentials",
                    "[default]\naws_access_key_id = AKIA2E0A8F3B244C9986\n\
                     aws_secret_access_key = 7Jm3vQd8kX0bRt5NwLz2Hc9YpF4sGu6EaVi1TqKo\n",
                )
                .file(
                    "app/deploy.sh",
                    "export TOKEN=ghp_Xq7a9Lk2mN4pR6tV8wY0zB1cD3eF5gH7jK9L\n",
                ),
        );
    let path = dir.join("image.tar");
    DockerArchive::docker25()
        .image(&image.build(), &["acme/app:1"])
        .write(&path);
    path
}

struct Fixture {
    dir: tempfile::TempDir,
    image: PathBuf,
    key: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let image = write_image(dir.path());
    let prefix = dir.path().join("release");
    let keygen = run_command(
        portcullis()
            .args(["keygen", "--no-password", "--out"])
            .arg(&prefix),
    );
    keygen.expect_code(0);
    std::fs::write(
        dir.path().join("no-aws.toml"),
        "[params.secrets]\ndisabled_rules = [\"aws-access-key-id\", \"aws-secret-access-key\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.toml"),
        "disable = [\"github-pat\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("Packages"), SECURITY).unwrap();
    Fixture {
        image,
        key: prefix.with_extension("key"),
        dir,
    }
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = portcullis();
    cmd.current_dir(dir)
        .env(portcullis::cli::scan::NOW_ENV, NOW)
        .env_remove("PORTCULLIS_PASSWORD")
        .args(args);
    run_command(&mut cmd)
}

/// The statement inside the envelope `attest` printed.
fn statement(run: &Run) -> Value {
    let envelope = Envelope::from_json(run.stdout.trim().as_bytes()).expect("a DSSE envelope");
    serde_json::from_slice(&envelope.payload).expect("an in-toto statement")
}

/// (check, path or package, rule) of each finding, sorted: what was found, whatever the
/// rendering.
fn identities(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f["check"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
                f["location"]["path"].as_str().unwrap_or(""),
                f["data"]["package"].as_str().unwrap_or(""),
                f["data"]["rule"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

fn option_sets() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("defaults", vec![]),
        (
            "a policy that disables secret rules",
            vec!["--policy", "no-aws.toml"],
        ),
        ("a secret rule file", vec!["--secret-rules", "rules.toml"]),
        (
            "a package index",
            vec!["--package-index", "bookworm-security=Packages"],
        ),
        ("a severity filter", vec!["--severity", "critical,high"]),
        ("a fail threshold", vec!["--fail-on", "critical"]),
    ]
}

#[test]
fn every_predicate_signs_the_findings_and_verdict_scan_gates_on() {
    let f = fixture();
    let dir = f.dir.path();
    let image = text(&f.image);
    let key = text(&f.key);
    let mut distinct = std::collections::BTreeSet::new();
    for (what, options) in option_sets() {
        let mut scan_args = vec!["scan", "--format", "json", "--exit-code", "0", image];
        scan_args.extend(&options);
        let scan = run_in(dir, &scan_args);
        scan.expect_code(0);
        let report: Value = serde_json::from_str(&scan.stdout).unwrap();
        distinct.insert(identities(&report));
        for predicate in ["scan", "vsa", "vuln"] {
            let mut attest_args = vec!["attest", image, "--key", key, "--predicate", predicate];
            attest_args.extend(&options);
            let attest = run_in(dir, &attest_args);
            attest.expect_code(0);
            let signed = statement(&attest)["predicate"].clone();
            let verdict = report["gate"]["result"].as_str().unwrap();
            match predicate {
                "scan" => {
                    assert_eq!(signed["report"], report, "{what}: scan predicate's report");
                    assert_eq!(
                        signed["verdict"], verdict,
                        "{what}: scan predicate's verdict"
                    );
                }
                "vsa" => assert_eq!(
                    signed["verificationResult"], verdict,
                    "{what}: the VSA's verificationResult"
                ),
                _ => {
                    let result = &signed["scanner"]["result"];
                    assert_eq!(
                        identities(result),
                        identities(&report),
                        "{what}: vuln predicate's findings"
                    );
                    assert_eq!(
                        result["gate"], report["gate"],
                        "{what}: vuln predicate's gate"
                    );
                }
            }
        }
    }
    // Each option set must change what is found or how it is judged, or the comparison
    // above proves nothing about it.
    assert!(
        distinct.len() >= 5,
        "the option sets should yield different findings: {distinct:#?}"
    );
}

#[test]
fn the_options_that_decide_a_verdict_cannot_come_with_a_saved_report() {
    let f = fixture();
    let dir = f.dir.path();
    let report = dir.join("report.json");
    let scan = run_in(
        dir,
        &[
            "scan",
            "--format",
            "json",
            "--exit-code",
            "0",
            "-o",
            text(&report),
            text(&f.image),
        ],
    );
    scan.expect_code(0);
    let run = run_in(
        dir,
        &[
            "attest",
            "--report",
            text(&report),
            "--key",
            text(&f.key),
            "--severity",
            "high",
        ],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--report signs the verdict the report holds"),
        "{}",
        run.stderr
    );
}
