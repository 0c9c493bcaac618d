//! Debian package versions, ordered as `dpkg --compare-versions` orders them.
//!
//! The format is `[epoch:]upstream_version[-debian_revision]` (Debian Policy
//! §5.6.12). The epoch is a number; the revision is everything after the *last*
//! hyphen, so the upstream part may hold hyphens itself (and colons, when an epoch
//! is present). Absent epoch and absent revision order as `0`.
//!
//! Upstream and revision are compared with dpkg's algorithm: alternately a run of
//! non-digits, compared character by character with `~` before the end of the run,
//! the end before letters and letters before everything else, then a run of digits
//! compared as a number.
//!
//! dpkg sorts its parse failures in two tiers, and so does this module: errors
//! (empty parts, a bad epoch, embedded blanks) make a string unusable, while
//! warnings (an upstream part not starting with a digit, a character outside the
//! allowed set) still let `dpkg --compare-versions` order it. [`Version::parse`]
//! refuses both; [`Version::parse_relaxed`] and [`compare`] refuse only errors.

use std::cmp::Ordering;
use std::fmt;

use super::{cmp_decimal, split_run};

/// A parsed Debian version.
///
/// Equality is dpkg's: `1.0` equals `0:1.0-0` and `1.00`.
#[derive(Debug, Clone)]
pub struct Version {
    epoch: u32,
    upstream: String,
    revision: String,
}

/// Why a string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("version string is empty")]
    Empty,
    #[error("version string has embedded spaces")]
    EmbeddedSpace,
    #[error("epoch in version is empty")]
    EmptyEpoch,
    #[error("epoch in version is not a number")]
    EpochNotNumber,
    #[error("epoch in version is negative")]
    NegativeEpoch,
    #[error("epoch in version is too big")]
    EpochTooBig,
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    #[error("revision number is empty")]
    EmptyRevision,
    #[error("upstream version is empty")]
    EmptyUpstream,
    /// A byte dpkg would order differently depending on the platform's `char`
    /// signedness (non-ASCII), or never see at all (NUL ends a C string).
    #[error("unsupported character {0:?} in version")]
    UnsupportedChar(char),
    #[error("version number does not start with digit")]
    UpstreamNotDigit,
    #[error("invalid character {0:?} in version number")]
    InvalidUpstreamChar(char),
    #[error("invalid character {0:?} in revision number")]
    InvalidRevisionChar(char),
}

impl ParseError {
    /// Whether dpkg only warns about this problem and still orders the version.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            ParseError::UpstreamNotDigit
                | ParseError::InvalidUpstreamChar(_)
                | ParseError::InvalidRevisionChar(_)
        )
    }
}

/// The largest epoch dpkg accepts (it stores epochs in a C `int`).
const MAX_EPOCH: u32 = i32::MAX as u32;

impl Version {
    /// Parses `input` as dpkg's `parseversion` does, refusing warnings as well as
    /// errors. Leading and trailing blanks are ignored, as dpkg ignores them.
    pub fn parse(input: &str) -> Result<Version, ParseError> {
        let (version, warning) = parse_tiered(input)?;
        match warning {
            Some(warning) => Err(warning),
            None => Ok(version),
        }
    }

    /// Parses `input` accepting what dpkg only warns about, such as `a-0` or
    /// `6.0-4.el6.x86_64`: the versions `dpkg --compare-versions` still orders.
    pub fn parse_relaxed(input: &str) -> Result<Version, ParseError> {
        parse_tiered(input).map(|(version, _warning)| version)
    }

    /// The epoch; `0` when the version has none.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version: what lies between the epoch and the last hyphen.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The Debian revision, after the last hyphen; empty when there is none
    /// (dpkg orders an absent revision like an empty one, and both like `0`).
    pub fn revision(&self) -> &str {
        &self.revision
    }
}

/// Parses, returning the first warning-level problem beside the version so the two
/// public entry points can decide what to do with it.
fn parse_tiered(input: &str) -> Result<(Version, Option<ParseError>), ParseError> {
    // Only blanks (space, tab) delimit: dpkg reads any other control character as
    // part of the version, and merely warns about it.
    let is_blank = |c: char| c == ' ' || c == '\t';
    let trimmed = input.trim_start_matches(is_blank);
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let end = trimmed.find(is_blank).unwrap_or(trimmed.len());
    let (token, tail) = trimmed.split_at(end);
    if !tail.chars().all(is_blank) {
        return Err(ParseError::EmbeddedSpace);
    }
    if let Some(bad) = token.chars().find(|&c| !c.is_ascii() || c == '\0') {
        return Err(ParseError::UnsupportedChar(bad));
    }

    let (epoch, rest) = match token.split_once(':') {
        Some((epoch, rest)) => {
            let epoch = parse_epoch(epoch)?;
            if rest.is_empty() {
                return Err(ParseError::NothingAfterColon);
            }
            (epoch, rest)
        }
        None => (0, token),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err(ParseError::EmptyRevision),
        Some((upstream, revision)) => (upstream, revision),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err(ParseError::EmptyUpstream);
    }

    let warning = upstream_warning(upstream).or_else(|| {
        revision
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~')))
            .map(ParseError::InvalidRevisionChar)
    });
    let version = Version {
        epoch,
        upstream: upstream.to_owned(),
        revision: revision.to_owned(),
    };
    Ok((version, warning))
}

/// Reads the epoch the way dpkg does (C `strtol`, so an optional sign is allowed),
/// then applies dpkg's range checks.
fn parse_epoch(text: &str) -> Result<u32, ParseError> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (number, after) = split_run(digits.as_bytes(), |b| b.is_ascii_digit());
    if number.is_empty() {
        return Err(ParseError::EmptyEpoch);
    }
    if !after.is_empty() {
        return Err(ParseError::EpochNotNumber);
    }
    let is_zero = number.iter().all(|&d| d == b'0');
    if negative && !is_zero {
        return Err(ParseError::NegativeEpoch);
    }
    if cmp_decimal(number, MAX_EPOCH.to_string().as_bytes()) == Ordering::Greater {
        return Err(ParseError::EpochTooBig);
    }
    // At most ten significant digits remain, all ASCII digits, so this cannot fail.
    digits.parse::<u32>().map_err(|_| ParseError::EpochTooBig)
}

fn upstream_warning(upstream: &str) -> Option<ParseError> {
    let mut chars = upstream.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return Some(ParseError::UpstreamNotDigit);
    }
    chars
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '~' | ':')))
        .map(ParseError::InvalidUpstreamChar)
}

/// Orders two version strings as `dpkg --compare-versions` does; `None` when dpkg
/// would refuse either of them (see [`Version::parse_relaxed`]).
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let a = Version::parse_relaxed(a).ok()?;
    let b = Version::parse_relaxed(b).ok()?;
    Some(a.cmp(&b))
}

/// Orders two upstream versions or two revisions with dpkg's algorithm
/// (`verrevcmp`), without splitting off an epoch or a revision first.
pub fn compare_fragment(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let (a_text, a_rest) = split_run(a, |c| !c.is_ascii_digit());
        let (b_text, b_rest) = split_run(b, |c| !c.is_ascii_digit());
        for i in 0..a_text.len().max(b_text.len()) {
            let ord = weight(a_text.get(i).copied()).cmp(&weight(b_text.get(i).copied()));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let (a_number, a_rest) = split_run(a_rest, |c| c.is_ascii_digit());
        let (b_number, b_rest) = split_run(b_rest, |c| c.is_ascii_digit());
        let ord = cmp_decimal(a_number, b_number);
        if ord != Ordering::Equal {
            return ord;
        }
        a = a_rest;
        b = b_rest;
    }
    Ordering::Equal
}

/// dpkg's weight of one character of a non-digit run; `None` is the end of the run.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_fragment(&self.upstream, &other.upstream))
            .then_with(|| compare_fragment(&self.revision, &other.revision))
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

/// Writes the version as dpkg prints it: the epoch only when it is not zero.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
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
    fn orders_like_dpkg() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0", "1.00", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0", "0:1.0", Equal),
            ("1..0", "1.0", Greater),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0a", "1.0.", Less),
            ("1.0+", "1.0.", Less),
            ("1.0-1~bpo1", "1.0-1", Less),
            ("1.2.3-1ubuntu1", "1.2.3-1", Greater),
            ("2.30-1+deb12u1", "2.30-1", Greater),
            ("1.0.0-1", "1.0-1", Greater),
            ("10", "9", Greater),
            ("1.18446744073709551616", "1.18446744073709551615", Greater),
            ("1a", "1000a", Less),
        ];
        for &(a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn tilde_sorts_before_the_end_and_the_end_before_letters() {
        let sorted = [
            "1.0~~", "1.0~~a", "1.0~", "1.0~a", "1.0", "1.0a", "1.0+", "1.0.1",
        ];
        for pair in sorted.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Less, "{pair:?}");
        }
        let mut versions = sorted.map(|v| Version::parse(v).expect(v));
        versions.reverse();
        versions.sort();
        let shown: Vec<String> = versions.iter().map(ToString::to_string).collect();
        assert_eq!(shown, sorted);
    }

    #[test]
    fn order_is_transitive_on_a_sample() {
        let sample = [
            "0", "0:0", "1~", "1", "1-0", "1-1", "1.0~rc1", "1.0", "1.0a", "1.0+b1", "1.0.1",
            "1:0", "1:0~", "2:0-1",
        ];
        for a in sample {
            for b in sample {
                for c in sample {
                    if cmp(a, b) != Greater && cmp(b, c) != Greater {
                        assert_ne!(cmp(a, c), Greater, "{a} <= {b} <= {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn splits_epoch_upstream_revision() {
        let cases: &[(&str, u32, &str, &str)] = &[
            ("1.0", 0, "1.0", ""),
            ("0:1.0", 0, "1.0", ""),
            ("3:1.0-1", 3, "1.0", "1"),
            ("1.0-2-3", 0, "1.0-2", "3"),
            ("1:2:3-4", 1, "2:3", "4"),
            ("  \t1.0-1 \t", 0, "1.0", "1"),
            ("+5:1", 5, "1", ""),
            ("-0:1", 0, "1", ""),
            ("2147483647:1", 2_147_483_647, "1", ""),
            ("0000000000000000000001:1", 1, "1", ""),
        ];
        for &(input, epoch, upstream, revision) in cases {
            let v = Version::parse(input).expect(input);
            assert_eq!(
                (v.epoch(), v.upstream(), v.revision()),
                (epoch, upstream, revision)
            );
        }
    }

    #[test]
    fn refuses_what_dpkg_refuses() {
        let cases: &[(&str, ParseError)] = &[
            ("", ParseError::Empty),
            (" \t", ParseError::Empty),
            ("1.0 1", ParseError::EmbeddedSpace),
            ("1.0-1 \n", ParseError::EmbeddedSpace),
            (":1.0", ParseError::EmptyEpoch),
            ("-:1.0", ParseError::EmptyEpoch),
            ("1a:1.0", ParseError::EpochNotNumber),
            ("1.0:1", ParseError::EpochNotNumber),
            ("-1:1.0", ParseError::NegativeEpoch),
            ("2147483648:1", ParseError::EpochTooBig),
            ("1:", ParseError::NothingAfterColon),
            ("1.0-", ParseError::EmptyRevision),
            ("-1", ParseError::EmptyUpstream),
            ("1.0\u{e9}", ParseError::UnsupportedChar('\u{e9}')),
            ("1.0\0", ParseError::UnsupportedChar('\0')),
        ];
        for (input, want) in cases {
            assert_eq!(
                Version::parse(input).as_ref().err(),
                Some(want),
                "{input:?}"
            );
            assert_eq!(Version::parse_relaxed(input).as_ref().err(), Some(want));
            assert!(!want.is_warning());
        }
    }

    #[test]
    fn warnings_fail_strict_parsing_only() {
        let cases: &[(&str, ParseError)] = &[
            ("a-0", ParseError::UpstreamNotDigit),
            ("1.0_1", ParseError::InvalidUpstreamChar('_')),
            ("0:1.0-1:2", ParseError::InvalidRevisionChar(':')),
            ("6.0-4.el6.x86_64", ParseError::InvalidRevisionChar('_')),
            ("\u{b}1.0", ParseError::UpstreamNotDigit),
            ("1.0\n", ParseError::InvalidUpstreamChar('\n')),
        ];
        for (input, want) in cases {
            assert_eq!(
                Version::parse(input).as_ref().err(),
                Some(want),
                "{input:?}"
            );
            assert!(want.is_warning());
            assert!(Version::parse_relaxed(input).is_ok(), "{input:?}");
        }
        assert_eq!(cmp("a-0", "b-0"), Less);
    }

    #[test]
    fn display_is_dpkg_canonical() {
        for (input, shown) in [("0:1.0-1", "1.0-1"), ("2:1.0", "2:1.0"), (" 1.0 ", "1.0")] {
            assert_eq!(Version::parse(input).expect(input).to_string(), shown);
        }
    }
}
