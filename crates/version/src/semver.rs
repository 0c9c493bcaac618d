//! Semantic Versioning 2.0.0 precedence, with the leniency of Go and npm tooling.
//!
//! `MAJOR.MINOR.PATCH[-prerelease][+build]`: numbers compare numerically, a
//! version with a pre-release is lower than the same version without one,
//! pre-release identifiers compare one by one (numeric ones as numbers and below
//! alphanumeric ones, those in ASCII order, a shorter list lower when it is a
//! prefix of the other), and build metadata is ignored.
//!
//! Leniency, because advisories and lock files are not always strict:
//!
//! - a leading `v`, as Go module versions and npm's loose mode accept;
//! - fewer or more than three core numbers, with the missing ones zero, as Go
//!   reads `v1.2` as `v1.2.0` and OSV ranges start at `0`;
//! - numbers of any size (SemVer sets no bound).
//!
//! Everything else SemVer forbids stays forbidden: leading zeros in numbers, empty
//! identifiers, characters outside `[0-9A-Za-z-]`.

use std::cmp::Ordering;
use std::fmt;

use super::cmp_decimal;

/// A SemVer version. Equality is precedence: build metadata does not count, and
/// `1.2` equals `1.2.0`.
#[derive(Debug, Clone)]
pub struct Version {
    core: Vec<String>,
    prerelease: Vec<Identifier>,
    build: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    Numeric(String),
    Alphanumeric(String),
}

/// Why a string is not a SemVer version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("version is empty")]
    Empty,
    #[error("{0:?} is not a version number")]
    NotNumber(String),
    #[error("number {0:?} has a leading zero")]
    LeadingZero(String),
    #[error("empty identifier")]
    EmptyIdentifier,
    #[error("identifier {0:?} has characters outside [0-9A-Za-z-]")]
    BadIdentifier(String),
}

impl Version {
    pub fn parse(input: &str) -> Result<Version, ParseError> {
        let text = input.strip_prefix('v').unwrap_or(input);
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        let (text, build) = match text.split_once('+') {
            Some((text, build)) => (text, identifiers(build)?),
            None => (text, Vec::new()),
        };
        let (core, prerelease) = match text.split_once('-') {
            Some((core, prerelease)) => (core, identifiers(prerelease)?),
            None => (text, Vec::new()),
        };
        let core = core
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::NotNumber(part.to_owned()));
                }
                check_leading_zero(part)?;
                Ok(part.to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prerelease = prerelease
            .into_iter()
            .map(|id| {
                if id.bytes().all(|b| b.is_ascii_digit()) {
                    check_leading_zero(&id)?;
                    Ok(Identifier::Numeric(id))
                } else {
                    Ok(Identifier::Alphanumeric(id))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Version {
            core,
            prerelease,
            build,
        })
    }

    /// Whether the version carries a pre-release part.
    pub fn is_prerelease(&self) -> bool {
        !self.prerelease.is_empty()
    }
}

fn identifiers(text: &str) -> Result<Vec<String>, ParseError> {
    text.split('.')
        .map(|id| {
            if id.is_empty() {
                Err(ParseError::EmptyIdentifier)
            } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                Err(ParseError::BadIdentifier(id.to_owned()))
            } else {
                Ok(id.to_owned())
            }
        })
        .collect()
}

fn check_leading_zero(number: &str) -> Result<(), ParseError> {
    if number.len() > 1 && number.starts_with('0') {
        return Err(ParseError::LeadingZero(number.to_owned()));
    }
    Ok(())
}

/// Orders two versions by SemVer precedence; `None` if either does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Version::parse(a).ok()?.cmp(&Version::parse(b).ok()?))
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.core.len().max(other.core.len());
        let core = (0..len)
            .map(|i| {
                let a = self.core.get(i).map_or("0", String::as_str);
                let b = other.core.get(i).map_or("0", String::as_str);
                cmp_decimal(a.as_bytes(), b.as_bytes())
            })
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal);
        core.then_with(|| match (self.is_prerelease(), other.is_prerelease()) {
            (true, true) => cmp_identifiers(&self.prerelease, &other.prerelease),
            (a, b) => b.cmp(&a),
        })
    }
}

fn cmp_identifiers(a: &[Identifier], b: &[Identifier]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x, y) {
            (Identifier::Numeric(x), Identifier::Numeric(y)) => {
                cmp_decimal(x.as_bytes(), y.as_bytes())
            }
            (Identifier::Alphanumeric(x), Identifier::Alphanumeric(y)) => x.cmp(y),
            (Identifier::Numeric(_), Identifier::Alphanumeric(_)) => Ordering::Less,
            (Identifier::Alphanumeric(_), Identifier::Numeric(_)) => Ordering::Greater,
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Writes the version without a `v`, with its core as written.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.core.join("."))?;
        for (i, id) in self.prerelease.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match id {
                Identifier::Numeric(id) | Identifier::Alphanumeric(id) => f.write_str(id)?,
            }
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build.join("."))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    fn cmp(a: &str, b: &str) -> Ordering {
        match compare(a, b) {
            Some(ord) => ord,
            None => panic!("{a:?} or {b:?} refused"),
        }
    }

    #[test]
    fn precedence_follows_the_spec_example() {
        let sorted = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn build_metadata_and_v_prefix_do_not_count() {
        let cases: &[(&str, &str)] = &[
            ("1.0.0+build.1", "1.0.0+build.2"),
            ("v1.2.3", "1.2.3"),
            ("1.2", "1.2.0"),
            ("0", "0.0.0"),
            ("1.2.3.0", "1.2.3"),
            ("1.0.0-rc.1+a", "v1.0.0-rc.1+b"),
        ];
        for &(a, b) in cases {
            assert_eq!(cmp(a, b), Equal, "{a} vs {b}");
        }
        assert_eq!(cmp("1.2.3.1", "1.2.3"), Greater);
        assert_eq!(cmp("1.0.0-0", "1.0.0-a"), Less);
        assert_eq!(cmp("1.0.0-Z", "1.0.0-a"), Less);
        assert_eq!(cmp("1.0.0-alpha-1", "1.0.0-alpha"), Greater);
        assert_eq!(
            cmp("99999999999999999999.0.0", "99999999999999999998.9.9"),
            Greater
        );
    }

    #[test]
    fn refuses_what_semver_forbids() {
        let cases: &[(&str, ParseError)] = &[
            ("", ParseError::Empty),
            ("v", ParseError::Empty),
            ("V1.0.0", ParseError::NotNumber("V1".into())),
            ("1..0", ParseError::NotNumber(String::new())),
            ("1.0.x", ParseError::NotNumber("x".into())),
            ("01.0.0", ParseError::LeadingZero("01".into())),
            ("1.0.0-01", ParseError::LeadingZero("01".into())),
            ("1.0.0-", ParseError::EmptyIdentifier),
            ("1.0.0-a..b", ParseError::EmptyIdentifier),
            ("1.0.0+", ParseError::EmptyIdentifier),
            ("1.0.0-a_b", ParseError::BadIdentifier("a_b".into())),
            ("1.0.0+a b", ParseError::BadIdentifier("a b".into())),
        ];
        for (input, want) in cases {
            assert_eq!(
                Version::parse(input).err().as_ref(),
                Some(want),
                "{input:?}"
            );
        }
        assert!(Version::parse("1.0.0-0a").is_ok(), "0a is alphanumeric");
        assert!(
            Version::parse("1.0.0+001").is_ok(),
            "build numbers may lead with 0"
        );
    }

    #[test]
    fn display_drops_the_v() {
        let v = Version::parse("v1.2.3-rc.1+exp.sha.5114f85").expect("valid");
        assert_eq!(v.to_string(), "1.2.3-rc.1+exp.sha.5114f85");
        assert!(v.is_prerelease());
    }
}
