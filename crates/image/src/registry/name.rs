//! Image names as Docker reads them: `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`, with Docker
//! Hub as the default registry and `library/` as its default namespace.

use super::RegistryError;
use crate::reference::is_sha256_digest;
use std::fmt;

/// The name Docker Hub's images are known by, and the host its API is served from.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const DOCKER_HUB_ALIASES: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];
/// The server URL Docker's credential helpers and config file use for Docker Hub.
pub const DOCKER_HUB_CREDENTIAL_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// `host[:port]`; `docker.io` for Docker Hub.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl RegistryRef {
    pub fn parse(text: &str) -> Result<RegistryRef, RegistryError> {
        let bad = |why: &str| RegistryError::BadReference {
            reference: text.to_string(),
            reason: why.to_string(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((name, d)) => {
                if !is_sha256_digest(d) {
                    return Err(bad(
                        "the digest must be sha256: and 64 lowercase hex digits",
                    ));
                }
                (name, Some(d.to_string()))
            }
            None => (text, None),
        };
        let (host, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path)
            }
            _ => (DOCKER_HUB.to_string(), rest),
        };
        let host = if DOCKER_HUB_ALIASES.contains(&host.to_ascii_lowercase().as_str()) {
            DOCKER_HUB.to_string()
        } else {
            host
        };
        let last_start = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_start..].rfind(':') {
            Some(i) => (
                &path[..last_start + i],
                Some(path[last_start + i + 1..].to_string()),
            ),
            None => (path, None),
        };
        if repository.is_empty() {
            return Err(bad("no repository name"));
        }
        if !repository.split('/').all(valid_component) {
            return Err(bad(
                "repository names are lowercase letters, digits and separators (. _ -), split by /",
            ));
        }
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(bad(
                "a tag is up to 128 letters, digits, _ . and -, not starting with . or -",
            ));
        }
        let repository = if host == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(RegistryRef {
            registry: host,
            repository,
            tag,
            digest,
        })
    }

    /// The registry a reference names when it names no repository, for the registry's own
    /// endpoints (the catalog): `HOST[:PORT]` whose host has a dot or is `localhost`
    /// (`127.0.0.1:5000`, `registry.example.com`), or `HOST:PORT/` (`myregistry:5000/`).
    /// Otherwise `None`: Docker reads `alpine:3.20` or `myregistry:5000` as a repository of
    /// Docker Hub and a tag, and `myregistry/` as a Docker Hub namespace, and so does
    /// [`RegistryRef::parse`]. The repository of the result is empty.
    pub fn registry_only(text: &str) -> Option<RegistryRef> {
        let (host, slash) = match text.strip_suffix('/') {
            Some(host) => (host, true),
            None => (text, false),
        };
        if host.contains('/') || host.contains('@') {
            return None;
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !name.starts_with(['.', '-'])
            && !name.ends_with(['.', '-']);
        let valid_port = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
        // `myregistry:5000` is a Docker Hub repository and a tag unless a `/` follows; a host
        // without a dot or a port is a Docker Hub namespace even then.
        let looks_like_host =
            name.contains('.') || name == "localhost" || (slash && port.is_some());
        if !(valid_name && valid_port && looks_like_host) {
            return None;
        }
        let registry = if DOCKER_HUB_ALIASES.contains(&host.to_ascii_lowercase().as_str()) {
            DOCKER_HUB.to_string()
        } else {
            host.to_string()
        };
        Some(RegistryRef {
            registry,
            repository: String::new(),
            tag: None,
            digest: None,
        })
    }

    /// The host the registry API is served from.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to ask the manifests endpoint for: the digest when given, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `REGISTRY/REPOSITORY` as the user would write it.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

fn valid_tag(t: &str) -> bool {
    let bytes = t.as_bytes();
    (1..=128).contains(&bytes.len())
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, String, Option<String>, Option<String>) {
        let r = RegistryRef::parse(text).unwrap();
        (r.registry, r.repository, r.tag, r.digest)
    }

    #[test]
    fn docker_hub_names_normalise_like_docker() {
        let d = format!("sha256:{}", "a".repeat(64));
        let s = |x: &str| Some(x.to_string());
        let cases = [
            ("alpine", ("docker.io", "library/alpine", s("latest"), None)),
            (
                "alpine:3.20",
                ("docker.io", "library/alpine", s("3.20"), None),
            ),
            ("user/app", ("docker.io", "user/app", s("latest"), None)),
            (
                "docker.io/alpine",
                ("docker.io", "library/alpine", s("latest"), None),
            ),
            (
                "index.docker.io/library/alpine:edge",
                ("docker.io", "library/alpine", s("edge"), None),
            ),
            (
                "127.0.0.1:5000/app:1",
                ("127.0.0.1:5000", "app", s("1"), None),
            ),
            (
                "localhost/team/app",
                ("localhost", "team/app", s("latest"), None),
            ),
            (
                "ghcr.io/o/r/app:v1.2_3",
                ("ghcr.io", "o/r/app", s("v1.2_3"), None),
            ),
        ];
        for (text, (reg, repo, tag, digest)) in cases {
            assert_eq!(
                parsed(text),
                (reg.to_string(), repo.to_string(), tag, digest),
                "{text}"
            );
        }
        assert_eq!(
            parsed(&format!("quay.io/a/b@{d}")),
            ("quay.io".into(), "a/b".into(), None, Some(d.clone()))
        );
        assert_eq!(
            parsed(&format!("quay.io/a/b:1@{d}")),
            (
                "quay.io".into(),
                "a/b".into(),
                Some("1".into()),
                Some(d.clone())
            )
        );
        let hub = RegistryRef::parse("alpine").unwrap();
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(hub.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(hub.manifest_reference(), "latest");
    }

    #[test]
    fn a_host_alone_names_a_registry() {
        let registry = |text: &str| RegistryRef::registry_only(text).map(|r| r.registry);
        let s = |x: &str| Some(x.to_string());
        let cases: &[(&str, Option<String>)] = &[
            ("127.0.0.1:5000", s("127.0.0.1:5000")),
            ("localhost:5000", s("localhost:5000")),
            ("localhost", s("localhost")),
            ("registry.example.com", s("registry.example.com")),
            ("registry.example.com/", s("registry.example.com")),
            ("myregistry:5000/", s("myregistry:5000")),
            ("index.docker.io", s("docker.io")),
            ("docker.io/", s("docker.io")),
            // Docker reads these as a Docker Hub repository and a tag.
            ("alpine:3.20", None),
            ("myregistry:5000", None),
            ("myregistry/", None),
            ("alpine", None),
            ("foo.bar:latest", None),
            // Images, or not names at all.
            ("127.0.0.1:5000/app", None),
            ("127.0.0.1:5000/app:1", None),
            ("host.example:", None),
            ("host.example:123456", None),
            ("-host.example", None),
            ("host_1.example", None),
            ("", None),
            ("/", None),
        ];
        for (text, expected) in cases {
            assert_eq!(registry(text), *expected, "{text:?}");
        }
        let only = RegistryRef::registry_only("docker.io").unwrap();
        assert_eq!(only.api_host(), "registry-1.docker.io");
        assert!(only.repository.is_empty() && only.tag.is_none());
    }

    #[test]
    fn malformed_names_are_errors() {
        for text in [
            "Alpine",
            "host:5000/",
            "app:",
            "app:-x",
            "app@sha256:abc",
            "app@md5:0123",
            "a//b",
            "-app",
            &format!("app:{}", "t".repeat(129)),
        ] {
            assert!(RegistryRef::parse(text).is_err(), "{text}");
        }
    }
}
