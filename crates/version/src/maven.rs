//! Maven artifact versions, ordered as Maven's `ComparableVersion` orders them.
//!
//! Maven's "Version Order Specification" (POM reference): a version is cut into
//! tokens at `.`, at `-` and wherever digits and non-digits meet; an empty token is
//! `0`. A `-` or a digit/non-digit transition opens a nested list that holds the
//! rest of the version, so `1.0-rc-1` reads `[1, 0, [rc, [1]]]`. Each list then
//! loses its trailing "null" items (`0`, an empty or `ga`/`final`/`release`
//! qualifier, an empty list), so `1.0.0`, `1.ga` and `1-0` are all `1`.
//!
//! Lists compare item by item, the shorter padded with nulls. Numbers compare
//! numerically and beat lists, which beat qualifiers. Qualifiers order `alpha <
//! beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp`, then any
//! other qualifier, alphabetically; `a`, `b` and `m` directly followed by a digit
//! stand for `alpha`, `beta` and `milestone`. Case does not matter.
//!
//! Where the specification's prose and `ComparableVersion` disagree, this module
//! follows `ComparableVersion` (checked against Maven 3.8.7): the prose says
//! `1-ga-1 = 1-1`, but trimming `ga` leaves a nested list, `[1, [[1]]]`, which is
//! below `[1, [1]]`.
//!
//! Maven orders any string; only the empty one is refused here.

use std::cmp::Ordering;
use std::fmt;

use super::{cmp_decimal, strip_leading_zeros};

/// A Maven version. Equality is Maven's: `1.0` equals `1-ga` and `1.0.0`.
#[derive(Debug, Clone)]
pub struct Version {
    items: Vec<Item>,
}

/// Why a string is not a Maven version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("version is empty")]
    Empty,
}

#[derive(Debug, Clone)]
enum Item {
    /// Digits without leading zeros; empty for zero.
    Number(String),
    /// A lower-case qualifier after aliasing (`ga` is empty, `cr` is `rc`, ...).
    Qualifier(String),
    List(Vec<Item>),
}

/// Known qualifiers, lowest first; the empty one is the release itself.
const QUALIFIERS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

impl Item {
    fn number(digits: &str) -> Item {
        let significant = strip_leading_zeros(digits.as_bytes());
        Item::Number(String::from_utf8_lossy(significant).into_owned())
    }

    fn qualifier(text: &str, followed_by_digit: bool) -> Item {
        let name = match text {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            other => other,
        };
        Item::Qualifier(name.to_owned())
    }

    fn is_null(&self) -> bool {
        match self {
            Item::Number(digits) => digits.is_empty(),
            Item::Qualifier(name) => name.is_empty(),
            Item::List(items) => items.is_empty(),
        }
    }

    /// Orders `self` against the null item that pads a shorter list.
    fn cmp_null(&self) -> Ordering {
        match self {
            Item::Number(digits) if digits.is_empty() => Ordering::Equal,
            Item::Number(_) => Ordering::Greater,
            Item::Qualifier(name) => cmp_qualifiers(name, ""),
            // Every item counts, not only the first (Maven's MNG-6964).
            Item::List(items) => items
                .iter()
                .map(Item::cmp_null)
                .find(|ord| ord.is_ne())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Item::Number(a), Item::Number(b)) => cmp_decimal(a.as_bytes(), b.as_bytes()),
            (Item::Qualifier(a), Item::Qualifier(b)) => cmp_qualifiers(a, b),
            (Item::List(a), Item::List(b)) => cmp_lists(a, b),
            (Item::Number(_), _) | (Item::List(_), Item::Qualifier(_)) => Ordering::Greater,
            (_, Item::Number(_)) | (Item::Qualifier(_), Item::List(_)) => Ordering::Less,
        }
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Item {}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(x), None) => x.cmp_null(),
            (None, Some(y)) => y.cmp_null().reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord.is_ne() {
            return ord;
        }
    }
    Ordering::Equal
}

/// Known qualifiers by rank, then unknown ones alphabetically after all of them.
fn cmp_qualifiers(a: &str, b: &str) -> Ordering {
    let rank = |q: &str| QUALIFIERS.iter().position(|&known| known == q);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

impl Version {
    pub fn parse(input: &str) -> Result<Version, ParseError> {
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        let text = input.to_lowercase();
        // Each `-` or transition opens a list nested at the end of the current one,
        // and the version never returns to an outer list: a chain of segments.
        let mut segments: Vec<Vec<Item>> = vec![Vec::new()];
        let mut start = 0;
        let mut in_digits = false;
        for (i, c) in text.char_indices() {
            let token = &text[start..i];
            let Some(current) = segments.last_mut() else {
                break;
            };
            match c {
                '.' | '-' => {
                    current.push(if token.is_empty() {
                        Item::Number(String::new())
                    } else {
                        parse_token(token, in_digits)
                    });
                    start = i + 1;
                    if c == '-' {
                        segments.push(Vec::new());
                    }
                }
                _ => {
                    let digit = c.is_ascii_digit();
                    if digit != in_digits && !token.is_empty() {
                        if in_digits {
                            current.push(Item::number(token));
                        } else {
                            open_for_qualifier(&mut segments);
                            push(&mut segments, Item::qualifier(token, true));
                        }
                        start = i;
                        segments.push(Vec::new());
                    }
                    in_digits = digit;
                }
            }
        }
        let token = &text[start..];
        if !token.is_empty() {
            if !in_digits {
                open_for_qualifier(&mut segments);
            }
            push(&mut segments, parse_token(token, in_digits));
        }

        let mut nested: Option<Vec<Item>> = None;
        for mut segment in segments.into_iter().rev() {
            if let Some(child) = nested.take() {
                segment.push(Item::List(child));
            }
            trim_nulls(&mut segment);
            nested = Some(segment);
        }
        Ok(Version {
            items: nested.unwrap_or_default(),
        })
    }
}

/// A qualifier ended by a digit or by the end of the version starts a list of its
/// own unless it would be first in the current one: `1.0.RC2` and `1.foo` read
/// like `1.0-RC2` and `1-foo`. One ended by `.` or `-` does not (`1.foo-1` keeps
/// `foo` beside the `1`), as in Maven.
fn open_for_qualifier(segments: &mut Vec<Vec<Item>>) {
    if segments.last().is_some_and(|current| !current.is_empty()) {
        segments.push(Vec::new());
    }
}

fn push(segments: &mut [Vec<Item>], item: Item) {
    if let Some(current) = segments.last_mut() {
        current.push(item);
    }
}

fn parse_token(token: &str, digits: bool) -> Item {
    if digits {
        Item::number(token)
    } else {
        Item::qualifier(token, false)
    }
}

/// Drops null items from the end of a list, looking past non-null nested lists:
/// `1.0-foo` is `1-foo`.
fn trim_nulls(items: &mut Vec<Item>) {
    let mut i = items.len();
    while i > 0 {
        i -= 1;
        if items[i].is_null() {
            items.remove(i);
        } else if !matches!(items[i], Item::List(_)) {
            break;
        }
    }
}

/// Orders two Maven versions; `None` if either is empty.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(Version::parse(a).ok()?.cmp(&Version::parse(b).ok()?))
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
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

/// Maven's canonical form: `1.0-RC3` is `1-rc-3`, `1.0.0.GA` is `1`.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&canonical(&self.items))
    }
}

/// A separator is written only once something precedes it, so a leading empty
/// qualifier leaves no trace (`final.foo` is `foo`).
fn canonical(items: &[Item]) -> String {
    let mut text = String::new();
    for item in items {
        if !text.is_empty() {
            text.push(if matches!(item, Item::List(_)) {
                '-'
            } else {
                '.'
            });
        }
        match item {
            Item::Number(digits) if digits.is_empty() => text.push('0'),
            Item::Number(digits) => text.push_str(digits),
            Item::Qualifier(name) => text.push_str(name),
            Item::List(nested) => text.push_str(&canonical(nested)),
        }
    }
    text
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
    fn trims_nulls_into_canonical_form() {
        let cases: &[(&str, &str)] = &[
            ("1.0.0", "1"),
            ("1.ga", "1"),
            ("1.FINAL", "1"),
            ("1.0", "1"),
            ("1.", "1"),
            ("1-", "1"),
            ("1.0.0-foo.0.0", "1-foo"),
            ("1.0.0-0.0.0", "1"),
            ("1.0-RC3", "1-rc-3"),
            ("1.0-alpha1", "1-alpha-1"),
            ("1-a1", "1-alpha-1"),
            ("1-a.1", "1-a.1"),
            ("1-1.foo-bar1baz-.1", "1-1.foo-bar-1-baz-0.1"),
            ("1.0.1", "1.0.1"),
            ("007", "7"),
            ("final.foo", "foo"),
        ];
        for &(input, canonical) in cases {
            let version = Version::parse(input).expect(input);
            assert_eq!(version.to_string(), canonical, "{input:?}");
        }
    }

    #[test]
    fn orders_per_the_specification() {
        let sorted = [
            "1-alpha",
            "1-alpha-1",
            "1-a2",
            "1-beta",
            "1-milestone-1",
            "1-rc1",
            "1-cr2",
            "1-snapshot",
            "1",
            "1-sp",
            "1-sp.1",
            "1-abc",
            "1-foo",
            "1-1",
            "1.1",
            "1.1.1",
            "1.2",
            "1.10",
            "2",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn specification_examples() {
        let cases: &[(&str, &str, Ordering)] = &[
            ("1", "1.1", Less),
            ("1-foo2", "1-foo10", Less),
            ("1.foo", "1-foo", Equal),
            ("1-foo", "1-1", Less),
            ("1-1", "1.1", Less),
            ("1.ga", "1-ga", Equal),
            ("1-ga", "1-0", Equal),
            ("1-0", "1.0", Equal),
            ("1-sp", "1-ga", Greater),
            ("1-sp.1", "1-ga.1", Greater),
            ("1-sp-1", "1-ga-1", Less),
            ("1-ga-1", "1-1", Less),
            ("1-a1", "1-alpha-1", Equal),
            ("1.0.RC2", "1.0-RC3", Less),
            ("1.0-RC3", "1.0.1", Less),
            ("1.0-SNAPSHOT", "1.0", Less),
            ("1.0", "1.0.0.GA", Equal),
            ("2.0.0.Final", "2.0.0", Equal),
            ("1.2.3-jre", "1.2.3-android", Greater),
            ("x", "x0.cr", Greater),
        ];
        for &(a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
        assert_eq!(compare("", "1"), None);
    }
}
