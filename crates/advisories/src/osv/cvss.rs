//! CVSS base scores from vector strings, for OSV records that rate a vulnerability only by
//! its vector (`severity[].score` of type `CVSS_V3` or `CVSS_V2`).
//!
//! Version 3.x follows the FIRST CVSS v3.1 specification, section 7 (the 3.0 formula
//! differs only in its rounding, which 3.1 made exact); version 2 follows the CVSS v2
//! guide, section 3.2.1. Only base metrics count: temporal and environmental metrics in a
//! vector are accepted and ignored, as every scanner's "base score" does. CVSS v4 scores
//! come from a lookup table of macro vectors rather than a formula and are not computed.

use portcullis_model::Severity;

/// A computed base score and the band it falls in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// 0.0 to 10.0, one decimal.
    pub base: f64,
    pub severity: Severity,
}

/// The base score of a `CVSS:3.0/...` or `CVSS:3.1/...` vector; `None` when the vector is
/// not one, or lacks a base metric, or repeats one.
pub fn v3(vector: &str) -> Option<Score> {
    let rest = vector
        .strip_prefix("CVSS:3.1/")
        .or_else(|| vector.strip_prefix("CVSS:3.0/"))?;
    let metrics = metrics(rest)?;
    let get = |key: &str| metrics.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let changed = match get("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |key: &str| match get(key)? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    let base = if impact <= 0.0 {
        0.0
    } else if changed {
        round_up(f64::min(1.08 * (impact + exploitability), 10.0))
    } else {
        round_up(f64::min(impact + exploitability, 10.0))
    };
    Some(Score {
        base,
        severity: v3_band(base),
    })
}

/// The base score of a CVSS v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, optionally in
/// parentheses or with a `CVSS:2.0/` prefix).
pub fn v2(vector: &str) -> Option<Score> {
    let text = vector.trim().trim_start_matches('(').trim_end_matches(')');
    let text = text.strip_prefix("CVSS:2.0/").unwrap_or(text);
    let metrics = metrics(text)?;
    let get = |key: &str| metrics.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let av = match get("AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac = match get("AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au = match get("Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |key: &str| match get(key)? {
        "N" => Some(0.0),
        "P" => Some(0.275),
        "C" => Some(0.660),
        _ => None,
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f: f64 = if impact == 0.0 { 0.0 } else { 1.176 };
    let base = ((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10.0).round() / 10.0;
    let base = base.clamp(0.0, 10.0);
    let severity = match base {
        b if b >= 7.0 => Severity::High,
        b if b >= 4.0 => Severity::Medium,
        b if b > 0.0 => Severity::Low,
        _ => Severity::Info,
    };
    Some(Score { base, severity })
}

/// The v3 qualitative rating scale (specification section 5): none is `Info`.
fn v3_band(base: f64) -> Severity {
    match base {
        b if b >= 9.0 => Severity::Critical,
        b if b >= 7.0 => Severity::High,
        b if b >= 4.0 => Severity::Medium,
        b if b > 0.0 => Severity::Low,
        _ => Severity::Info,
    }
}

/// `KEY:VALUE` pairs separated by `/`; empty segments (a trailing `/`) are tolerated, a
/// repeated key or a segment without `:` is not.
fn metrics(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in text.split('/').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once(':')?;
        if out.iter().any(|(k, _)| *k == key) {
            return None;
        }
        out.push((key, value));
    }
    Some(out)
}

/// CVSS v3.1 `Roundup`: the smallest number with one decimal at or above `x`, computed on
/// integers so that floating-point noise (4.000000001) does not round up.
fn round_up(x: f64) -> f64 {
    let scaled = (x * 100_000.0).round() as i64;
    if scaled % 10_000 == 0 {
        scaled as f64 / 100_000.0
    } else {
        (scaled / 10_000 + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores as NVD's calculator gives them.
    #[test]
    fn v3_base_scores_match_the_specification() {
        let cases = [
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                9.8,
                Severity::Critical,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                10.0,
                Severity::Critical,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
                5.3,
                Severity::Medium,
            ),
            (
                "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:N",
                4.8,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                6.1,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
                7.8,
                Severity::High,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N",
                6.4,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
                1.6,
                Severity::Low,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N",
                0.0,
                Severity::Info,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H",
                9.1,
                Severity::Critical,
            ),
        ];
        for (vector, base, severity) in cases {
            assert_eq!(v3(vector), Some(Score { base, severity }), "{vector}");
        }
    }

    #[test]
    fn v3_ignores_temporal_metrics_and_a_trailing_slash() {
        let with = v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/").unwrap();
        assert_eq!(with.base, 9.8);
    }

    #[test]
    fn malformed_vectors_have_no_score() {
        for bad in [
            "",
            "CVSS:3.1/",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/SC:N/VI:H/SI:N/VA:H/SA:N",
            "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ] {
            assert_eq!(v3(bad), None, "{bad}");
        }
        assert_eq!(v2("AV:N/AC:L/Au:N/C:P/I:P"), None);
    }

    #[test]
    fn v2_base_scores_match_the_guide() {
        assert_eq!(v2("AV:N/AC:L/Au:N/C:P/I:N/A:N").map(|s| s.base), Some(5.0));
        assert_eq!(
            v2("(AV:N/AC:L/Au:N/C:C/I:C/A:C)"),
            Some(Score {
                base: 10.0,
                severity: Severity::High
            })
        );
        assert_eq!(v2("AV:N/AC:M/Au:N/C:P/I:P/A:P").map(|s| s.base), Some(6.8));
        assert_eq!(v2("AV:L/AC:H/Au:M/C:N/I:N/A:N").map(|s| s.base), Some(0.0));
    }
}
