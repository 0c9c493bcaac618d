//! The real services remote tests talk to: a Docker daemon and registries that
//! `scripts/test.sh` starts and names in environment variables. A test whose service is not
//! there is skipped with the reason ([`super::skip`]: a failure when `CI` is set, since
//! scripts/test.sh starts every one of them in CI) and returns.

use super::{Run, portcullis, run_command, skip};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The daemon the tests may fill: `PORTCULLIS_TEST_DOCKER_HOST` (never the user's own
/// `DOCKER_HOST`, so that tests do not load images into a developer's daemon).
#[track_caller]
pub fn docker_host() -> Option<String> {
    let host = std::env::var("PORTCULLIS_TEST_DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    if host.is_none() {
        skip("PORTCULLIS_TEST_DOCKER_HOST is not set (scripts/test.sh starts a dockerd)");
    }
    host
}

/// `host:port` of a registry without authentication.
#[track_caller]
pub fn registry() -> Option<String> {
    let r = std::env::var("PORTCULLIS_TEST_REGISTRY")
        .ok()
        .filter(|h| !h.is_empty());
    if r.is_none() {
        skip("PORTCULLIS_TEST_REGISTRY is not set (scripts/test.sh starts docker-registry)");
    }
    r
}

/// `host:port`, user and password of a registry with htpasswd authentication.
#[track_caller]
pub fn auth_registry() -> Option<(String, String, String)> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("PORTCULLIS_TEST_AUTH_REGISTRY"),
        get("PORTCULLIS_TEST_REGISTRY_USER"),
        get("PORTCULLIS_TEST_REGISTRY_PASSWORD"),
    ) {
        (Some(r), Some(u), Some(p)) => Some((r, u, p)),
        _ => {
            skip(
                "PORTCULLIS_TEST_AUTH_REGISTRY/_USER/_PASSWORD are not set \
                 (scripts/test.sh starts an htpasswd registry)",
            );
            None
        }
    }
}

/// A registry with token authentication (`auth: token`) and what its token issuer needs:
/// the realm the registry sends clients to, the service (the tokens' audience) and issuer
/// names it accepts, and the key whose certificate its `rootcertbundle` trusts.
#[derive(Debug, Clone)]
pub struct TokenRegistry {
    /// `host:port`.
    pub addr: String,
    /// `http://127.0.0.1:PORT/token`, served by [`super::token_issuer::TokenIssuer`].
    pub realm: String,
    pub service: String,
    pub issuer: String,
    /// PKCS#8 PEM, P-256.
    pub key: PathBuf,
    /// The self-signed certificate of `key`, PEM.
    pub cert: PathBuf,
}

/// The registry with token authentication that `scripts/services.sh` starts.
#[track_caller]
pub fn token_registry() -> Option<TokenRegistry> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("PORTCULLIS_TEST_TOKEN_REGISTRY"),
        get("PORTCULLIS_TEST_TOKEN_REALM"),
        get("PORTCULLIS_TEST_TOKEN_SERVICE"),
        get("PORTCULLIS_TEST_TOKEN_ISSUER"),
        get("PORTCULLIS_TEST_TOKEN_KEY"),
        get("PORTCULLIS_TEST_TOKEN_CERT"),
    ) {
        (Some(addr), Some(realm), Some(service), Some(issuer), Some(key), Some(cert)) => {
            Some(TokenRegistry {
                addr,
                realm,
                service,
                issuer,
                key: key.into(),
                cert: cert.into(),
            })
        }
        _ => {
            skip(
                "PORTCULLIS_TEST_TOKEN_REGISTRY/_REALM/_SERVICE/_ISSUER/_KEY/_CERT are not set \
                 (scripts/test.sh starts a registry with token auth)",
            );
            None
        }
    }
}

/// Runs a tool, panicking with its output when it fails; returns stdout.
pub fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Podman's API service started by scripts/services.sh: its socket (`unix://…`) and the
/// storage root the `podman` command must use to reach the same images.
#[track_caller]
pub fn podman_service() -> Option<(String, String)> {
    let host = std::env::var("PORTCULLIS_TEST_PODMAN_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    let root = std::env::var("PORTCULLIS_TEST_PODMAN_ROOT")
        .ok()
        .filter(|r| !r.is_empty());
    match (host, root) {
        (Some(host), Some(root)) => Some((host, root)),
        _ => {
            skip(
                "PORTCULLIS_TEST_PODMAN_HOST/_ROOT are not set \
                 (scripts/test.sh starts podman's API service)",
            );
            None
        }
    }
}

/// The podman CLI, on the storage of the test service.
pub fn podman(root: &str) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args([
        "--root",
        &format!("{root}/storage"),
        "--runroot",
        &format!("{root}/run"),
        "--storage-driver",
        "vfs",
    ]);
    cmd
}

/// The docker CLI, pointed at the test daemon.
pub fn docker(host: &str) -> Command {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_HOST", host);
    cmd
}

/// `skopeo copy` from `source` to the test registry, without TLS.
pub fn push(source: &str, dest: &str, all: bool, creds: Option<&str>) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "-q", "--dest-tls-verify=false"]);
    if all {
        cmd.arg("--all");
    }
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    tool(cmd.args([source, dest]));
}

/// `portcullis scan --format json REFERENCE EXTRA...`, with the given environment and an
/// empty layer cache of its own unless the caller passes a cache flag.
pub fn scan_with(
    reference: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    let mut cmd = portcullis();
    cmd.args(["scan", "--format", "json", reference])
        .args(extra);
    if !extra
        .iter()
        .any(|a| a.starts_with("--cache-dir") || *a == "--no-cache")
    {
        cmd.arg("--no-cache");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    match stdin {
        None => run_command(&mut cmd),
        Some(input) => super::run_with_stdin(&mut cmd, input),
    }
}

/// A report without what names where it was read from.
pub fn without_origin(mut report: Value) -> Value {
    if let Some(image) = report["image"].as_object_mut() {
        image.remove("reference");
        image.remove("transport");
    }
    report
}

/// A report reduced to what does not depend on how its layers were stored: a registry
/// recompresses the uncompressed layers of a `docker save` archive, so blob digests, sizes,
/// compression and media types differ while diff_ids, the config and every finding agree.
pub fn content_only(report: Value) -> Value {
    let mut report = without_origin(report);
    if let Some(image) = report["image"].as_object_mut() {
        image.remove("names");
        image.remove("manifest_digest");
        if let Some(layers) = image.get_mut("layers").and_then(Value::as_array_mut) {
            for layer in layers {
                if let Some(l) = layer.as_object_mut() {
                    for k in ["digest", "size", "compression", "media_type"] {
                        l.remove(k);
                    }
                }
            }
        }
    }
    if let Some(findings) = report["findings"].as_array_mut() {
        for f in findings {
            if let Some(loc) = f["location"].as_object_mut() {
                loc.remove("layer_digest");
            }
        }
    }
    report
}

/// Asserts two reports are equal, showing both when they are not.
pub fn assert_same(what: &str, left: &Value, right: &Value) {
    assert!(
        left == right,
        "{what}: reports differ\n--- left\n{}\n--- right\n{}",
        serde_json::to_string_pretty(left).unwrap_or_default(),
        serde_json::to_string_pretty(right).unwrap_or_default()
    );
}

/// A unique name for this test run (tests share one daemon and registry).
pub fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "portcullis-test/{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `path` as the text after a transport prefix.
pub fn at(prefix: &str, path: &Path) -> String {
    format!("{prefix}{}", path.display())
}
