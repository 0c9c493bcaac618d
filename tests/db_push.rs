//! The database as an OCI artifact in a real registry (docker-registry, started by
//! scripts/test.sh and named in PORTCULLIS_TEST_REGISTRY / PORTCULLIS_TEST_AUTH_REGISTRY):
//! `db push` writes it, `db update --db-repository` and scans with `--db-repository` install
//! it in a database directory of their own, and a tampered artifact leaves the installed
//! database as it was. The data is real: Debian's DSA/DLA lists as OSV records (as
//! `Debian:11`) and the pypa advisory database (as `PyPI`), as in tests/db.rs.

mod common;

use common::builder::{DockerArchive, Image, Layer};
use common::fault_proxy::{FaultProxy, Faults};
use common::services::{auth_registry, registry, unique};
use common::{Run, corpus, portcullis, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const ARTIFACT_TYPE: &str = "application/vnd.portcullis.osv-db.v1";
const META: &str = "application/vnd.portcullis.osv-db.meta.v1+json";
const INDEX_ZSTD: &str = "application/vnd.portcullis.osv-db.index.v1+zstd";
const TITLE: &str = "org.opencontainers.image.title";

/// The Debian 11 image of tests/db.rs: zlib and sudo at versions Debian's advisories of
/// early 2023 name.
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
    /// The database `db update` built from the mirror: what is pushed.
    db: PathBuf,
}

impl Setup {
    /// A database directory of its own for a test step.
    fn fresh(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The mirror of tests/db.rs (the Debian records as `Debian:11`, pypa's as `PyPI`), the
/// database updated from it, and the bullseye image; `None` without the corpus.
fn setup() -> Option<Setup> {
    let corpus = corpus()?;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(mirror.join("Debian:11")).unwrap();
    std::fs::copy(
        corpus.join("derived/osv-debian-dsa-dla.zip"),
        mirror.join("Debian:11/all.zip"),
    )
    .unwrap();
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
    let setup = Setup {
        dir,
        image,
        mirror,
        db,
    };
    db_cmd(
        &setup.db,
        &[
            "update",
            "--mirror",
            text(&setup.mirror),
            "--ecosystem",
            "Debian:11",
            "--ecosystem",
            "PyPI",
        ],
        &[],
        None,
    )
    .expect_code(0);
    Some(setup)
}

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

/// Runs portcullis with downloads allowed, `env` and `stdin`.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = portcullis();
    cmd.env_remove("PORTCULLIS_OFFLINE").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = common::run_with_stdin(&mut cmd, stdin.unwrap_or(""));
    common::assert_no_panic(&run);
    run
}

/// `portcullis db ARGS` on the database directory `db`.
fn db_cmd(db: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut all = vec!["db"];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("PORTCULLIS_DB_DIR", text(db)));
    run(&all, &env, stdin)
}

fn status(db: &Path) -> Value {
    let run = db_cmd(db, &["status", "--format", "json"], &[], None);
    run.expect_code(0);
    run.json()
}

/// `portcullis scan --format json` of the test image with the database directory `db`.
fn scan(setup: &Setup, db: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = vec!["scan", "--format", "json", "--exit-code", "0", "--no-cache"];
    all.push(text(&setup.image));
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("PORTCULLIS_DB_DIR", text(db)));
    env.push((portcullis::cli::scan::NOW_ENV, "2026-06-01"));
    let run = run(&all, &env, None);
    run.expect_code(0);
    run.json()
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

/// `skopeo inspect --raw` of a manifest in a test registry, as JSON.
fn raw(reference: &str, creds: Option<&str>) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = common::services::tool(cmd.arg(reference));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{reference}: {e}\n{out}"))
}

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::new()
}

/// A blob of the open registry's repository `repo`.
fn get_blob(registry: &str, repo: &str, digest: &str) -> Vec<u8> {
    let response = http()
        .get(format!("http://{registry}/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{digest}: {response:?}");
    response.bytes().unwrap().to_vec()
}

/// Uploads `data` to the open registry's repository `repo`; returns its digest.
fn put_blob(registry: &str, repo: &str, data: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)));
    let client = http();
    let started = client
        .post(format!("http://{registry}/v2/{repo}/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(started.status().as_u16(), 202, "{started:?}");
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let url = if location.starts_with("http") {
        location
    } else {
        format!("http://{registry}{location}")
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let put = client
        .put(format!("{url}{separator}digest={digest}"))
        .body(data.to_vec())
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    digest
}

fn put_manifest(registry: &str, repo: &str, tag: &str, manifest: &Value) {
    let put = http()
        .put(format!("http://{registry}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(manifest).unwrap())
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
}

/// The ecosystems of a `db status --format json`, in order.
fn ecosystems(status: &Value) -> &Value {
    &status["ecosystems"]
}

#[test]
fn pushed_to_an_open_registry_pulled_by_update_and_by_a_scan() {
    let Some(registry) = registry() else { return };
    let Some(setup) = setup() else { return };
    let repo = unique("osv-db");
    let reference = format!("docker://{registry}/{repo}:1");

    let pushed = db_cmd(&setup.db, &["push", &reference, "--insecure"], &[], None);
    pushed.expect_code(0);
    let line = pushed.stdout.trim();
    let digest = line
        .strip_prefix(&format!("{reference}@"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(
        pushed.stderr.contains("(Debian:11, PyPI)") && pushed.stderr.contains("4 blobs uploaded"),
        "{}",
        pushed.stderr
    );

    // The artifact as any registry client sees it.
    let manifest = raw(&reference, None);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["artifactType"], ARTIFACT_TYPE);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["config"]["size"], 2);
    let layers: Vec<(&str, &str)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap(),
                l["annotations"][TITLE].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        layers,
        [
            (META, "meta.json"),
            (INDEX_ZSTD, "Debian%3A11.osvidx"),
            (INDEX_ZSTD, "PyPI.osvidx"),
        ]
    );
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["vnd.portcullis.osv-db.ecosystems"],
        "Debian:11,PyPI"
    );
    let original = status(&setup.db);
    let newest = original["ecosystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["checked"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(annotations["org.opencontainers.image.created"], newest);
    // A compressed index is much smaller than the file.
    let debian_index = std::fs::metadata(setup.db.join("current/Debian%3A11.osvidx"))
        .unwrap()
        .len();
    assert!(manifest["layers"][1]["size"].as_u64().unwrap() * 4 < debian_index);

    // Pushed again: nothing uploaded, the same manifest.
    let again = db_cmd(&setup.db, &["push", &reference, "--insecure"], &[], None);
    again.expect_code(0);
    assert_eq!(again.stdout, pushed.stdout);
    assert!(
        again.stderr.contains("0 blobs uploaded, 4 already there"),
        "{}",
        again.stderr
    );

    // Installed in a fresh directory: the same exports, and where they came from.
    let pulled = setup.fresh("pulled");
    let update = ["update", "--db-repository", &reference, "--insecure"];
    let run = db_cmd(&pulled, &update, &[], None);
    run.expect_code(0);
    assert!(
        run.stderr.contains("2 indexes downloaded"),
        "{}",
        run.stderr
    );
    let first = status(&pulled);
    assert_eq!(ecosystems(&first), ecosystems(&original));
    assert_eq!(first["artifact"]["reference"], reference);
    assert_eq!(first["artifact"]["digest"], digest);
    for file in ["Debian%3A11.osvidx", "PyPI.osvidx"] {
        assert_eq!(
            std::fs::read(pulled.join("current").join(file)).unwrap(),
            std::fs::read(setup.db.join("current").join(file)).unwrap(),
            "{file}"
        );
    }
    // Pulled again: the manifest is unchanged, so nothing is downloaded or written.
    let generation = std::fs::read_link(pulled.join("current")).unwrap();
    let run = db_cmd(&pulled, &update, &[], None);
    run.expect_code(0);
    assert!(run.stderr.contains("not modified"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_link(pulled.join("current")).unwrap(),
        generation
    );
    assert_eq!(status(&pulled), first);
    let table = db_cmd(&pulled, &["status"], &[], None);
    assert!(
        table
            .stdout
            .contains(&format!("pulled from {reference}@{digest}")),
        "{}",
        table.stdout
    );

    // A scan with an empty directory pulls the artifact and finds what tests/db.rs finds.
    let scanned = setup.fresh("scanned");
    let report = scan(
        &setup,
        &scanned,
        &["--db-repository", &reference, "--insecure"],
        &[],
    );
    assert_eq!(found(&report), expected(), "{:#}", osv_source(&report));
    let source = osv_source(&report);
    assert_eq!(source["status"], "used");
    let detail = source["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "local database (from {reference}@{digest}): Debian:11"
        )),
        "{detail}"
    );
    assert_eq!(source["data"][0]["name"], "Debian:11");
    assert_eq!(
        source["data"][0]["source"],
        setup.mirror.join("Debian:11/all.zip").display().to_string(),
        "the data keeps the source it was fetched from"
    );
    // From the environment, fresh: nothing is pulled, and the source says the same.
    let env = [("PORTCULLIS_DB_REPOSITORY", reference.as_str())];
    let generation = std::fs::read_link(scanned.join("current")).unwrap();
    let report = scan(&setup, &scanned, &["--insecure"], &env);
    assert_eq!(found(&report), expected());
    assert_eq!(osv_source(&report)["detail"], detail);
    assert_eq!(
        std::fs::read_link(scanned.join("current")).unwrap(),
        generation
    );
}

#[test]
fn a_second_pull_asks_for_the_manifest_only_and_tampering_is_refused() {
    let Some(registry) = registry() else { return };
    let Some(setup) = setup() else { return };
    let repo = unique("osv-db");
    let reference = format!("docker://{registry}/{repo}:1");
    db_cmd(&setup.db, &["push", &reference, "--insecure"], &[], None).expect_code(0);
    let manifest = raw(&reference, None);
    let debian_layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // Through a proxy that logs every request: a pull, then a second one.
    let proxy = FaultProxy::start(&registry, Faults::default());
    let through = format!("docker://{}/{repo}:1", proxy.addr);
    let db = setup.fresh("through-proxy");
    let update = ["update", "--db-repository", &through, "--insecure"];
    db_cmd(&db, &update, &[], None).expect_code(0);
    let blobs = |log: &[common::fault_proxy::Exchange]| {
        log.iter().filter(|e| e.path.contains("/blobs/")).count()
    };
    let first = proxy.log();
    assert_eq!(blobs(&first), 3, "meta.json and two indexes: {first:#?}");
    let run = db_cmd(&db, &update, &[], None);
    run.expect_code(0);
    assert!(run.stderr.contains("not modified"), "{}", run.stderr);
    let second = &proxy.log()[first.len()..];
    assert_eq!(blobs(second), 0, "{second:#?}");
    assert!(
        second
            .iter()
            .any(|e| e.is_for("1") && e.path.contains("/manifests/")),
        "{second:#?}"
    );
    let installed = status(&db);

    // A new tag whose meta.json names a file outside the database: refused, and the
    // database stays as it was.
    let meta = get_blob(
        &registry,
        &repo,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    );
    let mut meta: Value = serde_json::from_slice(&meta).unwrap();
    meta["ecosystems"]["Debian:11"]["file"] = "../x".into();
    let meta = serde_json::to_vec(&meta).unwrap();
    let mut evil = manifest.clone();
    evil["layers"][0]["digest"] = put_blob(&registry, &repo, &meta).into();
    evil["layers"][0]["size"] = meta.len().into();
    put_manifest(&registry, &repo, "evil", &evil);
    let evil_reference = format!("docker://{registry}/{repo}:evil");
    let run = db_cmd(
        &db,
        &["update", "--db-repository", &evil_reference, "--insecure"],
        &[],
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains(&evil_reference)
            && run.stderr.contains("refused")
            && run.stderr.contains("\"../x\""),
        "{}",
        run.stderr
    );
    assert_eq!(status(&db), installed);
    assert!(!db.join("x").exists() && !db.parent().unwrap().join("x").exists());

    // An index whose bytes are not those its layer names (a changed byte on the way):
    // refused by its digest, nothing installed. The database there was updated from the
    // mirror, so no index can be taken from a previous pull of the same layer.
    let tampering = FaultProxy::start(
        &registry,
        Faults {
            tampered: [debian_layer.clone()].into(),
            ..Faults::default()
        },
    );
    let db = setup.fresh("tampered");
    let mirror = [
        "update",
        "--mirror",
        text(&setup.mirror),
        "--ecosystem",
        "Debian:11",
    ];
    db_cmd(&db, &mirror, &[], None).expect_code(0);
    let before = status(&db);
    let tampered_reference = format!("docker://{}/{repo}:1", tampering.addr);
    let run = db_cmd(
        &db,
        &[
            "update",
            "--db-repository",
            &tampered_reference,
            "--insecure",
        ],
        &[],
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("digest mismatch") && run.stderr.contains(&debian_layer),
        "{}",
        run.stderr
    );
    assert_eq!(status(&db), before);
    let generations = std::fs::read_dir(&db)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("gen-")
        })
        .count();
    assert_eq!(generations, 1, "the failed pull left nothing behind");

    // A scan whose pull fails says so, and matches with the database it has.
    let policy = setup.dir.path().join("stale.toml");
    std::fs::write(&policy, "[params.osv]\ndb_max_age_hours = 0\n").unwrap();
    let report = scan(
        &setup,
        &db,
        &[
            "--db-repository",
            &tampered_reference,
            "--insecure",
            "--policy",
            text(&policy),
        ],
        &[],
    );
    assert_eq!(
        found(&report),
        expected(),
        "the verdict does not change silently"
    );
    let detail = osv_source(&report)["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("pull failed") && detail.contains("digest mismatch"),
        "{detail}"
    );

    // An image is not a database.
    let image_ref = format!("docker://{registry}/{}:1", unique("not-a-db"));
    common::services::push(
        &format!("docker-archive:{}", text(&setup.image)),
        &image_ref,
        false,
        None,
    );
    let run = db_cmd(
        &setup.fresh("image"),
        &["update", "--db-repository", &image_ref, "--insecure"],
        &[],
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("refused") && run.stderr.contains("not a database artifact"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_registry_with_authentication() {
    let Some((registry, user, password)) = auth_registry() else {
        return;
    };
    let Some(setup) = setup() else { return };
    let reference = format!("docker://{registry}/{}:1", unique("osv-db"));
    let empty_config = setup.fresh("no-docker-config");
    std::fs::create_dir(&empty_config).unwrap();
    let no_config = [("DOCKER_CONFIG", text(&empty_config))];

    // Wrong credentials: exit 2, naming the registry, and nothing pushed.
    let run = db_cmd(
        &setup.db,
        &[
            "push",
            &reference,
            "--insecure",
            "--username",
            &user,
            "--password-stdin",
        ],
        &no_config,
        Some("not-the-password\n"),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains(&registry) && run.stderr.contains("denied"),
        "{}",
        run.stderr
    );
    let run = db_cmd(
        &setup.db,
        &[
            "push",
            &reference,
            "--insecure",
            "--username",
            &user,
            "--password-stdin",
        ],
        &no_config,
        Some(&format!("{password}\n")),
    );
    run.expect_code(0);
    assert!(!run.stderr.contains(&password));

    // Pulled without credentials: denied, naming the registry; nothing written.
    let anonymous = setup.fresh("anonymous");
    let run = db_cmd(
        &anonymous,
        &["update", "--db-repository", &reference, "--insecure"],
        &no_config,
        None,
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains(&registry) && run.stderr.contains("denied"),
        "{}",
        run.stderr
    );
    assert!(!anonymous.join("current").exists());
    // With --username and --password-stdin.
    let with_flags = setup.fresh("with-flags");
    db_cmd(
        &with_flags,
        &[
            "update",
            "--db-repository",
            &reference,
            "--insecure",
            "--username",
            &user,
            "--password-stdin",
        ],
        &no_config,
        Some(&format!("{password}\n")),
    )
    .expect_code(0);
    assert_eq!(
        ecosystems(&status(&with_flags)),
        ecosystems(&status(&setup.db))
    );

    // A scan reads Docker's config, as every client does.
    let config_dir = setup.fresh("docker-config");
    std::fs::create_dir(&config_dir).unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths": {{"http://{registry}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let docker_config = [("DOCKER_CONFIG", text(&config_dir))];
    let scanned = setup.fresh("scanned");
    let args = ["--db-repository", reference.as_str(), "--insecure"];
    let report = scan(&setup, &scanned, &args, &docker_config);
    assert_eq!(found(&report), expected(), "{:#}", osv_source(&report));

    // Without credentials the scan says the pull failed, and why.
    let report = scan(&setup, &setup.fresh("scan-denied"), &args, &no_config);
    assert!(found(&report).is_empty());
    let source = osv_source(&report);
    assert_eq!(source["status"], "failed", "{source:#}");
    let detail = source["detail"].as_str().unwrap();
    assert!(
        detail.contains("pull failed") && detail.contains(&registry) && detail.contains("denied"),
        "{detail}"
    );
}
