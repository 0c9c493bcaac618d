//! `scan --attach-facts` and `recheck` against a real docker-registry the test starts itself,
//! with its access log on: a recheck after a data update judges the image from the facts
//! stored next to it — the new vulnerability found, the same findings a fresh scan gives —
//! and the registry's log shows that no layer blob was pulled. Images without stored facts
//! are scanned (and, asked, get facts for the next time).

mod common;

use common::alpine::{ZLIB_RECORD, alpine_layer};
use common::builder::*;
use common::services::*;
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
                 storage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
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

fn portcullis_run(args: &[&str]) -> common::Run {
    let mut cmd = portcullis();
    cmd.args(args);
    run_command(&mut cmd)
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
    if registry().is_none() {
        return; // the shared services are expected; skip() has said so
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(registry) = Registry::start(dir.path()) else {
        common::skip("docker-registry is not installed");
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
