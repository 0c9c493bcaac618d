//! Alpine package versions, ordered as apk-tools orders them.
//!
//! The format (apk-package(5)) is
//! `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`:
//!
//! - dot-separated decimal numbers, at least one;
//! - at most one lower-case letter, right after the numbers;
//! - any number of `_suffix` parts, each optionally numbered; `_alpha`, `_beta`,
//!   `_pre` and `_rc` sort before the release, `_cvs`, `_svn`, `_git`, `_hg` and
//!   `_p` after it, in that order;
//! - an optional `~hash`: the commit it was built from, lower-case hex;
//! - an optional package revision `-r#`.
//!
//! Versions are compared token by token. Equal kinds compare by value: the first
//! number numerically, later numbers numerically unless either has a leading zero,
//! in which case as strings (so `8.2.0 < 8.2.001`). When the kinds differ or one
//! version ends, a pre-release suffix is lower than anything, and otherwise the
//! version that goes on with the earlier kind of part is higher (`1.0.1 > 1.0b >
//! 1.0_p1 > 1.0-r1 > 1.0`).
//!
//! [`Version::parse`] checks a whole string against that grammar, and [`Version`]'s
//! order and [`fuzzy_matches`] are apk-tools', which reads versions lazily, one
//! token at a time.
//!
//! # Strings that are not apk versions
//!
//! OSV advisories for Alpine and its relatives are matched by OSV-Scanner, whose
//! ordering (osv-scalibr's `semantic` package) also orders strings apk-tools
//! rejects: `1-r`, `0..8`, `6.6.2p1`, `1.2_blah`, `a`. Since portcullis matches
//! the same advisories, [`compare`] falls back on a lenient reading whenever
//! either side is not a valid version, built to reproduce OSV's order on its
//! published vectors (osv-scalibr's `alpine-versions.txt`); two valid versions are
//! always ordered by apk-tools' rules. Where those vectors say nothing (unknown
//! suffixes against each other, the number after a letter, hashes), the rules
//! below are ours. The lenient reader extends the grammar above, so that it yields
//! exactly apk-tools' tokens for a valid version and the two orders agree wherever
//! both apply:
//!
//! - a number may be empty (`.1`, `0..8`, or no number at all before a letter, as
//!   in `a`); an empty number sorts below every other part, and below the end of
//!   the version, so `0.r1 < 0r1` and `.1 < 0.1`;
//! - the letter may be upper case, and compares by its ASCII code (`1.0A < 1.0a`);
//! - the letter may carry a number (`6.6.2p1`, OpenSSH style), which sorts like a
//!   suffix's number: after the letter, before any suffix;
//! - a suffix is the whole run of letters after `_`; one apk does not know
//!   (`_blah`, `_csv`, or none at all) is a pre-release below `_alpha`, and two
//!   unknown suffixes compare by name;
//! - the hash may be empty or hold any ASCII letters and digits;
//! - `-r` is a revision only when the `r` is a word of its own (`-ruff` is not);
//!   its number may be missing, and then is `0` (`1-r` = `1-r0`);
//! - whatever is left where the grammar cannot go on is a remainder: its text is
//!   not ordered (`1-r0-1` = `1-r0-2`, `1-ruff1` = `1--ruff2`), but a version with
//!   a remainder sorts below everything else at that point, even an empty number,
//!   so `1-r0-1 < 1-r0` and `1-ruff < 1`.
//!
//! The lenient order is total: every pair of strings, the empty one included, is
//! ordered, and the order is transitive.

use std::cmp::Ordering;
use std::fmt;

use super::{cmp_decimal, split_run};

/// A valid apk version.
///
/// Equality is apk's: `1.0-r0` equals `1.0-r00`, and both are above `1.0`.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
}

/// Why a string is not an apk version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("version is empty")]
    Empty,
    #[error("version does not start with a digit")]
    MissingNumber,
    #[error("no digits after the '.' at byte {0}")]
    EmptyNumber(usize),
    #[error("unknown suffix {0:?}")]
    UnknownSuffix(String),
    #[error("no lower-case hex digits after the '~' at byte {0}")]
    EmptyCommitHash(usize),
    #[error("no digits after the '-r' at byte {0}")]
    EmptyRevision(usize),
    #[error("unexpected {found:?} at byte {offset}")]
    Unexpected { offset: usize, found: char },
}

impl Version {
    /// Parses `input`, which must be a complete, valid apk version.
    pub fn parse(input: &str) -> Result<Version, ParseError> {
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        for token in Tokens::strict(input) {
            token?;
        }
        Ok(Version {
            text: input.to_owned(),
        })
    }

    /// The version as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// apk's fuzzy match (`~` in a dependency): whether `prefix`'s tokens begin this
    /// version, so `3.6.9 ~ 3.6` but not `3.60 ~ 3.6`.
    pub fn fuzzy_matches(&self, prefix: &Version) -> bool {
        fuzzy_matches(&self.text, &prefix.text) == Some(true)
    }
}

/// Orders two strings as apk versions: by apk-tools' rules when both are valid,
/// and otherwise by the lenient reading described in the [module docs](self),
/// which OSV uses. Always `Some`: every pair of strings is ordered.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let both_valid = Version::parse(a).is_ok() && Version::parse(b).is_ok();
    let (a, b) = if both_valid {
        (Tokens::strict(a), Tokens::strict(b))
    } else {
        (Tokens::lenient(a), Tokens::lenient(b))
    };
    compare_tokens(a, b, false).ok()
}

/// apk's fuzzy match (`~`): whether the tokens of `prefix` begin `version`. Like
/// apk-tools, only as much of `version` is read as `prefix` has, so `3.6.9_post1`
/// matches `3.6` although `_post` is no suffix. `None` if a token that is needed is
/// malformed.
pub fn fuzzy_matches(version: &str, prefix: &str) -> Option<bool> {
    if version.is_empty() || prefix.is_empty() {
        return None;
    }
    let ord = compare_tokens(Tokens::strict(version), Tokens::strict(prefix), true).ok()?;
    Some(ord == Ordering::Equal)
}

/// Walks both token streams in step. With `fuzzy`, the end of `b` ends the walk
/// as a match, before the rest of `a` is read.
fn compare_tokens<'a, 'b>(
    mut a: Tokens<'a>,
    mut b: Tokens<'b>,
    fuzzy: bool,
) -> Result<Ordering, ParseError> {
    loop {
        let tb = b.next().transpose()?;
        if fuzzy && tb.is_none() {
            return Ok(Ordering::Equal);
        }
        let ta = a.next().transpose()?;
        match (ta, tb) {
            (None, None) => return Ok(Ordering::Equal),
            (Some(x), Some(y)) if x.kind() == y.kind() => {
                let ord = x.cmp_same_kind(&y);
                if ord != Ordering::Equal {
                    return Ok(ord);
                }
            }
            (x, y) => return Ok(cmp_diverging(x.as_ref(), y.as_ref())),
        }
    }
}

/// Orders two versions at the first token where their kinds differ (`None` is the end).
fn cmp_diverging(a: Option<&Token<'_>>, b: Option<&Token<'_>>) -> Ordering {
    let kind = |t: Option<&Token<'_>>| t.map_or(Kind::End, Token::kind);
    rank(a).cmp(&rank(b)).then_with(|| kind(b).cmp(&kind(a)))
}

/// Where a version goes at the token that sets it apart: the parts that sort
/// below anything come first, and everything else is [`Rank::Ordinary`], placed by
/// its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Remainder,
    EmptyNumber,
    PreRelease,
    Ordinary,
}

fn rank(token: Option<&Token<'_>>) -> Rank {
    match token {
        Some(Token::Remainder) => Rank::Remainder,
        Some(Token::Number { digits: [], .. }) => Rank::EmptyNumber,
        Some(Token::UnknownSuffix(_)) => Rank::PreRelease,
        Some(Token::Suffix(suffix)) if suffix.is_pre_release() => Rank::PreRelease,
        _ => Rank::Ordinary,
    }
}

/// The kinds of token, in the order they may appear; a version that goes on with
/// an earlier kind where the other has a later one is the higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Number,
    Letter,
    LetterNumber,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    Remainder,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

impl Suffix {
    fn from_name(name: &[u8]) -> Option<Suffix> {
        Some(match name {
            b"alpha" => Suffix::Alpha,
            b"beta" => Suffix::Beta,
            b"pre" => Suffix::Pre,
            b"rc" => Suffix::Rc,
            b"cvs" => Suffix::Cvs,
            b"svn" => Suffix::Svn,
            b"git" => Suffix::Git,
            b"hg" => Suffix::Hg,
            b"p" => Suffix::P,
            _ => return None,
        })
    }

    fn is_pre_release(self) -> bool {
        self <= Suffix::Rc
    }
}

/// A part of a version. `LetterNumber`, `UnknownSuffix`, `Remainder` and an empty
/// `Number` only come from the lenient reader.
#[derive(Debug, Clone, Copy)]
enum Token<'a> {
    Number { digits: &'a [u8], first: bool },
    Letter(u8),
    LetterNumber(&'a [u8]),
    Suffix(Suffix),
    UnknownSuffix(&'a [u8]),
    SuffixNumber(&'a [u8]),
    CommitHash(&'a [u8]),
    Revision(&'a [u8]),
    Remainder,
}

impl Token<'_> {
    fn kind(&self) -> Kind {
        match self {
            Token::Number { .. } => Kind::Number,
            Token::Letter(_) => Kind::Letter,
            Token::LetterNumber(_) => Kind::LetterNumber,
            Token::Suffix(_) | Token::UnknownSuffix(_) => Kind::Suffix,
            Token::SuffixNumber(_) => Kind::SuffixNumber,
            Token::CommitHash(_) => Kind::CommitHash,
            Token::Revision(_) => Kind::Revision,
            Token::Remainder => Kind::Remainder,
        }
    }

    /// Orders two tokens of the same kind (the caller checks the kinds).
    fn cmp_same_kind(&self, other: &Token<'_>) -> Ordering {
        match (self, other) {
            (Token::Number { digits: a, first }, Token::Number { digits: b, .. }) => {
                let leading_zero = a.first() == Some(&b'0') || b.first() == Some(&b'0');
                if a.is_empty() || b.is_empty() {
                    b.is_empty().cmp(&a.is_empty())
                } else if !first && leading_zero {
                    a.cmp(b)
                } else {
                    cmp_decimal(a, b)
                }
            }
            (Token::Letter(a), Token::Letter(b)) => a.cmp(b),
            (Token::Suffix(a), Token::Suffix(b)) => a.cmp(b),
            (Token::UnknownSuffix(a), Token::UnknownSuffix(b))
            | (Token::CommitHash(a), Token::CommitHash(b)) => a.cmp(b),
            (Token::UnknownSuffix(_), Token::Suffix(_)) => Ordering::Less,
            (Token::Suffix(_), Token::UnknownSuffix(_)) => Ordering::Greater,
            (Token::LetterNumber(a), Token::LetterNumber(b))
            | (Token::SuffixNumber(a), Token::SuffixNumber(b))
            | (Token::Revision(a), Token::Revision(b)) => cmp_decimal(a, b),
            // A remainder's text is not ordered (see the module docs).
            (Token::Remainder, Token::Remainder) => Ordering::Equal,
            _ => self.kind().cmp(&other.kind()),
        }
    }
}

/// Reads a version one token at a time. The strict reader stops after the first
/// error; the lenient one never fails (see the module docs).
struct Tokens<'a> {
    text: &'a str,
    offset: usize,
    last: Option<Kind>,
    failed: bool,
    lenient: bool,
}

impl<'a> Tokens<'a> {
    fn strict(text: &'a str) -> Self {
        Tokens {
            text,
            offset: 0,
            last: None,
            failed: false,
            lenient: false,
        }
    }

    fn lenient(text: &'a str) -> Self {
        Tokens {
            lenient: true,
            ..Tokens::strict(text)
        }
    }

    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.offset..]
    }

    /// Takes the longest run of bytes satisfying `keep`, after skipping `skip` bytes.
    fn take(&mut self, skip: usize, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let (run, _) = split_run(&self.rest()[skip..], keep);
        self.offset += skip + run.len();
        run
    }

    fn unexpected(&self) -> ParseError {
        let found = self.text[self.offset..].chars().next().unwrap_or('\0');
        ParseError::Unexpected {
            offset: self.offset,
            found,
        }
    }

    fn read(&mut self) -> Option<Result<Token<'a>, ParseError>> {
        let start = self.offset;
        let Some(last) = self.last else {
            let digits = self.take(0, |c| c.is_ascii_digit());
            if digits.is_empty() && !self.lenient {
                return Some(Err(ParseError::MissingNumber));
            }
            return Some(Ok(Token::Number {
                digits,
                first: true,
            }));
        };
        let &next = self.rest().first()?;
        let token = match next {
            b'0'..=b'9' if last == Kind::Suffix => {
                Token::SuffixNumber(self.take(0, |c| c.is_ascii_digit()))
            }
            b'0'..=b'9' if self.lenient && last == Kind::Letter => {
                Token::LetterNumber(self.take(0, |c| c.is_ascii_digit()))
            }
            b'a'..=b'z' if last == Kind::Number => {
                self.offset += 1;
                Token::Letter(next)
            }
            b'A'..=b'Z' if self.lenient && last == Kind::Number => {
                self.offset += 1;
                Token::Letter(next)
            }
            b'.' if last == Kind::Number => {
                let digits = self.take(1, |c| c.is_ascii_digit());
                if digits.is_empty() && !self.lenient {
                    return Some(Err(ParseError::EmptyNumber(start)));
                }
                Token::Number {
                    digits,
                    first: false,
                }
            }
            b'_' if last <= Kind::SuffixNumber => {
                let name = if self.lenient {
                    self.take(1, |c| c.is_ascii_alphabetic())
                } else {
                    self.take(1, |c| c.is_ascii_lowercase())
                };
                match Suffix::from_name(name) {
                    Some(suffix) => Token::Suffix(suffix),
                    None if self.lenient => Token::UnknownSuffix(name),
                    None => {
                        let name = String::from_utf8_lossy(name).into_owned();
                        return Some(Err(ParseError::UnknownSuffix(name)));
                    }
                }
            }
            b'~' if last < Kind::CommitHash => {
                let hash = if self.lenient {
                    self.take(1, |c| c.is_ascii_alphanumeric())
                } else {
                    self.take(1, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
                };
                if hash.is_empty() && !self.lenient {
                    return Some(Err(ParseError::EmptyCommitHash(start)));
                }
                Token::CommitHash(hash)
            }
            b'-' if last < Kind::Revision && self.at_revision() => {
                let digits = self.take(2, |c| c.is_ascii_digit());
                if digits.is_empty() && !self.lenient {
                    return Some(Err(ParseError::EmptyRevision(start)));
                }
                Token::Revision(digits)
            }
            _ if self.lenient => {
                self.offset = self.text.len();
                Token::Remainder
            }
            _ => return Some(Err(self.unexpected())),
        };
        Some(Ok(token))
    }

    /// Whether the rest starts with `-r`: for the lenient reader, an `r` that is a
    /// word of its own, so that `-ruff` is no revision.
    fn at_revision(&self) -> bool {
        let rest = self.rest();
        if rest.get(1) != Some(&b'r') {
            return false;
        }
        !self.lenient || !rest.get(2).is_some_and(u8::is_ascii_alphabetic)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<Token<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.read()?;
        match &item {
            Ok(token) => self.last = Some(token.kind()),
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        // Both were checked whole by `parse`, so no token can fail here.
        compare_tokens(
            Tokens::strict(&self.text),
            Tokens::strict(&other.text),
            false,
        )
        .unwrap_or(Ordering::Equal)
    }
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

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::order_checks;
    use super::*;
    use Ordering::{Equal, Greater, Less};

    fn cmp(a: &str, b: &str) -> Ordering {
        match compare(a, b) {
            Some(ord) => ord,
            None => panic!("{a:?} vs {b:?} refused"),
        }
    }

    #[test]
    fn orders_like_apk_tools() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0-r0", "1.0", Greater),
            ("1.0-r1", "1.0-r01", Equal),
            ("1.10", "1.9", Greater),
            ("1.0_alpha", "1.0", Less),
            ("1.0_alpha", "1.0_alpha1", Less),
            ("1.0_alpha2", "1.0_beta1", Less),
            ("1.0_rc9", "1.0", Less),
            ("1.0_p1", "1.0", Greater),
            ("1.0_cvs1", "1.0_svn1", Less),
            ("1.0_hg1", "1.0_p1", Less),
            ("1.0_p1", "1.0.1", Less),
            ("1.0b", "1.0.1", Less),
            ("1.0b", "1.0_p1", Greater),
            ("1.0a", "1.0b", Less),
            ("1.0_alpha_pre2", "1.0_alpha", Less),
            ("1.0~abc", "1.0", Greater),
            ("1.0~1234-r1", "1.0~2345-r0", Less),
            ("8.2.0", "8.2.001", Less),
            ("8.2.0015", "8.2.002", Less),
            ("1.05", "1.2", Less),
            ("006", "1.06", Greater),
            ("1.0.0_pre20191002222144", "1.0.0_pre20210530193627", Less),
            (
                "99999999999999999999999",
                "99999999999999999999998",
                Greater,
            ),
        ];
        for &(a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn order_is_transitive_on_a_sample() {
        let sample = [
            "1",
            "1.0",
            "1.00",
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_rc1",
            "1.0_p1",
            "1.0-r1",
            "1.0a",
            "1.0.1",
            "1.01",
            "1.1",
            "1.0~ab",
            "1.0_git1-r3",
        ];
        let mut sorted = sample.map(|v| Version::parse(v).expect(v));
        sorted.sort();
        for a in &sorted {
            for b in &sorted {
                for c in &sorted {
                    if a <= b && b <= c {
                        assert!(a <= c, "{a} <= {b} <= {c}");
                    }
                }
            }
        }
        for pair in sorted.windows(2) {
            assert_ne!(pair[0].cmp(&pair[1]), Greater);
            assert_ne!(pair[1].cmp(&pair[0]), Less);
        }
    }

    #[test]
    fn validity_follows_apk_package_5() {
        for valid in [
            "0",
            "1.2.3",
            "1.0b",
            "1.0_rc1",
            "1.0_p1_pre2",
            "1.0~0abc-r3",
            "1_alpha",
        ] {
            assert!(Version::parse(valid).is_ok(), "{valid}");
        }
        let invalid: &[(&str, ParseError)] = &[
            ("", ParseError::Empty),
            ("v1.0", ParseError::MissingNumber),
            ("1..0", ParseError::EmptyNumber(1)),
            ("1.", ParseError::EmptyNumber(1)),
            ("1.0_", ParseError::UnknownSuffix(String::new())),
            ("1.0_post1", ParseError::UnknownSuffix("post".into())),
            ("1.0~", ParseError::EmptyCommitHash(3)),
            ("1.0~ABC", ParseError::EmptyCommitHash(3)),
            ("1.0-r", ParseError::EmptyRevision(3)),
            (
                "1.0-1",
                ParseError::Unexpected {
                    offset: 3,
                    found: '-',
                },
            ),
            (
                "1.0bc",
                ParseError::Unexpected {
                    offset: 4,
                    found: 'c',
                },
            ),
            (
                "1.0B",
                ParseError::Unexpected {
                    offset: 3,
                    found: 'B',
                },
            ),
            (
                "1.0-r1-r2",
                ParseError::Unexpected {
                    offset: 6,
                    found: '-',
                },
            ),
            (
                "1.0-r1_p1",
                ParseError::Unexpected {
                    offset: 6,
                    found: '_',
                },
            ),
            (
                "1.0\u{e9}",
                ParseError::Unexpected {
                    offset: 3,
                    found: '\u{e9}',
                },
            ),
        ];
        for (input, want) in invalid {
            assert_eq!(
                Version::parse(input).err().as_ref(),
                Some(want),
                "{input:?}"
            );
        }
    }

    #[test]
    fn strings_that_are_not_versions_order_leniently() {
        let cases: &[(&str, &str, Ordering)] = &[
            // Empty numbers: below any number, letter or end.
            (".1", "1", Less),
            (".1", "0.1", Less),
            ("1..2", "1.0.2", Less),
            ("1.", "1", Less),
            ("0.r1", "0r1", Less),
            ("1..2", "1..2", Equal),
            // Letters: any case, with an optional number.
            ("1.0A", "1.0a", Less),
            ("1.0Z", "1.0a", Less),
            ("6.6p1", "6.6p2", Less),
            ("6.6p", "6.6p0", Less),
            ("6.6p1", "6.6_p9", Greater),
            ("6.6p1", "6.6.1", Less),
            ("a", "b", Less),
            ("a", "1", Less),
            // Unknown suffixes: pre-releases below `_alpha`, ordered by name.
            ("1.0_blah", "1.0", Less),
            ("1.0_blah", "1.0_alpha", Less),
            ("1.0_blah", "1.0_csv", Less),
            ("1.0_blah2", "1.0_blah10", Less),
            ("1.0_", "1.0_a", Less),
            ("1.0_Beta", "1.0_beta", Less),
            // Revisions: a missing number is 0; `-r` followed by a word is none.
            ("1-r", "1-r0", Equal),
            ("1-r", "1-r1", Less),
            ("1-ruff", "1", Less),
            ("1-ruff", "1-r0", Less),
            // Remainders: unordered among themselves, below anything else.
            ("1-r0-1", "1-r0-2", Equal),
            ("1-r0-1", "1-r0", Less),
            ("1-r1-1", "1-r0", Greater),
            ("1.0bc", "1.0bz", Equal),
            ("1.0bc", "1.0b", Less),
            ("1+x", "1..", Less),
            ("1\u{e9}", "1", Less),
            // Hashes: any letters and digits, possibly none.
            ("1~", "1", Greater),
            ("1~", "1~0", Less),
            ("1~XYZ", "1~abc", Less),
            // The empty string is an empty number.
            ("", "", Equal),
            ("", "0", Less),
            ("", "-r1", Less),
            ("", "!", Greater),
        ];
        for &(a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(cmp(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn a_valid_version_orders_against_an_invalid_one() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("4_beta", "23_foo", Less),
            ("1.0", "1.0bc", Less),
            ("1.2", "1.2_blah", Greater),
            ("1.2_alpha", "1.2_blah", Greater),
            ("6.6.2_p1", "6.6.2p1", Less),
            ("1-r0", "1-r", Equal),
            ("1-r0", "1-r-0", Greater),
            ("1", "1-ruff", Greater),
            ("1.0", "1.0.", Greater),
            ("0.1", ".1", Greater),
            ("1.0a", "1.0A", Greater),
            ("1.0~abc", "1.0~abz", Less),
            ("1.0", "v1.0", Greater),
            ("0", "", Greater),
        ];
        for &(a, b, want) in cases {
            assert!(Version::parse(a).is_ok(), "{a:?} should be valid");
            assert!(Version::parse(b).is_err(), "{b:?} should be invalid");
            assert_eq!(cmp(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(cmp(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn lenient_reading_agrees_with_apk_tools_on_valid_versions() {
        let sample = [
            "0",
            "1",
            "1.0",
            "1.00",
            "1.01",
            "1.0.1",
            "1.0a",
            "1.0z",
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_beta_pre2",
            "1.0_rc1",
            "1.0_cvs",
            "1.0_p1",
            "1.0_p1-r2",
            "1.0~0ab",
            "1.0~0ab-r1",
            "1.0-r0",
            "1.0-r10",
            "8.2.001",
            "2.34",
        ];
        for a in sample {
            for b in sample {
                let strict = compare_tokens(Tokens::strict(a), Tokens::strict(b), false);
                let lenient = compare_tokens(Tokens::lenient(a), Tokens::lenient(b), false);
                assert_eq!(strict.ok(), lenient.ok(), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn compare_orders_arbitrary_strings_totally() {
        let sample = order_checks::arbitrary_strings(0x5eed_a9c0, 120, b"0123456789._-~rpaAbz");
        order_checks::assert_total_order(&sample, compare);
    }

    #[test]
    fn fuzzy_matching_is_by_token_prefix() {
        let cases: &[(&str, &str, bool)] = &[
            ("3.6.0", "3.6", true),
            ("3.6_pre1", "3.6", true),
            ("3.6.9_post1", "3.6", true),
            ("3.6", "3.6", true),
            ("3.60", "3.6", false),
            ("3.6", "3.6.0", false),
            ("3.8.0.1", "3.8.1", false),
        ];
        for &(version, prefix, want) in cases {
            assert_eq!(
                fuzzy_matches(version, prefix),
                Some(want),
                "{version} ~ {prefix}"
            );
        }
        assert_eq!(fuzzy_matches("3.6", "3.6_"), None);
        let (v, p) = (
            Version::parse("1.2.3").expect("v"),
            Version::parse("1.2").expect("p"),
        );
        assert!(v.fuzzy_matches(&p));
        assert!(!p.fuzzy_matches(&v));
    }
}
