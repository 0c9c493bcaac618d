//! The `vulns` family: installed packages with known vulnerabilities.
//!
//! The vulnerabilities come from outside the image: the enrich stage
//! ([`crate::enrich::vulns`]) matches the package inventory against offline OSV databases
//! and, when it is installed, runs Trivy on the same image, and records in the facts what
//! each source found and what became of it. [`run`] turns that into one finding per package and
//! vulnerability: reports of the same vulnerability (by id or alias) on the same installed
//! package, from several records or from both sources, are one finding.

use super::{Check, Family, Reference, at_layer_path};
use portcullis_advisories::osv::{Finder, Vulnerability};
use portcullis_model::path;

use crate::facts::ImageFacts;
use crate::policy::{Policy, Severity};
use crate::report::Finding;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub static PACKAGE: Check = Check {
    id: "vuln-package",
    family: "vulns",
    title: "Package with a known vulnerability",
    severity: Severity::High,
    description: "An installed package's version is affected by a published vulnerability: \
        an OSV record (from the databases given with --osv-db or the policy's \
        osv.databases) or Trivy's database lists it. The finding's severity is the one the \
        record gives (its database's rating, else the CVSS v3 base score of its vector); a \
        record without a usable rating is reported as info. The finding names the \
        package's database file and the layer that installed it.",
    remediation: "Upgrade the package to the fixed version (data.fixed_version), or rebuild \
        on a base image that ships it; for a vulnerability no release fixes yet, remove the \
        package if the image does not need it, or waive the finding with a reason \
        (`rule = \"<vulnerability id>\"` in the waiver names one vulnerability).",
    references: &[
        Reference::Url("https://ossf.github.io/osv-schema/"),
        Reference::Cwe(1395),
    ],
};

pub static FAMILY: Family = Family {
    name: "vulns",
    checks: &[&PACKAGE],
    run,
};

/// One vulnerability of one installed package, merged from every report of it.
struct Merged<'a> {
    reports: Vec<&'a Vulnerability>,
}

impl Merged<'_> {
    fn names(&self) -> BTreeSet<&str> {
        self.reports.iter().flat_map(|v| names_of(v)).collect()
    }

    /// The name a person searches for: the one CVE every report shares when there is one,
    /// else the first OSV record's id.
    fn primary(&self) -> &str {
        let cves: BTreeSet<&str> = self
            .names()
            .into_iter()
            .filter(|n| n.starts_with("CVE-"))
            .collect();
        if cves.len() == 1
            && let Some(cve) = cves.first()
        {
            return cve;
        }
        self.reports.first().map_or("", |v| v.id.as_str())
    }
}

/// The names of the vulnerability a report is about: its id and aliases, and the one
/// upstream id of a record derived from a single CVE (osv.dev's `ALPINE-CVE-…`,
/// `DEBIAN-CVE-…`, `UBUNTU-CVE-…` records name their CVE there). A notice derived from
/// several CVEs (a USN, a DLA) is about all of them, and none of them is its name.
fn names_of(v: &Vulnerability) -> BTreeSet<&str> {
    let single_upstream = match v.upstream.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    std::iter::once(v.id.as_str())
        .chain(v.aliases.iter().map(String::as_str))
        .chain(single_upstream)
        .collect()
}

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    let params = &policy.params.osv;
    let mut reports: Vec<&Vulnerability> = facts
        .vulnerabilities
        .iter()
        .filter(|v| {
            params.ecosystems.is_empty()
                || params.ecosystems.iter().any(|e| {
                    let base = v.package.ecosystem.split(':').next().unwrap_or_default();
                    e.eq_ignore_ascii_case(base)
                })
        })
        .collect();
    reports.sort_by(|a, b| (a.found_by, &a.id).cmp(&(b.found_by, &b.id)));
    // Reports about the same installed package: name, version and the file recording it.
    let mut by_package: BTreeMap<(&str, &str, Option<&str>), Vec<&Vulnerability>> = BTreeMap::new();
    for v in reports {
        let p = &v.package;
        by_package
            .entry((&p.name, &p.version, p.path.as_deref()))
            .or_default()
            .push(v);
    }
    let mut merged: Vec<Merged> = Vec::new();
    for reports in by_package.into_values() {
        let mut groups: Vec<Merged> = Vec::new();
        for v in reports {
            let names = names_of(v);
            // Groups that share a name with this report: it joins the first, and joins
            // them all into one.
            let overlapping: Vec<usize> = groups
                .iter()
                .enumerate()
                .filter(|(_, m)| !m.names().is_disjoint(&names))
                .map(|(i, _)| i)
                .collect();
            match overlapping.split_first() {
                None => groups.push(Merged { reports: vec![v] }),
                Some((&target, rest)) => {
                    for &i in rest.iter().rev() {
                        let absorbed = groups.remove(i);
                        groups[target].reports.extend(absorbed.reports);
                    }
                    groups[target].reports.push(v);
                }
            }
        }
        merged.extend(groups);
    }
    for m in &mut merged {
        m.reports
            .sort_by(|a, b| (a.found_by, &a.id).cmp(&(b.found_by, &b.id)));
    }
    merged
        .iter()
        .filter_map(|m| finding(facts, m, params.ignore_unfixed))
        .collect()
}

fn finding(facts: &ImageFacts, merged: &Merged, ignore_unfixed: bool) -> Option<Finding> {
    let first = merged.reports.first()?;
    let package = &first.package;
    let fixed = merged
        .reports
        .iter()
        .find_map(|v| v.fixed_version.as_deref());
    if ignore_unfixed && fixed.is_none() {
        return None;
    }
    let rating = merged
        .reports
        .iter()
        .filter_map(|v| v.severity.as_ref())
        .max_by_key(|r| r.severity);
    let primary = merged.primary();
    let ids: BTreeSet<&str> = merged.reports.iter().map(|v| v.id.as_str()).collect();
    let names = merged.names();
    let others: Vec<&str> = names.iter().copied().filter(|n| *n != primary).collect();
    let summary = merged.reports.iter().find_map(|v| v.summary.as_deref());
    let finders: BTreeSet<Finder> = merged.reports.iter().map(|v| v.found_by).collect();
    let databases: BTreeSet<&str> = merged
        .reports
        .iter()
        .filter_map(|v| v.database.as_deref())
        .collect();
    let upstream: BTreeSet<&str> = merged
        .reports
        .iter()
        .flat_map(|v| v.upstream.iter().map(String::as_str))
        .collect();

    let mut message = format!(
        "{} {} is affected by {primary}",
        package.name, package.version
    );
    if !others.is_empty() {
        message.push_str(&format!(" ({})", others.join(", ")));
    }
    if let Some(summary) = summary {
        message.push_str(&format!(": {}", summary.trim()));
    }
    match fixed {
        Some(fixed) => message.push_str(&format!("; fixed in {fixed}")),
        None => message.push_str("; no fixed version yet"),
    }

    let list = |set: &BTreeSet<&str>| Value::from(set.iter().copied().collect::<Vec<_>>());
    let mut finding = PACKAGE
        .finding(message)
        .with_data(crate::policy::waivers::DATA_PACKAGE, package.name.as_str())
        .with_data(crate::policy::waivers::DATA_RULE, primary)
        .with_data("version", package.version.as_str())
        .with_data("ecosystem", package.ecosystem.as_str())
        .with_data("vulnerability", primary)
        .with_data("ids", list(&ids))
        .with_data(
            "aliases",
            Value::from(
                names
                    .iter()
                    .copied()
                    .filter(|n| !ids.contains(n))
                    .collect::<Vec<_>>(),
            ),
        )
        .with_data("fixed_version", fixed.map_or(Value::Null, Value::from))
        .with_data("source", finders.first().map_or("osv", |f| f.as_str()))
        .with_data(
            "reported_by",
            Value::from(finders.iter().map(|f| f.as_str()).collect::<Vec<_>>()),
        )
        .with_data(
            "severity_basis",
            rating.map_or("unknown: the record gives no usable rating", |r| {
                r.basis.as_str()
            }),
        );
    finding.severity = rating.map_or(Severity::Info, |r| r.severity);
    if let Some(purl) = &package.purl {
        finding = finding.with_data("purl", purl.as_str());
    }
    if let Some(source) = &package.source_name
        && source != &package.name
    {
        finding = finding.with_data("source_package", source.as_str());
    }
    if let Some(version) = &package.source_version
        && version != &package.version
    {
        finding = finding.with_data("source_version", version.as_str());
    }
    if !upstream.is_empty() {
        finding = finding.with_data("upstream", list(&upstream));
    }
    if let Some(summary) = summary {
        finding = finding.with_data("summary", summary);
    }
    if let Some(url) = merged.reports.iter().find_map(|v| v.url.as_deref()) {
        finding = finding.with_data("url", url);
    }
    if !databases.is_empty() {
        finding = finding.with_data("databases", list(&databases));
    }
    finding = match (&package.path, package.layer) {
        (Some(path), Some(layer)) => at_layer_path(facts, finding, path, layer),
        (None, Some(layer)) => match facts.layers.get(layer) {
            Some(info) => finding.in_layer(layer, info.digest.clone()),
            None => finding,
        },
        (Some(p), None) => finding.at_path(path::absolute(p)),
        (None, None) => finding,
    };
    if let Some(layer) = package.layer {
        finding = finding.with_data("layer", json!(layer));
    }
    Some(finding)
}
