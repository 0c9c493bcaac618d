//! Documentation that runs: every `portcullis` command in a code block of README.md and
//! docs/*.md is executed here, in document order, in a directory holding the files the
//! documents name (`app.tar`, `layout/`, `app.oci.tar`, `osv/*.zip`, `Packages.xz`); every
//! TOML block is loaded as what it is (a policy, a waiver file, secret rules), and a block
//! whose first line is `# PATH` is written to PATH first, so the commands that name it use it.
//!
//! A command passes when it ends with a verdict (exit 0 or 1); `portcullis serve` when it
//! listens, answers, and exits 0 on SIGTERM. Commands that need a service the test cannot
//! provide (a public registry, Docker Hub, a daemon) pass when they end with exit 2 and one
//! error line naming what they could not reach; with the service there they must give a
//! verdict.

mod common;

use common::builder::{Image, Layer, Layout};
use common::{Run, portcullis, run_command, text};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const PASSPHRASE: &str = "documentation-passphrase";

/// One fenced code block: the document, its 1-based first line, its info string and text.
struct Block {
    doc: String,
    line: usize,
    info: String,
    text: String,
}

fn blocks(doc: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(doc)
        .display()
        .to_string();
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => open = Some((i + 1, info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => {
                let (line, info, text) = open.take().unwrap();
                out.push(Block {
                    doc: name.clone(),
                    line,
                    info,
                    text,
                });
            }
            (Some((_, _, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// The `portcullis` commands of a block: `$ ` prompts, YAML list dashes and trailing
/// `# comments` removed, `\` continuations joined. Output lines (`portcullis: ...`) are not
/// commands.
fn commands(block: &Block) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for raw in block.text.lines() {
        let line = raw.trim();
        if let Some(mut command) = pending.take() {
            let (part, more) = match line.strip_suffix('\\') {
                Some(p) => (p.trim(), true),
                None => (line, false),
            };
            command.push(' ');
            command.push_str(strip_comment(part));
            if more {
                pending = Some(command);
            } else {
                out.push(command);
            }
            continue;
        }
        let line = line
            .strip_prefix("$ ")
            .or_else(|| line.strip_prefix("- "))
            .unwrap_or(line);
        // `portcullis SUBCOMMAND ...`, not a diagram line (`portcullis  → all of the above`).
        let is_command = line.strip_prefix("portcullis ").is_some_and(|rest| {
            rest.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '-')
        });
        if !is_command {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => pending = Some(strip_comment(part.trim()).to_string()),
            None => out.push(strip_comment(line).to_string()),
        }
    }
    out
}

fn strip_comment(line: &str) -> &str {
    match line.find("  #") {
        Some(at) => line[..at].trim_end(),
        None => line.trim_end(),
    }
}

/// Splits a command line into words (no quoting is used in the documents' commands).
fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

/// The files the documents name, in `dir`.
fn fixtures(dir: &Path) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo.tar");
    std::fs::create_dir_all(dir.join("testdata")).unwrap();
    std::fs::copy(&demo, dir.join("testdata/demo.tar")).unwrap();
    std::fs::copy(&demo, dir.join("app.tar")).unwrap();
    // The previous release `--baseline` compares with.
    std::fs::copy(&demo, dir.join("app-1.0.tar")).unwrap();
    let image = |platform: &str| {
        Image::new()
            .platform(platform)
            .user("app")
            .layer(Layer::new().dir("etc").file(
                "etc/passwd",
                "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
            ))
            .build()
    };
    let (amd, arm) = (image("linux/amd64"), image("linux/arm64"));
    Layout::new()
        .index(&[&amd, &arm], &["1.2"])
        .write_dir(&dir.join("layout"));
    Layout::new()
        .image(&amd, &["1.0"])
        .write_archive(&dir.join("app.oci.tar"));
    std::fs::create_dir_all(dir.join("osv")).unwrap();
    for (file, ecosystem) in [("osv/Debian.zip", "Debian:12"), ("osv/PyPI.zip", "PyPI")] {
        let record = serde_json::json!({
            "id": format!("DOC-{}", ecosystem.replace(':', "-")),
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": ecosystem, "name": "documentation-example"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]
            }]
        });
        let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.join(file)).unwrap());
        zip.start_file("DOC.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(record.to_string().as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    // A mirror in osv.dev's layout for `portcullis db update`: every export the documents
    // name, each holding one record.
    let mut exports: Vec<&str> = portcullis_advisories::osv::update::ECOSYSTEMS.to_vec();
    exports.push("Alpine:v3.20");
    for ecosystem in exports {
        let record = serde_json::json!({
            "id": format!("DOC-{}", ecosystem.replace([':', ' '], "-")),
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": ecosystem, "name": "documentation-example"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]
            }]
        });
        let export = dir.join("osv-mirror").join(ecosystem);
        std::fs::create_dir_all(&export).unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(export.join("all.zip")).unwrap());
        zip.start_file("DOC.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(record.to_string().as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    // The secret rule file docs/policies.md's example policy names beside it.
    std::fs::create_dir_all(dir.join("ci")).unwrap();
    std::fs::write(dir.join("ci/secret-rules.toml"), "disable = []\n").unwrap();
    let packages = "Package: busybox\nVersion: 99:1.0\nArchitecture: amd64\n\n";
    let mut xz =
        liblzma::write::XzEncoder::new(std::fs::File::create(dir.join("Packages.xz")).unwrap(), 6);
    xz.write_all(packages.as_bytes()).unwrap();
    xz.finish().unwrap();
}

/// Hosts the test cannot reach or does not run: a command naming one may end in exit 2,
/// with an error that names it.
const UNREACHABLE: &[&str] = &[
    "ghcr.io",
    "registry.example.com",
    "alpine:3.20",
    "docker-daemon:",
    "deb.debian.org",
    "/opt/trivy/trivy",
];

fn run_doc_command(dir: &Path, command: &str) -> Run {
    let args = words(command);
    assert_eq!(args[0], "portcullis");
    if args.get(1).map(String::as_str) == Some("serve") {
        return run_server(dir, args);
    }
    let mut cmd = doc_command(dir, &args);
    run_command(&mut cmd)
}

/// The command for `args`, in `dir`, with the documents' environment.
fn doc_command(dir: &Path, args: &[String]) -> std::process::Command {
    let mut cmd = portcullis();
    cmd.current_dir(dir)
        .env("PORTCULLIS_PASSWORD", PASSPHRASE)
        .env("PORTCULLIS_CACHE_DIR", dir.join(".cache"))
        .env(portcullis::cli::scan::NOW_ENV, "2026-01-15")
        .env("PORTCULLIS_DB_DIR", dir.join(".db"))
        .args(&args[1..]);
    // `db update` downloads: from the fixtures' mirror, which stands in for osv.dev.
    if args.get(1).map(String::as_str) == Some("db") {
        cmd.env_remove("PORTCULLIS_OFFLINE")
            .env("PORTCULLIS_DB_MIRROR", dir.join("osv-mirror"));
    }
    cmd
}

/// `portcullis serve ...` as documented, on a free loopback port instead of the documented
/// address, with the token and password files it names written when they are not there:
/// it must listen, answer its probes and its metadata with the documented credentials,
/// and exit 0 on SIGTERM.
fn run_server(dir: &Path, mut args: Vec<String>) -> Run {
    use std::io::BufRead as _;
    const TOKEN: &str = "documentation-token";
    let mut i = 0;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--listen" => args[i + 1] = "127.0.0.1:0".to_string(),
            "--auth-token-file" if !dir.join(&args[i + 1]).exists() => {
                std::fs::write(dir.join(&args[i + 1]), TOKEN).unwrap();
            }
            "--auth-basic-file" if !dir.join(&args[i + 1]).exists() => {
                std::fs::write(dir.join(&args[i + 1]), "harbor:documentation").unwrap();
            }
            _ => {}
        }
        i += 1;
    }
    let token = args
        .iter()
        .position(|a| a == "--auth-token-file")
        .map(|i| std::fs::read_to_string(dir.join(&args[i + 1])).unwrap());
    let mut child = doc_command(dir, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            return Run {
                code: status.code().unwrap_or(-1),
                stdout: String::new(),
                stderr: said,
            };
        }
        said.push_str(&line);
        if let Some(addr) = line.split("listening on http://").nth(1) {
            break addr.split_whitespace().next().unwrap().to_string();
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    // Asked before anything is asserted, so that the server is stopped whatever they say.
    let ready = http
        .get(format!("http://{addr}/probe/ready"))
        .send()
        .map(|r| r.status().as_u16());
    let mut metadata = http.get(format!("http://{addr}/api/v1/metadata"));
    if let Some(token) = &token {
        metadata = metadata.bearer_auth(token.trim());
    }
    let metadata = metadata.send().map(|r| r.status().as_u16());
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if !killed.is_ok_and(|k| k.success()) {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert_eq!(ready.ok(), Some(200), "{said}");
    assert_eq!(metadata.ok(), Some(200), "{said}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    said.push_str(&rest);
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: said,
    }
}

fn check_outcome(block: &Block, command: &str, run: &Run) {
    common::assert_no_panic(run);
    let at = format!("{}:{}: {command}", block.doc, block.line);
    if run.code == 0 || run.code == 1 {
        return;
    }
    let unreachable = UNREACHABLE.iter().find(|h| command.contains(*h));
    match unreachable {
        Some(host) if run.code == 2 => {
            let named = host.trim_end_matches(':').trim_start_matches("docker-");
            assert!(
                run.stderr.contains(named) || run.stderr.contains("daemon"),
                "{at}: exit 2 without naming {host}:\n{}",
                run.stderr
            );
        }
        _ => panic!(
            "{at}: exit {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        ),
    }
}

/// A TOML block: written to its `# PATH` when it names one, then loaded as what it is.
fn check_toml(dir: &Path, block: &Block) {
    let at = format!("{}:{}", block.doc, block.line);
    let first = block.text.lines().next().unwrap_or("");
    let file: PathBuf = match first.strip_prefix("# ").map(str::trim) {
        Some(path) if path.ends_with(".toml") => dir.join(path),
        _ => dir.join(format!("snippet-{}.toml", block.line)),
    };
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &block.text).unwrap();
    let value: toml::Table = toml::from_str(&block.text).unwrap_or_else(|e| panic!("{at}: {e}"));
    let file_arg = text(&file).to_string();
    let run = if value.contains_key("waiver") {
        // Every check a waiver names exists.
        for waiver in value["waiver"].as_array().unwrap() {
            let check = waiver["check"].as_str().unwrap();
            let explain = run_command(portcullis().args(["explain", check]));
            assert_eq!(explain.code, 0, "{at}: waiver for unknown check {check:?}");
        }
        run_doc_command(
            dir,
            &format!("portcullis scan app.tar --ignore-file {file_arg}"),
        )
    } else if value.contains_key("rule") || value.contains_key("disable") {
        run_doc_command(
            dir,
            &format!("portcullis scan app.tar --secret-rules {file_arg}"),
        )
    } else {
        run_doc_command(dir, &format!("portcullis scan app.tar --policy {file_arg}"))
    };
    assert!(
        run.code == 0 || run.code == 1,
        "{at}: the snippet does not load:\n{}",
        run.stderr
    );
}

#[test]
fn every_documented_command_and_snippet_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    let mut others: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    others.sort();
    docs.extend(others);

    let mut ran = BTreeSet::new();
    let mut snippets = 0;
    for doc in &docs {
        // One directory per document: its commands build on each other (keygen, attest,
        // verify), and its `# PATH` snippets are there before its commands run.
        let dir = tempfile::tempdir().unwrap();
        fixtures(dir.path());
        let blocks = blocks(doc);
        for block in blocks.iter().filter(|b| b.info == "toml") {
            check_toml(dir.path(), block);
            snippets += 1;
        }
        for block in blocks.iter().filter(|b| b.info != "toml") {
            for command in commands(block) {
                let run = run_doc_command(dir.path(), &command);
                check_outcome(block, &command, &run);
                ran.insert(command);
            }
        }
    }
    // The documents show these; a parser that found none would prove nothing.
    for expected in [
        "portcullis scan testdata/demo.tar",
        "portcullis keygen --out release",
        "portcullis scan app.tar --policy ci/gate.toml",
    ] {
        assert!(ran.contains(expected), "{expected:?} was not run: {ran:#?}");
    }
    assert!(
        ran.iter().any(|c| c.starts_with("portcullis serve ")),
        "no `portcullis serve` was run"
    );
    assert!(ran.len() >= 30, "only {} commands found", ran.len());
    assert!(snippets >= 5, "only {snippets} TOML snippets found");
}
