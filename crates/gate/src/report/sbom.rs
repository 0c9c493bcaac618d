//! What the two SBOM formats ([`super::cyclonedx`], [`super::spdx`]) say about an image:
//! the image itself, its distribution and its packages, in a deterministic order, with
//! identifiers derived from the content so the same image always gives the same document.

use super::{ImageSummary, Tool};
use portcullis_inventory::os::OsRelease;
use portcullis_inventory::purl::Purl;
use portcullis_inventory::{Inventory, Package};
use sha2::{Digest, Sha256};

/// The inputs of one SBOM.
pub struct Sbom<'a> {
    pub image: &'a ImageSummary,
    pub os: Option<&'a OsRelease>,
    /// Sorted by package URL, then by the database or file that records the package.
    pub packages: Vec<&'a Package>,
    /// When the document was made, RFC 3339 in UTC.
    pub created: String,
    pub tool: Tool,
}

impl<'a> Sbom<'a> {
    pub fn new(image: &'a ImageSummary, inventory: &'a Inventory, created: String) -> Sbom<'a> {
        let mut packages: Vec<&Package> = inventory.packages.iter().collect();
        packages.sort_by(|a, b| {
            (&a.purl, &a.path, &a.name, &a.version).cmp(&(&b.purl, &b.path, &b.name, &b.version))
        });
        Sbom {
            image,
            os: inventory.os.as_ref(),
            packages,
            created,
            tool: Tool::current(),
        }
    }

    /// The image's name: its first tag, else the reference it was scanned as.
    pub fn image_name(&self) -> &str {
        self.image
            .names
            .first()
            .map(String::as_str)
            .unwrap_or(&self.image.reference)
    }

    /// The manifest digest, or the config digest (the image ID) for a classic `docker
    /// save` archive, which has no manifest.
    pub fn image_digest(&self) -> &str {
        self.image
            .manifest_digest
            .as_deref()
            .unwrap_or(&self.image.config_digest)
    }

    /// `pkg:oci/NAME@DIGEST?arch=...&repository_url=...&tag=...` when the image has a
    /// name (a tag), else `None`.
    pub fn image_purl(&self) -> Option<String> {
        let tagged = self.image.names.first()?;
        let (repository, tag) = split_tag(tagged);
        let name = repository.rsplit('/').next().unwrap_or(repository);
        let lower = name.to_ascii_lowercase();
        let purl = Purl::new("oci", &lower)
            .version(self.image_digest())
            .qualifier("arch", Some(self.image.platform.architecture.clone()))
            .qualifier(
                "repository_url",
                (repository != name).then(|| repository.to_string()),
            )
            .qualifier("tag", tag.map(str::to_string));
        Some(purl.to_string())
    }

    /// A UUID (version 8, RFC 9562) from the SHA-256 of what the document describes: the
    /// same image and packages give the same UUID.
    pub fn uuid(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            self.image.config_digest.as_str(),
            self.image.manifest_digest.as_deref().unwrap_or(""),
            self.image_name(),
            &self.created,
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        for p in &self.packages {
            hash.update(p.purl.as_bytes());
            hash.update([0]);
            hash.update(p.path.as_bytes());
            hash.update([0]);
        }
        let mut b: [u8; 16] = hash.finalize()[..16]
            .try_into()
            .expect("a SHA-256 digest is longer than 16 bytes");
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// `registry/name:tag` into the repository and the tag (a `:` after the last `/`).
fn split_tag(name: &str) -> (&str, Option<&str>) {
    let name = name.split('@').next().unwrap_or(name);
    match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
        _ => (name, None),
    }
}

/// A package's license as the SBOM formats can carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum License<'a> {
    /// One identifier of the SPDX license list.
    Id(&'a str),
    /// An SPDX expression over listed identifiers (`MIT OR Apache-2.0`).
    Expression(std::borrow::Cow<'a, str>),
    /// Anything else, kept as written.
    Other(&'a str),
}

/// Spellings package metadata uses for listed licences, and the SPDX identifier each
/// means: Debian's DEP-5 short names (`GPL-2+`, `Expat`), rpm's Fedora-style names
/// (`ASL 2.0`, `GPLv2+`) and the common prose forms (`Apache 2.0`). Compared ignoring case,
/// with runs of spaces, `_` and `v` before a digit made uniform by [`alias_key`]. Only
/// names whose meaning is fixed are here; anything else is kept as written.
const ALIASES: &[(&str, &str)] = &[
    ("apache 2.0", "Apache-2.0"),
    ("apache-2", "Apache-2.0"),
    ("apache 2", "Apache-2.0"),
    ("apache2", "Apache-2.0"),
    ("asl 2.0", "Apache-2.0"),
    ("apache license 2.0", "Apache-2.0"),
    ("apache license, version 2.0", "Apache-2.0"),
    ("apache software license 2.0", "Apache-2.0"),
    ("expat", "MIT"),
    ("mit license", "MIT"),
    ("gpl-1", "GPL-1.0-only"),
    ("gpl-1+", "GPL-1.0-or-later"),
    ("gpl-2", "GPL-2.0-only"),
    ("gpl-2.0", "GPL-2.0-only"),
    ("gpl-2+", "GPL-2.0-or-later"),
    ("gpl-2.0+", "GPL-2.0-or-later"),
    ("gpl-3", "GPL-3.0-only"),
    ("gpl-3.0", "GPL-3.0-only"),
    ("gpl-3+", "GPL-3.0-or-later"),
    ("gpl-3.0+", "GPL-3.0-or-later"),
    ("lgpl-2", "LGPL-2.0-only"),
    ("lgpl-2.0", "LGPL-2.0-only"),
    ("lgpl-2+", "LGPL-2.0-or-later"),
    ("lgpl-2.0+", "LGPL-2.0-or-later"),
    ("lgpl-2.1", "LGPL-2.1-only"),
    ("lgpl-2.1+", "LGPL-2.1-or-later"),
    ("lgpl-3", "LGPL-3.0-only"),
    ("lgpl-3.0", "LGPL-3.0-only"),
    ("lgpl-3+", "LGPL-3.0-or-later"),
    ("lgpl-3.0+", "LGPL-3.0-or-later"),
    ("agpl-3", "AGPL-3.0-only"),
    ("agpl-3+", "AGPL-3.0-or-later"),
    ("gfdl-1.3", "GFDL-1.3-only"),
    ("gfdl-1.3+", "GFDL-1.3-or-later"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2.0", "MPL-2.0"),
    ("artistic", "Artistic-1.0-Perl"),
    ("artistic-1", "Artistic-1.0"),
    ("artistic-2", "Artistic-2.0"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("zlib", "Zlib"),
    ("isc", "ISC"),
    ("psf-2", "PSF-2.0"),
    ("python-2", "Python-2.0"),
    ("cc0", "CC0-1.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("openssl", "OpenSSL"),
    ("boost", "BSL-1.0"),
    ("unicode-dfs-2016", "Unicode-DFS-2016"),
];

/// `GPLv2+` → `gpl-2+`, `Apache  2.0` → `apache 2.0`: lower case, spaces collapsed, the
/// `v` of a version and the space before it turned into a dash, and a trailing
/// `or later` / `or-later` into `+`.
fn alias_key(text: &str) -> String {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix(" or later")
        .or_else(|| lower.strip_suffix(" or-later"))
        .or_else(|| lower.strip_suffix("-or-later"))
        .map(|s| format!("{s}+"))
        .unwrap_or(lower);
    let collapsed = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        let prev_alpha = i > 0 && chars[i - 1].is_ascii_alphabetic();
        if c == 'v' && next_digit && prev_alpha {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// The SPDX identifier a single licence name means, when it is listed or a known alias.
fn one_spdx_id(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if let Some(id) = spdx_id(text) {
        return Some(id);
    }
    let key = alias_key(text);
    if let Some((_, id)) = ALIASES.iter().find(|(alias, _)| *alias == key) {
        return Some(id);
    }
    // `GPL-2.0` style names without `-only`: the SPDX list's deprecated form.
    spdx_id(&format!("{text}-only"))
}

/// `text` as an SPDX expression, when every licence it names maps to a listed identifier:
/// one name, or names joined by `and`, `or`, `&`, `|` or `,` (Debian writes `GPL-2+ or
/// Artistic`, package metadata `MIT/Apache-2.0` is left alone as ambiguous).
pub fn spdx_expression(text: &str) -> Option<String> {
    if let Some(id) = one_spdx_id(text) {
        return Some(id.to_string());
    }
    if is_expression(text.trim()) {
        return Some(text.trim().to_string());
    }
    let spaced = format!(" {} ", text.trim());
    let mut terms: Vec<(String, &str)> = Vec::new();
    let mut rest = spaced.as_str();
    let mut op = "";
    loop {
        let lower = rest.to_ascii_lowercase();
        let next = [" and ", " or ", " & ", " | ", ", "]
            .iter()
            .filter_map(|sep| lower.find(sep).map(|at| (at, *sep)))
            .min_by_key(|(at, _)| *at);
        let (term, sep) = match next {
            Some((at, sep)) => (&rest[..at], Some(sep)),
            None => (rest, None),
        };
        terms.push((one_spdx_id(term)?.to_string(), op));
        match sep {
            Some(sep) => {
                op = match sep.trim() {
                    "or" | "|" => "OR",
                    _ => "AND",
                };
                rest = &rest[rest.to_ascii_lowercase().find(sep).unwrap() + sep.len()..];
            }
            None => break,
        }
    }
    if terms.len() < 2 {
        return None;
    }
    let mut out = String::new();
    for (id, op) in terms {
        if !op.is_empty() {
            out.push(' ');
            out.push_str(op);
            out.push(' ');
        }
        out.push_str(&id);
    }
    Some(out)
}

/// Identifiers of the SPDX license list that package databases commonly name; anything
/// not on it is carried as written, never guessed at.
const SPDX_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "curl",
    "EPL-1.0",
    "EPL-2.0",
    "FTL",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "ICU",
    "IJG",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "OpenSSL",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Sleepycat",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "Vim",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "ZPL-2.1",
];

/// Exceptions that may follow `WITH`.
const SPDX_EXCEPTIONS: &[&str] = &[
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "GCC-exception-3.1",
    "LLVM-exception",
    "OpenSSL-exception",
];

/// The SPDX identifier `text` names, in the list's spelling.
pub fn spdx_id(text: &str) -> Option<&'static str> {
    SPDX_IDS
        .iter()
        .find(|id| id.eq_ignore_ascii_case(text))
        .copied()
}

/// Every SPDX identifier this module recognises (for the tests that check them against
/// the published license list).
pub fn known_spdx_ids() -> &'static [&'static str] {
    SPDX_IDS
}

/// Classifies a license string: a listed identifier, an expression over listed
/// identifiers, or something else.
pub fn classify_license(text: &str) -> License<'_> {
    let text = text.trim();
    if let Some(id) = SPDX_IDS.iter().find(|id| **id == text) {
        return License::Id(id);
    }
    if is_expression(text) {
        return License::Expression(std::borrow::Cow::Borrowed(text));
    }
    match spdx_expression(text) {
        Some(expr) => match SPDX_IDS.iter().find(|id| **id == expr) {
            Some(id) => License::Id(id),
            None => License::Expression(std::borrow::Cow::Owned(expr)),
        },
        None => License::Other(text),
    }
}

/// Whether `text` is an SPDX license expression (AND, OR, WITH, parentheses) over listed
/// identifiers, each optionally with `+`.
fn is_expression(text: &str) -> bool {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    if tokens.len() < 3 {
        return false;
    }
    let mut depth = 0i32;
    // Alternates between expecting an operand and an operator.
    let mut want_operand = true;
    let mut after_with = false;
    for token in tokens {
        match token {
            "(" if want_operand => depth += 1,
            ")" if !want_operand => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" if !want_operand => want_operand = true,
            "WITH" if !want_operand && !after_with => {
                want_operand = true;
                after_with = true;
                continue;
            }
            operand if want_operand => {
                let known = if after_with {
                    SPDX_EXCEPTIONS.contains(&operand)
                } else {
                    SPDX_IDS.contains(&operand.trim_end_matches('+'))
                };
                if !known {
                    return false;
                }
                want_operand = false;
            }
            _ => return false,
        }
        after_with = false;
    }
    depth == 0 && !want_operand
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_are_identifiers_expressions_or_kept_as_written() {
        let cases: &[(&str, License)] = &[
            ("MIT", License::Id("MIT")),
            (" Apache-2.0 ", License::Id("Apache-2.0")),
            (
                "MIT OR Apache-2.0",
                License::Expression("MIT OR Apache-2.0".into()),
            ),
            (
                "(MIT OR Apache-2.0) AND BSD-3-Clause",
                License::Expression("(MIT OR Apache-2.0) AND BSD-3-Clause".into()),
            ),
            (
                "GPL-2.0-or-later WITH GCC-exception-3.1",
                License::Expression("GPL-2.0-or-later WITH GCC-exception-3.1".into()),
            ),
            // Known spellings become SPDX identifiers and expressions.
            ("GPLv2+", License::Id("GPL-2.0-or-later")),
            ("Apache 2.0", License::Id("Apache-2.0")),
            ("ASL 2.0", License::Id("Apache-2.0")),
            ("MIT License", License::Id("MIT")),
            ("mit", License::Id("MIT")),
            ("Expat", License::Id("MIT")),
            ("GPL-2", License::Id("GPL-2.0-only")),
            ("LGPL-2.1+", License::Id("LGPL-2.1-or-later")),
            ("BSD-3-clause", License::Id("BSD-3-Clause")),
            (
                "GPL-2+ or Artistic",
                License::Expression("GPL-2.0-or-later OR Artistic-1.0-Perl".into()),
            ),
            (
                "GPL-2+ AND BSD-3-clause AND Zlib",
                License::Expression("GPL-2.0-or-later AND BSD-3-Clause AND Zlib".into()),
            ),
            // Anything with an unknown part is kept as written.
            (
                "GPL-2+ AND public-domain",
                License::Other("GPL-2+ AND public-domain"),
            ),
            ("MIT/Apache-2.0", License::Other("MIT/Apache-2.0")),
            ("MIT AND", License::Other("MIT AND")),
            ("(MIT OR ISC", License::Other("(MIT OR ISC")),
            ("MIT WITH MIT", License::Other("MIT WITH MIT")),
        ];
        for (text, want) in cases {
            assert_eq!(classify_license(text), *want, "{text}");
        }
        assert_eq!(spdx_id("apache-2.0"), Some("Apache-2.0"));
    }

    #[test]
    fn image_names_split_into_repository_and_tag() {
        assert_eq!(split_tag("alpine:3.10"), ("alpine", Some("3.10")));
        assert_eq!(
            split_tag("registry:5000/team/app:1.2"),
            ("registry:5000/team/app", Some("1.2"))
        );
        assert_eq!(
            split_tag("registry:5000/team/app"),
            ("registry:5000/team/app", None)
        );
        assert_eq!(split_tag("app@sha256:abc"), ("app", None));
    }
}
