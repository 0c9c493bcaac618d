//! Version ordering, one module per packaging ecosystem.
//!
//! Each module follows its format's own specification and reference tool, not a
//! common approximation: a Debian version orders the way `dpkg --compare-versions`
//! orders it, an Alpine one the way apk-tools does, and so on. Nothing here guesses:
//! [`compare`] answers `None` wherever the scheme's reference tool would refuse the
//! input or fall back on an undocumented order, and [`Scheme::is_valid`] tells
//! strictly well-formed versions apart.
//!
//! | scheme | module | reference |
//! |---|---|---|
//! | [`Scheme::Deb`] | [`deb`] | Debian Policy §5.6.12, dpkg |
//! | [`Scheme::Apk`] | [`apk`] | apk-package(5), apk-tools |
//! | [`Scheme::Rpm`] | [`rpm`] | rpm's `rpmvercmp` and EVR parsing |
//! | [`Scheme::Pep440`] | [`pep440`] | PEP 440 |
//! | [`Scheme::Semver`] | [`semver`] | SemVer 2.0.0, with Go/npm leniency |
//! | [`Scheme::Maven`] | [`maven`] | Maven's version order specification (`ComparableVersion`) |

pub mod apk;
pub mod deb;
pub mod maven;
pub mod pep440;
pub mod rpm;
pub mod semver;

use std::cmp::Ordering;
use std::fmt;

/// A version ordering scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and derivatives (dpkg).
    Deb,
    /// Alpine and other apk-tools based distributions.
    Apk,
    /// RPM based distributions: `[epoch:]version[-release]`.
    Rpm,
    /// Python packages.
    Pep440,
    /// Semantic Versioning (npm, crates.io, Go modules, ...).
    Semver,
    /// Maven artifacts.
    Maven,
}

impl Scheme {
    /// The scheme that orders versions of an OSV ecosystem, if there is one we implement.
    ///
    /// `ecosystem` is the OSV `affected[].package.ecosystem` value; a `:<release>`
    /// suffix (`Debian:12`, `Alpine:v3.20`, `Red Hat:rhel_aus:8.4::appstream`) is
    /// ignored, since the release does not change how versions order (for Maven it
    /// is a repository URL). Ecosystems whose ordering is their own and not
    /// implemented (NuGet, RubyGems, Packagist, Pub, ...) or that mix several
    /// package formats under one name answer `None`.
    pub fn for_ecosystem(ecosystem: &str) -> Option<Scheme> {
        let base = ecosystem
            .split_once(':')
            .map_or(ecosystem, |(base, _release)| base);
        match base {
            "Debian" | "Ubuntu" => Some(Scheme::Deb),
            "Alpine" | "Alpaquita" | "BellSoft Hardened Containers" | "Chainguard" | "Wolfi" => {
                Some(Scheme::Apk)
            }
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "SUSE" | "openSUSE" | "openEuler"
            | "Mageia" | "Photon OS" | "Azure Linux" => Some(Scheme::Rpm),
            "PyPI" => Some(Scheme::Pep440),
            "npm" | "crates.io" | "Go" | "Hex" | "SwiftURL" => Some(Scheme::Semver),
            "Maven" => Some(Scheme::Maven),
            _ => None,
        }
    }

    /// Whether `version` is well formed in this scheme.
    ///
    /// For [`Scheme::Deb`] this is dpkg's strict check: a version dpkg only warns
    /// about (see [`deb::Version::parse_relaxed`]) is not valid here, although
    /// [`compare`] still orders it as dpkg does.
    pub fn is_valid(self, version: &str) -> bool {
        match self {
            Scheme::Deb => deb::Version::parse(version).is_ok(),
            Scheme::Apk => apk::Version::parse(version).is_ok(),
            Scheme::Rpm => rpm::Evr::parse(version).is_ok(),
            Scheme::Pep440 => pep440::Version::parse(version).is_ok(),
            Scheme::Semver => semver::Version::parse(version).is_ok(),
            Scheme::Maven => maven::Version::parse(version).is_ok(),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Deb => "deb",
            Scheme::Apk => "apk",
            Scheme::Rpm => "rpm",
            Scheme::Pep440 => "pep440",
            Scheme::Semver => "semver",
            Scheme::Maven => "maven",
        })
    }
}

/// Orders `a` against `b` in `scheme`; `None` when the scheme cannot order them.
///
/// Each scheme answers as its reference tool does, and `None` stands where that tool
/// refuses the input or where its answer would rest on a malformed part:
///
/// - [`Scheme::Deb`]: `dpkg --compare-versions`; `None` for what dpkg rejects as an
///   error, while versions it only warns about are ordered, as dpkg orders them.
/// - [`Scheme::Apk`]: apk-tools; versions are compared token by token, so `None` only
///   when the comparison reaches a malformed token before it is decided.
/// - [`Scheme::Rpm`], [`Scheme::Maven`]: rpm's EVR comparison and Maven's
///   `ComparableVersion`, which order any non-empty string.
/// - [`Scheme::Pep440`], [`Scheme::Semver`]: `None` unless both parse.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        Scheme::Deb => deb::compare(a, b),
        Scheme::Apk => apk::compare(a, b),
        Scheme::Rpm => rpm::compare(a, b),
        Scheme::Pep440 => pep440::compare(a, b),
        Scheme::Semver => semver::compare(a, b),
        Scheme::Maven => maven::compare(a, b),
    }
}

/// Orders two runs of ASCII digits by the numbers they spell, whatever their length.
///
/// Version numbers are not bounded by any of the formats (dates, build stamps and
/// hand-made `99999999999` all occur), so they are never parsed into a fixed width.
fn cmp_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros..]
}

/// Splits `bytes` after its longest prefix whose bytes all satisfy `keep`.
fn split_run(bytes: &[u8], keep: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let len = bytes.iter().take_while(|&&b| keep(b)).count();
    bytes.split_at(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_order_ignores_width_and_leading_zeros() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("0", "", Ordering::Equal),
            ("007", "7", Ordering::Equal),
            ("9", "10", Ordering::Less),
            (
                "18446744073709551616",
                "18446744073709551615",
                Ordering::Greater,
            ),
            ("0000000000000000000000001", "2", Ordering::Less),
        ];
        for &(a, b, want) in cases {
            assert_eq!(cmp_decimal(a.as_bytes(), b.as_bytes()), want, "{a} vs {b}");
            assert_eq!(cmp_decimal(b.as_bytes(), a.as_bytes()), want.reverse());
        }
    }

    #[test]
    fn ecosystems_map_to_schemes() {
        let cases: &[(&str, Option<Scheme>)] = &[
            ("Debian", Some(Scheme::Deb)),
            ("Debian:12", Some(Scheme::Deb)),
            ("Ubuntu:Pro:18.04:LTS", Some(Scheme::Deb)),
            ("Alpine:v3.20", Some(Scheme::Apk)),
            ("Wolfi", Some(Scheme::Apk)),
            ("Red Hat:rhel_aus:8.4::appstream", Some(Scheme::Rpm)),
            ("Rocky Linux:9", Some(Scheme::Rpm)),
            ("AlmaLinux", Some(Scheme::Rpm)),
            ("SUSE:Linux Enterprise Server 15 SP5", Some(Scheme::Rpm)),
            ("openSUSE:Tumbleweed", Some(Scheme::Rpm)),
            ("PyPI", Some(Scheme::Pep440)),
            ("npm", Some(Scheme::Semver)),
            ("crates.io", Some(Scheme::Semver)),
            ("Go", Some(Scheme::Semver)),
            ("Maven", Some(Scheme::Maven)),
            ("Maven:https://maven.google.com", Some(Scheme::Maven)),
            ("NuGet", None),
            ("debian", None),
            ("", None),
        ];
        for &(ecosystem, want) in cases {
            assert_eq!(Scheme::for_ecosystem(ecosystem), want, "{ecosystem:?}");
        }
    }

    #[test]
    fn compare_dispatches_and_refuses_invalid_input() {
        assert_eq!(
            compare(Scheme::Deb, "1:1.0", "2.0"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(Scheme::Apk, "1.0_rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare(Scheme::Rpm, "1.0~rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(
            compare(Scheme::Pep440, "1.0rc1", "1.0"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(Scheme::Semver, "1.0.0-rc.1", "1.0.0"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(Scheme::Maven, "1.0-RC1", "1.0"),
            Some(Ordering::Less)
        );

        assert_eq!(compare(Scheme::Deb, "", "1.0"), None);
        assert_eq!(compare(Scheme::Apk, "1.0", "_pre1"), None);
        assert_eq!(compare(Scheme::Rpm, "", "1.0"), None);
        assert_eq!(compare(Scheme::Pep440, "1.0", "not a version"), None);
        assert_eq!(compare(Scheme::Semver, "1.0.0", "1.0.0-"), None);
        assert_eq!(compare(Scheme::Maven, "", "1.0"), None);
    }

    #[test]
    fn validity_follows_each_scheme() {
        assert!(Scheme::Deb.is_valid("1:2.30-1ubuntu1"));
        assert!(!Scheme::Deb.is_valid("a-0"));
        assert!(Scheme::Apk.is_valid("1.2.3_rc1-r0"));
        assert!(!Scheme::Apk.is_valid("1.2.3-rc1"));
        assert!(Scheme::Rpm.is_valid("1:2.0-3.el9"));
        assert!(!Scheme::Rpm.is_valid(""));
        assert!(Scheme::Pep440.is_valid("1.0.post1"));
        assert!(!Scheme::Pep440.is_valid("1.0-beta-x"));
        assert!(Scheme::Semver.is_valid("v1.2.3+build.5"));
        assert!(!Scheme::Semver.is_valid("1.2.3-01"));
    }
}
