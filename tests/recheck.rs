//! `scan --attach-facts` and `recheck` against a real docker-registry the test starts itself,
//! with its access log on: a recheck after a data update judges the image from the facts
//! stored next to it — the new vulnerability found, the same findings a fresh scan gives —
//! and the registry's log shows that no layer blob was pulled. Images without stored facts
//! are scanned (and, asked, get facts for the next time).
//!
//! `recheck docker://REGISTRY` reads every repository of the registry's catalog, page by
//! page (the registry here hands out two a page, and refuses a larger `n`, as distribution
//! does past its `catalog.maxentries`), with the credentials the tag listing uses; a tag
//! that is not an image is its own line and makes the exit code 2 without stopping the
//! others; `--attest` signs today's verdict, and `verify` accepts what it pushed.

mod common;

use common::alpine::{ZLIB_RECORD, alpine_layer};
use common::builder::*;
use common::services::*;
use common::token_issuer::{Answer, TokenIssuer, USER};
use common::{portcullis, run_command, text};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A docker-registry of the test's own, logging every request to `log`.
struct Registry {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Option<Registry> {
        Registry::start_with(dir, "")
    }

    /// A registry whose configuration ends with `extra` (YAML, top-level keys), handing out
    /// its catalog two repositories a page.
    fn start_with(dir: &Path, extra: &str) -> Option<Registry> {
        if !common::have_tool("docker-registry") {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = dir.join("registry");
        std::fs::create_dir_all(&root).unwrap();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n\
                 catalog:\n  maxentries: 2\n{extra}",
                root.display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new("docker-registry")
            .args(["serve", text(&config)])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("docker-registry");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Registry {
                    child,
                    addr: format!("127.0.0.1:{port}"),
                    log,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("docker-registry did not start on {port}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory and a docker-registry of the test's own in it; `None` (after
/// [`common::skip`]) without the shared services or docker-registry.
fn own_registry() -> Option<(tempfile::TempDir, Registry)> {
    registry()?;
    let dir = tempfile::tempdir().unwrap();
    let Some(registry) = Registry::start(dir.path()) else {
        common::skip("docker-registry is not installed");
        return None;
    };
    Some((dir, registry))
}

fn portcullis_run(args: &[&str]) -> common::Run {
    common::run(args)
}

/// (check, path, message) of every finding, sorted.
fn findings(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["check"].as_str().unwrap_or(""),
                f["location"]["path"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn recheck_judges_stored_facts_against_new_data_without_pulling_a_layer() {
    let Some((dir, registry)) = own_registry() else {
        return;
    };
    let empty_osv = dir.path().join("osv-empty");
    std::fs::create_dir_all(&empty_osv).unwrap();
    let osv = dir.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(osv.join("zlib.json"), ZLIB_RECORD).unwrap();

    let built = Image::new()
        .layer(alpine_layer("1.3-r0").gzip())
        .layer(Layer::new().gzip().file("app/run", "#!/bin/sh\n"))
        .user("1000")
        .build();
    let layout = dir.path().join("app");
    Layout::new().image(&built, &["1"]).write_dir(&layout);
    let image = format!("docker://{}/app:1", registry.addr);
    push(&format!("oci:{}:1", layout.display()), &image, false, None);
    let other = format!("docker://{}/app:2", registry.addr);
    let built2 = Image::new()
        .layer(alpine_layer("1.3.1-r0").gzip())
        .user("1000")
        .build();
    let layout2 = dir.path().join("app2");
    Layout::new().image(&built2, &["2"]).write_dir(&layout2);
    push(&format!("oci:{}:2", layout2.display()), &other, false, None);

    // Yesterday's data: nothing known about zlib. The facts go next to the image.
    let scan = portcullis_run(&[
        "scan",
        &image,
        "--insecure",
        "--no-cache",
        "--attach-facts",
        "--osv-db",
        text(&empty_osv),
        "-f",
        "json",
        "--exit-code",
        "0",
    ]);
    scan.expect_code(0);
    assert!(
        scan.stderr.contains("stored the facts of"),
        "{}",
        scan.stderr
    );
    assert!(
        !findings(&scan.json())
            .iter()
            .any(|f| f.contains("zlib") || f.contains("CVE"))
    );

    // Today's data knows a zlib vulnerability: the recheck finds it from the stored facts.
    let before = registry.log().len();
    let recheck = portcullis_run(&[
        "recheck",
        &image,
        "--insecure",
        "--no-cache",
        "--osv-db",
        text(&osv),
        "--json",
    ]);
    recheck.expect_code(1);
    let line: Value = serde_json::from_str(recheck.stdout.trim()).unwrap();
    assert_eq!(line["judged"], "from stored facts", "{line:#}");
    assert_eq!(line["digest"], built.manifest_digest.as_str());
    let rechecked = findings(&line["report"]);
    assert!(
        rechecked
            .iter()
            .any(|f| f.contains("ALPINE-CVE-2023-45853")),
        "{rechecked:#?}"
    );
    // The registry served manifests and the stored facts, and no layer.
    let log = registry.log()[before..].to_string();
    for layer in &built.layers {
        assert!(
            !log.contains(&format!("/blobs/{}", layer.digest)),
            "a layer blob was pulled:\n{log}"
        );
    }
    assert!(log.contains("/manifests/"), "{log}");

    // The same findings as a fresh scan with today's data.
    let fresh = portcullis_run(&[
        "scan",
        &image,
        "--insecure",
        "--no-cache",
        "--osv-db",
        text(&osv),
        "-f",
        "json",
    ]);
    fresh.expect_code(1);
    assert_eq!(rechecked, findings(&fresh.json()));

    // The repository: :1 from its facts, :2 scanned (none stored) and given facts; the
    // next recheck judges both from stored facts.
    let repo = format!("docker://{}/app", registry.addr);
    let recheck_repo = |extra: &[&str]| {
        let args = [
            "recheck",
            repo.as_str(),
            "--insecure",
            "--no-cache",
            "--osv-db",
            text(&osv),
        ];
        portcullis_run(&[&args[..], extra].concat())
    };
    let all = recheck_repo(&["--attach-facts"]);
    all.expect_code(1);
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", all.stdout);
    assert!(
        lines[0].contains("app:1@")
            && lines[0].contains("FAILED")
            && lines[0].ends_with("from stored facts"),
        "{}",
        all.stdout
    );
    assert!(
        lines[1].contains("app:2@") && lines[1].ends_with("scanned (no stored facts)"),
        "{}",
        all.stdout
    );
    let again = recheck_repo(&[]);
    assert!(
        again
            .stdout
            .lines()
            .all(|l| l.ends_with("from stored facts")),
        "{}",
        again.stdout
    );

    // A local image has no registry to store facts in: a clear usage error.
    let local = portcullis_run(&[
        "scan",
        &format!("oci:{}:1", layout.display()),
        "--attach-facts",
    ]);
    local.expect_code(2);
    assert!(
        local
            .stderr
            .contains("--attach-facts needs an image in a registry"),
        "{}",
        local.stderr
    );
}

/// Runs portcullis with `args`, `env`, and `stdin` written to its standard input.
fn portcullis_with(args: &[&str], env: &[(&str, &str)], stdin: &str) -> common::Run {
    let mut cmd = portcullis();
    cmd.args(args)
        .env_remove("PORTCULLIS_PASSWORD")
        .env_remove("COSIGN_PASSWORD");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let run = common::run_with_stdin(&mut cmd, stdin);
    common::assert_no_panic(&run);
    run
}

/// Pushes `built` to `reference` (`REGISTRY/NAME:TAG`) from an OCI layout, with skopeo.
fn push_built(dir: &Path, built: &Built, reference: &str, creds: Option<&str>) {
    let layout = tempfile::tempdir_in(dir).unwrap();
    Layout::new().image(built, &["t"]).write_dir(layout.path());
    push(
        &format!("oci:{}:t", layout.path().display()),
        &format!("docker://{reference}"),
        false,
        creds,
    );
}

/// An Alpine image whose zlib is `version` (1.3-r0 is vulnerable to [`ZLIB_RECORD`]).
fn alpine_image(zlib: &str) -> Built {
    Image::new()
        .layer(alpine_layer(zlib).gzip())
        .user("1000")
        .build()
}

/// A directory of OSV records: [`ZLIB_RECORD`], or none.
fn osv_dir(dir: &Path, with_zlib: bool) -> std::path::PathBuf {
    let osv = dir.join(if with_zlib { "osv" } else { "osv-empty" });
    std::fs::create_dir_all(&osv).unwrap();
    if with_zlib {
        std::fs::write(osv.join("zlib.json"), ZLIB_RECORD).unwrap();
    }
    osv
}

/// The JSON lines of a `recheck --json`.
fn json_lines(run: &common::Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn recheck_of_a_registry_reads_every_repository_its_catalog_lists() {
    if registry().is_none() {
        return;
    }
    let Some(token) = token_registry() else {
        return;
    };
    // A registry of this test's own (its catalog holds only what the test pushes), with
    // bearer tokens from the issuer of scripts/services.sh's token registry: the anonymous
    // client's token grants nothing, the user's grants what it asks for.
    let issuer = TokenIssuer::shared(&token);
    let dir = tempfile::tempdir().unwrap();
    let Some(registry) = Registry::start_with(
        dir.path(),
        &format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
             rootcertbundle: {}\n",
            token.realm,
            token.service,
            token.issuer,
            token.cert.display()
        ),
    ) else {
        common::skip("docker-registry is not installed");
        return;
    };
    let password = issuer.password.clone();
    let addr = registry.addr.as_str();
    let creds = issuer.creds();
    let osv = osv_dir(dir.path(), true);
    // No credentials but those given: Docker's config is an empty directory.
    let docker_config = dir.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let (vulnerable, fixed) = (alpine_image("1.3-r0"), alpine_image("1.3.1-r0"));
    // Three repositories: two pages of the catalog.
    for (built, reference) in [
        (&vulnerable, "app:1"),
        (&fixed, "app:2"),
        (&fixed, "base:3.19"),
        (&fixed, "tools/cli:latest"),
    ] {
        push_built(
            dir.path(),
            built,
            &format!("{addr}/{reference}"),
            Some(&creds),
        );
    }
    let whole = format!("docker://{addr}");
    let recheck = |extra: &[&str], credentials: bool| {
        let mut args = vec![
            "recheck",
            whole.as_str(),
            "--insecure",
            "--no-cache",
            "--osv-db",
            text(&osv),
            "--fail-on",
            "critical",
        ];
        if credentials {
            args.extend(["--username", USER, "--password-stdin"]);
        }
        args.extend_from_slice(extra);
        let stdin = if credentials { password.as_str() } else { "" };
        let run = portcullis_with(&args, &[("DOCKER_CONFIG", text(&docker_config))], stdin);
        assert!(
            !run.stdout.contains(&password) && !run.stderr.contains(&password),
            "the password was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    };

    // Anonymous: the registry does not list its repositories, which is said, exit 2.
    let refused = recheck(&[], false);
    refused.expect_code(2);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    for needle in [
        whole.as_str(),
        "does not list its repositories",
        "401",
        "log in",
        "name the repositories to recheck instead",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "{needle:?} not in {}",
            refused.stderr
        );
    }

    // With the credentials the tag listing uses: every tag of every repository, in the
    // catalog's order; app:1 fails on today's zlib advisory.
    let before = registry.log().len();
    let all = recheck(&["--json"], true);
    all.expect_code(1);
    let lines = json_lines(&all);
    let images: Vec<&str> = lines.iter().map(|l| l["image"].as_str().unwrap()).collect();
    assert_eq!(
        images,
        ["app:1", "app:2", "base:3.19", "tools/cli:latest"].map(|r| format!("docker://{addr}/{r}")),
        "{}",
        all.stdout
    );
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|l| l["report"]["gate"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["FAILED", "PASSED", "PASSED", "PASSED"]);
    assert!(
        findings(&lines[0]["report"])
            .iter()
            .any(|f| f.contains("ALPINE-CVE-2023-45853"))
    );
    // Asked for 1,000 a page and refused (400), the catalog was read two a page, with a
    // token for the catalog.
    let log = registry.log()[before..].to_string();
    assert!(
        issuer
            .log()
            .iter()
            .any(|t| t.answer == Answer::Granted
                && t.scopes.iter().any(|s| s == "registry:catalog:*")),
        "no token for the catalog:\n{:#?}",
        issuer.log()
    );
    assert!(log.contains("/v2/_catalog?n=1000"), "{log}");
    assert!(log.contains("/v2/_catalog?last="), "{log}");

    // A catalog longer than --max-repositories is an error, not a partial recheck.
    recheck(&["--max-repositories", "3"], true).expect_code(1);
    let long = recheck(&["--max-repositories", "2"], true);
    long.expect_code(2);
    assert!(long.stdout.is_empty(), "{}", long.stdout);
    assert!(
        long.stderr
            .contains("the catalog is longer than 2 repositories")
            && long.stderr.contains("--max-repositories"),
        "{}",
        long.stderr
    );
    let zero = recheck(&["--max-repositories", "0"], true);
    zero.expect_code(2);
    assert!(
        zero.stderr.contains("--max-repositories"),
        "{}",
        zero.stderr
    );
}

/// Puts an OCI artifact that is not an image (an empty config, artifact type
/// `application/vnd.example.notes+json`) under `repository:tag` of the open registry
/// `registry`.
fn put_artifact(registry: &str, repository: &str, tag: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    let base = format!("http://{registry}/v2/{repository}");
    let config = b"{}";
    let digest = {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(config)))
    };
    let upload = http
        .post(format!("{base}/blobs/uploads/"))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    let location = upload.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{registry}{location}")
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    http.put(format!("{location}{separator}digest={digest}"))
        .body(config.to_vec())
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    let empty = serde_json::json!({
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": digest,
        "size": config.len(),
    });
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.notes+json",
        "config": empty,
        "layers": [empty],
    });
    http.put(format!("{base}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
}

#[test]
fn a_tag_that_is_not_an_image_is_reported_and_the_other_tags_are_judged() {
    let Some((dir, registry)) = own_registry() else {
        return;
    };
    let addr = registry.addr.as_str();
    let osv = osv_dir(dir.path(), true);
    // mixed:good fails the gate; mixed:index is an index with no image for this platform;
    // mixed:notes is an artifact, not an image.
    push_built(
        dir.path(),
        &alpine_image("1.3-r0"),
        &format!("{addr}/mixed:good"),
        None,
    );
    let elsewhere = Image::new()
        .platform("linux/s390x")
        .layer(Layer::new().file("etc/os-release", "ID=alpine\n"))
        .build();
    let layout = dir.path().join("index");
    Layout::new()
        .index(&[&elsewhere], &["t"])
        .write_dir(&layout);
    push(
        &format!("oci:{}:t", layout.display()),
        &format!("docker://{addr}/mixed:index"),
        true,
        None,
    );
    put_artifact(addr, "mixed", "notes");

    let recheck = |names: &[&str], extra: &[&str]| {
        let mut args = vec!["recheck"];
        args.extend_from_slice(names);
        args.extend(["--insecure", "--no-cache", "--osv-db", text(&osv)]);
        args.extend_from_slice(extra);
        portcullis_run(&args)
    };
    let repository = format!("docker://{addr}/mixed");
    let name = |tag: &str| format!("{repository}:{tag}");

    // The repository: one line per tag, the two that are not images saying why; the
    // failing image does not hide them, and they beat its gate failure: exit 2.
    let run = recheck(&[&repository], &["--json"]);
    run.expect_code(2);
    let lines = json_lines(&run);
    let images: Vec<&str> = lines.iter().map(|l| l["image"].as_str().unwrap()).collect();
    assert_eq!(
        images,
        [name("good"), name("index"), name("notes")],
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[0]["report"]["gate"]["result"], "FAILED",
        "{}",
        run.stdout
    );
    assert!(lines[0].get("error").is_none());
    let index_error = lines[1]["error"]
        .as_str()
        .expect("an error for mixed:index");
    assert!(
        index_error.contains("no image for platform"),
        "{index_error}"
    );
    let notes_error = lines[2]["error"]
        .as_str()
        .expect("an error for mixed:notes");
    assert!(!notes_error.is_empty());
    assert!(lines[1].get("report").is_none() && lines[2].get("report").is_none());
    assert!(
        run.stderr
            .contains("2 images could not be judged or attested, 1 judged"),
        "{}",
        run.stderr
    );

    // The same as text, and --exit-code 0 does not make unjudged images a pass.
    let run = recheck(&[&repository], &["--exit-code", "0"]);
    run.expect_code(2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!("{}@sha256:", name("good"))) && lines[0].contains("FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with(&format!("{}: ERROR, not judged: ", name("index"))),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with(&format!("{}: ERROR, not judged: ", name("notes"))),
        "{}",
        run.stdout
    );

    // The catalog: the same lines; and after it the repository named too.
    let catalog = recheck(&[&format!("docker://{addr}")], &[]);
    catalog.expect_code(2);
    assert_eq!(catalog.stdout.lines().count(), 3, "{}", catalog.stdout);

    // An image named itself that cannot be judged fails the run at once, naming it.
    let named = recheck(&[&name("notes"), &name("good")], &[]);
    named.expect_code(2);
    assert!(named.stdout.is_empty(), "{}", named.stdout);
    assert!(named.stderr.contains(&name("notes")), "{}", named.stderr);
    let bad = recheck(&[&format!("docker://{addr}/Mixed:good")], &[]);
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("Mixed:good") && bad.stderr.contains("lowercase"),
        "{}",
        bad.stderr
    );
}

/// The in-toto statement in the DSSE envelope file `path`.
fn statement(path: &Path) -> Value {
    use base64::Engine as _;
    let envelope: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn recheck_attests_todays_verdict_from_stored_facts_and_verify_accepts_it() {
    let Some((dir, registry)) = own_registry() else {
        return;
    };
    let addr = registry.addr.as_str();
    let (empty_osv, osv) = (osv_dir(dir.path(), false), osv_dir(dir.path(), true));
    let built = alpine_image("1.3-r0");
    push_built(dir.path(), &built, &format!("{addr}/app:1"), None);
    let image = format!("docker://{addr}/app:1");
    let repository = format!("docker://{addr}/app");
    portcullis_run(&[
        "scan",
        &image,
        "--insecure",
        "--no-cache",
        "--attach-facts",
        "--osv-db",
        text(&empty_osv),
        "--exit-code",
        "0",
    ])
    .expect_code(0);

    const PASSPHRASE: &str = "recheck-signing-passphrase";
    let signer = dir.path().join("signer");
    portcullis_with(
        &["keygen", "--type", "ecdsa-p256", "--out", text(&signer)],
        &[("PORTCULLIS_PASSWORD", PASSPHRASE)],
        "",
    )
    .expect_code(0);
    let key = text(&signer.with_extension("key")).to_string();
    let public = text(&signer.with_extension("pub")).to_string();
    let recheck = |osv: &Path, extra: &[&str], passphrase: &str| {
        let mut args = vec![
            "recheck",
            repository.as_str(),
            "--insecure",
            "--no-cache",
            "--osv-db",
            text(osv),
            "--fail-on",
            "critical",
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = portcullis_with(&args, &[("PORTCULLIS_PASSWORD", passphrase)], "");
        assert!(
            !run.stdout.contains(passphrase) && !run.stderr.contains(passphrase),
            "the passphrase was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    };
    let file_of = |dir: &Path| {
        dir.join(format!(
            "{}.intoto.jsonl",
            built.manifest_digest.replace(':', "-")
        ))
    };

    // Where the attestations go must be said; a wrong passphrase stops before the registry
    // is asked anything.
    let nowhere = recheck(&osv, &["--attest", "--key", &key], PASSPHRASE);
    nowhere.expect_code(2);
    assert!(
        nowhere
            .stderr
            .contains("--attest: say where the attestations go"),
        "{}",
        nowhere.stderr
    );
    recheck(&osv, &["--attest", "--push"], PASSPHRASE).expect_code(2);
    let before = registry.log().len();
    let wrong = recheck(
        &osv,
        &["--attest", "--key", &key, "--push"],
        "not-the-passphrase",
    );
    wrong.expect_code(2);
    assert!(wrong.stdout.is_empty(), "{}", wrong.stdout);
    assert!(
        !registry.log()[before..].contains("/v2/"),
        "the registry was asked before the key was loaded"
    );

    // Yesterday's data: PASSED, from the stored facts, attested to a directory.
    let yesterday = dir.path().join("yesterday");
    let run = recheck(
        &empty_osv,
        &["--attest", "--key", &key, "--attest-dir", text(&yesterday)],
        PASSPHRASE,
    );
    run.expect_code(0);
    let passed = statement(&file_of(&yesterday));
    assert_eq!(passed["predicate"]["verdict"], "PASSED", "{passed:#}");
    assert_eq!(
        passed["subject"][0]["digest"]["sha256"],
        built.manifest_digest.trim_start_matches("sha256:")
    );

    // Today's data knows the zlib advisory: the re-attestation made from the same stored
    // facts says FAILED, as the recheck does, and no layer was pulled for it.
    let today = dir.path().join("today");
    let before = registry.log().len();
    let run = recheck(
        &osv,
        &[
            "--attest",
            "--key",
            &key,
            "--push",
            "--attest-dir",
            text(&today),
        ],
        PASSPHRASE,
    );
    run.expect_code(1);
    let lines = json_lines(&run);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0]["judged"], "from stored facts");
    let verdict = lines[0]["report"]["gate"]["result"].as_str().unwrap();
    assert_eq!(verdict, "FAILED");
    let failed = statement(&file_of(&today));
    assert_eq!(failed["predicate"]["verdict"], verdict, "{failed:#}");
    assert_eq!(
        failed["predicateType"], passed["predicateType"],
        "the statement attest makes"
    );
    assert!(
        failed["predicate"]
            .to_string()
            .contains("ALPINE-CVE-2023-45853"),
        "{failed:#}"
    );
    assert!(
        run.stderr.contains("pushed the attestation"),
        "{}",
        run.stderr
    );
    let log = registry.log()[before..].to_string();
    for layer in &built.layers {
        assert!(
            !log.contains(&format!("/blobs/{}", layer.digest)),
            "a layer blob was pulled:\n{log}"
        );
    }

    // verify, offline with the public key: the pushed attestation, and the file, about
    // this image, with the verdict the recheck printed.
    let verify = |args: &[&str]| {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        all.extend(["--insecure", "--key", public.as_str()]);
        portcullis_run(&all)
    };
    let refused = verify(&["--image", &image]);
    refused.expect_code(1);
    let pushed = verify(&["--image", &image, "--allow-failed"]);
    pushed.expect_code(0);
    assert!(
        pushed.stdout.contains(&format!("verdict:   {verdict}")),
        "{}",
        pushed.stdout
    );
    let file = file_of(&today);
    let offline = verify(&[text(&file), "--image", &image, "--allow-failed"]);
    offline.expect_code(0);
    assert!(
        offline.stdout.contains(&format!("verdict:   {verdict}")),
        "{}",
        offline.stdout
    );

    // The tags the push added (the referrers tag, cosign's .att) are not images to recheck.
    let again = recheck(&osv, &[], PASSPHRASE);
    again.expect_code(1);
    assert_eq!(json_lines(&again).len(), 1, "{}", again.stdout);
}

/// The `portcullis` commands of README.md's recheck section, as words, with the documents'
/// registry (registry.example.com) replaced by `registry`.
fn readme_recheck_commands(registry: &str) -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Re-checking without re-reading layers")
        .nth(1)
        .expect("README.md has a recheck section")
        .split("\n### ")
        .next()
        .unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .flat_map(|block| block.split("```").next().unwrap().lines())
        .filter(|line| line.starts_with("portcullis "))
        .map(|line| {
            line.split('#')
                .next()
                .unwrap()
                .split_whitespace()
                .map(|word| word.replace("registry.example.com", registry))
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_recheck_commands_give_verdicts_against_a_registry() {
    let Some((dir, registry)) = own_registry() else {
        return;
    };
    let addr = registry.addr.as_str();
    let commands = readme_recheck_commands(addr);
    let shown = format!("{commands:?}");
    let whole = format!("docker://{addr}");
    assert!(
        commands.iter().any(|c| c[1] == "recheck" && c[2] == whole)
            && commands.iter().any(|c| c.iter().any(|w| w == "--attest")),
        "the README shows no catalog recheck or no --attest: {shown}"
    );
    let built = alpine_image("1.3.1-r0");
    push_built(dir.path(), &built, &format!("{addr}/acme/app:1.4"), None);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    const PASSPHRASE: &str = "readme-passphrase";
    let in_work = |args: &[String]| {
        let mut cmd = portcullis();
        cmd.current_dir(&work)
            .env("PORTCULLIS_PASSWORD", PASSPHRASE)
            .env("PORTCULLIS_CACHE_DIR", dir.path().join("cache"))
            .env("PORTCULLIS_DB_DIR", dir.path().join("db"))
            .args(args);
        run_command(&mut cmd)
    };
    in_work(&["keygen", "--out", "release"].map(String::from)).expect_code(0);
    for command in &commands {
        assert_eq!(command[0], "portcullis");
        // The registry here speaks plain HTTP.
        let mut args = command[1..].to_vec();
        args.push("--insecure".into());
        let run = in_work(&args);
        common::assert_no_panic(&run);
        assert!(
            run.code == 0 || run.code == 1,
            "{command:?}: exit {}\n{}\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
        assert!(!run.stdout.contains(PASSPHRASE) && !run.stderr.contains(PASSPHRASE));
    }
    // What the --attest commands made: a file, and an attestation verify finds.
    let file = work.join("attestations").join(format!(
        "{}.intoto.jsonl",
        built.manifest_digest.replace(':', "-")
    ));
    assert!(file.is_file(), "{} was not written", file.display());
    let verify = in_work(
        &[
            "verify",
            "--image",
            &format!("{whole}/acme/app:1.4"),
            "--insecure",
            "--key",
            "release.pub",
            "--allow-failed",
        ]
        .map(String::from),
    );
    verify.expect_code(0);
}

/// `--sign-facts` signs what `--attach-facts` stores; `recheck --facts-key` judges from
/// stored facts only when that key signed them for this image, and scans every other image
/// (unsigned facts, another key's): forged facts can force a scan, never a verdict, and
/// newer unsigned facts do not hide signed ones. (Facts changed or moved to another image
/// under a good signature: crates/attest/src/facts.rs.)
#[test]
fn recheck_trusts_stored_facts_only_under_the_facts_key() {
    let Some((dir, registry)) = own_registry() else {
        return;
    };
    let addr = registry.addr.as_str();
    let osv = osv_dir(dir.path(), true);
    const PASSPHRASE: &str = "facts-signing-passphrase";
    let keys: Vec<(String, String)> = ["ours", "theirs"]
        .iter()
        .map(|name| {
            let out = dir.path().join(name);
            portcullis_with(
                &["keygen", "--out", text(&out)],
                &[("PORTCULLIS_PASSWORD", PASSPHRASE)],
                "",
            )
            .expect_code(0);
            (
                text(&out.with_extension("key")).to_string(),
                text(&out.with_extension("pub")).to_string(),
            )
        })
        .collect();
    let (ours, theirs) = (&keys[0], &keys[1]);
    // app:signed gets facts signed with our key, app:theirs with theirs, app:unsigned none.
    for (tag, zlib, key) in [
        ("signed", "1.3-r0", Some(&ours.0)),
        ("theirs", "1.3.1-r0", Some(&theirs.0)),
        ("unsigned", "1.2.13-r0", None),
    ] {
        push_built(
            dir.path(),
            &alpine_image(zlib),
            &format!("{addr}/app:{tag}"),
            None,
        );
        let image = format!("docker://{addr}/app:{tag}");
        let mut args = vec!["scan", &image, "--insecure", "--no-cache", "--attach-facts"];
        if let Some(key) = key {
            args.extend(["--sign-facts", key]);
        }
        args.extend(["--exit-code", "0", "--osv-db", text(&osv)]);
        let run = portcullis_with(&args, &[("PORTCULLIS_PASSWORD", PASSPHRASE)], "");
        run.expect_code(0);
        assert_eq!(
            run.stderr.contains(", signed, as OCI referrer"),
            key.is_some(),
            "{}",
            run.stderr
        );
    }
    let recheck = |extra: &[&str]| {
        let repository = format!("docker://{addr}/app");
        let mut args = vec![
            repository.as_str(),
            "--insecure",
            "--no-cache",
            "--json",
            "--exit-code",
            "0",
            "--osv-db",
            text(&osv),
        ];
        args.extend_from_slice(extra);
        let run = portcullis_run(&[&["recheck"], &args[..]].concat());
        run.expect_code(0);
        let judged: Vec<(String, String)> = json_lines(&run)
            .iter()
            .map(|l| {
                let image = l["image"].as_str().unwrap();
                let tag = image.rsplit(':').next().unwrap().to_string();
                (tag, l["judged"].as_str().unwrap().to_string())
            })
            .collect();
        (judged, run.stderr)
    };
    let stored = "from stored facts".to_string();
    let untrusted = "scanned (stored facts not signed by --facts-key)".to_string();
    // Without --facts-key every stored fact counts, as the registry's write access says.
    let (judged, _) = recheck(&[]);
    assert!(judged.iter().all(|(_, j)| *j == stored), "{judged:?}");
    // Under our key, only ours.
    let (judged, stderr) = recheck(&["--facts-key", &ours.1]);
    assert_eq!(
        judged,
        [
            ("signed".to_string(), stored.clone()),
            ("theirs".to_string(), untrusted.clone()),
            ("unsigned".to_string(), untrusted.clone()),
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("does not verify under the --facts-key key"),
        "{stderr}"
    );
    assert!(stderr.contains("are not signed"), "{stderr}");
    // Newer unsigned facts pushed next to the signed ones do not hide them.
    let signed = format!("docker://{addr}/app:signed");
    portcullis_run(&[
        "scan",
        &signed,
        "--insecure",
        "--no-cache",
        "--attach-facts",
        "--exit-code",
        "0",
        "--osv-db",
        text(&osv),
    ])
    .expect_code(0);
    let (judged, stderr) = recheck(&["--facts-key", &ours.1]);
    assert_eq!(
        judged[0],
        ("signed".to_string(), stored.clone()),
        "{stderr}"
    );
    // A key that is not a key is refused before any registry request.
    let before = registry.log().len();
    let bad = portcullis_run(&[
        "recheck",
        &format!("docker://{addr}/app"),
        "--insecure",
        "--facts-key",
        &ours.0,
    ]);
    bad.expect_code(2);
    assert!(bad.stderr.contains("--facts-key"), "{}", bad.stderr);
    assert_eq!(registry.log().len(), before);
    // --sign-facts only with --attach-facts.
    let usage = portcullis_run(&["scan", "x.tar", "--sign-facts", &ours.0]);
    usage.expect_code(2);
    assert!(usage.stderr.contains("--attach-facts"), "{}", usage.stderr);
}

/// `--timeout` is each image's: a recheck of three images that each take most of it runs to
/// the end, and one image that takes longer ends the run with exit 2, naming that image.
#[test]
fn recheck_gives_each_image_its_own_timeout() {
    let Some((dir, registry)) = own_registry() else {
        return;
    };
    let addr = registry.addr.as_str();
    let tags = ["1", "2", "3"];
    for tag in tags {
        push_built(
            dir.path(),
            &alpine_image("1.3.1-r0"),
            &format!("{addr}/slow:{tag}"),
            None,
        );
    }
    let held = |tags: &[&str]| {
        common::fault_proxy::FaultProxy::start(
            addr,
            common::fault_proxy::Faults {
                held: tags.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            },
        )
    };
    // Each image's manifest is held for two seconds: six in all, four for each.
    let proxy = held(&tags);
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            for tag in tags {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while !proxy.is_waiting(tag) && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                std::thread::sleep(std::time::Duration::from_secs(2));
                proxy.release(tag);
            }
        });
        portcullis_run(&[
            "recheck",
            &format!("docker://{}/slow", proxy.addr),
            "--insecure",
            "--no-cache",
            "--timeout",
            "4s",
            "--exit-code",
            "0",
        ])
    });
    run.expect_code(0);
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
    // An image that never comes ends the run, naming it.
    let stuck = held(&["2"]);
    let run = portcullis_run(&[
        "recheck",
        &format!("docker://{}/slow", stuck.addr),
        "--insecure",
        "--no-cache",
        "--timeout",
        "2s",
    ]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "docker://{}/slow:2: ran out of time after 2s (--timeout)",
            stuck.addr
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    stuck.release("2");
}
