//! `[params.packages]` and `[params.osv]` of a policy: where package indexes and
//! vulnerability data come from.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[params.packages]`: the package inventory, the image's own package indexes and the
/// end-of-life table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackageParams {
    /// Compare installed OS packages with package indexes: those given with
    /// `--package-index`, and with `--fetch-indexes` those of the repositories the image
    /// itself is configured with (apt sources, apk repositories, yum repositories).
    pub check_outdated: bool,
    /// Where downloaded package indexes are cached; empty means the user cache directory.
    pub index_cache: PathBuf,
    /// Re-download a cached index older than this many hours.
    pub index_max_age_hours: u32,
    /// Never download: use cached indexes only, and report a diagnostic when one is missing.
    pub offline: bool,
    /// Without `--package-index` or `--fetch-indexes`, compare with the indexes of the
    /// repositories the image is configured with, through the index cache; what cannot be
    /// had is said in the report's sources.
    pub image_repositories: bool,
    /// Warn this many days before a distribution reaches its end of life.
    pub eol_warning_days: u32,
}

impl Default for PackageParams {
    fn default() -> Self {
        PackageParams {
            check_outdated: true,
            index_cache: PathBuf::new(),
            index_max_age_hours: 24,
            offline: false,
            image_repositories: true,
            eol_warning_days: 90,
        }
    }
}

/// `[params.osv]`: known vulnerabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsvParams {
    /// Offline OSV databases: directories of OSV JSON records, or osv.dev `all.zip` exports;
    /// relative paths are relative to the policy file.
    pub databases: Vec<PathBuf>,
    /// VEX documents (OpenVEX or CycloneDX) whose `not_affected` and `fixed` statements
    /// suppress vulnerability findings; relative paths are relative to the policy file.
    pub vex: Vec<PathBuf>,
    /// Run Trivy for vulnerabilities: `auto` (when it is installed and its vulnerability
    /// database is in its cache), `always` (database or not; an error when it is not
    /// installed), `never`.
    pub trivy: TrivyMode,
    /// Leave out vulnerabilities that no released version fixes yet.
    pub ignore_unfixed: bool,
    /// OSV ecosystems to match (`Debian`, `Alpine`, `PyPI`, `npm`, `Go`, `crates.io` ...);
    /// empty means all.
    pub ecosystems: Vec<String>,
    /// Stop Trivy after this many seconds; the scan goes on without its results.
    pub trivy_timeout_seconds: u32,
    /// Match against the local database (`portcullis db update`) too.
    pub local_database: bool,
    /// A scan updates the exports its image needs when they are missing or were last
    /// checked longer ago than this (unless offline).
    pub db_max_age_hours: u32,
}

impl Default for OsvParams {
    fn default() -> Self {
        OsvParams {
            databases: Vec::new(),
            vex: Vec::new(),
            trivy: TrivyMode::Auto,
            ignore_unfixed: false,
            ecosystems: Vec::new(),
            trivy_timeout_seconds: 600,
            local_database: true,
            db_max_age_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrivyMode {
    Auto,
    Always,
    Never,
}
