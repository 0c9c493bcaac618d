//! The human-readable report: the image's identity, then findings grouped by severity.

use super::{Finding, Report};
use crate::policy::{Severity, Verdict};
use std::io::{self, Write};

pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.paint(code, s.label())
    }
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What the layers weigh, saying which size is which: `12.3 MiB compressed, 40.1 MiB
/// uncompressed`, or only the uncompressed size when no layer is compressed.
pub(crate) fn layer_sizes(layers: &[portcullis_model::image::LayerInfo]) -> String {
    let stored: u64 = layers.iter().map(|l| l.size).sum();
    let uncompressed: u64 = layers.iter().map(|l| l.uncompressed_size).sum();
    let compressed = layers
        .iter()
        .any(|l| l.compression != portcullis_model::image::Compression::None);
    if compressed {
        format!(
            "{} compressed, {} uncompressed",
            human_size(stored),
            human_size(uncompressed)
        )
    } else {
        format!("{} uncompressed", human_size(uncompressed))
    }
}

/// Where a finding is, for one line of text.
pub(crate) fn location(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(path) = &f.location.path {
        let mut p = if path.starts_with('/') {
            path.clone()
        } else {
            format!("/{path}")
        };
        if let Some(line) = f.location.line {
            p.push_str(&format!(":{line}"));
        }
        parts.push(p);
    }
    if let Some(field) = &f.location.config {
        parts.push(field.clone());
    }
    if let Some(layer) = f.location.layer {
        match f.location.hidden_by {
            Some(by) => parts.push(format!(
                "layer {layer}, removed by layer {by} but still extractable from layer {layer}"
            )),
            None => parts.push(format!("layer {layer}")),
        }
    }
    parts.join("  ")
}

pub fn write(report: &Report, out: &mut dyn Write, style: &Style) -> io::Result<()> {
    // Image text is shown with its control and invisible characters escaped.
    let report = &super::text::escaped(report);
    let img = &report.image;
    writeln!(
        out,
        "{}",
        style.paint("1", &format!("{} ({})", img.reference, img.transport))
    )?;
    let user = if img.user.is_empty() {
        "(not set: root)".to_string()
    } else {
        img.user.clone()
    };
    let mut rows: Vec<(&str, String)> = vec![
        (
            "names",
            if img.names.is_empty() {
                "-".into()
            } else {
                img.names.join(", ")
            },
        ),
        (
            "manifest",
            img.manifest_digest
                .clone()
                .unwrap_or_else(|| "- (classic docker save: no manifest)".into()),
        ),
        ("config", img.config_digest.clone()),
        ("platform", img.platform.to_string()),
        (
            "layers",
            format!("{} ({})", img.layers.len(), layer_sizes(&img.layers)),
        ),
        ("user", user),
    ];
    if !report.sources.is_empty() {
        let sources: Vec<String> = report.sources.iter().map(|s| s.describe()).collect();
        rows.push(("sources", sources.join("; ")));
    }
    for (k, v) in rows {
        writeln!(out, "  {k:<9} {v}")?;
    }
    writeln!(out)?;

    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
    }
    for severity in Severity::ALL {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity && f.waived.is_none())
            .collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out, "{} ({})", style.severity(severity), group.len())?;
        for f in group {
            writeln!(out, "  {}  {}", style.paint("1", &f.check), f.title)?;
            writeln!(out, "      {}", f.message)?;
            let loc = location(f);
            if !loc.is_empty() {
                writeln!(out, "      at {loc}")?;
            }
            if let Some(e) = &f.evidence
                && !e.is_empty()
            {
                writeln!(out, "      evidence: {e}")?;
            }
        }
        writeln!(out)?;
    }
    let waived: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.waived.is_some())
        .collect();
    if !waived.is_empty() {
        writeln!(out, "WAIVED ({})", waived.len())?;
        for f in waived {
            let (reason, until) = match &f.waived {
                Some(w) => (
                    w.reason.as_str(),
                    w.expires
                        .as_deref()
                        .map(|d| format!(", until {d}"))
                        .unwrap_or_default(),
                ),
                None => ("", String::new()),
            };
            let loc = location(f);
            let mut at = String::new();
            // A vulnerability is waived for one package: say which, and which vulnerability.
            let data = |key: &str| f.data.get(key).and_then(|v| v.as_str());
            if let (Some(package), Some(vulnerability)) = (data("package"), data("vulnerability")) {
                at.push_str(&format!("  {package} {vulnerability}"));
            }
            if !loc.is_empty() {
                at.push_str(&format!("  {loc}"));
            }
            writeln!(out, "  {}{at}  ({reason}{until})", f.check)?;
        }
        writeln!(out)?;
    }
    for warning in report
        .waiver_warnings()
        .map(|(_, w)| w)
        .chain(report.vex_warnings().map(|(_, w)| w))
    {
        writeln!(out, "{}: {warning}", style.paint("33", "warning"))?;
    }
    for d in &report.diagnostics {
        let mut at = String::new();
        if let Some(l) = d.layer {
            at.push_str(&format!("layer {l}: "));
        }
        if let Some(p) = &d.path {
            at.push_str(&format!("{}: ", portcullis_model::path::absolute(p)));
        }
        writeln!(out, "note: {at}{}", d.message)?;
    }
    let s = &report.summary;
    let gate = &report.gate;
    let verdict = match gate.result {
        Verdict::Passed => style.paint("1;32", "PASSED"),
        Verdict::Failed => style.paint("1;31", "FAILED"),
    };
    writeln!(
        out,
        "{verdict}: {} at or above {} (policy {}); critical {}, high {}, medium {}, low {}, info {}{}",
        match gate.failing {
            1 => "1 finding".to_string(),
            n => format!("{n} findings"),
        },
        gate.fail_on,
        gate.policy,
        s.critical,
        s.high,
        s.medium,
        s.low,
        s.info,
        if s.waived > 0 {
            format!(", waived {}", s.waived)
        } else {
            String::new()
        }
    )
}
