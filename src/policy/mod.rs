//! Severities, the fail threshold and the verdict.
//!
//! Policy files, per-check overrides and waivers build on these types.

use crate::scan::secrets::RuleSet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// How bad a finding is, in Trivy's vocabulary (plus `info` for notes that never fail a gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Upper-case label as Trivy and Grype print it.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown severity {0:?} (expected one of: info, low, medium, high, critical)")]
pub struct UnknownSeverity(String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" | "unknown" | "negligible" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" | "moderate" => Ok(Severity::Medium),
            "high" | "important" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(UnknownSeverity(s.to_string())),
        }
    }
}

/// What the gate decides for one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Passed,
    Failed,
}

/// The settings every check family reads. Policy files (issue: gate CI) fill this in; the
/// defaults are the balanced policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    /// A finding at or above this severity fails the gate.
    pub fail_on: Severity,
    /// The secret rules, built-in unless a policy extends or trims them
    /// (`RuleSet::with_user_file`, `RuleSet::disable`); `None` turns the secrets family off.
    pub secrets: Option<Arc<RuleSet>>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name: "default".to_string(),
            fail_on: Severity::High,
            secrets: Some(RuleSet::builtin()),
        }
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
}
