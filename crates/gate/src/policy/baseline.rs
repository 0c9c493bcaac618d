//! `--baseline`: the verdict on what a change added. The same finding in two images is
//! matched by what it is about, never by where it sits: the check, the path or config field
//! (a history step by its text, since steps shift between builds), and the identifiers the
//! check records (package, vulnerability, secret rule). Layer digests differ between any two
//! builds and are left out, as Docker Scout's and Trivy's comparisons leave them out.

use crate::report::{Baseline, Finding, GateMode, Report};
use portcullis_model::Delta;
use std::collections::HashMap;

/// What makes two findings the same finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    check: String,
    place: Option<String>,
    package: Option<String>,
    vulnerability: Option<String>,
    rule: Option<String>,
}

fn key(finding: &Finding) -> Key {
    let data = |name: &str| {
        finding
            .data
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let history_step = finding
        .location
        .config
        .as_deref()
        .filter(|c| c.starts_with("history["))
        .and(finding.origin.as_ref())
        .and_then(|o| o.created_by.clone());
    Key {
        check: finding.check.clone(),
        place: finding
            .location
            .path
            .clone()
            .or(history_step)
            .or_else(|| finding.location.config.clone()),
        package: data(crate::policy::waivers::DATA_PACKAGE),
        vulnerability: data("vulnerability"),
        rule: data("rule"),
    }
}

/// The findings of `ours` that `theirs` lacks, and those of `theirs` that `ours` lacks,
/// matched as [`compare`] matches them.
pub fn difference<'a>(
    ours: &[&'a Finding],
    theirs: &[&'a Finding],
) -> (Vec<&'a Finding>, Vec<&'a Finding>) {
    let only = |a: &[&'a Finding], b: &[&'a Finding]| {
        let mut remaining: HashMap<Key, usize> = HashMap::new();
        for f in b {
            *remaining.entry(key(f)).or_default() += 1;
        }
        a.iter()
            .copied()
            .filter(|f| match remaining.get_mut(&key(f)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .collect::<Vec<_>>()
    };
    (only(ours, theirs), only(theirs, ours))
}

/// Marks each finding of `report` new or unchanged against `before` (the baseline's report,
/// judged the same way), lists what only the baseline has as fixed, and gates on the new
/// findings only.
pub fn compare(report: &mut Report, before: &Report, reference: &str) {
    let mut remaining: HashMap<Key, usize> = HashMap::new();
    for finding in &before.findings {
        *remaining.entry(key(finding)).or_default() += 1;
    }
    let mut kept: HashMap<Key, usize> = HashMap::new();
    for finding in &mut report.findings {
        let k = key(finding);
        let delta = match remaining.get_mut(&k) {
            Some(n) if *n > 0 => {
                *n -= 1;
                *kept.entry(k).or_default() += 1;
                Delta::Unchanged
            }
            _ => Delta::New,
        };
        finding.delta = Some(delta);
    }
    let mut fixed = Vec::new();
    for finding in &before.findings {
        let k = key(finding);
        match kept.get_mut(&k) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                let mut finding = finding.clone();
                finding.delta = Some(Delta::Fixed);
                fixed.push(finding);
            }
        }
    }
    let count = |d: Delta| {
        report
            .findings
            .iter()
            .filter(|f| f.delta == Some(d))
            .count()
    };
    report.baseline = Some(Baseline {
        reference: reference.to_string(),
        manifest_digest: before.image.manifest_digest.clone(),
        config_digest: before.image.config_digest.clone(),
        new: count(Delta::New),
        unchanged: count(Delta::Unchanged),
        fixed: fixed.len(),
    });
    report.fixed = fixed;
    report.set_mode(GateMode::Baseline);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;
    use crate::report::testing;
    use portcullis_model::Severity;

    fn report(findings: Vec<Finding>) -> Report {
        Report::new(
            testing::image(),
            findings,
            vec![],
            "default",
            Severity::Info,
        )
    }

    #[test]
    fn findings_match_by_what_they_are_about_not_by_layer() {
        let secret = |path: &str, layer: usize| {
            checks::secrets::IN_FILE
                .finding("a secret")
                .at_path(path)
                .in_layer(layer, format!("sha256:{layer}"))
                .with_data("rule", "aws-access-key-id")
        };
        let setuid = checks::modes::SETUID
            .finding("setuid")
            .at_path("/usr/bin/su");
        let before = report(vec![secret("/app/.env", 1), setuid.clone()]);
        let mut after = report(vec![
            secret("/app/.env", 3),
            secret("/app/new.env", 3),
            checks::user::ROOT.finding("root").in_config("config.User"),
        ]);
        compare(&mut after, &before, "app:1");
        let delta = |path: Option<&str>| {
            after
                .findings
                .iter()
                .find(|f| f.location.path.as_deref() == path)
                .and_then(|f| f.delta)
        };
        assert_eq!(delta(Some("/app/.env")), Some(Delta::Unchanged));
        assert_eq!(delta(Some("/app/new.env")), Some(Delta::New));
        assert_eq!(delta(None), Some(Delta::New));
        assert_eq!(after.fixed.len(), 1);
        assert_eq!(after.fixed[0].check, setuid.check);
        let baseline = after.baseline.as_ref().unwrap();
        assert_eq!(
            (baseline.new, baseline.unchanged, baseline.fixed),
            (2, 1, 1)
        );
        assert_eq!(after.gate.mode, GateMode::Baseline);
        // The unchanged secret no longer fails the gate; the new one and root do.
        assert_eq!(after.gate.failing, 2);
    }
}
