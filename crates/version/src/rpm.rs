//! RPM versions: `rpmvercmp`, `[epoch:]version[-release]` and NEVRA strings.
//!
//! [`vercmp`] is rpm's segment comparison: a string is cut into runs of ASCII
//! digits and runs of ASCII letters, everything else separating them. Digit runs
//! compare as numbers and beat letter runs; letter runs compare as bytes; when one
//! string runs out, the longer one wins. `~` sorts before anything, even the end
//! (`1.0~rc1 < 1.0`); `^` sorts after the end but before anything else
//! (`1.0 < 1.0^git1 < 1.0.1`).
//!
//! [`Evr`] splits a string the way rpm's own parser does: an epoch only if the
//! string starts with digits followed by `:`, the release after the *last* `-`.
//! Like rpm 4.18's `rpmverCmp`, it compares epochs (absent is `0`), then versions,
//! then releases, where an absent release sorts before any release, even an empty
//! one (`1.0 < 1.0- < 1.0-0`). Dependency matching, where a range without a release
//! matches every release, is a different question and not answered here.

use std::cmp::Ordering;
use std::fmt;

use super::{cmp_decimal, split_run};

/// Orders two version or release strings with rpm's `rpmvercmp`.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let is_separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while !a.is_empty() || !b.is_empty() {
        a = split_run(a, is_separator).1;
        b = split_run(b, is_separator).1;

        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            _ => {}
        }
        match (a.first(), b.first()) {
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), None) => return Ordering::Greater,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            break;
        }

        let numeric = a[0].is_ascii_digit();
        let run = |s: &[u8]| -> usize {
            if numeric {
                split_run(s, |c| c.is_ascii_digit()).0.len()
            } else {
                split_run(s, |c| c.is_ascii_alphabetic()).0.len()
            }
        };
        let (a_seg, a_rest) = a.split_at(run(a));
        let (b_seg, b_rest) = b.split_at(run(b));
        if b_seg.is_empty() {
            // Segments of different types: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            cmp_decimal(a_seg, b_seg)
        } else {
            a_seg.cmp(b_seg)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = a_rest;
        b = b_rest;
    }
    // Whichever still has something left (separators only, at most) is newer.
    a.is_empty().cmp(&b.is_empty()).reverse()
}

/// An rpm `[epoch:]version[-release]` string, split the way rpm splits it.
///
/// Equality is rpm's: `0:1.0-1` equals `1.0-01` and `1_0-1`.
#[derive(Debug, Clone)]
pub struct Evr {
    epoch: Option<String>,
    version: String,
    release: Option<String>,
}

/// Why a string is not an rpm version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("version is empty")]
    Empty,
    #[error("{0:?} has no '-' between version and release")]
    MissingRelease(String),
}

impl Evr {
    /// Splits `input`. rpm orders any non-empty string, so only the empty one fails.
    pub fn parse(input: &str) -> Result<Evr, ParseError> {
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        let (epoch_digits, after_digits) = split_run(input.as_bytes(), |c| c.is_ascii_digit());
        let (epoch, version_and_release) = if after_digits.first() == Some(&b':') {
            let digits = &input[..epoch_digits.len()];
            let epoch = if digits.is_empty() { "0" } else { digits };
            (Some(epoch.to_owned()), &input[epoch_digits.len() + 1..])
        } else {
            (None, input)
        };
        let (version, release) = match version_and_release.rsplit_once('-') {
            Some((version, release)) => (version, Some(release.to_owned())),
            None => (version_and_release, None),
        };
        Ok(Evr {
            epoch,
            version: version.to_owned(),
            release,
        })
    }

    /// The epoch as written (`:1.0` reads as `0`); `None` when there is none,
    /// which compares as `0`.
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The release, after the last `-`; `None` when there is no `-`.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        let epoch = |evr: &Evr| evr.epoch.as_deref().unwrap_or("0").to_owned();
        vercmp(&epoch(self), &epoch(other))
            .then_with(|| vercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => vercmp(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Evr {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Evr {}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(epoch) = &self.epoch {
            write!(f, "{epoch}:")?;
        }
        f.write_str(&self.version)?;
        if let Some(release) = &self.release {
            write!(f, "-{release}")?;
        }
        Ok(())
    }
}

/// Orders two `[epoch:]version[-release]` strings as rpm does; `None` if either is
/// empty.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Evr::parse(a).ok()?.cmp(&Evr::parse(b).ok()?))
}

/// A `name-[epoch:]version-release[.arch]` string; the name and the arch are optional.
///
/// The name is everything before the second-to-last `-`, so a bare
/// `version-release` has none. An arch is only recognised from a list of known
/// ones: nothing in the syntax tells `12.fc39` (a release) from `12.x86_64`.
///
/// Ordered by name, EVR, then arch; an absent name or arch sorts first, and names
/// and arches compare as plain strings.
#[derive(Debug, Clone)]
pub struct Nevra {
    name: Option<String>,
    evr: Evr,
    arch: Option<String>,
}

/// Architectures recognised as the last `.` part of a NEVRA.
const ARCHES: &[&str] = &[
    "noarch",
    "src",
    "nosrc",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "x86_64",
    "x86_64_v2",
    "x86_64_v3",
    "x86_64_v4",
    "ia64",
    "aarch64",
    "armv6hl",
    "armv7hl",
    "armv7l",
    "armv7hnl",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppc64p7",
    "s390",
    "s390x",
    "riscv",
    "riscv64",
    "loongarch64",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "sparc",
    "sparc64",
    "sparcv9",
    "alpha",
];

impl Nevra {
    pub fn parse(input: &str) -> Result<Nevra, ParseError> {
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        let Some(last_dash) = input.rfind('-') else {
            return Err(ParseError::MissingRelease(input.to_owned()));
        };
        let (name, rest) = match input[..last_dash].rfind('-') {
            Some(name_end) => (Some(&input[..name_end]), &input[name_end + 1..]),
            None => (None, input),
        };
        let (evr, arch) = match rest.rsplit_once('.') {
            Some((evr, arch)) if ARCHES.contains(&arch) => (evr, Some(arch)),
            _ => (rest, None),
        };
        Ok(Nevra {
            name: name.map(str::to_owned),
            evr: Evr::parse(evr)?,
            arch: arch.map(str::to_owned),
        })
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn evr(&self) -> &Evr {
        &self.evr
    }

    pub fn arch(&self) -> Option<&str> {
        self.arch.as_deref()
    }
}

impl Ord for Nevra {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.evr.cmp(&other.evr))
            .then_with(|| self.arch.cmp(&other.arch))
    }
}

impl PartialOrd for Nevra {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Nevra {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Nevra {}

impl fmt::Display for Nevra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            write!(f, "{name}-")?;
        }
        write!(f, "{}", self.evr)?;
        if let Some(arch) = &self.arch {
            write!(f, ".{arch}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn vercmp_orders_segments() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0", "1_0", Equal),
            ("1..0", "1.0", Equal),
            ("1.0", "1.0.0", Less),
            ("2.0", "10", Less),
            ("1.01", "1.1", Equal),
            ("1a", "1.a", Equal),
            ("1.0a", "1.0", Greater),
            ("1.a", "1.1", Less),
            ("a", "B", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("", "", Equal),
            ("", "1", Less),
            ("1.0.", "1.0", Equal),
            ("18446744073709551616", "18446744073709551615", Greater),
        ];
        for &(a, b, want) in cases {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
            assert_eq!(vercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn vercmp_is_transitive_on_a_sample() {
        let sample = [
            "1.0~rc1", "1.0~", "1.0", "1.0^", "1.0^git1", "1.0a", "1.0.0", "1.0.1", "1.1", "a",
        ];
        for a in sample {
            for b in sample {
                for c in sample {
                    if vercmp(a, b) != Greater && vercmp(b, c) != Greater {
                        assert_ne!(vercmp(a, c), Greater, "{a} <= {b} <= {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn evr_splits_like_rpm() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            ("1.0", None, "1.0", None),
            ("1:1.0-2.el9", Some("1"), "1.0", Some("2.el9")),
            (":1.0", Some("0"), "1.0", None),
            ("1.0-", None, "1.0", Some("")),
            ("0:1-2-3", Some("0"), "1-2", Some("3")),
            ("a:1-2", None, "a:1", Some("2")),
            ("1.0:2-3", None, "1.0:2", Some("3")),
        ];
        for &(input, epoch, version, release) in cases {
            let evr = Evr::parse(input).expect(input);
            assert_eq!(
                (evr.epoch(), evr.version(), evr.release()),
                (epoch, version, release)
            );
            assert_eq!(
                evr.to_string(),
                if input == ":1.0" { "0:1.0" } else { input }
            );
        }
        assert_eq!(Evr::parse("").err(), Some(ParseError::Empty));
    }

    #[test]
    fn evr_compares_epoch_then_version_then_release() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("1:1.0", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0", "1.0-", Less),
            ("1.0-", "1.0-0", Less),
            ("1.0", "1.0-~", Less),
            ("1.0-1", "1.0-2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("2:1", "10:1", Less),
            ("007:1", "7:1", Equal),
        ];
        for &(a, b, want) in cases {
            assert_eq!(compare(a, b), Some(want), "{a} vs {b}");
            assert_eq!(compare(b, a), Some(want.reverse()), "{b} vs {a}");
        }
        assert_eq!(compare("", "1"), None);
    }

    #[test]
    fn nevra_parses_name_and_known_arch() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            (
                "bash-5.2.15-3.fc39.x86_64",
                Some("bash"),
                "5.2.15-3.fc39",
                Some("x86_64"),
            ),
            (
                "glibc-common-2:2.34-60.el9.aarch64",
                Some("glibc-common"),
                "2:2.34-60.el9",
                Some("aarch64"),
            ),
            (
                "fonts-filesystem-2.0.5-12.fc39",
                Some("fonts-filesystem"),
                "2.0.5-12.fc39",
                None,
            ),
            ("1:2.0-1", None, "1:2.0-1", None),
            ("1-1.noarch", None, "1-1", Some("noarch")),
        ];
        for &(input, name, evr, arch) in cases {
            let nevra = Nevra::parse(input).expect(input);
            assert_eq!(nevra.name(), name, "{input}");
            assert_eq!(nevra.evr().to_string(), evr, "{input}");
            assert_eq!(nevra.arch(), arch, "{input}");
            assert_eq!(nevra.to_string(), input);
        }
        assert_eq!(
            Nevra::parse("bash").err(),
            Some(ParseError::MissingRelease("bash".into()))
        );
    }

    #[test]
    fn nevra_orders_name_evr_arch() {
        let parse = |s: &str| Nevra::parse(s).expect(s);
        assert_eq!(parse("a-1-1").cmp(&parse("1-1")), Greater);
        assert_eq!(parse("a-1-1").cmp(&parse("b-0-0")), Less);
        assert_eq!(parse("a-1:1-1").cmp(&parse("a-2-1")), Greater);
        assert_eq!(parse("a-1-1.x86_64").cmp(&parse("a-1-1")), Greater);
        assert_eq!(parse("a-1-1.aarch64").cmp(&parse("a-1-1.x86_64")), Less);
    }
}
