//! Package URLs as VEX products name them, and when one names an installed package.
//!
//! `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH`: components are percent-decoded
//! before they compare. The type never depends on case; namespace and name do not for the
//! types whose specification says they are lower-cased (`deb`, `apk`, `npm`, `pypi` …), and
//! PyPI names compare as PEP 503 normalises them. A product without a version names every
//! version; a product's qualifiers (`arch=armv7`) must all be on the package, and the
//! package's other qualifiers (`distro=…`) do not matter.

use portcullis_inventory::purl::normalize_python_name;

/// Types whose namespace and name are case-insensitive, as the purl specification says.
const CASE_INSENSITIVE: &[&str] = &[
    "alpm",
    "apk",
    "bitbucket",
    "composer",
    "deb",
    "github",
    "gitlab",
    "golang",
    "hex",
    "npm",
    "pub",
    "pypi",
];

/// One package URL, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// Lower case.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// In the order written.
    pub qualifiers: Vec<(String, String)>,
    pub subpath: Option<String>,
}

impl Purl {
    /// Parses `text`; `None` when it is not a package URL.
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.trim().strip_prefix("pkg:")?;
        let rest = rest.trim_start_matches('/');
        let (rest, subpath) = match rest.split_once('#') {
            Some((r, s)) => (r, Some(decode(s.trim_matches('/')))),
            None => (rest, None),
        };
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, parse_qualifiers(q)),
            None => (rest, Vec::new()),
        };
        let (rest, version) = match rest.rsplit_once('@') {
            Some((r, v)) if !v.contains('/') => (r, Some(decode(v))),
            _ => (rest, None),
        };
        let (kind, path) = rest.split_once('/')?;
        let kind = kind.to_ascii_lowercase();
        let path = path.trim_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, name)) => (Some(decode(ns)), decode(name)),
            None => (None, decode(path)),
        };
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Purl {
            kind,
            namespace: namespace.filter(|n| !n.is_empty()),
            name,
            version: version.filter(|v| !v.is_empty()),
            qualifiers,
            subpath: subpath.filter(|s| !s.is_empty()),
        })
    }

    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this purl, as a VEX product, names the installed package `package`.
    pub fn matches(&self, package: &Purl) -> bool {
        if self.kind != package.kind {
            return false;
        }
        let insensitive = CASE_INSENSITIVE.contains(&self.kind.as_str());
        let same = |a: &str, b: &str| {
            if self.kind == "pypi" {
                normalize_python_name(a) == normalize_python_name(b)
            } else if insensitive {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let namespaces_agree = match (&self.namespace, &package.namespace) {
            (None, None) => true,
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        };
        namespaces_agree
            && same(&self.name, &package.name)
            && self
                .version
                .as_ref()
                .is_none_or(|v| package.version.as_ref() == Some(v))
            && self
                .qualifiers
                .iter()
                .all(|(k, v)| package.qualifier(k) == Some(v.as_str()))
            && self
                .subpath
                .as_ref()
                .is_none_or(|s| package.subpath.as_ref() == Some(s))
    }

    /// The purl without version, qualifiers and subpath: every version of the package.
    pub fn versionless(&self) -> String {
        let mut out = format!("pkg:{}/", self.kind);
        if let Some(ns) = &self.namespace {
            for segment in ns.split('/') {
                out.push_str(&encode(segment));
                out.push('/');
            }
        }
        out.push_str(&encode(&self.name));
        out
    }
}

fn parse_qualifiers(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect()
}

/// Percent-decoding; an invalid escape stays as written.
pub(super) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes all but the unreserved characters of RFC 3986.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
