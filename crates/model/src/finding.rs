//! Findings, and the notes a scan makes about itself.

use crate::Severity;
use serde::{Deserialize, Serialize};

/// Where in the image a finding lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Path inside the image filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Index (0-based, manifest order) of the layer that holds the evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_digest: Option<String>,
    /// The layer that deleted or overwrote the path. The evidence is not in the final
    /// filesystem but still extractable from `layer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_by: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Image config field (`config.User`, `config.Env[2]`, `history[3].created_by` ...) when
    /// the evidence is in the config rather than the filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// A waiver, or a VEX statement, that applies to a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waived {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The VEX statement that suppressed the finding, when no waiver did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vex: Option<VexSuppression>,
}

/// The VEX statement behind a suppressed finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexSuppression {
    /// The VEX document as given (`--vex FILE`, the policy's `osv.vex`).
    pub file: String,
    /// The statement's position in its document, from 1.
    pub statement: usize,
    /// `not_affected` or `fixed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

/// Which part of the image a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The layers and build steps of the image it was built `FROM`.
    Base,
    /// The layers and build steps this image's own build added.
    Image,
}

impl Part {
    /// `base image` / `this image`, as the reports group findings.
    pub fn label(self) -> &'static str {
        match self {
            Part::Base => "base image",
            Part::Image => "this image",
        }
    }
}

/// Where a finding came from: the layer that introduced it, the build step that made that
/// layer (`history[].created_by`), and whether that layer is the base image's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub part: Part,
    /// The layer (0-based, manifest order) that introduced the finding; `None` for a finding
    /// about the config that no layer made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The history entry of that layer, or of the build step the finding is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<usize>,
    /// The build step, as the history records it (the Dockerfile instruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A finding compared with the baseline image (`--baseline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delta {
    /// The baseline does not have it: this change introduced it.
    New,
    /// The baseline has it too.
    Unchanged,
    /// The baseline has it and this image no longer does.
    Fixed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Check id from the check table (`portcullis explain ID`).
    pub check: String,
    pub severity: Severity,
    pub title: String,
    /// What was found, for a human. Never holds a secret in full.
    pub message: String,
    #[serde(default)]
    pub location: Location,
    /// Redacted evidence (a secret's first characters and its length, a config value ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Family-specific facts (rule id, package and versions ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
    /// The layer and build step that introduced it, base image or this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Whether the baseline image has it, when the scan compares with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

impl Finding {
    pub fn at_path(mut self, path: impl Into<String>) -> Self {
        self.location.path = Some(path.into());
        self
    }
    pub fn in_config(mut self, field: impl Into<String>) -> Self {
        self.location.config = Some(field.into());
        self
    }
    pub fn in_layer(mut self, index: usize, digest: impl Into<String>) -> Self {
        self.location.layer = Some(index);
        self.location.layer_digest = Some(digest.into());
        self
    }
    pub fn with_evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = Some(evidence.into());
        self
    }
    pub fn with_data(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.data.insert(key.to_string(), value.into());
        self
    }
}

/// A diagnostic about the scan itself (a file that could not be parsed, a data source that
/// was unavailable). Never a finding about the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The data source the note is about (`osv`, `trivy`), when it is not about the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

/// What became of a data source in this scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceStatus {
    /// It was consulted; its results are in the report.
    #[serde(rename = "used")]
    Used,
    /// It was asked and did not answer; `detail` says why, and a diagnostic repeats it.
    #[serde(rename = "failed")]
    Failed,
    /// It would have been used had it been installed.
    #[serde(rename = "not installed")]
    NotInstalled,
    /// Nothing configures it (no database given).
    #[serde(rename = "not configured")]
    NotConfigured,
    /// Turned off by a flag or the policy.
    #[serde(rename = "disabled")]
    Disabled,
    /// Not applicable to this image (Trivy on a daemon or registry image).
    #[serde(rename = "skipped")]
    Skipped,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Used => "used",
            SourceStatus::Failed => "failed",
            SourceStatus::NotInstalled => "not installed",
            SourceStatus::NotConfigured => "not configured",
            SourceStatus::Disabled => "disabled",
            SourceStatus::Skipped => "skipped",
        }
    }
}

/// A data source the scan consulted or could have (an OSV database, Trivy), and what
/// became of it: a report says plainly where its vulnerability findings come from, and
/// where they could not come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub status: SourceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The data the source matched with, each named and dated: what an attestation names
    /// so that a verifier can judge its freshness.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataSet>,
}

/// One data set a source used: a vulnerability database export, say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSet {
    /// `Debian:12`, `PyPI`.
    pub name: String,
    /// Where it came from: a URL or a path.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// When its content was downloaded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<String>,
    /// When its source last confirmed it current (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
}

impl Source {
    pub fn new(name: &str, status: SourceStatus, detail: Option<String>) -> Source {
        Source {
            name: name.to_string(),
            status,
            detail,
            data: Vec::new(),
        }
    }

    /// `osv used (2 databases, 224 records)`, for one line of text.
    pub fn describe(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{} {} ({detail})", self.name, self.status.as_str()),
            None => format!("{} {}", self.name, self.status.as_str()),
        }
    }
}
