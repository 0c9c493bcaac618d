//! Trivy as a vulnerability source: the real binary (scripts/test.sh installs it; these
//! tests skip with a note when it is not on PATH, or fail when `CI` is set), its real
//! reports, and Trivy's own package goldens from ../shared/corpus.
//!
//! On the test machines Trivy has no vulnerability database and portcullis never lets it
//! download one, so a vulnerability scan fails: the report must say so (a `trivy` source
//! that `failed`, and a diagnostic with Trivy's reason) and the gate must decide as it
//! would without Trivy. What Trivy does without a database is list packages; those lists
//! are compared with portcullis' inventory of the same images. How merged findings look
//! when Trivy does report vulnerabilities is tested with a stand-in program that writes a
//! Trivy-shaped report.

mod common;

use common::alpine::OPENSSL_RECORD;
use common::builder::{DockerArchive, Image, Layer, Layout};
use common::{Run, have_tool, portcullis, run_command, text};
use portcullis::advisories::trivy::{self, Report};
use portcullis::gate::analyze::Analyzers;
use portcullis::gate::{ReadOptions, read_image};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const ALPINE_310: &str = "aquasecurity_trivy/pkg/fanal/test/testdata/alpine-310.tar.gz";

const APK_DB: &str = "\
C:Q1SJHhB1mlqbfNmLGk/9ZfNhBVAtk=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
T:the musl c library (libc) implementation
o:musl

C:Q1Aoa+pOeyCnUAFQFTOcBb/Sb/RSc=
P:libcrypto3
V:3.1.4-r2
A:x86_64
T:Crypto library from openssl
o:openssl

C:Q1uqjAWlRnsCy5xnBAuTVj6JGbmN8=
P:libssl3
V:3.1.4-r2
A:x86_64
T:SSL shared libraries
o:openssl

";

/// Alpine 3.19 with an application layer that pip-installed urllib3. Both layers are
/// uncompressed: Trivy (go-containerregistry's tarball reader) decides from the first
/// layer whether all layers of a docker archive are compressed, and fails on a gzipped
/// layer after a plain one, which `docker save` never writes.
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
        .layer(Layer::new().file(
            "usr/lib/python3.11/site-packages/urllib3-1.26.17.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.17\n",
        ))
}

fn write_archive(dir: &Path) -> PathBuf {
    let path = dir.join("app.tar");
    DockerArchive::docker25()
        .image(&alpine_app().build(), &["app:1"])
        .write(&path);
    path
}

/// Runs the real Trivy the way a user would for a package list: no scanner, so no
/// vulnerability database is needed, and an empty cache of its own.
fn trivy_packages(input: &Path) -> Report {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new("trivy")
        .args(["image", "--input"])
        .arg(input)
        .args([
            "--format",
            "json",
            "--list-all-pkgs",
            "--scanners",
            "",
            "--offline-scan",
            "--skip-db-update",
            "--no-progress",
            "--cache-dir",
        ])
        .arg(cache.path())
        .output()
        .expect("run trivy");
    assert!(
        out.status.success(),
        "trivy failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    trivy::parse_report(&out.stdout).expect("Trivy's JSON report parses")
}

/// (name, version) of every package in portcullis' inventory of `reference`.
fn inventory_of(reference: &str) -> BTreeSet<(String, String)> {
    let facts = read_image(reference, &ReadOptions::default(), &Analyzers::default()).unwrap();
    facts
        .inventory()
        .packages
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect()
}

fn trivy_set(report: &Report) -> BTreeSet<(String, String)> {
    report
        .packages()
        .map(|(_, p)| (p.name.clone(), p.full_version()))
        .collect()
}

#[test]
fn package_lists_agree_with_trivy_on_alpine_310() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    if !have_tool("trivy") {
        return;
    }
    let path = corpus.join(ALPINE_310);
    let report = trivy_packages(&path);
    let ours = inventory_of(text(&path));
    assert_eq!(ours.len(), 14);
    assert_eq!(trivy_set(&report), ours);
    // Trivy read the image portcullis read.
    let facts = read_image(text(&path), &ReadOptions::default(), &Analyzers::default()).unwrap();
    assert_eq!(report.image_id(), Some(facts.meta.config_digest.as_str()));
}

/// Trivy's own expected package list for its alpine:3.10 test image (its golden) names the
/// packages portcullis finds in the corpus's alpine:3.10. The versions differ where the
/// images do: Trivy's golden is for its 3.10.2 image, the corpus holds 3.10.4, which ships
/// busybox 1.30.1-r3 and OpenSSL 1.1.1d-r2 (so `ssl_client` and the libraries moved too).
#[test]
fn package_lists_agree_with_trivys_golden_for_alpine_310() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let golden = std::fs::read(corpus.join(
        "aquasecurity_trivy/pkg/fanal/test/integration/testdata/goldens/packages/alpine-310.json.golden",
    ))
    .unwrap();
    let packages = trivy::parse_packages(&golden).unwrap();
    let theirs: BTreeSet<(String, String)> = packages
        .iter()
        .map(|p| (p.name.clone(), p.full_version()))
        .collect();
    let ours = inventory_of(text(&corpus.join(ALPINE_310)));
    let names = |set: &BTreeSet<(String, String)>| -> BTreeSet<String> {
        set.iter().map(|(n, _)| n.clone()).collect()
    };
    assert_eq!(names(&theirs), names(&ours));
    let differ: BTreeSet<&str> = theirs
        .symmetric_difference(&ours)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        differ,
        ["busybox", "libcrypto1.1", "libssl1.1", "ssl_client"].into()
    );
}

#[test]
fn package_lists_agree_with_trivy_on_a_built_image() {
    if !have_tool("trivy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_archive(dir.path());
    let report = trivy_packages(&path);
    let ours = inventory_of(text(&path));
    assert_eq!(
        ours,
        [
            ("libcrypto3", "3.1.4-r2"),
            ("libssl3", "3.1.4-r2"),
            ("musl", "1.2.4_git20230717-r4"),
            ("urllib3", "1.26.17"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    );
    assert_eq!(trivy_set(&report), ours);
}

/// Every Trivy package golden of the corpus parses, rpm epochs and releases included.
#[test]
fn trivys_package_goldens_parse() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir =
        corpus.join("aquasecurity_trivy/pkg/fanal/test/integration/testdata/goldens/packages");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let packages = trivy::parse_packages(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!packages.is_empty(), "{}", path.display());
        assert!(
            packages
                .iter()
                .all(|p| !p.name.is_empty() && !p.version.is_empty())
        );
        files += 1;
    }
    assert_eq!(files, 14);
    let centos =
        trivy::parse_packages(&std::fs::read(dir.join("centos-6.json.golden")).unwrap()).unwrap();
    assert!(
        centos.iter().any(|p| p.full_version().contains(':')),
        "some CentOS package has an epoch"
    );
    // A full report (Trivy's secret-scan golden): results without packages or
    // vulnerabilities are read and contribute nothing.
    let report = trivy::parse_report(
        &std::fs::read(corpus.join("aquasecurity_trivy/integration/testdata/secrets.json.golden"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report.schema_version, Some(2));
    assert!(!report.results.is_empty());
    assert_eq!(report.packages().count(), 0);
}

fn scan(dir: &Path, reference: &str, args: &[&str], cache: &Path) -> Run {
    run_command(
        portcullis()
            .current_dir(dir)
            .env("TRIVY_CACHE_DIR", cache)
            .args(["scan", reference, "--format", "json"])
            .args(args),
    )
}

/// Without a database Trivy fails; the report names Trivy and its reason, the gate decides
/// as without Trivy.
#[test]
fn a_failing_trivy_is_a_diagnostic_and_leaves_the_exit_code_to_the_gate() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    if !have_tool("trivy") {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let with = scan(&corpus, ALPINE_310, &["--trivy", "trivy"], cache.path());
    let without = scan(&corpus, ALPINE_310, &["--trivy", "off"], cache.path());
    assert_eq!(with.code, without.code);
    with.expect_code(1);
    let report = with.json();
    let source = &report["sources"][1];
    assert_eq!(source["name"], "trivy");
    assert_eq!(source["status"], "failed");
    let reason = source["detail"].as_str().unwrap();
    assert!(
        reason.to_lowercase().contains("db"),
        "Trivy's reason names its missing database: {reason}"
    );
    let notes: Vec<&Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "trivy")
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["message"],
        format!("Trivy failed: {reason}; its vulnerabilities are not in this report")
    );
    assert_eq!(report["findings"], without.json()["findings"]);

    // The table says it too.
    let table = run_command(
        portcullis()
            .current_dir(&corpus)
            .env("TRIVY_CACHE_DIR", cache.path())
            .args(["scan", ALPINE_310, "--trivy", "trivy"]),
    );
    assert!(
        table.stdout.contains(&format!("trivy failed ({reason})")),
        "{}",
        table.stdout
    );
}

#[test]
fn trivy_reads_oci_layouts_too() {
    if !have_tool("trivy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    Layout::new()
        .image(&alpine_app().build(), &["1.0"])
        .write_dir(&layout);
    let report = trivy_packages(&layout);
    let ours = inventory_of(&format!("oci:{}:1.0", text(&layout)));
    assert_eq!(ours.len(), 4);
    assert_eq!(trivy_set(&report), ours);
    let cache = tempfile::tempdir().unwrap();
    let run = scan(
        dir.path(),
        "oci:layout:1.0",
        &["--trivy", "trivy", "--exit-code", "0"],
        cache.path(),
    );
    run.expect_code(0);
    assert_eq!(run.json()["sources"][1]["status"], "failed");

    // Trivy cannot read an OCI archive: portcullis unpacks it into a layout Trivy reads.
    let archive = dir.path().join("app-oci.tar");
    Layout::new()
        .image(&alpine_app().build(), &["1.0"])
        .write_archive(&archive);
    let unpacked = tempfile::tempdir().unwrap();
    trivy::unpack_oci_archive(&archive, unpacked.path()).unwrap();
    assert_eq!(trivy_set(&trivy_packages(unpacked.path())), ours);
}

#[test]
fn trivy_off_and_never_turn_it_off() {
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path());
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[params.osv]\ntrivy = \"never\"\n",
    )
    .unwrap();
    let run = run_command(
        portcullis()
            .current_dir(dir.path())
            .env_remove("PORTCULLIS_TRIVY")
            .env("TRIVY_CACHE_DIR", cache.path())
            .args([
                "scan", "app.tar", "--format", "json", "--policy", "./p.toml",
            ])
            .args(["--exit-code", "0"]),
    );
    assert_eq!(
        run.json()["sources"][1],
        json!({"name": "trivy", "status": "disabled"})
    );

    let run = scan(
        dir.path(),
        "app.tar",
        &["--trivy", "./no-such-trivy"],
        cache.path(),
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--trivy ./no-such-trivy: no such program"),
        "{}",
        run.stderr
    );

    // `always` without Trivy on PATH is an error.
    std::fs::write(
        dir.path().join("always.toml"),
        "[params.osv]\ntrivy = \"always\"\n",
    )
    .unwrap();
    let run = run_command(
        portcullis()
            .current_dir(dir.path())
            .env_remove("PORTCULLIS_TRIVY")
            .env("PATH", "/nonexistent")
            .args([
                "scan",
                "app.tar",
                "--format",
                "json",
                "--policy",
                "./always.toml",
            ]),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("`trivy` is not on PATH"),
        "{}",
        run.stderr
    );
    let run = run_command(
        portcullis()
            .current_dir(dir.path())
            .env_remove("PORTCULLIS_TRIVY")
            .env("PATH", "/nonexistent")
            .args(["scan", "app.tar", "--format", "json", "--exit-code", "0"]),
    );
    run.expect_code(0);
    assert_eq!(
        run.json()["sources"][1],
        json!({"name": "trivy", "status": "not installed", "detail": "no `trivy` on PATH"})
    );
}

/// A stand-in for Trivy: writes `report` where `--output` says, as Trivy does, after
/// `delay` seconds; or fails the way Trivy does.
fn fake_trivy(dir: &Path, report: &Value, delay: u32, fail: bool) -> PathBuf {
    let report_path = dir.join("report.json");
    std::fs::write(&report_path, serde_json::to_vec_pretty(report).unwrap()).unwrap();
    let script = dir.join("fake-trivy");
    let body = if fail {
        "echo '2026-01-01T00:00:00Z\tINFO\tLoading' >&2\n\
         echo '2026-01-01T00:00:00Z\tFATAL\tFatal error\timage scan error: unable to open archive' >&2\n\
         exit 1\n"
            .to_string()
    } else {
        format!(
            "[ {delay} -gt 0 ] && exec sleep {delay}\n\
             while [ $# -gt 0 ]; do\n  if [ \"$1\" = --output ]; then cp '{}' \"$2\"; fi\n  shift\ndone\n",
            report_path.display()
        )
    };
    let log = dir.join("args.txt");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n{body}", log.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}

/// A Trivy report for the built image, shaped as Trivy 0.76 writes one (fields as in its
/// integration goldens), with a vulnerability the OSV record also has and ones it lacks.
fn trivy_report(image_id: &str, diff_ids: &[String]) -> Value {
    let vuln = |id: &str, pkg: &str, version: &str, fixed: &str, severity: &str| {
        json!({
            "VulnerabilityID": id,
            "PkgID": format!("{pkg}@{version}"),
            "PkgName": pkg,
            "PkgIdentifier": {"PURL": format!("pkg:apk/alpine/{pkg}@{version}?arch=x86_64&distro=3.19.1")},
            "InstalledVersion": version,
            "FixedVersion": fixed,
            "Status": "fixed",
            "Layer": {"DiffID": diff_ids[0]},
            "SeveritySource": "nvd",
            "PrimaryURL": format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase()),
            "DataSource": {"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"},
            "Title": "openssl: excessive time spent in DH check / generation with large Q parameter value",
            "Severity": severity,
        })
    };
    json!({
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "ArtifactName": "app.tar",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "alpine", "Name": "3.19.1"},
            "ImageID": image_id,
            "DiffIDs": diff_ids,
        },
        "Results": [
            {
                "Target": "app.tar (alpine 3.19.1)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": [
                    vuln("CVE-2023-5678", "libssl3", "3.1.4-r2", "3.1.4-r3", "MEDIUM"),
                    vuln("CVE-2024-0727", "libcrypto3", "3.1.4-r2", "3.1.4-r5", "LOW"),
                ]
            },
            {
                "Target": "Python",
                "Class": "lang-pkgs",
                "Type": "python-pkg",
                "Vulnerabilities": [{
                    "VulnerabilityID": "CVE-2023-45803",
                    "PkgName": "urllib3",
                    "PkgPath": "usr/lib/python3.11/site-packages/urllib3-1.26.17.dist-info/METADATA",
                    "InstalledVersion": "1.26.17",
                    "FixedVersion": "2.0.7, 1.26.18",
                    "Status": "fixed",
                    "Layer": {"DiffID": diff_ids[1]},
                    "SeveritySource": "ghsa",
                    "DataSource": {"ID": "ghsa", "Name": "GitHub Security Advisory pip"},
                    "Title": "urllib3: Request body not stripped after redirect",
                    "Severity": "MEDIUM",
                }]
            }
        ]
    })
}

fn image_ids(archive: &str) -> (String, Vec<String>) {
    let facts = read_image(archive, &ReadOptions::default(), &Analyzers::default()).unwrap();
    (
        facts.meta.config_digest.clone(),
        facts.layers.iter().map(|l| l.diff_id.clone()).collect(),
    )
}

#[test]
fn trivy_findings_merge_with_osv_findings_and_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let archive = write_archive(dir.path());
    let (image_id, diff_ids) = image_ids(text(&archive));
    let fake = fake_trivy(dir.path(), &trivy_report(&image_id, &diff_ids), 0, false);
    std::fs::create_dir_all(dir.path().join("osv")).unwrap();
    std::fs::write(dir.path().join("osv/a.json"), OPENSSL_RECORD).unwrap();
    let run = scan(
        dir.path(),
        "app.tar",
        &[
            "--osv-db",
            "osv",
            "--trivy",
            text(&fake),
            "--exit-code",
            "0",
        ],
        dir.path(),
    );
    run.expect_code(0);
    let args = std::fs::read_to_string(dir.path().join("args.txt")).unwrap();
    assert!(
        args.starts_with("image --input app.tar --format json --output ")
            && args.contains(
                " --scanners vuln --skip-db-update --offline-scan --no-progress --exit-code 0 --timeout 600s"
            ),
        "{args}"
    );
    let report = run.json();
    assert_eq!(
        report["sources"][1],
        json!({"name": "trivy", "status": "used", "detail": "Trivy 0.76.0, 3 vulnerabilities"})
    );
    let mut found: Vec<(String, String, Value, Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "vuln-package")
        .map(|f| {
            (
                f["data"]["package"].as_str().unwrap().to_string(),
                f["data"]["vulnerability"].as_str().unwrap().to_string(),
                f["data"]["reported_by"].clone(),
                f["location"].clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let at = |path: &str, layer: usize| json!({"path": path, "layer": layer, "layer_digest": report["image"]["layers"][layer]["digest"]});
    let apk = at("/lib/apk/db/installed", 0);
    let metadata = at(
        "/usr/lib/python3.11/site-packages/urllib3-1.26.17.dist-info/METADATA",
        1,
    );
    assert_eq!(
        found,
        [
            // OSV alone: Trivy's report has no libcrypto3 entry for this CVE.
            (
                "libcrypto3".into(),
                "CVE-2023-5678".into(),
                json!(["osv"]),
                apk.clone()
            ),
            // Trivy alone, placed on the inventory's package.
            (
                "libcrypto3".into(),
                "CVE-2024-0727".into(),
                json!(["trivy"]),
                apk.clone()
            ),
            // Both: one finding.
            (
                "libssl3".into(),
                "CVE-2023-5678".into(),
                json!(["osv", "trivy"]),
                apk
            ),
            (
                "urllib3".into(),
                "CVE-2023-45803".into(),
                json!(["trivy"]),
                metadata
            ),
        ]
    );
    let trivy_only = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["data"]["vulnerability"] == "CVE-2024-0727")
        .unwrap();
    assert_eq!(trivy_only["severity"], "low");
    assert_eq!(trivy_only["data"]["source"], "trivy");
    assert_eq!(trivy_only["data"]["fixed_version"], "3.1.4-r5");
    assert_eq!(trivy_only["data"]["severity_basis"], "trivy: LOW (nvd)");
    assert_eq!(trivy_only["data"]["databases"], json!(["Alpine Secdb"]));
    let both = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["data"]["package"] == "libssl3")
        .unwrap();
    assert_eq!(both["data"]["source"], "osv");
    assert_eq!(
        both["data"]["ids"],
        json!(["ALPINE-CVE-2023-5678", "CVE-2023-5678"])
    );
    assert_eq!(both["data"]["fixed_version"], "3.1.4-r3");
}

#[test]
fn trivy_failures_of_every_kind_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let archive = write_archive(dir.path());
    let (image_id, diff_ids) = image_ids(text(&archive));
    let trivy_source =
        |args: &[&str]| scan(dir.path(), "app.tar", args, dir.path()).json()["sources"][1].clone();

    let crashing = tempfile::tempdir().unwrap();
    let fake = fake_trivy(crashing.path(), &json!({}), 0, true);
    assert_eq!(
        trivy_source(&["--trivy", text(&fake)]),
        json!({"name": "trivy", "status": "failed",
               "detail": "Fatal error: image scan error: unable to open archive"})
    );

    let other = tempfile::tempdir().unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let fake = fake_trivy(other.path(), &trivy_report(&wrong, &diff_ids), 0, false);
    let detail = trivy_source(&["--trivy", text(&fake)])["detail"].clone();
    assert!(
        detail
            .as_str()
            .unwrap()
            .contains(&format!("image ID {wrong}, not {image_id}")),
        "{detail}"
    );

    let slow = tempfile::tempdir().unwrap();
    let fake = fake_trivy(slow.path(), &trivy_report(&image_id, &diff_ids), 30, false);
    std::fs::write(
        dir.path().join("quick.toml"),
        "[params.osv]\ntrivy_timeout_seconds = 1\n",
    )
    .unwrap();
    assert_eq!(
        trivy_source(&["--trivy", text(&fake), "--policy", "./quick.toml"]),
        json!({"name": "trivy", "status": "failed", "detail": "timed out after 1s"})
    );

    let garbage = tempfile::tempdir().unwrap();
    let fake = fake_trivy(garbage.path(), &json!({"Results": "not a list"}), 0, false);
    let detail = trivy_source(&["--trivy", text(&fake)])["detail"].clone();
    assert!(
        detail
            .as_str()
            .unwrap()
            .starts_with("unreadable JSON report"),
        "{detail}"
    );
}

/// A `trivy` first on PATH that notes each run in `runs` and hands over to the real Trivy
/// when there is one (else fails as Trivy does): a probe of whether portcullis ran it.
fn trivy_probe(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let runs = dir.join("runs.txt");
    let real = trivy::find_on_path("trivy");
    let handover = match real {
        Some(real) => format!("exec '{}' \"$@\"\n", real.display()),
        None => "echo 'FATAL\tno database' >&2\nexit 1\n".to_string(),
    };
    let script = bin.join("trivy");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho run >> '{}'\n{handover}", runs.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    (PathBuf::from(path), runs)
}

fn runs(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

/// `auto` runs Trivy only when its database is in its cache: without one, Trivy could only
/// fail (after as long as the scan itself), so it is not started and the sources line says
/// why; `always` and a named program run it all the same.
#[test]
fn auto_runs_trivy_only_with_its_database() {
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path());
    let (path, log) = trivy_probe(dir.path());
    let empty_cache = tempfile::tempdir().unwrap();
    let scan_auto = |cache: &Path, extra: &[&str]| {
        run_command(
            portcullis()
                .current_dir(dir.path())
                .env_remove("PORTCULLIS_TRIVY")
                .env("PATH", &path)
                .env("TRIVY_CACHE_DIR", cache)
                .args(["scan", "app.tar", "--exit-code", "0"])
                .args(extra),
        )
    };

    let json = scan_auto(empty_cache.path(), &["--format", "json"]);
    json.expect_code(0);
    assert_eq!(runs(&log), 0, "Trivy ran without a database");
    assert_eq!(
        json.json()["sources"][1],
        json!({"name": "trivy", "status": "not configured",
               "detail": "no vulnerability database (run `trivy image --download-db-only` or pass --trivy off)"})
    );
    let table = scan_auto(empty_cache.path(), &[]);
    table.expect_code(0);
    assert_eq!(runs(&log), 0);
    assert_eq!(
        table
            .stdout
            .matches("trivy not configured (no vulnerability database (run `trivy image --download-db-only` or pass --trivy off))")
            .count(),
        1,
        "{}",
        table.stdout
    );

    // A database (as Trivy lays it out) makes `auto` run Trivy; these files are not a real
    // database, so Trivy fails, which is not the point here.
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir(cache.path().join("db")).unwrap();
    std::fs::write(cache.path().join("db/trivy.db"), "").unwrap();
    std::fs::write(cache.path().join("db/metadata.json"), "{}").unwrap();
    scan_auto(cache.path(), &["--format", "json"]).expect_code(0);
    assert_eq!(runs(&log), 1, "auto did not run Trivy with a database");

    // `always` forces it, database or not.
    std::fs::write(
        dir.path().join("always.toml"),
        "[params.osv]\ntrivy = \"always\"\n",
    )
    .unwrap();
    let forced = scan_auto(
        empty_cache.path(),
        &["--format", "json", "--policy", "./always.toml"],
    );
    forced.expect_code(0);
    assert_eq!(runs(&log), 2, "osv.trivy = always did not run Trivy");
    assert_eq!(forced.json()["sources"][1]["status"], "failed");
}
