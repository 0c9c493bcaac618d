//! One OSV record, as the OSV schema writes it in JSON (osv.dev exports, golang/vulndb,
//! rustsec's `osv` branch, GitHub advisories) or YAML (pypa/advisory-database), reduced to
//! what matching needs.
//!
//! Records are untrusted input: every field may be missing or null, free-form objects
//! (`database_specific`, `ecosystem_specific`) may hold anything, and only the fields read
//! here must have their documented type. What a record says about itself is checked when
//! it is converted ([`Record::parse_json`], [`Record::parse_yaml`]): a record without an
//! id is not an OSV record.

use super::cvss;
use portcullis_model::Severity;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// Why a file is not a usable OSV record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not valid JSON for an OSV record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not valid YAML for an OSV record: {0}")]
    Yaml(String),
    #[error("not an OSV record: it has no \"id\"")]
    NoId,
}

/// An OSV record, reduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub aliases: Vec<String>,
    /// Vulnerabilities this record is derived from (`upstream`): a DSA's or USN's CVEs.
    pub upstream: Vec<String>,
    pub summary: Option<String>,
    pub modified: Option<String>,
    pub published: Option<String>,
    pub withdrawn: Option<String>,
    /// The record's own rating of the whole vulnerability.
    pub severity: Option<Rating>,
    /// The advisory page: the first `ADVISORY` reference, else the first `WEB` one.
    pub url: Option<String>,
    pub affected: Vec<Affected>,
}

/// One `affected[]` entry that names a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The full ecosystem string, release suffix included (`Debian:12`).
    pub ecosystem: String,
    pub name: String,
    pub ranges: Vec<Range>,
    pub versions: Vec<String>,
    /// A rating specific to this package (`affected[].severity`, or a severity in its
    /// `ecosystem_specific`/`database_specific`), which wins over the record's.
    pub severity: Option<Rating>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    Semver,
    Ecosystem,
}

/// A `SEMVER` or `ECOSYSTEM` range; `GIT` ranges name commits, which an image does not
/// record, and are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub kind: RangeKind,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// How severe a record says a vulnerability is, and on what grounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub severity: Severity,
    /// `"CVSS:3.1 7.5"`, `"database: MODERATE"`, `"Ubuntu: medium"` ...
    pub basis: String,
}

impl Record {
    pub fn parse_json(bytes: &[u8]) -> Result<Record, RecordError> {
        match serde_json::from_slice::<RawRecord>(bytes) {
            Ok(raw) => raw.into_record(),
            // Valid JSON of another shape without an id is some other document (a schema,
            // a GitHub advisory before conversion), not a broken record.
            Err(e) => match serde_json::from_slice::<Probe>(bytes) {
                Ok(Probe { id: None }) => Err(RecordError::NoId),
                _ => Err(RecordError::Json(e)),
            },
        }
    }

    pub fn parse_yaml(bytes: &[u8]) -> Result<Record, RecordError> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| RecordError::Yaml(format!("not UTF-8: {e}")))?;
        match serde_saphyr::from_str::<RawRecord>(text) {
            Ok(raw) => raw.into_record(),
            Err(e) => match serde_saphyr::from_str::<Probe>(text) {
                Ok(Probe { id: None }) => Err(RecordError::NoId),
                _ => Err(RecordError::Yaml(first_line(&e))),
            },
        }
    }

    /// Whether the record was withdrawn on or before `today` (`YYYY-MM-DD`). A withdrawal
    /// dated in the future has not happened yet.
    pub fn is_withdrawn(&self, today: &str) -> bool {
        self.withdrawn
            .as_deref()
            .is_some_and(|w| w.get(..10).unwrap_or(w) <= today)
    }
}

fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Whether a document has an `id` at all.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    id: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    upstream: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    affected: Option<Vec<RawAffected>>,
    #[serde(default)]
    references: Option<Vec<RawReference>>,
    #[serde(default)]
    database_specific: Option<Loose<Specific>>,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default)]
    severity: Option<Vec<RawSeverity>>,
    #[serde(default)]
    ranges: Option<Vec<RawRange>>,
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    ecosystem_specific: Option<Loose<Specific>>,
    #[serde(default)]
    database_specific: Option<Loose<Specific>>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    events: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    score: Option<Loose<String>>,
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// The parts of a free-form `database_specific` or `ecosystem_specific` object that rate
/// a vulnerability: a severity word (GitHub, AlmaLinux, Ubuntu) or a CVSS vector (RustSec's
/// `cvss`).
#[derive(Deserialize)]
struct Specific {
    #[serde(default)]
    severity: Option<Loose<String>>,
    #[serde(default)]
    cvss: Option<Loose<String>>,
}

/// A value of the expected shape, or anything else (ignored): free-form fields must not
/// make a whole record unreadable.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose<T> {
    Value(T),
    Other(IgnoredAny),
}

impl<T> Loose<T> {
    fn into_value(self) -> Option<T> {
        match self {
            Loose::Value(v) => Some(v),
            Loose::Other(_) => None,
        }
    }
}

fn loose<T>(value: Option<Loose<T>>) -> Option<T> {
    value.and_then(Loose::into_value)
}

impl RawRecord {
    fn into_record(self) -> Result<Record, RecordError> {
        let id = self
            .id
            .filter(|id| !id.trim().is_empty())
            .ok_or(RecordError::NoId)?;
        let record_specific = loose(self.database_specific);
        let severity = rate(
            self.severity.as_deref().unwrap_or_default(),
            [record_specific],
        );
        let url = pick_url(self.references.as_deref().unwrap_or_default());
        let affected = self
            .affected
            .unwrap_or_default()
            .into_iter()
            .filter_map(RawAffected::into_affected)
            .collect();
        Ok(Record {
            id,
            aliases: self.aliases.unwrap_or_default(),
            upstream: self.upstream.unwrap_or_default(),
            summary: self.summary.filter(|s| !s.trim().is_empty()),
            modified: self.modified,
            published: self.published,
            withdrawn: self.withdrawn,
            severity,
            url,
            affected,
        })
    }
}

impl RawAffected {
    /// `None` for an entry without a package: such entries describe GIT ranges only.
    fn into_affected(self) -> Option<Affected> {
        let package = self.package?;
        let ecosystem = package.ecosystem.filter(|e| !e.is_empty())?;
        let name = package.name.filter(|n| !n.is_empty())?;
        let ranges = self
            .ranges
            .unwrap_or_default()
            .into_iter()
            .filter_map(RawRange::into_range)
            .collect();
        let severity = rate(
            self.severity.as_deref().unwrap_or_default(),
            [
                loose(self.ecosystem_specific),
                loose(self.database_specific),
            ],
        );
        Some(Affected {
            ecosystem,
            name,
            ranges,
            versions: self.versions.unwrap_or_default(),
            severity,
        })
    }
}

impl RawRange {
    fn into_range(self) -> Option<Range> {
        let kind = match self.kind.as_deref()? {
            "SEMVER" => RangeKind::Semver,
            "ECOSYSTEM" => RangeKind::Ecosystem,
            _ => return None,
        };
        let events = self
            .events
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                // One key per event; an event with several is malformed and its first key
                // (in the schema's order) is taken.
                e.introduced
                    .map(Event::Introduced)
                    .or(e.fixed.map(Event::Fixed))
                    .or(e.last_affected.map(Event::LastAffected))
                    .or(e.limit.map(Event::Limit))
            })
            .collect();
        Some(Range { kind, events })
    }
}

/// The rating from a record's or an affected entry's fields: a severity word the database
/// assigned, then a CVSS v3 vector's base score, then a CVSS v2 one. CVSS v4 vectors are
/// not scored (see [`cvss`]).
fn rate<const N: usize>(
    severity: &[RawSeverity],
    specifics: [Option<Specific>; N],
) -> Option<Rating> {
    let mut vectors: Vec<String> = Vec::new();
    for specific in specifics.into_iter().flatten() {
        if let Some(word) = loose(specific.severity)
            && let Ok(level) = word.trim().parse::<Severity>()
        {
            return Some(Rating {
                severity: level,
                basis: format!("database: {word}"),
            });
        }
        if let Some(vector) = loose(specific.cvss) {
            vectors.push(vector);
        }
    }
    for entry in severity {
        let Some(score) = entry.score.as_ref().and_then(|s| match s {
            Loose::Value(v) => Some(v.as_str()),
            Loose::Other(_) => None,
        }) else {
            continue;
        };
        match entry.kind.as_deref() {
            Some("CVSS_V3" | "CVSS_V2" | "CVSS_V4") => vectors.push(score.to_string()),
            // Ubuntu's priority (`negligible`, `low`, `medium`, `high`, `critical`).
            Some(kind) => {
                if let Ok(level) = score.trim().parse::<Severity>() {
                    return Some(Rating {
                        severity: level,
                        basis: format!("{kind}: {score}"),
                    });
                }
            }
            None => {}
        }
    }
    let scored = |score: cvss::Score, vector: &str| Rating {
        severity: score.severity,
        basis: format!(
            "{} {:.1}",
            vector.split('/').next().unwrap_or("CVSS:2.0"),
            score.base
        ),
    };
    vectors
        .iter()
        .find_map(|v| cvss::v3(v).map(|s| scored(s, v)))
        .or_else(|| {
            vectors.iter().find_map(|v| {
                cvss::v2(v).map(|s| Rating {
                    severity: s.severity,
                    basis: format!("CVSS:2.0 {:.1}", s.base),
                })
            })
        })
}

fn pick_url(references: &[RawReference]) -> Option<String> {
    let of_kind = |kind: &str| {
        references
            .iter()
            .find(|r| r.kind.as_deref() == Some(kind))
            .and_then(|r| r.url.clone())
    };
    of_kind("ADVISORY").or_else(|| of_kind("WEB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_record_reduces_to_what_matching_needs() {
        let record = Record::parse_json(
            br#"{
              "id": "GHSA-aaaa-bbbb-cccc", "modified": "2024-01-02T00:00:00Z",
              "aliases": ["CVE-2024-0001"], "summary": "Bad thing",
              "details": {"not": "a string"},
              "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
              "references": [{"type": "WEB", "url": "https://w"}, {"type": "ADVISORY", "url": "https://a"}],
              "database_specific": ["unexpected", "shape"],
              "affected": [
                {"package": {"ecosystem": "npm", "name": "left-pad"},
                 "ranges": [
                   {"type": "GIT", "repo": "r", "events": [{"introduced": "abc"}]},
                   {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}],
                 "versions": null,
                 "database_specific": {"severity": {"nested": true}}},
                {"ranges": [{"type": "GIT", "events": [{"fixed": "abc"}]}]}
              ]
            }"#,
        )
        .unwrap();
        assert_eq!(record.id, "GHSA-aaaa-bbbb-cccc");
        assert_eq!(record.aliases, ["CVE-2024-0001"]);
        assert_eq!(record.url.as_deref(), Some("https://a"));
        assert_eq!(
            record.severity,
            Some(Rating {
                severity: Severity::Critical,
                basis: "CVSS:3.1 9.8".into()
            })
        );
        assert_eq!(
            record.affected.len(),
            1,
            "the package-less entry is left out"
        );
        let affected = &record.affected[0];
        assert_eq!(affected.ranges.len(), 1, "the GIT range is left out");
        assert_eq!(
            affected.ranges[0].events,
            [Event::Introduced("0".into()), Event::Fixed("1.3.0".into())]
        );
        assert_eq!(affected.severity, None);
    }

    #[test]
    fn ratings_prefer_the_database_word_then_cvss_v3_then_v2() {
        let record = Record::parse_json(
            br#"{"id": "X-1", "database_specific": {"severity": "MODERATE"},
                 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
        )
        .unwrap();
        assert_eq!(record.severity.unwrap().severity, Severity::Medium);

        let record = Record::parse_json(
            br#"{"id": "X-2", "severity": [
                  {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/SC:N/VI:H/SI:N/VA:H/SA:N"},
                  {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"}]}"#,
        )
        .unwrap();
        assert_eq!(
            record.severity,
            Some(Rating {
                severity: Severity::Medium,
                basis: "CVSS:2.0 5.0".into()
            })
        );

        let record = Record::parse_json(
            br#"{"id": "UBUNTU-CVE-1", "severity": [{"type": "Ubuntu", "score": "negligible"}],
                 "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "x"},
                   "ecosystem_specific": {"severity": "high"}}]}"#,
        )
        .unwrap();
        assert_eq!(record.severity.unwrap().severity, Severity::Info);
        assert_eq!(
            record.affected[0].severity.as_ref().unwrap().severity,
            Severity::High
        );

        let record =
            Record::parse_json(br#"{"id": "X-3", "severity": [{"type": "CVSS_V3"}]}"#).unwrap();
        assert_eq!(record.severity, None);
    }

    #[test]
    fn yaml_records_keep_versions_as_written() {
        let record = Record::parse_yaml(
            b"id: PYSEC-0000-1\nmodified: 2023-10-19T16:33:01.29781Z\naffected:\n- package:\n    ecosystem: PyPI\n    name: demo\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: 1.10\n  versions:\n  - 1.0\n  - \"1.9\"\n",
        )
        .unwrap();
        assert_eq!(
            record.modified.as_deref(),
            Some("2023-10-19T16:33:01.29781Z")
        );
        let affected = &record.affected[0];
        assert_eq!(
            affected.ranges[0].events[1],
            Event::Fixed("1.10".into()),
            "1.10 is not the number 1.1"
        );
        assert_eq!(affected.versions, ["1.0", "1.9"]);
    }

    #[test]
    fn files_that_are_not_osv_records_are_errors() {
        assert!(matches!(
            Record::parse_json(b"{\"ghsaId\": \"GHSA-x\"}"),
            Err(RecordError::NoId)
        ));
        assert!(matches!(
            Record::parse_json(b"{ 'id': 1 }"),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            Record::parse_json(b"{\"id\": \"X\", \"affected\": {\"not\": \"a list\"}}"),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            Record::parse_yaml(b"id: [unclosed"),
            Err(RecordError::Yaml(_))
        ));
        assert!(matches!(
            Record::parse_json(b"[1, 2]"),
            Err(RecordError::Json(_))
        ));
    }

    #[test]
    fn withdrawal_counts_from_its_day() {
        let mut record = Record::parse_json(br#"{"id": "X"}"#).unwrap();
        assert!(!record.is_withdrawn("2026-06-01"));
        record.withdrawn = Some("2023-06-06T10:37:00Z".into());
        assert!(record.is_withdrawn("2026-06-01"));
        record.withdrawn = Some("3001-06-06T10:37:00Z".into());
        assert!(!record.is_withdrawn("2026-06-01"));
    }
}
