//! Legacy versions: strings that are not PEP 440, ordered as setuptools ordered
//! every version before PEP 440 (`pkg_resources.parse_version`, later packaging's
//! `LegacyVersion`).
//!
//! PEP 440 ("Handling of non-compliant versions") leaves such strings to tools and
//! names that scheme as the de facto standard; OSV orders PyPI versions that way,
//! and sorts every legacy version below every PEP 440 one (the caller's part).
//!
//! The scheme, as setuptools documents it:
//!
//! - the version is lower-cased and split into runs of digits, runs of letters,
//!   `-`, and runs of any other characters; `.` only separates;
//! - runs of letters and of other characters are tags; `pre`, `preview` and `rc`
//!   are the tag `c`, and `dev` is `@`, which sorts below every other tag; a `-`
//!   is the tag `final-`, a post-release marker;
//! - a tag that sorts before `final` is a pre-release: any `final-` right before
//!   it is dropped, so `1.0-a1` is `1.0a1`;
//! - zeros right before a tag, or at the end, are dropped, so `2.1` is `2.1.0`;
//! - the tag `final` ends every version.
//!
//! Keys compare part by part: numbers by value, tags by their bytes, a tag below
//! any number, and a key that is a prefix of another below it. setuptools padded
//! numbers to eight digits and compared text, which misorders longer numbers; here
//! they compare by value at any length.

use std::cmp::Ordering;
use std::iter;

use super::super::{cmp_decimal, split_run};

/// Orders two strings as setuptools legacy versions.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    key(a.as_bytes()).cmp(&key(b.as_bytes()))
}

const FINAL: &[u8] = b"final";
const POST_RELEASE: &[u8] = b"final-";
const DEV: &[u8] = b"@";
const CANDIDATE: &[u8] = b"c";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'a> {
    Tag(&'a [u8]),
    Number(&'a [u8]),
}

impl Part<'_> {
    fn is_zero(&self) -> bool {
        matches!(self, Part::Number(digits) if digits.iter().all(|&d| d == b'0'))
    }
}

impl Ord for Part<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Part::Number(a), Part::Number(b)) => cmp_decimal(a, b),
            (Part::Tag(a), Part::Tag(b)) => a.cmp(b),
            (Part::Tag(_), Part::Number(_)) => Ordering::Less,
            (Part::Number(_), Part::Tag(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Part<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The sort key of a lower-cased legacy version.
fn key(lowered: &[u8]) -> Vec<Part<'_>> {
    let mut key: Vec<Part<'_>> = Vec::new();
    for part in parts(lowered).chain(iter::once(Part::Tag(FINAL))) {
        if let Part::Tag(tag) = part {
            if tag < FINAL {
                while key.last() == Some(&Part::Tag(POST_RELEASE)) {
                    key.pop();
                }
            }
            while key.last().is_some_and(Part::is_zero) {
                key.pop();
            }
        }
        key.push(part);
    }
    key
}

/// The parts of `text` in order, `.` left out and tags rewritten.
fn parts(mut text: &[u8]) -> impl Iterator<Item = Part<'_>> {
    iter::from_fn(move || {
        loop {
            let &first = text.first()?;
            let (run, rest) = match first {
                b'0'..=b'9' => split_run(text, |c| c.is_ascii_digit()),
                b'a'..=b'z' => split_run(text, |c| c.is_ascii_lowercase()),
                b'.' | b'-' => text.split_at(1),
                _ => split_run(
                    text,
                    |c| !matches!(c, b'0'..=b'9' | b'a'..=b'z' | b'.' | b'-'),
                ),
            };
            text = rest;
            if run == b"." {
                continue;
            }
            return Some(match run {
                b"-" => Part::Tag(POST_RELEASE),
                b"pre" | b"preview" | b"rc" => Part::Tag(CANDIDATE),
                b"dev" => Part::Tag(DEV),
                digits if first.is_ascii_digit() => Part::Number(digits),
                tag => Part::Tag(tag),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn orders_as_setuptools_documents() {
        let cases: &[(&str, &str, Ordering)] = &[
            // Trailing zeros and leading zeros do not count; case does not either.
            ("2.1", "2.1.0", Equal),
            ("2.4.05", "2.4.5", Equal),
            ("2.4.a5", "2.4.A5", Equal),
            ("2.1", "2.1.1", Less),
            // Tags before "final" are pre-releases, after it post-releases.
            ("2.4.5b", "2.4.5", Less),
            ("2a1", "2b0", Less),
            ("2a1", "2.1", Less),
            ("2.3a1", "2.3", Less),
            ("2.1", "2.1pl4", Less),
            ("2.1a0-20040501", "2.1", Less),
            // `pre`, `preview` and `rc` are `c`; `dev` is below every tag.
            ("1.0pre1", "1.0c1", Equal),
            ("1.0preview1", "1.0rc1", Equal),
            ("1.0rc1", "1.0b9", Greater),
            ("1.0-dev", "1.0", Less),
            ("1.0-dev", "1.0a1", Less),
            ("1.0.dev", "1.0-dev", Equal),
            // `-` is a post-release, dropped before a pre-release tag.
            ("2.1-1", "2.1-2", Less),
            ("2.1-1", "2.1.1", Less),
            ("2.1", "2.1-1", Less),
            ("1.0-a1", "1.0a1", Equal),
            ("0.99a.1", "0.99a", Greater),
            ("0.99.a.dev-r1980", "0.99a.dev-r1980", Equal),
            // A run of letters is one tag.
            ("0.99.adev", "0.99.a.dev", Greater),
            // Other characters form tags of their own.
            ("1_2", "1.2", Less),
            ("1+2", "1_2", Less),
            ("", "0", Equal),
            ("", "a", Greater),
            // Numbers compare by value at any length.
            ("123456789", "99999999", Greater),
            ("0.1-bulbasaur", "0.1-charmander", Less),
            ("0.9-ivysaur", "0.10-abra", Less),
        ];
        for &(a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(compare(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn keys_follow_the_documented_example() {
        // setuptools' own illustration of `0.99.adev-r1980`.
        let want = [
            Part::Number(b"0"),
            Part::Number(b"99"),
            Part::Tag(b"adev"),
            Part::Tag(POST_RELEASE),
            Part::Tag(b"r"),
            Part::Number(b"1980"),
            Part::Tag(FINAL),
        ];
        assert_eq!(key(b"0.99.adev-r1980"), want);
    }
}
