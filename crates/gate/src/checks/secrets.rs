//! The `secrets` family: secrets in files (visible or only in a lower layer), credential
//! files, build leftovers, and secrets in the image config (ENV, labels, build history).
//!
//! The layer pass already found and redacted what each layer holds (`LayerReport::secrets`).
//! Here each hit meets the final filesystem: a secret the image shows is reported once, at
//! the layer that shows it, however many layers carry the same file; a secret only a lower
//! layer holds is reported with that layer and the layer that deleted or overwrote it, since
//! anyone who pulls the image can still extract it.

use super::{Check, Family, Reference};
use crate::facts::ImageFacts;
use crate::facts::merge::{Fate, HiddenHow};
use crate::policy::{Policy, Severity};
use portcullis_model::Finding;
use portcullis_model::path;
use portcullis_secrets::config::{self, ConfigSecret};
use portcullis_secrets::{HitKind, SecretHit};
use std::collections::{BTreeMap, HashSet};

const REFS: &[Reference] = &[
    Reference::Cis("4.10"),
    Reference::Dockle("CIS-DI-0010"),
    Reference::Cwe(798),
];

pub static IN_FILE: Check = Check {
    id: "secrets-in-file",
    family: "secrets",
    title: "Secret in a file",
    severity: Severity::High,
    description: "A file in the image holds a credential: a cloud or API key, a token, a \
        private key, or a password assigned in a configuration file. Anyone who can pull the \
        image can read it. The finding names the rule that matched (portcullis explain \
        RULE-ID describes it), the file, the line and the layer; the secret is shown only \
        redacted. Each rule carries its own severity.",
    remediation: "Remove the secret from the image and rotate it: it has been published to \
        everyone who can pull the image. Inject secrets at run time (orchestrator secrets, \
        mounted files, environment from a vault) and use `RUN --mount=type=secret` for \
        build-time credentials. False positives: add an allow rule (docs/secrets.md).",
    references: REFS,
};

pub static IN_REMOVED_FILE: Check = Check {
    id: "secrets-in-removed-file",
    family: "secrets",
    title: "Secret in a file a later layer removed",
    severity: Severity::High,
    description: "A layer holds a file with a credential that a later layer deleted or \
        overwrote. The running container does not see it, but the lower layer ships with the \
        image: `docker save` or any registry client extracts it in seconds. The location names \
        the layer that holds the secret and the layer that hid it.",
    remediation: "Rotate the secret, then rebuild so that it never enters a layer: use \
        `RUN --mount=type=secret` or a multi-stage build whose final stage copies only the \
        artifacts. Deleting a file in a later RUN does not remove it from the image.",
    references: REFS,
};

pub static CREDENTIAL_FILE: Check = Check {
    id: "secrets-credential-file",
    family: "secrets",
    title: "Credential file in the image",
    severity: Severity::High,
    description: "A file whose name and content make it a credential store: .env files, SSH \
        private keys, ~/.aws/credentials, ~/.docker/config.json with auths, .npmrc/.yarnrc \
        with tokens, .pypirc, .netrc, .git-credentials, kubeconfigs with tokens or client \
        keys, Terraform state, keystores (.jks, .p12, .pfx), PEM files holding a private key. \
        Reported when no content rule already reported a secret in the same file.",
    remediation: "Remove the file from the image (and from every layer: build it in a stage \
        that is not shipped, or mount it as a secret at build time), and rotate what it \
        holds.",
    references: REFS,
};

pub static IN_ENV: Check = Check {
    id: "secrets-in-env",
    family: "secrets",
    title: "Secret in the image's environment",
    severity: Severity::High,
    description: "config.Env sets a variable whose name says it is a secret (PASSWORD, TOKEN, \
        SECRET, API_KEY, ACCESS_KEY, PRIVATE_KEY ...) to a literal value, or a value that a \
        secret rule recognises. The value is in the image config, shown by `docker inspect` \
        and in every container's environment.",
    remediation: "Do not bake secrets into ENV. Pass them when the container starts (`docker \
        run -e`, orchestrator secrets) or point the application at a mounted file \
        (`*_FILE` variables).",
    references: &[
        Reference::Dockle("CIS-DI-0010"),
        Reference::Cis("4.10"),
        Reference::Cwe(798),
    ],
};

pub static IN_LABEL: Check = Check {
    id: "secrets-in-label",
    family: "secrets",
    title: "Secret in an image label",
    severity: Severity::High,
    description: "A label's name says its value is a secret, or its value matches a secret \
        rule. Labels are public metadata, shown by `docker inspect` and by registries.",
    remediation: "Remove the label and rotate the secret.",
    references: REFS,
};

pub static IN_HISTORY: Check = Check {
    id: "secrets-in-history",
    family: "secrets",
    title: "Secret in the build history",
    severity: Severity::High,
    description: "A build step recorded in the image history (`docker history --no-trunc`) \
        carries a secret: an ARG or ENV value whose name says it is a secret, a build \
        argument recorded before a RUN, an inline `TOKEN=...`, a `--password`/`-p` flag, or a \
        value a secret rule recognises. ARG values are not in the environment of the final \
        image, but they are in its history.",
    remediation: "Pass build-time secrets with `RUN --mount=type=secret` (BuildKit) instead of \
        ARG or ENV, and rotate the secret.",
    references: &[
        Reference::Dockle("CIS-DI-0010"),
        Reference::Cis("4.10"),
        Reference::Cwe(532),
    ],
};

pub static GIT_DIRECTORY: Check = Check {
    id: "secrets-git-directory",
    family: "secrets",
    title: ".git directory left in the image",
    severity: Severity::Medium,
    description: "A .git directory shipped with the image: the full source history, including \
        anything ever committed and later removed, and remote URLs that may carry \
        credentials.",
    remediation: "Add `.git` to .dockerignore, or copy only the build output into the final \
        stage.",
    references: &[Reference::Cwe(527)],
};

pub static BUILD_FILE: Check = Check {
    id: "secrets-build-file",
    family: "secrets",
    title: "Dockerfile or compose file left in the image",
    severity: Severity::Low,
    description: "A Dockerfile, Containerfile or compose file shipped with the image. It tells \
        an attacker how the image and its environment are put together, and compose files \
        often carry passwords.",
    remediation: "Add the build files to .dockerignore, or copy only what the application \
        needs.",
    references: &[Reference::Cwe(538)],
};

pub static SHELL_HISTORY: Check = Check {
    id: "secrets-shell-history",
    family: "secrets",
    title: "Shell or REPL history left in the image",
    severity: Severity::Medium,
    description: "A shell, database or language REPL history file shipped with the image: \
        commands typed while the image was prepared, passwords typed on command lines \
        included.",
    remediation: "Build images from Dockerfiles rather than `docker commit`, and remove \
        history files (or set HISTFILE=/dev/null) in the build.",
    references: &[Reference::Cwe(532)],
};

pub static FAMILY: Family = Family {
    name: "secrets",
    checks: &[
        &IN_FILE,
        &IN_REMOVED_FILE,
        &CREDENTIAL_FILE,
        &IN_ENV,
        &IN_LABEL,
        &IN_HISTORY,
        &GIT_DIRECTORY,
        &BUILD_FILE,
        &SHELL_HISTORY,
    ],
    run,
};

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    let Some(rules) = policy.secrets.as_deref() else {
        return Vec::new();
    };
    let mut findings = file_findings(facts, policy.params.secrets.scan_removed_files);
    findings.extend(config_findings(facts, rules));
    findings
}

/// Where a hit lands once the final filesystem is known.
struct Placed<'a> {
    layer: usize,
    hit: &'a SecretHit,
    hidden: Option<(usize, HiddenHow)>,
}

fn file_findings(facts: &ImageFacts, scan_removed_files: bool) -> Vec<Finding> {
    // Same path, same rule, same secret: one group, whatever the layers.
    let mut groups: BTreeMap<(&str, &str, &str), Vec<Placed>> = BTreeMap::new();
    for (layer, report) in facts.reports.iter().enumerate() {
        for hit in &report.secrets {
            let probe = hit.anchor.as_deref().unwrap_or(&hit.path);
            let hidden = match facts.fs.fate(probe, layer) {
                Some(Fate::Hidden { by, how }) => Some((by, how)),
                Some(Fate::Visible) | None => None,
            };
            if hidden.is_some() && !scan_removed_files {
                continue;
            }
            groups
                .entry((&hit.path, &hit.rule, &hit.fingerprint))
                .or_default()
                .push(Placed { layer, hit, hidden });
        }
    }

    let mut findings = Vec::new();
    for placed in groups.values() {
        // The copy the image shows wins; otherwise the topmost copy a later layer hid.
        let chosen = placed
            .iter()
            .filter(|p| p.hidden.is_none())
            .map(|p| p.layer)
            .max()
            .or_else(|| placed.iter().map(|p| p.layer).max());
        let Some(chosen) = chosen else {
            continue;
        };
        let mut others: Vec<usize> = placed
            .iter()
            .map(|p| p.layer)
            .filter(|&l| l != chosen)
            .collect();
        others.sort_unstable();
        others.dedup();
        let mut lines_seen = HashSet::new();
        for p in placed.iter().filter(|p| p.layer == chosen) {
            if !lines_seen.insert(p.hit.line) {
                continue;
            }
            let mut finding = file_finding(facts, p);
            if !others.is_empty() {
                finding = finding.with_data("also_in_layers", others.clone());
            }
            findings.push(finding);
        }
    }
    one_finding_for_host_keys(findings)
}

/// An SSH server's host keys (`/etc/ssh/ssh_host_{rsa,ecdsa,ed25519}_key`) are one problem,
/// not three: a package's postinst generated them at build time, and every container of the
/// image shares them. Findings of one check and layer on host keys become one that lists
/// them.
fn one_finding_for_host_keys(findings: Vec<Finding>) -> Vec<Finding> {
    let is_host_key = |f: &Finding| {
        f.location.path.as_deref().is_some_and(|p| {
            let p = p.trim_start_matches('/');
            p.strip_prefix("etc/ssh/ssh_host_")
                .is_some_and(|rest| rest.ends_with("_key") && !rest.contains('/'))
        })
    };
    let (keys, mut out): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| is_host_key(f));
    let mut groups: BTreeMap<(String, Option<usize>, Option<usize>), Vec<Finding>> =
        BTreeMap::new();
    for f in keys {
        groups
            .entry((f.check.clone(), f.location.layer, f.location.hidden_by))
            .or_default()
            .push(f);
    }
    for (_, mut group) in groups {
        if group.len() == 1 {
            out.extend(group);
            continue;
        }
        group.sort_by(|a, b| a.location.path.cmp(&b.location.path));
        let paths: Vec<String> = group
            .iter()
            .filter_map(|f| f.location.path.as_deref().map(path::absolute))
            .collect();
        let names: Vec<&str> = paths
            .iter()
            .map(|p| p.rsplit('/').next().unwrap_or(p))
            .collect();
        let evidence: Vec<String> = group.iter().filter_map(|f| f.evidence.clone()).collect();
        let severity = group.iter().map(|f| f.severity).max();
        let mut first = group.swap_remove(0);
        first.message = format!(
            "{} SSH host private keys in /etc/ssh ({}): generated when the image was built, so \
             every container of it shares them",
            paths.len(),
            names.join(", ")
        );
        first.location.line = None;
        first.data.remove("end_line");
        first = first.with_data("paths", paths.clone());
        if !evidence.is_empty() {
            first.evidence = Some(evidence.join(", "));
        }
        if let Some(severity) = severity {
            first.severity = severity;
        }
        out.push(first);
    }
    out
}

fn file_finding(facts: &ImageFacts, placed: &Placed) -> Finding {
    let hit = placed.hit;
    let check: &Check = match (hit.kind, placed.hidden) {
        (HitKind::Content, None) => &IN_FILE,
        (HitKind::Content, Some(_)) => &IN_REMOVED_FILE,
        (HitKind::CredentialFile, _) => &CREDENTIAL_FILE,
        (HitKind::Leftover, _) => match hit.rule.as_str() {
            "git-directory" => &GIT_DIRECTORY,
            "shell-history" => &SHELL_HISTORY,
            _ => &BUILD_FILE,
        },
    };
    let mut at = path::absolute(&hit.path);
    if let Some(line) = hit.line {
        at.push_str(&format!(" line {line}"));
        if let Some(end) = hit.end_line {
            at.push_str(&format!("-{end}"));
        }
    }
    let what = match hit.kind {
        HitKind::Content => format!("{} (rule {}) in {at}", hit.title, hit.rule),
        _ => format!("{}: {at}", hit.title),
    };
    let message = match placed.hidden {
        None => what,
        Some((by, how)) => format!(
            "{what}, {} by layer {by} but still extractable from layer {}",
            match how {
                HiddenHow::Deleted => "deleted",
                HiddenHow::Overwritten => "overwritten",
            },
            placed.layer
        ),
    };
    let digest = facts
        .layers
        .get(placed.layer)
        .map(|l| l.digest.clone())
        .unwrap_or_default();
    let mut finding = check
        .finding(message)
        .at_path(hit.path.clone())
        .in_layer(placed.layer, digest)
        .with_data("rule", hit.rule.clone())
        .with_data("category", hit.category.clone());
    finding.severity = hit.severity;
    finding.location.line = hit.line;
    finding.location.hidden_by = placed.hidden.map(|(by, _)| by);
    if let Some(end) = hit.end_line {
        finding = finding.with_data("end_line", end);
    }
    if !hit.evidence.is_empty() {
        finding = finding.with_evidence(hit.evidence.clone());
    }
    finding
}

fn config_findings(facts: &ImageFacts, rules: &portcullis_secrets::RuleSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut reported: HashSet<String> = HashSet::new();
    let image_config = facts.meta.config.config().as_ref();

    let env = image_config.and_then(|c| c.env().as_ref());
    for (i, entry) in env.into_iter().flatten().enumerate() {
        for secret in config::scan_config_text(rules, entry, true) {
            if !reported.insert(secret.fingerprint.clone()) {
                continue;
            }
            let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            findings.push(config_finding(
                &IN_ENV,
                &secret,
                format!("config.Env[{i}]"),
                format!("the image's environment ({key})"),
                None,
            ));
        }
    }

    let labels = image_config.and_then(|c| c.labels().as_ref());
    let mut labels: Vec<(&String, &String)> = labels.into_iter().flatten().collect();
    labels.sort();
    for (key, value) in labels {
        let text = format!("{key}={value}");
        for secret in config::scan_config_text(rules, &text, true) {
            if !reported.insert(secret.fingerprint.clone()) {
                continue;
            }
            findings.push(config_finding(
                &IN_LABEL,
                &secret,
                format!("config.Labels[{key:?}]"),
                format!("label {key}"),
                None,
            ));
        }
    }

    let history = facts.meta.config.history().as_deref().unwrap_or(&[]);
    let non_empty = history
        .iter()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .count();
    // History entries map onto layers only when the counts agree.
    let maps_to_layers = non_empty == facts.layers.len();
    let mut layer = 0;
    for (i, entry) in history.iter().enumerate() {
        let empty = entry.empty_layer().unwrap_or(false);
        let this_layer = (!empty && maps_to_layers).then_some(layer);
        if !empty {
            layer += 1;
        }
        let Some(created_by) = entry.created_by().as_deref() else {
            continue;
        };
        for secret in config::scan_config_text(rules, created_by, false) {
            if !reported.insert(secret.fingerprint.clone()) {
                continue;
            }
            let layer_ref = this_layer.map(|l| {
                (
                    l,
                    facts
                        .layers
                        .get(l)
                        .map(|info| info.digest.clone())
                        .unwrap_or_default(),
                )
            });
            findings.push(config_finding(
                &IN_HISTORY,
                &secret,
                format!("history[{i}].created_by"),
                format!("build step {i}"),
                layer_ref,
            ));
        }
    }
    findings
}

fn config_finding(
    check: &Check,
    secret: &ConfigSecret,
    field: String,
    place: String,
    layer: Option<(usize, String)>,
) -> Finding {
    let what = match &secret.key {
        Some(key) => format!("{key}, whose name says it is a secret, holds a literal value"),
        None => format!("{} (rule {})", secret.title, secret.rule),
    };
    let mut finding = check
        .finding(format!("{what} in {place}"))
        .in_config(field)
        .with_evidence(secret.evidence.clone())
        .with_data("rule", secret.rule.clone());
    finding.severity = secret.severity;
    if let Some((index, digest)) = layer {
        finding = finding.in_layer(index, digest);
    }
    finding
}
