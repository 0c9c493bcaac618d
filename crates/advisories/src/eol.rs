//! When distribution releases stop getting security updates: the table in
//! `policies/eol.toml` (embedded at build time), and the host's distro-info-data files for
//! Debian and Ubuntu, which win when they are newer than the embedded table.

use portcullis_inventory::os::OsRelease;
use portcullis_model::Date;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// The embedded table.
pub const EMBEDDED: &str = include_str!("../../../policies/eol.toml");
/// Where Debian's distro-info-data installs its CSV files.
pub const DISTRO_INFO_DIR: &str = "/usr/share/distro-info";
/// Largest distro-info CSV read (they are a few KiB).
const MAX_CSV: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum EolError {
    #[error("the end-of-life table: {0}")]
    Table(#[from] toml::de::Error),
    #[error("{file}: {reason}")]
    Csv { file: String, reason: String },
}

/// One release and the day its support ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The os-release `ID` the table files it under (`centos-stream` for CentOS Stream).
    pub distro: String,
    /// The distribution's name: `Debian`, `Alpine Linux` ...
    pub name: String,
    pub version: String,
    pub codename: Option<String>,
    /// The last day of support.
    pub eol: Date,
    /// What ends that day: `Debian LTS`, `standard support` ...
    pub support: String,
    /// Where the date comes from: the embedded table, or a distro-info file.
    pub source: String,
}

/// Distributions are the file's tables (`[debian]`), so unknown keys cannot be refused
/// here; each distribution's own fields are checked.
#[derive(Deserialize)]
struct TableFile {
    updated: Date,
    #[serde(flatten)]
    distros: BTreeMap<String, DistroFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistroFile {
    name: String,
    support: String,
    releases: Vec<ReleaseFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseFile {
    version: String,
    #[serde(default)]
    codename: Option<String>,
    eol: Date,
}

/// The end-of-life dates of every known release.
#[derive(Debug, Clone)]
pub struct EolTable {
    /// When the embedded data was last checked.
    pub updated: Date,
    releases: Vec<Release>,
}

impl EolTable {
    /// Parses a table in the format of `policies/eol.toml`.
    pub fn parse(text: &str, source: &str) -> Result<EolTable, EolError> {
        let file: TableFile = toml::from_str(text)?;
        let mut releases = Vec::new();
        for (distro, d) in file.distros {
            for r in d.releases {
                releases.push(Release {
                    distro: distro.clone(),
                    name: d.name.clone(),
                    version: r.version,
                    codename: r.codename,
                    eol: r.eol,
                    support: d.support.clone(),
                    source: source.to_string(),
                });
            }
        }
        Ok(EolTable {
            updated: file.updated,
            releases,
        })
    }

    /// The table compiled into portcullis.
    pub fn embedded() -> EolTable {
        EolTable::parse(EMBEDDED, "portcullis end-of-life table")
            .expect("policies/eol.toml is valid (a unit test parses it)")
    }

    /// Merges the releases of a distro-info CSV (`debian.csv` or `ubuntu.csv`). When the
    /// file is at least as new as the table (`modified`), its dates replace the table's;
    /// otherwise it only adds releases the table lacks.
    pub fn merge_distro_info(
        &mut self,
        distro: &str,
        csv: &str,
        file: &str,
        modified: Option<Date>,
    ) -> Result<(), EolError> {
        let newer = modified.is_some_and(|m| m >= self.updated);
        for release in parse_distro_info(distro, csv, file)? {
            let existing = self
                .releases
                .iter_mut()
                .find(|r| r.distro == release.distro && r.version == release.version);
            match existing {
                Some(r) if newer => *r = release,
                Some(_) => {}
                None => self.releases.push(release),
            }
        }
        Ok(())
    }

    /// The embedded table with the distro-info files of `dir` merged in; a file that is
    /// missing or unreadable is left out.
    pub fn with_distro_info_dir(mut self, dir: &Path) -> EolTable {
        for distro in ["debian", "ubuntu"] {
            let path = dir.join(format!("{distro}.csv"));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > MAX_CSV {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs() / 86_400).ok())
                .map(Date::from_unix_days);
            let file = path.display().to_string();
            // A malformed host file must not hide the embedded dates.
            let mut merged = self.clone();
            if merged
                .merge_distro_info(distro, &text, &file, modified)
                .is_ok()
            {
                self = merged;
            }
        }
        self
    }

    /// The release an image's os-release describes, if the table knows it.
    pub fn lookup(&self, os: &OsRelease) -> Option<&Release> {
        let (distro, version) = release_key(os)?;
        self.releases
            .iter()
            .find(|r| r.distro == distro && r.version == version)
            .or_else(|| {
                let codename = os.version_codename.as_deref()?;
                self.releases
                    .iter()
                    .find(|r| r.distro == distro && r.codename.as_deref() == Some(codename))
            })
    }

    pub fn releases(&self) -> &[Release] {
        &self.releases
    }
}

/// The table the checks use: embedded, with the host's distro-info files.
pub fn table() -> &'static EolTable {
    static TABLE: OnceLock<EolTable> = OnceLock::new();
    TABLE.get_or_init(|| EolTable::embedded().with_distro_info_dir(Path::new(DISTRO_INFO_DIR)))
}

/// Which row of the table describes `os`: the distribution and the version cut to the
/// precision its releases are named by.
fn release_key(os: &OsRelease) -> Option<(&'static str, String)> {
    let version = os.version_id.as_deref().unwrap_or("").trim();
    let major = || version.split('.').next().unwrap_or("").to_string();
    let major_minor = || version.split('.').take(2).collect::<Vec<_>>().join(".");
    let stream = os.name.as_deref().is_some_and(|n| n.contains("Stream"))
        || os
            .pretty_name
            .as_deref()
            .is_some_and(|n| n.contains("Stream"));
    let key = match os.id.as_str() {
        // Testing and unstable (`trixie/sid`) have no end of life yet.
        "debian" if version.contains('/') => return None,
        "debian" => ("debian", major()),
        "ubuntu" => ("ubuntu", major_minor()),
        "alpine" => ("alpine", major_minor()),
        "rhel" | "redhat" => ("rhel", major()),
        "centos" if stream => ("centos-stream", major()),
        "centos" => ("centos", major()),
        "rocky" => ("rocky", major()),
        "almalinux" | "alma" => ("almalinux", major()),
        "ol" | "oracle" => ("ol", major()),
        "amzn" | "amazon" => ("amzn", version.to_string()),
        "fedora" => ("fedora", major()),
        "sles" | "sled" => ("sles", sles_version(version)),
        "opensuse-leap" | "opensuse" => ("opensuse-leap", major_minor()),
        _ => return None,
    };
    // A release is found by its codename when the version says nothing.
    Some(key)
}

/// SLES 15 without a service pack is `15`; `15.0` names the same release.
fn sles_version(version: &str) -> String {
    let parts: Vec<&str> = version.split('.').take(2).collect();
    match parts.as_slice() {
        [major, "0"] => major.to_string(),
        _ => parts.join("."),
    }
}

/// The releases of a distro-info CSV that have an end of life: Debian's LTS date when
/// it has one, else its security support; Ubuntu's server date when it has one, else its
/// standard support.
fn parse_distro_info(distro: &str, csv: &str, file: &str) -> Result<Vec<Release>, EolError> {
    let bad = |reason: String| EolError::Csv {
        file: file.to_string(),
        reason,
    };
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("empty".into()))?
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(version_col), Some(series_col), Some(eol_col)) =
        (column("version"), column("series"), column("eol"))
    else {
        return Err(bad("no version, series and eol columns".into()));
    };
    let (extended_col, name, extended_support, support) = match distro {
        "debian" => (
            column("eol-lts"),
            "Debian",
            "Debian LTS",
            "security support",
        ),
        _ => (
            column("eol-server"),
            "Ubuntu",
            "standard support",
            "standard support",
        ),
    };
    let mut releases = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).copied().unwrap_or("");
        let version = get(Some(version_col)).trim_end_matches(" LTS");
        if version.is_empty() {
            continue;
        }
        let date = |text: &str| -> Result<Option<Date>, EolError> {
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|e| bad(format!("line {}: {e}", n + 2)))
        };
        let (eol, support) = match date(get(extended_col))? {
            Some(d) => (d, extended_support),
            None => match date(get(Some(eol_col)))? {
                Some(d) => (d, support),
                None => continue,
            },
        };
        releases.push(Release {
            distro: distro.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            codename: Some(get(Some(series_col)).to_string()).filter(|c| !c.is_empty()),
            eol,
            support: support.to_string(),
            source: file.to_string(),
        });
    }
    Ok(releases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(id: &str, version: Option<&str>) -> OsRelease {
        OsRelease {
            id: id.into(),
            version_id: version.map(str::to_string),
            ..Default::default()
        }
    }

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn the_embedded_table_parses_and_names_each_release_once() {
        let table = EolTable::embedded();
        assert!(table.releases().len() > 100);
        let mut seen = std::collections::HashSet::new();
        for r in table.releases() {
            assert!(
                seen.insert((&r.distro, &r.version)),
                "{} {}",
                r.distro,
                r.version
            );
        }
    }

    #[test]
    fn releases_are_found_at_their_precision() {
        let table = EolTable::embedded();
        let cases: &[(OsRelease, Option<&str>)] = &[
            (os("debian", Some("12")), Some("2028-06-30")),
            (os("debian", Some("trixie/sid")), None),
            (os("ubuntu", Some("22.04")), Some("2027-06-01")),
            (os("alpine", Some("3.10.4")), Some("2021-05-01")),
            (os("alpine", Some("3.99.0")), None),
            (os("rhel", Some("9.4")), Some("2032-05-31")),
            (os("centos", Some("7")), Some("2024-06-30")),
            (
                OsRelease {
                    name: Some("CentOS Stream".into()),
                    ..os("centos", Some("9"))
                },
                Some("2027-05-31"),
            ),
            (os("amzn", Some("2")), Some("2026-06-30")),
            (os("amzn", Some("2023")), Some("2029-06-30")),
            (os("sles", Some("15.0")), Some("2019-12-31")),
            (os("sles", Some("15.5")), Some("2024-12-31")),
            (os("opensuse-leap", Some("15.5")), Some("2024-12-31")),
            (os("fedora", Some("39")), Some("2024-11-26")),
            (os("wolfi", None), None),
            (
                OsRelease {
                    version_codename: Some("bookworm".into()),
                    ..os("debian", None)
                },
                Some("2028-06-30"),
            ),
        ];
        for (os, want) in cases {
            let got = table.lookup(os).map(|r| r.eol.to_string());
            assert_eq!(got.as_deref(), *want, "{os:?}");
        }
    }

    const DEBIAN_CSV: &str = "version,codename,series,created,release,eol,eol-lts,eol-elts\n\
        ,Sid,sid,1993-08-16\n\
        12,Bookworm,bookworm,2021-08-14,2023-06-10,2026-06-10,2028-06-30,2033-06-30\n\
        14,Forky,forky,2025-08-09\n\
        99,Future,future,2030-01-01,2031-01-01,2034-01-01\n";

    #[test]
    fn distro_info_wins_only_when_newer() {
        let mut table = EolTable::parse(
            "updated = 2026-01-01\n[debian]\nname = \"Debian\"\nsupport = \"Debian LTS\"\nreleases = [{ version = \"12\", codename = \"bookworm\", eol = 2000-01-01 }]\n",
            "t",
        )
        .unwrap();
        let mut older = table.clone();
        older
            .merge_distro_info("debian", DEBIAN_CSV, "debian.csv", Some(date("2025-01-01")))
            .unwrap();
        let bookworm = older.lookup(&os("debian", Some("12"))).unwrap();
        assert_eq!(bookworm.eol, date("2000-01-01"), "the older file loses");
        let future = older.lookup(&os("debian", Some("99"))).unwrap();
        assert_eq!(
            future.eol,
            date("2034-01-01"),
            "but adds what the table lacks"
        );
        assert_eq!(future.support, "security support");

        table
            .merge_distro_info("debian", DEBIAN_CSV, "debian.csv", Some(date("2026-02-01")))
            .unwrap();
        let bookworm = table.lookup(&os("debian", Some("12"))).unwrap();
        assert_eq!(bookworm.eol, date("2028-06-30"));
        assert_eq!(bookworm.support, "Debian LTS");
        assert_eq!(bookworm.source, "debian.csv");
        assert!(table.lookup(&os("debian", Some("14"))).is_none());
    }

    #[test]
    fn ubuntu_csv_uses_the_server_date() {
        let csv = "version,codename,series,created,release,eol,eol-server,eol-esm\n\
                   10.04 LTS,Lucid Lynx,lucid,2009-10-29,2010-04-29,2013-05-09,2015-04-30,\n\
                   24.04 LTS,Noble Numbat,noble,2023-10-12,2024-04-25,2029-05-31,2029-05-31,2034-04-25\n";
        let releases = parse_distro_info("ubuntu", csv, "ubuntu.csv").unwrap();
        assert_eq!(releases.len(), 2);
        assert_eq!(releases[0].version, "10.04");
        assert_eq!(releases[0].eol, date("2015-04-30"));
        assert!(parse_distro_info("ubuntu", "nonsense\n1,2\n", "u").is_err());
        assert!(
            parse_distro_info(
                "debian",
                DEBIAN_CSV.replace("2028-06-30", "soon").as_str(),
                "d"
            )
            .is_err()
        );
    }

    #[test]
    fn a_host_directory_with_broken_files_keeps_the_embedded_dates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("debian.csv"),
            "version,series,eol\n12,bookworm,garbage\n",
        )
        .unwrap();
        let table = EolTable::embedded().with_distro_info_dir(dir.path());
        assert_eq!(
            table.lookup(&os("debian", Some("12"))).unwrap().eol,
            date("2028-06-30")
        );
    }
}
