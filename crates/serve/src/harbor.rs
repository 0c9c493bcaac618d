//! Harbor's reports made of portcullis's one report: the vulnerability report (the spec's
//! `HarborVulnerabilityReport`, one schema for v1.0 and v1.1) and the SBOM report. Nothing
//! here judges anything: every vulnerability is a `vuln-package` finding of the report the
//! gate gave, and every other finding travels as `vendor_attributes`, already redacted by
//! the gate's one scrub pass.

use crate::api::{Artifact, SbomFormat, Scanner};
use portcullis_gate::report::Report;
use portcullis_model::Severity;
use portcullis_model::finding::Finding;
use serde_json::{Map, Value, json};

/// The check whose findings are vulnerabilities.
const VULNERABILITY_CHECK: &str = "vuln-package";

/// Harbor's scale for portcullis's: a vulnerability without a usable rating (`info`) is
/// `Unknown`; the others keep their name.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "Unknown",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

fn text<'a>(finding: &'a Finding, key: &str) -> Option<&'a str> {
    finding.data.get(key).and_then(Value::as_str)
}

/// `"CVSS:3.1 7.5"` (the rating's basis) as `preferred_cvss`; other bases say no score.
fn cvss(basis: &str) -> Option<Value> {
    let (version, score) = basis.strip_prefix("CVSS:")?.split_once(' ')?;
    let score: f64 = score.trim().parse().ok()?;
    let key = if version.starts_with('3') || version.starts_with('4') {
        "score_v3"
    } else if version.starts_with('2') {
        "score_v2"
    } else {
        return None;
    };
    Some(json!({ key: score }))
}

/// Links people follow: the record's own URL, then each id's page on osv.dev (and NVD for a
/// CVE).
fn links(finding: &Finding) -> Vec<String> {
    let mut out: Vec<String> = text(finding, "url")
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_string)
        .into_iter()
        .collect();
    let names = ["ids", "aliases"]
        .iter()
        .filter_map(|k| finding.data.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str);
    for name in names {
        // Identifiers are [A-Za-z0-9-:.]; anything else is not put in a URL.
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'_'))
        {
            continue;
        }
        let link = format!("https://osv.dev/vulnerability/{name}");
        if !out.contains(&link) {
            out.push(link);
        }
        if name.starts_with("CVE-") {
            out.push(format!("https://nvd.nist.gov/vuln/detail/{name}"));
        }
    }
    out
}

/// Where a finding lives and the data its check recorded: what Harbor keeps as
/// `vendor_attributes`.
fn vendor_attributes(finding: &Finding) -> Map<String, Value> {
    let mut attributes = Map::new();
    attributes.insert("check".into(), finding.check.clone().into());
    if let Ok(location) = serde_json::to_value(&finding.location)
        && location.as_object().is_some_and(|o| !o.is_empty())
    {
        attributes.insert("location".into(), location);
    }
    if let Some(waived) = &finding.waived {
        attributes.insert(
            "waived".into(),
            serde_json::to_value(waived).unwrap_or(Value::Null),
        );
    }
    if let Some(origin) = &finding.origin {
        attributes.insert(
            "origin".into(),
            serde_json::to_value(origin).unwrap_or(Value::Null),
        );
    }
    for key in [
        "ecosystem",
        "purl",
        "source",
        "reported_by",
        "severity_basis",
        "source_package",
        "source_version",
        "databases",
    ] {
        if let Some(value) = finding.data.get(key) {
            attributes.insert(key.into(), value.clone());
        }
    }
    attributes
}

fn vulnerability(finding: &Finding) -> Value {
    let mut item = Map::new();
    let id = text(finding, "vulnerability").unwrap_or(&finding.title);
    item.insert("id".into(), id.into());
    for (key, from) in [("package", "package"), ("version", "version")] {
        if let Some(value) = text(finding, from) {
            item.insert(key.into(), value.into());
        }
    }
    if let Some(fixed) = text(finding, "fixed_version") {
        item.insert("fix_version".into(), fixed.into());
    }
    item.insert("severity".into(), severity(finding.severity).into());
    item.insert(
        "description".into(),
        text(finding, "summary").unwrap_or(&finding.message).into(),
    );
    item.insert("links".into(), links(finding).into());
    if let Some(score) = text(finding, "severity_basis").and_then(cvss) {
        item.insert("preferred_cvss".into(), score);
    }
    item.insert(
        "vendor_attributes".into(),
        Value::Object(vendor_attributes(finding)),
    );
    Value::Object(item)
}

/// A finding that is not a vulnerability, as the raw report has it (its evidence already
/// redacted), for the report's `vendor_attributes`.
fn other_finding(finding: &Finding) -> Value {
    let mut value = json!({
        "check": finding.check,
        "severity": finding.severity,
        "title": finding.title,
        "message": finding.message,
    });
    if let Some(object) = value.as_object_mut() {
        for (key, field) in vendor_attributes(finding) {
            object.entry(key).or_insert(field);
        }
        if let Some(evidence) = &finding.evidence {
            object.insert("evidence".into(), evidence.clone().into());
        }
    }
    value
}

/// `HarborVulnerabilityReport`: the vulnerabilities of `report`, the highest severity among
/// them, and, as `vendor_attributes`, the gate's verdict and every other finding (secrets,
/// file modes, user, hygiene, outdated packages, end of life).
pub fn vulnerability_report(
    report: &Report,
    artifact: &Artifact,
    scanner: &Scanner,
    generated_at: &str,
) -> Value {
    let (vulnerabilities, others): (Vec<&Finding>, Vec<&Finding>) = report
        .findings
        .iter()
        .partition(|f| f.check == VULNERABILITY_CHECK);
    let highest = vulnerabilities
        .iter()
        .map(|f| f.severity)
        .max()
        .map_or("Unknown", severity);
    json!({
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": scanner,
        "severity": highest,
        "vulnerabilities": vulnerabilities.iter().map(|f| vulnerability(f)).collect::<Vec<_>>(),
        "vendor_attributes": {
            "gate": report.gate,
            "summary": report.summary,
            "findings": others.iter().map(|f| other_finding(f)).collect::<Vec<_>>(),
        },
    })
}

/// `HarborSbomReport`: the document `portcullis sbom` writes, in `format`.
pub fn sbom_report(
    document: &Value,
    format: SbomFormat,
    artifact: &Artifact,
    scanner: &Scanner,
    generated_at: &str,
) -> Value {
    json!({
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": scanner,
        "media_type": format.media_type(),
        "sbom": document,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_scores_come_from_the_rating_basis() {
        assert_eq!(cvss("CVSS:3.1 7.5"), Some(json!({"score_v3": 7.5})));
        assert_eq!(cvss("CVSS:2.0 5"), Some(json!({"score_v2": 5.0})));
        assert_eq!(cvss("database: MODERATE"), None);
        assert_eq!(cvss("CVSS:3.1 high"), None);
    }

    #[test]
    fn severities_map_onto_harbors_scale() {
        assert_eq!(severity(Severity::Info), "Unknown");
        assert_eq!(severity(Severity::Critical), "Critical");
    }
}
