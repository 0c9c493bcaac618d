//! The `config` family: what the image config and its history say about how the image was
//! built and how it will run.
//!
//! Everything here reads the config alone, never layer contents, so [`assess_config`] can
//! judge a bare `ImageConfiguration` (Dockle's manifest assessor does the same). The history
//! is a record of Dockerfile steps, read with the heuristics of [`super::history`].

use super::history::{self, AddSource};
use super::{Check, Family, Reference, hygiene, user};
use crate::facts::ImageFacts;
use crate::policy::{Policy, Severity};
use oci_spec::image::ImageConfiguration;
use portcullis_image::reference::{ImageRef, Selector};
use portcullis_model::Finding;
use portcullis_model::image::{DockerConfigExtras, ImageMeta, Transport};
use serde::{Deserialize, Serialize};

pub static NO_HEALTHCHECK: Check = Check {
    id: "config-no-healthcheck",
    family: "config",
    title: "No HEALTHCHECK",
    severity: Severity::Low,
    description: "The image config has no HEALTHCHECK (or disables an inherited one with \
        `HEALTHCHECK NONE`). Docker and Swarm then cannot tell a hung service from a healthy \
        one, and restart policies never fire for it.",
    remediation: "Add a `HEALTHCHECK CMD ...` that exercises the service (an HTTP probe, a \
        client ping). Kubernetes ignores it; there, define liveness and readiness probes \
        instead and waive this check.",
    references: &[Reference::Cis("4.6"), Reference::Dockle("CIS-DI-0006")],
};

pub static EXPOSE_SSH: Check = Check {
    id: "config-expose-ssh",
    family: "config",
    title: "EXPOSE 22",
    severity: Severity::Medium,
    description: "The image exposes port 22, the SSH port. A container is reached with \
        `docker exec` or `kubectl exec`; an SSH daemon inside it is another service to patch, \
        another set of credentials to leak and another way in.",
    remediation: "Remove `EXPOSE 22` and the SSH server; use `docker exec`/`kubectl exec` \
        for access.",
    references: &[Reference::Cis("5.6")],
};

pub static SENSITIVE_VOLUME: Check = Check {
    id: "config-sensitive-volume",
    family: "config",
    title: "VOLUME on /proc, /sys or /dev",
    severity: Severity::Medium,
    description: "The config declares a VOLUME on /proc, /sys or /dev (or below them). These \
        paths are the kernel's interfaces; a volume there either breaks the container or, \
        when an operator satisfies it with a bind mount, hands the host's kernel interfaces \
        to the container.",
    remediation: "Remove the VOLUME instruction; let the runtime mount these paths.",
    references: &[Reference::Dockle("DKL-DI-0002")],
};

pub static LATEST_TAG: Check = Check {
    id: "config-latest-tag",
    family: "config",
    title: "Image referenced by the latest tag",
    severity: Severity::Low,
    description: "The image was named by the `latest` tag, or by a name without a tag (which \
        means `latest`). The tag moves: what was scanned is not necessarily what a later pull \
        of the same reference runs.",
    remediation: "Reference images by an immutable version tag or, better, by digest \
        (`name@sha256:...`).",
    references: &[Reference::Dockle("DKL-DI-0006")],
};

pub static ADD_REMOTE: Check = Check {
    id: "config-add-remote",
    family: "config",
    title: "ADD fetches a URL without a checksum",
    severity: Severity::Medium,
    description: "A Dockerfile step ADDs content from a URL (or a git repository) at build \
        time without `--checksum`. Nothing pins what the server returned, so a compromised or \
        changed download goes into the image unnoticed.",
    remediation: "Download with `RUN curl ... && sha256sum -c` (or `ADD --checksum=sha256:...`), \
        or COPY a file fetched and verified outside the build.",
    references: &[
        Reference::Cis("4.9"),
        Reference::Dockle("CIS-DI-0009"),
        Reference::Cwe(494),
    ],
};

pub static ADD_INSTEAD_OF_COPY: Check = Check {
    id: "config-add-instead-of-copy",
    family: "config",
    title: "ADD used instead of COPY",
    severity: Severity::Low,
    description: "A Dockerfile step after the base image's root filesystem uses ADD for local \
        content. ADD silently unpacks archives (whatever paths they hold) and fetches URLs; \
        COPY does only what it says.",
    remediation: "Use COPY for files and directories; unpack archives explicitly in a RUN \
        step when that is what you mean.",
    references: &[Reference::Cis("4.9"), Reference::Dockle("CIS-DI-0009")],
};

pub static APT_UPDATE_ALONE: Check = Check {
    id: "config-apt-update-alone",
    family: "config",
    title: "apt-get update alone in a step",
    severity: Severity::Medium,
    description: "A step runs `apt-get update` without installing anything after it. The \
        refreshed package lists are frozen into that layer's build cache, and later steps \
        install from them long after they went stale, missing security updates.",
    remediation: "Run `apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*` \
        in one RUN step.",
    references: &[Reference::Cis("4.7"), Reference::Dockle("CIS-DI-0007")],
};

pub static DIST_UPGRADE: Check = Check {
    id: "config-dist-upgrade",
    family: "config",
    title: "apt-get dist-upgrade in a step",
    severity: Severity::Low,
    description: "A step runs `apt-get dist-upgrade` (or `full-upgrade`), which may add and \
        remove packages and move the image off the base distribution's release, so the image \
        no longer matches what its base image was tested as.",
    remediation: "Rebuild on a fresh base image instead; if packages must be upgraded, use \
        `apt-get upgrade` or upgrade the named packages only.",
    references: &[Reference::Dockle("DKL-DI-0003")],
};

pub static PROVENANCE_LABELS: Check = Check {
    id: "config-provenance-labels",
    family: "config",
    title: "Provenance labels missing or empty",
    severity: Severity::Info,
    description: "Some `org.opencontainers.image.*` labels that say where the image comes from \
        (source repository, revision, version, creation time) are missing or empty. Without them \
        a finding cannot be traced back to the commit that needs fixing.",
    remediation: "Set the labels at build time, e.g. `docker buildx build --label \
        org.opencontainers.image.source=... --label org.opencontainers.image.revision=$(git \
        rev-parse HEAD)`, or with docker/metadata-action in CI.",
    references: &[Reference::Url(
        "https://github.com/opencontainers/image-spec/blob/main/annotations.md",
    )],
};

pub static FAMILY: Family = Family {
    name: "config",
    checks: &[
        &NO_HEALTHCHECK,
        &EXPOSE_SSH,
        &SENSITIVE_VOLUME,
        &LATEST_TAG,
        &ADD_REMOTE,
        &ADD_INSTEAD_OF_COPY,
        &APT_UPDATE_ALONE,
        &DIST_UPGRADE,
        &PROVENANCE_LABELS,
    ],
    run,
};

/// Labels expected on every image (`config-provenance-labels`).
pub const REQUIRED_LABELS: &[&str] = &[
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
];

/// Paths a VOLUME must not be on or below (`config-sensitive-volume`).
pub const SENSITIVE_VOLUMES: &[&str] = &["/proc", "/sys", "/dev"];

/// This family's parameters, `[params.config]` in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Labels every image must carry (`config-provenance-labels`).
    pub required_labels: Vec<String>,
    /// Image paths a VOLUME must not be on or below (`config-sensitive-volume`).
    pub sensitive_volumes: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            required_labels: REQUIRED_LABELS.iter().map(|s| s.to_string()).collect(),
            sensitive_volumes: SENSITIVE_VOLUMES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn run(facts: &ImageFacts, policy: &Policy) -> Vec<Finding> {
    run_with(facts, &policy.params.config)
}

pub fn run_with(facts: &ImageFacts, params: &Params) -> Vec<Finding> {
    let mut findings = check_config(&facts.meta.config, &facts.meta.config_extras, params);
    findings.extend(latest_tag(&facts.meta));
    findings
}

/// Everything portcullis can say about an image from its config alone: this family's config
/// checks, whether it runs as root, and the package caches its history suggests it leaves
/// behind (a full scan measures those on the filesystem instead), with the policy's
/// `[params.config]`.
pub fn assess_config(
    config: &ImageConfiguration,
    extras: &DockerConfigExtras,
    policy: &Policy,
) -> Vec<Finding> {
    let mut findings = user::root_by_config(config_user(config));
    findings.extend(check_config(config, extras, &policy.params.config));
    findings.extend(hygiene::history_hints(config));
    findings
}

fn config_user(config: &ImageConfiguration) -> &str {
    config
        .config()
        .as_ref()
        .and_then(|c| c.user().as_deref())
        .unwrap_or("")
}

/// This family's checks that read only the config.
pub fn check_config(
    config: &ImageConfiguration,
    extras: &DockerConfigExtras,
    params: &Params,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(healthcheck(extras));
    findings.extend(exposed_ssh(config));
    findings.extend(sensitive_volumes(config, params));
    findings.extend(history_steps(config));
    findings.extend(provenance(config, params));
    findings
}

fn healthcheck(extras: &DockerConfigExtras) -> Option<Finding> {
    let test = extras
        .healthcheck
        .as_ref()
        .and_then(|h| h.test.as_deref())
        .unwrap_or_default();
    match test.first().map(String::as_str) {
        None => Some(
            NO_HEALTHCHECK
                .finding("the image config defines no HEALTHCHECK")
                .in_config("config.Healthcheck"),
        ),
        Some("NONE") => Some(
            NO_HEALTHCHECK
                .finding("HEALTHCHECK NONE disables the health check")
                .in_config("config.Healthcheck")
                .with_evidence("NONE")
                .with_data("disabled", true),
        ),
        Some(_) => None,
    }
}

fn exposed_ssh(config: &ImageConfiguration) -> Option<Finding> {
    let ports = config.config().as_ref()?.exposed_ports().as_ref()?;
    let port = ports.iter().find(|p| {
        let (number, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        number.trim() == "22" && proto.eq_ignore_ascii_case("tcp")
    })?;
    Some(
        EXPOSE_SSH
            .finding(format!("the image exposes {port}, the SSH port"))
            .in_config("config.ExposedPorts")
            .with_evidence(port.clone()),
    )
}

fn normalize_volume(volume: &str) -> String {
    let trimmed = volume.trim().trim_end_matches('/');
    let parts: Vec<&str> = trimmed
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn sensitive_volumes(config: &ImageConfiguration, params: &Params) -> Vec<Finding> {
    let Some(volumes) = config.config().as_ref().and_then(|c| c.volumes().as_ref()) else {
        return Vec::new();
    };
    let mut volumes: Vec<&String> = volumes.iter().collect();
    volumes.sort();
    volumes
        .into_iter()
        .filter_map(|volume| {
            let path = normalize_volume(volume);
            let under = params.sensitive_volumes.iter().find(|dir| {
                let dir = dir.trim_end_matches('/');
                path == dir || path.starts_with(&format!("{dir}/"))
            })?;
            Some(
                SENSITIVE_VOLUME
                    .finding(format!("VOLUME {volume} is on {under}"))
                    .in_config("config.Volumes")
                    .with_evidence(volume.clone()),
            )
        })
        .collect()
}

fn history_steps(config: &ImageConfiguration) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen_add = false;
    for step in history::steps(config) {
        let field = history::field(step.index);
        let command = step.created_by;
        if let Some(sources) = history::add_sources(command) {
            // The first ADD is the base image's root filesystem (`ADD rootfs.tar /`).
            let base = !seen_add;
            seen_add = true;
            let remote = sources.contains(&AddSource::Remote { checksum: false });
            if remote {
                findings.push(
                    ADD_REMOTE
                        .finding(format!(
                            "history step {} ADDs from a URL without --checksum",
                            step.index
                        ))
                        .in_config(field.clone())
                        .with_evidence(command),
                );
            } else if !base {
                let kinds: Vec<&str> = sources.iter().map(|s| s.as_str()).collect();
                let archive = sources.contains(&AddSource::Archive);
                findings.push(
                    ADD_INSTEAD_OF_COPY
                        .finding(if archive {
                            format!(
                                "history step {} ADDs an archive, which ADD unpacks",
                                step.index
                            )
                        } else {
                            format!("history step {} uses ADD where COPY would do", step.index)
                        })
                        .in_config(field.clone())
                        .with_evidence(command)
                        .with_data("sources", kinds),
                );
            }
            continue;
        }
        if history::apt_update_alone(command) {
            findings.push(
                APT_UPDATE_ALONE
                    .finding(format!(
                        "history step {} runs apt-get update without an install after it",
                        step.index
                    ))
                    .in_config(field.clone())
                    .with_evidence(command),
            );
        }
        if history::dist_upgrade(command) {
            findings.push(
                DIST_UPGRADE
                    .finding(format!("history step {} runs a dist-upgrade", step.index))
                    .in_config(field)
                    .with_evidence(command),
            );
        }
    }
    findings
}

fn provenance(config: &ImageConfiguration, params: &Params) -> Option<Finding> {
    let labels = config.config().as_ref().and_then(|c| c.labels().as_ref());
    let value = |key: &str| labels.and_then(|l| l.get(key)).map(|v| v.trim());
    let missing: Vec<&str> = params
        .required_labels
        .iter()
        .map(String::as_str)
        .filter(|k| value(k).is_none())
        .collect();
    let mut empty: Vec<&str> = labels
        .into_iter()
        .flatten()
        .filter(|(k, v)| k.starts_with("org.opencontainers.image.") && v.trim().is_empty())
        .map(|(k, _)| k.as_str())
        .collect();
    empty.sort_unstable();
    if missing.is_empty() && empty.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing: {}", missing.join(", ")));
    }
    if !empty.is_empty() {
        parts.push(format!("empty: {}", empty.join(", ")));
    }
    Some(
        PROVENANCE_LABELS
            .finding(format!("provenance labels {}", parts.join("; ")))
            .in_config("config.Labels")
            .with_data("missing", missing)
            .with_data("empty", empty),
    )
}

/// How the image was named, when it was named by a tag that moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovingTag {
    /// The name as the reference gave it.
    pub name: String,
    /// `true` when no tag was given (and `latest` is implied).
    pub implicit: bool,
}

/// Whether `reference` names the image by `latest` or by a name without a tag. References
/// by path, by digest or by index are not names and never match. `transport` says how an
/// archive or layout selector is read: a docker archive's `NAME[:TAG]` or an OCI ref name
/// (usually a bare tag).
pub fn moving_tag(reference: &str, transport: Transport) -> Option<MovingTag> {
    let named = match ImageRef::parse(reference).ok()? {
        ImageRef::DockerArchive { selector, .. }
        | ImageRef::OciArchive { selector, .. }
        | ImageRef::OciLayout { selector, .. }
        | ImageRef::Local { selector, .. } => match selector? {
            Selector::Name(name) => name,
            Selector::Digest(_) | Selector::Index(_) => return None,
        },
        ImageRef::DockerDaemon { name } => name,
        ImageRef::Registry { reference } => reference,
    };
    if named.contains('@') || named.starts_with("sha256:") {
        return None;
    }
    let oci_ref_name = matches!(transport, Transport::OciLayout | Transport::OciArchive);
    let last = named.rsplit('/').next().unwrap_or(&named);
    let tag = match last.rsplit_once(':') {
        Some((_, tag)) => Some(tag),
        None if oci_ref_name => Some(last),
        None => None,
    };
    match tag {
        Some("latest") => Some(MovingTag {
            name: named,
            implicit: false,
        }),
        Some(_) => None,
        None => Some(MovingTag {
            name: named,
            implicit: true,
        }),
    }
}

fn latest_tag(meta: &ImageMeta) -> Option<Finding> {
    let tag = moving_tag(&meta.reference, meta.transport)?;
    let why = if tag.implicit {
        format!("{:?} has no tag, so it means latest", tag.name)
    } else {
        format!("{:?} uses the latest tag", tag.name)
    };
    Some(LATEST_TAG.finding(why).with_evidence(tag.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> (ImageConfiguration, DockerConfigExtras) {
        let mut full = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        if let (Some(full), Some(extra)) = (full.as_object_mut(), json.as_object()) {
            full.extend(extra.clone());
        }
        let data = serde_json::to_vec(&full).unwrap();
        portcullis_image::resolve::parse_config(&data, "test").unwrap()
    }

    fn ids(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.check.as_str()).collect()
    }

    #[test]
    fn healthcheck_missing_disabled_or_present() {
        let (c, e) = config(serde_json::json!({"config": {}}));
        assert_eq!(
            ids(&check_config(&c, &e, &Params::default())),
            vec!["config-no-healthcheck", "config-provenance-labels"]
        );
        let (_, e) = config(serde_json::json!({"config": {"Healthcheck": {"Test": ["NONE"]}}}));
        assert_eq!(healthcheck(&e).unwrap().data["disabled"], true);
        let (_, e) =
            config(serde_json::json!({"config": {"Healthcheck": {"Test": ["CMD", "true"]}}}));
        assert!(healthcheck(&e).is_none());
    }

    #[test]
    fn ports_volumes_and_labels() {
        let (c, _) = config(serde_json::json!({"config": {
            "ExposedPorts": {"22/tcp": {}, "80/tcp": {}},
            "Volumes": {"/data": {}, "/proc/": {}, "/sys/fs/cgroup": {}, "/device": {}},
            "Labels": {
                "org.opencontainers.image.source": "https://example.com/r",
                "org.opencontainers.image.revision": " ",
                "org.opencontainers.image.version": "1",
                "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
            },
        }}));
        assert!(exposed_ssh(&c).is_some());
        let volumes: Vec<_> = sensitive_volumes(&c, &Params::default())
            .into_iter()
            .map(|f| f.evidence.unwrap())
            .collect();
        assert_eq!(volumes, vec!["/proc/", "/sys/fs/cgroup"]);
        let labels = provenance(&c, &Params::default()).unwrap();
        assert_eq!(labels.data["missing"], serde_json::json!([]));
        assert_eq!(
            labels.data["empty"],
            serde_json::json!(["org.opencontainers.image.revision"])
        );

        let (c, _) =
            config(serde_json::json!({"config": {"ExposedPorts": {"2222/tcp": {}, "22/udp": {}}}}));
        assert!(exposed_ssh(&c).is_none());
    }

    #[test]
    fn the_policy_decides_the_required_labels_and_the_sensitive_volumes() {
        let (c, e) = config(serde_json::json!({"config": {
            "Volumes": {"/proc": {}, "/var/lib/docker": {}},
            "Labels": {"com.example.team": "payments"},
        }}));
        let default = Policy::default();
        let found = assess_config(&c, &e, &default);
        let labels = found
            .iter()
            .find(|f| f.check == PROVENANCE_LABELS.id)
            .unwrap();
        assert_eq!(labels.data["missing"].as_array().unwrap().len(), 4);
        let volumes: Vec<_> = sensitive_volumes(&c, &default.params.config)
            .into_iter()
            .map(|f| f.evidence.unwrap())
            .collect();
        assert_eq!(volumes, vec!["/proc"]);

        let mut own = Policy::default();
        own.params.config.required_labels = vec!["com.example.team".into()];
        own.params.config.sensitive_volumes = vec!["/var/lib/docker/".into()];
        let found = assess_config(&c, &e, &own);
        assert!(!ids(&found).contains(&PROVENANCE_LABELS.id));
        let volumes: Vec<_> = found
            .iter()
            .filter(|f| f.check == SENSITIVE_VOLUME.id)
            .map(|f| f.evidence.clone().unwrap())
            .collect();
        assert_eq!(volumes, vec!["/var/lib/docker"]);
    }

    #[test]
    fn add_steps_after_the_base_root_filesystem() {
        let (c, _) = config(serde_json::json!({"history": [
            {"created_by": "/bin/sh -c #(nop)  ARG RELEASE", "empty_layer": true},
            {"created_by": "/bin/sh -c #(nop) ADD file:262490 in / "},
            {"created_by": "ADD https://example.com/x.sh /x.sh # buildkit"},
            {"created_by": "ADD --checksum=sha256:00 https://example.com/y /y # buildkit"},
            {"created_by": "ADD vendor.tar.gz /opt/ # buildkit"},
            {"created_by": "COPY . /app # buildkit"},
        ]}));
        let found = history_steps(&c);
        assert_eq!(
            ids(&found),
            vec![
                "config-add-remote",
                "config-add-instead-of-copy",
                "config-add-instead-of-copy"
            ]
        );
        assert_eq!(
            found[0].location.config.as_deref(),
            Some("history[2].created_by")
        );
        assert_eq!(found[2].data["sources"], serde_json::json!(["archive"]));
    }

    #[test]
    fn moving_tags_only_for_names() {
        use Transport::*;
        let t = |r: &str, tr| moving_tag(r, tr).map(|m| m.implicit);
        assert_eq!(
            t("docker://registry.example:5000/app", Registry),
            Some(true)
        );
        assert_eq!(
            t("docker://registry.example:5000/app:latest", Registry),
            Some(false)
        );
        assert_eq!(t("docker://app:1.2", Registry), None);
        assert_eq!(t("docker://app@sha256:abcd", Registry), None);
        assert_eq!(t("docker-daemon:app:latest", DockerDaemon), Some(false));
        assert_eq!(
            t(
                "docker-archive:/nonexistent/a.tar:app:latest",
                DockerArchive
            ),
            Some(false)
        );
        assert_eq!(
            t("docker-archive:/nonexistent/a.tar:app", DockerArchive),
            Some(true)
        );
        assert_eq!(
            t("docker-archive:/nonexistent/a.tar:@0", DockerArchive),
            None
        );
        assert_eq!(t("docker-archive:/nonexistent/a.tar", DockerArchive), None);
        assert_eq!(t("oci:/nonexistent/layout:latest", OciLayout), Some(false));
        assert_eq!(t("oci:/nonexistent/layout:1.0", OciLayout), None);
    }
}
