//! The `accounts` family: the local accounts the image ships in /etc/passwd, /etc/shadow and
//! /etc/group.
//!
//! A container rarely logs anyone in, but the account databases still decide what `su`,
//! `sudo`, an SSH server or a PAM-aware service accept, and which uid a file belongs to.

use super::{Check, Family, Reference, at_layer_path};
use crate::facts::ImageFacts;
use crate::facts::accounts::{PasswdEntry, ShadowEntry};
use crate::policy::{Policy, Severity};
use portcullis_model::Finding;
use portcullis_model::path;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

pub static EMPTY_PASSWORD: Check = Check {
    id: "account-empty-password",
    family: "accounts",
    title: "Account with an empty password",
    severity: Severity::High,
    description: "An account's password field (in /etc/shadow, or in /etc/passwd where no \
        shadow entry overrides it) is empty: `su` and any password login accept that account \
        with no password at all. Alpine's images shipped root like this in CVE-2019-5021.",
    remediation: "Lock the password (`passwd -l NAME`, or `usermod -p '!' NAME`), so the field \
        holds `!` or `*`.",
    references: &[Reference::Dockle("DKL-LI-0001"), Reference::Cwe(258)],
};

pub static DUPLICATE_UID: Check = Check {
    id: "account-duplicate-uid",
    family: "accounts",
    title: "Several accounts share a uid",
    severity: Severity::Medium,
    description: "Two or more account names in /etc/passwd have the same uid. The kernel only \
        knows the number, so the names are one account: files, processes and permissions of \
        one are the other's, and logs name whichever comes first.",
    remediation: "Give every account its own uid (`usermod -u`), or remove the duplicate.",
    references: &[Reference::Dockle("DKL-LI-0002")],
};

pub static DUPLICATE_GID: Check = Check {
    id: "account-duplicate-gid",
    family: "accounts",
    title: "Several groups share a gid",
    severity: Severity::Low,
    description: "Two or more group names in /etc/group have the same gid, so membership in \
        one is membership in the other.",
    remediation: "Give every group its own gid (`groupmod -g`), or remove the duplicate.",
    references: &[Reference::Dockle("DKL-LI-0002")],
};

pub static EXTRA_UID0: Check = Check {
    id: "account-extra-uid0",
    family: "accounts",
    title: "Account other than root with uid 0",
    severity: Severity::High,
    description: "An account other than root has uid 0, so it is root under another name, \
        a classic backdoor and a way around rules written for `root`.",
    remediation: "Remove the account or give it a non-zero uid.",
    references: &[Reference::Dockle("DKL-LI-0002"), Reference::Cwe(250)],
};

pub static SYSTEM_LOGIN_SHELL: Check = Check {
    id: "account-system-login-shell",
    family: "accounts",
    title: "System account without a password has a login shell",
    severity: Severity::Low,
    description: "A system account (uid 1-999, or nobody) with no usable password (locked or \
        empty) has an interactive shell instead of nologin. Such accounts exist to own files \
        and run daemons; a shell lets anyone who can switch to it (su from root, an SSH key, a \
        misconfigured service) work as it.",
    remediation: "Set the shell to /usr/sbin/nologin (`usermod -s /usr/sbin/nologin NAME`).",
    references: &[],
};

pub static FAMILY: Family = Family {
    name: "accounts",
    checks: &[
        &EMPTY_PASSWORD,
        &DUPLICATE_UID,
        &DUPLICATE_GID,
        &EXTRA_UID0,
        &SYSTEM_LOGIN_SHELL,
    ],
    run,
};

/// Shells that do not give a login session.
pub const NON_LOGIN_SHELLS: &[&str] = &["nologin", "false", "true", "sync", "shutdown", "halt"];

/// This family's parameters, `[params.accounts]` in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Highest uid of a system account (login.defs' SYS_UID_MAX).
    pub system_uid_max: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            system_uid_max: 999,
        }
    }
}

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    run_with(facts, &policy.params.accounts)
}

/// A finding at a line of an account file, placed in the layer that wrote the file.
fn at_line(facts: &ImageFacts, finding: Finding, file: &str, line: u32) -> Finding {
    let mut finding = match facts.fs.resolve(file) {
        Some((path, node)) => at_layer_path(facts, finding, &path, node.layer),
        None => finding.at_path(path::absolute(file)),
    };
    finding.location.line = Some(line);
    finding
}

pub fn run_with(facts: &ImageFacts, params: &Params) -> Vec<Finding> {
    let passwd = facts.passwd().unwrap_or_default();
    let shadow = facts.shadow().unwrap_or_default();
    let mut findings = empty_passwords(facts, &passwd, &shadow);
    findings.extend(duplicate_uids(facts, &passwd));
    findings.extend(duplicate_gids(facts));
    findings.extend(system_login_shells(facts, params, &passwd, &shadow));
    findings
}

/// The password that decides a login: the shadow entry's when /etc/passwd says `x` and a
/// shadow entry exists, otherwise /etc/passwd's own field.
fn effective_password<'a>(user: &'a PasswdEntry, shadow: &'a [ShadowEntry]) -> (&'a str, bool) {
    if user.password == "x"
        && let Some(s) = shadow.iter().find(|s| s.name == user.name)
    {
        return (&s.password, true);
    }
    (&user.password, false)
}

fn empty_passwords(
    facts: &ImageFacts,
    passwd: &[PasswdEntry],
    shadow: &[ShadowEntry],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for entry in shadow.iter().filter(|s| s.password.is_empty()) {
        if !seen.insert(&entry.name) {
            continue;
        }
        let user = passwd.iter().find(|p| p.name == entry.name);
        let mut finding = EMPTY_PASSWORD
            .finding(format!(
                "{} has an empty password in /etc/shadow",
                entry.name
            ))
            .with_data("user", entry.name.clone());
        if let Some(u) = user {
            finding = finding
                .with_data("uid", u.uid)
                .with_data("shell", u.shell.clone());
        }
        findings.push(at_line(facts, finding, "etc/shadow", entry.line));
    }
    for user in passwd.iter().filter(|p| p.password.is_empty()) {
        if !seen.insert(&user.name) {
            continue;
        }
        let finding = EMPTY_PASSWORD
            .finding(format!(
                "{} has an empty password field in /etc/passwd",
                user.name
            ))
            .with_data("user", user.name.clone())
            .with_data("uid", user.uid)
            .with_data("shell", user.shell.clone());
        findings.push(at_line(facts, finding, "etc/passwd", user.line));
    }
    findings
}

fn duplicate_uids(facts: &ImageFacts, passwd: &[PasswdEntry]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut by_uid: BTreeMap<u32, Vec<&PasswdEntry>> = BTreeMap::new();
    for user in passwd {
        by_uid.entry(user.uid).or_default().push(user);
    }
    for (uid, users) in by_uid {
        let mut names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if uid == 0 {
            // Root under another name is its own, more serious finding.
            for user in users.iter().filter(|u| u.name != "root") {
                let finding = EXTRA_UID0
                    .finding(format!("{} has uid 0 in /etc/passwd", user.name))
                    .with_data("user", user.name.clone());
                findings.push(at_line(facts, finding, "etc/passwd", user.line));
            }
            continue;
        }
        if names.len() < 2 {
            continue;
        }
        let finding = DUPLICATE_UID
            .finding(format!("uid {uid} is shared by {}", names.join(", ")))
            .with_data("uid", uid)
            .with_data("users", names);
        findings.push(at_line(facts, finding, "etc/passwd", users[1].line));
    }
    findings
}

fn duplicate_gids(facts: &ImageFacts) -> Vec<Finding> {
    let groups = facts.group().unwrap_or_default();
    let mut by_gid: BTreeMap<u32, Vec<(&str, u32)>> = BTreeMap::new();
    for group in &groups {
        by_gid
            .entry(group.gid)
            .or_default()
            .push((&group.name, group.line));
    }
    by_gid
        .into_iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|(gid, names)| {
            let line = names[1].1;
            let names: Vec<&str> = names.into_iter().map(|(n, _)| n).collect();
            let finding = DUPLICATE_GID
                .finding(format!("gid {gid} is shared by {}", names.join(", ")))
                .with_data("gid", gid)
                .with_data("groups", names);
            at_line(facts, finding, "etc/group", line)
        })
        .collect()
}

/// Whether a login with this shell gives a session (an empty field means /bin/sh).
pub fn is_login_shell(shell: &str) -> bool {
    let shell = shell.trim();
    if shell == "/dev/null" {
        return false;
    }
    let name = shell.rsplit('/').next().unwrap_or(shell);
    !NON_LOGIN_SHELLS.contains(&name)
}

/// A password field that accepts no password (locked: `!`, `*`, `!!`, `!<hash>`) or any
/// password (empty).
fn unusable_password(password: &str) -> bool {
    password.is_empty() || password.starts_with('!') || password.starts_with('*')
}

fn system_login_shells(
    facts: &ImageFacts,
    params: &Params,
    passwd: &[PasswdEntry],
    shadow: &[ShadowEntry],
) -> Vec<Finding> {
    passwd
        .iter()
        .filter(|u| (u.uid >= 1 && u.uid <= params.system_uid_max) || u.uid == 65534)
        .filter(|u| is_login_shell(&u.shell))
        .filter_map(|u| {
            let (password, from_shadow) = effective_password(u, shadow);
            // `x` without a shadow entry: no password can match.
            if !(unusable_password(password) || (password == "x" && !from_shadow)) {
                return None;
            }
            let shell = if u.shell.is_empty() {
                "/bin/sh (empty shell field)"
            } else {
                u.shell.as_str()
            };
            let state = if password.is_empty() {
                "no password"
            } else {
                "a locked password"
            };
            let finding = SYSTEM_LOGIN_SHELL
                .finding(format!(
                    "system account {} (uid {}) has {state} and the login shell {shell}",
                    u.name, u.uid
                ))
                .with_data("user", u.name.clone())
                .with_data("uid", u.uid)
                .with_data("shell", u.shell.clone());
            Some(at_line(facts, finding, "etc/passwd", u.line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_shells() {
        assert!(is_login_shell("/bin/sh"));
        assert!(is_login_shell("/bin/ash"));
        assert!(is_login_shell(""));
        assert!(!is_login_shell("/usr/sbin/nologin"));
        assert!(!is_login_shell("/bin/false"));
        assert!(!is_login_shell("/bin/sync"));
        assert!(!is_login_shell("/dev/null"));
    }

    #[test]
    fn unusable_passwords() {
        assert!(unusable_password(""));
        assert!(unusable_password("!"));
        assert!(unusable_password("!!"));
        assert!(unusable_password("*"));
        assert!(unusable_password("!$6$abc"));
        assert!(!unusable_password("$6$salt$hash"));
    }
}
