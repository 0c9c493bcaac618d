//! The local vulnerability database end to end: `portcullis db update` from a mirror
//! directory and from a real static HTTP server on loopback (Python's `http.server`, which
//! answers conditional requests), `db status`, and plain scans that update a missing or
//! stale database, or say what they lacked when offline or when the download fails. The
//! data is real: Debian's DSA/DLA lists as OSV records and the pypa advisory database.

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::{Run, corpus, portcullis, run_command, text};
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Debian 11 image with zlib and sudo at versions Debian's advisories of early 2023
/// name: zlib 1:1.2.11.dfsg-2+deb11u1 is fixed by DSA-5218-1 (deb11u2) but not by DSA-5111-1
/// (deb11u1, the installed version); sudo 1.9.5p2-3 by DSA-5321-1. Debian 10's advisories
/// for the same packages (DLA-3103-1 …) must not match.
fn bullseye() -> Image {
    let status = "\
Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.11.dfsg-2+deb11u1

Package: sudo
Status: install ok installed
Architecture: amd64
Version: 1.9.5p2-3

";
    Image::new().user("app").layer(
        Layer::new()
            .file(
                "etc/os-release",
                "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nID=debian\nVERSION_ID=\"11\"\n",
            )
            .file("var/lib/dpkg/status", status),
    )
}

/// The expected (package, vulnerability) pairs of [`bullseye`]: the CVE each advisory
/// names.
fn expected() -> Vec<(String, String)> {
    vec![
        ("sudo".into(), "CVE-2023-22809".into()),
        ("zlib1g".into(), "CVE-2022-37434".into()),
    ]
}

struct Setup {
    dir: tempfile::TempDir,
    image: PathBuf,
    mirror: PathBuf,
    db: PathBuf,
}

/// A mirror directory in osv.dev's layout holding the Debian records as the `Debian:11`
/// and `Debian` exports and the pypa records as `PyPI`; `None` without the corpus.
fn setup() -> Option<Setup> {
    let corpus = corpus()?;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    let debian = corpus.join("derived/osv-debian-dsa-dla.zip");
    for export in ["Debian:11", "Debian"] {
        std::fs::create_dir_all(mirror.join(export)).unwrap();
        std::fs::copy(&debian, mirror.join(export).join("all.zip")).unwrap();
    }
    std::fs::create_dir_all(mirror.join("PyPI")).unwrap();
    zip_dir(
        &corpus.join("full/pypa_advisory-database/vulns"),
        &mirror.join("PyPI/all.zip"),
    );
    let image = dir.path().join("app.tar");
    DockerArchive::docker25()
        .image(&bullseye().build(), &["app:1"])
        .write(&image);
    let db = dir.path().join("db");
    Some(Setup {
        dir,
        image,
        mirror,
        db,
    })
}

/// Zips every file below `dir` (as osv.dev's all.zip holds one record per file).
fn zip_dir(dir: &Path, out: &Path) {
    let status = Command::new("python3")
        .args([
            "-c",
            "import os,sys,zipfile\n\
             z=zipfile.ZipFile(sys.argv[2],'w',zipfile.ZIP_DEFLATED)\n\
             for root,_,files in sorted(os.walk(sys.argv[1])):\n\
             \x20 for f in sorted(files): z.write(os.path.join(root,f),os.path.relpath(os.path.join(root,f),sys.argv[1]))\n\
             z.close()",
        ])
        .arg(dir)
        .arg(out)
        .status()
        .expect("run python3");
    assert!(status.success());
}

/// `portcullis db …` with downloads allowed and the test's database directory.
fn db(setup: &Setup, args: &[&str]) -> Run {
    run_command(
        portcullis()
            .env_remove("PORTCULLIS_OFFLINE")
            .env("PORTCULLIS_DB_DIR", &setup.db)
            .arg("db")
            .args(args),
    )
}

/// `portcullis scan --format json` of the test image, with the database directory and the
/// environment given.
fn scan(setup: &Setup, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = portcullis();
    cmd.env_remove("PORTCULLIS_OFFLINE")
        .env("PORTCULLIS_DB_DIR", &setup.db)
        .env(portcullis::cli::scan::NOW_ENV, "2026-06-01")
        .args(["scan", "--format", "json", "--exit-code", "0"])
        .arg(&setup.image)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = run_command(&mut cmd);
    run.expect_code(0);
    run
}

fn found(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "vuln-package")
        .map(|f| {
            (
                f["data"]["package"].as_str().unwrap().to_string(),
                f["data"]["vulnerability"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn osv_source(report: &Value) -> Value {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "osv")
        .cloned()
        .unwrap_or_else(|| panic!("no osv source: {report:#}"))
}

fn status(setup: &Setup) -> Value {
    let run = db(setup, &["status", "--format", "json"]);
    run.expect_code(0);
    run.json()
}

fn ecosystem<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["ecosystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ecosystem"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status:#}"))
}

#[test]
fn update_from_a_mirror_directory_then_status_then_not_modified() {
    let Some(setup) = setup() else {
        return;
    };
    let mirror = text(&setup.mirror);
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            mirror,
            "--ecosystem",
            "Debian",
            "--ecosystem",
            "PyPI",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains("Debian: 8005 records"),
        "{}",
        run.stderr
    );
    let first = status(&setup);
    let debian = ecosystem(&first, "Debian");
    assert_eq!(debian["records"], 8005);
    assert_eq!(
        debian["source"],
        setup.mirror.join("Debian/all.zip").display().to_string()
    );
    let digest = sha256_file(&setup.mirror.join("Debian/all.zip"));
    assert_eq!(debian["digest"], format!("sha256:{digest}"));
    // Every YAML record of the advisory database.
    let pypi = ecosystem(&first, "PyPI");
    let yaml = walk_count(&corpus().unwrap().join("full/pypa_advisory-database/vulns"));
    assert_eq!(pypi["records"], yaml);
    assert_eq!(pypi["skipped"], 0);

    // Nothing changed: nothing is read again, and the check time moves.
    std::thread::sleep(Duration::from_millis(1100));
    let run = db(
        &setup,
        &["update", "--mirror", mirror, "--ecosystem", "Debian"],
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains("Debian: not modified"),
        "{}",
        run.stderr
    );
    let second = status(&setup);
    assert_eq!(ecosystem(&second, "Debian")["fetched"], debian["fetched"]);
    assert_ne!(ecosystem(&second, "Debian")["checked"], debian["checked"]);
    assert_eq!(
        ecosystem(&second, "PyPI"),
        pypi,
        "an ecosystem not asked for is kept"
    );

    // The table names each export with its source.
    let table = db(&setup, &["status"]);
    table.expect_code(0);
    assert!(table.stdout.contains("Debian") && table.stdout.contains("8005"));

    // A scan matches with the stored database, offline, by the image's release only.
    let run = scan(&setup, &[("PORTCULLIS_OFFLINE", "1")], &[]);
    let report = run.json();
    assert_eq!(found(&report), expected(), "{:#}", osv_source(&report));
    let source = osv_source(&report);
    assert_eq!(source["status"], "used");
    assert_eq!(source["data"][0]["name"], "Debian");
    assert_eq!(source["data"][0]["digest"], format!("sha256:{digest}"));
    // The report with its dated data is what the published schema describes.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json"),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn update_for_an_image_fetches_only_what_it_needs() {
    let Some(setup) = setup() else {
        return;
    };
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--for",
            text(&setup.image),
        ],
    );
    run.expect_code(0);
    let now = status(&setup);
    let names: Vec<&str> = now["ecosystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ecosystem"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Debian:11"]);
}

#[test]
fn bad_update_requests_are_clear_errors() {
    let Some(setup) = setup() else {
        return;
    };
    // An ecosystem the mirror does not have: exit 2, named, and no database written.
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--ecosystem",
            "Nope",
        ],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("Nope"), "{}", run.stderr);
    assert!(!setup.db.join("current").exists());
    // A name that could leave the mirror.
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--ecosystem",
            "../x",
        ],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("not an OSV ecosystem name"),
        "{}",
        run.stderr
    );
    // Offline: nothing can be fetched.
    let run = run_command(portcullis().env("PORTCULLIS_DB_DIR", &setup.db).args([
        "db",
        "update",
        "--mirror",
        text(&setup.mirror),
    ]));
    run.expect_code(2);
    assert!(run.stderr.contains("offline"), "{}", run.stderr);

    // A mirror that cannot be reached is tried once, not once per export.
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            "http://127.0.0.1:9",
            "--ecosystem",
            "Debian:11",
            "--ecosystem",
            "PyPI",
        ],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("not tried").count(), 1, "{}", run.stderr);

    // A corrupt export fails that ecosystem and keeps its previous index.
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--ecosystem",
            "Debian",
        ],
    );
    run.expect_code(0);
    let before = status(&setup);
    std::fs::write(setup.mirror.join("Debian/all.zip"), b"PK\x03\x04 not a zip").unwrap();
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--ecosystem",
            "Debian",
        ],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("Debian"), "{}", run.stderr);
    assert_eq!(status(&setup), before);
    let report = scan(&setup, &[("PORTCULLIS_OFFLINE", "1")], &[]).json();
    assert_eq!(found(&report), expected());
}

/// Python's http.server on a free loopback port, serving `dir`, with its request log.
struct HttpServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl HttpServer {
    fn start(dir: &Path, log: PathBuf) -> HttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpServer { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines logged so far (`"GET /Debian:11/all.zip HTTP/1.1" 200`).
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET "))
            .map(|l| l.split_once('"').map_or(l, |(_, r)| r).to_string())
            .collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_plain_scan_fetches_what_it_lacks_and_then_uses_it_while_fresh() {
    let Some(setup) = setup() else {
        return;
    };
    let server = HttpServer::start(&setup.mirror, setup.dir.path().join("http.log"));
    let mirror = server.url();
    let env = [("PORTCULLIS_DB_MIRROR", mirror.as_str())];

    // Offline with no database: no request, and the report says what was missing.
    let run = scan(&setup, &[("PORTCULLIS_OFFLINE", "1")], &[]);
    let report = run.json();
    assert!(found(&report).is_empty());
    let source = osv_source(&report);
    assert_eq!(source["status"], "not configured", "{source:#}");
    let detail = source["detail"].as_str().unwrap();
    assert!(
        detail.contains("no data for Debian:11") && detail.contains("offline"),
        "{detail}"
    );
    assert!(server.requests().is_empty());
    assert!(!setup.db.exists(), "offline writes nothing");

    // Online: the scan fetches the image's release export, once.
    let report = scan(&setup, &env, &[]).json();
    assert_eq!(found(&report), expected());
    let source = osv_source(&report);
    assert_eq!(source["status"], "used");
    assert_eq!(source["data"][0]["name"], "Debian:11");
    assert_eq!(
        source["data"][0]["source"],
        format!("{mirror}/Debian:11/all.zip")
    );
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
    assert!(server.requests()[0].starts_with("GET /Debian:11/all.zip"));

    // Fresh: no request at all.
    let report = scan(&setup, &env, &[]).json();
    assert_eq!(found(&report), expected());
    assert_eq!(server.requests().len(), 1);

    // Stale (a zero maximum age): a conditional request, answered 304.
    let policy = setup.dir.path().join("stale.toml");
    std::fs::write(&policy, "[params.osv]\ndb_max_age_hours = 0\n").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let report = scan(&setup, &env, &["--policy", text(&policy)]).json();
    assert_eq!(found(&report), expected());
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[1].contains(" 304"), "{requests:?}");

    // Stale and the mirror is gone: the old data is used, and the report says so.
    drop(server);
    let report = scan(&setup, &env, &["--policy", text(&policy)]).json();
    assert_eq!(
        found(&report),
        expected(),
        "the verdict does not change silently"
    );
    let source = osv_source(&report);
    assert_eq!(source["status"], "used");
    let detail = source["detail"].as_str().unwrap();
    assert!(
        detail.contains("update of Debian:11 failed") && detail.contains(&mirror),
        "{detail}"
    );

    // --skip-db-update: stale data used without trying.
    let report = scan(
        &setup,
        &env,
        &["--policy", text(&policy), "--skip-db-update"],
    )
    .json();
    let detail = osv_source(&report)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("updates are off"), "{detail}");
    assert_eq!(found(&report), expected());
}

fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The `.yaml` files below `dir`.
fn walk_count(dir: &Path) -> u64 {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            n += walk_count(&entry.path());
        } else if entry.file_name().to_string_lossy().ends_with(".yaml") {
            n += 1;
        }
    }
    n
}

/// The attestation names the data it was made with, and `verify --max-data-age` judges it.
#[test]
fn attestations_name_their_data_and_verify_judges_its_age() {
    let Some(setup) = setup() else {
        return;
    };
    let run = db(
        &setup,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--ecosystem",
            "Debian:11",
        ],
    );
    run.expect_code(0);
    let dir = setup.dir.path();
    run_command(portcullis().current_dir(dir).args([
        "keygen",
        "--out",
        "release",
        "--no-password",
    ]))
    .expect_code(0);
    for predicate in ["scan", "vuln"] {
        let out = dir.join(format!("{predicate}.intoto.jsonl"));
        let run = run_command(
            portcullis()
                .current_dir(dir)
                .env("PORTCULLIS_DB_DIR", &setup.db)
                .args([
                    "attest",
                    "--key",
                    "release.key",
                    "--predicate",
                    predicate,
                    "-o",
                ])
                .arg(&out)
                .arg(&setup.image),
        );
        run.expect_code(0);
        let verify = |age: &str| {
            run_command(portcullis().current_dir(dir).arg("verify").arg(&out).args([
                "--key",
                "release.pub",
                "--allow-failed",
                "--max-data-age",
                age,
            ]))
        };
        verify("1h").expect_code(0);
        // Data last checked more than a second ago fails a one-second bound.
        std::thread::sleep(Duration::from_millis(2100));
        let old = verify("1s");
        old.expect_code(1);
        assert!(
            old.stderr.contains("vulnerability data is too old")
                && old.stderr.contains("Debian:11"),
            "{}",
            old.stderr
        );
    }

    // Made without the local database: nothing dated to judge.
    let out = dir.join("none.intoto.jsonl");
    run_command(
        portcullis()
            .current_dir(dir)
            .args(["attest", "--key", "release.key", "-o"])
            .arg(&out)
            .arg(&setup.image),
    )
    .expect_code(0);
    let run = run_command(portcullis().current_dir(dir).arg("verify").arg(&out).args([
        "--key",
        "release.pub",
        "--allow-failed",
        "--max-data-age",
        "24h",
    ]));
    run.expect_code(1);
    assert!(
        run.stderr.contains("no dated vulnerability data"),
        "{}",
        run.stderr
    );
}
