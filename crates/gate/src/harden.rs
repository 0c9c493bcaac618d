//! Harden: from the findings of a scan to the image with them fixed.
//!
//! [`plan`] turns the report's findings into changes, each tied to the check it fixes: modes
//! changed and files removed in the layers that hold them, config fields removed, a non-root
//! user added in a new top layer. [`build`] then writes the new image from the blobs the scan
//! kept ([`Gate::read_keeping`](crate::Gate::read_keeping)): every layer without a change is
//! the input's blob, byte for byte; a layer with changes is rewritten as a stream
//! ([`portcullis_layer::rewrite`]). Both are deterministic: the same image, findings and
//! options give the same image digest.

use crate::checks::{history, hygiene, modes, secrets};
use crate::facts::ImageFacts;
use crate::policy::Policy;
use crate::report::Report;
use portcullis_image::keep::blob_file;
use portcullis_image::write::{self, Destination, LayerBlob, Written};
use portcullis_image::{BlobSource, ImageError, Reopen};
use portcullis_layer::decode::HashingReader;
use portcullis_layer::rewrite::{self, Edit, NewEntry};
use portcullis_layer::{Budget, EntryKind, LayerError, Limits};
use portcullis_model::image::Compression;
use portcullis_model::{Finding, path};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The annotation (on the manifest) and label (in the config) naming the image a hardened
/// image was made from.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// `created_by` of the history entries harden adds.
pub const CREATED_BY: &str = "portcullis harden";

/// Which fixes to make; each is on unless turned off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardenOptions {
    /// Drop setuid and setgid bits the policy does not allow (`mode-setuid`).
    pub setuid: bool,
    /// Remove others' write permission (`mode-world-writable`, `mode-world-writable-dir`).
    pub world_writable: bool,
    /// Remove files holding secrets from every layer that holds them.
    pub secret_files: bool,
    /// Remove package-manager caches and lists.
    pub caches: bool,
    /// Also remove ENV entries and labels holding secrets (off by default: the application
    /// may read them).
    pub strip_config_secrets: bool,
    /// Run a root image as this user (a name or a uid), created when the image has no such
    /// account.
    pub user: Option<String>,
    /// Set `user` even when the image declares it needs root (a port below 1024).
    pub force_user: bool,
}

impl Default for HardenOptions {
    fn default() -> Self {
        HardenOptions {
            setuid: true,
            world_writable: true,
            secret_files: true,
            caches: true,
            strip_config_secrets: false,
            user: None,
            force_user: false,
        }
    }
}

/// One change to the image, and the check whose finding it fixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub check: String,
    /// The layer changed (its index in the input image; for a new layer, its index in the
    /// output), absent for a change to the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The path inside the image, absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The config field, for a change to the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    pub before: String,
    pub after: String,
}

/// A finding harden leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Left {
    pub check: String,
    pub message: String,
    pub why: String,
}

/// What harden will do to one image.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// In order: layer by layer, then the config.
    pub changes: Vec<Change>,
    /// Findings of fixable checks left as they are.
    pub left: Vec<Left>,
    /// Per layer (input index), the edits of its entries by normalised path.
    edits: BTreeMap<usize, BTreeMap<String, Edit>>,
    /// `config.Env` entries removed, by index.
    env_removed: BTreeSet<usize>,
    /// Labels removed, by key.
    labels_removed: BTreeSet<String>,
    /// The entries of a new top layer (the accounts of the new user).
    new_layer: Vec<NewEntry>,
    /// The new `config.User`.
    config_user: Option<String>,
}

impl Plan {
    /// Whether the plan changes nothing in the image's filesystem or config.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The layers (input indexes) the plan rewrites.
    pub fn rewritten_layers(&self) -> impl Iterator<Item = usize> + '_ {
        self.edits.keys().copied()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    #[error("layer {layer} ({digest}): {source}")]
    Layer {
        layer: usize,
        digest: String,
        source: LayerError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("--user {user}: {why}")]
    User { user: String, why: String },
}

const SECRET_FILE_CHECKS: &[&str] = &[
    secrets::IN_FILE.id,
    secrets::IN_REMOVED_FILE.id,
    secrets::CREDENTIAL_FILE.id,
    secrets::SHELL_HISTORY.id,
    secrets::GIT_DIRECTORY.id,
];
const CACHE_CHECKS: &[&str] = &[
    hygiene::APT_CACHE.id,
    hygiene::APK_CACHE.id,
    hygiene::PIP_CACHE.id,
    hygiene::NPM_CACHE.id,
];

/// The changes that fix the report's findings under `options`. Waived findings are
/// accepted risks and stay as they are.
pub fn plan(
    facts: &ImageFacts,
    report: &Report,
    policy: &Policy,
    options: &HardenOptions,
) -> Result<Plan, HardenError> {
    let mut planner = Planner {
        facts,
        plan: Plan::default(),
    };
    for finding in report.findings.iter().filter(|f| f.waived.is_none()) {
        let check = finding.check.as_str();
        if check == modes::SETUID.id && options.setuid {
            planner.setuid(finding);
        } else if (check == modes::WORLD_WRITABLE.id || check == modes::WORLD_WRITABLE_DIR.id)
            && options.world_writable
        {
            planner.world_writable(finding, policy);
        } else if SECRET_FILE_CHECKS.contains(&check) && options.secret_files {
            planner.secret_file(finding);
        } else if CACHE_CHECKS.contains(&check) && options.caches {
            planner.cache(finding);
        } else if check == secrets::IN_ENV.id || check == secrets::IN_LABEL.id {
            if options.strip_config_secrets {
                planner.config_secret(finding);
            } else {
                planner.plan.left.push(Left {
                    check: finding.check.clone(),
                    message: finding.message.clone(),
                    why: "the application may read it; --strip-config-secrets removes it".into(),
                });
            }
        }
    }
    if let Some(user) = &options.user {
        planner.user(user, options.force_user)?;
    }
    let mut plan = planner.plan;
    plan.changes.sort_by(|a, b| {
        (a.layer.is_none(), a.layer, &a.path, &a.config, &a.check).cmp(&(
            b.layer.is_none(),
            b.layer,
            &b.path,
            &b.config,
            &b.check,
        ))
    });
    Ok(plan)
}

struct Planner<'a> {
    facts: &'a ImageFacts,
    plan: Plan,
}

fn octal(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// A finding's path as the layers store it.
fn normal(finding_path: &str) -> String {
    finding_path.trim_start_matches('/').to_string()
}

impl Planner<'_> {
    /// Clears `bits` of the mode of `path` in `layer`, for `check`.
    fn clear_bits(&mut self, layer: usize, path: &str, bits: u32, check: &str) {
        self.change_bits(layer, path, 0, bits, check);
    }

    /// Sets `set` and clears `clear` in the mode of `path` in `layer`, for `check`.
    fn change_bits(&mut self, layer: usize, path: &str, set: u32, clear: u32, check: &str) {
        // A path listed twice is extracted as its last entry; the edit covers both.
        let facts = self.facts;
        let last = facts
            .reports
            .get(layer)
            .and_then(|r| r.entries.iter().rev().find(|e| e.path == path));
        let Some(entry) = last else {
            return;
        };
        let edits = self.plan.edits.entry(layer).or_default();
        let before = match edits.get(path) {
            Some(Edit::Remove) => return,
            Some(Edit::Mode(m)) => *m,
            None => entry.mode,
        };
        let after = (before | set) & !clear;
        if after == before {
            return;
        }
        edits.insert(path.to_string(), Edit::Mode(after));
        self.plan.changes.push(Change {
            check: check.to_string(),
            layer: Some(layer),
            path: Some(path::absolute(path)),
            config: None,
            before: format!("mode {}", octal(before)),
            after: format!("mode {}", octal(after)),
        });
    }

    /// Removes `path`, everything under it, and the hard links to what is removed, from
    /// `layer`, for `check`.
    fn remove(&mut self, layer: usize, path: &str, check: &str) {
        let Some(report) = self.facts.reports.get(layer) else {
            return;
        };
        let below = format!("{path}/");
        let mut gone: BTreeSet<&str> = BTreeSet::new();
        for entry in &report.entries {
            let linked =
                entry.kind == EntryKind::Hardlink && entry.link().is_some_and(|l| gone.contains(l));
            if entry.path == path || entry.path.starts_with(&below) || linked {
                gone.insert(&entry.path);
            }
        }
        for entry in report
            .entries
            .iter()
            .filter(|e| gone.contains(e.path.as_str()))
        {
            let edits = self.plan.edits.entry(layer).or_default();
            if edits.get(entry.path.as_str()) == Some(&Edit::Remove) {
                continue;
            }
            edits.insert(entry.path.to_string(), Edit::Remove);
            let before = match entry.kind {
                EntryKind::File => format!("file, {} bytes", entry.size),
                EntryKind::Hardlink => format!(
                    "hard link to {}",
                    path::absolute(entry.link().unwrap_or(""))
                ),
                kind => kind.as_str().to_string(),
            };
            self.plan.changes.push(Change {
                check: check.to_string(),
                layer: Some(layer),
                path: Some(path::absolute(&entry.path)),
                config: None,
                before,
                after: "removed".into(),
            });
        }
    }

    fn setuid(&mut self, finding: &Finding) {
        let (Some(at), Some(layer)) = (&finding.location.path, finding.location.layer) else {
            return;
        };
        // A hard link has its target's mode: the target's entry is the one to change.
        let target = finding
            .data
            .get("hardlink_to")
            .and_then(Value::as_str)
            .unwrap_or(at);
        self.clear_bits(layer, &normal(target), 0o6000, &finding.check);
    }

    fn world_writable(&mut self, finding: &Finding, policy: &Policy) {
        let (Some(at), Some(layer)) = (&finding.location.path, finding.location.layer) else {
            return;
        };
        let at = normal(at);
        self.clear_bits(layer, &at, 0o002, &finding.check);
        if finding.check != modes::WORLD_WRITABLE_DIR.id {
            return;
        }
        // The check reports an open directory once and counts what is open below it; once
        // the directory is closed, those would be reported one by one.
        let below = format!("{at}/");
        let allowed = &policy.params.world_writable_allowlist;
        let open: Vec<(usize, String)> = self
            .facts
            .fs
            .iter()
            .filter(|n| n.entry.path.starts_with(&below))
            .filter(|n| matches!(n.entry.kind, EntryKind::File | EntryKind::Dir))
            .filter(|n| n.entry.mode & 0o002 != 0)
            .filter(|n| !(n.entry.kind == EntryKind::Dir && n.entry.is_sticky()))
            .filter(|n| !allowed.matches(&n.entry.path))
            .map(|n| (n.layer, n.entry.path.to_string()))
            .collect();
        for (layer, path) in open {
            self.clear_bits(layer, &path, 0o002, &finding.check);
        }
    }

    fn secret_file(&mut self, finding: &Finding) {
        let mut paths: Vec<String> = finding.location.path.iter().map(|p| normal(p)).collect();
        if let Some(more) = finding.data.get("paths").and_then(Value::as_array) {
            paths.extend(more.iter().filter_map(Value::as_str).map(normal));
        }
        // Every layer whose scan found the secret there, visible or hidden by a later one.
        let mut targets: BTreeSet<(usize, String)> = BTreeSet::new();
        for (layer, report) in self.facts.reports.iter().enumerate() {
            for hit in report.secrets.iter().filter(|h| paths.contains(&h.path)) {
                for candidate in std::iter::once(&hit.path).chain(hit.anchor.as_ref()) {
                    let below = format!("{candidate}/");
                    if report
                        .entries
                        .iter()
                        .any(|e| e.path == *candidate || e.path.starts_with(&below))
                    {
                        targets.insert((layer, candidate.clone()));
                        break;
                    }
                }
            }
        }
        for (layer, target) in targets {
            self.remove(layer, &target, &finding.check);
        }
    }

    fn cache(&mut self, finding: &Finding) {
        let Some(root) = &finding.location.path else {
            return;
        };
        let below = format!("{}/", normal(root));
        let mut targets: BTreeSet<(usize, String)> = BTreeSet::new();
        for (layer, report) in self.facts.reports.iter().enumerate() {
            for entry in &report.entries {
                // The directories stay (apt and apk expect them), and so do apt's locks.
                if entry.path.starts_with(&below)
                    && entry.kind != EntryKind::Dir
                    && path::file_name(&entry.path) != "lock"
                {
                    targets.insert((layer, entry.path.to_string()));
                }
            }
        }
        for (layer, target) in targets {
            self.remove(layer, &target, &finding.check);
        }
    }

    fn config_secret(&mut self, finding: &Finding) {
        let Some(field) = &finding.location.config else {
            return;
        };
        let evidence = finding.evidence.clone().unwrap_or_default();
        if let Some(index) = field
            .strip_prefix("config.Env[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok())
        {
            if self.plan.env_removed.insert(index) {
                self.plan.changes.push(Change {
                    check: finding.check.clone(),
                    layer: None,
                    path: None,
                    config: Some(field.clone()),
                    before: evidence,
                    after: "removed".into(),
                });
            }
        } else if let Some(key) = field
            .strip_prefix("config.Labels[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|k| serde_json::from_str::<String>(k).ok())
            && self.plan.labels_removed.insert(key)
        {
            self.plan.changes.push(Change {
                check: finding.check.clone(),
                layer: None,
                path: None,
                config: Some(field.clone()),
                before: evidence,
                after: "removed".into(),
            });
        }
    }

    /// Runs the image as `spec` (a name or a uid) when it runs as root: the account is
    /// added in a new top layer when the image has none by that name or uid, and the
    /// WORKDIR, its parents and the program the image starts become readable by others.
    fn user(&mut self, spec: &str, force: bool) -> Result<(), HardenError> {
        let facts = self.facts;
        let refuse = |why: String| HardenError::User {
            user: spec.to_string(),
            why,
        };
        let passwd = facts.passwd().unwrap_or_default();
        let groups = facts.group().unwrap_or_default();
        let current = facts.config_user();
        let runs_as_root = current.is_empty()
            || crate::facts::accounts::resolve_runtime_user(current, &passwd, &groups)
                .is_some_and(|u| u.is_root());
        if !runs_as_root {
            self.plan.left.push(Left {
                check: crate::checks::user::ROOT.id.to_string(),
                message: format!("the image already runs as {current}"),
                why: "--user changes images that run as root".into(),
            });
            return Ok(());
        }
        let config = facts.meta.config.config().as_ref();
        if !force {
            let ports = config.and_then(|c| c.exposed_ports().as_ref());
            let privileged = ports.into_iter().flatten().find(|p| {
                p.split('/')
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n < 1024)
            });
            if let Some(port) = privileged {
                return Err(refuse(format!(
                    "refused: the image declares EXPOSE {port}, a port below 1024 that only \
                     root (or CAP_NET_BIND_SERVICE) can bind; --force-user sets the user anyway"
                )));
            }
        }
        let numeric = spec.parse::<u32>().ok();
        let existing = passwd
            .iter()
            .find(|p| numeric.map_or(p.name == spec, |uid| p.uid == uid));
        let uid = match existing {
            Some(p) => p.uid,
            None => {
                let taken = |name: &str| passwd.iter().any(|p| p.name == name);
                let name = match numeric {
                    Some(uid) if taken("app") => format!("user{uid}"),
                    Some(_) => "app".to_string(),
                    None => spec.to_string(),
                };
                if !valid_account_name(&name) {
                    return Err(refuse(
                        "not a valid user name (lower-case letters, digits, '_' and '-', \
                         starting with a letter or '_', at most 32)"
                            .into(),
                    ));
                }
                let free = |n: u32| {
                    !passwd.iter().any(|p| p.uid == n) && !groups.iter().any(|g| g.gid == n)
                };
                let uid = numeric.unwrap_or_else(|| (10001..).find(|&n| free(n)).unwrap_or(10001));
                let gid = if groups.iter().any(|g| g.gid == uid) {
                    (10001..).find(|&n| free(n)).unwrap_or(uid)
                } else {
                    uid
                };
                self.add_account(&name, uid, gid)?;
                uid
            }
        };
        if uid == 0 {
            return Err(refuse("is root (uid 0)".into()));
        }
        let check = crate::checks::user::ROOT.id;
        self.plan.changes.push(Change {
            check: check.to_string(),
            layer: None,
            path: None,
            config: Some("config.User".into()),
            before: if current.is_empty() {
                "(unset: root)".into()
            } else {
                current.to_string()
            },
            after: spec.to_string(),
        });
        self.plan.config_user = Some(spec.to_string());

        // The user must reach the WORKDIR and the program the image starts.
        let mut readable: Vec<String> = Vec::new();
        if let Some(dir) = config.and_then(|c| c.working_dir().as_deref()) {
            let dir = normal(dir);
            if !dir.is_empty() {
                readable.push(dir);
            }
        }
        let program = config.and_then(|c| {
            c.entrypoint()
                .as_ref()
                .and_then(|e| e.first())
                .or_else(|| c.cmd().as_ref().and_then(|c| c.first()))
        });
        if let Some(program) = program.filter(|p| p.starts_with('/')) {
            readable.push(normal(program));
        }
        let removed: BTreeSet<(usize, String)> = self
            .plan
            .edits
            .iter()
            .flat_map(|(layer, edits)| {
                edits
                    .iter()
                    .filter(|(_, e)| **e == Edit::Remove)
                    .map(move |(p, _)| (*layer, p.clone()))
            })
            .collect();
        let mut grant: BTreeMap<(usize, String), u32> = BTreeMap::new();
        for root in &readable {
            let Some((resolved, _)) = facts.fs.resolve(root) else {
                continue;
            };
            let below = format!("{resolved}/");
            // Every parent must be searchable.
            let mut parent = path::parent(&resolved);
            while !parent.is_empty() {
                if let Some(node) = facts.fs.iter().find(|n| n.entry.path == parent) {
                    *grant.entry((node.layer, parent.to_string())).or_default() |= 0o001;
                }
                parent = path::parent(parent);
            }
            for node in facts.fs.iter() {
                let e = &node.entry;
                if e.path != resolved && !e.path.starts_with(&below) {
                    continue;
                }
                if u64::from(e.uid) == u64::from(uid)
                    || removed.contains(&(node.layer, e.path.to_string()))
                {
                    continue;
                }
                let bits = match e.kind {
                    EntryKind::Dir => 0o005,
                    EntryKind::File if e.mode & 0o100 != 0 => 0o005,
                    EntryKind::File => 0o004,
                    _ => continue,
                };
                *grant.entry((node.layer, e.path.to_string())).or_default() |= bits;
            }
        }
        for ((layer, path), bits) in grant {
            self.change_bits(layer, &path, bits, 0, check);
        }
        Ok(())
    }

    /// The new top layer's /etc/passwd and /etc/group (and /etc/shadow and /etc/gshadow,
    /// when the image has them) with `name` added, and its home directory.
    fn add_account(&mut self, name: &str, uid: u32, gid: u32) -> Result<(), HardenError> {
        let facts = self.facts;
        let new_layer = facts.layers.len();
        let check = crate::checks::user::ROOT.id;
        let shell = ["usr/sbin/nologin", "sbin/nologin", "bin/false"]
            .into_iter()
            .find(|p| facts.fs.resolve(p).is_some())
            .map_or_else(|| "/sbin/nologin".to_string(), path::absolute);
        let lines = [
            (
                "etc/passwd",
                format!("{name}:x:{uid}:{gid}::/home/{name}:{shell}"),
                (0o644, 0),
            ),
            ("etc/group", format!("{name}:x:{gid}:"), (0o644, 0)),
            ("etc/shadow", format!("{name}:!:::::::"), (0o640, 42)),
            ("etc/gshadow", format!("{name}:!::"), (0o640, 42)),
        ];
        for (file, line, (mode, group)) in lines {
            let exists = facts.fs.resolve(file).map(|(_, node)| node.entry.clone());
            // The shadow files get the account, locked as `useradd` locks it, only where the
            // image keeps them.
            if file.ends_with("shadow") && exists.is_none() {
                continue;
            }
            let mut content = match (&exists, facts.read_file(file)) {
                (Some(_), Some(data)) => data.to_vec(),
                (None, _) => Vec::new(),
                (Some(_), None) => {
                    return Err(HardenError::User {
                        user: name.to_string(),
                        why: format!("/{file} could not be read to add the account to it"),
                    });
                }
            };
            if !content.is_empty() && !content.ends_with(b"\n") {
                content.push(b'\n');
            }
            content.extend_from_slice(line.as_bytes());
            content.push(b'\n');
            let (mode, uid_of, gid_of) = exists
                .as_ref()
                .filter(|e| e.kind == EntryKind::File)
                .map_or((mode, 0, group), |e| (e.mode, e.uid, e.gid));
            self.plan.new_layer.push(NewEntry {
                path: file.to_string(),
                mode,
                uid: u64::from(uid_of),
                gid: u64::from(gid_of),
                content: Some(content),
            });
            self.plan.changes.push(Change {
                check: check.to_string(),
                layer: Some(new_layer),
                path: Some(path::absolute(file)),
                config: None,
                before: "(no such account)".into(),
                after: format!("added {line}"),
            });
        }
        if facts.fs.resolve("home").is_none() {
            self.plan.new_layer.push(NewEntry {
                path: "home".into(),
                mode: 0o755,
                uid: 0,
                gid: 0,
                content: None,
            });
        }
        self.plan.new_layer.push(NewEntry {
            path: format!("home/{name}"),
            mode: 0o750,
            uid: u64::from(uid),
            gid: u64::from(gid),
            content: None,
        });
        self.plan.changes.push(Change {
            check: check.to_string(),
            layer: Some(new_layer),
            path: Some(format!("/home/{name}")),
            config: None,
            before: "absent".into(),
            after: format!("directory, mode 0750, owner {uid}:{gid}"),
        });
        Ok(())
    }
}

/// A name `useradd` accepts: `[a-z_][a-z0-9_-]*`, at most 32 characters.
fn valid_account_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Where [`build`] reads the input's layer blobs.
pub enum InputBlobs {
    /// Under the assembly directory, kept by the scan as it read them.
    Kept,
    /// From the image's own files (a layout directory, an uncompressed archive), read again.
    Source(Reopen),
}

/// The new image: its identity and, per layer, where it came from.
#[derive(Debug, Clone)]
pub struct Hardened {
    pub written: Written,
    /// Untouched layers that are not in the assembly directory: an archive output copies
    /// them from [`InputBlobs::Source`] (see [`write::Elsewhere`]).
    pub elsewhere: Vec<LayerBlob>,
    /// The input image's manifest digest, or its config digest when it has no manifest (a
    /// classic `docker save` archive).
    pub base_digest: String,
    /// The new image's layers, in order.
    pub layers: Vec<HardenedLayer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HardenedLayer {
    pub digest: String,
    pub diff_id: String,
    /// The input layer it was made from, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<usize>,
    /// Whether its blob differs from the input's.
    pub rewritten: bool,
}

/// The digest a hardened image names as its base.
pub fn base_digest(facts: &ImageFacts) -> String {
    facts
        .meta
        .manifest_digest
        .clone()
        .unwrap_or_else(|| facts.meta.config_digest.clone())
}

fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
    }
}

/// Writes the hardened image into `root` and assembles it for `dest`, reading the input's
/// layer blobs from `input` (as [`Gate::read_keeping`](crate::Gate::read_keeping) left
/// them). Rewritten layers are read within `limits`, as the scan read them. Untouched layers
/// read from the input's own files stay there for an archive output, which copies them into
/// itself ([`Hardened::elsewhere`]); any other output gets a copy of them in `root`.
pub fn build(
    facts: &ImageFacts,
    plan: &Plan,
    root: &Path,
    input: &InputBlobs,
    dest: &Destination,
    limits: Limits,
) -> Result<Hardened, HardenError> {
    let budget = Budget::new(limits);
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let mut elsewhere = Vec::new();
    for (index, layer) in facts.layers.iter().enumerate() {
        let Some(edits) = plan.edits.get(&index) else {
            let blob = LayerBlob {
                digest: layer.digest.clone(),
                size: layer.size,
                media_type: layer_media_type(layer.compression).to_string(),
            };
            match input {
                InputBlobs::Kept => {}
                InputBlobs::Source(_) if dest.is_archive() => elsewhere.push(blob.clone()),
                InputBlobs::Source(source) => write::copy_blob(source, &blob, root)?,
            }
            blobs.push(blob);
            layers.push(HardenedLayer {
                digest: layer.digest.clone(),
                diff_id: layer.diff_id.clone(),
                input: Some(index),
                rewritten: false,
            });
            continue;
        };
        portcullis_interrupt::stage("rewriting a layer");
        let layer_error = |source: LayerError| HardenError::Layer {
            layer: index,
            digest: layer.digest.clone(),
            source,
        };
        let source: Box<dyn std::io::Read + Send> = match input {
            InputBlobs::Kept => {
                let path = blob_file(root, &layer.digest);
                Box::new(std::fs::File::open(&path).map_err(|e| HardenError::Io {
                    what: path.display().to_string(),
                    source: e,
                })?)
            }
            InputBlobs::Source(source) => source.open_blob(&layer.digest)?,
        };
        let dir = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).map_err(|e| HardenError::Io {
            what: dir.display().to_string(),
            source: e,
        })?;
        let out = tempfile::NamedTempFile::new_in(&dir).map_err(|e| HardenError::Io {
            what: dir.display().to_string(),
            source: e,
        })?;
        // The blob read now must be the one scanned: hashed here, to its end.
        let mut read = HashingReader::new(source, layer.size, "the layer blob");
        let done = rewrite::rewrite_layer(
            std::io::BufReader::with_capacity(256 << 10, &mut read),
            layer.size.saturating_add(1),
            edits,
            std::io::BufWriter::new(out.as_file()),
            &budget,
        )
        .map_err(layer_error)?;
        std::io::copy(&mut read, &mut std::io::sink())
            .map_err(|e| layer_error(LayerError::Read(e)))?;
        let (digest, size) = read.finish();
        if digest != layer.digest || size != layer.size {
            return Err(HardenError::Image(ImageError::DigestMismatch {
                what: format!("layer {index} read again to rewrite it"),
                expected: layer.digest.clone(),
                actual: digest,
            }));
        }
        out.persist(blob_file(root, &done.digest))
            .map_err(|e| HardenError::Io {
                what: dir.display().to_string(),
                source: e.error,
            })?;
        blobs.push(LayerBlob {
            digest: done.digest.clone(),
            size: done.size,
            media_type: layer_media_type(Compression::Gzip).to_string(),
        });
        layers.push(HardenedLayer {
            digest: done.digest,
            diff_id: done.diff_id,
            input: Some(index),
            rewritten: true,
        });
    }
    if !plan.new_layer.is_empty() {
        let (blob, _, diff_id) =
            rewrite::new_layer(&plan.new_layer).map_err(|source| HardenError::Io {
                what: "the new layer".into(),
                source,
            })?;
        let (digest, size) = write::put_blob(root, &blob)?;
        blobs.push(LayerBlob {
            digest: digest.clone(),
            size,
            media_type: layer_media_type(Compression::Gzip).to_string(),
        });
        layers.push(HardenedLayer {
            digest,
            diff_id,
            input: None,
            rewritten: true,
        });
    }
    portcullis_interrupt::stage("writing the image");
    let base = base_digest(facts);
    let config = new_config(facts, plan, &layers, &base);
    let annotations = BTreeMap::from([(BASE_DIGEST.to_string(), base.clone())]);
    let outside = match input {
        InputBlobs::Source(source) if !elsewhere.is_empty() => Some(write::Elsewhere {
            source,
            blobs: elsewhere.clone(),
        }),
        _ => None,
    };
    let written = write::assemble(
        root,
        dest,
        &write::to_bytes(&config),
        &blobs,
        &annotations,
        outside.as_ref(),
    )?;
    Ok(Hardened {
        written,
        elsewhere,
        base_digest: base,
        layers,
    })
}

/// The input's config with the plan applied: new diff_ids, the history naming what changed,
/// the base digest label, and the config fields the plan removes.
fn new_config(facts: &ImageFacts, plan: &Plan, layers: &[HardenedLayer], base: &str) -> Value {
    let mut config = serde_json::to_value(&facts.meta.config).unwrap_or_else(|_| json!({}));
    if !config.is_object() {
        config = json!({});
    }
    let mut inner = match config.get("config") {
        Some(Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    if let Ok(Value::Object(extras)) = serde_json::to_value(&facts.meta.config_extras) {
        inner.extend(extras);
    }
    if let Some(Value::Array(env)) = inner.get_mut("Env") {
        let kept: Vec<Value> = env
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.env_removed.contains(i))
            .map(|(_, v)| v.clone())
            .collect();
        *env = kept;
    }
    let labels = inner.entry("Labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Value::Object(labels) = labels {
        for key in &plan.labels_removed {
            labels.remove(key);
        }
        labels.insert(BASE_DIGEST.to_string(), json!(base));
    }
    config["config"] = Value::Object(inner);
    config["rootfs"] = json!({
        "type": "layers",
        "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
    });

    let mut history: Vec<Value> = match config.get("history") {
        Some(Value::Array(h)) => h.clone(),
        _ => Vec::new(),
    };
    let steps = history::layer_steps(&facts.meta.config, facts.layers.len());
    for index in plan.rewritten_layers() {
        let summary = layer_summary(plan, index);
        match steps.get(index).and_then(|&i| history.get_mut(i)) {
            Some(Value::Object(step)) => {
                let comment = match step.get("comment").and_then(Value::as_str) {
                    Some(old) if !old.is_empty() => format!("{old}; {CREATED_BY}: {summary}"),
                    _ => format!("{CREATED_BY}: {summary}"),
                };
                step.insert("comment".into(), json!(comment));
            }
            _ => history.push(json!({
                "created_by": CREATED_BY,
                "comment": format!("layer {index}: {summary}"),
                "empty_layer": true,
            })),
        }
    }
    if let Some(user) = &plan.config_user {
        inner_user(&mut config, user);
        if !plan.new_layer.is_empty() {
            history.push(json!({
                "created_by": format!("{CREATED_BY} --user {user}"),
                "comment": "the account of the user the image runs as",
            }));
        }
    }
    let config_changes = plan.changes.iter().filter(|c| c.layer.is_none()).count();
    history.push(json!({
        "created_by": CREATED_BY,
        "comment": format!(
            "{} change{} from {} ({} layer{} rewritten, {} config field{} changed)",
            plan.changes.len(),
            if plan.changes.len() == 1 { "" } else { "s" },
            base,
            plan.edits.len(),
            if plan.edits.len() == 1 { "" } else { "s" },
            config_changes,
            if config_changes == 1 { "" } else { "s" },
        ),
        "empty_layer": true,
    }));
    config["history"] = Value::Array(history);
    config
}

fn inner_user(config: &mut Value, user: &str) {
    if let Some(Value::Object(inner)) = config.get_mut("config") {
        inner.insert("User".into(), json!(user));
    }
}

/// `removed 2 files, changed the mode of 1` for the changes to one layer.
fn layer_summary(plan: &Plan, layer: usize) -> String {
    let edits = plan.edits.get(&layer);
    let removed = edits.map_or(0, |e| e.values().filter(|e| **e == Edit::Remove).count());
    let modes = edits.map_or(0, |e| e.len()) - removed;
    let mut parts = Vec::new();
    if removed > 0 {
        parts.push(format!(
            "removed {removed} entr{}",
            if removed == 1 { "y" } else { "ies" }
        ));
    }
    if modes > 0 {
        parts.push(format!(
            "changed the mode of {modes} entr{}",
            if modes == 1 { "y" } else { "ies" }
        ));
    }
    parts.join(", ")
}
