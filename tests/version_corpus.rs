//! Version ordering against the third-party vectors in `../shared/corpus/expected`.
//!
//! Every case in every file is asserted, and all mismatches of a file are reported
//! together. Every ordering case must come out as the corpus expects, in both
//! directions, including the apk and PyPI strings that are not versions of their
//! scheme: [`version::compare`] orders those as OSV does. Where the corpus records a
//! third-party library's split of an rpm EVR that rpm itself does not share, the
//! case is checked against rpm instead, through the table below; each entry says
//! why, and an entry that no case needs any more fails the test.

mod common;

use common::corpus;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::Path;

use portcullis::version::{self, Scheme, apk, deb, rpm};
use serde_json::Value;

/// go-rpm-version splits an EVR at the first `-` and reads any text before a `:`
/// as an epoch (junk as 0); the corpus notes that this is not rpm's behaviour. For
/// these inputs the split asserted is rpm 4.18's (`rpm.ver()`), as `(epoch,
/// version, release)`; `None` for the whole entry where rpm refuses the input.
type RpmSplit = Option<(Option<&'static str>, &'static str, Option<&'static str>)>;

const RPM_SPLITS: &[(&str, RpmSplit)] = &[
    ("0:0-0-0", Some((Some("0"), "0-0", Some("0")))),
    ("0:0-0-0-0", Some((Some("0"), "0-0-0", Some("0")))),
    ("0:0:0-0-0", Some((Some("0"), "0:0-0", Some("0")))),
    ("0:0-0:0-0", Some((Some("0"), "0-0:0", Some("0")))),
    ("  \t0:0-1", Some((None, "  \t0:0", Some("1")))),
    ("\t  0:0-1  \t", Some((None, "\t  0:0", Some("1  \t")))),
    ("", None),
    ("-1:0-1", Some((None, "-1:0", Some("1")))),
    ("a:0-0", Some((None, "a:0", Some("0")))),
    ("A:1-2", Some((None, "A:1", Some("2")))),
    ("A:1.2.3", Some((None, "A:1.2.3", None))),
    ("-1:1.2.3", Some((None, "", Some("1:1.2.3")))),
];

fn load(dir: &Path, file: &str) -> Vec<Value> {
    let path = dir.join("expected").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        Ok(_) => panic!("{}: expected a JSON array", path.display()),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case {case} has no string {key:?}"))
}

fn ordering(case: &Value) -> Ordering {
    match case["cmp"].as_i64() {
        Some(n) => n.cmp(&0),
        None => panic!("case {case} has no integer \"cmp\""),
    }
}

fn source(case: &Value) -> &str {
    case["source"].as_str().unwrap_or("?")
}

fn report(file: &str, summary: &str, failures: &[String]) {
    eprintln!("{file}: {summary}");
    assert!(
        failures.is_empty(),
        "{file}: {} of the cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_ordering(file: &str, scheme: Scheme) {
    let Some(dir) = corpus() else { return };
    let cases = load(&dir, file);
    let mut failures = Vec::new();
    let mut invalid = 0;
    for case in &cases {
        let (a, b, want) = (text(case, "a"), text(case, "b"), ordering(case));
        let got = version::compare(scheme, a, b);
        let reversed = version::compare(scheme, b, a);
        if !scheme.is_valid(a) || !scheme.is_valid(b) {
            invalid += 1;
        }
        if got != Some(want) || reversed != Some(want.reverse()) {
            failures.push(format!(
                "{a:?} vs {b:?}: want {want:?}, got {got:?} (reversed {reversed:?}) [{}]",
                source(case)
            ));
        }
    }
    let passed = cases.len() - failures.len();
    let summary = format!(
        "{passed} of {} cases ordered as expected ({invalid} with a side that is not a valid {scheme} version)",
        cases.len()
    );
    report(file, &summary, &failures);
}

#[test]
fn deb_ordering() {
    check_ordering("version-deb.json", Scheme::Deb);
}

#[test]
fn apk_ordering() {
    check_ordering("version-apk.json", Scheme::Apk);
}

#[test]
fn rpm_ordering() {
    check_ordering("version-rpm.json", Scheme::Rpm);
}

#[test]
fn pypi_ordering() {
    check_ordering("version-pypi.json", Scheme::Pep440);
}

#[test]
fn semver_ordering() {
    check_ordering("version-semver.json", Scheme::Semver);
}

#[test]
fn deb_validity_and_split() {
    let Some(dir) = corpus() else { return };
    let file = "version-deb-valid.json";
    let cases = load(&dir, file);
    let mut failures = Vec::new();
    for case in &cases {
        let input = text(case, "version");
        let strict = deb::Version::parse(input);
        let relaxed = deb::Version::parse_relaxed(input);
        let note = case["note"].as_str().unwrap_or("");
        let problem = match (case["valid"].as_bool(), case["severity"].as_str()) {
            (Some(true), _) => check_deb_split(case, &relaxed).or_else(|| {
                // The corpus marks go-deb-version's acceptances that dpkg warns about.
                let dpkg_warns = note.contains("dpkg itself warns");
                match (&strict, dpkg_warns) {
                    (Ok(_), false) => None,
                    (Err(e), true) if e.is_warning() => None,
                    (got, _) => Some(format!("strict parse gave {got:?}")),
                }
            }),
            (Some(false), Some("warning")) => match (&strict, &relaxed) {
                (Err(e), Ok(_)) if e.is_warning() => None,
                (s, r) => Some(format!("want a dpkg warning, got {s:?} / relaxed {r:?}")),
            },
            (Some(false), Some("error")) => match (&strict, &relaxed) {
                (Err(e), Err(_)) if !e.is_warning() => None,
                (s, r) => Some(format!("want a dpkg error, got {s:?} / relaxed {r:?}")),
            },
            (Some(false), _) => strict
                .as_ref()
                .ok()
                .map(|v| format!("want invalid, parsed as {v}")),
            _ => Some("case has no boolean \"valid\"".to_owned()),
        };
        if let Some(problem) = problem {
            failures.push(format!("{input:?}: {problem} [{}]", source(case)));
        }
    }
    report(file, &format!("{} cases checked", cases.len()), &failures);
}

fn check_deb_split(case: &Value, parsed: &Result<deb::Version, deb::ParseError>) -> Option<String> {
    let version = match parsed {
        Ok(version) => version,
        Err(e) => return Some(format!("refused: {e}")),
    };
    let mut problems = Vec::new();
    if let Some(epoch) = case["epoch"].as_u64()
        && u64::from(version.epoch()) != epoch
    {
        problems.push(format!("epoch {} != {epoch}", version.epoch()));
    }
    for (key, got) in [
        ("upstream", version.upstream()),
        ("revision", version.revision()),
    ] {
        if let Some(want) = case[key].as_str()
            && got != want
        {
            problems.push(format!("{key} {got:?} != {want:?}"));
        }
    }
    if let Some(want) = case["has_epoch"].as_bool()
        && (version.epoch() != 0) != want
    {
        problems.push(format!("has_epoch != {want}"));
    }
    if let Some(want) = case["has_revision"].as_bool()
        && version.revision().is_empty() == want
    {
        problems.push(format!("has_revision != {want}"));
    }
    (!problems.is_empty()).then(|| problems.join(", "))
}

#[test]
fn apk_validity() {
    let Some(dir) = corpus() else { return };
    let file = "version-apk-valid.json";
    let cases = load(&dir, file);
    let mut failures = Vec::new();
    for case in &cases {
        let input = text(case, "version");
        let want = case["valid"].as_bool();
        let got = apk::Version::parse(input);
        if want != Some(got.is_ok()) {
            failures.push(format!(
                "{input:?}: want valid={want:?}, got {got:?} [{}]",
                source(case)
            ));
        }
    }
    report(file, &format!("{} cases checked", cases.len()), &failures);
}

#[test]
fn apk_fuzzy_matching() {
    let Some(dir) = corpus() else { return };
    let file = "version-apk-fuzzy.json";
    let cases = load(&dir, file);
    let mut failures = Vec::new();
    for case in &cases {
        let (a, b, op) = (text(case, "a"), text(case, "b"), text(case, "op"));
        // `expected` is the relation without its `!`: the `!` marks where the
        // upstream vector asserts the negation.
        let relation = op.trim_start_matches('!');
        let fuzzy = apk::fuzzy_matches(a, b);
        let ord = apk::compare(a, b);
        let got = match relation {
            "~" => fuzzy,
            "<~" => fuzzy.map(|m| m || ord == Some(Ordering::Less)),
            ">~" => fuzzy.map(|m| m || ord == Some(Ordering::Greater)),
            other => {
                failures.push(format!("{a:?} {other} {b:?}: unknown operator"));
                continue;
            }
        };
        let want = case["expected"].as_bool();
        if got != want {
            failures.push(format!(
                "{a:?} {op} {b:?}: want {want:?}, got {got:?} [{}]",
                source(case)
            ));
        }
    }
    report(file, &format!("{} cases checked", cases.len()), &failures);
}

#[test]
fn rpm_evr_and_nevra_parsing() {
    let Some(dir) = corpus() else { return };
    let file = "version-rpm-valid.json";
    let cases = load(&dir, file);
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    let mut as_rpm = 0;
    for case in &cases {
        let input = text(case, "input");
        let problem = if case.get("name").is_some() {
            check_nevra(case, input)
        } else if let Some(&(_, rpm_split)) = RPM_SPLITS.iter().find(|(i, _)| *i == input) {
            used.insert(input);
            as_rpm += 1;
            let got = rpm::Evr::parse(input).ok().map(|evr| {
                (
                    evr.epoch().map(str::to_owned),
                    evr.version().to_owned(),
                    evr.release().map(str::to_owned),
                )
            });
            let want = rpm_split
                .map(|(e, v, r)| (e.map(str::to_owned), v.to_owned(), r.map(str::to_owned)));
            (got != want).then(|| format!("rpm splits it as {want:?}, got {got:?}"))
        } else {
            check_go_rpm_split(case, input)
        };
        if let Some(problem) = problem {
            failures.push(format!("{input:?}: {problem} [{}]", source(case)));
        }
    }
    for (input, _) in RPM_SPLITS {
        if !used.contains(input) {
            failures.push(format!("stale RPM_SPLITS entry {input:?}: no case uses it"));
        }
    }
    let summary = format!(
        "{} cases checked, {as_rpm} of them against rpm 4.18's split instead of go-rpm-version's",
        cases.len()
    );
    report(file, &summary, &failures);
}

/// A go-rpm-version case where its split and rpm's agree: epoch as a number
/// (absent is 0), release as a string (absent is empty).
fn check_go_rpm_split(case: &Value, input: &str) -> Option<String> {
    let evr = match rpm::Evr::parse(input) {
        Ok(evr) => evr,
        Err(e) => return Some(format!("refused: {e}")),
    };
    let epoch = evr.epoch().unwrap_or("0").parse::<i64>().ok();
    let got = (epoch, evr.version(), evr.release().unwrap_or(""));
    let want = (
        case["epoch"].as_i64(),
        text(case, "version"),
        text(case, "release"),
    );
    (got != want).then(|| format!("want {want:?}, got {got:?}"))
}

fn check_nevra(case: &Value, input: &str) -> Option<String> {
    let nevra = match rpm::Nevra::parse(input) {
        Ok(nevra) => nevra,
        Err(e) => return Some(format!("refused: {e}")),
    };
    let got = [
        nevra.name(),
        nevra.evr().epoch(),
        Some(nevra.evr().version()),
        nevra.evr().release(),
        nevra.arch(),
    ];
    let want = ["name", "epoch", "version", "release", "arch"].map(|key| case[key].as_str());
    (got != want).then(|| format!("want {want:?}, got {got:?}"))
}

#[test]
fn rpm_nevra_ordering() {
    let Some(dir) = corpus() else { return };
    let file = "version-rpm-nevra.json";
    let cases = load(&dir, file);
    let mut failures = Vec::new();
    for case in &cases {
        let (a, b, want) = (text(case, "a"), text(case, "b"), ordering(case));
        let got = match (rpm::Nevra::parse(a), rpm::Nevra::parse(b)) {
            (Ok(a), Ok(b)) => Ok((a.cmp(&b), b.cmp(&a))),
            (a, b) => Err(format!("{a:?} / {b:?}")),
        };
        if got != Ok((want, want.reverse())) {
            failures.push(format!(
                "{a:?} vs {b:?}: want {want:?}, got {got:?} [{}]",
                source(case)
            ));
        }
    }
    report(file, &format!("{} cases checked", cases.len()), &failures);
}
