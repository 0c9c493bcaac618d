//! The `hygiene` family: what a build left in the image that the running service does not
//! need — package-manager caches, sudo, an SSH server.
//!
//! Caches are measured on the final filesystem (bytes and files from the tar entries), so a
//! cache cleaned in the same step, or mounted as a BuildKit cache and never written to a
//! layer, is not reported whatever the history says. Only when there is no filesystem to
//! measure ([`history_hints`], used by `config::assess_config`) does the history speak.
//!
//! Installed software is recognised from its binary or from the package database: dpkg's
//! `info/NAME.list` files and the apk database lines `scan::presence` watches for. When the
//! package inventory lands, [`find_installed`] is the one function to point at it.

use super::history;
use super::{Check, Family, Reference, at_layer_path};
use crate::analyze::presence;
use crate::facts::ImageFacts;
use crate::policy::{Policy, Severity};
use crate::report::table::human_size;
use oci_spec::image::ImageConfiguration;
use portcullis_layer::entry::EntryKind;
use portcullis_model::Finding;
use portcullis_model::params::Size;
use portcullis_model::path;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub static APT_CACHE: Check = Check {
    id: "hygiene-apt-cache",
    family: "hygiene",
    title: "apt package lists or archives left in the image",
    severity: Severity::Low,
    description: "/var/lib/apt/lists (the package indexes `apt-get update` downloads) or \
        /var/cache/apt (downloaded .deb files, package caches) holds files in the final \
        filesystem. They add megabytes to every pull, go stale at once, and let anyone with a \
        shell in the container install packages from them.",
    remediation: "End the step that installs packages with `&& rm -rf /var/lib/apt/lists/*` \
        (and `apt-get clean`), or use a BuildKit cache mount for /var/lib/apt and \
        /var/cache/apt.",
    references: &[Reference::Dockle("DKL-DI-0005")],
};

pub static APK_CACHE: Check = Check {
    id: "hygiene-apk-cache",
    family: "hygiene",
    title: "apk cache left in the image",
    severity: Severity::Low,
    description: "/var/cache/apk holds package indexes or packages in the final filesystem: \
        `apk add` ran without `--no-cache`.",
    remediation: "Use `apk add --no-cache ...`, or remove /var/cache/apk/* in the same step.",
    references: &[Reference::Dockle("DKL-DI-0004")],
};

pub static PIP_CACHE: Check = Check {
    id: "hygiene-pip-cache",
    family: "hygiene",
    title: "pip cache left in the image",
    severity: Severity::Low,
    description: "A pip download cache (`~/.cache/pip`) holds files in the final filesystem: \
        wheels and HTTP responses the running service never reads.",
    remediation: "Install with `pip install --no-cache-dir`, set `PIP_NO_CACHE_DIR=1`, or use \
        a BuildKit cache mount for the cache directory.",
    references: &[],
};

pub static NPM_CACHE: Check = Check {
    id: "hygiene-npm-cache",
    family: "hygiene",
    title: "npm or yarn cache left in the image",
    severity: Severity::Low,
    description: "An npm cache (`~/.npm/_cacache`) or yarn cache (`~/.cache/yarn`) holds files \
        in the final filesystem: package tarballs the running service never reads.",
    remediation: "Run `npm cache clean --force` (or `yarn cache clean`) in the step that \
        installs, or use a BuildKit cache mount.",
    references: &[],
};

pub static SUDO: Check = Check {
    id: "hygiene-sudo",
    family: "hygiene",
    title: "sudo installed",
    severity: Severity::Medium,
    description: "sudo (or doas) is installed. A container needs no privilege switching: a \
        process that should not be root should not be able to become root, and sudo rules \
        (NOPASSWD above all) are a ready-made way up for whoever gets a shell.",
    remediation: "Remove the package; run the steps that need root in the Dockerfile before \
        `USER`, and start the container as the user it needs.",
    references: &[Reference::Dockle("DKL-DI-0001"), Reference::Cis("4.3")],
};

pub static SSHD: Check = Check {
    id: "hygiene-sshd",
    family: "hygiene",
    title: "SSH server installed",
    severity: Severity::Medium,
    description: "An SSH server (OpenSSH sshd or Dropbear) is installed. Containers are \
        reached with `docker exec`/`kubectl exec`; an SSH daemon is one more network service \
        with credentials and host keys to manage.",
    remediation: "Remove the SSH server package and use the runtime's exec for access.",
    references: &[Reference::Cis("4.3"), Reference::Cis("5.6")],
};

pub static FAMILY: Family = Family {
    name: "hygiene",
    checks: &[&APT_CACHE, &APK_CACHE, &PIP_CACHE, &NPM_CACHE, &SUDO, &SSHD],
    run,
};

/// Binaries that mean sudo (or a replacement) is installed.
pub const SUDO_BINARIES: &[&str] = &[
    "usr/bin/sudo",
    "bin/sudo",
    "usr/local/bin/sudo",
    "usr/bin/doas",
];
pub const SUDO_PACKAGES: &[&str] = &["sudo", "sudo-ldap", "doas"];
/// Binaries that mean an SSH server is installed.
pub const SSHD_BINARIES: &[&str] = &[
    "usr/sbin/sshd",
    "sbin/sshd",
    "usr/local/sbin/sshd",
    "usr/sbin/dropbear",
];
pub const SSHD_PACKAGES: &[&str] = &["openssh-server", "openssh-server-pam", "dropbear"];

/// This family's parameters, `[params.hygiene]` in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// A cache directory is reported when its files add up to at least this many bytes.
    pub cache_min_bytes: Size,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            cache_min_bytes: Size(1),
        }
    }
}

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    run_with(facts, &policy.params.hygiene)
}

pub fn run_with(facts: &ImageFacts, params: &Params) -> Vec<Finding> {
    let mut findings = caches(facts, params);
    findings.extend(installed_finding(
        facts,
        &SUDO,
        "sudo",
        SUDO_BINARIES,
        SUDO_PACKAGES,
    ));
    findings.extend(installed_finding(
        facts,
        &SSHD,
        "an SSH server",
        SSHD_BINARIES,
        SSHD_PACKAGES,
    ));
    findings
}

/// The cache directory `path` lies in, and the check that reports it.
fn cache_root(path: &str) -> Option<(&'static Check, String)> {
    let name = path.rsplit('/').next().unwrap_or(path);
    for (dir, check) in [
        ("var/lib/apt/lists", &APT_CACHE),
        ("var/cache/apt", &APT_CACHE),
        ("var/cache/apk", &APK_CACHE),
    ] {
        if path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')) {
            // apt's lock files are part of an empty cache.
            if check.id == APT_CACHE.id && name == "lock" {
                return None;
            }
            return Some((check, dir.to_string()));
        }
    }
    for (marker, check) in [
        (".cache/pip/", &PIP_CACHE),
        (".npm/_cacache/", &NPM_CACHE),
        (".cache/yarn/", &NPM_CACHE),
    ] {
        let at = if path.starts_with(marker) {
            Some(0)
        } else {
            path.find(&format!("/{marker}")).map(|i| i + 1)
        };
        if let Some(at) = at {
            let root = &path[..at + marker.len() - 1];
            return Some((check, root.to_string()));
        }
    }
    None
}

#[derive(Default)]
struct CacheUse {
    bytes: u64,
    files: u64,
    by_layer: BTreeMap<usize, u64>,
}

fn caches(facts: &ImageFacts, params: &Params) -> Vec<Finding> {
    let mut found: BTreeMap<(&'static str, String), (&'static Check, CacheUse)> = BTreeMap::new();
    for node in facts.fs.iter() {
        if node.entry.kind != EntryKind::File || node.entry.size == 0 {
            continue;
        }
        let Some((check, root)) = cache_root(&node.entry.path) else {
            continue;
        };
        let (_, usage) = found
            .entry((check.id, root))
            .or_insert_with(|| (check, CacheUse::default()));
        usage.bytes += node.entry.size;
        usage.files += 1;
        *usage.by_layer.entry(node.layer).or_default() += node.entry.size;
    }
    let steps = history::layer_steps(&facts.meta.config, facts.layers.len());
    let commands = history::steps(&facts.meta.config);
    found
        .into_iter()
        .filter(|(_, (_, usage))| usage.bytes >= params.cache_min_bytes.bytes())
        .map(|((_, root), (check, usage))| {
            let top = usage
                .by_layer
                .iter()
                .max_by_key(|(layer, bytes)| (**bytes, **layer))
                .map_or(0, |(layer, _)| *layer);
            let layers: Vec<serde_json::Value> = usage
                .by_layer
                .iter()
                .map(|(layer, bytes)| {
                    let mut v = json!({"layer": layer, "bytes": bytes});
                    if let Some(step) = steps.get(*layer).and_then(|i| commands.get(*i)) {
                        v["created_by"] = json!(step.created_by);
                    }
                    v
                })
                .collect();
            let mut finding = check
                .finding(format!(
                    "/{root} holds {} in {} file{}",
                    human_size(usage.bytes),
                    usage.files,
                    if usage.files == 1 { "" } else { "s" }
                ))
                .with_data("bytes", usage.bytes)
                .with_data("files", usage.files)
                .with_data("layers", layers)
                .with_data("source", "filesystem");
            if let Some(step) = steps.get(top) {
                finding = finding.in_config(history::field(*step));
            }
            at_layer_path(facts, finding, &root, top)
        })
        .collect()
}

/// The package caches a config's history suggests the image leaves behind, for when there is
/// no filesystem to measure.
pub fn history_hints(config: &ImageConfiguration) -> Vec<Finding> {
    let mut findings = Vec::new();
    for step in history::steps(config) {
        let hints = [
            (
                history::apt_lists_left(step.created_by),
                &APT_CACHE,
                "updates or installs apt packages without removing /var/lib/apt/lists",
            ),
            (
                history::apk_cache_left(step.created_by),
                &APK_CACHE,
                "runs apk add without --no-cache",
            ),
        ];
        for (hit, check, what) in hints {
            if hit {
                findings.push(
                    check
                        .finding(format!("history step {} {what}", step.index))
                        .in_config(history::field(step.index))
                        .with_evidence(step.created_by)
                        .with_data("source", "history"),
                );
            }
        }
    }
    findings
}

/// Evidence that a piece of software is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The binary or the package-database file (normalised).
    pub path: String,
    pub layer: usize,
    /// `binary`, `dpkg` or `apk`.
    pub source: &'static str,
    pub package: Option<String>,
}

/// Where the image shows one of `binaries` or `packages` installed: binaries (symlinks
/// followed) in the final filesystem, dpkg `info/NAME.list` files, and the apk database.
/// The stand-in for the package inventory's answer.
pub fn find_installed(facts: &ImageFacts, binaries: &[&str], packages: &[&str]) -> Vec<Installed> {
    let mut found: Vec<Installed> = Vec::new();
    for binary in binaries {
        if let Some((path, node)) = facts.fs.resolve(binary)
            && matches!(node.entry.kind, EntryKind::File | EntryKind::Hardlink)
            && !found.iter().any(|f| f.path == path)
        {
            found.push(Installed {
                path,
                layer: node.layer,
                source: "binary",
                package: None,
            });
        }
    }
    for package in packages {
        let list = format!("var/lib/dpkg/info/{package}.list");
        if let Some(node) = facts.fs.get(&list) {
            found.push(Installed {
                path: list,
                layer: node.layer,
                source: "dpkg",
                package: Some(package.to_string()),
            });
        }
    }
    if let Some((path, node)) = facts.fs.resolve(presence::APK_DB)
        && let Some(names) = facts
            .reports
            .get(node.layer)
            .and_then(|r| r.watched_packages.get(&path))
    {
        for name in names.iter().filter(|n| packages.contains(&n.as_str())) {
            found.push(Installed {
                path: path.clone(),
                layer: node.layer,
                source: "apk",
                package: Some(name.clone()),
            });
        }
    }
    found
}

/// A `NOPASSWD` rule of /etc/sudoers or /etc/sudoers.d/*, and whether it lets the
/// container's runtime user run commands as root without a password.
struct NopasswdRule {
    /// `/etc/sudoers.d/app: app ALL=(ALL) NOPASSWD: ALL`
    shown: String,
    for_runtime_user: bool,
    /// The rule allows every command (`NOPASSWD: ALL`).
    all_commands: bool,
}

/// `NOPASSWD` rules in /etc/sudoers and /etc/sudoers.d/*.
fn nopasswd_rules(facts: &ImageFacts) -> Vec<NopasswdRule> {
    let mut files = vec!["etc/sudoers".to_string()];
    files.extend(
        facts
            .fs
            .iter()
            .filter(|n| n.entry.path.starts_with("etc/sudoers.d/"))
            .map(|n| n.entry.path.to_string()),
    );
    let passwd = facts.passwd().unwrap_or_default();
    let groups = facts.group().unwrap_or_default();
    let runtime =
        crate::facts::accounts::resolve_runtime_user(facts.config_user(), &passwd, &groups);
    // Who the rule's first field names: a user, `%group`, `#uid` or `ALL`.
    let applies = |who: &str| -> bool {
        let Some(user) = &runtime else {
            return false;
        };
        if who == "ALL" {
            return true;
        }
        if let Some(group) = who.strip_prefix('%') {
            let gid = match group.strip_prefix('#') {
                Some(n) => n.parse().ok(),
                None => groups.iter().find(|g| g.name == group).map(|g| g.gid),
            };
            return gid.is_some_and(|gid| user.in_group(gid));
        }
        if let Some(uid) = who.strip_prefix('#') {
            return uid.parse() == Ok(user.uid);
        }
        user.name.as_deref() == Some(who)
    };
    let mut rules = Vec::new();
    for file in files {
        let Some(data) = facts.read_file(&file) else {
            continue;
        };
        let text = String::from_utf8_lossy(data);
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') || !line.contains("NOPASSWD") {
                continue;
            }
            let who = line.split_whitespace().next().unwrap_or("");
            let commands = line.split_once("NOPASSWD:").map_or("", |(_, c)| c.trim());
            rules.push(NopasswdRule {
                shown: format!("{}: {line}", path::absolute(&file)),
                for_runtime_user: applies(who),
                all_commands: commands == "ALL" || commands.starts_with("ALL,"),
            });
        }
    }
    rules
}

fn installed_finding(
    facts: &ImageFacts,
    check: &Check,
    what: &str,
    binaries: &[&str],
    packages: &[&str],
) -> Option<Finding> {
    let found = find_installed(facts, binaries, packages);
    let first = found.first()?;
    let evidence: Vec<String> = found
        .iter()
        .map(|f| match &f.package {
            Some(p) => format!("{} package {p}", f.source),
            None => path::absolute(&f.path),
        })
        .collect();
    let details: Vec<serde_json::Value> = found
        .iter()
        .map(|f| json!({"path": path::absolute(&f.path), "layer": f.layer, "source": f.source, "package": f.package}))
        .collect();
    let mut message = format!("{what} is installed ({})", evidence.join("; "));
    let mut raised = None;
    let mut nopasswd = Vec::new();
    if check.id == SUDO.id {
        let rules = nopasswd_rules(facts);
        // A NOPASSWD rule for the user the container runs as is a way to root without a
        // password: named in the message, and the finding is as severe as running as root.
        if let Some(rule) = rules.iter().find(|r| r.for_runtime_user) {
            message.push_str(&format!(
                "; the runtime user may run {} as root without a password ({})",
                if rule.all_commands {
                    "every command"
                } else {
                    "commands"
                },
                rule.shown
            ));
            raised = Some(Severity::High);
        }
        nopasswd = rules.into_iter().map(|r| r.shown).collect();
    }
    let mut finding = check.finding(message).with_data("installed", details);
    if !nopasswd.is_empty() {
        finding = finding.with_data("nopasswd_rules", nopasswd);
    }
    if let Some(severity) = raised {
        finding.severity = finding.severity.max(severity);
    }
    Some(at_layer_path(facts, finding, &first.path, first.layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_roots() {
        let root = |p: &str| cache_root(p).map(|(c, r)| (c.id, r));
        assert_eq!(
            root("var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease"),
            Some(("hygiene-apt-cache", "var/lib/apt/lists".into()))
        );
        assert_eq!(root("var/lib/apt/lists/lock"), None);
        assert_eq!(root("var/lib/apt/listsx/a"), None);
        assert_eq!(
            root("var/cache/apt/archives/curl.deb"),
            Some(("hygiene-apt-cache", "var/cache/apt".into()))
        );
        assert_eq!(
            root("var/cache/apk/APKINDEX.abc.tar.gz"),
            Some(("hygiene-apk-cache", "var/cache/apk".into()))
        );
        assert_eq!(
            root("root/.cache/pip/http/a/b"),
            Some(("hygiene-pip-cache", "root/.cache/pip".into()))
        );
        assert_eq!(
            root("home/app/.npm/_cacache/index-v5/x"),
            Some(("hygiene-npm-cache", "home/app/.npm/_cacache".into()))
        );
        assert_eq!(
            root("usr/local/share/.cache/yarn/v6/x"),
            Some(("hygiene-npm-cache", "usr/local/share/.cache/yarn".into()))
        );
        assert_eq!(root("usr/lib/python3/pip/cache.py"), None);
    }
}
