//! What an attestation says about the image, in three vocabularies:
//!
//! - `scan`: ours, everything portcullis found (tool, policy, verdict, summary, full report);
//! - `vsa`: a SLSA Verification Summary v1, for policy engines that only want the decision;
//! - `vuln`: cosign's vulnerability predicate, which `cosign verify-attestation --type vuln`
//!   and its CUE/Rego policies understand.
//!
//! Each is built from a [`Report`]; [`verdict`] and [`time`] read the decision and its time
//! back from any of them, for `verify`.

use portcullis_gate::policy::{Policy, Verdict};
use portcullis_gate::report::{Report, Summary};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

pub const SCAN_V1: &str = "https://portcullis.dev/attestation/scan/v1";
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
pub const COSIGN_VULN_V1: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// `portcullis harden`: the image made from `materials` by `changes` (`portcullis harden
/// --key`); it records no verdict.
pub const HARDEN_V1: &str = "https://portcullis.dev/attestation/harden/v1";

/// Who made the attestation, as the VSA's `verifier.id` and the vuln predicate's scanner URI.
pub const TOOL_URI: &str = "https://portcullis.dev";

/// What an attestation says about the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredicateKind {
    /// portcullis scan result: verdict, findings summary and the full report
    Scan,
    /// SLSA Verification Summary v1: the policy decision only
    Vsa,
    /// cosign's vulnerability scan predicate (scanner result = the full report)
    Vuln,
}

impl PredicateKind {
    pub fn predicate_type(self) -> &'static str {
        match self {
            PredicateKind::Scan => SCAN_V1,
            PredicateKind::Vsa => VSA_V1,
            PredicateKind::Vuln => COSIGN_VULN_V1,
        }
    }
}

/// The policy a verdict was reached under: a name for people, a URI and a digest for
/// machines that must know it was exactly this policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    pub name: String,
    pub uri: String,
    /// Lower-case hex SHA-256 of the policy's content.
    pub sha256: String,
}

impl PolicyRef {
    /// A policy named only by its name and threshold, as a report read back from JSON
    /// carries it. A scan's own policy is named by `policy_of` in cli/attest.rs, with the
    /// digest of all its settings.
    pub fn builtin(policy: &Policy) -> PolicyRef {
        let canonical = format!(
            "portcullis built-in policy\nname = {}\nfail_on = {}\n",
            policy.name, policy.fail_on
        );
        PolicyRef {
            name: policy.name.clone(),
            uri: format!("{TOOL_URI}/policies/{}", policy.name),
            sha256: hex::encode(Sha256::digest(canonical.as_bytes())),
        }
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "uri": self.uri, "digest": {"sha256": self.sha256}})
    }
}

/// Everything a predicate is built from.
pub struct Context<'a> {
    pub report: &'a Report,
    pub policy: &'a PolicyRef,
    /// The image as a URI (`docker-archive:/path`, `docker://registry/name:tag` ...).
    pub resource_uri: &'a str,
    pub scan_started: SystemTime,
    pub scan_finished: SystemTime,
    /// The settings the scan ran with, recorded as the vuln predicate's invocation.
    pub parameters: Value,
}

pub fn build(kind: PredicateKind, ctx: &Context) -> Value {
    match kind {
        PredicateKind::Scan => scan(ctx),
        PredicateKind::Vsa => vsa(ctx),
        PredicateKind::Vuln => vuln(ctx),
    }
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "PASSED",
        Verdict::Failed => "FAILED",
    }
}

#[derive(Serialize)]
struct FindingsSummary<'a> {
    #[serde(flatten)]
    counts: &'a Summary,
    /// Findings (not waived) at or above the fail threshold.
    failing: usize,
    total: usize,
}

fn scan(ctx: &Context) -> Value {
    let report = ctx.report;
    json!({
        "tool": {
            "name": report.tool.name,
            "version": report.tool.version,
            "uri": TOOL_URI,
        },
        "policy": ctx.policy.to_json(),
        "failOn": report.gate.fail_on,
        "verdict": verdict_str(report.gate.result),
        "timeVerified": super::rfc3339(ctx.scan_finished),
        "findings": FindingsSummary {
            counts: &report.summary,
            failing: report.gate.failing,
            total: report.findings.len(),
        },
        "report": report,
    })
}

/// SLSA levels are for build provenance; a hardening policy is reported as a custom level
/// (the VSA allows any value that does not start with `SLSA_`), and `FAILED` when it failed.
fn verified_level(ctx: &Context) -> String {
    match ctx.report.gate.result {
        Verdict::Failed => "FAILED".to_string(),
        Verdict::Passed => {
            let name: String = ctx
                .policy
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("PORTCULLIS_POLICY_{name}")
        }
    }
}

fn vsa(ctx: &Context) -> Value {
    let report = ctx.report;
    json!({
        "verifier": {
            "id": TOOL_URI,
            "version": { report.tool.name.clone(): report.tool.version },
        },
        "timeVerified": super::rfc3339(ctx.scan_finished),
        "resourceUri": ctx.resource_uri,
        "policy": {
            "uri": ctx.policy.uri,
            "digest": {"sha256": ctx.policy.sha256},
        },
        "verificationResult": verdict_str(report.gate.result),
        "verifiedLevels": [verified_level(ctx)],
    })
}

fn vuln(ctx: &Context) -> Value {
    let report = ctx.report;
    let (db_uri, db_version) = vulnerability_db(report);
    json!({
        "invocation": {
            "parameters": ctx.parameters,
            "uri": "",
            "event_id": "",
            "builder.id": "",
        },
        "scanner": {
            "uri": TOOL_URI,
            "version": report.tool.version,
            "db": {"uri": db_uri, "version": db_version},
            "result": report,
        },
        "metadata": {
            "scanStartedOn": super::rfc3339(ctx.scan_started),
            "scanFinishedOn": super::rfc3339(ctx.scan_finished),
        },
    })
}

/// The vulnerability sources a scan consulted (`osv`, `trivy`), as the vuln predicate's
/// `scanner.db`: their names joined by `+` and what each read. A scan that consulted none
/// says so, with what became of each, so that a PASSED verdict is never read as "no known
/// vulnerabilities".
pub fn vulnerability_db(report: &Report) -> (String, String) {
    let vulnerability_sources: Vec<&portcullis_gate::report::Source> = report
        .sources
        .iter()
        .filter(|s| VULNERABILITY_SOURCES.contains(&s.name.as_str()))
        .collect();
    let used: Vec<&&portcullis_gate::report::Source> = vulnerability_sources
        .iter()
        .filter(|s| s.status == portcullis_gate::report::SourceStatus::Used)
        .collect();
    if used.is_empty() {
        let why: Vec<String> = vulnerability_sources.iter().map(|s| s.describe()).collect();
        let mut version = NO_VULNERABILITY_SOURCE.to_string();
        if !why.is_empty() {
            version.push_str(&format!(": {}", why.join("; ")));
        }
        return ("none".to_string(), version);
    }
    let uri = used
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join("+");
    let version = used
        .iter()
        .map(|s| s.describe())
        .collect::<Vec<_>>()
        .join("; ");
    (uri, version)
}

/// The sources of vulnerability findings; `package-index` finds outdated packages, not
/// vulnerabilities.
const VULNERABILITY_SOURCES: [&str; 2] = ["osv", "trivy"];

/// How `scanner.db.version` begins when no vulnerability source was consulted.
pub const NO_VULNERABILITY_SOURCE: &str = "no vulnerability source was used";

/// Why no verdict could be read from a predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoVerdict {
    /// A predicate type that carries no pass/fail decision.
    UnknownType,
    /// The field that should hold it is missing or not PASSED/FAILED.
    Missing(&'static str),
}

fn verdict_at(predicate: &Value, pointer: &'static str) -> Result<Verdict, NoVerdict> {
    match predicate.pointer(pointer).and_then(Value::as_str) {
        Some("PASSED") => Ok(Verdict::Passed),
        Some("FAILED") => Ok(Verdict::Failed),
        _ => Err(NoVerdict::Missing(pointer)),
    }
}

/// The pass/fail decision a predicate records: our scan's verdict, a VSA's
/// verificationResult, or the gate of the portcullis report inside a vuln predicate.
pub fn verdict(predicate_type: &str, predicate: &Value) -> Result<Verdict, NoVerdict> {
    match predicate_type {
        SCAN_V1 => verdict_at(predicate, "/verdict"),
        VSA_V1 => verdict_at(predicate, "/verificationResult"),
        COSIGN_VULN_V1 => verdict_at(predicate, "/scanner/result/gate/result"),
        _ => Err(NoVerdict::UnknownType),
    }
}

/// When the predicate says the verification happened (RFC 3339 text), and which field said so.
/// The dated data sets (vulnerability database exports) the report inside a predicate
/// names, as (name, time the data was last confirmed current); `None` for a predicate
/// that carries no report (a VSA).
pub fn data_times(
    predicate_type: &str,
    predicate: &Value,
) -> Option<Vec<(String, Option<String>)>> {
    let pointer = match predicate_type {
        SCAN_V1 => "/report/sources",
        COSIGN_VULN_V1 => "/scanner/result/sources",
        _ => return None,
    };
    let mut out = Vec::new();
    for source in predicate.pointer(pointer)?.as_array()? {
        if source["status"] != "used" {
            continue;
        }
        for data in source["data"].as_array().into_iter().flatten() {
            let name = format!(
                "{} {}",
                source["name"].as_str().unwrap_or("?"),
                data["name"].as_str().unwrap_or("?")
            );
            let time = data["checked"]
                .as_str()
                .or_else(|| data["fetched"].as_str())
                .map(str::to_string);
            out.push((name, time));
        }
    }
    Some(out)
}

pub fn time<'a>(
    predicate_type: &str,
    predicate: &'a Value,
) -> Option<(&'static str, Option<&'a str>)> {
    let pointer = match predicate_type {
        SCAN_V1 | VSA_V1 => "/timeVerified",
        COSIGN_VULN_V1 => "/metadata/scanFinishedOn",
        HARDEN_V1 => "/timeHardened",
        _ => return None,
    };
    Some((pointer, predicate.pointer(pointer).and_then(Value::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_gate::report::{Finding, ImageSummary, Location};
    use portcullis_model::Severity;
    use portcullis_model::image::{Platform, Transport};
    use std::time::{Duration, UNIX_EPOCH};

    fn report(failing: bool) -> Report {
        let image = ImageSummary {
            reference: "app.tar".into(),
            transport: Transport::DockerArchive,
            manifest_digest: None,
            config_digest: "sha256:cccc".into(),
            platform: Platform::host(),
            names: vec![],
            user: "root".into(),
            created: None,
            layers: vec![],
        };
        let findings = if failing {
            vec![Finding {
                check: "user-root".into(),
                severity: Severity::High,
                title: "Image runs as root".into(),
                message: "m".into(),
                location: Location::default(),
                evidence: None,
                data: Default::default(),
                waived: None,
                origin: None,
                delta: None,
            }]
        } else {
            vec![]
        };
        Report::new(image, findings, vec![], "default", Severity::High)
    }

    fn build_for(kind: PredicateKind, report: &Report) -> Value {
        let policy = PolicyRef::builtin(&Policy::default());
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        build(
            kind,
            &Context {
                report,
                policy: &policy,
                resource_uri: "docker-archive:app.tar",
                scan_started: t0,
                scan_finished: t0 + Duration::from_secs(3),
                parameters: json!({"fail_on": "high"}),
            },
        )
    }

    #[test]
    fn every_predicate_records_the_verdict_and_its_time() {
        for failing in [false, true] {
            let report = report(failing);
            let expected = if failing {
                Verdict::Failed
            } else {
                Verdict::Passed
            };
            for kind in [PredicateKind::Scan, PredicateKind::Vsa, PredicateKind::Vuln] {
                let p = build_for(kind, &report);
                let t = kind.predicate_type();
                assert_eq!(verdict(t, &p), Ok(expected), "{t}");
                assert_eq!(
                    time(t, &p).and_then(|(_, v)| v),
                    Some("2023-11-14T22:13:23Z"),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn the_vsa_has_the_fields_slsa_requires() {
        let p = build_for(PredicateKind::Vsa, &report(false));
        assert_eq!(p["verifier"]["id"], TOOL_URI);
        assert_eq!(p["resourceUri"], "docker-archive:app.tar");
        assert_eq!(p["verificationResult"], "PASSED");
        assert_eq!(p["verifiedLevels"], json!(["PORTCULLIS_POLICY_DEFAULT"]));
        assert_eq!(
            p["policy"]["digest"]["sha256"].as_str().map(str::len),
            Some(64)
        );
        let failed = build_for(PredicateKind::Vsa, &report(true));
        assert_eq!(failed["verifiedLevels"], json!(["FAILED"]));
    }

    #[test]
    fn the_vuln_predicate_follows_cosign() {
        let p = build_for(PredicateKind::Vuln, &report(true));
        for pointer in [
            "/invocation/parameters",
            "/invocation/uri",
            "/invocation/event_id",
            "/invocation/builder.id",
            "/scanner/uri",
            "/scanner/version",
            "/scanner/db/uri",
            "/scanner/db/version",
            "/scanner/result",
            "/metadata/scanStartedOn",
            "/metadata/scanFinishedOn",
        ] {
            assert!(p.pointer(pointer).is_some(), "{pointer}");
        }
        assert_eq!(p["metadata"]["scanStartedOn"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn the_vuln_predicate_names_its_sources_or_says_there_were_none() {
        use portcullis_gate::report::{Source, SourceStatus};
        let mut report = report(false);
        report.sources = vec![
            Source::new(
                "osv",
                SourceStatus::NotConfigured,
                Some("no --osv-db".into()),
            ),
            Source::new("trivy", SourceStatus::NotInstalled, None),
            Source::new("package-index", SourceStatus::Used, Some("1 index".into())),
        ];
        let p = build_for(PredicateKind::Vuln, &report);
        assert_eq!(p["scanner"]["result"]["gate"]["result"], "PASSED");
        assert_eq!(p["scanner"]["db"]["uri"], "none");
        assert_eq!(
            p["scanner"]["db"]["version"],
            "no vulnerability source was used: osv not configured (no --osv-db); \
             trivy not installed"
        );

        report.sources[0] = Source::new("osv", SourceStatus::Used, Some("1 database".into()));
        report.sources[1] = Source::new("trivy", SourceStatus::Used, Some("Trivy 0.76".into()));
        let p = build_for(PredicateKind::Vuln, &report);
        assert_eq!(p["scanner"]["db"]["uri"], "osv+trivy");
        assert_eq!(
            p["scanner"]["db"]["version"],
            "osv used (1 database); trivy used (Trivy 0.76)"
        );
    }

    #[test]
    fn the_scan_predicate_carries_the_summary_and_the_report() {
        let report = report(true);
        let p = build_for(PredicateKind::Scan, &report);
        assert_eq!(p["findings"]["high"], 1);
        assert_eq!(p["findings"]["failing"], 1);
        assert_eq!(p["findings"]["total"], 1);
        assert_eq!(p["policy"]["name"], "default");
        let back: Report = serde_json::from_value(p["report"].clone()).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn verdicts_are_not_guessed() {
        assert_eq!(
            verdict("https://example.com/other", &json!({"verdict": "PASSED"})),
            Err(NoVerdict::UnknownType)
        );
        assert_eq!(
            verdict(SCAN_V1, &json!({"verdict": "passed"})),
            Err(NoVerdict::Missing("/verdict"))
        );
        assert_eq!(
            verdict(COSIGN_VULN_V1, &json!({"scanner": {"result": {}}})),
            Err(NoVerdict::Missing("/scanner/result/gate/result"))
        );
    }

    #[test]
    fn builtin_policy_digests_change_with_the_settings() {
        let default = PolicyRef::builtin(&Policy::default());
        let strict = PolicyRef::builtin(&Policy {
            fail_on: Severity::Low,
            ..Policy::default()
        });
        assert_eq!(default.name, strict.name);
        assert_ne!(default.sha256, strict.sha256);
    }
}
