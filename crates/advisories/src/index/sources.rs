//! The repositories an image is configured with, as index URLs: apt's `sources.list` (one
//! line per source) and `sources.list.d/*.list` and `*.sources` (deb822 stanzas), apk's
//! `/etc/apk/repositories`, and the `baseurl` of the repositories in `/etc/yum.repos.d`.
//!
//! Only `http` and `https` repositories are used; a source that cannot be turned into a
//! URL (a `file:` or `cdrom:` source, a yum repository with only a mirrorlist or metalink)
//! is reported as a note, never guessed at.

use super::IndexFormat;
use portcullis_inventory::os::OsRelease;
use portcullis_model::image::Platform;
use std::collections::BTreeMap;

/// Most sources read from an image: configuration files are small, but untrusted.
pub const MAX_SOURCES: usize = 64;

/// One index to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSource {
    pub format: IndexFormat,
    /// The suite or repository, as the configuration names it.
    pub suite: String,
    /// URLs to try in order (the same index in several compressions); for RPM the
    /// repository's base URL, below which `repodata/repomd.xml` names the index.
    pub urls: Vec<String>,
    /// The configuration file that names the source.
    pub file: String,
}

/// What the image's repository configuration yields.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub sources: Vec<IndexSource>,
    /// Sources that were skipped, and why (file, message).
    pub notes: Vec<(String, String)>,
    truncated: bool,
}

impl Sources {
    fn note(&mut self, file: &str, message: impl Into<String>) {
        self.notes.push((file.to_string(), message.into()));
    }

    fn push(&mut self, source: IndexSource) {
        if self.sources.contains(&source) {
            return;
        }
        if self.sources.len() == MAX_SOURCES {
            if !self.truncated {
                self.truncated = true;
                self.note(
                    &source.file,
                    format!("more than {MAX_SOURCES} repositories; the rest are ignored"),
                );
            }
            return;
        }
        self.sources.push(source);
    }
}

/// A configuration file of the image: its path (normalised, without a leading `/`) and
/// contents.
pub struct ConfigFile<'a> {
    pub path: String,
    pub data: &'a [u8],
}

/// The sources of an image's configuration files (`files` holds whichever of apt's, apk's
/// and yum's the image has, with the `vars` of dnf and yum).
pub fn sources(files: &[ConfigFile], platform: &Platform, os: Option<&OsRelease>) -> Sources {
    let mut out = Sources::default();
    let vars = yum_vars(files, platform, os);
    for file in files {
        let text = String::from_utf8_lossy(file.data);
        let path = file.path.as_str();
        if path.ends_with("etc/apt/sources.list")
            || (path.contains("sources.list.d/") && path.ends_with(".list"))
        {
            apt_one_line(&text, path, platform, &mut out);
        } else if path.contains("sources.list.d/") && path.ends_with(".sources") {
            apt_deb822(&text, path, platform, &mut out);
        } else if path.ends_with("etc/apk/repositories") {
            apk_repositories(&text, path, platform, &mut out);
        } else if path.contains("yum.repos.d/") && path.ends_with(".repo") {
            yum_repos(&text, path, &vars, &mut out);
        }
    }
    out
}

/// Debian's name for an OCI architecture.
pub fn debian_arch(platform: &Platform) -> Option<&'static str> {
    Some(
        match (
            platform.architecture.as_str(),
            platform.variant.as_deref().unwrap_or(""),
        ) {
            ("amd64", _) => "amd64",
            ("arm64", _) => "arm64",
            ("arm", "v5" | "v6") => "armel",
            ("arm", _) => "armhf",
            ("386", _) => "i386",
            ("ppc64le", _) => "ppc64el",
            ("s390x", _) => "s390x",
            ("riscv64", _) => "riscv64",
            ("mips64le", _) => "mips64el",
            ("loong64", _) => "loong64",
            _ => return None,
        },
    )
}

/// Alpine's name for an OCI architecture.
pub fn alpine_arch(platform: &Platform) -> Option<&'static str> {
    Some(
        match (
            platform.architecture.as_str(),
            platform.variant.as_deref().unwrap_or(""),
        ) {
            ("amd64", _) => "x86_64",
            ("arm64", _) => "aarch64",
            ("arm", "v6" | "v5") => "armhf",
            ("arm", _) => "armv7",
            ("386", _) => "x86",
            ("ppc64le", _) => "ppc64le",
            ("s390x", _) => "s390x",
            ("riscv64", _) => "riscv64",
            ("loong64", _) => "loongarch64",
            _ => return None,
        },
    )
}

/// RPM's base architecture (`$basearch`) for an OCI architecture.
pub fn rpm_basearch(platform: &Platform) -> Option<&'static str> {
    Some(match platform.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "386" => "i386",
        "arm" => "armhfp",
        "riscv64" => "riscv64",
        _ => return None,
    })
}

fn is_fetchable(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The URLs of one apt source's `Packages` index, best compression first.
fn apt_urls(uri: &str, suite: &str, component: Option<&str>, arch: &str) -> Vec<String> {
    let base = uri.trim_end_matches('/');
    let dir = match component {
        Some(component) => format!(
            "{base}/dists/{}/{component}/binary-{arch}",
            suite.trim_matches('/')
        ),
        // A flat repository: `deb URI DIR/` with the index right in DIR.
        None => {
            let dir = suite.trim_matches('/').trim_start_matches("./");
            if dir.is_empty() || dir == "." {
                base.to_string()
            } else {
                format!("{base}/{dir}")
            }
        }
    };
    ["Packages.xz", "Packages.gz", "Packages"]
        .iter()
        .map(|name| format!("{dir}/{name}"))
        .collect()
}

fn apt_source(
    uri: &str,
    suite: &str,
    components: &[&str],
    archs: Option<&[String]>,
    file: &str,
    platform: &Platform,
    out: &mut Sources,
) {
    if !is_fetchable(uri) {
        out.note(
            file,
            format!("{uri}: only http and https sources are fetched"),
        );
        return;
    }
    let Some(arch) = debian_arch(platform) else {
        out.note(
            file,
            format!("no Debian architecture for {}", platform.architecture),
        );
        return;
    };
    if archs.is_some_and(|a| !a.iter().any(|x| x == arch)) {
        return;
    }
    if suite.contains('$') {
        out.note(
            file,
            format!("{uri} {suite}: variables in the suite are not supported"),
        );
        return;
    }
    if suite.ends_with('/') {
        out.push(IndexSource {
            format: IndexFormat::Deb,
            suite: suite.to_string(),
            urls: apt_urls(uri, suite, None, arch),
            file: file.to_string(),
        });
        return;
    }
    for component in components {
        out.push(IndexSource {
            format: IndexFormat::Deb,
            suite: format!("{suite} {component}"),
            urls: apt_urls(uri, suite, Some(component), arch),
            file: file.to_string(),
        });
    }
}

/// `deb [ options ] URI SUITE [COMPONENT...]` lines (sources.list(5)).
fn apt_one_line(text: &str, file: &str, platform: &Platform, out: &mut Sources) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb") else {
            continue;
        };
        if !rest.starts_with([' ', '\t', '[']) {
            continue; // deb-src, or not a source line
        }
        let mut rest = rest.trim_start();
        let mut archs = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                out.note(file, format!("{line}: unterminated options"));
                continue;
            };
            for option in options.split_whitespace() {
                if let Some(value) = option
                    .strip_prefix("arch=")
                    .or_else(|| option.strip_prefix("arch+="))
                {
                    archs = Some(value.split(',').map(str::to_string).collect::<Vec<_>>());
                }
            }
            rest = after.trim_start();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [uri, suite, components @ ..] = words.as_slice() else {
            out.note(file, format!("{line}: expected a URI and a suite"));
            continue;
        };
        apt_source(
            uri,
            suite,
            components,
            archs.as_deref(),
            file,
            platform,
            out,
        );
    }
}

/// deb822 `.sources` stanzas (sources.list(5), "DEB822-STYLE FORMAT").
fn apt_deb822(text: &str, file: &str, platform: &Platform, out: &mut Sources) {
    let stanzas = match portcullis_inventory::dpkg::parse_stanzas(text.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            out.note(file, e.to_string());
            return;
        }
    };
    for stanza in stanzas {
        let get = |name: &str| {
            stanza
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let words = |name: &str| get(name).split_whitespace().collect::<Vec<_>>();
        if !words("Types").contains(&"deb") || get("Enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        let archs: Option<Vec<String>> = Some(get("Architectures"))
            .filter(|a| !a.is_empty())
            .map(|a| a.split_whitespace().map(str::to_string).collect());
        let components = words("Components");
        for uri in words("URIs") {
            for suite in words("Suites") {
                apt_source(
                    uri,
                    suite,
                    &components,
                    archs.as_deref(),
                    file,
                    platform,
                    out,
                );
            }
        }
    }
}

/// `/etc/apk/repositories`: one repository URL per line, optionally tagged `@tag URL`.
fn apk_repositories(text: &str, file: &str, platform: &Platform, out: &mut Sources) {
    let Some(arch) = alpine_arch(platform) else {
        out.note(
            file,
            format!("no Alpine architecture for {}", platform.architecture),
        );
        return;
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = match line.strip_prefix('@') {
            Some(tagged) => tagged.split_whitespace().nth(1).unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if !is_fetchable(url) {
            out.note(
                file,
                format!("{url}: only http and https repositories are fetched"),
            );
            continue;
        }
        let base = url.trim_end_matches('/');
        let suite = super::Origin::new(None, &format!("{base}/"))
            .suite
            .unwrap_or_else(|| base.to_string());
        out.push(IndexSource {
            format: IndexFormat::Apk,
            suite,
            urls: vec![format!("{base}/{arch}/APKINDEX.tar.gz")],
            file: file.to_string(),
        });
    }
}

/// dnf's and yum's repository variables: `$basearch`, `$arch`, `$releasever`, and the
/// files of `/etc/dnf/vars` and `/etc/yum/vars`.
fn yum_vars(
    files: &[ConfigFile],
    platform: &Platform,
    os: Option<&OsRelease>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    if let Some(basearch) = rpm_basearch(platform) {
        vars.insert("basearch".into(), basearch.to_string());
        vars.insert("arch".into(), basearch.to_string());
    }
    if let Some(version) = os.and_then(|o| o.version_id.as_deref()) {
        let releasever = match os.map(|o| o.id.as_str()) {
            Some("amzn" | "fedora" | "opensuse-leap" | "sles") => version,
            _ => version.split('.').next().unwrap_or(version),
        };
        vars.insert("releasever".into(), releasever.to_string());
    }
    for file in files {
        let path = file.path.as_str();
        if path.contains("dnf/vars/") || path.contains("yum/vars/") {
            let name = portcullis_model::path::file_name(path);
            let value = String::from_utf8_lossy(file.data);
            if let Some(value) = value.lines().next().map(str::trim) {
                vars.insert(name.to_string(), value.to_string());
            }
        }
    }
    vars
}

/// Replaces `$name` and `${name}` by their values; `None` names a variable that has none.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, after) = match rest.strip_prefix('{') {
            Some(braced) => match braced.split_once('}') {
                Some((name, after)) => (name, after),
                None => return Err(format!("${{{braced}")),
            },
            None => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None => return Err(format!("${name}")),
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// `.repo` files: INI sections, one per repository (yum.conf(5), dnf.conf(5)).
fn yum_repos(text: &str, file: &str, vars: &BTreeMap<String, String>, out: &mut Sources) {
    #[derive(Default)]
    struct Repo {
        id: String,
        baseurl: Vec<String>,
        enabled: bool,
        mirrored: bool,
    }
    let mut repos: Vec<Repo> = Vec::new();
    let mut last_key = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(id) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            repos.push(Repo {
                id: id.trim().to_string(),
                enabled: true,
                ..Default::default()
            });
            last_key.clear();
            continue;
        }
        let Some(repo) = repos.last_mut() else {
            continue;
        };
        // A continuation line of a multi-valued option (baseurl lists).
        if line.starts_with([' ', '\t']) && !trimmed.contains('=') {
            if last_key == "baseurl" {
                repo.baseurl.extend(
                    trimmed
                        .split([' ', ','])
                        .filter(|u| !u.is_empty())
                        .map(str::to_string),
                );
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        match key.as_str() {
            "baseurl" => repo.baseurl.extend(
                value
                    .split([' ', ','])
                    .filter(|u| !u.is_empty())
                    .map(str::to_string),
            ),
            "enabled" => repo.enabled = !matches!(value, "0" | "false" | "no" | "False"),
            "mirrorlist" | "metalink" if !value.is_empty() => repo.mirrored = true,
            _ => {}
        }
        last_key = key;
    }
    for repo in repos.into_iter().filter(|r| r.enabled) {
        let Some(url) = repo.baseurl.first() else {
            if repo.mirrored {
                out.note(
                    file,
                    format!(
                        "repository {}: only a mirrorlist or metalink, which is not fetched",
                        repo.id
                    ),
                );
            }
            continue;
        };
        let url = match substitute(url, vars) {
            Ok(url) => url,
            Err(var) => {
                out.note(
                    file,
                    format!("repository {}: no value for {var} in {url}", repo.id),
                );
                continue;
            }
        };
        if !is_fetchable(&url) {
            out.note(
                file,
                format!(
                    "repository {}: {url}: only http and https are fetched",
                    repo.id
                ),
            );
            continue;
        }
        out.push(IndexSource {
            format: IndexFormat::Rpm,
            suite: repo.id,
            urls: vec![url.trim_end_matches('/').to_string()],
            file: file.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    fn run(files: &[(&str, &str)], os: Option<&OsRelease>) -> Sources {
        let files: Vec<ConfigFile> = files
            .iter()
            .map(|(p, d)| ConfigFile {
                path: p.to_string(),
                data: d.as_bytes(),
            })
            .collect();
        sources(&files, &amd64(), os)
    }

    fn urls(s: &Sources) -> Vec<(String, String)> {
        s.sources
            .iter()
            .map(|s| (s.suite.clone(), s.urls[0].clone()))
            .collect()
    }

    #[test]
    fn apt_one_line_sources() {
        let s = run(
            &[(
                "etc/apt/sources.list",
                "# comment\n\
                 deb http://deb.debian.org/debian bookworm main contrib\n\
                 deb-src http://deb.debian.org/debian bookworm main\n\
                 deb [arch=amd64 signed-by=/k.gpg] https://deb.debian.org/debian-security/ bookworm-security main # trailing\n\
                 deb [arch=arm64] http://ports.example/debian bookworm main\n\
                 deb file:/srv/repo ./\n\
                 deb https://repo.example/flat ./\n\
                 debx http://x y z\n\
                 deb http://only-uri\n",
            )],
            None,
        );
        assert_eq!(
            urls(&s),
            vec![
                (
                    "bookworm main".into(),
                    "http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz"
                        .into()
                ),
                (
                    "bookworm contrib".into(),
                    "http://deb.debian.org/debian/dists/bookworm/contrib/binary-amd64/Packages.xz"
                        .into()
                ),
                (
                    "bookworm-security main".into(),
                    "https://deb.debian.org/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"
                        .into()
                ),
                ("./".into(), "https://repo.example/flat/Packages.xz".into()),
            ]
        );
        assert_eq!(s.sources[0].urls.len(), 3);
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    }

    #[test]
    fn apt_deb822_sources() {
        let s = run(
            &[(
                "etc/apt/sources.list.d/debian.sources",
                "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                 Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                 Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n\n\
                 Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n",
            )],
            None,
        );
        let suites: Vec<String> = s.sources.iter().map(|s| s.suite.clone()).collect();
        assert_eq!(
            suites,
            [
                "bookworm main",
                "bookworm-updates main",
                "bookworm-security main"
            ]
        );
        assert!(s.notes.is_empty());
    }

    #[test]
    fn apk_repositories() {
        let s = run(
            &[(
                "etc/apk/repositories",
                "https://dl-cdn.alpinelinux.org/alpine/v3.20/main\n\
                 https://dl-cdn.alpinelinux.org/alpine/v3.20/community/\n\
                 @testing https://dl-cdn.alpinelinux.org/alpine/edge/testing\n\
                 /media/cdrom/apks\n",
            )],
            None,
        );
        assert_eq!(
            urls(&s),
            vec![
                (
                    "v3.20/main".into(),
                    "https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz"
                        .into()
                ),
                (
                    "v3.20/community".into(),
                    "https://dl-cdn.alpinelinux.org/alpine/v3.20/community/x86_64/APKINDEX.tar.gz"
                        .into()
                ),
                (
                    "edge/testing".into(),
                    "https://dl-cdn.alpinelinux.org/alpine/edge/testing/x86_64/APKINDEX.tar.gz"
                        .into()
                ),
            ]
        );
        assert_eq!(s.notes.len(), 1);
    }

    #[test]
    fn yum_repositories_with_a_baseurl() {
        let os = OsRelease {
            id: "rhel".into(),
            version_id: Some("9.4".into()),
            ..Default::default()
        };
        let s = run(
            &[
                (
                    "etc/yum.repos.d/ubi.repo",
                    "[ubi-9-baseos-rpms]\nname = UBI 9 BaseOS\nbaseurl = https://cdn-ubi.redhat.com/content/public/ubi/dist/ubi9/9/$basearch/baseos/os\nenabled = 1\n\n\
                     [ubi-9-baseos-source]\nbaseurl = https://cdn-ubi.redhat.com/source\nenabled = 0\n\n\
                     [rel]\nbaseurl=http://mirror.example/$releasever/${contentdir}/\n  http://second.example/\n\n\
                     [mirrored]\nmirrorlist=https://mirrors.example/?release=$releasever\n\n\
                     [unknown-var]\nbaseurl=http://x/$nope/\n",
                ),
                ("etc/dnf/vars/contentdir", "centos\n"),
            ],
            Some(&os),
        );
        assert_eq!(
            urls(&s),
            vec![
                (
                    "ubi-9-baseos-rpms".into(),
                    "https://cdn-ubi.redhat.com/content/public/ubi/dist/ubi9/9/x86_64/baseos/os"
                        .into()
                ),
                ("rel".into(), "http://mirror.example/9/centos".into()),
            ]
        );
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
        assert!(s.notes[0].1.contains("mirrorlist"));
        assert!(s.notes[1].1.contains("$nope"));
    }

    #[test]
    fn sources_are_bounded() {
        let many: String = (0..200)
            .map(|i| format!("deb http://m{i}.example/debian bookworm main\n"))
            .collect();
        let s = run(&[("etc/apt/sources.list", &many)], None);
        assert_eq!(s.sources.len(), MAX_SOURCES);
        assert_eq!(s.notes.len(), 1);
    }
}
