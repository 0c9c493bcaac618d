//! Package URLs (the package-url specification): `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`.
//!
//! Components are percent-encoded except for the unreserved characters of RFC 3986; a
//! version keeps its `:` (a Debian epoch) readable, as the specification allows.
//! Qualifiers are sorted by key and empty values are left out, which is the canonical form.

use std::fmt::Write;

/// Builds one package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl<'a> {
    pub kind: &'a str,
    /// Namespace segments, each encoded on its own (a Go module path keeps its `/`).
    pub namespace: Vec<&'a str>,
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub qualifiers: Vec<(&'a str, String)>,
}

impl<'a> Purl<'a> {
    pub fn new(kind: &'a str, name: &'a str) -> Purl<'a> {
        Purl {
            kind,
            namespace: Vec::new(),
            name,
            version: None,
            qualifiers: Vec::new(),
        }
    }

    pub fn namespace(mut self, namespace: &'a str) -> Purl<'a> {
        self.namespace = namespace.split('/').filter(|s| !s.is_empty()).collect();
        self
    }

    pub fn version(mut self, version: &'a str) -> Purl<'a> {
        self.version = Some(version).filter(|v| !v.is_empty());
        self
    }

    pub fn qualifier(mut self, key: &'a str, value: Option<String>) -> Purl<'a> {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.qualifiers.push((key, value));
        }
        self
    }
}

impl std::fmt::Display for Purl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::with_capacity(64);
        out.push_str("pkg:");
        out.push_str(self.kind);
        out.push('/');
        for segment in &self.namespace {
            encode_into(&mut out, segment, false);
            out.push('/');
        }
        encode_into(&mut out, self.name, false);
        if let Some(version) = self.version {
            out.push('@');
            encode_into(&mut out, version, true);
        }
        let mut qualifiers: Vec<&(&str, String)> = self.qualifiers.iter().collect();
        qualifiers.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (key, value)) in qualifiers.into_iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(key);
            out.push('=');
            encode_into(&mut out, value, false);
        }
        f.write_str(&out)
    }
}

fn encode_into(out: &mut String, text: &str, keep_colon: bool) {
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_colon && byte == b':');
        if keep {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// PEP 503 normalisation of a Python project name: lower case, runs of `-`, `_` and `.`
/// become one `-`.
pub fn normalize_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_canonical_purls() {
        let cases: Vec<(Purl, &str)> = vec![
            (
                Purl::new("deb", "attr")
                    .namespace("debian")
                    .version("1:2.5.1-4")
                    .qualifier("distro", Some("debian-12".into()))
                    .qualifier("arch", Some("amd64".into())),
                "pkg:deb/debian/attr@1:2.5.1-4?arch=amd64&distro=debian-12",
            ),
            (
                Purl::new("deb", "util-linux-extra")
                    .namespace("debian")
                    .version("2.38.1-5+b1"),
                "pkg:deb/debian/util-linux-extra@2.38.1-5%2Bb1",
            ),
            (
                Purl::new("npm", "core")
                    .namespace("@babel")
                    .version("7.0.0"),
                "pkg:npm/%40babel/core@7.0.0",
            ),
            (
                Purl::new("golang", "net")
                    .namespace("golang.org/x")
                    .version("v0.17.0"),
                "pkg:golang/golang.org/x/net@v0.17.0",
            ),
            (
                Purl::new("maven", "guava")
                    .namespace("com.google.guava")
                    .version("31.1-jre"),
                "pkg:maven/com.google.guava/guava@31.1-jre",
            ),
            (
                Purl::new("rpm", "curl")
                    .namespace("redhat")
                    .version("7.76.0-6.cm2")
                    .qualifier("epoch", None)
                    .qualifier("arch", Some("x86_64".into())),
                "pkg:rpm/redhat/curl@7.76.0-6.cm2?arch=x86_64",
            ),
            (Purl::new("cargo", "a b").version(""), "pkg:cargo/a%20b"),
        ];
        for (purl, want) in cases {
            assert_eq!(purl.to_string(), want);
        }
    }

    #[test]
    fn normalizes_python_names() {
        for (name, want) in [
            ("Django", "django"),
            ("zope.interface", "zope-interface"),
            ("typing_extensions", "typing-extensions"),
            ("A__b-.C", "a-b-c"),
        ] {
            assert_eq!(normalize_python_name(name), want);
        }
    }
}
