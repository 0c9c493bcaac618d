//! Values policies are written in: image-path globs, sizes and limits.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A list of glob patterns over image paths, compiled once.
///
/// Patterns match whole paths; `*` and `?` stay within one path component and `**` crosses
/// them. A leading `/` is optional on both sides: `/usr/bin/*` and `usr/bin/*` are the same.
#[derive(Clone, Default)]
pub struct GlobList {
    patterns: Vec<String>,
    matchers: Vec<GlobMatcher>,
}

impl GlobList {
    /// Compiles `patterns`; the error names the first invalid one.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<GlobList, String> {
        let mut list = GlobList::default();
        for p in patterns {
            let p = p.as_ref();
            list.matchers.push(compile_glob(p)?);
            list.patterns.push(p.to_string());
        }
        Ok(list)
    }

    /// Built-in patterns (constants, covered by the unit tests).
    pub fn of(patterns: &[&str]) -> GlobList {
        GlobList::new(patterns).expect("built-in globs compile")
    }

    /// Whether any pattern matches `path` (with or without a leading `/`).
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/');
        self.matchers.iter().any(|m| m.is_match(path))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Compiles one image-path glob (see [`GlobList`]).
pub fn compile_glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern.trim_start_matches('/'))
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid glob {pattern:?}: {}", e.kind()))
}

impl fmt::Debug for GlobList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.patterns).finish()
    }
}

impl PartialEq for GlobList {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Serialize for GlobList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

impl<'de> Deserialize<'de> for GlobList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let patterns = Vec::<String>::deserialize(d)?;
        GlobList::new(&patterns).map_err(serde::de::Error::custom)
    }
}

/// A size in bytes; a policy writes an integer or a string with a binary unit (`512M`,
/// `10GiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 4] = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];
        for (unit, shift) in UNITS {
            if self.0 >= 1 << shift && self.0.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => u64::try_from(n)
                .map(Size)
                .map_err(|_| serde::de::Error::custom("expected a size, found a negative number")),
            NumberOrText::Text(t) => parse_size(&t).map(Size).map_err(serde::de::Error::custom),
        }
    }
}

/// A size limit: [`Size`], or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    Unlimited,
    At(Size),
}

impl SizeLimit {
    /// Whether `bytes` goes over the limit.
    pub fn exceeded_by(self, bytes: u64) -> bool {
        matches!(self, SizeLimit::At(max) if bytes > max.0)
    }
}

impl Serialize for SizeLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SizeLimit::Unlimited => s.serialize_str(UNLIMITED),
            SizeLimit::At(size) => size.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SizeLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Text(t) if t.eq_ignore_ascii_case(UNLIMITED) => Ok(SizeLimit::Unlimited),
            NumberOrText::Text(t) => parse_size(&t)
                .map(|n| SizeLimit::At(Size(n)))
                .map_err(|e| serde::de::Error::custom(format!("{e}, or \"unlimited\""))),
            NumberOrText::Number(n) => u64::try_from(n)
                .map(|n| SizeLimit::At(Size(n)))
                .map_err(|_| serde::de::Error::custom("expected a size or \"unlimited\"")),
        }
    }
}

/// A count limit: a non-negative integer, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountLimit {
    Unlimited,
    At(u64),
}

impl CountLimit {
    pub fn exceeded_by(self, count: u64) -> bool {
        matches!(self, CountLimit::At(max) if count > max)
    }
}

impl Serialize for CountLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CountLimit::Unlimited => s.serialize_str(UNLIMITED),
            CountLimit::At(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for CountLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expected = "expected a non-negative integer or \"unlimited\"";
        match NumberOrText::deserialize(d)? {
            NumberOrText::Text(t) if t.eq_ignore_ascii_case(UNLIMITED) => Ok(CountLimit::Unlimited),
            NumberOrText::Text(t) => {
                Err(serde::de::Error::custom(format!("{expected}, found {t:?}")))
            }
            NumberOrText::Number(n) => u64::try_from(n)
                .map(CountLimit::At)
                .map_err(|_| serde::de::Error::custom(format!("{expected}, found {n}"))),
        }
    }
}

const UNLIMITED: &str = "unlimited";

/// The two spellings of a size or limit.
enum NumberOrText {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumberOrText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = NumberOrText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E>(self, v: i64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumberOrText, E> {
                i64::try_from(v)
                    .map(NumberOrText::Number)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_str<E>(self, v: &str) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Parses sizes like `512`, `64KiB`, `10M`, `2G`, `1TiB` (binary units).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512M, 10G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}
