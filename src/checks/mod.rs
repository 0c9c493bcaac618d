//! The check table: every check portcullis runs, with its id, title, default severity,
//! references and remediation. One file per family; each family registers its checks here.

pub mod secrets;
pub mod user;

use crate::policy::{Policy, Severity};
use crate::report::Finding;
use crate::scan::facts::ImageFacts;
use serde::Serialize;

/// Where a check comes from in the benchmarks and tools users already know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Reference {
    /// CIS Docker Benchmark, section 4 item (`"4.1"`).
    Cis(&'static str),
    /// Dockle check id (`"CIS-DI-0001"`, `"DKL-LI-0001"`).
    Dockle(&'static str),
    /// MITRE CWE number.
    Cwe(u32),
    Url(&'static str),
}

impl Reference {
    pub fn label(&self) -> String {
        match self {
            Reference::Cis(id) => format!("CIS Docker Benchmark {id}"),
            Reference::Dockle(id) => format!("Dockle {id}"),
            Reference::Cwe(n) => format!("CWE-{n}"),
            Reference::Url(u) => (*u).to_string(),
        }
    }

    pub fn url(&self) -> Option<String> {
        match self {
            Reference::Cis(_) => Some("https://www.cisecurity.org/benchmark/docker".into()),
            Reference::Dockle(id) => Some(format!(
                "https://github.com/goodwithtech/dockle/blob/master/CHECKPOINT.md#{}",
                id.to_ascii_lowercase()
            )),
            Reference::Cwe(n) => Some(format!("https://cwe.mitre.org/data/definitions/{n}.html")),
            Reference::Url(u) => Some((*u).to_string()),
        }
    }
}

/// One registered check.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Stable kebab-case id, unique across the table.
    pub id: &'static str,
    pub family: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// What it finds and why that makes an image unsafe to ship.
    pub description: &'static str,
    pub remediation: &'static str,
    pub references: &'static [Reference],
}

impl Check {
    /// A finding of this check at its default severity.
    pub fn finding(&self, message: impl Into<String>) -> Finding {
        Finding {
            check: self.id.to_string(),
            severity: self.severity,
            title: self.title.to_string(),
            message: message.into(),
            location: Default::default(),
            evidence: None,
            data: Default::default(),
            waived: None,
        }
    }
}

/// A family of checks and the function that runs them over the scanned image.
pub struct Family {
    pub name: &'static str,
    pub checks: &'static [&'static Check],
    pub run: fn(&ImageFacts, &Policy) -> Vec<Finding>,
}

pub static FAMILIES: &[&Family] = &[&user::FAMILY, &secrets::FAMILY];

pub fn all() -> impl Iterator<Item = &'static Check> {
    FAMILIES.iter().flat_map(|f| f.checks.iter().copied())
}

pub fn find(id: &str) -> Option<&'static Check> {
    all().find(|c| c.id.eq_ignore_ascii_case(id))
}

/// Runs every family over the image.
pub fn run_all(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    FAMILIES
        .iter()
        .flat_map(|f| (f.run)(facts, policy))
        .collect()
}

/// Runs the checks and applies the policy: the report for one scan.
pub fn evaluate(facts: &ImageFacts, policy: &Policy) -> crate::report::Report {
    let findings = run_all(facts, policy);
    crate::report::Report::new(
        facts.summary(),
        findings,
        facts.diagnostics.clone(),
        &policy.name,
        policy.fail_on,
    )
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
}
