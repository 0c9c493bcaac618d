//! Whether a package version is affected: OSV's range semantics over each ecosystem's own
//! version ordering, and an ecosystem's `:RELEASE` suffix against the image's distribution.
//!
//! The OSV schema defines a range by events evaluated in version order: `introduced` opens
//! an affected interval, `fixed` closes it (the fixed version is not affected),
//! `last_affected` closes it after that version, and `limit` caps every interval. A version
//! is affected when the last event at or below it (for `last_affected`: strictly below) is
//! an `introduced`. That is computed here without sorting the events, since the versions of
//! an untrusted record need not be ordered consistently; equal versions are resolved in the
//! record's order, later events winning.

use super::record::{Affected, Event, Range, RangeKind};
use portcullis_inventory::os::OsRelease;
use portcullis_version::{self as version, Scheme};
use std::cmp::Ordering;

/// Why a version is affected by an entry, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The lowest `fixed` version above the installed one, in the range that matched;
    /// `None` when no released version fixes it (or the match came from `versions`).
    pub fixed: Option<String>,
}

/// Whether `version` of the package is affected by `affected`, ignoring the ecosystem's
/// release suffix (see [`release_matches`]).
pub fn affects(affected: &Affected, version: &str) -> Option<Verdict> {
    let ecosystem_scheme = Scheme::for_ecosystem(&affected.ecosystem);
    let mut in_versions = false;
    for listed in &affected.versions {
        if listed == version
            || ecosystem_scheme
                .is_some_and(|s| version::compare(s, listed, version) == Some(Ordering::Equal))
        {
            in_versions = true;
            break;
        }
    }
    let mut verdict: Option<Verdict> = None;
    for range in &affected.ranges {
        let scheme = match range.kind {
            RangeKind::Semver => Scheme::Semver,
            RangeKind::Ecosystem => match ecosystem_scheme {
                Some(s) => s,
                None => continue,
            },
        };
        if let Some(fixed) = in_range(scheme, range, version) {
            // Several ranges may hold the version; the nearest fix is the one to install.
            verdict = Some(match verdict {
                Some(Verdict { fixed: Some(old) }) => match &fixed {
                    Some(new) if version::compare(scheme, new, &old) == Some(Ordering::Less) => {
                        Verdict { fixed }
                    }
                    _ => Verdict { fixed: Some(old) },
                },
                Some(Verdict { fixed: None }) | None => Verdict { fixed },
            });
        }
    }
    verdict.or(in_versions.then_some(Verdict { fixed: None }))
}

/// `Some(fixed version)` when `version` lies in `range`.
fn in_range(scheme: Scheme, range: &Range, version: &str) -> Option<Option<String>> {
    let cmp = |a: &str, b: &str| version::compare(scheme, a, b);
    let limits: Vec<&str> = range
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Limit(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    if !limits.is_empty()
        && !limits
            .iter()
            .any(|l| *l == "*" || cmp(version, l) == Some(Ordering::Less))
    {
        return None;
    }
    // The governing event: the greatest one that applies to `version`.
    let mut governing: Option<&Event> = None;
    let mut governing_version: Option<&str> = None;
    for event in &range.events {
        let (applies, at) = match event {
            Event::Introduced(v) if v == "0" => (true, None),
            Event::Introduced(v) | Event::Fixed(v) => (
                matches!(cmp(version, v), Some(Ordering::Greater | Ordering::Equal)),
                Some(v),
            ),
            Event::LastAffected(v) => (cmp(version, v) == Some(Ordering::Greater), Some(v)),
            Event::Limit(_) => (false, None),
        };
        if !applies {
            continue;
        }
        let later = match (governing_version, at) {
            (_, None) => governing.is_none(),
            (None, Some(_)) => true,
            (Some(current), Some(at)) => cmp(at, current) != Some(Ordering::Less),
        };
        if later {
            governing = Some(event);
            governing_version = at.map(String::as_str);
        }
    }
    if !matches!(governing, Some(Event::Introduced(_))) {
        return None;
    }
    let fixed = range
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Fixed(f) if cmp(f, version) == Some(Ordering::Greater) => Some(f.as_str()),
            _ => None,
        })
        .fold(None::<&str>, |best, f| match best {
            Some(b) if cmp(f, b) != Some(Ordering::Less) => Some(b),
            _ => Some(f),
        });
    Some(fixed.map(str::to_string))
}

/// Whether an ecosystem's `:RELEASE` suffix names the image's release. Without a suffix
/// the entry covers every release. With one, the image's release must be known and equal:
///
/// - `Debian:12` — `VERSION_ID`'s major number;
/// - `Ubuntu:22.04:LTS` — `VERSION_ID`; Ubuntu Pro and FIPS streams (`Ubuntu:Pro:18.04:LTS`)
///   are fixes a standard image cannot install and are not matched;
/// - `Alpine:v3.19` — `VERSION_ID`'s major and minor numbers;
/// - `SUSE:…`, `openSUSE:…` — `PRETTY_NAME`, as the ecosystem list defines them;
/// - anything else (`Red Hat:rhel_aus:8.6::appstream`, `Rocky Linux:9`, `Mageia:9`) — the
///   major number of the first numeric component against `VERSION_ID`'s; a suffix without
///   a number (a Maven repository URL, `Packagist:https://…`) covers every release.
pub fn release_matches(ecosystem: &str, os: Option<&OsRelease>) -> bool {
    let Some((base, suffix)) = ecosystem.split_once(':') else {
        return true;
    };
    let version_id = os.and_then(|o| o.version_id.as_deref());
    let major = |v: &str| {
        v.split(['.', '-', '_'])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    match base {
        "Debian" => version_id.is_some_and(|v| major(v) == major(suffix)),
        "Ubuntu" => {
            let parts: Vec<&str> = suffix.split(':').collect();
            if parts.iter().any(|p| {
                let p = p.to_ascii_lowercase();
                p == "pro" || p == "fips" || p.starts_with("ubuntu_pro") || p.contains("fips")
            }) {
                return false;
            }
            let release = parts
                .iter()
                .find(|p| p.starts_with(|c: char| c.is_ascii_digit()));
            matches!((release, version_id), (Some(r), Some(v)) if *r == v)
        }
        "Alpine" => {
            let Some(branch) = suffix.strip_prefix('v') else {
                return false;
            };
            version_id.is_some_and(|v| {
                let mut numbers = v.split('.');
                let major_minor = format!(
                    "{}.{}",
                    numbers.next().unwrap_or_default(),
                    numbers.next().unwrap_or_default()
                );
                major_minor == branch
            })
        }
        "SUSE" | "openSUSE" => os
            .and_then(|o| o.pretty_name.as_deref())
            .is_some_and(|p| p.eq_ignore_ascii_case(suffix)),
        _ => {
            let release = suffix
                .split(':')
                .find(|p| p.starts_with(|c: char| c.is_ascii_digit()));
            match release {
                None => true,
                Some(r) => version_id.is_some_and(|v| major(v) == major(r)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(kind: RangeKind, events: &[(&str, &str)]) -> Range {
        Range {
            kind,
            events: events
                .iter()
                .map(|(k, v)| {
                    let v = v.to_string();
                    match *k {
                        "introduced" => Event::Introduced(v),
                        "fixed" => Event::Fixed(v),
                        "last_affected" => Event::LastAffected(v),
                        "limit" => Event::Limit(v),
                        other => panic!("{other}"),
                    }
                })
                .collect(),
        }
    }

    fn entry(ecosystem: &str, ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            ecosystem: ecosystem.into(),
            name: "pkg".into(),
            ranges,
            versions: versions.iter().map(|v| v.to_string()).collect(),
            severity: None,
        }
    }

    /// (version, affected?, fixed version) for one entry.
    fn check(affected: &Affected, cases: &[(&str, bool, Option<&str>)]) {
        for &(version, want, fixed) in cases {
            let got = affects(affected, version);
            assert_eq!(got.is_some(), want, "{version} in {affected:?}");
            if let Some(v) = got {
                assert_eq!(v.fixed.as_deref(), fixed, "fix for {version}");
            }
        }
    }

    #[test]
    fn introduced_and_fixed_bound_an_interval() {
        let e = entry(
            "PyPI",
            vec![range(
                RangeKind::Ecosystem,
                &[("introduced", "1.0"), ("fixed", "1.2.3")],
            )],
            &[],
        );
        check(
            &e,
            &[
                ("0.9", false, None),
                ("1.0", true, Some("1.2.3")),
                ("1.0rc1", false, None),
                ("1.2.2", true, Some("1.2.3")),
                ("1.2.3", false, None),
                ("1.10", false, None),
            ],
        );
    }

    #[test]
    fn introduced_zero_covers_everything_below_the_fix() {
        let e = entry(
            "Debian:12",
            vec![range(
                RangeKind::Ecosystem,
                &[("introduced", "0"), ("fixed", "1.22.1-9+deb12u1")],
            )],
            &[],
        );
        check(
            &e,
            &[
                ("1.22.1-9", true, Some("1.22.1-9+deb12u1")),
                ("1:0.1", false, None),
                ("1.22.1-9+deb12u1", false, None),
                ("1.22.1-9+deb12u2", false, None),
            ],
        );
    }

    #[test]
    fn last_affected_includes_its_version() {
        let e = entry(
            "npm",
            vec![range(
                RangeKind::Semver,
                &[("introduced", "2.0.0"), ("last_affected", "2.4.1")],
            )],
            &[],
        );
        check(
            &e,
            &[
                ("1.9.9", false, None),
                ("2.0.0", true, None),
                ("2.4.1", true, None),
                ("2.4.2", false, None),
            ],
        );
    }

    #[test]
    fn limit_caps_every_interval() {
        let e = entry(
            "Go",
            vec![range(
                RangeKind::Semver,
                &[("introduced", "0"), ("limit", "1.5.0")],
            )],
            &[],
        );
        check(
            &e,
            &[
                ("v1.4.9", true, None),
                ("v1.5.0", false, None),
                ("2.0.0", false, None),
            ],
        );
        let unlimited = entry(
            "Go",
            vec![range(
                RangeKind::Semver,
                &[("introduced", "1.0.0"), ("limit", "*")],
            )],
            &[],
        );
        check(&unlimited, &[("9.9.9", true, None), ("0.9.0", false, None)]);
    }

    #[test]
    fn several_intervals_in_unsorted_events_and_several_ranges() {
        // pypa's PYSEC-2019-14 lists its intervals out of order.
        let e = entry(
            "PyPI",
            vec![range(
                RangeKind::Ecosystem,
                &[
                    ("introduced", "2.2"),
                    ("fixed", "2.2.4"),
                    ("introduced", "1.11"),
                    ("fixed", "1.11.23"),
                    ("introduced", "2.1"),
                    ("fixed", "2.1.11"),
                ],
            )],
            &[],
        );
        check(
            &e,
            &[
                ("1.10", false, None),
                ("1.11.5", true, Some("1.11.23")),
                ("1.11.23", false, None),
                ("2.0", false, None),
                ("2.1.3", true, Some("2.1.11")),
                ("2.2", true, Some("2.2.4")),
                ("2.2.4", false, None),
                ("3.0", false, None),
            ],
        );
        let two = entry(
            "crates.io",
            vec![
                range(
                    RangeKind::Semver,
                    &[("introduced", "0.7.0"), ("fixed", "0.7.1")],
                ),
                range(
                    RangeKind::Semver,
                    &[
                        ("introduced", "0.10.0-alpha.1"),
                        ("fixed", "0.10.0-alpha.4"),
                    ],
                ),
            ],
            &[],
        );
        check(
            &two,
            &[
                ("0.7.0", true, Some("0.7.1")),
                ("0.8.0", false, None),
                ("0.10.0-alpha.2", true, Some("0.10.0-alpha.4")),
                ("0.10.0", false, None),
            ],
        );
    }

    #[test]
    fn versions_lists_match_exactly_or_by_ecosystem_equality() {
        let e = entry("PyPI", vec![], &["4.36.1", "1.0"]);
        check(
            &e,
            &[
                ("4.36.1", true, None),
                ("1.0.0", true, None),
                ("4.36.2", false, None),
            ],
        );
        let unordered = entry("RubyGems", vec![], &["1.1.6"]);
        check(
            &unordered,
            &[("1.1.6", true, None), ("1.1.60", false, None)],
        );
    }

    #[test]
    fn unorderable_versions_never_match_a_range() {
        let e = entry(
            "npm",
            vec![range(
                RangeKind::Semver,
                &[("introduced", "1.0.0"), ("fixed", "not-a-version")],
            )],
            &[],
        );
        check(&e, &[("1.5.0", true, None), ("garbage", false, None)]);
        let unknown_ecosystem = entry(
            "NuGet",
            vec![range(RangeKind::Ecosystem, &[("introduced", "0")])],
            &[],
        );
        check(&unknown_ecosystem, &[("1.0.0", false, None)]);
    }

    fn os(id: &str, version_id: Option<&str>, pretty: Option<&str>) -> OsRelease {
        OsRelease {
            id: id.into(),
            version_id: version_id.map(str::to_string),
            pretty_name: pretty.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn release_suffixes_match_the_image_release() {
        let debian = os("debian", Some("12"), None);
        let ubuntu = os("ubuntu", Some("22.04"), None);
        let alpine = os("alpine", Some("3.19.1"), None);
        let rhel = os("rhel", Some("8.6"), None);
        let sles = os(
            "sles",
            Some("15.5"),
            Some("SUSE Linux Enterprise Server 15 SP5"),
        );
        let cases: &[(&str, &OsRelease, bool)] = &[
            ("Debian", &debian, true),
            ("Debian:12", &debian, true),
            ("Debian:11", &debian, false),
            ("Debian:7", &debian, false),
            ("Ubuntu:22.04:LTS", &ubuntu, true),
            ("Ubuntu:20.04:LTS", &ubuntu, false),
            ("Ubuntu:Pro:22.04:LTS", &ubuntu, false),
            ("Ubuntu:Pro:FIPS:22.04:LTS", &ubuntu, false),
            ("Ubuntu:ubuntu_pro:22.04::main", &ubuntu, false),
            ("Alpine:v3.19", &alpine, true),
            ("Alpine:v3.1", &alpine, false),
            ("Alpine:3.19", &alpine, false),
            ("Red Hat:rhel_aus:8.6::appstream", &rhel, true),
            ("Red Hat:enterprise_linux:9::baseos", &rhel, false),
            ("SUSE:SUSE Linux Enterprise Server 15 SP5", &sles, true),
            ("SUSE:SUSE Linux Enterprise Server 15 SP4", &sles, false),
            ("Maven:https://maven.google.com", &debian, true),
        ];
        for &(ecosystem, os, want) in cases {
            assert_eq!(release_matches(ecosystem, Some(os)), want, "{ecosystem}");
        }
        assert!(
            !release_matches("Debian:12", None),
            "an unknown release is not 12"
        );
        assert!(release_matches("Debian", None));
        assert!(!release_matches(
            "Debian:12",
            Some(&os("debian", None, None))
        ));
    }
}
