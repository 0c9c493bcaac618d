//! Findings and the report that carries them; renderers live in the submodules.

pub mod cyclonedx;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod sbom;
pub mod scrub;
pub mod spdx;
pub mod table;
pub mod text;

pub use crate::facts::lineage::{BaseImage, BaseMethod};
use crate::policy::{Policy, Severity, Threshold, Verdict};
pub use portcullis_model::image::ImageSummary;
pub use portcullis_model::{
    Delta, Diagnostic, Finding, Location, Origin, Part, Source, SourceStatus, VexSuppression,
    Waived,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the JSON report schema (`docs/report-schema.json`). Minor bumps add fields;
/// major bumps rename or remove them.
pub const SCHEMA_VERSION: &str = "2.2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    /// This portcullis. The workspace shares one version, so this crate's is the binary's.
    pub fn current() -> Tool {
        Tool {
            name: "portcullis".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub waived: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            if f.waived.is_some() {
                s.waived += 1;
                continue;
            }
            match f.severity {
                Severity::Critical => s.critical += 1,
                Severity::High => s.high += 1,
                Severity::Medium => s.medium += 1,
                Severity::Low => s.low += 1,
                Severity::Info => s.info += 1,
            }
        }
        s
    }
}

/// Which findings the gate judges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateMode {
    /// Every finding.
    #[default]
    All,
    /// Only findings of the image's own layers and build steps (`--ignore-base`).
    IgnoreBase,
    /// Only findings the baseline image does not have (`--baseline`).
    Baseline,
}

impl GateMode {
    /// What the gate judged, for one line of text.
    pub fn describe(self) -> &'static str {
        match self {
            GateMode::All => "all findings",
            GateMode::IgnoreBase => "this image's findings only (--ignore-base)",
            GateMode::Baseline => "findings new since the baseline only (--baseline)",
        }
    }
}

/// The image a `--baseline` scan compared with, and what the comparison found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    /// Findings the baseline does not have.
    pub new: usize,
    /// Findings the baseline has too.
    pub unchanged: usize,
    /// Findings of the baseline this image no longer has (listed in `fixed`).
    pub fixed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub result: Verdict,
    /// Which findings the verdict is on.
    #[serde(default)]
    pub mode: GateMode,
    pub policy: String,
    pub fail_on: Severity,
    /// Checks whose threshold differs from `fail_on` under the policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub check_fail_on: BTreeMap<String, Threshold>,
    /// Checks of the table that the policy turned off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<String>,
    /// Findings (not waived) at or above their check's threshold.
    pub failing: usize,
}

impl Gate {
    /// The threshold for findings of the check `id`.
    pub fn threshold(&self, id: &str) -> Threshold {
        self.check_fail_on
            .get(id)
            .copied()
            .unwrap_or(Threshold::At(self.fail_on))
    }

    /// Whether the mode puts `finding` before the gate at all.
    pub fn judges(&self, finding: &Finding) -> bool {
        match self.mode {
            GateMode::All => true,
            GateMode::IgnoreBase => finding
                .origin
                .as_ref()
                .is_none_or(|o| o.part == Part::Image),
            GateMode::Baseline => finding.delta.is_none_or(|d| d == Delta::New),
        }
    }

    /// Whether `finding` fails the gate.
    pub fn fails(&self, finding: &Finding) -> bool {
        finding.waived.is_none()
            && self.judges(finding)
            && self.threshold(&finding.check).fails(finding.severity)
    }
}

/// What became of a waiver in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaiverState {
    /// It waived at least one finding.
    Applied,
    /// It matched no finding: the finding went away, or the waiver is wrong.
    Unused,
    /// Its date has passed: it waived nothing, and what it matched is reported again.
    Expired,
}

/// One waiver from the ignore file, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverStatus {
    pub check: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The waiver file and the line of its `[[waiver]]` header.
    pub file: String,
    pub line: usize,
    pub state: WaiverState,
    /// Findings that met the waiver's conditions (for an expired waiver: that it would
    /// have waived).
    pub matched: usize,
}

impl WaiverStatus {
    /// A one-line warning for an expired or unused waiver.
    pub fn warning(&self) -> Option<String> {
        let at = format!("{}:{}", self.file, self.line);
        match self.state {
            WaiverState::Applied => None,
            WaiverState::Unused => Some(format!(
                "{at}: waiver for {} matched no finding; remove it if the finding is gone",
                self.check
            )),
            WaiverState::Expired => Some(format!(
                "{at}: waiver for {} expired on {}; {} reported again",
                self.check,
                self.expires.as_deref().unwrap_or("?"),
                match self.matched {
                    0 => "it matched no finding, and is".to_string(),
                    1 => "the finding it waived is".to_string(),
                    n => format!("the {n} findings it waived are"),
                }
            )),
        }
    }
}

/// What became of a VEX statement in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VexState {
    /// It suppressed at least one finding.
    Applied,
    /// It is about findings of this image, and suppressed none of them: its status is
    /// `affected` or `under_investigation`, or a later statement about them says otherwise.
    Matched,
    /// It is about no finding of this image.
    Unused,
}

/// One statement of a VEX document, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexStatus {
    /// The VEX document as given.
    pub file: String,
    /// The statement's position in its document, from 1.
    pub statement: usize,
    pub vulnerability: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The products it names, as written.
    pub products: Vec<String>,
    /// `not_affected`, `affected`, `fixed` or `under_investigation`.
    pub status: String,
    /// The status as the document wrote it, when its format's word differs (CycloneDX
    /// `resolved`, `exploitable`, `in_triage`, `false_positive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_statement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_statement: Option<String>,
    pub state: VexState,
    /// Findings it is about.
    pub matched: usize,
    /// Findings it suppressed.
    pub suppressed: usize,
}

impl VexStatus {
    /// A one-line warning for an unused statement.
    pub fn warning(&self) -> Option<String> {
        (self.state == VexState::Unused).then(|| {
            format!(
                "{}: VEX statement {} ({} {}) is about no finding of this image",
                self.file, self.statement, self.vulnerability, self.status
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: String,
    pub tool: Tool,
    pub image: ImageSummary,
    pub gate: Gate,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    /// The data sources vulnerability findings come from, and what became of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// Every waiver of the ignore file, and what it did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<WaiverStatus>,
    /// Every statement of the VEX documents given, and what it did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vex: Vec<VexStatus>,
    /// The base image: how it was known and which layers are its.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseImage>,
    /// The image `--baseline` compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// Findings of the baseline this image no longer has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<Finding>,
    /// Candidate base images, best first (`--base-candidates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebase: Option<crate::rebase::RebasePlan>,
}

impl Report {
    /// A report gated by one threshold for every check, without waivers.
    pub fn new(
        image: ImageSummary,
        findings: Vec<Finding>,
        diagnostics: Vec<Diagnostic>,
        policy_name: &str,
        fail_on: Severity,
    ) -> Report {
        let gate = Gate {
            result: Verdict::Passed,
            mode: GateMode::All,
            policy: policy_name.to_string(),
            fail_on,
            check_fail_on: BTreeMap::new(),
            disabled: Vec::new(),
            failing: 0,
        };
        Report::build(image, findings, diagnostics, gate, Vec::new())
    }

    /// A report gated by `policy`'s thresholds; `waivers` says what the ignore file did.
    pub fn under_policy(
        image: ImageSummary,
        findings: Vec<Finding>,
        diagnostics: Vec<Diagnostic>,
        policy: &Policy,
        waivers: Vec<WaiverStatus>,
    ) -> Report {
        let gate = Gate {
            result: Verdict::Passed,
            mode: GateMode::All,
            policy: policy.name.clone(),
            fail_on: policy.fail_on,
            check_fail_on: policy.threshold_overrides(),
            disabled: crate::checks::all()
                .filter(|c| !policy.is_enabled(c))
                .map(|c| c.id.to_string())
                .collect(),
            failing: 0,
        };
        Report::build(image, findings, diagnostics, gate, waivers)
    }

    /// Sorts findings (most severe first, then by check and location) and computes the
    /// summary and the verdict.
    fn build(
        image: ImageSummary,
        mut findings: Vec<Finding>,
        diagnostics: Vec<Diagnostic>,
        gate: Gate,
        waivers: Vec<WaiverStatus>,
    ) -> Report {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.check.cmp(&b.check))
                .then_with(|| a.location.path.cmp(&b.location.path))
                .then_with(|| a.location.layer.cmp(&b.location.layer))
                .then_with(|| a.location.config.cmp(&b.location.config))
                .then_with(|| a.message.cmp(&b.message))
        });
        let mut report = Report {
            schema_version: SCHEMA_VERSION.to_string(),
            tool: Tool::current(),
            image,
            gate,
            summary: Summary::of(&findings),
            findings,
            diagnostics,
            sources: Vec::new(),
            waivers,
            vex: Vec::new(),
            base: None,
            baseline: None,
            fixed: Vec::new(),
            rebase: None,
        };
        report.set_mode(report.gate.mode);
        report
    }

    /// Judges the findings `mode` selects: the failing count and the verdict.
    pub fn set_mode(&mut self, mode: GateMode) {
        let gate = &mut self.gate;
        gate.mode = mode;
        gate.failing = self.findings.iter().filter(|f| gate.fails(f)).count();
        gate.result = if gate.failing == 0 {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
    }

    /// Whether `finding` (one of this report's) fails the gate.
    pub fn fails(&self, finding: &Finding) -> bool {
        self.gate.fails(finding)
    }

    /// Warnings about the configuration: expired and unused waivers.
    pub fn waiver_warnings(&self) -> impl Iterator<Item = (&WaiverStatus, String)> {
        self.waivers
            .iter()
            .filter_map(|w| w.warning().map(|m| (w, m)))
    }

    /// Warnings about the VEX documents: statements about no finding of this image.
    pub fn vex_warnings(&self) -> impl Iterator<Item = (&VexStatus, String)> {
        self.vex.iter().filter_map(|v| v.warning().map(|m| (v, m)))
    }
}

/// A small image for renderer unit tests: `oci:layout:1.0`, two layers.
#[cfg(test)]
pub(crate) mod testing {
    use super::ImageSummary;
    use serde_json::{Value, json};

    pub fn image() -> ImageSummary {
        let digest = format!("sha256:{}", "a".repeat(64));
        let layers: Vec<Value> = (0..2)
            .map(|i: u32| {
                json!({
                    "index": i, "digest": format!("sha256:{}", i.to_string().repeat(64)),
                    "diff_id": digest, "compression": "gzip", "size": 1,
                    "uncompressed_size": 1, "entries": 1,
                })
            })
            .collect();
        serde_json::from_value(json!({
            "reference": "oci:layout:1.0",
            "transport": "oci",
            "manifest_digest": digest,
            "config_digest": digest,
            "platform": { "os": "linux", "architecture": "amd64" },
            "names": ["1.0"],
            "user": "",
            "layers": layers,
        }))
        .expect("a valid image summary")
    }
}
