//! Image references in skopeo's transport syntax.
//!
//! ```text
//! docker-archive:PATH[:NAME[:TAG]|:@INDEX]
//! oci:DIR[:REF_NAME|@sha256:DIGEST]
//! oci-archive:PATH[:REF_NAME|@sha256:DIGEST]
//! docker-daemon:NAME[:TAG] | docker-daemon:sha256:ID
//! docker://[REGISTRY/]NAME[:TAG|@DIGEST]
//! PATH[:REF]                 a local archive or layout, format detected
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

/// Which image inside an archive or layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A repo tag (docker-archive) or `org.opencontainers.image.ref.name` (OCI).
    Name(String),
    /// A manifest (or index) digest.
    Digest(String),
    /// The N-th image of a docker-archive manifest (`:@N`).
    Index(usize),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Name(n) => write!(f, "{n}"),
            Selector::Digest(d) => write!(f, "{d}"),
            Selector::Index(i) => write!(f, "@{i}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    DockerArchive {
        path: PathBuf,
        selector: Option<Selector>,
    },
    OciLayout {
        path: PathBuf,
        selector: Option<Selector>,
    },
    OciArchive {
        path: PathBuf,
        selector: Option<Selector>,
    },
    /// A local path whose format is detected from its content.
    Local {
        path: PathBuf,
        selector: Option<Selector>,
    },
    DockerDaemon {
        name: String,
    },
    Registry {
        reference: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("empty image reference")]
    Empty,
    #[error("{0:?}: missing path after the transport")]
    MissingPath(String),
    #[error("{reference:?}: bad image index {index:?} (expected @N, e.g. @0)")]
    BadIndex { reference: String, index: String },
    #[error("{reference:?}: bad digest {digest:?} (expected sha256: and 64 hex digits)")]
    BadDigest { reference: String, digest: String },
}

/// Checks `sha256:<64 lowercase hex>`.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<ImageRef, RefError> {
        if input.is_empty() {
            return Err(RefError::Empty);
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (path, selector) = split_path(input, rest, false)?;
            return Ok(ImageRef::DockerArchive { path, selector });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, selector) = split_path(input, rest, true)?;
            return Ok(ImageRef::OciArchive { path, selector });
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, selector) = split_path(input, rest, true)?;
            return Ok(ImageRef::OciLayout { path, selector });
        }
        if let Some(rest) = input.strip_prefix("docker-daemon:") {
            if rest.is_empty() {
                return Err(RefError::MissingPath(input.to_string()));
            }
            return Ok(ImageRef::DockerDaemon {
                name: rest.to_string(),
            });
        }
        if let Some(rest) = input.strip_prefix("docker://") {
            if rest.is_empty() {
                return Err(RefError::MissingPath(input.to_string()));
            }
            return Ok(ImageRef::Registry {
                reference: rest.to_string(),
            });
        }
        if Path::new(input).exists() {
            return Ok(ImageRef::Local {
                path: PathBuf::from(input),
                selector: None,
            });
        }
        // `./layout:1.2` or `app.tar:name:tag` with the path existing.
        if let Some((path, selector)) = split_existing(input, true)? {
            return Ok(ImageRef::Local { path, selector });
        }
        Ok(ImageRef::Registry {
            reference: input.to_string(),
        })
    }

    /// The local file or directory, for transports that have one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ImageRef::DockerArchive { path, .. }
            | ImageRef::OciLayout { path, .. }
            | ImageRef::OciArchive { path, .. }
            | ImageRef::Local { path, .. } => Some(path),
            _ => None,
        }
    }
}

fn parse_selector(reference: &str, text: &str, oci: bool) -> Result<Selector, RefError> {
    if let Some(index) = text.strip_prefix('@') {
        if oci || index.starts_with("sha256:") {
            if is_sha256_digest(index) {
                return Ok(Selector::Digest(index.to_string()));
            }
            return Err(RefError::BadDigest {
                reference: reference.to_string(),
                digest: index.to_string(),
            });
        }
        return index
            .parse()
            .map(Selector::Index)
            .map_err(|_| RefError::BadIndex {
                reference: reference.to_string(),
                index: text.to_string(),
            });
    }
    Ok(Selector::Name(text.to_string()))
}

/// Splits `PATH[:REF]` or `PATH@sha256:...`. A path that exists as written wins over a split.
fn split_path(
    reference: &str,
    rest: &str,
    oci: bool,
) -> Result<(PathBuf, Option<Selector>), RefError> {
    if rest.is_empty() {
        return Err(RefError::MissingPath(reference.to_string()));
    }
    if Path::new(rest).exists() {
        return Ok((PathBuf::from(rest), None));
    }
    if let Some(found) = split_existing(rest, oci)? {
        return Ok(found);
    }
    // Nothing exists: split at the first separator so the error can name the path.
    if let Some(at) = rest.find("@sha256:") {
        let selector = parse_selector(reference, &rest[at..], true)?;
        return Ok((PathBuf::from(&rest[..at]), Some(selector)));
    }
    match rest.split_once(':') {
        Some((path, sel)) if !path.is_empty() && !sel.is_empty() => Ok((
            PathBuf::from(path),
            Some(parse_selector(reference, sel, oci)?),
        )),
        _ => Ok((PathBuf::from(rest), None)),
    }
}

/// Finds the longest existing path prefix of `text` followed by `:SEL` or `@sha256:...`.
fn split_existing(text: &str, oci: bool) -> Result<Option<(PathBuf, Option<Selector>)>, RefError> {
    let mut cuts: Vec<usize> = text
        .char_indices()
        .filter(|(_, c)| *c == ':' || *c == '@')
        .map(|(i, _)| i)
        .collect();
    cuts.reverse();
    for cut in cuts {
        let (path, sel) = text.split_at(cut);
        if path.is_empty() || !Path::new(path).exists() {
            continue;
        }
        let sel_text = if let Some(s) = sel.strip_prefix(':') {
            s
        } else {
            sel
        };
        if sel_text.is_empty() {
            continue;
        }
        return Ok(Some((
            PathBuf::from(path),
            Some(parse_selector(text, sel_text, oci)?),
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse_like_skopeo() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(
            ImageRef::parse("docker-archive:/nonexistent/app.tar").unwrap(),
            ImageRef::DockerArchive {
                path: "/nonexistent/app.tar".into(),
                selector: None
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:/nonexistent/app.tar:@1").unwrap(),
            ImageRef::DockerArchive {
                path: "/nonexistent/app.tar".into(),
                selector: Some(Selector::Index(1))
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:/nonexistent/app.tar:alpine:3.10").unwrap(),
            ImageRef::DockerArchive {
                path: "/nonexistent/app.tar".into(),
                selector: Some(Selector::Name("alpine:3.10".into()))
            }
        );
        assert_eq!(
            ImageRef::parse("oci:/nonexistent/layout:1.2").unwrap(),
            ImageRef::OciLayout {
                path: "/nonexistent/layout".into(),
                selector: Some(Selector::Name("1.2".into()))
            }
        );
        assert_eq!(
            ImageRef::parse(&format!("oci:/nonexistent/layout@{d}")).unwrap(),
            ImageRef::OciLayout {
                path: "/nonexistent/layout".into(),
                selector: Some(Selector::Digest(d.clone()))
            }
        );
        assert_eq!(
            ImageRef::parse("docker-daemon:alpine:3.20").unwrap(),
            ImageRef::DockerDaemon {
                name: "alpine:3.20".into()
            }
        );
        assert_eq!(
            ImageRef::parse("docker://127.0.0.1:5000/app:1").unwrap(),
            ImageRef::Registry {
                reference: "127.0.0.1:5000/app:1".into()
            }
        );
        assert_eq!(
            ImageRef::parse("alpine:3.20").unwrap(),
            ImageRef::Registry {
                reference: "alpine:3.20".into()
            }
        );
    }

    #[test]
    fn bad_selectors_are_errors() {
        assert!(ImageRef::parse("docker-archive:/x.tar:@one").is_err());
        assert!(ImageRef::parse("oci:/x@sha256:abc").is_err());
        assert!(matches!(ImageRef::parse(""), Err(RefError::Empty)));
        assert!(ImageRef::parse("oci:").is_err());
    }

    #[test]
    fn existing_paths_win_and_local_paths_take_selectors() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("lay:out");
        std::fs::create_dir(&layout).unwrap();
        let text = layout.to_str().unwrap();
        assert_eq!(
            ImageRef::parse(&format!("oci:{text}")).unwrap(),
            ImageRef::OciLayout {
                path: layout.clone(),
                selector: None
            }
        );
        assert_eq!(
            ImageRef::parse(&format!("{text}:v2")).unwrap(),
            ImageRef::Local {
                path: layout.clone(),
                selector: Some(Selector::Name("v2".into()))
            }
        );
    }
}
