//! Which distribution an image is: `os-release` first (the systemd format every current
//! distribution writes), then the older release files for images that have none.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The distribution, as its release files describe it. `id` is the `os-release` `ID`
/// (lower case, e.g. `debian`, `ubuntu`, `alpine`, `rhel`, `centos`, `amzn`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe_name: Option<String>,
    /// The file it was read from.
    pub source: String,
}

/// Release files in the order they are consulted. `os-release` wins; the others only
/// describe images too old (or too small) to have one.
pub const RELEASE_FILES: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/lsb-release",
    "etc/alpine-release",
    "etc/centos-release",
    "etc/fedora-release",
    "etc/redhat-release",
    "etc/system-release",
    "etc/debian_version",
];

impl OsRelease {
    /// The distribution family under the name vulnerability databases use (Trivy's
    /// family names): `rhel` is `redhat`, `ol` is `oracle`, `amzn` is `amazon` ...
    /// `None` for a distribution this table does not know.
    pub fn family(&self) -> Option<&'static str> {
        let id = self.id.as_str();
        Some(match id {
            "rhel" | "redhat" => "redhat",
            "centos" if self.name.as_deref().is_some_and(|n| n.contains("Stream")) => {
                "centos-stream"
            }
            "centos" => "centos",
            "almalinux" | "alma" => "alma",
            "ol" | "oracle" => "oracle",
            "amzn" | "amazon" => "amazon",
            "opensuse" | "opensuse-leap" => "opensuse-leap",
            "opensuse-tumbleweed" => "opensuse-tumbleweed",
            "sles" => "sles",
            "sle-micro" | "sle-micro-rancher" | "sl-micro" => "slem",
            "mariner" | "cbl-mariner" => "cbl-mariner",
            "azurelinux" => "azurelinux",
            "photon" => "photon",
            "fedora" => "fedora",
            "rocky" => "rocky",
            "alpine" => "alpine",
            "wolfi" => "wolfi",
            "chainguard" => "chainguard",
            "debian" => "debian",
            "ubuntu" => "ubuntu",
            "echo" => "echo",
            "minimos" => "minimos",
            "bottlerocket" => "bottlerocket",
            "coreos" => "coreos",
            "activestate" => "activestate",
            _ => return None,
        })
    }

    /// `ID-VERSION_ID` (or the ID alone), the `distro` qualifier of a package URL.
    pub fn distro_qualifier(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}-{}", self.id, v),
            None => self.id.clone(),
        }
    }

    /// Whether this distribution is `id` or says it is like it.
    pub fn is_like(&self, id: &str) -> bool {
        self.id == id || self.id_like.iter().any(|l| l == id)
    }
}

/// The distribution of an image, from whichever release files `read` finds (paths
/// normalised, without a leading `/`).
pub fn detect<'a>(read: impl Fn(&str) -> Option<&'a [u8]>) -> Option<OsRelease> {
    let text = |path: &str| read(path).map(String::from_utf8_lossy);
    let mut os = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| text(p).and_then(|t| parse_os_release(&t, p)))
        .or_else(|| text("etc/lsb-release").and_then(|t| parse_lsb_release(&t)))
        .or_else(|| text("etc/alpine-release").and_then(|t| parse_alpine_release(&t)))
        .or_else(|| {
            [
                "etc/centos-release",
                "etc/fedora-release",
                "etc/redhat-release",
                "etc/system-release",
            ]
            .iter()
            .find_map(|p| text(p).and_then(|t| parse_redhat_release(&t, p)))
        })
        .or_else(|| text("etc/debian_version").and_then(|t| parse_debian_version(&t)))?;
    if os.version_id.is_none() {
        // Debian testing and sid have no VERSION_ID; their debian_version says which.
        let fallback = match os.id.as_str() {
            "debian" => text("etc/debian_version").and_then(|t| parse_debian_version(&t)),
            "alpine" => text("etc/alpine-release").and_then(|t| parse_alpine_release(&t)),
            _ => None,
        };
        if let Some(fallback) = fallback {
            os.version_id = fallback.version_id;
        }
    }
    Some(os)
}

/// The `KEY=value` pairs of an `os-release` file, with shell quoting undone. Lines that are
/// not assignments are ignored, as systemd does.
pub fn parse_os_release_fields(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        fields.insert(key.to_string(), unquote(raw.trim()));
    }
    fields
}

/// Undoes the shell quoting `os-release` allows: one double- or single-quoted string, or a
/// bare word, with backslash escapes inside double quotes and bare words.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (None, c) if c.is_whitespace() => break,
            (_, c) => out.push(c),
        }
    }
    out
}

/// An `os-release` file; `None` when it names no `ID`.
pub fn parse_os_release(text: &str, source: &str) -> Option<OsRelease> {
    let fields = parse_os_release_fields(text);
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let id = get("ID")?.to_ascii_lowercase();
    Some(OsRelease {
        id,
        id_like: fields
            .get("ID_LIKE")
            .map(|l| l.split_whitespace().map(str::to_ascii_lowercase).collect())
            .unwrap_or_default(),
        name: get("NAME"),
        pretty_name: get("PRETTY_NAME"),
        version: get("VERSION"),
        version_id: get("VERSION_ID"),
        version_codename: get("VERSION_CODENAME"),
        cpe_name: get("CPE_NAME"),
        source: source.to_string(),
    })
}

/// `/etc/lsb-release` (Ubuntu before os-release): `DISTRIB_ID`, `DISTRIB_RELEASE`,
/// `DISTRIB_CODENAME`.
pub fn parse_lsb_release(text: &str) -> Option<OsRelease> {
    let fields = parse_os_release_fields(text);
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let id = get("DISTRIB_ID")?.to_ascii_lowercase();
    Some(OsRelease {
        id,
        version_id: Some(get("DISTRIB_RELEASE")?),
        version_codename: get("DISTRIB_CODENAME"),
        pretty_name: get("DISTRIB_DESCRIPTION"),
        source: "etc/lsb-release".into(),
        ..Default::default()
    })
}

/// `/etc/alpine-release`: the version alone.
pub fn parse_alpine_release(text: &str) -> Option<OsRelease> {
    let version = first_line(text)?;
    Some(OsRelease {
        id: "alpine".into(),
        name: Some("Alpine Linux".into()),
        version_id: Some(version),
        source: "etc/alpine-release".into(),
        ..Default::default()
    })
}

/// `/etc/debian_version`: `12.5`, or `trixie/sid` on testing.
pub fn parse_debian_version(text: &str) -> Option<OsRelease> {
    let version = first_line(text)?;
    Some(OsRelease {
        id: "debian".into(),
        name: Some("Debian GNU/Linux".into()),
        version_id: Some(version),
        source: "etc/debian_version".into(),
        ..Default::default()
    })
}

/// The Red Hat family's one-line release files: `NAME release VERSION (CODENAME)`.
pub fn parse_redhat_release(text: &str, source: &str) -> Option<OsRelease> {
    const NAMES: &[(&str, &str)] = &[
        ("CentOS Stream", "centos"),
        ("CentOS Linux", "centos"),
        ("CentOS", "centos"),
        ("Red Hat Enterprise Linux", "rhel"),
        ("Red Hat Linux", "rhel"),
        ("Fedora", "fedora"),
        ("AlmaLinux", "almalinux"),
        ("Rocky Linux", "rocky"),
        ("Oracle Linux Server", "ol"),
        ("Oracle Linux", "ol"),
        ("Amazon Linux AMI", "amzn"),
        ("Amazon Linux", "amzn"),
    ];
    let line = first_line(text)?;
    let (name, rest) = line.split_once(" release ")?;
    let id = NAMES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, id)| *id)?;
    let mut words = rest.split_whitespace();
    let version = words.next()?.to_string();
    let codename = rest
        .split_once('(')
        .and_then(|(_, c)| c.split_once(')'))
        .map(|(c, _)| c.trim().to_string())
        .filter(|c| !c.is_empty());
    Some(OsRelease {
        id: id.to_string(),
        name: Some(name.trim().to_string()),
        pretty_name: Some(line.clone()),
        version: Some(rest.trim().to_string()),
        version_id: Some(version),
        version_codename: codename,
        source: source.to_string(),
        ..Default::default()
    })
}

fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_quoting() {
        let fields = parse_os_release_fields(
            "# comment\nNAME=\"Debian GNU/Linux\"\nID=debian\nA='single $x'\nB=\"esc \\\"q\\\" \\$\"\nC=\nD=\"trailing \"\nnot an assignment\n  E=bare  \n",
        );
        assert_eq!(fields["NAME"], "Debian GNU/Linux");
        assert_eq!(fields["ID"], "debian");
        assert_eq!(fields["A"], "single $x");
        assert_eq!(fields["B"], "esc \"q\" $");
        assert_eq!(fields["C"], "");
        assert_eq!(fields["D"], "trailing ");
        assert_eq!(fields["E"], "bare");
        assert_eq!(fields.len(), 7);
    }

    #[test]
    fn release_files() {
        type Case<'a> = (Option<OsRelease>, Option<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (
                parse_redhat_release("CentOS Linux release 7.6.1810 (Core) \n", "x"),
                Some(("centos", "7.6.1810")),
            ),
            (
                parse_redhat_release("Amazon Linux release 2 (Karoo)", "x"),
                Some(("amzn", "2")),
            ),
            (parse_redhat_release("foo bar", "x"), None),
            (parse_redhat_release("", "x"), None),
            (parse_alpine_release("3.15.4\n"), Some(("alpine", "3.15.4"))),
            (
                parse_debian_version("buster/sid\n"),
                Some(("debian", "buster/sid")),
            ),
            (parse_debian_version(""), None),
            (
                parse_lsb_release("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=18.04\n"),
                Some(("ubuntu", "18.04")),
            ),
            (parse_lsb_release("invalid"), None),
            (parse_os_release("NAME=x\nVERSION_ID=1", "x"), None),
        ];
        for (got, want) in cases {
            assert_eq!(
                got.as_ref()
                    .map(|o| (o.id.as_str(), o.version_id.as_deref().unwrap_or(""))),
                want
            );
        }
    }

    #[test]
    fn detect_prefers_os_release_and_fills_a_missing_version() {
        let files: BTreeMap<&str, &[u8]> = BTreeMap::from([
            (
                "etc/os-release",
                &b"PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n"[..],
            ),
            ("etc/debian_version", &b"trixie/sid\n"[..]),
            (
                "etc/lsb-release",
                &b"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=1\n"[..],
            ),
        ]);
        let os = detect(|p| files.get(p).copied()).unwrap();
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id.as_deref(), Some("trixie/sid"));
        assert_eq!(os.source, "etc/os-release");
        assert_eq!(detect(|_| None), None);
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            "=",
            "==\"",
            "ID=\"unterminated",
            "ID=\\",
            "\u{0}\u{ff}",
            "ID='",
        ] {
            let _ = parse_os_release(input, "x");
            let _ = parse_redhat_release(input, "x");
            let _ = parse_lsb_release(input);
        }
    }
}
