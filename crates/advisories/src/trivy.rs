//! Trivy as a second source of vulnerabilities: when it is installed, portcullis runs it on
//! the same image input and reads its JSON report.
//!
//! Trivy runs offline (`--skip-db-update --offline-scan`): it uses the vulnerability
//! database already in its cache and never downloads one, as a gate must not depend on the
//! network. It runs with a timeout, its report is read up to a bound, and whatever goes
//! wrong (not installed, no database, a crash, a report for another image) is an
//! [`Outcome`] the caller reports, never an error of the scan.

use super::osv::record::Rating;
use super::osv::{AffectedPackage, Finder, Vulnerability};
use portcullis_inventory::{DbFormat, Inventory};
use portcullis_model::Severity;
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The largest report read; Trivy lists every package with its files, so a large image's
/// report runs to tens of MiB.
pub const MAX_REPORT_BYTES: u64 = 512 << 20;
/// Stderr kept for the failure reason.
const MAX_STDERR_BYTES: usize = 64 << 10;

/// How to run Trivy.
#[derive(Debug, Clone)]
pub struct Runner {
    pub program: PathBuf,
    pub timeout: Duration,
    /// `--cache-dir`, so that Trivy reads the database [`has_database`] looked for; Trivy's
    /// own choice when `None`.
    pub cache_dir: Option<PathBuf>,
}

/// What one run gave.
#[derive(Debug)]
pub enum Outcome {
    Report(Box<Report>),
    /// Trivy ran and did not produce a usable report; the reason is for a person.
    Failed(String),
}

/// Trivy's cache directory, found as Trivy finds it: `TRIVY_CACHE_DIR`, else `trivy` in
/// the user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`). `None` without a home.
pub fn cache_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("TRIVY_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let user_cache = set("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(user_cache.join("trivy"))
}

/// What Trivy's `db/metadata.json` says of its vulnerability database: when the database
/// was built (`UpdatedAt`) and downloaded (`DownloadedAt`), as RFC 3339 texts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct DatabaseMetadata {
    #[serde(rename = "UpdatedAt", default)]
    pub updated_at: Option<String>,
    #[serde(rename = "DownloadedAt", default)]
    pub downloaded_at: Option<String>,
}

/// Reads `db/metadata.json` of Trivy's cache `cache` (small: bounded at 64 KiB).
pub fn database_metadata(cache: &Path) -> Option<DatabaseMetadata> {
    use std::io::Read;
    let file = std::fs::File::open(cache.join("db").join("metadata.json")).ok()?;
    let mut bytes = Vec::new();
    file.take(64 << 10).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether Trivy's vulnerability database is in the cache directory `cache`: without it an
/// offline Trivy can only fail, after spending as long as the scan itself.
pub fn has_database(cache: &Path) -> bool {
    let db = cache.join("db");
    db.join("trivy.db").is_file() && db.join("metadata.json").is_file()
}

/// Finds the executable `name` (`trivy`) on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

impl Runner {
    /// Scans the image archive or OCI layout at `input` for vulnerabilities.
    pub fn scan(&self, input: &Path) -> Outcome {
        let dir = match portcullis_interrupt::TempDir::new() {
            Ok(d) => d,
            Err(e) => return Outcome::Failed(format!("cannot create a temporary directory: {e}")),
        };
        let output = dir.path().join("trivy.json");
        let mut command = Command::new(&self.program);
        command
            .arg("image")
            .arg("--input")
            .arg(input)
            .args(["--format", "json", "--output"])
            .arg(&output)
            .args([
                "--scanners",
                "vuln",
                "--skip-db-update",
                "--offline-scan",
                "--no-progress",
                "--exit-code",
                "0",
                "--timeout",
            ])
            .arg(format!("{}s", self.timeout.as_secs().max(1)));
        if let Some(cache) = &self.cache_dir {
            command.arg("--cache-dir").arg(cache);
        }
        command
            // Options older Trivy releases lack are set through the environment, which
            // they ignore, rather than flags, which they refuse.
            .env("TRIVY_SKIP_JAVA_DB_UPDATE", "true")
            .env("TRIVY_SKIP_VERSION_CHECK", "true")
            .env("TRIVY_DISABLE_TELEMETRY", "true")
            // Whatever Trivy leaves in its temporary directory goes with ours, also when
            // an interrupt kills it.
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let run = match run_with_timeout(&mut command, self.timeout) {
            Ok(run) => run,
            Err(reason) => return Outcome::Failed(reason),
        };
        if !run.success {
            return Outcome::Failed(failure_reason(&run.stderr, run.code));
        }
        let bytes = match read_bounded(&output, MAX_REPORT_BYTES) {
            Ok(bytes) => bytes,
            Err(reason) => return Outcome::Failed(reason),
        };
        match parse_report(&bytes) {
            Ok(report) => Outcome::Report(Box::new(report)),
            Err(e) => Outcome::Failed(format!("unreadable JSON report: {e}")),
        }
    }
}

struct Run {
    success: bool,
    code: Option<i32>,
    stderr: String,
}

/// Runs `command`, killing it at `timeout`; stderr is drained on a thread (so that a
/// chatty child never blocks) and kept up to a bound.
fn run_with_timeout(command: &mut Command, timeout: Duration) -> Result<Run, String> {
    let child = portcullis_interrupt::Process::spawn(command).map_err(|e| {
        format!(
            "cannot run {}: {e}",
            command.get_program().to_string_lossy()
        )
    })?;
    let stderr = child.with(|c| c.stderr.take());
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut stderr) = stderr {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Best effort: the child may have exited between the two calls. The stderr
                // reader is left to finish on its own: a process the child started may
                // hold the pipe open.
                let _ = child.kill();
                return Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    Ok(Run {
        success: status.success(),
        code: status.code(),
        stderr,
    })
}

/// The first error Trivy logged (tab-separated time, level `ERROR` or `FATAL`, message),
/// without its time and level; else the last line it wrote; else the exit status.
pub fn failure_reason(stderr: &str, code: Option<i32>) -> String {
    let logged = stderr.lines().find_map(|line| {
        let mut fields = line.split('\t');
        let _time = fields.next()?;
        let level = fields.next()?.trim();
        let message: Vec<&str> = fields.map(str::trim).filter(|f| !f.is_empty()).collect();
        (matches!(level, "ERROR" | "FATAL") && !message.is_empty()).then(|| message.join(": "))
    });
    let reason = logged
        .or_else(|| {
            stderr
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| match code {
            Some(code) => format!("exited with status {code}"),
            None => "killed by a signal".to_string(),
        });
    truncate(&reason, 300)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Unpacks an OCI archive (a tar of an OCI layout, optionally gzipped) into `dir`, for
/// Trivy, whose `--input` reads layout directories but not their archives. Only the
/// layout's own files are written (`oci-layout`, `index.json`, `blobs/ALG/DIGEST`); any
/// other name, and `..` or absolute paths, are refused rather than followed.
pub fn unpack_oci_archive(archive: &Path, dir: &Path) -> Result<(), String> {
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let gzipped = {
        use std::io::BufRead;
        let head = reader.fill_buf().map_err(|e| e.to_string())?;
        head.starts_with(&[0x1f, 0x8b])
    };
    let stream: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut tar = tar::Archive::new(stream);
    let entries = tar.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: {e}", archive.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_start_matches("./");
        let parts: Vec<&str> = name.split('/').collect();
        let allowed = match parts.as_slice() {
            ["oci-layout"] | ["index.json"] => true,
            ["blobs", algorithm, digest] => [algorithm, digest]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric())),
            _ => false,
        };
        if !allowed {
            continue;
        }
        let target = dir.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut out = std::fs::File::create(&target).map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut out).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("wrote no report: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read its report: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("its report is larger than {max} bytes"));
    }
    Ok(bytes)
}

/// A Trivy JSON report (`--format json`, schema version 2), the parts portcullis reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub trivy: Option<TrivyVersion>,
    #[serde(default)]
    pub artifact_name: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub results: Vec<ResultEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyVersion {
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Metadata {
    #[serde(default, rename = "ImageID")]
    pub image_id: Option<String>,
    #[serde(default, rename = "DiffIDs", deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
    #[serde(default, rename = "OS")]
    pub os: Option<Os>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Os {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// One `Results[]` entry: the OS packages, or the packages of one language file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultEntry {
    #[serde(default)]
    pub target: String,
    /// `os-pkgs`, `lang-pkgs`, `secret`, `config` ...
    #[serde(default)]
    pub class: Option<String>,
    /// `alpine`, `debian`, `python-pkg`, `gobinary`, `jar` ...
    #[serde(default, rename = "Type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub packages: Vec<TrivyPackage>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub vulnerabilities: Vec<TrivyVulnerability>,
}

/// A package as Trivy lists it (`Results[].Packages[]`, and the package goldens of its
/// tests).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyPackage {
    #[serde(default, rename = "ID")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub epoch: Option<i64>,
    #[serde(default)]
    pub src_name: Option<String>,
    #[serde(default)]
    pub src_version: Option<String>,
    #[serde(default)]
    pub file_path: Option<String>,
    #[serde(default)]
    pub layer: Option<TrivyLayer>,
}

impl TrivyPackage {
    /// The version as the package database writes it: rpm's `[epoch:]version-release`,
    /// which Trivy splits into fields.
    pub fn full_version(&self) -> String {
        let mut version = self.version.clone();
        if let Some(release) = self.release.as_deref().filter(|r| !r.is_empty()) {
            version = format!("{version}-{release}");
        }
        match self.epoch {
            Some(epoch) if epoch > 0 => format!("{epoch}:{version}"),
            _ => version,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TrivyLayer {
    #[serde(default, rename = "Digest")]
    pub digest: Option<String>,
    #[serde(default, rename = "DiffID")]
    pub diff_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TrivyIdentifier {
    #[serde(default, rename = "PURL")]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct DataSource {
    #[serde(default, rename = "ID")]
    pub id: Option<String>,
    #[serde(default, rename = "Name")]
    pub name: Option<String>,
}

/// One `Results[].Vulnerabilities[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    pub id: String,
    #[serde(default, rename = "VendorIDs", deserialize_with = "null_as_default")]
    pub vendor_ids: Vec<String>,
    #[serde(default, rename = "PkgName")]
    pub pkg_name: String,
    #[serde(default, rename = "PkgPath")]
    pub pkg_path: Option<String>,
    #[serde(default, rename = "PkgIdentifier")]
    pub pkg_identifier: Option<TrivyIdentifier>,
    #[serde(default, rename = "InstalledVersion")]
    pub installed_version: String,
    #[serde(default, rename = "FixedVersion")]
    pub fixed_version: Option<String>,
    #[serde(default, rename = "Status")]
    pub status: Option<String>,
    #[serde(default, rename = "Layer")]
    pub layer: Option<TrivyLayer>,
    #[serde(default, rename = "SeveritySource")]
    pub severity_source: Option<String>,
    #[serde(default, rename = "PrimaryURL")]
    pub primary_url: Option<String>,
    #[serde(default, rename = "DataSource")]
    pub data_source: Option<DataSource>,
    #[serde(default, rename = "Title")]
    pub title: Option<String>,
    #[serde(default, rename = "Severity")]
    pub severity: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub fn parse_report(bytes: &[u8]) -> Result<Report, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Trivy's package golden files: a bare list of packages.
pub fn parse_packages(bytes: &[u8]) -> Result<Vec<TrivyPackage>, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl Report {
    pub fn version(&self) -> Option<&str> {
        self.trivy.as_ref().and_then(|t| t.version.as_deref())
    }

    pub fn image_id(&self) -> Option<&str> {
        self.metadata.as_ref().and_then(|m| m.image_id.as_deref())
    }

    /// Every package Trivy found, from every result that lists packages.
    pub fn packages(&self) -> impl Iterator<Item = (&ResultEntry, &TrivyPackage)> {
        self.results
            .iter()
            .flat_map(|r| r.packages.iter().map(move |p| (r, p)))
    }

    /// The report's vulnerabilities in OSV's terms, placed on the inventory's packages:
    /// the package of the same name and installed version (and file, for language
    /// packages) gives the location; one the inventory lacks is placed by Trivy's layer
    /// `DiffID` (`layer_diff_ids` in manifest order) and package path.
    pub fn vulnerabilities(
        &self,
        inventory: &Inventory,
        layer_diff_ids: &[&str],
    ) -> Vec<Vulnerability> {
        let mut out = Vec::new();
        for result in &self.results {
            let os_packages = result.class.as_deref() == Some("os-pkgs");
            for v in &result.vulnerabilities {
                if v.id.is_empty() || v.pkg_name.is_empty() {
                    continue;
                }
                let same = |p: &&portcullis_inventory::Package| {
                    p.name == v.pkg_name
                        && trivy_version_matches(&p.version, &v.installed_version)
                        && is_os_format(p.format) == os_packages
                };
                let candidates: Vec<&portcullis_inventory::Package> =
                    inventory.packages.iter().filter(same).collect();
                let by_path = v.pkg_path.as_deref().and_then(|path| {
                    let path = path.trim_start_matches('/');
                    candidates
                        .iter()
                        .copied()
                        .find(|p| p.path == path || p.path.starts_with(&format!("{path}/")))
                });
                let package = match by_path.or_else(|| candidates.first().copied()) {
                    Some(p) => AffectedPackage::of(p),
                    None => AffectedPackage {
                        name: v.pkg_name.clone(),
                        version: v.installed_version.clone(),
                        ecosystem: result.kind.clone().unwrap_or_default(),
                        purl: v.pkg_identifier.as_ref().and_then(|i| i.purl.clone()),
                        source_name: None,
                        source_version: None,
                        path: v
                            .pkg_path
                            .as_deref()
                            .map(|p| p.trim_start_matches('/').to_string()),
                        layer: v
                            .layer
                            .as_ref()
                            .and_then(|l| l.diff_id.as_deref())
                            .and_then(|d| layer_diff_ids.iter().position(|x| *x == d)),
                    },
                };
                let severity = v
                    .severity
                    .as_deref()
                    .and_then(|s| s.parse::<Severity>().ok())
                    .filter(|_| v.severity.as_deref() != Some("UNKNOWN"))
                    .map(|severity| Rating {
                        severity,
                        basis: format!(
                            "trivy: {}{}",
                            v.severity.as_deref().unwrap_or_default(),
                            v.severity_source
                                .as_deref()
                                .map(|s| format!(" ({s})"))
                                .unwrap_or_default()
                        ),
                    });
                out.push(Vulnerability {
                    id: v.id.clone(),
                    aliases: v.vendor_ids.clone(),
                    upstream: Vec::new(),
                    summary: v.title.clone().filter(|t| !t.is_empty()),
                    severity,
                    fixed_version: v.fixed_version.clone().filter(|f| !f.is_empty()),
                    url: v.primary_url.clone(),
                    package,
                    found_by: Finder::Trivy,
                    database: v.data_source.as_ref().and_then(|d| d.name.clone()),
                });
            }
        }
        out
    }
}

fn is_os_format(format: DbFormat) -> bool {
    matches!(
        format,
        DbFormat::Dpkg | DbFormat::Opkg | DbFormat::Apk | DbFormat::Rpm
    )
}

/// Trivy writes rpm versions without a zero epoch and Go versions with their `v`; the
/// inventory keeps what the database or binary says.
fn trivy_version_matches(inventory: &str, trivy: &str) -> bool {
    inventory == trivy
        || inventory.strip_prefix("0:") == Some(trivy)
        || inventory.strip_prefix('v') == Some(trivy)
        || trivy.strip_prefix('v') == Some(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_come_from_trivys_log() {
        let stderr = "2026-11-23T03:04:27Z\tINFO\tLoading\n\
            2026-11-23T03:04:27Z\tERROR\t[vulndb] The first run cannot skip downloading DB\n\
            2026-11-23T03:04:27Z\tFATAL\tFatal error\trun error: init error\n";
        assert_eq!(
            failure_reason(stderr, Some(1)),
            "[vulndb] The first run cannot skip downloading DB"
        );
        assert_eq!(
            failure_reason("panic: oops\n\ngoroutine 1\n", Some(2)),
            "goroutine 1"
        );
        assert_eq!(failure_reason("", Some(3)), "exited with status 3");
        assert_eq!(failure_reason("", None), "killed by a signal");
        assert!(failure_reason(&"x".repeat(1000), Some(1)).ends_with('…'));
    }

    #[test]
    fn a_command_that_outlives_its_timeout_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("30").stderr(Stdio::piped());
        let started = Instant::now();
        let e = run_with_timeout(&mut command, Duration::from_millis(200))
            .err()
            .unwrap();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let e = run_with_timeout(
            &mut Command::new("/nonexistent/trivy"),
            Duration::from_secs(1),
        )
        .err()
        .unwrap();
        assert!(e.starts_with("cannot run /nonexistent/trivy"), "{e}");
    }

    #[test]
    fn a_database_is_its_file_and_its_metadata() {
        let cache = tempfile::tempdir().unwrap();
        assert!(!has_database(cache.path()));
        std::fs::create_dir(cache.path().join("db")).unwrap();
        std::fs::write(cache.path().join("db/trivy.db"), "").unwrap();
        assert!(!has_database(cache.path()), "no metadata.json");
        std::fs::write(cache.path().join("db/metadata.json"), "{}").unwrap();
        assert_eq!(
            database_metadata(cache.path()),
            Some(DatabaseMetadata::default())
        );
        std::fs::write(
            cache.path().join("db/metadata.json"),
            r#"{"Version":2,"NextUpdate":"2024-02-05T12:14:58.155376286Z","UpdatedAt":"2024-02-05T06:14:58.155376786Z","DownloadedAt":"2024-02-05T09:30:01.1Z"}"#,
        )
        .unwrap();
        let metadata = database_metadata(cache.path()).unwrap();
        assert_eq!(
            metadata.updated_at.as_deref(),
            Some("2024-02-05T06:14:58.155376786Z")
        );
        assert_eq!(
            metadata.downloaded_at.as_deref(),
            Some("2024-02-05T09:30:01.1Z")
        );
        std::fs::write(cache.path().join("db/metadata.json"), "{}").unwrap();
        assert!(has_database(cache.path()));
    }

    #[test]
    fn rpm_versions_are_rebuilt_from_trivys_fields() {
        let package = TrivyPackage {
            version: "2.28".into(),
            release: Some("151.el9".into()),
            epoch: Some(1),
            ..Default::default()
        };
        assert_eq!(package.full_version(), "1:2.28-151.el9");
        assert!(trivy_version_matches("0:2.28-1", "2.28-1"));
        assert!(trivy_version_matches("v1.21.3", "1.21.3"));
        assert!(!trivy_version_matches("1.0", "1.0.1"));
    }
}
