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
//! apk-tools reads versions lazily, one token at a time, and so does this module:
//! [`compare`] and [`fuzzy_matches`] only refuse an input when the answer would
//! depend on a malformed token. [`Version::parse`] checks the whole string.

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
        for token in Tokens::new(input) {
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

/// Orders two apk versions; `None` if the answer rests on a malformed token (or
/// either string is empty).
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    compare_tokens(Tokens::new(a), Tokens::new(b), false).ok()
}

/// apk's fuzzy match (`~`): whether the tokens of `prefix` begin `version`. Like
/// apk-tools, only as much of `version` is read as `prefix` has, so `3.6.9_post1`
/// matches `3.6` although `_post` is no suffix. `None` if a token that is needed is
/// malformed.
pub fn fuzzy_matches(version: &str, prefix: &str) -> Option<bool> {
    if version.is_empty() || prefix.is_empty() {
        return None;
    }
    let ord = compare_tokens(Tokens::new(version), Tokens::new(prefix), true).ok()?;
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
    let is_pre_release =
        |t: Option<&Token<'_>>| matches!(t, Some(Token::Suffix(suffix)) if suffix.is_pre_release());
    if is_pre_release(a) {
        return Ordering::Less;
    }
    if is_pre_release(b) {
        return Ordering::Greater;
    }
    let kind = |t: Option<&Token<'_>>| t.map_or(Kind::End, Token::kind);
    kind(b).cmp(&kind(a))
}

/// The kinds of token, in the order they may appear; a version that goes on with
/// an earlier kind where the other has a later one is the higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
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

#[derive(Debug, Clone, Copy)]
enum Token<'a> {
    Number { digits: &'a [u8], first: bool },
    Letter(u8),
    Suffix(Suffix),
    SuffixNumber(&'a [u8]),
    CommitHash(&'a [u8]),
    Revision(&'a [u8]),
}

impl Token<'_> {
    fn kind(&self) -> Kind {
        match self {
            Token::Number { .. } => Kind::Number,
            Token::Letter(_) => Kind::Letter,
            Token::Suffix(_) => Kind::Suffix,
            Token::SuffixNumber(_) => Kind::SuffixNumber,
            Token::CommitHash(_) => Kind::CommitHash,
            Token::Revision(_) => Kind::Revision,
        }
    }

    /// Orders two tokens of the same kind (the caller checks the kinds).
    fn cmp_same_kind(&self, other: &Token<'_>) -> Ordering {
        match (self, other) {
            (Token::Number { digits: a, first }, Token::Number { digits: b, .. }) => {
                let leading_zero = a.first() == Some(&b'0') || b.first() == Some(&b'0');
                if !first && leading_zero {
                    a.cmp(b)
                } else {
                    cmp_decimal(a, b)
                }
            }
            (Token::Letter(a), Token::Letter(b)) => a.cmp(b),
            (Token::Suffix(a), Token::Suffix(b)) => a.cmp(b),
            (Token::SuffixNumber(a), Token::SuffixNumber(b))
            | (Token::Revision(a), Token::Revision(b)) => cmp_decimal(a, b),
            (Token::CommitHash(a), Token::CommitHash(b)) => a.cmp(b),
            _ => self.kind().cmp(&other.kind()),
        }
    }
}

/// Reads a version one token at a time; stops after the first error.
struct Tokens<'a> {
    text: &'a str,
    offset: usize,
    last: Option<Kind>,
    failed: bool,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens {
            text,
            offset: 0,
            last: None,
            failed: false,
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
            if digits.is_empty() {
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
            b'a'..=b'z' if last == Kind::Number => {
                self.offset += 1;
                Token::Letter(next)
            }
            b'.' if last == Kind::Number => {
                let digits = self.take(1, |c| c.is_ascii_digit());
                if digits.is_empty() {
                    return Some(Err(ParseError::EmptyNumber(start)));
                }
                Token::Number {
                    digits,
                    first: false,
                }
            }
            b'_' if last <= Kind::SuffixNumber => {
                let name = self.take(1, |c| c.is_ascii_lowercase());
                match Suffix::from_name(name) {
                    Some(suffix) => Token::Suffix(suffix),
                    None => {
                        let name = String::from_utf8_lossy(name).into_owned();
                        return Some(Err(ParseError::UnknownSuffix(name)));
                    }
                }
            }
            b'~' if last < Kind::CommitHash => {
                let hash = self.take(1, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                if hash.is_empty() {
                    return Some(Err(ParseError::EmptyCommitHash(start)));
                }
                Token::CommitHash(hash)
            }
            b'-' if last < Kind::Revision && self.rest().get(1) == Some(&b'r') => {
                let digits = self.take(2, |c| c.is_ascii_digit());
                if digits.is_empty() {
                    return Some(Err(ParseError::EmptyRevision(start)));
                }
                Token::Revision(digits)
            }
            _ => return Some(Err(self.unexpected())),
        };
        Some(Ok(token))
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
        compare_tokens(Tokens::new(&self.text), Tokens::new(&other.text), false)
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
    fn comparison_reads_only_as_far_as_it_needs() {
        assert_eq!(compare("23_foo", "4_beta"), Some(Greater));
        assert_eq!(compare("1.0", "1.0bc"), Some(Less));
        assert_eq!(compare("1.0_foo", "1.0_bar"), None);
        assert_eq!(compare("1-r", "1-r0"), None);
        assert_eq!(compare("", ""), None);
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
