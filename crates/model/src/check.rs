//! What a check is: its id, title, default severity, references and remediation.

use crate::{Finding, Severity};
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
    /// The most specific page about the check: its Dockle entry or own URL, then its CWE,
    /// then the CIS benchmark.
    pub fn help_url(&self) -> Option<String> {
        let rank = |r: &Reference| match r {
            Reference::Dockle(_) => 0,
            Reference::Url(_) => 1,
            Reference::Cwe(_) => 2,
            Reference::Cis(_) => 3,
        };
        self.references
            .iter()
            .min_by_key(|r| rank(r))
            .and_then(Reference::url)
    }

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
            origin: None,
            delta: None,
        }
    }
}
