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
    /// A path that does not exist: never taken for an image name to pull, since whoever
    /// registers the namespace `build` on Docker Hub would otherwise be scanned (and
    /// signed) in place of a missing `build/app.tar`. Shown after the reference, so the
    /// path is named only when it is not the whole reference.
    #[error(
        "{}no such file or directory (a path is never pulled from a registry; to pull an \
         image of that name, write docker://{reference})",
        named_path(.reference, .path)
    )]
    NoSuchFile { reference: String, path: String },
    #[error(
        "unknown transport {prefix:?}, did you mean {suggestion}? (transports: \
         docker-archive:, oci:, oci-archive:, docker-daemon:, docker://)"
    )]
    UnknownTransport {
        reference: String,
        prefix: String,
        suggestion: &'static str,
    },
}

fn named_path(reference: &str, path: &str) -> String {
    if reference == path {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// File names that are image archives or layouts, never image names.
const ARCHIVE_SUFFIXES: [&str; 5] = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".oci"];

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
        if let Some(error) = misspelt_transport(input) {
            return Err(error);
        }
        if let Some(path) = path_like(input) {
            return Err(RefError::NoSuchFile {
                reference: input.to_string(),
                path: path.to_string(),
            });
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

/// `docker-archiv:app.tar`, `dockerarchive:x`, `tar:./app.tar`: a `word:` prefix that is
/// no transport but a misspelt long one, or a lowercase word before a path.
fn misspelt_transport(input: &str) -> Option<RefError> {
    let (prefix, rest) = input.split_once(':')?;
    let is_word = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !is_word {
        return None;
    }
    let error = |suggestion| RefError::UnknownTransport {
        reference: input.to_string(),
        prefix: format!("{prefix}:"),
        suggestion,
    };
    // `docker:27-dind` is the Docker Hub image `docker`; `docker:/x` is a botched `docker://`.
    if prefix == "docker" {
        return rest.starts_with('/').then(|| error("docker://"));
    }
    // Up to two slips in a long transport name; no image name is that close to one. The
    // short ones (`oci`, `docker`) are as close to real image names (`ocp:4`), so they are
    // only suggested before a path.
    let near_long = ["docker-archive:", "oci-archive:", "docker-daemon:"]
        .into_iter()
        .find(|t| edit_distance(prefix, t.trim_end_matches(':')) <= 2);
    if let Some(transport) = near_long {
        return Some(error(transport));
    }
    // `registry.local:5000/app.tar` has a port, not a transport, before its path.
    let port = rest
        .split_once('/')
        .is_some_and(|(p, _)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if port || path_like(rest).is_none() {
        return None;
    }
    let archive =
        has_archive_suffix(rest.split(':').next().unwrap_or(rest)) && !rest.ends_with(".oci");
    let near_oci = edit_distance(prefix, "oci") <= 1;
    Some(error(match (archive, near_oci) {
        (true, true) => "oci-archive:",
        (true, false) => "docker-archive:",
        (false, _) => "oci:",
    }))
}

/// The path that `input` (missing) names, when it can only be one: it starts like a path,
/// ends like an archive, or its directory exists. `None` for what may be an image name.
fn path_like(input: &str) -> Option<&str> {
    let path = input.split(':').next().unwrap_or(input);
    let starts_like_a_path = ["/", "./", "../", "~"].iter().any(|p| input.starts_with(p))
        || input == "."
        || input == "..";
    if starts_like_a_path || has_archive_suffix(input) {
        return Some(input);
    }
    if has_archive_suffix(path) {
        return Some(path);
    }
    let parent_exists = input
        .rsplit_once('/')
        .is_some_and(|(dir, _)| !dir.is_empty() && Path::new(dir).is_dir());
    parent_exists.then_some(path)
}

fn has_archive_suffix(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ARCHIVE_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// neighbours each count one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
    fn missing_paths_are_never_image_names() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("build");
        std::fs::create_dir(&existing).unwrap();
        let under_existing = format!("{}/app", existing.display());
        let table: [(&str, &str); 12] = [
            ("build/app.tar", "build/app.tar"),
            ("app.tar", "app.tar"),
            ("APP.TAR", "APP.TAR"),
            ("out/app.tar.gz", "out/app.tar.gz"),
            ("app.tgz", "app.tgz"),
            ("app.tar.zst", "app.tar.zst"),
            ("image.oci", "image.oci"),
            ("./x.tar", "./x.tar"),
            ("./layout:1.2", "./layout:1.2"),
            ("../images/app", "../images/app"),
            ("~/app", "~/app"),
            ("app.tar:app:1", "app.tar"),
        ];
        for (input, path) in table.iter().copied().chain([
            ("/nonexistent/app", "/nonexistent/app"),
            (under_existing.as_str(), under_existing.as_str()),
        ]) {
            match ImageRef::parse(input) {
                Err(RefError::NoSuchFile { path: named, .. }) => assert_eq!(named, path, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
        let message = ImageRef::parse("build/app.tar").unwrap_err().to_string();
        assert!(
            message.starts_with("no such file or directory"),
            "{message}"
        );
        assert!(message.contains("docker://build/app.tar"), "{message}");
        let message = ImageRef::parse("app.tar:app:1").unwrap_err().to_string();
        assert!(message.starts_with("app.tar: no such file"), "{message}");
    }

    #[test]
    fn misspelt_transports_are_named() {
        let table = [
            ("docker-archiv:app.tar", "docker-archive:"),
            ("dockerarchive:/x/app.tar", "docker-archive:"),
            ("docker-achrive:app", "docker-archive:"),
            ("oci-archve:app.tar", "oci-archive:"),
            ("docker-deamon:alpine", "docker-daemon:"),
            ("tar:./app.tar", "docker-archive:"),
            ("file:/tmp/layout", "oci:"),
            ("ocii:app.tar", "oci-archive:"),
            ("docker:/alpine", "docker://"),
        ];
        for (input, expected) in table {
            match ImageRef::parse(input) {
                Err(RefError::UnknownTransport { suggestion, .. }) => {
                    assert_eq!(suggestion, expected, "{input}")
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        let message = ImageRef::parse("docker-archiv:app.tar")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("unknown transport \"docker-archiv:\", did you mean docker-archive:?"),
            "{message}"
        );
    }

    #[test]
    fn image_names_still_pull() {
        for input in [
            "alpine:3.19",
            "alpine",
            "docker:27-dind",
            "library/alpine:3.19",
            "ghcr.io/org/app:1.2",
            "localhost:5000/app:1",
            "ocp:4",
            "app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(
                ImageRef::parse(input).unwrap(),
                ImageRef::Registry {
                    reference: input.into()
                },
                "{input}"
            );
        }
    }

    #[test]
    fn edit_distance_counts_swaps_once() {
        assert_eq!(edit_distance("docker-archiv", "docker-archive"), 1);
        assert_eq!(edit_distance("docker-deamon", "docker-daemon"), 1);
        assert_eq!(edit_distance("oci", "oci"), 0);
        assert_eq!(edit_distance("", "oci"), 3);
        assert_eq!(edit_distance("alpine", "oci-archive"), 8);
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
