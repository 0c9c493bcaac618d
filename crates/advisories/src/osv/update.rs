//! Keeping the local database current: each ecosystem's `all.zip` from osv.dev (or a mirror
//! with the same layout, `BASE/<ecosystem>/all.zip`, over HTTP or in a directory), fetched
//! with a conditional request, bounded, hashed while it streams, reduced to an index, and
//! swapped in with the rest of the database in one rename.

use super::load::Limits;
use super::store::{self, EcosystemMeta, Generation, LocalDb, StoreError};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// osv.dev's export bucket.
pub const OSV_DEV: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// Every ecosystem portcullis can match: what `db update` fetches when not told otherwise.
pub const ECOSYSTEMS: &[&str] = &[
    "AlmaLinux",
    "Alpine",
    "Debian",
    "Go",
    "Maven",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "Ubuntu",
    "crates.io",
    "npm",
];

/// Largest `all.zip` accepted. osv.dev's largest export (Debian, every release) is a few
/// hundred MiB.
pub const MAX_DOWNLOAD: u64 = 4 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the exports come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// `BASE/<ecosystem>/all.zip` over HTTP(S).
    Url(String),
    /// `DIR/<ecosystem>/all.zip` on disk.
    Dir(PathBuf),
}

impl Mirror {
    /// `http(s)://…` is a URL, anything else a directory.
    pub fn parse(text: &str) -> Mirror {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Mirror::Url(text.trim_end_matches('/').to_string())
        } else {
            Mirror::Dir(PathBuf::from(text))
        }
    }

    /// Where one ecosystem's export is.
    pub fn location(&self, ecosystem: &str) -> String {
        match self {
            Mirror::Url(base) => format!("{base}/{}/all.zip", url_segment(ecosystem)),
            Mirror::Dir(dir) => dir.join(ecosystem).join("all.zip").display().to_string(),
        }
    }
}

impl std::fmt::Display for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mirror::Url(url) => f.write_str(url),
            Mirror::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// An ecosystem as a URL path segment: spaces and the like percent-encoded, `:` kept as
/// osv.dev's bucket names them.
fn url_segment(ecosystem: &str) -> String {
    let mut out = String::new();
    for b in ecosystem.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What one update is asked to do.
#[derive(Debug, Clone)]
pub struct Update {
    pub mirror: Mirror,
    pub ecosystems: Vec<String>,
    /// Download even when the source says nothing changed.
    pub force: bool,
    /// `YYYY-MM-DD`: records withdrawn by then are left out.
    pub today: String,
    /// RFC 3339 time recorded as the fetch and check time.
    pub now: String,
    pub limits: Limits,
    pub max_download: u64,
    /// Longest one download may take, start to end.
    pub timeout: Duration,
}

/// What became of one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Updated { records: u64, packages: u64 },
    NotModified,
    Failed(String),
}

/// The result of an update: per ecosystem, and the database as it now is.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<(String, Outcome)>,
    pub db: Option<LocalDb>,
}

impl Report {
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|(e, o)| match o {
            Outcome::Failed(reason) => Some((e.as_str(), reason.as_str())),
            _ => None,
        })
    }
}

/// Why an export could not be had.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Failed(String),
    #[error("not modified")]
    NotModified,
    /// The server could not be reached at all (no connection).
    #[error("{0}")]
    Unreachable(String),
}

/// A downloaded (or mirrored) export, ready to index.
struct Export {
    path: PathBuf,
    digest: String,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Removes a download when dropped.
    _temp: Option<portcullis_interrupt::TempFile>,
}

/// Updates the database under `root`. Ecosystems that fail keep their previous index; the
/// others are replaced together in one new generation. The database is written only when
/// something changed.
pub fn update(root: &Path, request: &Update) -> Result<Report, StoreError> {
    fs::create_dir_all(root).map_err(|source| StoreError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let current = LocalDb::open(root)?;
    let mut generation: Option<Generation> = None;
    let mut outcomes = Vec::new();
    let mut touched = false;
    let client = std::sync::OnceLock::new();
    let mut unreachable: Option<String> = None;
    for ecosystem in &request.ecosystems {
        let known = current
            .as_ref()
            .and_then(|db| db.meta.ecosystems.get(ecosystem));
        let location = request.mirror.location(ecosystem);
        let known_here = known.filter(|k| k.source == location && !request.force);
        let fetched = match (&request.mirror, &unreachable) {
            // One connection failure says the mirror cannot be reached: the other exports
            // are not tried (each would wait for its own connection timeout).
            (Mirror::Url(_), Some(reason)) => {
                Err(FetchError::Failed(format!("not tried: {reason}")))
            }
            (Mirror::Url(_), None) => {
                let result = download(&client, &location, known_here, request, root);
                if let Err(FetchError::Unreachable(reason)) = &result {
                    unreachable = Some(reason.clone());
                }
                result
            }
            (Mirror::Dir(_), _) => mirrored(Path::new(&location), known_here),
        };
        let export = match fetched {
            Ok(export) => export,
            Err(FetchError::NotModified) => {
                let generation = match &mut generation {
                    Some(g) => g,
                    None => generation.insert(Generation::start(root, current.as_ref())?),
                };
                if let Some(entry) = generation.meta.ecosystems.get_mut(ecosystem) {
                    entry.checked = request.now.clone();
                    touched = true;
                }
                outcomes.push((ecosystem.clone(), Outcome::NotModified));
                continue;
            }
            Err(FetchError::Failed(reason) | FetchError::Unreachable(reason)) => {
                outcomes.push((ecosystem.clone(), Outcome::Failed(reason)));
                continue;
            }
        };
        let generation = match &mut generation {
            Some(g) => g,
            None => generation.insert(Generation::start(root, current.as_ref())?),
        };
        let (index_path, mut file) = generation.create_index(ecosystem)?;
        match store::build(&export.path, &mut file, &request.today, request.limits) {
            Ok(built) => {
                generation.meta.ecosystems.insert(
                    ecosystem.clone(),
                    EcosystemMeta {
                        ecosystem: ecosystem.clone(),
                        source: location.clone(),
                        fetched: request.now.clone(),
                        checked: request.now.clone(),
                        digest: export.digest.clone(),
                        etag: export.etag.clone(),
                        last_modified: export.last_modified.clone(),
                        records: built.records,
                        withdrawn: built.withdrawn,
                        skipped: built.skipped,
                        packages: built.packages,
                        file: store::file_name(ecosystem),
                    },
                );
                touched = true;
                outcomes.push((
                    ecosystem.clone(),
                    Outcome::Updated {
                        records: built.records,
                        packages: built.packages,
                    },
                ));
            }
            Err(e) => {
                // The previous index (if any) is gone from this generation: put it back.
                drop(file);
                let _ = fs::remove_file(&index_path);
                if let Some(old) = current
                    .as_ref()
                    .and_then(|db| db.meta.ecosystems.get(ecosystem).map(|m| (db, m)))
                {
                    let from = old.0.generation.join(&old.1.file);
                    if fs::hard_link(&from, &index_path).is_err() {
                        fs::copy(&from, &index_path).map_err(|source| StoreError::Io {
                            path: from.clone(),
                            source,
                        })?;
                    }
                }
                outcomes.push((ecosystem.clone(), Outcome::Failed(e.to_string())));
            }
        }
    }
    let db = match generation {
        Some(generation) if touched => Some(generation.commit()?),
        _ => current,
    };
    Ok(Report { outcomes, db })
}

/// An export in a mirror directory. Its size and modification time stand for an ETag, so an
/// unchanged file is not read again.
fn mirrored(path: &Path, known: Option<&EcosystemMeta>) -> Result<Export, FetchError> {
    let meta =
        fs::metadata(path).map_err(|e| FetchError::Failed(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(FetchError::Failed(format!(
            "{}: not a file",
            path.display()
        )));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let etag = format!("{}-{mtime}", meta.len());
    if known.and_then(|k| k.etag.as_deref()) == Some(etag.as_str()) {
        return Err(FetchError::NotModified);
    }
    let mut file =
        File::open(path).map_err(|e| FetchError::Failed(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| FetchError::Failed(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Export {
        path: path.to_path_buf(),
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        etag: Some(etag),
        last_modified: None,
        _temp: None,
    })
}

fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// Downloads one export with a conditional request, hashing and bounding it as it streams
/// into a temporary file beside the database.
fn download(
    client: &std::sync::OnceLock<Result<reqwest::blocking::Client, String>>,
    url: &str,
    known: Option<&EcosystemMeta>,
    request: &Update,
    root: &Path,
) -> Result<Export, FetchError> {
    let failed = |reason: String| FetchError::Failed(format!("{url}: {reason}"));
    let client = client
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::blocking::Client::builder()
                .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(request.timeout)
                .build()
                .map_err(|e| describe(&e))
        })
        .as_ref()
        .map_err(|e| failed(e.clone()))?;
    let mut call = client.get(url);
    if let Some(known) = known {
        if let Some(etag) = &known.etag {
            call = call.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(modified) = &known.last_modified {
            call = call.header(reqwest::header::IF_MODIFIED_SINCE, modified);
        }
    }
    let response = call.send().map_err(|e| {
        let reason = format!("{url}: {}", describe(&e));
        if e.is_connect() || e.is_timeout() {
            FetchError::Unreachable(reason)
        } else {
            FetchError::Failed(reason)
        }
    })?;
    let status = response.status().as_u16();
    if status == 304 && known.is_some() {
        return Err(FetchError::NotModified);
    }
    if status == 404 {
        return Err(failed(
            "no such export (HTTP 404): is the ecosystem name right?".into(),
        ));
    }
    if !(200..300).contains(&status) {
        return Err(failed(format!("HTTP status {status}")));
    }
    if response
        .content_length()
        .is_some_and(|n| n > request.max_download)
    {
        return Err(failed(format!(
            "larger than {} bytes",
            request.max_download
        )));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let mut temp = portcullis_interrupt::TempFile::new_in(root)
        .map_err(|e| failed(format!("cannot write in {}: {e}", root.display())))?;
    let mut hasher = Sha256::new();
    let mut reader = response.take(request.max_download + 1);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| failed(describe(&e)))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > request.max_download {
            return Err(failed(format!(
                "larger than {} bytes",
                request.max_download
            )));
        }
        hasher.update(&buf[..n]);
        temp.as_file_mut()
            .write_all(&buf[..n])
            .map_err(|e| failed(format!("cannot write in {}: {e}", root.display())))?;
    }
    temp.as_file_mut()
        .flush()
        .map_err(|e| failed(e.to_string()))?;
    Ok(Export {
        path: temp.path().to_path_buf(),
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        etag,
        last_modified,
        _temp: Some(temp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_are_urls_or_directories() {
        assert_eq!(
            Mirror::parse("https://m.example/osv/").location("Rocky Linux"),
            "https://m.example/osv/Rocky%20Linux/all.zip"
        );
        assert_eq!(
            Mirror::parse(OSV_DEV).location("Debian:12"),
            format!("{OSV_DEV}/Debian:12/all.zip")
        );
        assert_eq!(
            Mirror::parse("/srv/osv").location("PyPI"),
            "/srv/osv/PyPI/all.zip"
        );
    }
}
