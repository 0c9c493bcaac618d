//! The text of a report that comes from the image, and how it is shown safely.
//!
//! File names, labels, history lines, package names and user names are the image author's
//! text. In JSON and SARIF their own string escaping keeps them lossless and inert; the
//! formats a terminal or a reviewer reads as text (the table, Markdown, JUnit) get
//! [`escaped`], a copy of the report in which every control character and every
//! non-printing Unicode character (bidi overrides, zero-width characters, line and paragraph
//! separators) is written as an escape: `\x1b`, `\x0d`, `\u202e`. An image cannot move the
//! cursor, clear the screen, reorder a line, or print a forged verdict of its own.

use super::Report;
use std::borrow::Cow;

/// Calls `f` on every string of `report` that may come from the image (or from the
/// ignore file, or a VEX document): finding titles, messages, evidence, locations, data,
/// waiver reasons, VEX statements, diagnostics, source details, the image's names, user and
/// reference.
pub fn for_each_text(report: &mut Report, f: &mut dyn FnMut(&mut String)) {
    for finding in report.findings.iter_mut().chain(&mut report.fixed) {
        finding_text(finding, f);
    }
    for diagnostic in &mut report.diagnostics {
        f(&mut diagnostic.message);
        if let Some(path) = &mut diagnostic.path {
            f(path);
        }
    }
    for source in &mut report.sources {
        if let Some(detail) = &mut source.detail {
            f(detail);
        }
    }
    for waiver in &mut report.waivers {
        f(&mut waiver.reason);
        for text in [&mut waiver.path, &mut waiver.package, &mut waiver.rule]
            .into_iter()
            .flatten()
        {
            f(text);
        }
    }
    for statement in &mut report.vex {
        f(&mut statement.file);
        f(&mut statement.vulnerability);
        statement.aliases.iter_mut().for_each(&mut *f);
        statement.products.iter_mut().for_each(&mut *f);
        for text in [
            &mut statement.written_status,
            &mut statement.justification,
            &mut statement.impact_statement,
            &mut statement.action_statement,
        ]
        .into_iter()
        .flatten()
        {
            f(text);
        }
    }
    if let Some(base) = &mut report.base {
        for text in [&mut base.reference, &mut base.detail]
            .into_iter()
            .flatten()
        {
            f(text);
        }
    }
    if let Some(baseline) = &mut report.baseline {
        f(&mut baseline.reference);
    }
    for candidate in report.rebase.iter_mut().flat_map(|p| &mut p.candidates) {
        f(&mut candidate.reference);
        candidate.removes_packages.iter_mut().for_each(&mut *f);
    }
    let image = &mut report.image;
    f(&mut image.reference);
    f(&mut image.user);
    image.names.iter_mut().for_each(&mut *f);
    if let Some(created) = &mut image.created {
        f(created);
    }
    for layer in &mut image.layers {
        if let Some(media_type) = &mut layer.media_type {
            f(media_type);
        }
    }
}

fn finding_text(finding: &mut super::Finding, f: &mut dyn FnMut(&mut String)) {
    f(&mut finding.title);
    f(&mut finding.message);
    if let Some(evidence) = &mut finding.evidence {
        f(evidence);
    }
    let location = &mut finding.location;
    for text in [&mut location.path, &mut location.config]
        .into_iter()
        .flatten()
    {
        f(text);
    }
    for value in finding.data.values_mut() {
        for_each_json_text(value, f);
    }
    if let Some(waived) = &mut finding.waived {
        f(&mut waived.reason);
        if let Some(vex) = &mut waived.vex {
            f(&mut vex.file);
            vex.justification.iter_mut().for_each(&mut *f);
        }
    }
    if let Some(created_by) = finding.origin.as_mut().and_then(|o| o.created_by.as_mut()) {
        f(created_by);
    }
}

fn for_each_json_text(value: &mut serde_json::Value, f: &mut dyn FnMut(&mut String)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| for_each_json_text(v, f)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| for_each_json_text(v, f)),
        _ => {}
    }
}

/// Whether a character does not print as itself: C0 and C1 controls, DEL, and the
/// invisible format characters that reorder or hide text.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'                  // soft hyphen
            | '\u{061C}'                // Arabic letter mark
            | '\u{115F}' | '\u{1160}'   // Hangul fillers
            | '\u{180E}'                // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'   // line/paragraph separators, bidi embeddings/overrides
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // zero-width no-break space (BOM)
            | '\u{FFA0}'                // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
            | '\u{E0000}'..='\u{E007F}' // tag characters
        )
}

/// `text` with every hidden character written as an escape (`\x1b`, `\u202e`,
/// `\u{e0041}`); borrowed when it has none.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_hidden(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if (c as u32) <= 0xFFFF {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// Escapes `text` in place.
pub fn make_visible(text: &mut String) {
    if let Cow::Owned(escaped) = visible(text) {
        *text = escaped;
    }
}

/// `report` with every image-supplied string made [`visible`]: what the text formats
/// render.
pub fn escaped(report: &Report) -> Report {
    let mut copy = report.clone();
    for_each_text(&mut copy, &mut make_visible);
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_characters_become_escapes() {
        assert_eq!(
            visible("\rPASSED: 0 findings\x1b[2J"),
            "\\x0dPASSED: 0 findings\\x1b[2J"
        );
        assert_eq!(visible("a\nb\tc\u{7f}\u{9b}"), "a\\x0ab\\x09c\\x7f\\x9b");
        assert_eq!(visible("evil\u{202e}txt.sh"), "evil\\u202etxt.sh");
        assert_eq!(visible("x\u{200b}y\u{feff}"), "x\\u200by\\ufeff");
        assert_eq!(visible("tag\u{e0041}"), "tag\\u{e0041}");
        assert!(matches!(
            visible("/usr/bin/sudo äöü 日本"),
            Cow::Borrowed(_)
        ));
    }
}
