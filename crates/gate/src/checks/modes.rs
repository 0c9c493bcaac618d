//! The `modes` family: file modes, owners and file types on the final filesystem.
//!
//! A mode on a file that a later layer deleted or replaced no longer applies to anything
//! that runs, so these checks read the final filesystem. The one way a hidden version still
//! matters is a hard link: it shares its target's inode, so the link keeps the target's mode
//! and owner even when the target's own path was removed by a later layer (deleting
//! `/usr/bin/sudo` leaves a hard link to it setuid). Hard links are judged by their target's
//! tar entry, and findings name the target and the layer that hid it.

use super::{Check, Family, Reference, at_layer_path};
use crate::facts::ImageFacts;
use crate::facts::accounts::{self, GroupEntry, RuntimeUser};
use crate::facts::merge::{Fate, Node};
use crate::policy::params::Params as PolicyParams;
use crate::policy::{Policy, Severity};
use portcullis_layer::entry::{Entry, EntryKind};
use portcullis_model::Finding;
use portcullis_model::params::GlobList;
use portcullis_model::path;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};

pub static SETUID: Check = Check {
    id: "mode-setuid",
    family: "modes",
    title: "Unexpected setuid or setgid executable",
    severity: Severity::High,
    description: "An executable carries the setuid or setgid bit and is not one of the programs \
        a distribution ships that way by design. It runs with its owner's (usually root's) \
        privileges whoever starts it, so any flaw in it is a privilege escalation.",
    remediation: "Remove the bit in the Dockerfile (`RUN chmod u-s,g-s /path`, or for every \
        file: `find / -xdev -perm /6000 -type f -exec chmod a-s {} +`), or remove the program.",
    references: &[
        Reference::Cis("4.8"),
        Reference::Dockle("CIS-DI-0008"),
        Reference::Cwe(250),
    ],
};

pub static SETUID_DISTRO: Check = Check {
    id: "mode-setuid-distro",
    family: "modes",
    title: "Distribution setuid or setgid executable",
    severity: Severity::Low,
    description: "An executable that the distribution ships setuid or setgid by design (passwd, \
        su, mount, newgrp, chsh ...). It is expected, but a container rarely needs it, and every \
        such program is attack surface for a local user.",
    remediation: "Strip the bits if the service never changes users or mounts: \
        `find / -xdev -perm /6000 -type f -exec chmod a-s {} +` as the last root step.",
    references: &[Reference::Cis("4.8"), Reference::Dockle("CIS-DI-0008")],
};

pub static WORLD_WRITABLE: Check = Check {
    id: "mode-world-writable",
    family: "modes",
    title: "World-writable file",
    severity: Severity::Medium,
    description: "A regular file any user can write. Whatever reads it (a configuration, a \
        script, a library) can be changed by every process in the container, whichever user \
        it runs as.",
    remediation: "Remove the others-write bit (`chmod o-w`); give write access to the one user \
        that needs it through ownership instead.",
    references: &[Reference::Cwe(732)],
};

pub static WORLD_WRITABLE_DIR: Check = Check {
    id: "mode-world-writable-dir",
    family: "modes",
    title: "World-writable directory without the sticky bit",
    severity: Severity::Medium,
    description: "A directory any user can write that lacks the sticky bit, so any user can \
        delete or replace the files of every other user in it (/tmp is 1777 for this reason).",
    remediation: "Add the sticky bit (`chmod +t`) if it is a shared scratch directory, or \
        remove the others-write bit and give the directory to the user that writes it.",
    references: &[Reference::Cwe(732)],
};

pub static SENSITIVE_FILE: Check = Check {
    id: "mode-sensitive-file",
    family: "modes",
    title: "Sensitive file readable or writable by others",
    severity: Severity::High,
    description: "A password database (/etc/shadow, /etc/gshadow), a private key or a \
        credential file can be read or written by users other than its owner: others, a \
        group beyond the ones the distribution uses for it (shadow, ssl-cert, ssh_keys), or \
        the unprivileged user the container runs as.",
    remediation: "Restore the distribution's modes (`chmod 640 /etc/shadow; chown \
        root:shadow /etc/shadow`; private keys 600), and keep credentials out of the image.",
    references: &[Reference::Cwe(732)],
};

pub static WRITABLE_BY_USER: Check = Check {
    id: "mode-writable-by-user",
    family: "modes",
    title: "Runtime user can modify system executables or libraries",
    severity: Severity::High,
    description: "The unprivileged user the container runs as (config.User, resolved with the \
        image's /etc/passwd and /etc/group) can write an executable or library in a standard \
        PATH or library directory, or the directory itself: by owning it, through a group, or \
        because it is world-writable. Whatever root runs next (a setuid program loading that \
        library, `docker exec` as root, an entrypoint that drops privileges later) runs the \
        user's code: the classic privilege escalation.",
    remediation: "Keep system directories root-owned and not group- or world-writable \
        (`COPY --chown` only into application directories); install the application outside \
        PATH and library directories, or make it read-only for its own user.",
    references: &[Reference::Cwe(732), Reference::Cwe(269)],
};

pub static DEVICE_FILE: Check = Check {
    id: "mode-device-file",
    family: "modes",
    title: "Device file in the image",
    severity: Severity::High,
    description: "A character or block device node other than the standard /dev entries \
        (null, zero, random ...). Runtimes mount their own /dev, so an image has no use for \
        device nodes; one elsewhere (a disk, /dev/mem) gives raw access to the host device \
        wherever the device cgroup allows it.",
    remediation: "Remove the node (`rm`) in the Dockerfile; pass devices at run time with \
        `--device` when a container really needs one.",
    references: &[Reference::Cwe(732)],
};

pub static SPECIAL_FILE: Check = Check {
    id: "mode-special-file",
    family: "modes",
    title: "Named pipe in the image",
    severity: Severity::Low,
    description: "A FIFO (named pipe) is stored in the image. Programs create their pipes at \
        run time; one shipped in a layer is usually a leftover of the build and can be used \
        to feed or block whatever opens it.",
    remediation: "Remove it in the step that created it.",
    references: &[],
};

pub static FAMILY: Family = Family {
    name: "modes",
    checks: &[
        &SETUID,
        &SETUID_DISTRO,
        &WORLD_WRITABLE,
        &WORLD_WRITABLE_DIR,
        &SENSITIVE_FILE,
        &WRITABLE_BY_USER,
        &DEVICE_FILE,
        &SPECIAL_FILE,
    ],
    run,
};

/// Directories searched for commands; their direct children are judged.
pub const PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Directories holding libraries and helper programs; everything below them is judged.
pub const LIB_DIRS: &[&str] = &[
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
    "/usr/libexec",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/usr/local/libexec",
];

/// Groups that distributions let read password databases and private keys.
pub const TRUSTED_READ_GROUPS: &[&str] = &["shadow", "ssl-cert", "ssh_keys"];

/// Password databases: readable by root and the shadow group only.
pub const PASSWORD_FILES: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/master.passwd",
    "/etc/security/opasswd",
];

/// Device numbers of the /dev entries container runtimes create anyway.
const STANDARD_DEVICES: &[(u32, u32)] = &[
    (1, 3), // null
    (1, 5), // zero
    (1, 7), // full
    (1, 8), // random
    (1, 9), // urandom
    (5, 0), // tty
    (5, 1), // console
    (5, 2), // ptmx
];

/// This family's parameters, `[params.modes]` in a policy file. The two allowlists it also
/// reads, `setuid_allowlist` and `world_writable_allowlist`, sit directly under `[params]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Command directories; their direct children are judged (`mode-writable-by-user`).
    pub path_dirs: Vec<String>,
    /// Library directories; everything below them is judged (`mode-writable-by-user`).
    pub lib_dirs: Vec<String>,
    /// Groups that may read password databases (`mode-sensitive-file`).
    pub trusted_read_groups: Vec<String>,
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for Params {
    fn default() -> Self {
        Params {
            path_dirs: owned(PATH_DIRS),
            lib_dirs: owned(LIB_DIRS),
            trusted_read_groups: owned(TRUSTED_READ_GROUPS),
        }
    }
}

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    run_with(facts, &policy.params)
}

/// An image path (`/usr/bin/x`, `usr/bin/x/`) in the normalised form the layers use.
fn normal(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Octal mode text as `ls` users read it.
fn octal(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// The tar entries hard links in the final filesystem point at, by (layer, path).
fn link_targets(facts: &ImageFacts) -> HashMap<(usize, &str), &Entry> {
    let wanted: HashSet<(usize, &str)> = facts
        .fs
        .iter()
        .filter(|n| n.entry.kind == EntryKind::Hardlink)
        .filter_map(|n| Some((n.layer, n.entry.link()?)))
        .collect();
    let mut targets = HashMap::new();
    let layers: HashSet<usize> = wanted.iter().map(|(l, _)| *l).collect();
    for layer in layers {
        let Some(report) = facts.reports.get(layer) else {
            continue;
        };
        for entry in &report.entries {
            if entry.kind == EntryKind::File && wanted.contains(&(layer, entry.path.as_str())) {
                targets.insert((layer, entry.path.as_str()), entry);
            }
        }
    }
    targets
}

/// A node with the metadata it has once extracted.
#[derive(Clone, Copy)]
struct Judged<'a> {
    node: Node<'a>,
    /// The node's own entry, or its hard-link target's.
    entry: &'a Entry,
}

impl Judged<'_> {
    fn path(&self) -> &str {
        &self.node.entry.path
    }

    fn is_file(&self) -> bool {
        self.entry.kind == EntryKind::File
    }

    /// Marks the finding with the hard-link target it was judged by.
    fn annotate(&self, facts: &ImageFacts, finding: Finding) -> Finding {
        let finding = at_layer_path(facts, finding, self.path(), self.node.layer)
            .with_data("mode", octal(self.entry.mode))
            .with_data("uid", self.entry.uid)
            .with_data("gid", self.entry.gid);
        if self.node.entry.kind != EntryKind::Hardlink || self.entry.kind != EntryKind::File {
            return finding;
        }
        let target = &self.entry.path;
        let finding = finding.with_data("hardlink_to", path::absolute(target));
        match facts.fs.fate(target, self.node.layer) {
            Some(Fate::Hidden { by, .. }) => finding.with_data("target_hidden_by", by),
            _ => finding,
        }
    }
}

/// The final filesystem's nodes, each judged as it is met: an image of millions of files
/// is walked once per question rather than copied.
struct Nodes<'a> {
    facts: &'a ImageFacts,
    targets: HashMap<(usize, &'a str), &'a Entry>,
}

impl<'a> Nodes<'a> {
    fn new(facts: &'a ImageFacts) -> Nodes<'a> {
        Nodes {
            facts,
            targets: link_targets(facts),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Judged<'a>> + '_ {
        self.facts.fs.iter().map(|node| {
            let entry = match (node.entry.kind, node.entry.link()) {
                (EntryKind::Hardlink, Some(link)) => self
                    .targets
                    .get(&(node.layer, link))
                    .copied()
                    .unwrap_or(node.entry),
                _ => node.entry,
            };
            Judged { node, entry }
        })
    }
}

/// The family's findings under the policy parameters `params` (its own section and the two
/// allowlists).
pub fn run_with(facts: &ImageFacts, params: &PolicyParams) -> Vec<Finding> {
    let nodes = Nodes::new(facts);
    let groups = facts.group().unwrap_or_default();
    let runtime = accounts::resolve_runtime_user(
        facts.config_user(),
        &facts.passwd().unwrap_or_default(),
        &groups,
    );

    let mut findings = setuid(facts, &nodes, &params.setuid_allowlist);
    let writable = match &runtime {
        Some(user) if !user.is_root() => writable_by_user(facts, &nodes, &params.modes, user),
        _ => Vec::new(),
    };
    let already: HashSet<String> = writable
        .iter()
        .filter_map(|f| f.location.path.as_deref().map(normal))
        .collect();
    findings.extend(writable);
    findings.extend(world_writable(
        facts,
        &nodes,
        &already,
        &params.world_writable_allowlist,
    ));
    findings.extend(sensitive(
        facts,
        &nodes,
        &params.modes,
        runtime.as_ref(),
        &groups,
    ));
    findings.extend(special(facts, &nodes));
    findings
}

fn setuid(facts: &ImageFacts, nodes: &Nodes<'_>, allowlist: &GlobList) -> Vec<Finding> {
    // On merged-/usr systems /bin/x is /usr/bin/x: an allowlisted /usr path covers both.
    let is_expected = |path: &str| {
        allowlist.matches(path)
            || ["bin/", "sbin/", "lib/"]
                .iter()
                .any(|p| path.starts_with(p) && allowlist.matches(&format!("usr/{path}")))
    };
    nodes
        .iter()
        .filter(|n| n.is_file() && n.entry.mode & 0o6000 != 0 && n.entry.mode & 0o111 != 0)
        .map(|n| {
            let e = n.entry;
            let mut bits = Vec::new();
            if e.is_setuid() {
                bits.push(format!("setuid as uid {}", e.uid));
            }
            if e.is_setgid() {
                bits.push(format!("setgid as gid {}", e.gid));
            }
            let distro = is_expected(n.path());
            let check = if distro { &SETUID_DISTRO } else { &SETUID };
            let finding = check
                .finding(format!(
                    "/{} is {}, mode {}",
                    n.path(),
                    bits.join(" and "),
                    octal(e.mode)
                ))
                .with_data("setuid", e.is_setuid())
                .with_data("setgid", e.is_setgid());
            n.annotate(facts, finding)
        })
        .collect()
}

/// Whether any of `dirs` is `path` or an ancestor of it (`dirs` normalised).
fn under(path: &str, dirs: &HashSet<String>) -> Option<String> {
    let mut current = path;
    while let Some((parent, _)) = current.rsplit_once('/') {
        if dirs.contains(parent) {
            return Some(parent.to_string());
        }
        current = parent;
    }
    None
}

/// The directories as the final filesystem resolves them (symlinks like `/bin -> usr/bin`
/// followed), keeping only those that exist.
fn resolve_dirs(facts: &ImageFacts, dirs: &[String]) -> HashSet<String> {
    dirs.iter()
        .filter_map(|d| facts.fs.resolve(&normal(d)))
        .filter(|(_, node)| node.entry.kind == EntryKind::Dir)
        .map(|(path, _)| path)
        .collect()
}

fn writable_by(entry: &Entry, user: &RuntimeUser) -> Vec<&'static str> {
    let mut how = Vec::new();
    if entry.uid == user.uid && entry.mode & 0o200 != 0 {
        how.push("owner");
    }
    if entry.mode & 0o020 != 0 && user.in_group(entry.gid) {
        how.push("group");
    }
    if entry.mode & 0o002 != 0 {
        how.push("others");
    }
    how
}

fn writable_by_user(
    facts: &ImageFacts,
    nodes: &Nodes<'_>,
    params: &Params,
    user: &RuntimeUser,
) -> Vec<Finding> {
    let path_dirs = resolve_dirs(facts, &params.path_dirs);
    let lib_dirs = resolve_dirs(facts, &params.lib_dirs);
    // The parents of the standard directories: whoever can write them can swap the
    // directories themselves.
    let parents: HashSet<String> = path_dirs
        .iter()
        .chain(&lib_dirs)
        .flat_map(|d| {
            let mut up = Vec::new();
            let mut current = d.as_str();
            while let Some((parent, _)) = current.rsplit_once('/') {
                up.push(parent.to_string());
                current = parent;
            }
            up
        })
        .collect();
    let in_scope = |path: &str| {
        path_dirs.contains(path)
            || lib_dirs.contains(path)
            || parents.contains(path)
            || path
                .rsplit_once('/')
                .is_some_and(|(parent, _)| path_dirs.contains(parent))
            || under(path, &lib_dirs).is_some()
    };
    let who = user
        .name
        .clone()
        .unwrap_or_else(|| format!("uid {}", user.uid));

    let mut reported_dirs: HashSet<String> = HashSet::new();
    let mut below: BTreeMap<String, u64> = BTreeMap::new();
    let mut found: Vec<(Judged<'_>, Vec<&'static str>)> = Vec::new();
    for n in nodes.iter() {
        if !matches!(n.entry.kind, EntryKind::File | EntryKind::Dir) || !in_scope(n.path()) {
            continue;
        }
        let how = writable_by(n.entry, user);
        if how.is_empty() {
            continue;
        }
        if let Some(dir) = under(n.path(), &reported_dirs) {
            *below.entry(dir).or_default() += 1;
            continue;
        }
        if n.entry.kind == EntryKind::Dir {
            reported_dirs.insert(n.path().to_string());
        }
        found.push((n, how));
    }
    found
        .into_iter()
        .map(|(n, how)| {
            let what = if n.entry.kind == EntryKind::Dir {
                "directory"
            } else {
                "file"
            };
            let mut finding = WRITABLE_BY_USER
                .finding(format!(
                    "{who} can write the {what} /{} (mode {}, owner {}:{}; as {})",
                    n.path(),
                    octal(n.entry.mode),
                    n.entry.uid,
                    n.entry.gid,
                    how.join(", ")
                ))
                .with_data("user", who.clone())
                .with_data("runtime_uid", user.uid)
                .with_data("via", how);
            if let Some(count) = below.get(n.path()) {
                finding = finding.with_data("writable_entries_below", *count);
            }
            n.annotate(facts, finding)
        })
        .collect()
}

fn world_writable(
    facts: &ImageFacts,
    nodes: &Nodes<'_>,
    already: &HashSet<String>,
    allowed: &GlobList,
) -> Vec<Finding> {
    let mut open_dirs: HashSet<String> = HashSet::new();
    let mut below: BTreeMap<String, u64> = BTreeMap::new();
    let mut found: Vec<Judged<'_>> = Vec::new();
    for n in nodes.iter() {
        let kind = n.entry.kind;
        if !matches!(kind, EntryKind::File | EntryKind::Dir) || n.entry.mode & 0o002 == 0 {
            continue;
        }
        if (kind == EntryKind::Dir && n.entry.is_sticky()) || allowed.matches(n.path()) {
            continue;
        }
        // Reported (or rolled up) as writable by the runtime user already.
        if already.contains(n.path()) || under(n.path(), already).is_some() {
            continue;
        }
        if let Some(dir) = under(n.path(), &open_dirs) {
            *below.entry(dir).or_default() += 1;
            continue;
        }
        if kind == EntryKind::Dir {
            open_dirs.insert(n.path().to_string());
        }
        found.push(n);
    }
    found
        .into_iter()
        .map(|n| {
            let finding = if n.entry.kind == EntryKind::Dir {
                let mut f = WORLD_WRITABLE_DIR.finding(format!(
                    "/{} is writable by every user and not sticky (mode {})",
                    n.path(),
                    octal(n.entry.mode)
                ));
                if let Some(count) = below.get(n.path()) {
                    f = f.with_data("world_writable_entries_below", *count);
                }
                f
            } else {
                WORLD_WRITABLE.finding(format!(
                    "/{} is writable by every user (mode {})",
                    n.path(),
                    octal(n.entry.mode)
                ))
            };
            n.annotate(facts, finding)
        })
        .collect()
}

/// What makes a file sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    PasswordDatabase,
    PrivateKey,
    Credentials,
}

impl Sensitivity {
    fn as_str(self) -> &'static str {
        match self {
            Sensitivity::PasswordDatabase => "password database",
            Sensitivity::PrivateKey => "private key",
            Sensitivity::Credentials => "credential file",
        }
    }
}

/// Recognises sensitive files by path (normalised). Content is the secrets family's
/// business; this is the stand-in until its credential-file recognition can be asked.
pub fn sensitivity(path: &str) -> Option<Sensitivity> {
    const KEY_NAMES: &[&str] = &[
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
    ];
    const KEY_DIRS: &[&str] = &["etc/ssl/private", "etc/pki/tls/private"];
    const CREDENTIAL_NAMES: &[&str] = &[
        ".netrc",
        ".pgpass",
        ".git-credentials",
        ".pypirc",
        ".s3cfg",
        ".boto",
    ];
    const CREDENTIAL_SUFFIXES: &[&str] =
        &[".docker/config.json", ".aws/credentials", ".kube/config"];
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    if PASSWORD_FILES.iter().any(|p| normal(p) == path) {
        return Some(Sensitivity::PasswordDatabase);
    }
    if KEY_NAMES.contains(&name)
        || KEY_DIRS.contains(&parent)
        || (parent == "etc/ssh" && name.starts_with("ssh_host_") && name.ends_with("_key"))
    {
        return Some(Sensitivity::PrivateKey);
    }
    if CREDENTIAL_NAMES.contains(&name)
        || CREDENTIAL_SUFFIXES
            .iter()
            .any(|s| path == &s[1..] || path.ends_with(&format!("/{s}")))
    {
        return Some(Sensitivity::Credentials);
    }
    None
}

fn sensitive(
    facts: &ImageFacts,
    nodes: &Nodes<'_>,
    params: &Params,
    runtime: Option<&RuntimeUser>,
    groups: &[GroupEntry],
) -> Vec<Finding> {
    let group_name = |gid: u32| {
        groups
            .iter()
            .find(|g| g.gid == gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    };
    let user = runtime.filter(|u| !u.is_root());
    let user_in = |gid: u32| user.is_some_and(|u| u.in_group(gid));
    nodes
        .iter()
        .filter(|n| n.is_file())
        .filter_map(|n| {
            let kind = sensitivity(n.path())?;
            let e = n.entry;
            let group = group_name(e.gid);
            let mut exposure: Vec<String> = Vec::new();
            if e.mode & 0o004 != 0 {
                exposure.push("others can read it".into());
            }
            if e.mode & 0o002 != 0 {
                exposure.push("others can write it".into());
            }
            if e.mode & 0o020 != 0 && (e.gid != 0 || user_in(0)) {
                exposure.push(format!("group {group} can write it"));
            }
            if kind == Sensitivity::PasswordDatabase {
                let trusted = e.gid == 0 || params.trusted_read_groups.contains(&group);
                if e.mode & 0o040 != 0 && (!trusted || user_in(e.gid)) {
                    exposure.push(format!("group {group} can read it"));
                }
                if let Some(u) = user
                    && e.uid == u.uid
                {
                    exposure.push("the runtime user owns it".into());
                }
            }
            if exposure.is_empty() {
                return None;
            }
            let finding = SENSITIVE_FILE
                .finding(format!(
                    "/{} ({}) has mode {}: {}",
                    n.path(),
                    kind.as_str(),
                    octal(e.mode),
                    exposure.join(", ")
                ))
                .with_data("kind", kind.as_str())
                .with_data("exposure", exposure);
            Some(n.annotate(facts, finding))
        })
        .collect()
}

fn special(facts: &ImageFacts, nodes: &Nodes<'_>) -> Vec<Finding> {
    nodes
        .iter()
        .filter_map(|n| {
            let e = n.entry;
            let finding = match e.kind {
                EntryKind::Char | EntryKind::Block => {
                    let (major, minor) = e.device().unwrap_or((0, 0));
                    if n.path().starts_with("dev/") && STANDARD_DEVICES.contains(&(major, minor)) {
                        return None;
                    }
                    let kind = if e.kind == EntryKind::Char {
                        "character"
                    } else {
                        "block"
                    };
                    DEVICE_FILE
                        .finding(format!(
                            "/{} is a {kind} device ({major}:{minor})",
                            n.path()
                        ))
                        .with_data(
                            "device",
                            json!({"kind": kind, "major": major, "minor": minor}),
                        )
                }
                EntryKind::Fifo => {
                    SPECIAL_FILE.finding(format!("{} is a named pipe", path::absolute(n.path())))
                }
                _ => return None,
            };
            Some(n.annotate(facts, finding))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_paths() {
        use Sensitivity::*;
        assert_eq!(sensitivity("etc/shadow"), Some(PasswordDatabase));
        assert_eq!(sensitivity("etc/gshadow-"), Some(PasswordDatabase));
        assert_eq!(sensitivity("etc/shadow.bak"), None);
        assert_eq!(sensitivity("root/.ssh/id_ed25519"), Some(PrivateKey));
        assert_eq!(sensitivity("root/.ssh/id_ed25519.pub"), None);
        assert_eq!(sensitivity("etc/ssh/ssh_host_rsa_key"), Some(PrivateKey));
        assert_eq!(sensitivity("etc/ssh/ssh_host_rsa_key.pub"), None);
        assert_eq!(sensitivity("etc/ssl/private/server.pem"), Some(PrivateKey));
        assert_eq!(
            sensitivity("home/app/.docker/config.json"),
            Some(Credentials)
        );
        assert_eq!(sensitivity("root/.aws/credentials"), Some(Credentials));
        assert_eq!(sensitivity("app/config.json"), None);
    }

    #[test]
    fn under_finds_ancestors_only() {
        let dirs: HashSet<String> = ["usr/lib".to_string()].into();
        assert_eq!(under("usr/lib/x/y.so", &dirs).as_deref(), Some("usr/lib"));
        assert_eq!(under("usr/lib", &dirs), None);
        assert_eq!(under("usr/lib64/a", &dirs), None);
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(normal("/usr/bin/"), "usr/bin");
        assert_eq!(normal("usr//./bin"), "usr/bin");
        assert_eq!(octal(0o104755), "4755");
    }
}
