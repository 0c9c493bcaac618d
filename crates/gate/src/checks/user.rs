//! The `user` family: does the image run as root?
//!
//! `config.User` decides the user a container starts as. Empty, `root`, `0` and `0:…`
//! start it as root; so does a name that /etc/passwd maps to uid 0. A name missing from
//! /etc/passwd makes runc refuse to start the container, and leaves the gate unable to show
//! the image is not root. A numeric uid without a passwd entry is legitimate (OpenShift runs
//! arbitrary uids), reported at low severity because tools that look the user up will fail.

use super::{Check, Family, Reference};
use crate::facts::ImageFacts;
use crate::policy::{Policy, Severity};
use portcullis_model::Finding;

const REFS: &[Reference] = &[
    Reference::Cis("4.1"),
    Reference::Dockle("CIS-DI-0001"),
    Reference::Cwe(250),
];

pub static ROOT: Check = Check {
    id: "user-root",
    family: "user",
    title: "Image runs as root",
    severity: Severity::High,
    description: "The image config sets no USER, or sets root, 0 or 0:GID, so every container \
        started from it runs as uid 0. A process escaping the application then holds root in the \
        container, and root on the host wherever user namespaces are not in use.",
    remediation: "Create an unprivileged user in the image (e.g. `RUN useradd -r -u 10001 app`) \
        and end the Dockerfile with `USER 10001` (a numeric uid lets Kubernetes verify \
        runAsNonRoot).",
    references: REFS,
};

pub static UID0_ALIAS: Check = Check {
    id: "user-uid0-alias",
    family: "user",
    title: "USER names an account with uid 0",
    severity: Severity::High,
    description: "config.User names an account that the image's /etc/passwd maps to uid 0. \
        The name hides that the container still runs as root.",
    remediation: "Give the account a non-zero uid in /etc/passwd, or switch USER to an \
        unprivileged account.",
    references: REFS,
};

pub static NOT_FOUND: Check = Check {
    id: "user-not-found",
    family: "user",
    title: "USER is missing from /etc/passwd",
    severity: Severity::High,
    description: "config.User names a user (or group) that the image's /etc/passwd (or \
        /etc/group) does not define. runc refuses to start such a container, and nothing shows \
        that the image does not fall back to root.",
    remediation: "Create the account in the image (`useradd`, `adduser -D`), or use a numeric \
        uid:gid.",
    references: REFS,
};

pub static NUMERIC_UNMAPPED: Check = Check {
    id: "user-numeric-unmapped",
    family: "user",
    title: "Numeric USER has no /etc/passwd entry",
    severity: Severity::Low,
    description: "config.User is a numeric uid that /etc/passwd does not list. The container \
        runs as that uid, which is allowed, but programs that look up the current user (ssh, \
        git, some language runtimes) fail or fall back to defaults.",
    remediation: "Add a passwd entry for the uid, or set HOME and similar variables \
        explicitly.",
    references: &[Reference::Cis("4.1")],
};

pub static FAMILY: Family = Family {
    name: "user",
    checks: &[&ROOT, &UID0_ALIAS, &NOT_FOUND, &NUMERIC_UNMAPPED],
    run,
};

const FIELD: &str = "config.User";

/// `user-root` from `config.User` alone (empty, `root`, `0`, `0:GID`, `root:GROUP`): what
/// can be said without the image's /etc/passwd.
pub fn root_by_config(raw: &str) -> Vec<Finding> {
    let raw = raw.trim();
    let user = raw.split_once(':').map_or(raw, |(u, _)| u);
    let why = if raw.is_empty() {
        "config.User is not set, so containers run as root (uid 0)".to_string()
    } else if user.is_empty() || user == "root" {
        format!("config.User is {raw:?}, so containers run as root (uid 0)")
    } else if user.parse::<u32>() == Ok(0) {
        format!("config.User is {raw:?}: uid 0 is root")
    } else {
        return Vec::new();
    };
    vec![ROOT.finding(why).in_config(FIELD).with_evidence(raw)]
}

fn run(facts: &ImageFacts, _policy: &Policy) -> Vec<Finding> {
    let raw = facts.config_user().trim();
    let root = root_by_config(raw);
    if !root.is_empty() {
        return root;
    }
    let (user, group) = match raw.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (raw, None),
    };
    let passwd = facts.passwd();
    let mut findings = Vec::new();

    match user.parse::<u32>() {
        Ok(uid) => {
            let known = passwd
                .as_ref()
                .is_some_and(|entries| entries.iter().any(|e| e.uid == uid));
            if !known {
                let why = match &passwd {
                    Some(_) => format!("uid {uid} has no entry in /etc/passwd"),
                    None => format!("uid {uid}: the image has no /etc/passwd"),
                };
                findings.push(
                    NUMERIC_UNMAPPED
                        .finding(why)
                        .in_config(FIELD)
                        .with_evidence(raw),
                );
            }
        }
        Err(_) => {
            let entry = passwd
                .as_ref()
                .and_then(|entries| entries.iter().find(|e| e.name == user));
            match entry {
                Some(e) if e.uid == 0 => {
                    findings.push(
                        UID0_ALIAS
                            .finding(format!(
                                "config.User is {user:?}, which /etc/passwd maps to uid 0 (line {})",
                                e.line
                            ))
                            .in_config(FIELD)
                            .at_path("/etc/passwd")
                            .with_evidence(raw),
                    );
                }
                Some(_) => {}
                None => {
                    let why = match &passwd {
                        Some(_) => format!("user {user:?} is not defined in /etc/passwd"),
                        None => format!(
                            "user {user:?} cannot be resolved: the image has no /etc/passwd"
                        ),
                    };
                    findings.push(NOT_FOUND.finding(why).in_config(FIELD).with_evidence(raw));
                }
            }
        }
    }

    if let Some(group) = group.filter(|g| !g.is_empty() && g.parse::<u32>().is_err()) {
        let defined = facts
            .group()
            .is_some_and(|groups| groups.iter().any(|g| g.name == group));
        if !defined {
            findings.push(
                NOT_FOUND
                    .finding(format!("group {group:?} is not defined in /etc/group"))
                    .in_config(FIELD)
                    .with_evidence(raw),
            );
        }
    }
    findings
}
