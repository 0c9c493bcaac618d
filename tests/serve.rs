//! `portcullis serve` end to end: the server on a free loopback port, images built here and
//! pushed with skopeo to the docker-registry scripts/services.sh starts, scanned through
//! Harbor's Pluggable Scanner API (v1.2) as Harbor drives it: POST /scan, poll the report
//! (302 while the scan runs, then 200). The reports must say what `portcullis scan` and
//! `portcullis sbom` of the same image say; secrets never in full; the queue bounded;
//! callers authenticated; SIGTERM finishing the running scan. Schemathesis checks the live
//! server against the spec.

mod common;

use base64::Engine as _;
use common::alpine::{APK_DB, BUSYBOX_UNFIXED_RECORD, OPENSSL_RECORD};
use common::builder::{Image, Layer, Layout};
use common::fault_proxy::{FaultProxy, Faults};
use common::services::*;
use common::token_issuer::TokenIssuer;
use common::{have_tool, portcullis, run_command, text};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "harbor-caller-token-0123456789";
const NOW: &str = "2026-06-01";
const SPEC: &str = "goharbor_pluggable-scanner-spec/api/spec/scanner-adapter-openapi-v1.2.yaml";

const HARBOR_V1_0: &str = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
const VULN_V1_1: &str = "application/vnd.security.vulnerability.report; version=1.1";
const RAW: &str = "application/vnd.scanner.adapter.vuln.report.raw";
const SBOM: &str = "application/vnd.security.sbom.report+json; version=1.0";
const ERROR: &str = "application/vnd.scanner.adapter.error+json; version=1.0";

/// A GitHub token shaped like a real one, left in the image: no answer may carry it.
const LEAKED: &str = "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";

/// Alpine 3.19 with vulnerable packages, a setuid binary, and a token in a config file.
fn alpine_app(marker: &str) -> Image {
    Image::new()
        .user("app")
        .layer(
            Layer::new()
                .gzip()
                .dir("etc")
                .file(
                    "etc/os-release",
                    "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
                )
                .file("etc/alpine-release", "3.19.1\n")
                .file(
                    "etc/passwd",
                    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
                )
                .dir("lib/apk/db")
                .file("lib/apk/db/installed", APK_DB)
                .file_with("bin/su", b"\x7fELF", 0o4755, 0, 0),
        )
        .layer(
            Layer::new()
                .gzip()
                .file("app/config.env", format!("GITHUB_TOKEN={LEAKED}\n"))
                .file("app/marker", marker),
        )
}

fn write_db(dir: &Path) -> PathBuf {
    let db = dir.join("osv/alpine");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("ALPINE-CVE-2023-5678.json"), OPENSSL_RECORD).unwrap();
    std::fs::write(
        db.join("ALPINE-CVE-2023-42366.json"),
        BUSYBOX_UNFIXED_RECORD,
    )
    .unwrap();
    dir.join("osv")
}

/// An image built and pushed to `registry` (`host:port`) as `REPOSITORY:TAG`.
struct Pushed {
    repository: String,
    tag: String,
    digest: String,
}

fn push_image(registry: &str, image: &Image, creds: Option<&str>) -> Pushed {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let built = image.build();
    Layout::new().image(&built, &["v1"]).write_dir(&layout);
    let repository = unique("serve");
    push(
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{registry}/{repository}:v1"),
        false,
        creds,
    );
    Pushed {
        repository,
        tag: "v1".into(),
        digest: built.manifest_digest.clone(),
    }
}

/// `portcullis serve` running, and what it said on stderr so far.
struct Server {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
    http: reqwest::blocking::Client,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_with(dir, args, &[])
    }

    fn start_with(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Server {
        let token = dir.join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut command = portcullis();
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .current_dir(dir)
            .env(portcullis::cli::scan::NOW_ENV, NOW)
            .env("PORTCULLIS_CACHE_DIR", dir.join("cache"))
            .args(["serve", "--listen", "127.0.0.1:0", "--refresh-after", "1"])
            .arg("--auth-token-file")
            .arg(&token)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portcullis serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split("listening on http://")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    let _ = tx.send(addr.to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        // Owned by the Server from here on: a failing test still stops it (Drop).
        let mut server = Server {
            child,
            addr: String::new(),
            stderr,
            http,
        };
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("portcullis serve did not listen:\n{}", server.stderr()));
        server.addr = addr;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str, accept: Option<&str>) -> reqwest::blocking::Response {
        let mut request = self.http.get(self.url(path)).bearer_auth(TOKEN);
        if let Some(a) = accept {
            request = request.header("Accept", a);
        }
        request.send().unwrap()
    }

    fn post_scan(&self, body: &Value) -> reqwest::blocking::Response {
        self.http
            .post(self.url("/api/v1/scan"))
            .bearer_auth(TOKEN)
            .header(
                "Content-Type",
                "application/vnd.scanner.adapter.scan.request+json; version=1.1",
            )
            .body(body.to_string())
            .send()
            .unwrap()
    }

    fn scan(&self, body: &Value) -> String {
        let response = self.post_scan(body);
        assert_eq!(response.status(), 202, "{}", response.text().unwrap());
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.scanner.adapter.scan.response+json; version=1.0"
        );
        serde_json::from_str::<Value>(&response.text().unwrap()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls as Harbor does until the report is no longer 302; returns it and how many
    /// 302s came first.
    fn poll(&self, id: &str, accept: &str, query: &str) -> (reqwest::blocking::Response, usize) {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut redirects = 0;
        loop {
            let response = self.get(&format!("/api/v1/scan/{id}/report{query}"), Some(accept));
            if response.status() != 302 {
                return (response, redirects);
            }
            let refresh: u64 = response.headers()["refresh-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(refresh >= 1);
            redirects += 1;
            assert!(
                Instant::now() < deadline,
                "the scan did not end:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn report(&self, id: &str, accept: &str, query: &str) -> (Value, String) {
        let (response, _) = self.poll(id, accept, query);
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let body = response.text().unwrap();
        assert_eq!(status, 200, "{body}\n{}", self.stderr());
        assert_eq!(content_type, accept);
        (serde_json::from_str(&body).unwrap(), body)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit by itself; its exit code.
    fn wait(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request(registry: &str, pushed: &Pushed, authorization: Option<&str>, by_digest: bool) -> Value {
    let mut body = json!({
        "registry": {"url": format!("http://{registry}")},
        "artifact": {
            "repository": pushed.repository,
            "tag": pushed.tag,
            "mime_type": "application/vnd.oci.image.manifest.v1+json",
        },
    });
    if by_digest {
        body["artifact"]["digest"] = json!(pushed.digest);
    }
    if let Some(a) = authorization {
        body["registry"]["authorization"] = json!(a);
    }
    body
}

fn scan_json(dir: &Path, reference: &str, extra: &[&str]) -> Value {
    let run = run_command(
        portcullis()
            .current_dir(dir)
            .env(portcullis::cli::scan::NOW_ENV, NOW)
            .args(["scan", "--format", "json", "--exit-code", "0", "--no-cache"])
            .args([reference, "--insecure"])
            .args(extra),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

fn vulnerability_keys(findings: &[Value]) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .filter(|f| f["check"] == "vuln-package")
        .map(|f| {
            (
                f["data"]["package"].as_str().unwrap().to_string(),
                f["data"]["vulnerability"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn reports_say_what_scan_and_sbom_say_in_every_format() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = write_db(dir.path());
    let pushed = push_image(&registry, &alpine_app("formats"), None);
    let server = Server::start(dir.path(), &["--osv-db", text(&db)]);
    let id = server.scan(&request(&registry, &pushed, None, true));

    let reference = format!(
        "docker://{registry}/{}@{}",
        pushed.repository, pushed.digest
    );
    let scanned = scan_json(dir.path(), &reference, &["--osv-db", text(&db)]);
    let scanned_findings = scanned["findings"].as_array().unwrap();
    let expected = vulnerability_keys(scanned_findings);
    assert_eq!(expected.len(), 3, "{expected:?}");

    // Harbor's report, both versions.
    for accept in [HARBOR_V1_0, VULN_V1_1] {
        let (report, body) = server.report(&id, accept, "");
        assert!(!body.contains(LEAKED), "{body}");
        assert_eq!(report["artifact"]["repository"], pushed.repository);
        assert_eq!(report["artifact"]["digest"], pushed.digest);
        assert_eq!(report["scanner"]["name"], "portcullis");
        assert!(report["generated_at"].as_str().unwrap().ends_with('Z'));
        let vulns = report["vulnerabilities"].as_array().unwrap();
        let listed: BTreeSet<(String, String)> = vulns
            .iter()
            .map(|v| {
                (
                    v["package"].as_str().unwrap().to_string(),
                    v["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(listed, expected);
        let libssl = vulns
            .iter()
            .find(|v| v["package"] == "libssl3")
            .expect("libssl3");
        assert_eq!(libssl["version"], "3.1.4-r2");
        assert_eq!(libssl["fix_version"], "3.1.4-r3");
        assert_eq!(libssl["severity"], "Medium");
        assert_eq!(libssl["preferred_cvss"]["score_v3"], 5.3);
        assert!(
            libssl["links"]
                .as_array()
                .unwrap()
                .contains(&json!("https://nvd.nist.gov/vuln/detail/CVE-2023-5678")),
            "{libssl}"
        );
        assert_eq!(libssl["vendor_attributes"]["ecosystem"], "Alpine");
        assert!(libssl["vendor_attributes"]["location"]["layer_digest"].is_string());
        let busybox = vulns.iter().find(|v| v["package"] == "busybox").unwrap();
        assert_eq!(busybox["severity"], "Unknown");
        assert!(busybox.get("fix_version").is_none());
        assert_eq!(report["severity"], "Medium");
        // The other findings travel as vendor attributes, the secret redacted.
        let others = report["vendor_attributes"]["findings"].as_array().unwrap();
        let checks: BTreeSet<&str> = others
            .iter()
            .map(|f| f["check"].as_str().unwrap())
            .collect();
        let scanned_checks: BTreeSet<&str> = scanned_findings
            .iter()
            .map(|f| f["check"].as_str().unwrap())
            .filter(|c| *c != "vuln-package")
            .collect();
        assert_eq!(checks, scanned_checks);
        assert!(checks.iter().any(|c| c.starts_with("secret")), "{checks:?}");
        assert!(
            checks.contains("mode-setuid") || checks.iter().any(|c| c.contains("setuid")),
            "{checks:?}"
        );
        assert_eq!(report["vendor_attributes"]["gate"], scanned["gate"]);
    }

    // The raw report is `portcullis scan --format json`'s.
    let (raw, body) = server.report(&id, RAW, "");
    assert!(!body.contains(LEAKED));
    assert_eq!(raw["findings"], scanned["findings"]);
    assert_eq!(raw["gate"], scanned["gate"]);
    let secret = raw["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"].as_str().unwrap().starts_with("secret"))
        .unwrap();
    assert!(
        secret["evidence"].as_str().unwrap().contains("****"),
        "{secret}"
    );

    // SBOMs: the documents `portcullis sbom` writes.
    for (media_type, format) in [
        ("application/vnd.cyclonedx+json", "cyclonedx"),
        ("application/spdx+json", "spdx"),
    ] {
        let query = format!("?sbom_media_type={}", media_type.replace('+', "%2B"));
        let (report, body) = server.report(&id, SBOM, &query);
        assert!(!body.contains(LEAKED));
        assert_eq!(report["media_type"], media_type);
        let sbom_run = run_command(portcullis().current_dir(dir.path()).args([
            "sbom",
            "--format",
            format,
            &reference,
            "--insecure",
        ]));
        assert_eq!(sbom_run.code, 0, "{}", sbom_run.stderr);
        let expected = sbom_run.json();
        let document = &report["sbom"];
        match format {
            "cyclonedx" => {
                assert_eq!(document["bomFormat"], "CycloneDX");
                assert_eq!(document["components"], expected["components"]);
            }
            _ => {
                assert_eq!(document["spdxVersion"], "SPDX-2.3");
                let names = |d: &Value| -> BTreeSet<String> {
                    d["packages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| format!("{} {}", p["name"], p["versionInfo"]))
                        .collect()
                };
                assert_eq!(names(document), names(&expected));
            }
        }
    }
    let bad = server.get(&format!("/api/v1/scan/{id}/report"), Some(SBOM));
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], ERROR);
    assert!(bad.text().unwrap().contains("sbom_media_type"));
    let unsupported = server.get(&format!("/api/v1/scan/{id}/report"), Some("text/html"));
    assert_eq!(unsupported.status(), 501);
    assert!(!server.stderr().contains(LEAKED));
}

#[test]
fn the_api_refuses_what_it_cannot_use() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let anonymous = server
        .http
        .get(server.url("/api/v1/metadata"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], ERROR);
    let wrong = server
        .http
        .get(server.url("/api/v1/metadata"))
        .bearer_auth("not-the-token")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Probes answer anyone (Kubernetes sends no token).
    let healthy = server
        .http
        .get(server.url("/probe/healthy"))
        .send()
        .unwrap();
    assert_eq!(healthy.status(), 200);
    let ready = server.http.get(server.url("/probe/ready")).send().unwrap();
    assert_eq!(ready.status(), 200);

    let metadata = server.get("/api/v1/metadata", None);
    assert_eq!(
        metadata.headers()["content-type"],
        "application/vnd.scanner.adapter.metadata+json; version=1.1"
    );
    let metadata: Value = serde_json::from_str(&metadata.text().unwrap()).unwrap();
    assert_eq!(metadata["scanner"]["name"], "portcullis");
    let produced: Vec<&Value> = metadata["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["produces_mime_types"].as_array().unwrap())
        .collect();
    for mime in [HARBOR_V1_0, VULN_V1_1, RAW, SBOM] {
        assert!(produced.contains(&&json!(mime)), "{mime}");
    }
    let properties = metadata["properties"].as_object().unwrap();
    assert_eq!(
        properties["harbor.scanner-adapter/scanner-type"],
        "os-package-vulnerability"
    );
    assert!(
        properties["org.portcullis/checks"]
            .as_str()
            .unwrap()
            .contains("vuln-package")
    );
    assert!(properties.contains_key("org.portcullis/check.user-root"));

    let unknown = server.get("/api/v1/scan/no-such-id/report", None);
    assert_eq!(unknown.status(), 404);

    let not_json = server
        .http
        .post(server.url("/api/v1/scan"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(not_json.headers()["content-type"], ERROR);
    let message: Value = serde_json::from_str(&not_json.text().unwrap()).unwrap();
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ScanRequest")
    );

    let secret_auth = "Basic not*base64*s3cr3t";
    let bad = server.post_scan(&json!({
        "registry": {"url": format!("http://{registry}"), "authorization": secret_auth},
        "artifact": {"repository": "app", "tag": "1"},
    }));
    assert_eq!(bad.status(), 422);
    let text = bad.text().unwrap();
    assert!(text.contains("registry.authorization"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    let bad = server.post_scan(&json!({
        "registry": {"url": format!("http://{registry}")},
        "artifact": {"repository": "app", "digest": "sha256:short"},
    }));
    assert_eq!(bad.status(), 422);
    assert!(bad.text().unwrap().contains("artifact.digest"));
    let helm = server.post_scan(&json!({
        "registry": {"url": format!("http://{registry}")},
        "artifact": {"repository": "app", "tag": "1", "mime_type": "application/vnd.cncf.helm.config.v1+json"},
    }));
    assert_eq!(helm.status(), 501);
    let huge = server
        .http
        .post(server.url("/api/v1/scan"))
        .bearer_auth(TOKEN)
        .body(vec![b' '; 1 << 20])
        .send()
        .unwrap();
    assert_eq!(huge.status(), 413);
}

#[test]
fn registry_credentials_come_from_the_scan_request() {
    let Some((registry, user, password)) = auth_registry() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pushed = push_image(
        &registry,
        &alpine_app("credentials"),
        Some(&format!("{user}:{password}")),
    );
    // The server's own Docker config could open the registry; a request without an
    // Authorization must not borrow it.
    let basic_pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        json!({"auths": {registry.clone(): {"auth": basic_pair}}}).to_string(),
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &[], &[("DOCKER_CONFIG", &config)]);
    let basic = format!("Basic {basic_pair}");
    let id = server.scan(&request(&registry, &pushed, Some(&basic), false));
    let (report, _) = server.report(&id, VULN_V1_1, "");
    assert_eq!(report["artifact"]["tag"], "v1");

    let id = server.scan(&request(&registry, &pushed, None, false));
    let (response, _) = server.poll(&id, VULN_V1_1, "");
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], ERROR);
    let error: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("401") || message.contains("denied"),
        "{message}"
    );
    assert!(!server.stderr().contains(&password));
}

/// Harbor's other form of credential: a registry token it obtained itself, sent as
/// `Bearer` from the first request and never exchanged.
#[test]
fn a_bearer_token_in_the_request_pulls_from_a_token_registry() {
    let Some(registry) = token_registry() else {
        return;
    };
    let issuer = TokenIssuer::shared(&registry);
    let dir = tempfile::tempdir().unwrap();
    let pushed = push_image(&registry.addr, &alpine_app("bearer"), Some(&issuer.creds()));
    let (user, password) = issuer
        .creds()
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token: Value = serde_json::from_str(
        &reqwest::blocking::Client::new()
            .get(format!(
                "{}?service={}&scope=repository:{}:pull",
                registry.realm, registry.service, pushed.repository
            ))
            .basic_auth(&user, Some(&password))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let empty_config = dir.path().join("docker");
    std::fs::create_dir_all(&empty_config).unwrap();
    let server = Server::start_with(dir.path(), &[], &[("DOCKER_CONFIG", &empty_config)]);
    let id = server.scan(&request(
        &registry.addr,
        &pushed,
        Some(&format!("Bearer {token}")),
        true,
    ));
    let (report, _) = server.report(&id, VULN_V1_1, "");
    assert_eq!(report["artifact"]["digest"], pushed.digest);

    // A token the registry does not accept ends the scan with the registry's refusal.
    let id = server.scan(&request(
        &registry.addr,
        &pushed,
        Some("Bearer not-a-token"),
        true,
    ));
    let (response, _) = server.poll(&id, VULN_V1_1, "");
    assert_eq!(response.status(), 500);
    let message = response.text().unwrap();
    assert!(
        message.contains("401") || message.contains("denied"),
        "{message}"
    );
    let said = server.stderr();
    assert!(
        !said.contains(&token) && !said.contains(&password),
        "{said}"
    );
}

#[test]
fn a_full_queue_is_503_and_shutdown_finishes_the_running_scan() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let queued = push_image(&registry, &alpine_app("queued"), None);
    let mut server = Server::start(dir.path(), &["--workers", "1", "--queue", "1"]);
    // The running scan goes through a proxy that holds its manifest back until the test
    // lets it through: the only request for a `v1` manifest the proxy sees.
    let (held, proxy, first) = held_scan(&registry, &server, "held");
    let second = server.scan(&request(&registry, &queued, None, false));
    let refused = server.post_scan(&request(&registry, &queued, None, false));
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["content-type"], ERROR);
    assert!(refused.text().unwrap().contains("queue is full"));
    let still = server.get(&format!("/api/v1/scan/{first}/report"), Some(VULN_V1_1));
    assert_eq!(still.status(), 302);
    assert_eq!(still.headers()["refresh-after"], "1");

    server.terminate();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server
        .http
        .get(server.url("/probe/ready"))
        .send()
        .unwrap()
        .status()
        != 503
    {
        assert!(Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let late = server.post_scan(&request(&registry, &queued, None, false));
    assert_eq!(late.status(), 503);
    assert!(late.text().unwrap().contains("shutting down"));
    // The queued scan is handed back; the running one finishes and its report is served.
    let (handed_back, _) = server.poll(&second, VULN_V1_1, "");
    assert_eq!(handed_back.status(), 500);
    assert!(handed_back.text().unwrap().contains("submit it again"));
    proxy.release(&held.tag);
    let (report, _) = server.report(&first, VULN_V1_1, "");
    assert_eq!(report["artifact"]["repository"], held.repository);
    assert_eq!(report["vulnerabilities"], json!([]));
    assert_eq!(
        server.wait(Duration::from_secs(30)),
        0,
        "{}",
        server.stderr()
    );
    assert!(server.stderr().contains("stopped"), "{}", server.stderr());
}

/// Schemathesis (PyPI `schemathesis`, installed by scripts/test.sh) against the live server:
/// every operation with the spec's examples, its coverage cases and fuzzed data, the report
/// operation with the id of a finished scan so that its 200 answers are checked against the
/// schema. Two expectations are the spec's own words rather than Schemathesis's defaults:
/// 501 is how the spec says "no capability" (an artifact or report type this scanner does
/// not produce), and 422 how it says "invalid field" (a repository, digest or Authorization
/// the schema types only as strings).
#[test]
fn schemathesis_finds_no_failure_against_the_spec() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    if !have_tool("st") {
        return;
    }
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pushed = push_image(&registry, &alpine_app("schemathesis"), None);
    let server = Server::start(dir.path(), &["--queue", "10000"]);
    let id = server.scan(&request(&registry, &pushed, None, true));
    server.report(&id, HARBOR_V1_0, "");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"[parameters]
"path.scan_request_id" = "{id}"

[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "501"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "501"]
"#
        ),
    )
    .unwrap();
    let run = run_command(
        std::process::Command::new("st")
            .current_dir(dir.path())
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(corpus.join(SPEC))
            .args(["--url", &server.url("/api/v1")])
            .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--checks", "all", "--max-examples", "100", "--seed", "1"]),
    );
    assert_eq!(
        run.code,
        0,
        "schemathesis failed:\n{}\n{}\nserver:\n{}",
        run.stdout,
        run.stderr,
        server.stderr()
    );
    assert!(run.stdout.contains("passed"), "{}", run.stdout);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// Command-line misuse is exit 2 with one line naming the flag or file and the reason; the
/// secret in a token file is never quoted.
#[test]
fn bad_flags_and_secret_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    std::fs::write(dir.path().join("two-lines"), "s3cr3t-one\ns3cr3t-two\n").unwrap();
    std::fs::write(dir.path().join("no-colon"), "s3cr3t\n").unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 9] = [
        (&["--listen", "nowhere"], "--listen"),
        (&["--listen", "127.0.0.1:0", "--workers", "0"], "--workers"),
        (
            &["--listen", "127.0.0.1:0", "--auth-token-file", "missing"],
            "--auth-token-file missing",
        ),
        (
            &["--listen", "127.0.0.1:0", "--auth-token-file", "empty"],
            "the file is empty",
        ),
        (
            &["--listen", "127.0.0.1:0", "--auth-token-file", "two-lines"],
            "one line",
        ),
        (
            &["--listen", "127.0.0.1:0", "--auth-basic-file", "no-colon"],
            "USER:PASSWORD",
        ),
        (&["--listen", &busy_addr, "--grace", "1s"], "--listen"),
        (
            &["--listen", "127.0.0.1:0", "--job-lease", "2s"],
            "--job-lease 2s: at least 3s",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--cache",
                "redis://u:s3cr3t@h:x/0",
            ],
            "--cache",
        ),
    ];
    for (args, expected) in cases {
        let run = run_command(portcullis().current_dir(dir.path()).arg("serve").args(args));
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
    }
    drop(busy);
}

/// A scan that outlasts `--grace` is abandoned: the server exits 2 and says so.
#[test]
fn a_scan_past_the_grace_period_is_abandoned_with_exit_2() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--workers", "1", "--grace", "2s"]);
    let (held, proxy, _) = held_scan(&registry, &server, "abandoned");
    server.terminate();
    assert_eq!(
        server.wait(Duration::from_secs(30)),
        2,
        "{}",
        server.stderr()
    );
    assert!(
        server
            .stderr()
            .contains("1 scan still running after --grace (2s): abandoned"),
        "{}",
        server.stderr()
    );
    proxy.release(&held.tag);
}

/// The message of an error answer (500 with the spec's error body).
fn error_message(response: reqwest::blocking::Response) -> String {
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], ERROR);
    let body: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
    body["error"]["message"].as_str().unwrap().to_string()
}

/// A scan submitted to `server` that stays running until the test releases the image's
/// tag on the proxy: the image, the proxy holding its manifest, the scan's id.
fn held_scan(registry: &str, server: &Server, marker: &str) -> (Pushed, FaultProxy, String) {
    let held = push_image(registry, &alpine_app(marker), None);
    let proxy = FaultProxy::start(
        registry,
        Faults {
            held: [held.tag.clone()].into(),
            ..Faults::default()
        },
    );
    let id = server.scan(&request(&proxy.addr, &held, None, false));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.is_waiting(&held.tag) {
        assert!(Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    (held, proxy, id)
}

/// Two replicas behind one Redis, as the README's Kubernetes example runs them: a scan
/// submitted to one is answered by the other, the same report; a replica killed mid-scan
/// has its scan end, once, with an error that says so (not a 404, not a report later), and
/// a replica started afterwards answers the same.
#[test]
fn replicas_share_jobs_and_a_killed_replicas_scan_fails_once() {
    let Some(registry) = registry() else { return };
    let Some(redis) = common::redis::test_redis() else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let args = ["--cache", &redis, "--job-lease", "3s"];
    let mut a = Server::start(dirs[0].path(), &args);
    let b = Server::start(dirs[1].path(), &args);

    let image = push_image(&registry, &alpine_app("shared-jobs"), None);
    let id = a.scan(&request(&registry, &image, None, false));
    let (from_b, _) = b.report(&id, RAW, "");
    let (from_a, _) = a.report(&id, RAW, "");
    assert_eq!(from_a, from_b);
    assert_eq!(from_b["image"]["manifest_digest"], image.digest);
    let (harbor_b, _) = b.report(&id, VULN_V1_1, "");
    let (harbor_a, _) = a.report(&id, VULN_V1_1, "");
    assert_eq!(harbor_a, harbor_b);
    let (sbom_b, _) = b.report(
        &id,
        SBOM,
        "?sbom_media_type=application%2Fvnd.cyclonedx%2Bjson",
    );
    assert!(!sbom_b["sbom"]["components"].as_array().unwrap().is_empty());

    let (held, proxy, id) = held_scan(&registry, &a, "killed");
    let running = b.get(&format!("/api/v1/scan/{id}/report"), Some(VULN_V1_1));
    assert_eq!(running.status(), 302, "{}", b.stderr());
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed_at = Instant::now();
    let (ended, redirects) = b.poll(&id, VULN_V1_1, "");
    let message = error_message(ended);
    assert!(redirects > 0, "the lease is waited out");
    assert!(
        killed_at.elapsed() < Duration::from_secs(15),
        "ended {:?} after the kill",
        killed_at.elapsed()
    );
    assert!(
        message.contains("stopped answering") && message.contains("submit the scan again"),
        "{message}"
    );
    // The same outcome, from every replica, ever after; ended by one of them once.
    let c = Server::start(dirs[2].path(), &args);
    for server in [&b, &c] {
        let again = server.get(&format!("/api/v1/scan/{id}/report"), Some(VULN_V1_1));
        assert_eq!(error_message(again), message);
    }
    let said = |s: &Server| s.stderr().matches(&format!("scan {id}: replica")).count();
    assert_eq!(said(&b) + said(&c), 1, "{}\n{}", b.stderr(), c.stderr());
    proxy.release(&held.tag);
    // Unknown ids stay unknown on every replica (more than a lease after the first job).
    let unknown = b.get(
        "/api/v1/scan/00000000-0000-4000-8000-000000000000/report",
        Some(RAW),
    );
    assert_eq!(unknown.status(), 404);
}

/// Redis restarting empty (no persistence) under two replicas while a scan runs: the other
/// replica keeps answering "not yet" (never 404, never an error), the owner writes its job
/// back, and the report reaches both replicas once the scan ends; a scan that ends while
/// Redis is down reaches the other replica once Redis is back.
#[test]
fn a_redis_restart_under_serve_loses_no_job() {
    let Some(registry) = registry() else { return };
    if common::redis::test_redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut redis = common::redis::OwnRedis::start(dir.path());
    let url = redis.url();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let args = ["--cache", &url, "--job-lease", "3s"];
    let a = Server::start(dirs[0].path(), &args);
    let b = Server::start(dirs[1].path(), &args);
    let (held, proxy, id) = held_scan(&registry, &a, "redis-restart");
    let path = format!("/api/v1/scan/{id}/report");
    let not_yet = |server: &Server, for_: Duration| {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            let response = server.get(&path, Some(RAW));
            assert_eq!(response.status(), 302, "{}", server.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    not_yet(&b, Duration::from_millis(500));
    redis.kill();
    not_yet(&b, Duration::from_secs(2));
    redis.up();
    // Longer than a lease: the owner wrote the job back meanwhile.
    not_yet(&b, Duration::from_secs(4));
    proxy.release(&held.tag);
    let (from_b, _) = b.report(&id, RAW, "");
    let (from_a, _) = a.report(&id, RAW, "");
    assert_eq!(from_a, from_b);
    assert!(
        a.stderr().contains("warning: shared jobs"),
        "the outage is said: {}",
        a.stderr()
    );
    assert!(a.stderr().contains("reachable again"), "{}", a.stderr());

    // A scan that ends while Redis is down: its owner answers at once, and writes the
    // outcome once Redis is back, longer than a lease later; the other replica then serves
    // the same report, not a "stopped answering" error.
    let (held, proxy, id) = held_scan(&registry, &a, "redis-down-at-the-end");
    redis.kill();
    proxy.release(&held.tag);
    let (from_a, _) = a.report(&id, RAW, "");
    std::thread::sleep(Duration::from_secs(4));
    redis.up();
    let (from_b, _) = b.report(&id, RAW, "");
    assert_eq!(from_a, from_b);
}

/// The registry failing for good under a scan (every answer for a layer a 503, or every
/// body of it cut short): the job ends with an error naming what failed, after the client's
/// bounded retries; nothing of the layer is cached, so the next scan of the image (the
/// registry well again) reports what a scan without any cache reports.
#[test]
fn registry_faults_end_the_job_with_an_error_and_cache_nothing() {
    let Some(registry) = registry() else { return };
    let Some(redis) = common::redis::test_redis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let built = alpine_app("registry-faults").build();
    let image = push_image(&registry, &alpine_app("registry-faults"), None);
    let layer = built.layers[1].digest.clone();
    let server = Server::start(
        dir.path(),
        &["--cache", &redis, "--job-lease", "3s", "--workers", "1"],
    );
    for (fault, faults) in [
        (
            "503",
            Faults {
                unavailable: [layer.clone()].into(),
                ..Faults::default()
            },
        ),
        (
            "cut",
            Faults {
                cut: [layer.clone()].into(),
                ..Faults::default()
            },
        ),
    ] {
        let proxy = FaultProxy::start(&registry, faults);
        let id = server.scan(&request(&proxy.addr, &image, None, false));
        let (response, _) = server.poll(&id, RAW, "");
        let message = error_message(response);
        assert!(!message.contains(LEAKED), "{message}");
        let short = layer.trim_start_matches("sha256:");
        assert!(message.contains(short), "{fault}: {message}");
        let why = if fault == "503" {
            "answered 503"
        } else {
            "end of file"
        };
        assert!(message.contains(why), "{fault}: {message}");
        let asked = proxy.log().iter().filter(|e| e.is_for(&layer)).count();
        assert!(
            (2..=10).contains(&asked),
            "{fault}: retried, boundedly: {asked}"
        );
        eprintln!("{fault}: {message}");
    }
    let id = server.scan(&request(&registry, &image, None, false));
    let (report, _) = server.report(&id, RAW, "");
    let plain = scan_json(
        dir.path(),
        &format!("docker://{registry}/{}:v1", image.repository),
        &[],
    );
    let checks = |r: &Value| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["check"].to_string(), f["title"].to_string()))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(checks(&report), checks(&plain));
    assert!(
        checks(&report).iter().any(|(c, _)| c.contains("secret")),
        "the layer's secret is found: {report}"
    );
}

/// `serve --attach-facts` stores what it found next to the image, with the request's
/// credentials, and `portcullis recheck` judges the image from it without reading a layer.
#[test]
fn serve_attaches_facts_that_recheck_judges_from() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = write_db(dir.path());
    let pushed = push_image(&registry, &alpine_app("attach"), None);
    let server = Server::start(dir.path(), &["--attach-facts", "--osv-db", text(&db)]);
    let id = server.scan(&request(&registry, &pushed, None, false));
    let (report, _) = server.report(&id, RAW, "");
    let scanned = vulnerability_keys(report["findings"].as_array().unwrap());
    assert_eq!(scanned.len(), 3, "{report}");
    assert!(
        server.stderr().contains("stored the facts of"),
        "{}",
        server.stderr()
    );
    let recheck = run_command(
        portcullis()
            .current_dir(dir.path())
            .env(portcullis::cli::scan::NOW_ENV, NOW)
            .args(["recheck", "--insecure", "--no-cache", "--json"])
            .args(["--exit-code", "0", "--osv-db", text(&db)])
            .arg(format!("docker://{registry}/{}:v1", pushed.repository)),
    );
    assert_eq!(recheck.code, 0, "{}", recheck.stderr);
    let line: Value = serde_json::from_str(recheck.stdout.trim()).unwrap();
    assert_eq!(line["judged"], "from stored facts");
    assert_eq!(line["digest"], pushed.digest);
    let rechecked = vulnerability_keys(line["report"]["findings"].as_array().unwrap());
    assert_eq!(rechecked, scanned);
}
