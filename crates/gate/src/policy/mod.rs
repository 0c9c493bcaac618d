//! What the gate decides and by which rules: severities, thresholds, the [`Policy`] every
//! check family reads, policy files ([`file`]), check parameters ([`params`]), waivers
//! ([`waivers`]) and VEX statements ([`vex`]).
//!
//! A family reads its settings from the policy it is handed:
//!
//! ```ignore
//! fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
//!     let allowed = &policy.params.setuid_allowlist;
//!     // ... findings at the check's default severity; the gate applies per-check
//!     // `enabled`, `severity` and `fail_on` from the policy afterwards.
//! }
//! ```

use portcullis_secrets::RuleSet;
pub mod baseline;
pub mod file;
pub mod params;
pub mod reference;
pub mod vex;
pub mod waivers;

use crate::checks::{self, Check, Family, Reference};
use params::Params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use file::PolicyError;
pub use portcullis_model::{Severity, UnknownSeverity};

/// The severity from which a check's findings fail the gate; `never` reports them without
/// failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Threshold {
    At(Severity),
    Never,
}

impl Threshold {
    /// Whether a finding of `severity` fails the gate.
    pub fn fails(self, severity: Severity) -> bool {
        match self {
            Threshold::At(min) => severity >= min,
            Threshold::Never => false,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::At(s) => s.fmt(f),
            Threshold::Never => f.write_str("never"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown threshold {0:?} (expected one of: info, low, medium, high, critical, never)")]
pub struct UnknownThreshold(String);

impl TryFrom<String> for Threshold {
    type Error = UnknownThreshold;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.eq_ignore_ascii_case("never") {
            return Ok(Threshold::Never);
        }
        s.parse()
            .map(Threshold::At)
            .map_err(|_| UnknownThreshold(s))
    }
}

impl From<Threshold> for String {
    fn from(t: Threshold) -> String {
        t.to_string()
    }
}

/// What the gate decides for one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Passed,
    Failed,
}

/// A kind of [`Reference`], for policies that select checks by benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceKind {
    /// CIS Docker Benchmark.
    Cis,
    Dockle,
    Cwe,
}

impl ReferenceKind {
    fn covers(self, reference: &Reference) -> bool {
        matches!(
            (self, reference),
            (ReferenceKind::Cis, Reference::Cis(_))
                | (ReferenceKind::Dockle, Reference::Dockle(_))
                | (ReferenceKind::Cwe, Reference::Cwe(_))
        )
    }
}

/// What a policy says about one check or one family. Unset fields fall back to the family's
/// rule, then to the policy's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replaces the severity of every finding of the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on: Option<Threshold>,
}

/// The effective settings of one check under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSettings {
    pub enabled: bool,
    /// Severity override; `None` keeps the severity the family reports.
    pub severity: Option<Severity>,
    pub fail_on: Threshold,
}

/// The settings every check family reads, and by which the gate decides. Built-in policies
/// live in `policies/`; [`file::load`] reads one by name or from a file, and
/// `Policy::default()` is the built-in `default` (balanced) policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The built-in policy's name, or the policy file's path as given.
    pub name: String,
    pub description: String,
    /// A finding at or above this severity fails the gate, unless a rule sets another
    /// threshold for its check.
    pub fail_on: Severity,
    /// When not empty, only checks with a reference of one of these kinds run, unless a rule
    /// enables another one.
    pub only_references: Vec<ReferenceKind>,
    /// Rules by check id or family name (canonical ids from the check table).
    pub rules: BTreeMap<String, Rule>,
    /// Check parameters.
    pub params: Params,
    /// Report only findings of these severities (`--severity`); empty reports all.
    pub report_severities: Vec<Severity>,
    /// The secret rules, built-in unless a policy extends or trims them
    /// (`RuleSet::with_user_file`, `RuleSet::disable`); `None` turns the secrets family off.
    pub secrets: Option<Arc<RuleSet>>,
}

impl Default for Policy {
    fn default() -> Self {
        file::builtin(file::DEFAULT_POLICY).expect("the built-in default policy is valid")
    }
}

impl Policy {
    /// Lower-case hex SHA-256 of the effective settings (threshold, check selection and
    /// rules, parameters, severity filter) as canonical JSON: runs under the same settings
    /// carry the same digest, whichever files and flags produced them. Attestations name the
    /// policy by it.
    pub fn sha256(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let canonical = serde_json::json!({
            "fail_on": self.fail_on,
            "only_references": self.only_references,
            "rules": self.rules,
            "params": self.params,
            "report_severities": self.report_severities,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }

    /// The effective settings of `check`: its own rule, then its family's, then the defaults.
    pub fn settings(&self, check: &Check) -> CheckSettings {
        let own = self.rules.get(check.id);
        let family = self.rules.get(check.family);
        let enabled = own
            .and_then(|r| r.enabled)
            .or_else(|| family.and_then(|r| r.enabled))
            .unwrap_or_else(|| self.selected_by_references(check));
        let severity = own
            .and_then(|r| r.severity)
            .or_else(|| family.and_then(|r| r.severity));
        let fail_on = own
            .and_then(|r| r.fail_on)
            .or_else(|| family.and_then(|r| r.fail_on))
            .unwrap_or(Threshold::At(self.fail_on));
        CheckSettings {
            enabled,
            severity,
            fail_on,
        }
    }

    fn selected_by_references(&self, check: &Check) -> bool {
        self.only_references.is_empty()
            || self
                .only_references
                .iter()
                .any(|kind| check.references.iter().any(|r| kind.covers(r)))
    }

    pub fn is_enabled(&self, check: &Check) -> bool {
        self.settings(check).enabled
    }

    /// Whether any check of `family` is enabled; a family with none need not run.
    pub fn family_enabled(&self, family: &Family) -> bool {
        family.checks.iter().any(|c| self.is_enabled(c))
    }

    /// The threshold for findings of the check `id`; ids missing from the table get the
    /// policy's `fail_on`.
    pub fn threshold(&self, id: &str) -> Threshold {
        checks::find(id)
            .map(|c| self.settings(c).fail_on)
            .unwrap_or(Threshold::At(self.fail_on))
    }

    /// Enabled checks whose threshold differs from `fail_on`.
    pub fn threshold_overrides(&self) -> BTreeMap<String, Threshold> {
        checks::all()
            .filter_map(|c| {
                let s = self.settings(c);
                (s.enabled && s.fail_on != Threshold::At(self.fail_on))
                    .then(|| (c.id.to_string(), s.fail_on))
            })
            .collect()
    }

    /// `--fail-on`: one threshold for every check, replacing the policy's.
    pub fn override_fail_on(&mut self, severity: Severity) {
        self.fail_on = severity;
        for rule in self.rules.values_mut() {
            rule.fail_on = None;
        }
    }

    /// Whether findings of `severity` are reported (`--severity`).
    pub fn reports(&self, severity: Severity) -> bool {
        self.report_severities.is_empty() || self.report_severities.contains(&severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_from_info_to_critical() {
        assert!(Severity::Info < Severity::Low);
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::Medium < Severity::High);
        assert!(Severity::High < Severity::Critical);
    }

    #[test]
    fn severities_parse_trivy_and_ghsa_words() {
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert_eq!("moderate".parse::<Severity>().unwrap(), Severity::Medium);
        assert_eq!("UNKNOWN".parse::<Severity>().unwrap(), Severity::Info);
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn thresholds_parse_and_decide() {
        let t: Threshold = "never".to_string().try_into().unwrap();
        assert_eq!(t, Threshold::Never);
        assert!(!t.fails(Severity::Critical));
        let t: Threshold = "Medium".to_string().try_into().unwrap();
        assert!(t.fails(Severity::Medium) && t.fails(Severity::High) && !t.fails(Severity::Low));
        assert!(Threshold::try_from("sometimes".to_string()).is_err());
    }

    fn rule(enabled: Option<bool>, severity: Option<Severity>, fail_on: Option<Threshold>) -> Rule {
        Rule {
            enabled,
            severity,
            fail_on,
        }
    }

    #[test]
    fn check_rules_override_family_rules_which_override_defaults() {
        let root = checks::find("user-root").unwrap();
        let unmapped = checks::find("user-numeric-unmapped").unwrap();
        let mut policy = Policy::default();
        policy.rules.clear();
        policy.fail_on = Severity::High;
        assert_eq!(
            policy.settings(root),
            CheckSettings {
                enabled: true,
                severity: None,
                fail_on: Threshold::At(Severity::High)
            }
        );
        policy.rules.insert(
            "user".into(),
            rule(Some(false), Some(Severity::Low), Some(Threshold::Never)),
        );
        policy
            .rules
            .insert("user-root".into(), rule(Some(true), None, None));
        let s = policy.settings(root);
        assert!(s.enabled);
        assert_eq!(s.severity, Some(Severity::Low));
        assert_eq!(s.fail_on, Threshold::Never);
        assert!(!policy.is_enabled(unmapped));
        assert!(policy.family_enabled(&checks::user::FAMILY));
        assert_eq!(policy.threshold("user-root"), Threshold::Never);
        assert_eq!(
            policy.threshold("no-such-check"),
            Threshold::At(Severity::High)
        );

        policy.override_fail_on(Severity::Critical);
        assert_eq!(
            policy.threshold("user-root"),
            Threshold::At(Severity::Critical)
        );
        assert!(policy.threshold_overrides().is_empty());
    }

    #[test]
    fn only_references_selects_checks_by_benchmark() {
        let mut policy = Policy::default();
        policy.rules.clear();
        policy.only_references = vec![ReferenceKind::Dockle];
        let root = checks::find("user-root").unwrap();
        let unmapped = checks::find("user-numeric-unmapped").unwrap();
        assert!(policy.is_enabled(root), "user-root has a Dockle id");
        assert!(
            !policy.is_enabled(unmapped),
            "user-numeric-unmapped has none"
        );
        policy
            .rules
            .insert("user-numeric-unmapped".into(), rule(Some(true), None, None));
        assert!(policy.is_enabled(unmapped));
    }

    #[test]
    fn severity_filter_defaults_to_everything() {
        let mut policy = Policy::default();
        assert!(Severity::ALL.iter().all(|s| policy.reports(*s)));
        policy.report_severities = vec![Severity::High, Severity::Critical];
        assert!(policy.reports(Severity::High) && !policy.reports(Severity::Low));
    }
}
