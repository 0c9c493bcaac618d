//! JUnit XML, for CI systems that show test results (GitLab `artifacts:reports:junit`,
//! Jenkins, Azure DevOps).
//!
//! A test suite per check family and a test case per check of the table: a check whose
//! findings fail the gate is a failure carrying those findings; findings below the threshold
//! and waived ones are listed in `system-out` of a passing case; a check the policy turned
//! off is skipped. Each finding's line says where it came from (base image or this image,
//! and the build step) and, with `--baseline`, whether it is new. Waivers, VEX statements,
//! the baseline's findings this image fixed and scan diagnostics get suites of their own,
//! without failures: they are about the configuration, the change and the scan.

use super::{Delta, Finding, Report, VexState, WaiverState};
use crate::checks;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

struct Case<'a> {
    id: &'a str,
    title: &'a str,
    findings: Vec<&'a Finding>,
    disabled: bool,
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render(report).as_bytes())
}

pub fn render(report: &Report) -> String {
    // Image text is shown with its control and invisible characters escaped.
    let report = &super::text::escaped(report);
    // Families in table order, then any check id the table does not know.
    let mut suites: Vec<(&str, Vec<Case>)> = Vec::new();
    let mut index: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for family in checks::FAMILIES {
        let cases = family
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                index.insert(c.id, (suites.len(), i));
                Case {
                    id: c.id,
                    title: c.title,
                    findings: Vec::new(),
                    disabled: report.gate.disabled.iter().any(|d| d == c.id),
                }
            })
            .collect();
        suites.push((family.name, cases));
    }
    for f in &report.findings {
        let (s, c) = match index.get(f.check.as_str()) {
            Some(at) => *at,
            None => {
                if suites.last().is_none_or(|(name, _)| *name != "other") {
                    suites.push(("other", Vec::new()));
                }
                let s = suites.len() - 1;
                suites[s].1.push(Case {
                    id: &f.check,
                    title: &f.title,
                    findings: Vec::new(),
                    disabled: false,
                });
                let at = (s, suites[s].1.len() - 1);
                index.insert(&f.check, at);
                at
            }
        };
        suites[s].1[c].findings.push(f);
    }

    let image = &report.image.reference;
    let mut body = String::new();
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for (family, cases) in &suites {
        let suite_failures = cases
            .iter()
            .filter(|c| c.findings.iter().any(|f| report.fails(f)))
            .count();
        let suite_skipped = cases.iter().filter(|c| c.disabled).count();
        tests += cases.len();
        failures += suite_failures;
        skipped += suite_skipped;
        let _ = writeln!(
            body,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\" errors=\"0\" skipped=\"{suite_skipped}\">",
            attr(family),
            cases.len()
        );
        for case in cases {
            write_case(&mut body, report, family, case);
        }
        body.push_str("  </testsuite>\n");
    }
    if !report.waivers.is_empty() {
        tests += report.waivers.len();
        let _ = writeln!(
            body,
            "  <testsuite name=\"waivers\" tests=\"{}\" failures=\"0\" errors=\"0\" skipped=\"0\">",
            report.waivers.len()
        );
        for w in &report.waivers {
            let state = match w.state {
                WaiverState::Applied => format!("applied to {} finding(s)", w.matched),
                WaiverState::Unused => "unused: it matched no finding".to_string(),
                WaiverState::Expired => format!(
                    "expired on {}: {} finding(s) reported again",
                    w.expires.as_deref().unwrap_or("?"),
                    w.matched
                ),
            };
            let _ = writeln!(
                body,
                "    <testcase classname=\"waivers\" name=\"{}:{} {}\">\n      <system-out>{}</system-out>\n    </testcase>",
                attr(&w.file),
                w.line,
                attr(&w.check),
                text(&format!("{state}; reason: {}", w.reason))
            );
        }
        body.push_str("  </testsuite>\n");
    }
    if !report.vex.is_empty() {
        tests += report.vex.len();
        let _ = writeln!(
            body,
            "  <testsuite name=\"vex\" tests=\"{}\" failures=\"0\" errors=\"0\" skipped=\"0\">",
            report.vex.len()
        );
        for v in &report.vex {
            let state = match v.state {
                VexState::Applied => format!("suppressed {} finding(s)", v.suppressed),
                VexState::Matched => format!("about {} finding(s), suppressing none", v.matched),
                VexState::Unused => "unused: it is about no finding of this image".to_string(),
            };
            let why = v
                .justification
                .iter()
                .chain(v.impact_statement.iter())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("; ");
            let _ = writeln!(
                body,
                "    <testcase classname=\"vex\" name=\"{} #{} {}\">\n      <system-out>{}</system-out>\n    </testcase>",
                attr(&v.file),
                v.statement,
                attr(&v.vulnerability),
                text(&format!(
                    "{} {state}{}",
                    v.status,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!("; {why}")
                    }
                ))
            );
        }
        body.push_str("  </testsuite>\n");
    }
    if let Some(baseline) = report
        .baseline
        .as_ref()
        .filter(|_| !report.fixed.is_empty())
    {
        tests += report.fixed.len();
        let _ = writeln!(
            body,
            "  <testsuite name=\"fixed since {}\" tests=\"{}\" failures=\"0\" errors=\"0\" skipped=\"0\">",
            attr(&baseline.reference),
            report.fixed.len()
        );
        for f in &report.fixed {
            let _ = writeln!(
                body,
                "    <testcase classname=\"fixed\" name=\"{}\">\n      <system-out>{}</system-out>\n    </testcase>",
                attr(&f.check),
                text(&format!("fixed: {}", describe(f)))
            );
        }
        body.push_str("  </testsuite>\n");
    }
    if !report.diagnostics.is_empty() {
        tests += 1;
        body.push_str(
            "  <testsuite name=\"scan\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\">\n    <testcase classname=\"scan\" name=\"read the image\">\n      <system-out>",
        );
        for d in &report.diagnostics {
            let mut line = String::new();
            if let Some(l) = d.layer {
                let _ = write!(line, "layer {l}: ");
            }
            if let Some(p) = &d.path {
                let _ = write!(line, "{}: ", portcullis_model::path::absolute(p));
            }
            line.push_str(&d.message);
            body.push_str(&text(&line));
            body.push('\n');
        }
        body.push_str("</system-out>\n    </testcase>\n  </testsuite>\n");
    }

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"portcullis {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        attr(image)
    );
    xml.push_str(&body);
    xml.push_str("</testsuites>\n");
    xml
}

fn write_case(body: &mut String, report: &Report, family: &str, case: &Case) {
    let _ = write!(
        body,
        "    <testcase classname=\"{}\" name=\"{}: {}\"",
        attr(family),
        attr(case.id),
        attr(case.title)
    );
    if case.disabled {
        let _ = writeln!(
            body,
            ">\n      <skipped message=\"disabled by policy {}\"/>\n    </testcase>",
            attr(&report.gate.policy)
        );
        return;
    }
    if case.findings.is_empty() {
        body.push_str("/>\n");
        return;
    }
    body.push_str(">\n");
    let (failing, other): (Vec<&Finding>, Vec<&Finding>) =
        case.findings.iter().partition(|f| report.fails(f));
    if !failing.is_empty() {
        let threshold = report.gate.threshold(case.id);
        let worst = failing
            .iter()
            .map(|f| f.severity)
            .max()
            .map_or("", |s| s.as_str());
        let _ = write!(
            body,
            "      <failure message=\"{}\" type=\"{}\">",
            attr(&format!(
                "{} finding{} at or above {threshold}",
                failing.len(),
                if failing.len() == 1 { "" } else { "s" }
            )),
            worst
        );
        for f in &failing {
            body.push_str(&text(&describe(f)));
            body.push('\n');
        }
        body.push_str("</failure>\n");
    }
    if !other.is_empty() {
        body.push_str("      <system-out>");
        for f in &other {
            body.push_str(&text(&describe(f)));
            body.push('\n');
        }
        body.push_str("</system-out>\n");
    }
    body.push_str("    </testcase>\n");
}

/// One finding as a line of text: severity, message, where, evidence, waiver.
fn describe(f: &Finding) -> String {
    let mut line = format!("{} {}", f.severity.label(), f.message);
    let loc = super::table::location(f);
    if !loc.is_empty() {
        let _ = write!(line, " (at {loc})");
    }
    if let Some(e) = f.evidence.as_deref().filter(|e| !e.is_empty()) {
        let _ = write!(line, "; evidence: {e}");
    }
    if let Some(origin) = &f.origin {
        let _ = write!(line, "; from {}", origin.part.label());
        if let Some(step) = super::table::introduced_by(f) {
            let _ = write!(line, " ({step})");
        }
    }
    match f.delta {
        Some(Delta::New) => line.push_str("; new since the baseline"),
        Some(Delta::Unchanged) => line.push_str("; the baseline has it too"),
        Some(Delta::Fixed) | None => {}
    }
    if let Some(w) = &f.waived {
        let _ = write!(line, "; waived: {}", w.reason);
        if let Some(expires) = &w.expires {
            let _ = write!(line, " (until {expires})");
        }
    }
    line
}

/// Drops characters XML 1.0 cannot carry at all.
fn xml_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(|&c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    })
}

fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in xml_chars(s) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in xml_chars(s) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::user;
    use portcullis_model::Severity;

    #[test]
    fn failing_checks_fail_disabled_ones_skip_unknown_ones_get_a_suite() {
        let findings = vec![
            user::ROOT.finding("root <&> \"x\""),
            Finding {
                severity: Severity::Low,
                ..user::NOT_FOUND.finding("below the threshold")
            },
            Finding {
                check: "elsewhere".into(),
                ..user::ROOT.finding("from a family the table lacks")
            },
        ];
        let mut report = Report::new(
            crate::report::testing::image(),
            findings,
            vec![],
            "default",
            Severity::High,
        );
        report.gate.disabled = vec!["user-numeric-unmapped".into()];
        let xml = render(&report);
        // One testcase per check in the table, plus one for the check the table lacks.
        let tests = crate::checks::all().count() + 1;
        assert!(xml.contains(&format!(
            "<testsuites name=\"portcullis oci:layout:1.0\" tests=\"{tests}\" failures=\"2\" errors=\"0\" skipped=\"1\">"
        )), "{xml}");
        assert!(
            xml.contains(
                "<failure message=\"1 finding at or above high\" type=\"high\">HIGH root &lt;&amp;&gt; \"x\"\n</failure>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<system-out>LOW below the threshold\n</system-out>"),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"disabled by policy default\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"other\" tests=\"1\" failures=\"1\""),
            "{xml}"
        );
    }

    #[test]
    fn a_finding_says_where_it_came_from_and_what_the_baseline_fixed_is_listed() {
        let mut finding = user::ROOT.finding("runs as root");
        finding.origin = Some(crate::report::Origin {
            part: crate::report::Part::Base,
            layer: Some(0),
            history: Some(0),
            created_by: Some("ADD rootfs.tar /".into()),
        });
        let fixed = user::NOT_FOUND.finding("gone");
        let before = Report::new(
            crate::report::testing::image(),
            vec![finding.clone(), fixed],
            vec![],
            "default",
            Severity::High,
        );
        let mut report = Report::new(
            crate::report::testing::image(),
            vec![finding],
            vec![],
            "default",
            Severity::High,
        );
        crate::policy::baseline::compare(&mut report, &before, "app:1");
        let xml = render(&report);
        assert!(
            xml.contains(
                "HIGH runs as root; from base image (layer 0: ADD rootfs.tar /); the baseline has it too\n"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"fixed since app:1\" tests=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<system-out>fixed: "), "{xml}");
    }

    #[test]
    fn text_and_attributes_are_escaped_and_stripped() {
        assert_eq!(text("a<b>&c\u{1}d"), "a&lt;b&gt;&amp;cd");
        assert_eq!(attr("\"x\"\n"), "&quot;x&quot;&#10;");
    }
}
