//! The end-of-life checks end to end, on a fixed clock (`PORTCULLIS_NOW`): a release past
//! its end (a real alpine:3.10), one within `eol_warning_days` of it, one far from it, and
//! the policy's warning window.

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::{corpus, portcullis, run_command, text};
use serde_json::Value;
use std::path::Path;

fn scan(cwd: &Path, reference: &str, now: &str, extra: &[&str]) -> Value {
    let mut cmd = portcullis();
    cmd.current_dir(cwd)
        .env(portcullis::cli::scan::NOW_ENV, now)
        .args(["scan", "--format", "json", "--exit-code", "0", reference])
        .args(extra);
    let run = run_command(&mut cmd);
    run.expect_code(0);
    run.json()
}

fn eol_findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("eol-"))
        .collect()
}

fn bullseye(dir: &Path) -> String {
    let image = Image::new().user("1000").layer(
        Layer::new()
            .dir("etc")
            .file(
                "etc/os-release",
                "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\nVERSION_CODENAME=bullseye\nID=debian\n",
            )
            .file("etc/passwd", "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/:/bin/sh\n"),
    );
    DockerArchive::docker25()
        .image(&image.build(), &["bullseye:app"])
        .write(&dir.join("bullseye.tar"));
    "bullseye.tar".into()
}

#[test]
fn a_release_past_its_end_of_life_is_high() {
    let Some(corpus) = corpus() else {
        return;
    };
    let report = scan(
        &corpus,
        "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz",
        "2026-06-01",
        &[],
    );
    let found = eol_findings(&report);
    assert_eq!(found.len(), 1);
    let f = found[0];
    assert_eq!(f["check"], "eol-os");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["data"]["eol"], "2021-05-01");
    assert_eq!(f["data"]["os"], "alpine");
    assert_eq!(f["data"]["version"], "3.10");
    assert_eq!(f["location"]["path"], "/etc/os-release");
    assert_eq!(report["gate"]["result"], "FAILED");
}

#[test]
fn the_warning_window_comes_from_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let image = bullseye(dir.path());
    // Debian 11's LTS ends on 2026-08-31.
    let report = scan(dir.path(), &image, "2026-07-01", &[]);
    let found = eol_findings(&report);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["check"], "eol-os-soon");
    assert_eq!(found[0]["severity"], "low");
    assert_eq!(found[0]["data"]["days_left"], 61);
    assert_eq!(
        found[0]["message"],
        "Debian 11 (bullseye) reaches its end of life on 2026-08-31 (end of Debian LTS), in 61 days"
    );

    assert!(eol_findings(&scan(dir.path(), &image, "2026-05-01", &[])).is_empty());
    // The strict policy warns 180 days ahead.
    let strict = scan(dir.path(), &image, "2026-05-01", &["--policy", "strict"]);
    assert_eq!(eol_findings(&strict)[0]["check"], "eol-os-soon");

    let past = scan(dir.path(), &image, "2026-09-01", &[]);
    assert_eq!(eol_findings(&past)[0]["check"], "eol-os");
    assert_eq!(past["gate"]["result"], "FAILED");

    std::fs::write(
        dir.path().join("policy.toml"),
        "[checks.eol-os]\nseverity = \"medium\"\n",
    )
    .unwrap();
    let relaxed = scan(
        dir.path(),
        &image,
        "2026-09-01",
        &["--policy", text(&dir.path().join("policy.toml"))],
    );
    assert_eq!(eol_findings(&relaxed)[0]["severity"], "medium");
    assert_eq!(relaxed["gate"]["result"], "PASSED");
}

#[test]
fn explain_describes_the_new_checks() {
    for id in [
        "eol-os",
        "eol-os-soon",
        "outdated-package",
        "outdated-security",
    ] {
        let run = run_command(portcullis().args(["explain", id]));
        run.expect_code(0);
        assert!(run.stdout.contains(id), "{}", run.stdout);
    }
}
