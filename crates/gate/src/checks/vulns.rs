//! The `vulns` family: installed packages with known vulnerabilities.
//!
//! The vulnerabilities come from outside the image: [`look_up`] (run by the command before
//! the checks) matches the package inventory against offline OSV databases and, when it is
//! installed, runs Trivy on the same image, and records in the facts what each source
//! found and what became of it. [`run`] turns that into one finding per package and
//! vulnerability: reports of the same vulnerability (by id or alias) on the same installed
//! package, from several records or from both sources, are one finding.

use super::{Check, Family, Reference, at_layer_path};
use crate::advisories::osv::{self, Database, Finder, Vulnerability};
use crate::advisories::trivy::{self, Outcome, Runner};
use crate::image::model::Transport;
use crate::image::reference::ImageRef;
use crate::inventory;
use crate::policy::params::TrivyMode;
use crate::policy::{Policy, Severity};
use crate::report::{Diagnostic, Finding, Source, SourceStatus};
use crate::scan::facts::ImageFacts;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

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

/// Where Trivy comes from: `--trivy PATH|off`, else the policy's `osv.trivy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrivyChoice {
    Off,
    /// When it is on `PATH`.
    Auto,
    /// From `PATH`; an error when it is not there.
    Always,
    Program(PathBuf),
}

impl From<TrivyMode> for TrivyChoice {
    fn from(mode: TrivyMode) -> TrivyChoice {
        match mode {
            TrivyMode::Auto => TrivyChoice::Auto,
            TrivyMode::Always => TrivyChoice::Always,
            TrivyMode::Never => TrivyChoice::Off,
        }
    }
}

/// What to consult for vulnerabilities.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub databases: Vec<PathBuf>,
    pub trivy: TrivyChoice,
    pub trivy_timeout: Duration,
    /// `YYYY-MM-DD`: records withdrawn by then are left out.
    pub today: String,
    pub limits: osv::Limits,
}

impl Lookup {
    /// The lookup a policy describes, without command-line overrides.
    pub fn from_policy(policy: &Policy, today: String) -> Lookup {
        let params = &policy.params.osv;
        Lookup {
            databases: params.databases.clone(),
            trivy: params.trivy.into(),
            trivy_timeout: Duration::from_secs(params.trivy_timeout_seconds.into()),
            today,
            limits: osv::Limits::default(),
        }
    }
}

/// Configuration errors: the scan cannot go on as asked.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Osv(#[from] osv::LoadError),
    #[error("Trivy is required (osv.trivy = \"always\") but `trivy` is not on PATH")]
    TrivyMissing,
    #[error("--trivy {0}: no such program")]
    TrivyProgram(PathBuf),
}

/// Most OSV database problems listed one by one; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 10;

/// Consults the sources `lookup` names for the image of `facts` (scanned from
/// `reference`), and records their vulnerabilities, sources and diagnostics in `facts`.
/// Nothing is consulted when the policy turns the family off.
pub fn look_up(
    facts: &mut ImageFacts,
    reference: &str,
    lookup: &Lookup,
    policy: &Policy,
) -> Result<(), LookupError> {
    if !policy.family_enabled(&FAMILY) {
        let detail = Some("the policy turns the vulns checks off".to_string());
        facts.sources.extend([
            Source::new("osv", SourceStatus::Disabled, detail.clone()),
            Source::new("trivy", SourceStatus::Disabled, detail),
        ]);
        return Ok(());
    }
    let trivy = resolve_trivy(&lookup.trivy)?;
    let inventory = inventory::inventory(facts);

    if lookup.databases.is_empty() {
        facts.sources.push(Source::new(
            "osv",
            SourceStatus::NotConfigured,
            Some("no --osv-db or osv.databases".into()),
        ));
    } else {
        let wanted = osv::wanted(&inventory.packages);
        let db = Database::load(
            &lookup.databases,
            Some(&wanted),
            &lookup.today,
            lookup.limits,
        )?;
        for package in &inventory.packages {
            facts
                .vulnerabilities
                .extend(db.affecting(package, inventory.os.as_ref()));
        }
        facts.sources.push(Source::new(
            "osv",
            SourceStatus::Used,
            Some(describe_osv(&db.stats)),
        ));
        let listed = db.problems.iter().take(MAX_LISTED_PROBLEMS);
        for problem in listed {
            facts.diagnostics.push(Diagnostic {
                source: Some("osv".into()),
                message: format!(
                    "OSV database {}: {}: skipped: {}",
                    problem.database.display(),
                    problem.file,
                    problem.reason
                ),
                ..Default::default()
            });
        }
        if db.problems.len() > MAX_LISTED_PROBLEMS {
            facts.diagnostics.push(Diagnostic {
                source: Some("osv".into()),
                message: format!(
                    "OSV databases: {} more files skipped",
                    db.problems.len() - MAX_LISTED_PROBLEMS
                ),
                ..Default::default()
            });
        }
    }

    let source = match trivy {
        Resolved::Disabled => Source::new("trivy", SourceStatus::Disabled, None),
        Resolved::NotInstalled => Source::new(
            "trivy",
            SourceStatus::NotInstalled,
            Some("no `trivy` on PATH".into()),
        ),
        Resolved::Program(program) => match trivy_input(reference, facts.meta.transport) {
            Err(reason) => Source::new("trivy", SourceStatus::Skipped, Some(reason)),
            Ok(input) => {
                let runner = Runner {
                    program,
                    timeout: lookup.trivy_timeout,
                };
                run_trivy(facts, &inventory, &runner, &input.path)
            }
        },
    };
    if source.status == SourceStatus::Failed {
        facts.diagnostics.push(Diagnostic {
            source: Some("trivy".into()),
            message: format!(
                "Trivy failed: {}; its vulnerabilities are not in this report",
                source.detail.as_deref().unwrap_or("no reason given")
            ),
            ..Default::default()
        });
    }
    facts.sources.push(source);
    Ok(())
}

enum Resolved {
    Disabled,
    NotInstalled,
    Program(PathBuf),
}

fn resolve_trivy(choice: &TrivyChoice) -> Result<Resolved, LookupError> {
    Ok(match choice {
        TrivyChoice::Off => Resolved::Disabled,
        TrivyChoice::Auto => {
            trivy::find_on_path("trivy").map_or(Resolved::NotInstalled, Resolved::Program)
        }
        TrivyChoice::Always => {
            Resolved::Program(trivy::find_on_path("trivy").ok_or(LookupError::TrivyMissing)?)
        }
        TrivyChoice::Program(path) if path.is_file() => Resolved::Program(path.clone()),
        // A bare name (`--trivy trivy-0.50`) is looked up on PATH, as a shell would.
        TrivyChoice::Program(path) => match path.to_str() {
            Some(name) if path.components().count() == 1 => Resolved::Program(
                trivy::find_on_path(name).ok_or_else(|| LookupError::TrivyProgram(path.clone()))?,
            ),
            _ => return Err(LookupError::TrivyProgram(path.clone())),
        },
    })
}

/// What Trivy reads the image from: `--input` takes docker archives (gzipped too) and OCI
/// layout directories; an OCI archive is unpacked into a temporary layout first.
struct TrivyInput {
    path: PathBuf,
    /// The unpacked layout, removed when the input is dropped.
    _spool: Option<tempfile::TempDir>,
}

fn trivy_input(reference: &str, transport: Transport) -> Result<TrivyInput, String> {
    let parsed = ImageRef::parse(reference).map_err(|e| e.to_string())?;
    let path = match parsed {
        ImageRef::DockerArchive { path, .. }
        | ImageRef::OciLayout { path, .. }
        | ImageRef::OciArchive { path, .. }
        | ImageRef::Local { path, .. } => path,
        ImageRef::DockerDaemon { .. } | ImageRef::Registry { .. } => {
            return Err(format!(
                "Trivy is run on local archives and OCI layouts, not on {} images",
                transport.as_str()
            ));
        }
    };
    if transport != Transport::OciArchive {
        return Ok(TrivyInput { path, _spool: None });
    }
    let spool = tempfile::tempdir().map_err(|e| format!("cannot unpack the OCI archive: {e}"))?;
    trivy::unpack_oci_archive(&path, spool.path())
        .map_err(|e| format!("cannot unpack the OCI archive for Trivy: {e}"))?;
    Ok(TrivyInput {
        path: spool.path().to_path_buf(),
        _spool: Some(spool),
    })
}

fn run_trivy(
    facts: &mut ImageFacts,
    inventory: &inventory::Inventory,
    runner: &Runner,
    input: &std::path::Path,
) -> Source {
    let report = match runner.scan(input) {
        Outcome::Failed(reason) => return Source::new("trivy", SourceStatus::Failed, Some(reason)),
        Outcome::Report(report) => report,
    };
    let expected = &facts.meta.config_digest;
    if let Some(id) = report.image_id()
        && id != expected
    {
        return Source::new(
            "trivy",
            SourceStatus::Failed,
            Some(format!(
                "Trivy read another image from {} (image ID {id}, not {expected})",
                input.display()
            )),
        );
    }
    let diff_ids: Vec<&str> = facts.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let found = report.vulnerabilities(inventory, &diff_ids);
    let detail = format!(
        "Trivy {}, {} vulnerabilit{}",
        report.version().unwrap_or("(version unknown)"),
        found.len(),
        if found.len() == 1 { "y" } else { "ies" }
    );
    facts.vulnerabilities.extend(found);
    Source::new("trivy", SourceStatus::Used, Some(detail))
}

fn describe_osv(stats: &osv::Stats) -> String {
    let mut detail = format!(
        "{} database{}, {} record{}",
        stats.databases,
        if stats.databases == 1 { "" } else { "s" },
        stats.records,
        if stats.records == 1 { "" } else { "s" },
    );
    if stats.withdrawn > 0 {
        detail.push_str(&format!(", {} withdrawn", stats.withdrawn));
    }
    if stats.skipped > 0 {
        detail.push_str(&format!(
            ", {} file{} skipped",
            stats.skipped,
            if stats.skipped == 1 { "" } else { "s" }
        ));
    }
    detail
}

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
        (Some(path), None) => finding.at_path(format!("/{path}")),
        (None, None) => finding,
    };
    if let Some(layer) = package.layer {
        finding = finding.with_data("layer", json!(layer));
    }
    Some(finding)
}
