//! Known vulnerabilities from an offline OSV database.
//!
//! A database is what osv.dev publishes per ecosystem (`all.zip` of OSV JSON records) or a
//! directory tree of records (`*.json`, and the YAML that pypa/advisory-database writes).
//! [`Database::load`] streams every record once and keeps, indexed by (ecosystem, package
//! name), only what matching needs, and only for the packages it is asked about, so an
//! ecosystem export of 100 000 records costs one pass and the memory of the few that
//! concern the image. [`Database::affecting`] then answers for one package of the
//! inventory.
//!
//! Names are matched as each ecosystem's records name packages: Debian, Ubuntu, Alpine and
//! the other distributions the OSV ecosystem list describes by source package are looked
//! up by the package's source name (an advisory for `openssl` covers `libssl3`), Red Hat
//! by binary and source name, PyPI by PEP 503 normalised name, the rest by name. Versions
//! are ordered by [`portcullis_version`], the ordering each ecosystem's tools use.

pub mod cvss;
mod load;
pub mod matching;
pub mod record;
pub mod repository;
pub mod store;
pub mod update;

pub use load::{Limits, LoadError, for_each_record};

use portcullis_inventory::Package;
use portcullis_inventory::os::OsRelease;
use portcullis_inventory::purl::normalize_python_name;
use record::{Affected, Rating, Record};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// A package affected by a vulnerability, in OSV's terms, whichever source found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vulnerability {
    /// The record's id (`GHSA-…`, `DSA-3029-1`, `CVE-…` for Trivy).
    pub id: String,
    pub aliases: Vec<String>,
    /// What the record is derived from (a DSA's or USN's CVEs).
    pub upstream: Vec<String>,
    pub summary: Option<String>,
    /// `None` when the source gives no usable rating.
    pub severity: Option<Rating>,
    /// The nearest version that fixes it; `None` when none does yet.
    pub fixed_version: Option<String>,
    pub url: Option<String>,
    pub package: AffectedPackage,
    pub found_by: Finder,
    /// The database that holds the record: the OSV database's path, or Trivy's data source.
    pub database: Option<String>,
}

/// The installed package a vulnerability affects, with where it lives in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedPackage {
    pub name: String,
    pub version: String,
    pub ecosystem: String,
    pub purl: Option<String>,
    pub source_name: Option<String>,
    pub source_version: Option<String>,
    /// The database or file that records the package (normalised image path).
    pub path: Option<String>,
    /// The layer that installed it.
    pub layer: Option<usize>,
}

impl AffectedPackage {
    pub fn of(package: &Package) -> AffectedPackage {
        AffectedPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            ecosystem: package.ecosystem.clone(),
            purl: Some(package.purl.clone()),
            source_name: package.source_name.clone(),
            source_version: package.source_version.clone(),
            path: Some(package.path.clone()),
            layer: Some(package.layer),
        }
    }
}

/// Which source reported a vulnerability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Finder {
    Osv,
    Trivy,
}

impl Finder {
    pub fn as_str(self) -> &'static str {
        match self {
            Finder::Osv => "osv",
            Finder::Trivy => "trivy",
        }
    }
}

/// The (ecosystem, name) pairs a database is asked about; records for other packages are
/// dropped while loading.
pub type Wanted = HashSet<Key>;

/// An index key: the ecosystem without its release suffix, and the package name as the
/// ecosystem compares names.
pub type Key = (String, String);

/// Counts of what loading read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub databases: usize,
    /// OSV records read, withdrawn ones included.
    pub records: usize,
    pub withdrawn: usize,
    /// Files that were not usable OSV records.
    pub skipped: usize,
    /// Records kept because they name a package asked about.
    pub kept: usize,
}

/// A file of a database that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub database: PathBuf,
    /// The record file, inside the zip or below the directory.
    pub file: String,
    pub reason: String,
}

/// What a record says, without its affected entries (those are in the index).
#[derive(Debug, Clone)]
struct Advisory {
    record: Record,
    /// Index into `Database::databases`.
    database: usize,
}

/// Loaded OSV databases, indexed by [`Key`].
#[derive(Debug, Default)]
pub struct Database {
    databases: Vec<PathBuf>,
    advisories: Vec<Advisory>,
    index: HashMap<Key, Vec<(usize, Affected)>>,
    pub stats: Stats,
    pub problems: Vec<Problem>,
}

impl Database {
    /// Every vulnerability of the database that affects `package` on the image's
    /// distribution `os`.
    pub fn affecting(&self, package: &Package, os: Option<&OsRelease>) -> Vec<Vulnerability> {
        let version = matching_version(package);
        let mut out: Vec<Vulnerability> = Vec::new();
        for key in keys(package) {
            let Some(entries) = self.index.get(&key) else {
                continue;
            };
            for (advisory, affected) in entries {
                if !matching::release_matches(&affected.ecosystem, os) {
                    continue;
                }
                let Some(verdict) = matching::affects(affected, version) else {
                    continue;
                };
                let Some(Advisory { record, database }) = self.advisories.get(*advisory) else {
                    continue;
                };
                if out.iter().any(|v| v.id == record.id) {
                    continue;
                }
                out.push(Vulnerability {
                    id: record.id.clone(),
                    aliases: record.aliases.clone(),
                    upstream: record.upstream.clone(),
                    summary: record.summary.clone(),
                    severity: affected
                        .severity
                        .clone()
                        .or_else(|| record.severity.clone()),
                    fixed_version: verdict.fixed,
                    url: record.url.clone(),
                    package: AffectedPackage::of(package),
                    found_by: Finder::Osv,
                    database: self
                        .databases
                        .get(*database)
                        .map(|p| p.display().to_string()),
                });
            }
        }
        out
    }

    /// Records that affect some package of the index, after loading.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Adds a record read from `database`, keeping only the entries `wanted` asks about.
    fn insert(&mut self, mut record: Record, database: usize, wanted: Option<&Wanted>) {
        let affected = std::mem::take(&mut record.affected);
        let index = self.advisories.len();
        let mut kept = false;
        for entry in affected {
            let key = (
                affected_ecosystem_base(&entry.ecosystem).to_string(),
                name_key(affected_ecosystem_base(&entry.ecosystem), &entry.name),
            );
            if wanted.is_some_and(|w| !w.contains(&key)) {
                continue;
            }
            self.index.entry(key).or_default().push((index, entry));
            kept = true;
        }
        if kept {
            self.advisories.push(Advisory { record, database });
            self.stats.kept += 1;
        }
    }
}

/// The ecosystem without its `:RELEASE` suffix.
fn affected_ecosystem_base(ecosystem: &str) -> &str {
    ecosystem
        .split_once(':')
        .map_or(ecosystem, |(base, _)| base)
}

/// A package name as its ecosystem compares names.
fn name_key(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "PyPI" => normalize_python_name(name),
        _ => name.to_string(),
    }
}

/// Ecosystems whose records name the source package (the OSV ecosystem list).
fn by_source_name(ecosystem: &str) -> bool {
    matches!(
        ecosystem,
        "Debian"
            | "Ubuntu"
            | "Alpine"
            | "Alpaquita"
            | "BellSoft Hardened Containers"
            | "AlmaLinux"
            | "Rocky Linux"
            | "Azure Linux"
            | "Mageia"
            | "openEuler"
            | "openSUSE"
            | "SUSE"
            | "Echo"
    )
}

/// The index keys a package is looked up by.
pub fn keys(package: &Package) -> Vec<Key> {
    let ecosystem = package.ecosystem.as_str();
    let source = package.source_name.as_deref().filter(|s| !s.is_empty());
    let mut names = Vec::new();
    if by_source_name(ecosystem) {
        names.push(source.unwrap_or(&package.name));
    } else {
        names.push(package.name.as_str());
        // Red Hat's records name binary or source RPMs.
        if ecosystem == "Red Hat"
            && let Some(source) = source
            && source != package.name
        {
            names.push(source);
        }
    }
    names
        .into_iter()
        .map(|n| (ecosystem.to_string(), name_key(ecosystem, n)))
        .collect()
}

/// The version a package is matched by: Debian and Ubuntu advisories give source package
/// versions, which a binary rebuilt without source changes (`+b1`) does not carry.
fn matching_version(package: &Package) -> &str {
    match package.ecosystem.as_str() {
        "Debian" | "Ubuntu" => package
            .source_version
            .as_deref()
            .filter(|v| !v.is_empty())
            .unwrap_or(&package.version),
        _ => &package.version,
    }
}

/// The keys of every package of an inventory.
pub fn wanted<'a>(packages: impl IntoIterator<Item = &'a Package>) -> Wanted {
    packages.into_iter().flat_map(keys).collect()
}

/// The osv.dev exports that hold the records for `packages` on the distribution `os`: a
/// distribution's own release where osv.dev exports one (`Debian:12`, `Alpine:v3.20`,
/// `AlmaLinux:9`, `Rocky Linux:9`), else the whole ecosystem (`Ubuntu`, `PyPI`, `npm`).
pub fn exports_for<'a>(
    packages: impl IntoIterator<Item = &'a Package>,
    os: Option<&OsRelease>,
) -> Vec<String> {
    let version = os.and_then(|o| o.version_id.as_deref()).unwrap_or_default();
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut out: Vec<String> = packages
        .into_iter()
        .map(|p| match p.ecosystem.as_str() {
            e @ ("Debian" | "AlmaLinux" | "Rocky Linux") if numeric(major) => {
                format!("{e}:{major}")
            }
            "Alpine" if numeric(major) && numeric(minor) => format!("Alpine:v{major}.{minor}"),
            e => e.to_string(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a database that holds the exports `held` has the records of export `needed`:
/// the same export, or its whole ecosystem (`Debian` holds `Debian:12`).
pub fn export_covered(needed: &str, held: &str) -> bool {
    needed == held || affected_ecosystem_base(needed) == held
}
