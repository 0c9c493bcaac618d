//! SARIF 2.1.0, for code-scanning UIs (GitHub code scanning, GitLab, Azure DevOps).
//!
//! One run; a rule per check of the table with its help text and CIS/Dockle/CWE references;
//! a result per finding. GitHub requires every result to have a physical location, so:
//! - a finding at a path is located at that path inside the image (relative, no leading `/`);
//! - a finding in the image config is located at the image itself (its repository name, or
//!   the archive's file name), with the config field as a logical location.
//!
//! The layer holding the evidence is a logical location too (and in `properties`), so a
//! result says both where the file is and which layer still carries it. Waived findings are
//! results with an accepted external suppression (a VEX statement's file, status and
//! justification in its properties). With `--baseline`, each finding has its
//! `baselineState` (`new`, `unchanged`), and the baseline's findings this image no longer has
//! are results too, `absent`, of kind `pass`. Expired and unused waivers are configuration
//! notifications located in the waiver file, unused VEX statements in their document; scan
//! diagnostics are execution notifications.

use super::{Delta, Finding, Report, WaiverState};
use crate::checks::{self, Check, Reference};
use portcullis_model::Severity;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Write};

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/portcullis/portcullis";
const FINGERPRINT_KEY: &str = "portcullisFinding/v1";

/// Notification descriptors (`tool.driver.notifications`), by index: id, description,
/// what to do.
const NOTIFICATIONS: &[(&str, &str, &str)] = &[
    (
        "waiver-expired",
        "A waiver's expiry date has passed; what it waived is reported again.",
        "Fix what the waiver covered, or renew the waiver with a new reason and date.",
    ),
    (
        "waiver-unused",
        "A waiver matched no finding.",
        "Remove the waiver if the finding is gone, or correct its check, path, package or rule.",
    ),
    (
        "scan-diagnostic",
        "Something in the image could not be read; the scan went on without it.",
        "Check the file named in the message: the checks that need it saw nothing.",
    ),
    (
        "vex-unused",
        "A VEX statement is about no finding of this image.",
        "Nothing to do if the document covers other products too; otherwise check its \
         vulnerability and product identifiers (purls, the image's digest or name).",
    ),
];

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(report))?;
    out.write_all(b"\n")
}

/// GitHub's `security-severity` scores (CVSS-like bands) and SARIF levels.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Info => "0.0",
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

pub fn to_value(report: &Report) -> Value {
    let mut rule_ids: Vec<String> = checks::all().map(|c| c.id.to_string()).collect();
    for f in report.findings.iter().chain(&report.fixed) {
        if !rule_ids.contains(&f.check) {
            rule_ids.push(f.check.clone());
        }
    }
    let mut worst: BTreeMap<&str, Severity> = BTreeMap::new();
    for f in &report.findings {
        let e = worst.entry(f.check.as_str()).or_insert(f.severity);
        *e = (*e).max(f.severity);
    }
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            rule(
                id,
                checks::find(id),
                worst.get(id.as_str()).copied(),
                report,
            )
        })
        .collect();
    let image_uri = image_uri(report);
    // With a baseline, what it had and this image no longer has follows as `absent`
    // results: the rule was evaluated and the problem is gone (`kind: pass`).
    let results: Vec<Value> = report
        .findings
        .iter()
        .chain(&report.fixed)
        .map(|f| {
            let index = rule_ids.iter().position(|id| *id == f.check).unwrap_or(0);
            result(report, f, index, &image_uri)
        })
        .collect();

    let mut configuration = Vec::new();
    for (w, message) in report.waiver_warnings() {
        let descriptor = match w.state {
            WaiverState::Expired => 0,
            _ => 1,
        };
        configuration.push(json!({
            "level": "warning",
            "message": { "text": sentence(&message) },
            "descriptor": { "id": NOTIFICATIONS[descriptor].0, "index": descriptor },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": { "uri": file_uri(&w.file) },
                    "region": { "startLine": w.line.max(1) }
                }
            }]
        }));
    }
    for (v, message) in report.vex_warnings() {
        configuration.push(json!({
            "level": "note",
            "message": { "text": sentence(&message) },
            "descriptor": { "id": NOTIFICATIONS[3].0, "index": 3 },
            "locations": [{
                "physicalLocation": { "artifactLocation": { "uri": file_uri(&v.file) } }
            }]
        }));
    }
    let execution: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let mut n = json!({
                "level": "note",
                "message": { "text": sentence(&d.message) },
                "descriptor": { "id": NOTIFICATIONS[2].0, "index": 2 },
            });
            let mut location = Map::new();
            if let Some(path) = &d.path {
                location.insert(
                    "physicalLocation".into(),
                    json!({ "artifactLocation": { "uri": path_uri(path) } }),
                );
            }
            if let Some(layer) = d.layer {
                location.insert(
                    "logicalLocations".into(),
                    json!([layer_location(layer, image_layer_digest(report, layer))]),
                );
            }
            if !location.is_empty() {
                n["locations"] = json!([Value::Object(location)]);
            }
            n
        })
        .collect();
    let mut invocation = json!({ "executionSuccessful": true });
    if !configuration.is_empty() {
        invocation["toolConfigurationNotifications"] = Value::Array(configuration);
    }
    if !execution.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(execution);
    }

    let image = &report.image;
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": report.tool.name,
                    "version": report.tool.version,
                    "semanticVersion": report.tool.version,
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                    "notifications": NOTIFICATIONS.iter().map(|(id, text, help)| json!({
                        "id": id,
                        "shortDescription": { "text": text },
                        "fullDescription": { "text": text },
                        "help": { "text": help },
                    })).collect::<Vec<_>>(),
                }
            },
            "invocations": [invocation],
            "results": results,
            "properties": {
                "image": {
                    "reference": image.reference,
                    "transport": image.transport,
                    "names": image.names,
                    "manifestDigest": image.manifest_digest,
                    "configDigest": image.config_digest,
                    "platform": image.platform.to_string(),
                },
                "gate": {
                    "result": report.gate.result,
                    "policy": report.gate.policy,
                    "failOn": report.gate.fail_on,
                    "failing": report.gate.failing,
                    "mode": report.gate.mode,
                },
                "base": report.base,
                "baseline": report.baseline,
            }
        }]
    })
}

/// `user-root` → `UserRoot`: SARIF's `name` is a readable identifier that differs from `id`.
fn pascal_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn reference_tag(r: &Reference) -> String {
    match r {
        Reference::Cis(id) => format!("CIS-{id}"),
        Reference::Dockle(id) => id.to_string(),
        Reference::Cwe(n) => format!("external/cwe/cwe-{n}"),
        Reference::Url(_) => String::new(),
    }
}

fn rule(id: &str, check: Option<&Check>, worst: Option<Severity>, report: &Report) -> Value {
    let Some(check) = check else {
        let severity = worst.unwrap_or(Severity::Info);
        return json!({
            "id": id,
            "name": pascal_case(id),
            "shortDescription": { "text": sentence(id) },
            "defaultConfiguration": { "level": level(severity) },
            "properties": { "security-severity": security_severity(severity) },
        });
    };
    let severity = worst.unwrap_or(check.severity);
    let mut tags = vec![
        "security".to_string(),
        "container".to_string(),
        check.family.to_string(),
    ];
    tags.extend(
        check
            .references
            .iter()
            .map(reference_tag)
            .filter(|t| !t.is_empty()),
    );
    let refs_text: Vec<String> = check
        .references
        .iter()
        .map(|r| match r.url() {
            Some(url) if !matches!(r, Reference::Url(_)) => format!("{} ({url})", r.label()),
            _ => r.label(),
        })
        .collect();
    let refs_md: Vec<String> = check
        .references
        .iter()
        .map(|r| match r.url() {
            Some(url) => format!("- [{}]({url})", r.label()),
            None => format!("- {}", r.label()),
        })
        .collect();
    let mut help_text = format!(
        "{}\n\nRemediation: {}",
        check.description, check.remediation
    );
    let mut help_md = format!(
        "{}\n\n**Remediation:** {}",
        check.description, check.remediation
    );
    if !refs_text.is_empty() {
        help_text.push_str(&format!("\n\nReferences: {}.", refs_text.join(", ")));
        help_md.push_str(&format!("\n\n**References:**\n{}", refs_md.join("\n")));
    }
    let mut rule = json!({
        "id": check.id,
        "name": pascal_case(check.id),
        "shortDescription": { "text": sentence(check.title) },
        "fullDescription": { "text": sentence(check.description) },
        "help": { "text": help_text, "markdown": help_md },
        "defaultConfiguration": {
            "level": level(severity),
            "enabled": !report.gate.disabled.iter().any(|d| d == check.id),
        },
        "properties": {
            "tags": tags,
            "precision": "very-high",
            "problem.severity": level(severity),
            "security-severity": security_severity(severity),
            "severity": severity,
            "references": check.references,
        },
    });
    if let Some(url) = check.help_url() {
        rule["helpUri"] = Value::String(url);
    }
    rule
}

/// Layer `layer` of the image, whose blob digest is `digest` when known.
fn layer_location(layer: usize, digest: Option<&str>) -> Value {
    let digest = digest.unwrap_or("");
    json!({
        "name": format!("layer {layer}"),
        "fullyQualifiedName": format!("layers[{layer}] {digest}").trim_end().to_string(),
        "kind": "module",
    })
}

/// The digest of this image's layer `layer`.
fn image_layer_digest(report: &Report, layer: usize) -> Option<&str> {
    report.image.layers.get(layer).map(|l| l.digest.as_str())
}

fn result(report: &Report, f: &Finding, rule_index: usize, image_uri: &str) -> Value {
    let loc = &f.location;
    let uri = match &loc.path {
        Some(path) => path_uri(path),
        None => image_uri.to_string(),
    };
    let mut region = json!({ "startLine": loc.line.unwrap_or(1) });
    if loc.line.is_none() {
        region["endLine"] = json!(1);
    }
    let mut logical = Vec::new();
    if let Some(field) = &loc.config {
        logical.push(json!({
            "name": field,
            "fullyQualifiedName": field,
            "kind": "property",
        }));
    }
    if let Some(layer) = loc.layer {
        // A finding the baseline alone has is in the baseline's layer, not this image's
        // layer of that index.
        let digest = match f.delta {
            Some(Delta::Fixed) => loc.layer_digest.as_deref(),
            _ => image_layer_digest(report, layer),
        };
        logical.push(layer_location(layer, digest));
    }
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri },
            "region": region,
        }
    });
    if !logical.is_empty() {
        location["logicalLocations"] = Value::Array(logical);
    }

    let absent = f.delta == Some(Delta::Fixed);
    let mut message = f.message.clone();
    if let Some(layer) = loc.layer
        && absent
    {
        message.push_str(&format!(" (in layer {layer} of the baseline; fixed)"));
    } else if let Some(layer) = loc.layer {
        match loc.hidden_by {
            Some(by) => message.push_str(&format!(
                " (in layer {layer}; removed by layer {by} but still extractable from layer {layer})"
            )),
            None => message.push_str(&format!(" (in layer {layer})")),
        }
    }

    let mut properties = json!({
        "severity": f.severity,
        "failsGate": !absent && report.fails(f),
    });
    if let Some(layer) = loc.layer {
        properties["layer"] = json!(layer);
    }
    if let Some(digest) = &loc.layer_digest {
        properties["layerDigest"] = json!(digest);
    }
    if let Some(by) = loc.hidden_by {
        properties["hiddenBy"] = json!(by);
    }
    if let Some(field) = &loc.config {
        properties["config"] = json!(field);
    }
    if let Some(evidence) = &f.evidence {
        properties["evidence"] = json!(evidence);
    }
    if !f.data.is_empty() {
        properties["data"] = Value::Object(f.data.clone());
    }
    if let Some(origin) = &f.origin {
        properties["origin"] = json!({
            "part": origin.part,
            "layer": origin.layer,
            "history": origin.history,
            "createdBy": origin.created_by,
        });
    }

    let mut result = json!({
        "ruleId": f.check,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": { "text": sentence(&message) },
        "locations": [location],
        "partialFingerprints": { FINGERPRINT_KEY: fingerprint(f) },
        "properties": properties,
    });
    if let Some(delta) = f.delta {
        // SARIF's own word for a result compared with a baseline run.
        result["baselineState"] = json!(match delta {
            Delta::New => "new",
            Delta::Unchanged => "unchanged",
            Delta::Fixed => "absent",
        });
    }
    if absent {
        // A result of another kind than `fail` has level `none` (SARIF 2.1.0, 3.27.9).
        result["kind"] = json!("pass");
        result["level"] = json!("none");
    }
    if let Some(waived) = &f.waived {
        let mut suppression = json!({
            "kind": "external",
            "status": "accepted",
            "justification": waived.reason,
        });
        if let Some(expires) = &waived.expires {
            suppression["properties"] = json!({ "expires": expires });
        }
        if let Some(vex) = &waived.vex {
            suppression["properties"] = json!({
                "vexFile": vex.file,
                "vexStatement": vex.statement,
                "vexStatus": vex.status,
                "vexJustification": vex.justification,
            });
        }
        result["suppressions"] = json!([suppression]);
    }
    result
}

/// Identifies a finding across scans of rebuilt images: the check, where, and what about,
/// but not the layer digest, which changes with every build.
fn fingerprint(f: &Finding) -> String {
    let data = |k: &str| f.data.get(k).and_then(Value::as_str).unwrap_or("");
    let key = [
        f.check.as_str(),
        f.location
            .path
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/'),
        f.location.config.as_deref().unwrap_or(""),
        data(crate::policy::waivers::DATA_PACKAGE),
        data(crate::policy::waivers::DATA_RULE),
    ]
    .join("\0");
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

/// Messages end with a full stop, as SARIF viewers expect.
fn sentence(text: &str) -> String {
    let t = text.trim_end();
    if t.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

/// Percent-encodes everything but unreserved characters, sub-delimiters, `@` and `/`, so an
/// image path or name is a relative URI reference (`:` is encoded: it would read as a
/// scheme).
fn encode_uri_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@/".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An image path as a relative URI.
fn path_uri(path: &str) -> String {
    encode_uri_path(path.trim_start_matches('/'))
}

/// A file on this machine (the waiver file): relative paths stay relative, absolute ones
/// become `file://` URIs.
fn file_uri(path: &str) -> String {
    let slashed = path.replace('\\', "/");
    if slashed.starts_with('/') {
        format!("file://{}", encode_uri_path(&slashed))
    } else {
        encode_uri_path(&slashed)
    }
}

/// The location of findings about the image as a whole: its repository name without tag
/// or digest (as Trivy locates image results), or the archive's or layout's file name.
fn image_uri(report: &Report) -> String {
    let image = &report.image;
    // An OCI ref name may be a bare tag (`1.0`), which names no repository.
    let repository = image.names.first().filter(|n| n.contains([':', '/']));
    let name = match repository {
        Some(n) => strip_tag(n).to_string(),
        None => {
            let reference = image.reference.as_str();
            let without_transport = ["docker-archive:", "oci-archive:", "oci:"]
                .iter()
                .find_map(|t| reference.strip_prefix(t))
                .unwrap_or(reference);
            let path = without_transport
                .split_once('@')
                .map_or(without_transport, |(p, _)| p);
            // `oci:DIR:TAG`: a tag after the last path component.
            let path = match path.rsplit_once(':') {
                Some((p, tag)) if !tag.contains('/') && !p.is_empty() => p,
                _ => path,
            };
            let path = path.trim_end_matches('/');
            path.rsplit('/').next().unwrap_or(path).to_string()
        }
    };
    let name = name.trim_start_matches('/');
    if name.is_empty() {
        "image".to_string()
    } else {
        encode_uri_path(name)
    }
}

/// `registry:5000/app:1.4@sha256:...` → `registry:5000/app`.
fn strip_tag(name: &str) -> &str {
    let name = name.split_once('@').map_or(name, |(n, _)| n);
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_model::Finding;

    fn report(findings: Vec<Finding>) -> Report {
        Report::new(
            crate::report::testing::image(),
            findings,
            vec![],
            "default",
            Severity::High,
        )
    }

    #[test]
    fn a_file_in_a_layer_is_located_at_its_path_and_layer() {
        let mut finding = checks::user::ROOT
            .finding("a key in a deleted file")
            .at_path("/root/.aws/credentials")
            .in_layer(0, format!("sha256:{}", "0".repeat(64)))
            .with_data("rule", "aws-access-key-id")
            .with_evidence("AKIA…(20)");
        finding.location.hidden_by = Some(1);
        finding.location.line = Some(3);
        let other = Finding {
            check: "not-in-the-table".into(),
            ..checks::user::ROOT.finding("x")
        };
        let sarif = to_value(&report(vec![finding, other]));
        let run = &sarif["runs"][0];
        let by_rule = |id: &str| {
            run["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["ruleId"] == id)
                .unwrap()
                .clone()
        };
        let result = by_rule("user-root");
        let location = &result["locations"][0];
        assert_eq!(
            location["physicalLocation"]["artifactLocation"]["uri"],
            "root/.aws/credentials"
        );
        assert_eq!(location["physicalLocation"]["region"]["startLine"], 3);
        assert_eq!(location["logicalLocations"][0]["name"], "layer 0");
        assert!(
            result["message"]["text"]
                .as_str()
                .unwrap()
                .ends_with("(in layer 0; removed by layer 1 but still extractable from layer 0).")
        );
        assert_eq!(result["properties"]["hiddenBy"], 1);
        assert_eq!(result["properties"]["evidence"], "AKIA…(20)");
        assert_eq!(result["properties"]["data"]["rule"], "aws-access-key-id");

        let config_result = by_rule("not-in-the-table");
        assert_eq!(config_result["ruleId"], "not-in-the-table");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let index = config_result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], "not-in-the-table");
        assert_eq!(
            config_result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "layout",
            "a bare OCI tag names no repository: the layout's name locates the image"
        );
    }

    #[test]
    fn the_baselines_findings_this_image_fixed_are_absent_results() {
        let before = report(vec![
            checks::modes::SETUID
                .finding("setuid")
                .at_path("/usr/bin/su")
                .in_layer(2, "sha256:baseline-layer-2".to_string()),
            checks::user::ROOT.finding("root").in_config("config.User"),
        ]);
        let mut after = report(vec![
            checks::user::ROOT.finding("root").in_config("config.User"),
        ]);
        crate::policy::baseline::compare(&mut after, &before, "app:1");
        let sarif = to_value(&after);
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["baselineState"], "unchanged");
        let absent = &results[1];
        assert_eq!(absent["baselineState"], "absent");
        assert_eq!(absent["kind"], "pass");
        assert_eq!(absent["level"], "none");
        assert_eq!(absent["properties"]["failsGate"], false);
        assert_eq!(
            absent["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "layers[2] sha256:baseline-layer-2"
        );
        assert!(
            absent["message"]["text"]
                .as_str()
                .unwrap()
                .contains("in layer 2 of the baseline"),
            "{absent:#}"
        );
    }

    #[test]
    fn names_uris_and_sentences() {
        assert_eq!(pascal_case("user-uid0-alias"), "UserUid0Alias");
        assert_eq!(strip_tag("registry:5000/app:1.4"), "registry:5000/app");
        assert_eq!(strip_tag("registry:5000/app"), "registry:5000/app");
        assert_eq!(strip_tag("app@sha256:abc"), "app");
        assert_eq!(path_uri("/etc/my file:1"), "etc/my%20file%3A1");
        assert_eq!(path_uri("bin/\\xff"), "bin/%5Cxff");
        assert_eq!(file_uri("/tmp/w.toml"), "file:///tmp/w.toml");
        assert_eq!(file_uri(".portcullisignore.toml"), ".portcullisignore.toml");
        assert_eq!(sentence("done"), "done.");
        assert_eq!(sentence("done."), "done.");
    }
}
