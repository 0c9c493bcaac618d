//! The human-readable report: the image's identity, then findings grouped by severity.

use super::{Delta, Finding, GateMode, Part, Report};
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

/// The part a finding belongs to; this image's when it was not attributed.
fn part(f: &Finding) -> Part {
    f.origin.as_ref().map_or(Part::Image, |o| o.part)
}

/// The build step that introduced a finding, for one line: `layer 2: COPY app /app`.
pub(crate) fn introduced_by(f: &Finding) -> Option<String> {
    let origin = f.origin.as_ref()?;
    let step = origin.created_by.as_deref().map(|c| {
        let c = c.trim();
        match c.char_indices().nth(100) {
            Some((at, _)) => format!("{}…", &c[..at]),
            None => c.to_string(),
        }
    });
    match (origin.layer, step) {
        (Some(layer), Some(step)) if !step.is_empty() => Some(format!("layer {layer}: {step}")),
        (None, Some(step)) if !step.is_empty() => Some(step),
        _ => None,
    }
}

fn write_finding(out: &mut dyn Write, f: &Finding, style: &Style) -> io::Result<()> {
    let delta = match f.delta {
        Some(Delta::New) => format!("  {}", style.paint("1;33", "(new)")),
        Some(Delta::Unchanged) => "  (unchanged)".to_string(),
        _ => String::new(),
    };
    writeln!(out, "  {}  {}{delta}", style.paint("1", &f.check), f.title)?;
    writeln!(out, "      {}", f.message)?;
    let loc = location(f);
    if !loc.is_empty() {
        writeln!(out, "      at {loc}")?;
    }
    if let Some(step) = introduced_by(f) {
        writeln!(out, "      from {step}")?;
    }
    if let Some(e) = &f.evidence
        && !e.is_empty()
    {
        writeln!(out, "      evidence: {e}")?;
    }
    Ok(())
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
    if let Some(base) = &report.base {
        rows.push(("base", base.describe()));
    }
    if let Some(baseline) = &report.baseline {
        rows.push((
            "baseline",
            format!(
                "{}: {} new, {} unchanged, {} fixed",
                baseline.reference, baseline.new, baseline.unchanged, baseline.fixed
            ),
        ));
    }
    if report.gate.mode != GateMode::All {
        rows.push(("gate on", report.gate.mode.describe().to_string()));
    }
    for (k, v) in rows {
        writeln!(out, "  {k:<9} {v}")?;
    }
    writeln!(out)?;

    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
    }
    let open: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.waived.is_none())
        .collect();
    // Grouped by base image and this image once the base is known; a heading per part.
    let parts: &[Option<Part>] = if open.iter().any(|f| part(f) == Part::Base) {
        &[Some(Part::Image), Some(Part::Base)]
    } else {
        &[None]
    };
    for wanted in parts {
        let in_part: Vec<&Finding> = open
            .iter()
            .copied()
            .filter(|f| wanted.is_none_or(|p| part(f) == p))
            .collect();
        if let Some(p) = wanted {
            let heading = format!("{} ({})", p.label().to_uppercase(), in_part.len());
            writeln!(out, "{}", style.paint("1;4", &heading))?;
            if in_part.is_empty() {
                writeln!(out, "  No findings.")?;
                writeln!(out)?;
            }
        }
        for severity in Severity::ALL {
            let group: Vec<&Finding> = in_part
                .iter()
                .copied()
                .filter(|f| f.severity == severity)
                .collect();
            if group.is_empty() {
                continue;
            }
            writeln!(out, "{} ({})", style.severity(severity), group.len())?;
            for f in group {
                write_finding(out, f, style)?;
            }
            writeln!(out)?;
        }
    }
    if let Some(plan) = &report.rebase {
        let heading = format!("BASE IMAGE CANDIDATES ({})", plan.candidates.len());
        writeln!(out, "{}", style.paint("1;4", &heading))?;
        for (i, candidate) in plan.candidates.iter().enumerate() {
            let best = if i == 0 { "best: " } else { "" };
            writeln!(out, "  {best}{}", candidate.describe(plan.base_findings))?;
            if !candidate.removes_packages.is_empty() {
                writeln!(
                    out,
                    "      fixes or drops {}",
                    candidate.removes_packages.join(", ")
                )?;
            }
        }
        writeln!(out)?;
    }
    if !report.fixed.is_empty() {
        writeln!(
            out,
            "{}",
            style.paint(
                "1;32",
                &format!("FIXED SINCE THE BASELINE ({})", report.fixed.len())
            )
        )?;
        for f in &report.fixed {
            writeln!(out, "  {} {}  {}", f.severity.label(), f.check, f.title)?;
            writeln!(out, "      {}", f.message)?;
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
        "{verdict}: {}{} at or above {} (policy {}); critical {}, high {}, medium {}, low {}, info {}{}",
        match gate.failing {
            1 => "1 finding".to_string(),
            n => format!("{n} findings"),
        },
        match gate.mode {
            GateMode::All => "",
            GateMode::IgnoreBase => " of this image",
            GateMode::Baseline => " new since the baseline",
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
