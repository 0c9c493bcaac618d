//! A Markdown summary for a pull-request comment or `$GITHUB_STEP_SUMMARY`: the verdict, the
//! counts, the findings that fail the gate, then the rest, waivers and warnings.
//!
//! Everything that comes from the image (paths, messages, evidence) is escaped: a file name
//! must not be able to inject HTML, links or @-mentions into a comment. Tables are capped at
//! [`MAX_ROWS`] rows so the summary stays under GitHub's 65,536-character comment limit.

use super::{Delta, Finding, GateMode, Report, table};
use crate::checks;
use crate::policy::Verdict;
use std::fmt::Write as _;
use std::io::{self, Write};

pub const MAX_ROWS: usize = 50;

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render(report).as_bytes())
}

pub fn render(report: &Report) -> String {
    // Image text is shown with its control and invisible characters escaped.
    let report = &super::text::escaped(report);
    let mut md = String::new();
    let gate = &report.gate;
    let image = &report.image;
    let verdict = match gate.result {
        Verdict::Passed => "✅ passed",
        Verdict::Failed => "❌ failed",
    };
    let name = image.names.first().unwrap_or(&image.reference);
    let _ = writeln!(md, "## portcullis: {verdict}\n");
    let _ = writeln!(
        md,
        "Image {} ({}), policy {}, fails on **{}**: {}.\n",
        code(name),
        image.transport,
        code(&gate.policy),
        gate.fail_on,
        match gate.failing {
            0 => "no finding fails the gate".to_string(),
            1 => "**1 finding** fails the gate".to_string(),
            n => format!("**{n} findings** fail the gate"),
        }
    );
    let s = &report.summary;
    md.push_str("| critical | high | medium | low | info | waived |\n");
    md.push_str("|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.critical, s.high, s.medium, s.low, s.info, s.waived
    );

    if let Some(base) = &report.base {
        let _ = writeln!(md, "Base image: {}.\n", escape(&base.describe()));
    }
    if let Some(baseline) = &report.baseline {
        let _ = writeln!(
            md,
            "Compared with the baseline {}: {} new, {} unchanged, {} fixed.\n",
            code(&baseline.reference),
            baseline.new,
            baseline.unchanged,
            baseline.fixed
        );
    }
    if report.gate.mode != GateMode::All {
        let _ = writeln!(md, "The gate judged {}.\n", report.gate.mode.describe());
    }
    let failing: Vec<&Finding> = report.findings.iter().filter(|f| report.fails(f)).collect();
    let other: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.waived.is_none() && !report.fails(f))
        .collect();
    let waived: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.waived.is_some())
        .collect();
    findings_table(&mut md, "Findings that fail the gate", &failing);
    findings_table(&mut md, "Other findings", &other);
    let fixed: Vec<&Finding> = report.fixed.iter().collect();
    findings_table(&mut md, "Fixed since the baseline", &fixed);
    if let Some(plan) = &report.rebase {
        let _ = writeln!(
            md,
            "### Base image candidates ({})\n",
            plan.candidates.len()
        );
        for candidate in plan.candidates.iter().take(MAX_ROWS) {
            let _ = writeln!(md, "- {}", escape(&candidate.describe(plan.base_findings)));
        }
        more(&mut md, plan.candidates.len());
    }
    if !waived.is_empty() {
        let _ = writeln!(md, "### Waived ({})\n", waived.len());
        md.push_str("| check | where | reason | expires |\n|---|---|---|---|\n");
        for f in waived.iter().take(MAX_ROWS) {
            let w = f.waived.as_ref();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                check_link(&f.check),
                where_cell(f),
                escape(w.map_or("", |w| w.reason.as_str())),
                w.and_then(|w| w.expires.as_deref()).unwrap_or("never")
            );
        }
        more(&mut md, waived.len());
    }

    let warnings: Vec<String> = report
        .waiver_warnings()
        .map(|(_, m)| m)
        .chain(report.vex_warnings().map(|(_, m)| m))
        .map(|m| format!("- ⚠️ {}", escape(&m)))
        .chain(report.diagnostics.iter().map(|d| {
            let mut at = String::new();
            if let Some(l) = d.layer {
                let _ = write!(at, "layer {l}: ");
            }
            if let Some(p) = &d.path {
                let _ = write!(at, "{}: ", code(&portcullis_model::path::absolute(p)));
            }
            format!("- note: {at}{}", escape(&d.message))
        }))
        .collect();
    if !warnings.is_empty() {
        md.push_str("### Warnings\n\n");
        for w in warnings.iter().take(MAX_ROWS) {
            md.push_str(w);
            md.push('\n');
        }
        more(&mut md, warnings.len());
    }

    md.push_str("<details><summary>Image</summary>\n\n| | |\n|---|---|\n");
    let _ = writeln!(md, "| reference | {} |", code(&image.reference));
    if !image.names.is_empty() {
        let names: Vec<String> = image.names.iter().map(|n| code(n)).collect();
        let _ = writeln!(md, "| names | {} |", names.join(", "));
    }
    let _ = writeln!(
        md,
        "| manifest | {} |",
        image
            .manifest_digest
            .as_deref()
            .map_or("none (classic docker save)".to_string(), code)
    );
    let _ = writeln!(md, "| config | {} |", code(&image.config_digest));
    let _ = writeln!(md, "| platform | {} |", code(&image.platform.to_string()));
    let _ = writeln!(
        md,
        "| layers | {} ({}) |",
        image.layers.len(),
        table::layer_sizes(&image.layers)
    );
    let _ = writeln!(
        md,
        "| user | {} |",
        if image.user.is_empty() {
            "not set (root)".to_string()
        } else {
            code(&image.user)
        }
    );
    if !report.sources.is_empty() {
        let sources: Vec<String> = report
            .sources
            .iter()
            .map(|s| escape(&s.describe()))
            .collect();
        let _ = writeln!(md, "| sources | {} |", sources.join("; "));
    }
    let _ = writeln!(
        md,
        "\n</details>\n\n<sub>{} {}</sub>",
        report.tool.name, report.tool.version
    );
    md
}

fn findings_table(md: &mut String, title: &str, findings: &[&Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(md, "### {title} ({})\n", findings.len());
    md.push_str("| severity | check | where | from | finding |\n|---|---|---|---|---|\n");
    for f in findings.iter().take(MAX_ROWS) {
        let mut finding = escape(&f.message);
        if let Some(e) = f.evidence.as_deref().filter(|e| !e.is_empty()) {
            let _ = write!(finding, "<br>evidence: {}", code(e));
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {finding} |",
            f.severity.label(),
            check_link(&f.check),
            where_cell(f),
            from_cell(f),
        );
    }
    more(md, findings.len());
}

/// Base image or this image, the build step, and whether the baseline has the finding.
fn from_cell(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(origin) = &f.origin {
        parts.push(origin.part.label().to_string());
    }
    if let Some(step) = table::introduced_by(f) {
        parts.push(code(&step));
    }
    match f.delta {
        Some(Delta::New) => parts.push("**new**".to_string()),
        Some(Delta::Unchanged) => parts.push("unchanged".to_string()),
        Some(Delta::Fixed) | None => {}
    }
    parts.join("<br>")
}

fn more(md: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(
            md,
            "\n… and {} more: see the full report.",
            total - MAX_ROWS
        );
    }
    md.push('\n');
}

/// The check id, linked to its first reference when it has one.
fn check_link(id: &str) -> String {
    match checks::find(id).and_then(|c| c.help_url()) {
        Some(url) => format!("[{}]({url})", code(id)),
        None => code(id),
    }
}

fn where_cell(f: &Finding) -> String {
    let loc = &f.location;
    let mut parts = Vec::new();
    if let Some(path) = &loc.path {
        let mut p = portcullis_model::path::absolute(path);
        if let Some(line) = loc.line {
            let _ = write!(p, ":{line}");
        }
        parts.push(code(&p));
    }
    if let Some(field) = &loc.config {
        parts.push(code(field));
    }
    if let Some(layer) = loc.layer {
        parts.push(match loc.hidden_by {
            Some(by) => format!("layer {layer} (removed by layer {by}, still extractable)"),
            None => format!("layer {layer}"),
        });
    }
    parts.join("<br>")
}

/// Text in a table cell: Markdown and HTML specials escaped, `@` defused, one line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("&#64;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A code span in a table cell: backticks in the text get a longer fence, pipes are
/// escaped (GitHub splits cells on them even inside code), line breaks become spaces.
pub fn code(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if clean.starts_with('`') || clean.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tables_are_capped_for_comment_limits() {
        use crate::checks::user;
        use portcullis_model::Severity;
        let findings = (0..MAX_ROWS + 10)
            .map(|i| user::ROOT.finding(format!("finding {i}")))
            .collect();
        let report = Report::new(
            crate::report::testing::image(),
            findings,
            vec![],
            "default",
            Severity::High,
        );
        let md = render(&report);
        assert!(md.contains("### Findings that fail the gate (60)"), "{md}");
        assert!(md.contains("… and 10 more: see the full report."), "{md}");
        assert_eq!(md.matches("| HIGH |").count(), MAX_ROWS);
    }

    #[test]
    fn hostile_text_cannot_inject_markup() {
        assert_eq!(
            escape("<img src=x> @admin [a](b) | *x*"),
            "&lt;img src=x&gt; &#64;admin \\[a\\](b) \\| \\*x\\*"
        );
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a\nb"), "`a b`");
    }
}
