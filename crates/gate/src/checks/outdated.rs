//! The `outdated` family: OS packages older than what the distribution's repositories
//! offer.
//!
//! The installed dpkg, apk and rpm packages are compared with the package indexes loaded
//! for the scan (`--package-index`, `--fetch-indexes`): a package is outdated when an index
//! of its format lists a newer version under the same name (and, for dpkg and rpm, the same
//! architecture), ordered the way the package manager orders versions. An update from a
//! security suite (`bookworm-security`, `jammy-security`) is what a vulnerability scanner
//! would eventually report as fixed, so it ranks above a plain update.

use super::{Check, Family, Reference, at_layer_path};
use crate::facts::ImageFacts;
use crate::policy::waivers::DATA_PACKAGE;
use crate::policy::{Policy, Severity};
use portcullis_advisories::index::{IndexFormat, IndexSet, PackageIndex};
use portcullis_inventory::{self, Package};
use portcullis_model::Finding;
use portcullis_version as version;
use std::cmp::Ordering;

pub static PACKAGE: Check = Check {
    id: "outdated-package",
    family: "outdated",
    title: "Newer package version available",
    severity: Severity::Low,
    description: "An installed OS package is older than the newest version its distribution's \
        repositories offer. Images that are not rebuilt fall behind the bug fixes of their \
        distribution's point releases and updates.",
    remediation: "Rebuild the image on a current base image, or upgrade its packages while \
        building (`apt-get update && apt-get upgrade`, `apk upgrade`, `dnf upgrade`).",
    references: &[Reference::Cis("4.4"), Reference::Cwe(1104)],
};

pub static SECURITY: Check = Check {
    id: "outdated-security",
    family: "outdated",
    title: "Security update available",
    severity: Severity::Medium,
    description: "A security suite of the distribution (Debian's and Ubuntu's `*-security`) \
        offers a newer version of an installed OS package. Security suites only carry fixes \
        for vulnerabilities, so the installed version has a known, fixed vulnerability.",
    remediation: "Rebuild the image on a current base image, or install the security \
        updates while building (`apt-get update && apt-get upgrade`).",
    references: &[Reference::Cis("4.4"), Reference::Cwe(1395)],
};

pub static FAMILY: Family = Family {
    name: "outdated",
    checks: &[&PACKAGE, &SECURITY],
    run,
};

/// The newest offer above the installed version: from any index, and from security
/// indexes alone.
struct Newer<'a> {
    newest: Option<(&'a PackageIndex, &'a str)>,
    security: Option<(&'a PackageIndex, &'a str)>,
}

fn newer<'a>(indexes: &'a IndexSet, format: IndexFormat, package: &'a Package) -> Newer<'a> {
    let scheme = format.scheme();
    let above = |candidate: &str, than: &str| {
        version::compare(scheme, candidate, than) == Some(Ordering::Greater)
    };
    let mut out = Newer {
        newest: None,
        security: None,
    };
    for (index, offer) in indexes.offers(format, &package.name, package.arch.as_deref()) {
        let offered = offer.version.as_str();
        if !above(offered, &package.version) {
            continue;
        }
        let slots = [
            Some(&mut out.newest),
            index.origin.security.then_some(&mut out.security),
        ];
        for slot in slots.into_iter().flatten() {
            if slot.is_none_or(|(_, kept)| above(offered, kept)) {
                *slot = Some((index, offered));
            }
        }
    }
    out
}

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    if !policy.params.packages.check_outdated || facts.package_indexes.is_empty() {
        return Vec::new();
    }
    let inventory = facts.inventory();
    let mut findings = Vec::new();
    for package in &inventory.packages {
        let Some(format) = IndexFormat::for_db(package.format) else {
            continue;
        };
        let newer = newer(&facts.package_indexes, format, package);
        let (check, (index, available)) = match (newer.security, newer.newest) {
            (Some(security), _) => (&SECURITY, security),
            (None, Some(newest)) => (&PACKAGE, newest),
            (None, None) => continue,
        };
        let suite = index.origin.label();
        let message = if check.id == SECURITY.id {
            format!(
                "{} {} has a security update: {available} in {suite}",
                package.name, package.version
            )
        } else {
            format!(
                "{} {} is outdated: {available} in {suite}",
                package.name, package.version
            )
        };
        let mut finding = check
            .finding(message)
            .with_data(DATA_PACKAGE, package.name.clone())
            .with_data("installed_version", package.version.clone())
            .with_data("available_version", available)
            .with_data("suite", suite)
            .with_data("index", index.origin.location.clone())
            .with_data("security", index.origin.security)
            .with_data("purl", package.purl.clone());
        if let Some((newest_index, newest)) = newer.newest
            && newest != available
        {
            finding = finding
                .with_data("newest_version", newest)
                .with_data("newest_suite", newest_index.origin.label());
        }
        if let Some(arch) = &package.arch {
            finding = finding.with_data("arch", arch.clone());
        }
        if let Some(source) = &package.source_name {
            finding = finding.with_data("source_package", source.clone());
        }
        findings.push(at_layer_path(facts, finding, &package.path, package.layer));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_advisories::index::Origin;
    use portcullis_inventory::DbFormat;

    fn package(name: &str, version: &str, arch: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            source_name: None,
            source_version: None,
            ecosystem: "Debian".into(),
            purl: String::new(),
            format: DbFormat::Dpkg,
            path: "var/lib/dpkg/status".into(),
            layer: 0,
            arch: Some(arch.into()),
            license: None,
            application: false,
        }
    }

    fn index(suite: &str, entries: &[(&str, &str, &str)]) -> PackageIndex {
        let mut index = PackageIndex::new(IndexFormat::Deb, Origin::new(Some(suite.into()), "x"));
        for (name, arch, version) in entries {
            index.add(name, Some(arch), version).unwrap();
        }
        index
    }

    #[test]
    fn security_offers_rank_above_plain_ones() {
        let set = IndexSet {
            indexes: vec![
                index(
                    "bookworm",
                    &[
                        ("libc6", "amd64", "2.36-9+deb12u10"),
                        ("curl", "amd64", "7.88.1-10+deb12u8"),
                    ],
                ),
                index("bookworm-security", &[("libc6", "amd64", "2.36-9+deb12u9")]),
            ],
        };
        let libc = package("libc6", "2.36-9+deb12u4", "amd64");
        let n = newer(&set, IndexFormat::Deb, &libc);
        assert_eq!(n.security.map(|(_, v)| v), Some("2.36-9+deb12u9"));
        assert_eq!(n.newest.map(|(_, v)| v), Some("2.36-9+deb12u10"));

        let current = package("libc6", "2.36-9+deb12u9", "amd64");
        let n = newer(&set, IndexFormat::Deb, &current);
        assert!(n.security.is_none());
        assert_eq!(n.newest.map(|(i, _)| i.origin.label()), Some("bookworm"));

        let other_arch = package("libc6", "2.36-9", "i386");
        let n = newer(&set, IndexFormat::Deb, &other_arch);
        assert!(n.newest.is_none() && n.security.is_none());

        let newer_than_index = package("curl", "8.0.0-1", "amd64");
        assert!(
            newer(&set, IndexFormat::Deb, &newer_than_index)
                .newest
                .is_none()
        );
    }
}
