//! Python package versions (PEP 440).
//!
//! `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, read with PEP 440's permitted
//! spellings: any case, a leading `v`, surrounding whitespace, `-`, `_` or `.`
//! (or nothing) around the pre-, post- and dev-release markers, `alpha`/`beta`/
//! `c`/`pre`/`preview` for `a`/`b`/`rc`, `rev`/`r` for `post`, an implicit number
//! `0` after a bare marker, and `1.0-1` for `1.0.post1`. [`Version`]'s `Display`
//! writes the normalised form.
//!
//! Ordering: epoch, then the release with trailing zeros ignored, then pre-release
//! (a dev release of a final sorts before its pre-releases), post-release, dev
//! release, and last the local label, whose numeric parts beat alphanumeric ones.
//!
//! [`Version::parse`] refuses strings that are not PEP 440 versions, as current
//! `packaging` and pip do. [`compare`] still orders them: they are the "legacy"
//! versions that setuptools accepted before PEP 440, and OSV-Scanner, whose
//! ordering portcullis follows to match OSV advisories, orders them the legacy way
//! and below every PEP 440 version (the `legacy` submodule describes the order).

mod legacy;

use std::cmp::Ordering;
use std::fmt;

use super::{cmp_decimal, strip_leading_zeros};

/// A PEP 440 version, kept in normalised form.
///
/// Equality is PEP 440's: `1.0` equals `1.0.0` and `1.0.post0` does not.
#[derive(Debug, Clone)]
pub struct Version {
    epoch: String,
    release: Vec<String>,
    pre: Option<(PreRelease, String)>,
    post: Option<String>,
    dev: Option<String>,
    local: Vec<LocalPart>,
}

/// Why a string is not a PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("version is empty")]
    Empty,
    #[error("version has no release number")]
    MissingRelease,
    #[error("malformed local version label")]
    BadLocal,
    #[error("unexpected text {0:?} after the version")]
    Trailing(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PreRelease {
    Alpha,
    Beta,
    Rc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalPart {
    Number(String),
    Text(String),
}

/// Markers in the order they must be tried: a longer spelling before its prefix.
const PRE_MARKERS: &[(&str, PreRelease)] = &[
    ("alpha", PreRelease::Alpha),
    ("beta", PreRelease::Beta),
    ("preview", PreRelease::Rc),
    ("pre", PreRelease::Rc),
    ("rc", PreRelease::Rc),
    ("a", PreRelease::Alpha),
    ("b", PreRelease::Beta),
    ("c", PreRelease::Rc),
];
const POST_MARKERS: &[&str] = &["post", "rev", "r"];

impl Version {
    pub fn parse(input: &str) -> Result<Version, ParseError> {
        let lowered = input.trim().to_ascii_lowercase();
        if lowered.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut cursor = Cursor {
            text: lowered.as_bytes(),
            pos: 0,
        };
        cursor.eat(b"v");

        let epoch = cursor
            .attempt(|c| {
                let digits = c.number()?;
                c.eat(b"!").then_some(digits)
            })
            .unwrap_or_else(|| "0".to_owned());

        let mut release = vec![cursor.number().ok_or(ParseError::MissingRelease)?];
        while let Some(part) = cursor.attempt(|c| {
            if !c.eat(b".") {
                return None;
            }
            c.number()
        }) {
            release.push(part);
        }

        let pre = cursor.attempt(|c| {
            c.separator();
            let kind = PRE_MARKERS
                .iter()
                .find(|(marker, _)| c.eat(marker.as_bytes()))
                .map(|&(_, kind)| kind)?;
            Some((kind, c.marker_number()))
        });
        let post = cursor
            .attempt(|c| {
                c.eat(b"-");
                c.number()
            })
            .or_else(|| {
                cursor.attempt(|c| {
                    c.separator();
                    POST_MARKERS.iter().find(|m| c.eat(m.as_bytes()))?;
                    Some(c.marker_number())
                })
            });
        let dev = cursor.attempt(|c| {
            c.separator();
            c.eat(b"dev").then(|| c.marker_number())
        });
        let local = if cursor.eat(b"+") {
            cursor.local()?
        } else {
            Vec::new()
        };

        let rest = &lowered[cursor.pos..];
        if !rest.is_empty() {
            return Err(ParseError::Trailing(rest.to_owned()));
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }
}

struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, literal: &[u8]) -> bool {
        let found = self.text[self.pos..].starts_with(literal);
        if found {
            self.pos += literal.len();
        }
        found
    }

    /// Runs `step`, rewinding if it gives nothing: PEP 440's optional parts.
    fn attempt<T>(&mut self, step: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.pos;
        let found = step(self);
        if found.is_none() {
            self.pos = start;
        }
        found
    }

    fn separator(&mut self) {
        if matches!(self.text.get(self.pos), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
        }
    }

    /// A run of digits, normalised (`007` is `7`).
    fn number(&mut self) -> Option<String> {
        let rest = &self.text[self.pos..];
        let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some(normalise(&rest[..len]))
    }

    /// The number after a pre/post/dev marker: PEP 440 allows a separator before
    /// it, and both the separator and the number may be left out (then it is `0`),
    /// so `1.0a.` reads as `1.0a0`.
    fn marker_number(&mut self) -> String {
        self.separator();
        self.number().unwrap_or_else(|| "0".to_owned())
    }

    fn local(&mut self) -> Result<Vec<LocalPart>, ParseError> {
        let mut parts = Vec::new();
        loop {
            let rest = &self.text[self.pos..];
            let len = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if len == 0 {
                return Err(ParseError::BadLocal);
            }
            let part = String::from_utf8_lossy(&rest[..len]).into_owned();
            parts.push(if part.bytes().all(|b| b.is_ascii_digit()) {
                LocalPart::Number(part)
            } else {
                LocalPart::Text(part)
            });
            self.pos += len;
            if !matches!(self.text.get(self.pos), Some(b'-' | b'_' | b'.')) {
                return Ok(parts);
            }
            self.pos += 1;
        }
    }
}

fn normalise(digits: &[u8]) -> String {
    match strip_leading_zeros(digits) {
        [] => "0".to_owned(),
        significant => String::from_utf8_lossy(significant).into_owned(),
    }
}

/// Orders two PyPI versions: by PEP 440 when both are PEP 440 versions, and
/// otherwise with a string that is not one read as a setuptools legacy version,
/// below every PEP 440 version. Always `Some`: every pair of strings is ordered.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let ord = match (Version::parse(a), Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => legacy::compare(a, b),
    };
    Some(ord)
}

fn cmp_num(a: &str, b: &str) -> Ordering {
    cmp_decimal(a.as_bytes(), b.as_bytes())
}

impl Version {
    fn cmp_release(&self, other: &Version) -> Ordering {
        let len = self.release.len().max(other.release.len());
        (0..len)
            .map(|i| {
                let a = self.release.get(i).map_or("0", String::as_str);
                let b = other.release.get(i).map_or("0", String::as_str);
                cmp_num(a, b)
            })
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Where the pre-release part places the version: a dev release of a final
    /// (`1.0.dev1`) below every pre-release, a final above them.
    fn cmp_pre(&self, other: &Version) -> Ordering {
        let rank = |v: &Version| match (&v.pre, &v.post, &v.dev) {
            (None, None, Some(_)) => 0,
            (Some(_), _, _) => 1,
            (None, _, _) => 2,
        };
        rank(self)
            .cmp(&rank(other))
            .then_with(|| match (&self.pre, &other.pre) {
                (Some((a_kind, a_num)), Some((b_kind, b_num))) => {
                    a_kind.cmp(b_kind).then_with(|| cmp_num(a_num, b_num))
                }
                _ => Ordering::Equal,
            })
    }

    fn cmp_post(&self, other: &Version) -> Ordering {
        match (&self.post, &other.post) {
            (Some(a), Some(b)) => cmp_num(a, b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        }
    }

    /// No dev part is higher than any.
    fn cmp_dev(&self, other: &Version) -> Ordering {
        match (&self.dev, &other.dev) {
            (Some(a), Some(b)) => cmp_num(a, b),
            (a, b) => a.is_none().cmp(&b.is_none()),
        }
    }

    fn cmp_local(&self, other: &Version) -> Ordering {
        for (a, b) in self.local.iter().zip(&other.local) {
            let ord = match (a, b) {
                (LocalPart::Number(a), LocalPart::Number(b)) => cmp_num(a, b),
                (LocalPart::Text(a), LocalPart::Text(b)) => a.cmp(b),
                (LocalPart::Number(_), LocalPart::Text(_)) => Ordering::Greater,
                (LocalPart::Text(_), LocalPart::Number(_)) => Ordering::Less,
            };
            if ord.is_ne() {
                return ord;
            }
        }
        self.local.len().cmp(&other.local.len())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_num(&self.epoch, &other.epoch)
            .then_with(|| self.cmp_release(other))
            .then_with(|| self.cmp_pre(other))
            .then_with(|| self.cmp_post(other))
            .then_with(|| self.cmp_dev(other))
            .then_with(|| self.cmp_local(other))
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

/// The normalised form: `1!2.0rc1.post2.dev3+ubuntu.1`.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != "0" {
            write!(f, "{}!", self.epoch)?;
        }
        f.write_str(&self.release.join("."))?;
        if let Some((kind, number)) = &self.pre {
            let marker = match kind {
                PreRelease::Alpha => "a",
                PreRelease::Beta => "b",
                PreRelease::Rc => "rc",
            };
            write!(f, "{marker}{number}")?;
        }
        if let Some(post) = &self.post {
            write!(f, ".post{post}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, ".dev{dev}")?;
        }
        for (i, part) in self.local.iter().enumerate() {
            f.write_str(if i == 0 { "+" } else { "." })?;
            match part {
                LocalPart::Number(text) | LocalPart::Text(text) => f.write_str(text)?,
            }
        }
        Ok(())
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
    fn normalises_spellings() {
        let cases: &[(&str, &str)] = &[
            ("1.0", "1.0"),
            ("v1.0", "1.0"),
            ("  1.0\n", "1.0"),
            ("01.002", "1.2"),
            ("1.0a1", "1.0a1"),
            ("1.0.ALPHA.1", "1.0a1"),
            ("1.0-beta_2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre", "1.0rc0"),
            ("1.0preview3", "1.0rc3"),
            ("1.0.post1", "1.0.post1"),
            ("1.0-post-1", "1.0.post1"),
            ("1.0-1", "1.0.post1"),
            ("1.0rev", "1.0.post0"),
            ("1.0.r2", "1.0.post2"),
            ("1.0dev", "1.0.dev0"),
            ("1.0-dev-3", "1.0.dev3"),
            ("1.0a1-1.dev2", "1.0a1.post1.dev2"),
            ("1.0a.", "1.0a0"),
            ("1.0a.post.dev.", "1.0a0.post0.dev0"),
            ("0!1.0", "1.0"),
            ("2!1.0", "2!1.0"),
            ("1.0+Ubuntu-1_a", "1.0+ubuntu.1.a"),
        ];
        for &(input, normal) in cases {
            let version = Version::parse(input).expect(input);
            assert_eq!(version.to_string(), normal, "{input:?}");
        }
    }

    #[test]
    fn refuses_non_pep440_strings() {
        let cases: &[(&str, ParseError)] = &[
            ("", ParseError::Empty),
            ("   ", ParseError::Empty),
            ("v", ParseError::MissingRelease),
            ("1..0", ParseError::Trailing("..0".into())),
            ("1.0+", ParseError::BadLocal),
            ("1.0+a..b", ParseError::BadLocal),
            ("1.0-beta-x", ParseError::Trailing("x".into())),
            ("0.1-bulbasaur", ParseError::Trailing("ulbasaur".into())),
            ("1.0.", ParseError::Trailing(".".into())),
            ("1.0 1", ParseError::Trailing(" 1".into())),
            ("1.0\u{e9}", ParseError::Trailing("\u{e9}".into())),
        ];
        for (input, want) in cases {
            assert_eq!(
                Version::parse(input).err().as_ref(),
                Some(want),
                "{input:?}"
            );
        }
    }

    #[test]
    fn orders_per_pep440() {
        let sorted = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn equal_spellings_compare_equal() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0", "1"),
            ("1.0a", "1.0alpha0"),
            ("1.0-1", "1.0.post1"),
        ] {
            assert_eq!(cmp(a, b), Equal, "{a} vs {b}");
        }
        assert_eq!(cmp("0!1.0", "1.0"), Equal);
        assert_eq!(cmp("1.0", "1.0.post0"), Less);
        assert_eq!(cmp("1.0+0", "1.0+00"), Equal);
        assert_eq!(cmp("1.0+a", "1.0+a.0"), Less);
        assert_eq!(cmp("1.0+b", "1.0+a1"), Greater);
    }

    #[test]
    fn legacy_versions_sort_below_every_pep440_version() {
        let legacy = [
            "0.1-bulbasaur",
            "9999.0-final",
            "2004d-x",
            "-class.-jw.util.version.version-dev",
            "1.0 1",
            "",
        ];
        let pep440 = ["0.0.dev0", "0", "1.0", "9999!1.0", "1.0+local"];
        for a in legacy {
            assert!(Version::parse(a).is_err(), "{a:?} should not be PEP 440");
            for b in pep440 {
                assert_eq!(cmp(a, b), Less, "{a:?} vs {b:?}");
                assert_eq!(cmp(b, a), Greater, "{b:?} vs {a:?}");
            }
        }
    }

    #[test]
    fn legacy_versions_order_among_themselves() {
        let sorted = [
            "",
            "0.9-doduo",
            "0.9-eevee",
            "1.0-dev-x",
            "1.0-a1-x",
            "1.0-x",
            "1.0-1-x",
            "1.0.1-x",
            "2004d-x",
        ];
        for (i, a) in sorted.iter().enumerate() {
            assert!(Version::parse(a).is_err(), "{a:?} should not be PEP 440");
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn compare_orders_arbitrary_strings_totally() {
        let sample = order_checks::arbitrary_strings(0x5eed_9e94, 120, b"0123456789.-_!+abcdeprv");
        order_checks::assert_total_order(&sample, compare);
    }
}
