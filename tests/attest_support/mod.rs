//! Shared by the attest_* tests: running the binary, building small images, key ids, and
//! the Python reference implementations; the corpus and skipping come from tests/common.

#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

#[allow(unused_imports)] // each attest test crate uses a part of this module
pub use common::{corpus, skip};
use sha2::{Digest, Sha256};
use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary with no passphrase in its environment and no terminal to prompt on.
pub fn portcullis() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.env("PORTCULLIS_TRIVY", "off")
        .env_remove("PORTCULLIS_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .stdin(Stdio::null());
    common::offline_data(&mut cmd);
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut cmd: impl BorrowMut<Command>) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.borrow_mut().output().expect("run portcullis");
    Run {
        code: status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs and asserts the exit code, showing the output when it differs.
pub fn expect(mut cmd: impl BorrowMut<Command>, code: i32) -> Run {
    let cmd = cmd.borrow_mut();
    let r = run(&mut *cmd);
    assert_eq!(
        r.code, code,
        "{cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout, r.stderr
    );
    r
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The key id portcullis gives a public key: SHA-256 of the SPKI DER, read here from the PEM.
pub fn keyid_of_pem(pem: &str) -> String {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body");
    sha256_hex(&der)
}

/// Generates a key pair with `portcullis keygen` (unencrypted unless `passphrase`).
pub fn keygen(dir: &Path, name: &str, key_type: &str, passphrase: Option<&str>) -> PathBuf {
    let prefix = dir.join(name);
    let mut cmd = portcullis();
    cmd.args(["keygen", "--type", key_type, "--out"])
        .arg(&prefix);
    match passphrase {
        Some(p) => cmd.env("PORTCULLIS_PASSWORD", p),
        None => cmd.arg("--no-password"),
    };
    expect(&mut cmd, 0);
    prefix
}

pub fn key(prefix: &Path) -> PathBuf {
    prefix.with_extension("key")
}

pub fn public(prefix: &Path) -> PathBuf {
    prefix.with_extension("pub")
}

/// A one-layer image as portcullis would find it on disk.
pub struct TestImage {
    /// What to pass on the command line.
    pub reference: String,
    pub path: PathBuf,
    /// `sha256:…` of the config (Docker's image ID).
    pub config_digest: String,
    pub manifest_digest: Option<String>,
    /// The tar bytes of the single layer.
    pub layer: Vec<u8>,
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn tar_file(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(1_700_000_000);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, path, data)
        .expect("append to tar");
}

/// A layer with /etc/passwd and /etc/group (root and `app`, uid 1000), and a marker file.
fn layer(marker: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    tar_file(
        &mut b,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        0o644,
    );
    tar_file(&mut b, "etc/group", b"root:x:0:\napp:x:1000:\n", 0o644);
    tar_file(&mut b, "srv/marker", marker.as_bytes(), 0o644);
    b.into_inner().expect("finish layer")
}

/// The config of an image of `layer` running as `user` (`""` is root: the gate fails it;
/// `"1000"` passes).
fn config(layer: &[u8], user: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": host_arch(),
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"User": user, "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(layer))]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test layer"}],
    }))
    .expect("config json")
}

/// A classic `docker save` archive: manifest.json, the config, the layer; no manifest digest.
pub fn docker_archive(dir: &Path, file: &str, tag: &str, user: &str, marker: &str) -> TestImage {
    let layer = layer(marker);
    let config = config(&layer, user);
    let config_hex = sha256_hex(&config);
    let layer_hex = sha256_hex(&layer);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": [format!("{layer_hex}/layer.tar")],
    }]))
    .expect("manifest json");
    let mut outer = tar::Builder::new(Vec::new());
    tar_file(&mut outer, &format!("{layer_hex}/layer.tar"), &layer, 0o644);
    tar_file(&mut outer, &format!("{config_hex}.json"), &config, 0o644);
    tar_file(&mut outer, "manifest.json", &manifest, 0o644);
    let path = dir.join(file);
    std::fs::write(&path, outer.into_inner().expect("finish archive")).expect("write archive");
    TestImage {
        reference: format!("docker-archive:{}", path.display()),
        path,
        config_digest: format!("sha256:{config_hex}"),
        manifest_digest: None,
        layer,
    }
}

/// The same kind of image as an OCI layout directory, with an uncompressed layer.
pub fn oci_layout(dir: &Path, name: &str, user: &str, marker: &str) -> TestImage {
    let root = dir.join(name);
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir layout");
    let layer = layer(marker);
    let config = config(&layer, user);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&config)),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{}", sha256_hex(&layer)),
            "size": layer.len(),
        }],
    }))
    .expect("manifest json");
    for blob in [&layer, &config, &manifest] {
        std::fs::write(blobs.join(sha256_hex(blob)), blob).expect("write blob");
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&manifest)),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "1.0"},
        }],
    });
    std::fs::write(root.join("index.json"), index.to_string()).expect("write index");
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    TestImage {
        reference: format!("oci:{}", root.display()),
        path: root,
        config_digest: format!("sha256:{}", sha256_hex(&config)),
        manifest_digest: Some(format!("sha256:{}", sha256_hex(&manifest))),
        layer,
    }
}

/// The envelope's JSON, and its payload decoded.
pub fn read_envelope(path: &Path) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine as _;
    let envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read envelope")).expect("json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("base64 payload");
    (
        envelope,
        serde_json::from_slice(&payload).expect("statement json"),
    )
}

/// `python3` with the given modules importable, installing the named pip packages once if
/// they are missing. `None` (after [`skip`]: scripts/test.sh installs them, so in CI this
/// fails) when that is impossible.
pub fn python_with(modules: &[&str], pip_packages: &[&str]) -> Option<Command> {
    let import = format!("import {}", modules.join(", "));
    let importable = || {
        Command::new("python3")
            .args(["-c", &import])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !importable() {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(pip_packages)
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed || !importable() {
            skip(format!(
                "python3 with {} is not available and `pip install {}` failed",
                modules.join(", "),
                pip_packages.join(" ")
            ));
            return None;
        }
    }
    let mut cmd = Command::new("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attest_support/interop.py"));
    Some(cmd)
}
