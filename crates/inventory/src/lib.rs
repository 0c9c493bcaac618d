//! What software is inside: the packages of the OS package managers (dpkg, apk, rpm) and of
//! the language ecosystems (Python, npm, Go and Rust executables, Java archives).
//!
//! Each layer's analyzer ([`analyzer`]) parses the databases that layer writes and keeps
//! their records for that layer's report, so the work depends on the layer's bytes alone.
//! The gate's facts stage then reads the merged filesystem: for every database path still
//! visible it takes the records of the layer whose version is visible, and attributes each
//! package to the layer that installed it ([`identify`] names its ecosystem and package
//! URL). `portcullis-version` orders the version strings per ecosystem.

#![forbid(unsafe_code)]

pub mod analyzer;
pub mod apk;
pub mod copyright;
pub mod dpkg;
pub mod gobin;
pub mod java;
pub mod npm;
pub mod os;
pub mod purl;
pub mod python;
pub mod rpm;
pub mod rustbin;

use os::OsRelease;
use purl::Purl;
use serde::{Deserialize, Serialize};

/// Where a package record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbFormat {
    Dpkg,
    Opkg,
    Apk,
    Rpm,
    Python,
    Npm,
    GoBinary,
    RustBinary,
    Java,
    /// A Debian package's `/usr/share/doc/PACKAGE/copyright`: one record, the package's
    /// name and the licences the file names. Not a package of its own: the inventory
    /// gives its licence to the dpkg package of that name.
    DpkgCopyright,
}

/// One package as its database (or file) records it, before the image's distribution is
/// known. `version` is the full version the ecosystem compares: dpkg's
/// `[epoch:]upstream[-revision]`, rpm's `[epoch:]version-release`, apk's `version-rN`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The image's own application (its root `package.json`, `pyproject.toml`), not a
    /// dependency.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub application: bool,
}

/// The packages one file of one layer records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDb {
    pub path: String,
    pub format: DbFormat,
    #[serde(default)]
    pub packages: Vec<PackageRecord>,
    /// Why the file could not be read; its packages are then unknown, not absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One package of the final filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// The OSV ecosystem name: `Debian`, `Ubuntu`, `Alpine`, `Red Hat`, `PyPI`, `npm`,
    /// `Go`, `crates.io`, `Maven` ...
    pub ecosystem: String,
    pub purl: String,
    pub format: DbFormat,
    /// The database or file that records the package.
    pub path: String,
    /// The layer that installed it: the lowest layer from which the database has held this
    /// name and version without interruption.
    pub layer: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The image's own application rather than a dependency.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub application: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub os: Option<OsRelease>,
    pub packages: Vec<Package>,
}

/// The OSV ecosystem and the package URL of a record.
pub fn identify(
    format: DbFormat,
    record: &PackageRecord,
    os: Option<&OsRelease>,
) -> (String, String) {
    let name = record.name.as_str();
    let version = record.version.as_str();
    let distro = os.map(OsRelease::distro_qualifier);
    let os_id = os.map_or("", |o| o.id.as_str());
    match format {
        // Licence records, never listed as packages.
        DbFormat::DpkgCopyright => (String::new(), String::new()),
        DbFormat::Dpkg => {
            let ubuntu = os_id == "ubuntu";
            let namespace = match os {
                Some(o) if o.is_like("debian") || o.is_like("ubuntu") => o.id.as_str(),
                _ => "debian",
            };
            let purl = Purl::new("deb", name)
                .namespace(namespace)
                .version(version)
                .qualifier("arch", record.arch.clone())
                .qualifier("distro", distro);
            (
                (if ubuntu { "Ubuntu" } else { "Debian" }).into(),
                purl.to_string(),
            )
        }
        DbFormat::Opkg => {
            let purl = Purl::new("opkg", name)
                .namespace("openwrt")
                .version(version)
                .qualifier("arch", record.arch.clone())
                .qualifier("distro", distro);
            ("OpenWrt".into(), purl.to_string())
        }
        DbFormat::Apk => {
            let (namespace, ecosystem) = match os_id {
                "wolfi" => ("wolfi", "Wolfi"),
                "chainguard" => ("chainguard", "Chainguard"),
                _ => ("alpine", "Alpine"),
            };
            let purl = Purl::new("apk", name)
                .namespace(namespace)
                .version(version)
                .qualifier("arch", record.arch.clone())
                .qualifier("distro", distro);
            (ecosystem.into(), purl.to_string())
        }
        DbFormat::Rpm => {
            let (epoch, vr) = match version.split_once(':') {
                Some((e, vr)) => (Some(e.to_string()), vr),
                None => (None, version),
            };
            let (namespace, ecosystem) = rpm_vendor(os);
            let mut purl = Purl::new("rpm", name);
            if let Some(namespace) = namespace {
                purl = purl.namespace(namespace);
            }
            let purl = purl
                .version(vr)
                .qualifier("arch", record.arch.clone())
                .qualifier("epoch", epoch)
                .qualifier("distro", distro);
            (ecosystem.into(), purl.to_string())
        }
        DbFormat::Python => {
            let normalized = purl::normalize_python_name(name);
            let purl = Purl::new("pypi", &normalized).version(version).to_string();
            ("PyPI".into(), purl)
        }
        DbFormat::Npm => {
            let purl = match name.split_once('/') {
                Some((scope, bare)) if scope.starts_with('@') => {
                    Purl::new("npm", bare).namespace(scope).version(version)
                }
                _ => Purl::new("npm", name).version(version),
            };
            ("npm".into(), purl.to_string())
        }
        DbFormat::GoBinary => {
            let purl = match name.rsplit_once('/') {
                Some((namespace, bare)) => Purl::new("golang", bare)
                    .namespace(namespace)
                    .version(version),
                None => Purl::new("golang", name).version(version),
            };
            ("Go".into(), purl.to_string())
        }
        DbFormat::RustBinary => (
            "crates.io".into(),
            Purl::new("cargo", name).version(version).to_string(),
        ),
        DbFormat::Java => {
            let purl = match name.split_once(':') {
                Some((group, artifact)) => Purl::new("maven", artifact)
                    .namespace(group)
                    .version(version),
                None => Purl::new("maven", name).version(version),
            };
            ("Maven".into(), purl.to_string())
        }
    }
}

/// The package-URL namespace and OSV ecosystem of an rpm-based distribution. Without a
/// known vendor the namespace is left out and the ecosystem is Red Hat's, the family most
/// rpm distributions descend from.
fn rpm_vendor(os: Option<&OsRelease>) -> (Option<&'static str>, &'static str) {
    let Some(os) = os else {
        return (None, "Red Hat");
    };
    match os.id.as_str() {
        "rhel" => (Some("redhat"), "Red Hat"),
        "centos" => (Some("centos"), "Red Hat"),
        "fedora" => (Some("fedora"), "Red Hat"),
        "rocky" => (Some("rocky"), "Rocky Linux"),
        "almalinux" => (Some("almalinux"), "AlmaLinux"),
        "ol" => (Some("oracle"), "Red Hat"),
        "amzn" => (Some("amazon"), "Red Hat"),
        "sles" | "sle-micro" | "sle-micro-rancher" | "sl-micro" | "sled" => (Some("suse"), "SUSE"),
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" => (Some("opensuse"), "openSUSE"),
        "mariner" => (Some("mariner"), "Azure Linux"),
        "azurelinux" => (Some("azurelinux"), "Azure Linux"),
        "photon" => (Some("photon"), "Photon OS"),
        "mageia" => (Some("mageia"), "Mageia"),
        "openEuler" | "openeuler" => (Some("openeuler"), "openEuler"),
        _ if os.is_like("suse") => (Some("suse"), "SUSE"),
        _ => (None, "Red Hat"),
    }
}
