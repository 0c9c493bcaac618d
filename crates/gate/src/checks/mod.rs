//! The check table: every check portcullis runs, with its id, title, default severity,
//! references and remediation. One file per family; each family registers its checks here.

pub mod accounts;
pub mod config;
pub mod eol;
pub mod history;
pub mod hygiene;
pub mod modes;
pub mod outdated;
pub mod secrets;
pub mod user;
pub mod vulns;

use crate::facts::ImageFacts;
use crate::facts::merge::Fate;
use crate::policy::Policy;
use crate::policy::vex::Vex;
use crate::policy::waivers::{Date, Waivers};
use crate::report::{Finding, Report};
pub use portcullis_model::{Check, Reference};

/// Places `finding` at `path` (normalised, as the layers store it) in the version written
/// by `layer`: the layer's index and digest, and the layer that hid it when it is not in the
/// final filesystem.
pub fn at_layer_path(facts: &ImageFacts, finding: Finding, path: &str, layer: usize) -> Finding {
    let mut finding = finding.at_path(portcullis_model::path::absolute(path));
    finding.location.layer = Some(layer);
    finding.location.layer_digest = facts.layers.get(layer).map(|l| l.digest.clone());
    if let Some(Fate::Hidden { by, .. }) = facts.fs.fate(path, layer) {
        finding.location.hidden_by = Some(by);
    }
    finding
}

/// A family of checks and the function that runs them over the scanned image.
pub struct Family {
    pub name: &'static str,
    pub checks: &'static [&'static Check],
    pub run: fn(&ImageFacts, &Policy) -> Vec<Finding>,
}

pub static FAMILIES: &[&Family] = &[
    &user::FAMILY,
    &accounts::FAMILY,
    &modes::FAMILY,
    &config::FAMILY,
    &hygiene::FAMILY,
    &secrets::FAMILY,
    &outdated::FAMILY,
    &eol::FAMILY,
    &vulns::FAMILY,
];

pub fn all() -> impl Iterator<Item = &'static Check> {
    FAMILIES.iter().flat_map(|f| f.checks.iter().copied())
}

pub fn find(id: &str) -> Option<&'static Check> {
    all().find(|c| c.id.eq_ignore_ascii_case(id))
}

/// Runs every family with an enabled check over the image, and applies the policy's
/// per-check settings: findings of disabled checks are dropped, severity overrides applied.
pub fn run_all(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    let findings = FAMILIES
        .iter()
        .filter(|f| policy.family_enabled(f))
        .flat_map(|f| (f.run)(facts, policy))
        .filter_map(|mut finding| {
            if let Some(check) = find(&finding.check) {
                let settings = policy.settings(check);
                if !settings.enabled {
                    return None;
                }
                if let Some(severity) = settings.severity {
                    finding.severity = severity;
                }
            }
            Some(finding)
        })
        .collect();
    one_finding_per_place(findings)
}

/// Checks of different families that describe the same file once: `hygiene-sudo` says sudo
/// is installed and `mode-setuid` that its binary is setuid root. The first of each pair
/// keeps the place and takes the other's severity when higher; the other's message and data
/// join it.
const SAME_PLACE: &[(&str, &str)] = &[("hygiene-sudo", "mode-setuid")];

fn one_finding_per_place(mut findings: Vec<Finding>) -> Vec<Finding> {
    use std::collections::{HashMap, HashSet};
    for (keep, fold) in SAME_PLACE {
        let kept: HashSet<String> = findings
            .iter()
            .filter(|f| f.check == *keep)
            .filter_map(|f| f.location.path.clone())
            .collect();
        let mut folded: HashMap<String, Finding> = HashMap::new();
        findings.retain(|f| match &f.location.path {
            Some(p) if f.check == *fold && kept.contains(p) => {
                folded.insert(p.clone(), f.clone());
                false
            }
            _ => true,
        });
        for target in findings.iter_mut().filter(|f| f.check == *keep) {
            let Some(other) = target.location.path.as_ref().and_then(|p| folded.remove(p)) else {
                continue;
            };
            target.severity = target.severity.max(other.severity);
            target.message = format!("{}; {}", target.message, other.message);
            target
                .data
                .insert((*fold).to_string(), serde_json::Value::Object(other.data));
        }
    }
    findings
}

/// Runs the checks and gates the image: policy, then VEX statements, then waivers (on
/// `today`), then the policy's severity filter, then the redaction pass over everything
/// quoted from the image. The report for one scan.
pub fn evaluate(
    facts: &ImageFacts,
    policy: &Policy,
    vex: &Vex,
    waivers: &Waivers,
    today: Date,
) -> Report {
    let mut findings = run_all(facts, policy);
    for finding in &mut findings {
        finding.origin = Some(facts.lineage.origin(finding));
    }
    let summary = facts.summary();
    let vex_statuses = vex.apply(&mut findings, &summary);
    let statuses = waivers.apply(&mut findings, today);
    findings.retain(|f| policy.reports(f.severity));
    let mut report = Report::under_policy(
        summary,
        findings,
        facts.diagnostics.clone(),
        policy,
        statuses,
    );
    report.sources = facts.sources.clone();
    report.vex = vex_statuses;
    report.base = Some(facts.lineage.base.clone());
    // The one redaction pass, with the rule set secret findings use (the built-in one when
    // the secrets family is off): nothing after this point sees a secret the image holds.
    let builtin;
    let rules = match &policy.secrets {
        Some(rules) => rules.as_ref(),
        None => {
            builtin = portcullis_secrets::RuleSet::builtin();
            builtin.as_ref()
        }
    };
    crate::report::scrub::scrub_report(&mut report, rules, &facts.meta.config);
    // One path form in every output: absolute inside the image.
    for finding in &mut report.findings {
        if let Some(p) = &mut finding.location.path {
            *p = portcullis_model::path::absolute(p);
        }
    }
    for diagnostic in &mut report.diagnostics {
        if let Some(p) = &mut diagnostic.path {
            *p = portcullis_model::path::absolute(p);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn check_ids_are_unique_kebab_case_and_documented() {
        let mut seen = HashSet::new();
        for check in all() {
            assert!(seen.insert(check.id), "duplicate check id {}", check.id);
            assert!(
                check
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                check.id
            );
            assert!(!check.title.is_empty() && !check.description.is_empty());
            assert!(
                !check.remediation.is_empty(),
                "{} has no remediation",
                check.id
            );
        }
    }

    #[test]
    fn every_family_name_prefixes_its_check_ids() {
        for family in FAMILIES {
            for check in family.checks {
                assert_eq!(check.family, family.name);
            }
        }
    }

    /// A policy's `[checks.NAME]` names a check or a whole family, so the two must not clash.
    #[test]
    fn no_check_id_is_also_a_family_name() {
        let mut families = HashSet::new();
        for family in FAMILIES {
            assert!(
                families.insert(family.name),
                "duplicate family {}",
                family.name
            );
        }
        for check in all() {
            assert!(
                !families.contains(check.id),
                "check id {} is also a family name",
                check.id
            );
        }
    }
}
