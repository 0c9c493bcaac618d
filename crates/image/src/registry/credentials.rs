//! Registry credentials, found where Docker keeps them: `--username`/`--password-stdin`, else
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): a `credHelpers` entry for
//! the registry, the `credsStore` helper, or an `auths` entry.
//!
//! Secrets never reach a log, an error or a report: `Debug` redacts them, and a helper's
//! output is never quoted.

use super::RegistryError;
use super::name::{DOCKER_HUB, DOCKER_HUB_CREDENTIAL_KEY};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A config file larger than this is not read.
const MAX_CONFIG: u64 = 4 << 20;
/// Docker's credential helpers name an identity token (an OAuth2 refresh token) this way.
const IDENTITY_TOKEN_USER: &str = "<token>";

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token), for Basic auth and token
    /// endpoints.
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
    /// A registry access token issued by someone else (Harbor hands its scanners one with
    /// each scan request): sent as `Authorization: Bearer` from the first request, never
    /// exchanged.
    RegistryToken(String),
    /// None at all, and Docker's config not consulted: a pull on someone else's behalf
    /// (`serve`) must not borrow this machine's credentials.
    Anonymous,
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        let username = username.into();
        let password = password.into();
        if username == IDENTITY_TOKEN_USER {
            Credentials::IdentityToken(password)
        } else {
            Credentials::Basic { username, password }
        }
    }

    /// The value of an `Authorization: Basic` header, for Basic credentials.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Credentials::IdentityToken(_)
            | Credentials::RegistryToken(_)
            | Credentials::Anonymous => None,
        }
    }

    /// The `Authorization` header sent before any challenge: only a registry token's.
    pub fn preemptive_header(&self) -> Option<String> {
        match self {
            Credentials::RegistryToken(token) => Some(format!("Bearer {token}")),
            _ => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
            Credentials::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// The credentials to send to `registry`: those given, none for [`Credentials::Anonymous`],
/// else Docker's for that registry.
pub fn resolve(
    given: Option<&Credentials>,
    registry: &str,
) -> Result<Option<Credentials>, RegistryError> {
    match given {
        Some(Credentials::Anonymous) => Ok(None),
        Some(c) => Ok(Some(c.clone())),
        None => lookup(registry),
    }
}

#[derive(Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: HashMap<String, String>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker/config.json"))
}

/// The credentials Docker would use for `registry` (`host[:port]`, `docker.io` for Docker
/// Hub), or `None` for anonymous access.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    lookup_in(&path, registry, None)
}

fn config_error(path: &Path, message: impl Into<String>) -> RegistryError {
    RegistryError::Credentials {
        source_name: path.display().to_string(),
        message: message.into(),
    }
}

/// As [`lookup`], from the config file at `path`, looking helpers up on `helper_path`
/// (default: `PATH`).
pub fn lookup_in(
    path: &Path,
    registry: &str,
    helper_path: Option<&OsStr>,
) -> Result<Option<Credentials>, RegistryError> {
    let data = match std::fs::File::open(path) {
        Ok(f) => {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_CONFIG + 1), &mut data)
                .map_err(|e| config_error(path, e.to_string()))?;
            if data.len() as u64 > MAX_CONFIG {
                return Err(config_error(path, "the file is too large"));
            }
            data
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(config_error(path, e.to_string())),
    };
    let config: ConfigFile = serde_json::from_slice(&data)
        .map_err(|e| config_error(path, format!("not valid JSON ({e})")))?;
    let wanted = canonical_host(registry);
    let server_url = if wanted == DOCKER_HUB {
        DOCKER_HUB_CREDENTIAL_KEY.to_string()
    } else {
        registry.to_string()
    };
    if let Some(helper) = config
        .cred_helpers
        .iter()
        .find(|(k, _)| canonical_host(k) == wanted)
        .map(|(_, h)| h)
    {
        return run_helper(helper, &server_url, helper_path);
    }
    if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty())
        && let Some(found) = run_helper(store, &server_url, helper_path)?
    {
        return Ok(Some(found));
    }
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| canonical_host(k) == wanted)
        .map(|(_, e)| e)
    else {
        return Ok(None);
    };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::IdentityToken(token.to_string())));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| {
                config_error(path, format!("the auth entry for {registry} is not base64"))
            })?;
        let (user, pass) = decoded.split_once(':').ok_or_else(|| {
            config_error(
                path,
                format!("the auth entry for {registry} is not user:password"),
            )
        })?;
        return Ok(Some(Credentials::basic(user, pass)));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::basic(u, p))),
        _ => Ok(None),
    }
}

/// `https://index.docker.io/v1/`, `index.docker.io` and `docker.io` are one registry;
/// config keys may carry a scheme and a path.
fn canonical_host(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-HELPER get` with the server URL on stdin.
fn run_helper(
    helper: &str,
    server_url: &str,
    helper_path: Option<&OsStr>,
) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let helper_error = |message: String| RegistryError::Credentials {
        source_name: program.clone(),
        message,
    };
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(helper_error("not a valid helper name".into()));
    }
    let mut command = Command::new(&program);
    if let Some(p) = helper_path {
        command.env("PATH", p);
    }
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| helper_error(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server_url.as_bytes())
            .map_err(|e| helper_error(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| helper_error(e.to_string()))?;
    if !out.status.success() {
        // The helper protocol's "not found" answer, on stdout (or stderr for some helpers).
        let said = String::from_utf8_lossy(if out.stdout.is_empty() {
            &out.stderr
        } else {
            &out.stdout
        })
        .to_string();
        if said.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let first = said
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Err(helper_error(format!("failed ({}): {first}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout).map_err(|_| {
        helper_error("its answer is not the JSON the helper protocol defines".into())
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::basic(answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path, json: &str) -> PathBuf {
        let path = dir.join("config.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    #[test]
    fn auths_entries_match_by_host_whatever_the_key_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{
                    "https://index.docker.io/v1/": {{"auth": "{auth}"}},
                    "http://127.0.0.1:5000/v2/": {{"username": "bob", "password": "pw"}},
                    "ghcr.io": {{"identitytoken": "refresh"}}
                }}}}"#
            ),
        );
        assert_eq!(
            lookup_in(&path, "docker.io", None).unwrap(),
            Some(Credentials::basic("alice", "s3cret:with:colons"))
        );
        assert_eq!(
            lookup_in(&path, "127.0.0.1:5000", None).unwrap(),
            Some(Credentials::basic("bob", "pw"))
        );
        assert_eq!(
            lookup_in(&path, "ghcr.io", None).unwrap(),
            Some(Credentials::IdentityToken("refresh".into()))
        );
        assert_eq!(lookup_in(&path, "quay.io", None).unwrap(), None);
        assert_eq!(
            lookup_in(&dir.path().join("missing.json"), "quay.io", None).unwrap(),
            None
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!(
            "{:?} {:?}",
            Credentials::basic("alice", "hunter2"),
            Credentials::basic("<token>", "refresh-secret")
        );
        assert!(shown.contains("alice"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("refresh-secret"),
            "{shown}"
        );
    }

    #[test]
    fn credential_helpers_are_asked_first() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A helper that answers for one server URL and says "not found" otherwise.
        let helper = dir.path().join("docker-credential-portcullis-test");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread url\nif [ \"$url\" = \"127.0.0.1:5000\" ]; then\n  \
             echo '{\"ServerURL\":\"'$url'\",\"Username\":\"helper-user\",\"Secret\":\"helper-pw\"}'\n\
             else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = write_config(
            dir.path(),
            r#"{"auths": {"127.0.0.1:5000": {"auth": "ZmlsZTpmaWxl"}, "quay.io": {"auth": "ZmlsZTpmaWxl"}},
                "credHelpers": {"127.0.0.1:5000": "portcullis-test"}}"#,
        );
        let old_path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&old_path));
        let paths = std::env::join_paths(paths).unwrap();
        let helpers = Some(paths.as_os_str());
        let found = lookup_in(&path, "127.0.0.1:5000", helpers);
        assert_eq!(
            found.unwrap(),
            Some(Credentials::basic("helper-user", "helper-pw"))
        );
        // credsStore: asked for everything; "not found" falls back to auths.
        let path = write_config(
            dir.path(),
            r#"{"auths": {"quay.io": {"auth": "ZmlsZTpmaWxl"}}, "credsStore": "portcullis-test"}"#,
        );
        let found = lookup_in(&path, "quay.io", helpers);
        assert_eq!(found.unwrap(), Some(Credentials::basic("file", "file")));
        let found = lookup_in(&path, "127.0.0.1:5000", helpers);
        assert_eq!(
            found.unwrap(),
            Some(Credentials::basic("helper-user", "helper-pw"))
        );
        // A helper that is not installed is an error naming it.
        let path = write_config(
            dir.path(),
            r#"{"credHelpers": {"quay.io": "absent-helper"}}"#,
        );
        let err = lookup_in(&path, "quay.io", helpers)
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker-credential-absent-helper"), "{err}");
    }
}
