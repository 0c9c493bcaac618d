//! Getting package indexes: files given on the command line, and downloads (HTTP and
//! HTTPS through reqwest's blocking client, rustls with the system's root certificates)
//! kept in a cache directory.
//!
//! A download is bounded in size and time, written to a temporary file beside its cache
//! entry and renamed into place, so concurrent runs and interrupted downloads never leave
//! a partial index behind. A cached index is used while it is younger than
//! `params.packages.index_max_age_hours`, and always when `params.packages.offline` is set;
//! when a download fails, an older copy is used with a note saying so.

use super::sources::{IndexSource, Sources};
use super::{IndexError, IndexFormat, IndexSet, Origin, PackageIndex};
use crate::params::PackageParams;
use portcullis_model::Diagnostic;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Largest download accepted (compressed). Debian's `main` for amd64 is about 10 MiB as
/// `.xz`, Ubuntu's `universe` about 20 MiB.
pub const MAX_DOWNLOAD: u64 = 256 << 20;
/// Largest `repomd.xml` accepted.
const MAX_REPOMD: u64 = 16 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest one download may take, start to end.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: larger than {MAX_DOWNLOAD} bytes")]
    TooLarge { url: String },
    #[error("{url}: not in the index cache, and downloads are off (offline)")]
    Offline { url: String },
    #[error("{url}: only http and https URLs are fetched")]
    Scheme { url: String },
    #[error("index cache {}: {source}", path.display())]
    Cache { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("{location}: {source}")]
    Index {
        location: String,
        source: IndexError,
    },
}

/// An index named on the command line: `[SUITE=]FILE|URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub suite: Option<String>,
    pub location: String,
}

impl FromStr for IndexSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<IndexSpec, String> {
        let (suite, location) = match text.split_once('=') {
            Some((suite, location))
                if !suite.is_empty()
                    && !suite.contains(['/', ':', '?', '\\'])
                    && !location.is_empty() =>
            {
                (Some(suite.to_string()), location)
            }
            Some((suite, "")) if !suite.contains(['/', ':']) => {
                return Err(format!("{text}: the file or URL is missing"));
            }
            _ => (None, text),
        };
        if location.is_empty() {
            return Err("an empty package index".into());
        }
        Ok(IndexSpec {
            suite,
            location: location.to_string(),
        })
    }
}

impl fmt::Display for IndexSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.suite {
            Some(suite) => write!(f, "{suite}={}", self.location),
            None => f.write_str(&self.location),
        }
    }
}

fn is_url(location: &str) -> bool {
    let lower = location.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The cache directory: `index_cache` when set, else `$XDG_CACHE_HOME/portcullis/indexes`
/// (or `~/.cache/portcullis/indexes`).
pub fn cache_dir(params: &PackageParams) -> Option<PathBuf> {
    if !params.index_cache.as_os_str().is_empty() {
        return Some(params.index_cache.clone());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("portcullis").join("indexes"))
}

/// A downloaded file, and a note when it is an older copy used because the download
/// failed.
pub struct Fetched {
    pub path: PathBuf,
    pub note: Option<String>,
    /// Keeps an uncached download alive until it is read.
    _temp: Option<portcullis_interrupt::TempFile>,
}

/// Downloads through the cache.
pub struct Fetcher {
    /// Built on the first download: a scan with only index files never starts a client.
    http: std::sync::OnceLock<Result<reqwest::blocking::Client, String>>,
    cache: Option<PathBuf>,
    max_age: Duration,
    offline: bool,
}

impl Fetcher {
    /// Whether downloads are off.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    pub fn new(params: &PackageParams) -> Fetcher {
        Fetcher {
            http: std::sync::OnceLock::new(),
            cache: cache_dir(params),
            max_age: Duration::from_secs(u64::from(params.index_max_age_hours) * 3600),
            offline: params.offline,
        }
    }

    fn cache_path(&self, url: &str) -> Option<PathBuf> {
        use sha2::{Digest, Sha256};
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        self.cache.as_ref().map(|dir| dir.join(key))
    }

    /// The bytes at `url`, as a file: the cached copy when fresh enough, else a download.
    pub fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        if !is_url(url) {
            return Err(FetchError::Scheme { url: url.into() });
        }
        let cached = self.cache_path(url);
        let age = cached
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .filter(|m| m.is_file())
            .map(|m| {
                m.modified()
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default()
            });
        if let (Some(path), Some(age)) = (&cached, age)
            && (self.offline || age <= self.max_age)
        {
            return Ok(Fetched {
                path: path.clone(),
                note: None,
                _temp: None,
            });
        }
        if self.offline {
            return Err(FetchError::Offline { url: url.into() });
        }
        match self.download(url, cached.as_deref()) {
            Ok(fetched) => Ok(fetched),
            Err(error) => match (cached, age) {
                (Some(path), Some(age)) if !matches!(error, FetchError::Cache { .. }) => {
                    Ok(Fetched {
                        note: Some(format!(
                            "{error}; used the cached copy from {} hours ago",
                            age.as_secs() / 3600
                        )),
                        path,
                        _temp: None,
                    })
                }
                _ => Err(error),
            },
        }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, String> {
        self.http
            .get_or_init(|| {
                // reqwest is built without a default crypto provider; ring is the one
                // compiled in (the registry client installs the same).
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::blocking::Client::builder()
                    .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(DOWNLOAD_TIMEOUT)
                    .build()
                    .map_err(|e| describe(&e))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn download(&self, url: &str, cached: Option<&Path>) -> Result<Fetched, FetchError> {
        let transport = |reason: String| FetchError::Transport {
            url: url.into(),
            reason,
        };
        let client = self.client().map_err(transport)?;
        let response = client
            .get(url)
            .send()
            .map_err(|e| transport(describe(&e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.into(),
                status,
            });
        }
        if response.content_length().is_some_and(|n| n > MAX_DOWNLOAD) {
            return Err(FetchError::TooLarge { url: url.into() });
        }
        let dir = match cached.and_then(Path::parent) {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| FetchError::Cache {
                    path: dir.to_path_buf(),
                    source,
                })?;
                dir.to_path_buf()
            }
            None => std::env::temp_dir(),
        };
        let mut tmp =
            portcullis_interrupt::TempFile::new_in(&dir).map_err(|source| FetchError::Cache {
                path: dir.clone(),
                source,
            })?;
        let copied = io::copy(&mut response.take(MAX_DOWNLOAD + 1), tmp.as_file_mut())
            .map_err(|e| transport(describe(&e)))?;
        if copied > MAX_DOWNLOAD {
            return Err(FetchError::TooLarge { url: url.into() });
        }
        tmp.as_file_mut()
            .flush()
            .map_err(|source| FetchError::Cache {
                path: dir.clone(),
                source,
            })?;
        match cached {
            Some(path) => {
                tmp.persist(path).map_err(|source| FetchError::Cache {
                    path: path.to_path_buf(),
                    source,
                })?;
                Ok(Fetched {
                    path: path.to_path_buf(),
                    note: None,
                    _temp: None,
                })
            }
            None => Ok(Fetched {
                path: tmp.path().to_path_buf(),
                note: None,
                _temp: Some(tmp),
            }),
        }
    }

    /// One index: a file, or a URL through the cache. For an RPM repository's
    /// `repodata/repomd.xml` URL, the `primary.xml` it names.
    pub fn load(&self, spec: &IndexSpec) -> Result<(PackageIndex, Option<String>), FetchError> {
        let origin = Origin::new(spec.suite.clone(), &spec.location);
        if !is_url(&spec.location) {
            let path = PathBuf::from(&spec.location);
            let file = File::open(&path).map_err(|source| FetchError::File {
                path: path.clone(),
                source,
            })?;
            let index =
                super::read(BufReader::new(file), origin).map_err(|source| FetchError::Index {
                    location: spec.location.clone(),
                    source,
                })?;
            return Ok((index, None));
        }
        if let Some(base) = spec.location.strip_suffix("/repodata/repomd.xml") {
            return self.load_rpm_repository(base, origin);
        }
        let fetched = self.get(&spec.location)?;
        Ok((
            read_file(&fetched.path, &spec.location, origin)?,
            fetched.note,
        ))
    }

    /// The `primary.xml` of the RPM repository at `base`.
    fn load_rpm_repository(
        &self,
        base: &str,
        origin: Origin,
    ) -> Result<(PackageIndex, Option<String>), FetchError> {
        let repomd_url = format!("{base}/repodata/repomd.xml");
        let repomd = self.get(&repomd_url)?;
        let mut bytes = Vec::new();
        File::open(&repomd.path)
            .and_then(|f| f.take(MAX_REPOMD + 1).read_to_end(&mut bytes))
            .map_err(|source| FetchError::Cache {
                path: repomd.path.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_REPOMD {
            return Err(FetchError::TooLarge { url: repomd_url });
        }
        let href = super::rpm::primary_location(&bytes).map_err(|source| FetchError::Index {
            location: repomd_url.clone(),
            source,
        })?;
        if href.contains("..") || href.starts_with('/') || href.contains("://") {
            return Err(FetchError::Index {
                location: repomd_url,
                source: IndexError::Xml(format!("primary location {href:?} leaves the repository")),
            });
        }
        let url = format!("{base}/{href}");
        let primary = self.get(&url)?;
        let note = [repomd.note, primary.note]
            .into_iter()
            .flatten()
            .reduce(|a, b| format!("{a}; {b}"));
        Ok((read_file(&primary.path, &url, origin)?, note))
    }

    /// The index of one configured source: its URLs in turn, moving on only when one is
    /// missing (HTTP 404, or not cached when offline), as apt does with compressions.
    pub fn load_source(
        &self,
        source: &IndexSource,
    ) -> Result<(PackageIndex, Option<String>), FetchError> {
        if source.format == IndexFormat::Rpm {
            let base = source.urls.first().map(String::as_str).unwrap_or("");
            return self.load_rpm_repository(base, Origin::new(Some(source.suite.clone()), base));
        }
        let mut last = None;
        for url in &source.urls {
            let suite = match source.format {
                // `bookworm main` is the suite and the component; the suite names the origin.
                IndexFormat::Deb => source.suite.split_whitespace().next().map(str::to_string),
                _ => Some(source.suite.clone()),
            };
            match self.get(url) {
                Ok(fetched) => {
                    let index = read_file(&fetched.path, url, Origin::new(suite, url))?;
                    return Ok((index, fetched.note));
                }
                Err(e @ (FetchError::Status { status: 404, .. } | FetchError::Offline { .. })) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(FetchError::Scheme {
            url: source.suite.clone(),
        }))
    }

    /// The indexes of every configured source; what fails becomes a note (location,
    /// message), never an error.
    pub fn load_sources(&self, sources: &Sources) -> (Vec<PackageIndex>, Vec<(String, String)>) {
        let mut indexes = Vec::new();
        let mut notes = sources.notes.clone();
        for source in &sources.sources {
            match self.load_source(source) {
                Ok((index, note)) => {
                    if let Some(note) = note {
                        notes.push((source.file.clone(), note));
                    }
                    indexes.push(index);
                }
                Err(e) => notes.push((
                    source.file.clone(),
                    format!("package index of {}: {e}", source.suite),
                )),
            }
        }
        (indexes, notes)
    }
}

/// Configuration files that name repositories (see [`sources`]).
pub const SOURCE_FILES: &[&str] = &["etc/apt/sources.list", "etc/apk/repositories"];
/// Directories of such files.
pub const SOURCE_DIRS: &[&str] = &[
    "etc/apt/sources.list.d",
    "etc/yum.repos.d",
    "etc/dnf/vars",
    "etc/yum/vars",
];

/// Hosts (and their subdomains) of the distributions' own package repositories and CDNs:
/// what a plain scan fetches from without being asked. An image's repository configuration
/// can name any URL, and a scanner that fetched them all would make requests wherever an
/// image it was given points (an internal address, say); other hosts are fetched only with
/// `--fetch-indexes`.
pub const KNOWN_HOSTS: &[&str] = &[
    "debian.org",
    "ubuntu.com",
    "alpinelinux.org",
    "almalinux.org",
    "rockylinux.org",
    "fedoraproject.org",
    "centos.org",
    "redhat.com",
    "amazonlinux.com",
    "opensuse.org",
    "oracle.com",
];

/// The host of an `http(s)` URL, lower-cased, without user information or port.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url
        .split_once("://")
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
        })?
        .1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next()?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether a plain scan may fetch `url`: `http(s)` to one of [`KNOWN_HOSTS`] or below.
pub fn is_known_host(url: &str) -> bool {
    url_host(url).is_some_and(|host| {
        KNOWN_HOSTS
            .iter()
            .any(|known| host == *known || host.ends_with(&format!(".{known}")))
    })
}

/// The name package indexes go by in the report's sources and diagnostics.
pub const SOURCE: &str = "package-index";

/// The indexes of the repositories an image is configured with (`sources`), and diagnostics
/// for what could not be fetched.
pub fn fetch_for_sources(sources: &Sources, fetcher: &Fetcher) -> (IndexSet, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    if sources.sources.is_empty() && sources.notes.is_empty() {
        diagnostics.push(Diagnostic {
            source: Some(SOURCE.into()),
            layer: None,
            path: None,
            message: "--fetch-indexes: the image configures no apt, apk or yum repository".into(),
        });
    }
    let (indexes, notes) = fetcher.load_sources(sources);
    diagnostics.extend(notes.into_iter().map(|(file, message)| Diagnostic {
        source: Some(SOURCE.into()),
        layer: None,
        path: Some(portcullis_model::path::absolute(&file)),
        message,
    }));
    (IndexSet { indexes }, diagnostics)
}

/// An error and its causes, on one line: reqwest's own message rarely says what failed.
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

fn read_file(path: &Path, location: &str, origin: Origin) -> Result<PackageIndex, FetchError> {
    let file = File::open(path).map_err(|source| FetchError::Cache {
        path: path.to_path_buf(),
        source,
    })?;
    super::read(BufReader::new(file), origin).map_err(|source| FetchError::Index {
        location: location.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_suite_or_not() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("Packages.xz", None, "Packages.xz"),
            (
                "bookworm-security=Packages.xz",
                Some("bookworm-security"),
                "Packages.xz",
            ),
            (
                "bookworm-security=https://x/dists/a/Packages.xz",
                Some("bookworm-security"),
                "https://x/dists/a/Packages.xz",
            ),
            (
                "https://x/Packages.xz?token=a=b",
                None,
                "https://x/Packages.xz?token=a=b",
            ),
            ("./dir/a=b", None, "./dir/a=b"),
        ];
        for &(text, suite, location) in cases {
            let spec: IndexSpec = text.parse().unwrap();
            assert_eq!(spec.suite.as_deref(), suite, "{text}");
            assert_eq!(spec.location, location, "{text}");
            assert_eq!(spec.to_string(), text);
        }
        assert!("".parse::<IndexSpec>().is_err());
        assert!("suite=".parse::<IndexSpec>().is_err());
    }

    #[test]
    fn only_distribution_hosts_are_known() {
        for url in [
            "http://deb.debian.org/debian",
            "https://security.ubuntu.com/ubuntu",
            "http://dl-cdn.alpinelinux.org/alpine/v3.19/main",
            "https://user:pw@DEB.DEBIAN.ORG:443/debian",
        ] {
            assert!(is_known_host(url), "{url}");
        }
        for url in [
            "http://127.0.0.1:8080/debian",
            "http://debian.org.evil.example/debian",
            "http://evildebian.org/debian",
            "http://169.254.169.254/latest",
            "http://deb.debian.org@10.0.0.1/debian",
            "ftp://deb.debian.org/debian",
            "file:/srv/debian",
        ] {
            assert!(!is_known_host(url), "{url}");
        }
    }

    #[test]
    fn offline_without_a_cached_copy_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let params = PackageParams {
            index_cache: dir.path().to_path_buf(),
            offline: true,
            ..Default::default()
        };
        let fetcher = Fetcher::new(&params);
        let url = "http://127.0.0.1:9/Packages.xz";
        assert!(matches!(fetcher.get(url), Err(FetchError::Offline { .. })));
        std::fs::write(
            fetcher.cache_path(url).unwrap(),
            b"Package: a\nVersion: 1\n",
        )
        .unwrap();
        let fetched = fetcher.get(url).unwrap();
        assert!(fetched.note.is_none());
        assert!(matches!(
            fetcher.get("ftp://x/y"),
            Err(FetchError::Scheme { .. })
        ));
    }
}
