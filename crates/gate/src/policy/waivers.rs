//! Waivers: findings accepted on purpose, with a reason and, usually, an expiry date.
//!
//! `.portcullisignore.toml` (or `--ignore-file FILE`):
//!
//! ```toml
//! [[waiver]]
//! check = "user-root"                 # a check id (required)
//! path = "/usr/local/bin/*"           # a glob on the finding's path (optional)
//! package = "openssl"                 # the finding's package (optional)
//! rule = "aws-access-key-id"          # the finding's secret rule (optional)
//! reason = "init needs root; tracked in OPS-42"   # required, not empty
//! expires = 2026-12-31                # optional: the last day the waiver applies (UTC)
//! ```
//!
//! A waiver applies to every finding that meets all of its conditions. A waived finding
//! stays in the report, marked with the waiver's reason, and never fails the gate.
//!
//! An expired waiver waives nothing, so what it waived fails the gate again by its own
//! severity; the waiver itself is reported as a warning about the configuration (in the
//! table, the Markdown summary, the JSON `waivers` list and SARIF's
//! `toolConfigurationNotifications`), not as a finding about the image. A waiver that matched
//! nothing is reported as unused, as cargo-deny reports unmatched ignores, so stale waivers
//! are noticed and removed.

pub use portcullis_model::{BadDate, Date};

use super::PolicyError;
use super::file::line_column;
use super::params::compile_glob;
use crate::checks;
use crate::report::{Finding, Waived, WaiverState, WaiverStatus};
use globset::GlobMatcher;
use serde::{Deserialize, Deserializer};
use std::path::Path;
use toml::Spanned;

/// The file read when `--ignore-file` is not given, if it exists in the working directory.
pub const DEFAULT_FILE: &str = ".portcullisignore.toml";

/// Finding `data` keys that waivers match: the package a finding is about, and the secret
/// rule that found it. Families set them with `Finding::with_data`.
pub const DATA_PACKAGE: &str = "package";
pub const DATA_RULE: &str = "rule";

/// One waiver as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    check: KnownCheck,
    #[serde(default)]
    path: Option<PathGlob>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    reason: Reason,
    #[serde(default)]
    expires: Option<Date>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[serde(default)]
    waiver: Vec<Spanned<Entry>>,
}

/// A check id from the table, in its canonical spelling.
#[derive(Debug)]
struct KnownCheck(&'static str);

impl<'de> Deserialize<'de> for KnownCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        checks::find(&id).map(|c| KnownCheck(c.id)).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown check id {id:?}: expected one of the ids `portcullis explain` lists"
            ))
        })
    }
}

#[derive(Debug)]
struct Reason(String);

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let reason = String::deserialize(d)?;
        if reason.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "the reason must say why the finding is accepted; it cannot be empty",
            ));
        }
        Ok(Reason(reason.trim().to_string()))
    }
}

#[derive(Debug)]
struct PathGlob(String, GlobMatcher);

impl<'de> Deserialize<'de> for PathGlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(d)?;
        let matcher = compile_glob(&pattern).map_err(serde::de::Error::custom)?;
        Ok(PathGlob(pattern, matcher))
    }
}

/// One waiver, ready to match findings.
#[derive(Debug)]
pub struct Waiver {
    pub check: &'static str,
    pub path: Option<String>,
    path_matcher: Option<GlobMatcher>,
    pub package: Option<String>,
    pub rule: Option<String>,
    pub reason: String,
    /// The last day the waiver applies.
    pub expires: Option<Date>,
    /// Where it is written.
    pub file: String,
    pub line: usize,
}

impl Waiver {
    fn is_expired(&self, today: Date) -> bool {
        self.expires.is_some_and(|last| today > last)
    }

    fn matches(&self, finding: &Finding) -> bool {
        if finding.check != self.check {
            return false;
        }
        if let Some(matcher) = &self.path_matcher {
            let Some(path) = &finding.location.path else {
                return false;
            };
            if !matcher.is_match(path.trim_start_matches('/')) {
                return false;
            }
        }
        let data_is = |key: &str, want: &Option<String>| match want {
            None => true,
            Some(want) => finding.data.get(key).and_then(|v| v.as_str()) == Some(want.as_str()),
        };
        data_is(DATA_PACKAGE, &self.package) && data_is(DATA_RULE, &self.rule)
    }
}

/// The waivers of one run.
#[derive(Debug, Default)]
pub struct Waivers {
    pub waivers: Vec<Waiver>,
}

impl Waivers {
    /// Reads a waiver file.
    pub fn load(path: &Path) -> Result<Waivers, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            file: file.clone(),
            source,
        })?;
        Waivers::parse(&file, &text)
    }

    /// Parses waiver-file text; `file` names it in errors and in the report.
    pub fn parse(file: &str, text: &str) -> Result<Waivers, PolicyError> {
        let parsed: WaiverFile =
            toml::from_str(text).map_err(|e| PolicyError::from_toml(file, text, &e))?;
        let waivers = parsed
            .waiver
            .into_iter()
            .map(|spanned| {
                let (line, _) = line_column(text, spanned.span().start);
                let entry = spanned.into_inner();
                let (path, path_matcher) = match entry.path {
                    Some(PathGlob(p, m)) => (Some(p), Some(m)),
                    None => (None, None),
                };
                Waiver {
                    check: entry.check.0,
                    path,
                    path_matcher,
                    package: entry.package,
                    rule: entry.rule,
                    reason: entry.reason.0,
                    expires: entry.expires,
                    file: file.to_string(),
                    line,
                }
            })
            .collect();
        Ok(Waivers { waivers })
    }

    /// Marks the findings that an unexpired waiver covers (the first such waiver in the
    /// file wins), and says what became of every waiver on `today`.
    pub fn apply(&self, findings: &mut [Finding], today: Date) -> Vec<WaiverStatus> {
        let mut matched = vec![0usize; self.waivers.len()];
        for finding in findings.iter_mut().filter(|f| f.waived.is_none()) {
            let mut waived_by = None;
            for (i, waiver) in self.waivers.iter().enumerate() {
                if !waiver.matches(finding) {
                    continue;
                }
                matched[i] += 1;
                if !waiver.is_expired(today) {
                    waived_by = Some(waiver);
                    break;
                }
            }
            if let Some(waiver) = waived_by {
                finding.waived = Some(Waived {
                    reason: waiver.reason.clone(),
                    expires: waiver.expires.map(|d| d.to_string()),
                    vex: None,
                });
            }
        }
        self.waivers
            .iter()
            .zip(matched)
            .map(|(w, matched)| WaiverStatus {
                check: w.check.to_string(),
                path: w.path.clone(),
                package: w.package.clone(),
                rule: w.rule.clone(),
                reason: w.reason.clone(),
                expires: w.expires.map(|d| d.to_string()),
                file: w.file.clone(),
                line: w.line,
                state: if w.is_expired(today) {
                    WaiverState::Expired
                } else if matched == 0 {
                    WaiverState::Unused
                } else {
                    WaiverState::Applied
                },
                matched,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Check, user};

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn dates_parse_strictly_and_count_from_the_epoch() {
        assert_eq!(date("2026-12-31").to_string(), "2026-12-31");
        assert_eq!(date("2024-02-29"), Date::new(2024, 2, 29).unwrap());
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-12-31",
            "2026/12/31",
            "2026-12-3x",
            "+026-12-31",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
        assert_eq!(Date::from_unix_days(0), date("1970-01-01"));
        assert_eq!(Date::from_unix_days(19_723), date("2024-01-01"));
        assert_eq!(Date::from_unix_days(20_819), date("2027-01-01"));
        assert_eq!(Date::from_unix_days(-1), date("1969-12-31"));
        for days in [-800_000, -1, 0, 59, 60, 19_723, 20_819, 2_932_896] {
            assert_eq!(Date::from_unix_days(days).unix_days(), days);
        }
        assert!(date("2026-12-31") < date("2027-01-01"));
    }

    fn finding(check: &Check, path: Option<&str>) -> Finding {
        let f = check.finding("m");
        match path {
            Some(p) => f.at_path(p),
            None => f,
        }
    }

    const FILE: &str = r#"
[[waiver]]
check = "user-root"
reason = "init needs root"
expires = 2026-06-30

[[waiver]]
check = "user-not-found"
path = "/etc/*"
reason = "group file is generated at start-up"

[[waiver]]
check = "user-uid0-alias"
package = "shadow"
reason = "never matches: no package data"

[[waiver]]
check = "user-numeric-unmapped"
reason = "OpenShift assigns the uid"
expires = "2025-01-31"
"#;

    #[test]
    fn waivers_mark_findings_and_report_unused_and_expired_ones() {
        let waivers = Waivers::parse(".portcullisignore.toml", FILE).unwrap();
        assert_eq!(
            waivers.waivers.iter().map(|w| w.line).collect::<Vec<_>>(),
            [2, 7, 12, 17]
        );
        let mut findings = vec![
            finding(&user::ROOT, None),
            finding(&user::NOT_FOUND, Some("etc/group")),
            finding(&user::NOT_FOUND, Some("/usr/etc/group")),
            finding(&user::UID0_ALIAS, Some("/etc/passwd")),
            finding(&user::NUMERIC_UNMAPPED, None),
        ];
        let statuses = waivers.apply(&mut findings, date("2026-06-30"));
        let reasons: Vec<Option<&str>> = findings
            .iter()
            .map(|f| f.waived.as_ref().map(|w| w.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                Some("init needs root"),
                Some("group file is generated at start-up"),
                None,
                None,
                None
            ]
        );
        assert_eq!(
            findings[0].waived.as_ref().unwrap().expires.as_deref(),
            Some("2026-06-30")
        );
        let states: Vec<(WaiverState, usize)> =
            statuses.iter().map(|s| (s.state, s.matched)).collect();
        assert_eq!(
            states,
            [
                (WaiverState::Applied, 1),
                (WaiverState::Applied, 1),
                (WaiverState::Unused, 0),
                (WaiverState::Expired, 1)
            ]
        );
        assert_eq!(statuses[0].file, ".portcullisignore.toml");
        assert_eq!(statuses[3].line, 17);
    }

    #[test]
    fn a_waiver_stops_applying_the_day_after_it_expires() {
        let waivers = Waivers::parse("w.toml", FILE).unwrap();
        let mut findings = vec![finding(&user::ROOT, None)];
        let statuses = waivers.apply(&mut findings, date("2026-07-01"));
        assert!(findings[0].waived.is_none());
        assert_eq!(statuses[0].state, WaiverState::Expired);
        assert_eq!(statuses[0].matched, 1);
    }

    #[test]
    fn package_and_rule_conditions_read_the_finding_data() {
        let waivers = Waivers::parse(
            "w.toml",
            "[[waiver]]\ncheck = \"user-root\"\npackage = \"openssl\"\nrule = \"r1\"\nreason = \"x\"\n",
        )
        .unwrap();
        let mut findings = vec![
            user::ROOT.finding("a").with_data(DATA_PACKAGE, "openssl"),
            user::ROOT
                .finding("b")
                .with_data(DATA_PACKAGE, "openssl")
                .with_data(DATA_RULE, "r1"),
        ];
        waivers.apply(&mut findings, date("2026-01-01"));
        assert!(findings[0].waived.is_none());
        assert!(findings[1].waived.is_some());
    }

    #[test]
    fn mistakes_are_reported_with_file_line_and_column() {
        let cases: &[(&str, &str, &str)] = &[
            ("syntax", "[[waiver]\n", "w.toml:1:10: unclosed array table"),
            (
                "missing reason",
                "[[waiver]]\ncheck = \"user-root\"\n",
                "w.toml:1:1: missing field `reason`",
            ),
            (
                "empty reason",
                "[[waiver]]\ncheck = \"user-root\"\nreason = \"  \"\n",
                "w.toml:3:10: the reason must say why",
            ),
            (
                "unknown check id",
                "[[waiver]]\ncheck = \"root\"\nreason = \"x\"\n",
                "w.toml:2:9: unknown check id \"root\"",
            ),
            (
                "unknown key",
                "[[waiver]]\ncheck = \"user-root\"\nreason = \"x\"\npaths = [\"a\"]\n",
                "w.toml:4:1: unknown field `paths`, expected one of",
            ),
            (
                "unknown top-level key",
                "[[waivers]]\ncheck = \"user-root\"\n",
                "w.toml:1:3: unknown field `waivers`, expected `waiver`",
            ),
            (
                "wrong type",
                "[[waiver]]\ncheck = 1\nreason = \"x\"\n",
                "w.toml:2:9: invalid type: integer `1`, expected a string",
            ),
            (
                "bad date",
                "[[waiver]]\ncheck = \"user-root\"\nreason = \"x\"\nexpires = \"31/12/2026\"\n",
                "w.toml:4:11: \"31/12/2026\" is not a date: expected YYYY-MM-DD",
            ),
            (
                "impossible date",
                "[[waiver]]\ncheck = \"user-root\"\nreason = \"x\"\nexpires = 2026-02-30\n",
                "w.toml:4:",
            ),
            (
                "date-time",
                "[[waiver]]\ncheck = \"user-root\"\nreason = \"x\"\nexpires = 2026-12-31T10:00:00Z\n",
                "w.toml:4:11: expected a date like 2026-12-31, found the date-time",
            ),
            (
                "bad glob",
                "[[waiver]]\ncheck = \"user-root\"\nreason = \"x\"\npath = \"a/[\"\n",
                "w.toml:4:8: invalid glob \"a/[\"",
            ),
        ];
        for (kind, text, expected) in cases {
            let e = Waivers::parse("w.toml", text).unwrap_err().to_string();
            assert!(
                e.starts_with(expected),
                "{kind}: got {e:?}, expected {expected:?}"
            );
        }
    }
}
