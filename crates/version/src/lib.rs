//! Version ordering, one module per packaging ecosystem.
//!
//! Each module follows its format's own specification and reference tool, not a
//! common approximation: a Debian version orders the way `dpkg --compare-versions`
//! orders it, an Alpine one the way apk-tools does, and so on. [`Scheme::is_valid`]
//! tells strictly well-formed versions apart, and [`compare`] orders them as the
//! reference tool does.
//!
//! Strings that are not well formed are where the schemes differ. Deb, semver and
//! Maven order what their reference tool orders and answer `None` for the rest.
//! For apk and PyPI, [`compare`] falls back on the ordering OSV-Scanner uses to
//! match OSV advisories (osv-scalibr's `semantic` package), since those advisories
//! are what portcullis matches versions against: a lenient apk reading (see
//! [`apk`]) and the pre-PEP 440 setuptools ordering of legacy versions (see
//! [`pep440`]). The fallback is only taken when a side is not valid, so two valid
//! versions are always ordered by the reference tool's rules.
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
/// Each scheme answers as its reference tool does for valid versions. For the rest:
///
/// - [`Scheme::Deb`]: `dpkg --compare-versions`; `None` for what dpkg rejects as an
///   error, while versions it only warns about are ordered, as dpkg orders them.
/// - [`Scheme::Apk`]: when either side is not a valid apk version, OSV's lenient
///   order (see [`apk`]); never `None`.
/// - [`Scheme::Rpm`], [`Scheme::Maven`]: rpm's EVR comparison and Maven's
///   `ComparableVersion`, which order any non-empty string.
/// - [`Scheme::Pep440`]: a string that is not PEP 440 is a setuptools legacy
///   version, below every PEP 440 version, as OSV orders it (see [`pep440`]);
///   never `None`.
/// - [`Scheme::Semver`]: `None` unless both parse.
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

/// Checks shared by the schemes' tests on orders that must be total.
#[cfg(test)]
mod order_checks {
    use std::cmp::Ordering;

    /// Pseudo-random strings: `count` strings of up to 12 bytes, most of them drawn
    /// from `favoured` (the bytes a scheme's grammar cares about) and the rest from
    /// all 256 byte values, read as lossy UTF-8. The generator is xorshift64* from a
    /// fixed `seed`, so a failure reproduces.
    pub(super) fn arbitrary_strings(seed: u64, count: usize, favoured: &[u8]) -> Vec<String> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32
        };
        (0..count)
            .map(|_| {
                let len = next() % 13;
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        let roll = next();
                        if roll % 4 == 0 || favoured.is_empty() {
                            (roll >> 8) as u8
                        } else {
                            favoured[(roll >> 8) as usize % favoured.len()]
                        }
                    })
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    /// Asserts that `compare` answers for every pair of `sample`, and that its
    /// answers are reflexive, antisymmetric and transitive.
    pub(super) fn assert_total_order(
        sample: &[String],
        compare: impl Fn(&str, &str) -> Option<Ordering>,
    ) {
        let matrix: Vec<Vec<Ordering>> = sample
            .iter()
            .map(|a| {
                sample
                    .iter()
                    .map(|b| compare(a, b).unwrap_or_else(|| panic!("{a:?} vs {b:?} refused")))
                    .collect()
            })
            .collect();
        for (i, a) in sample.iter().enumerate() {
            assert_eq!(matrix[i][i], Ordering::Equal, "{a:?} vs itself");
            for (j, b) in sample.iter().enumerate() {
                assert_eq!(matrix[i][j], matrix[j][i].reverse(), "{a:?} vs {b:?}");
                for (k, c) in sample.iter().enumerate() {
                    if matrix[i][j].is_le() && matrix[j][k].is_le() {
                        assert!(matrix[i][k].is_le(), "{a:?} <= {b:?} <= {c:?}");
                    }
                }
            }
        }
    }
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
    fn compare_dispatches_and_handles_invalid_input_per_scheme() {
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
        assert_eq!(compare(Scheme::Rpm, "", "1.0"), None);
        assert_eq!(compare(Scheme::Semver, "1.0.0", "1.0.0-"), None);
        assert_eq!(compare(Scheme::Maven, "", "1.0"), None);

        assert_eq!(
            compare(Scheme::Apk, "1.0", "_pre1"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(Scheme::Apk, "", "1.0"), Some(Ordering::Less));
        assert_eq!(
            compare(Scheme::Pep440, "1.0", "not a version"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(Scheme::Pep440, "", "0"), Some(Ordering::Less));
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
