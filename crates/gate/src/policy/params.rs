//! Check parameters: the part of a policy that families read while they run.
//!
//! Every section has defaults (the balanced policy), so a family reads its settings as plain
//! fields: `policy.params.setuid_allowlist.matches(path)`, `policy.params.secrets.max_file_size`,
//! `policy.params.accounts.system_uid_max` ... A policy file sets them under `[params]`:
//!
//! ```toml
//! [params]
//! setuid_allowlist = ["/usr/bin/passwd", "/usr/bin/su"]
//!
//! [params.hygiene]
//! cache_min_bytes = "1M"
//!
//! [params.secrets]
//! disabled_rules = ["jwt"]
//! ```
//!
//! A check family's own settings are a struct in the family's module (`checks::accounts::Params`
//! ...), with its defaults there; this struct holds one field per section.
//!
//! Adding a parameter: add the field with a doc comment and a default (here, or in the family's
//! `Params`), and a line to [`REFERENCE`]; the policy reference (`docs/policy-reference.md`) is
//! generated from both, and a test fails if a serialised field has no entry there.

use crate::checks::{accounts, config, hygiene, modes};
pub use portcullis_advisories::params::{OsvParams, PackageParams, TrivyMode};
pub use portcullis_model::params::{
    CountLimit, GlobList, Size, SizeLimit, compile_glob, parse_size,
};
pub use portcullis_secrets::SecretParams;
use serde::{Deserialize, Serialize};

/// Setuid and setgid programs that Debian, Ubuntu, Alpine and the RHEL family ship by design;
/// found elsewhere, or not on this list, a setuid file is reported at high severity.
pub const DISTRO_SETUID: &[&str] = &[
    "/usr/bin/passwd",
    "/usr/bin/su",
    "/usr/bin/mount",
    "/usr/bin/umount",
    "/usr/bin/newgrp",
    "/usr/bin/chsh",
    "/usr/bin/chfn",
    "/usr/bin/gpasswd",
    "/usr/bin/chage",
    "/usr/bin/expiry",
    "/usr/bin/wall",
    "/usr/bin/write",
    "/usr/bin/crontab",
    "/usr/bin/ssh-agent",
    "/usr/bin/ping",
    "/usr/bin/ping6",
    "/usr/bin/fusermount",
    "/usr/bin/fusermount3",
    "/usr/bin/bbsuid",
    "/usr/sbin/unix_chkpwd",
    "/usr/sbin/pam_timestamp_check",
    "/usr/lib/openssh/ssh-keysign",
    "/usr/libexec/openssh/ssh-keysign",
    "/usr/lib/ssh/ssh-keysign",
    "/usr/lib/dbus-1.0/dbus-daemon-launch-helper",
    "/usr/libexec/dbus-1/dbus-daemon-launch-helper",
    "/usr/libexec/utempter/utempter",
    "/usr/lib/utempter/utempter",
    // Merged-/usr layouts and Alpine keep some of these under /bin and /sbin.
    "/bin/su",
    "/bin/mount",
    "/bin/umount",
    "/bin/ping",
    "/bin/bbsuid",
    "/sbin/unix_chkpwd",
];

/// Every parameter, with the balanced defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Files that may carry the setuid or setgid bit (globs on image paths). A policy file's
    /// list adds to its base's; see [`crate::policy::file::SETUID_REPLACE`].
    pub setuid_allowlist: GlobList,
    /// Only in a policy file: replaces the base's `setuid_allowlist`. Merging the layers of
    /// a policy consumes it, so a loaded policy never has one.
    #[serde(skip_serializing)]
    pub setuid_allowlist_replace: Option<GlobList>,
    /// Paths that may be world-writable (files, and directories without the sticky bit);
    /// world-writable directories with the sticky bit (/tmp) are never reported.
    pub world_writable_allowlist: GlobList,
    pub accounts: accounts::Params,
    pub config: config::Params,
    pub hygiene: hygiene::Params,
    pub modes: modes::Params,
    pub secrets: SecretParams,
    pub packages: PackageParams,
    pub osv: OsvParams,
    pub base: BaseParams,
}

/// Registries that public base images come from: an image's base annotations may send a
/// scan to these (and to the registry the image itself was pulled from), and nowhere else.
pub const PUBLIC_REGISTRIES: &[&str] = &[
    "docker.io",
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "*.gcr.io",
    "*.pkg.dev",
    "registry.k8s.io",
    "mcr.microsoft.com",
    "public.ecr.aws",
    "registry.access.redhat.com",
    "registry.redhat.io",
    "registry.gitlab.com",
    "cgr.dev",
    "docker.elastic.co",
];

/// How far the image's own word about its base is followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaseParams {
    /// Registries (`host[:port]` globs) the `org.opencontainers.image.base.name` annotation
    /// may make the scan pull from, besides the image's own registry. The annotation is the
    /// image author's text: without this list an image could make the scanner contact any
    /// host it names.
    pub annotation_registries: GlobList,
}

impl Default for BaseParams {
    fn default() -> Self {
        BaseParams {
            annotation_registries: GlobList::of(PUBLIC_REGISTRIES),
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            setuid_allowlist: GlobList::of(DISTRO_SETUID),
            setuid_allowlist_replace: None,
            world_writable_allowlist: GlobList::default(),
            accounts: accounts::Params::default(),
            config: config::Params::default(),
            hygiene: hygiene::Params::default(),
            modes: modes::Params::default(),
            secrets: SecretParams::default(),
            packages: PackageParams::default(),
            osv: OsvParams::default(),
            base: BaseParams::default(),
        }
    }
}

/// Documentation of one parameter, for `portcullis explain --policy-reference`.
pub struct ParamDoc {
    /// Dotted key below `[params]`.
    pub key: &'static str,
    /// The value's type as a policy file writes it.
    pub kind: &'static str,
    pub doc: &'static str,
}

/// Every parameter, in the order the reference lists them. A unit test keeps it in step
/// with the fields of [`Params`].
pub const REFERENCE: &[ParamDoc] = &[
    ParamDoc {
        key: "base.annotation_registries",
        kind: "list of globs",
        doc: "Registries (`host[:port]` globs) that an image's `org.opencontainers.image.base.name` annotation may make the scan pull its base from, besides the registry the image itself comes from; by default the public registries base images live on (Docker Hub, ghcr.io, quay.io, gcr.io, registry.k8s.io, mcr.microsoft.com, public.ecr.aws, Red Hat's, GitLab's, cgr.dev, docker.elastic.co). `[]` follows only the image's own registry. Never followed offline.",
    },
    ParamDoc {
        key: "setuid_allowlist",
        kind: "list of globs",
        doc: "Files that may carry the setuid or setgid bit. A policy's list adds to the list of the policy it extends (the distribution's list by default); `setuid_allowlist_replace = [...]` replaces it instead (strict's `setuid_allowlist_replace = []` expects no setuid file).",
    },
    ParamDoc {
        key: "world_writable_allowlist",
        kind: "list of globs",
        doc: "Paths that may be world-writable: files, and directories without the sticky bit (sticky directories such as /tmp are never reported).",
    },
    ParamDoc {
        key: "accounts.system_uid_max",
        kind: "integer",
        doc: "Highest uid of a system account (login.defs' `SYS_UID_MAX`): accounts with uid 1 to this (and nobody, 65534) are judged by `account-system-login-shell`.",
    },
    ParamDoc {
        key: "config.required_labels",
        kind: "list of label keys",
        doc: "Labels every image must carry (`config-provenance-labels`).",
    },
    ParamDoc {
        key: "config.sensitive_volumes",
        kind: "list of paths",
        doc: "Image paths a VOLUME must not be on or below (`config-sensitive-volume`).",
    },
    ParamDoc {
        key: "hygiene.cache_min_bytes",
        kind: "size",
        doc: "A package-manager cache directory is reported when its files add up to at least this (`hygiene-apt-cache`, `hygiene-apk-cache`, `hygiene-pip-cache`, `hygiene-npm-cache`).",
    },
    ParamDoc {
        key: "modes.path_dirs",
        kind: "list of paths",
        doc: "Command directories whose entries the runtime user must not be able to write (`mode-writable-by-user`); their direct children are judged.",
    },
    ParamDoc {
        key: "modes.lib_dirs",
        kind: "list of paths",
        doc: "Library and helper directories the runtime user must not be able to write (`mode-writable-by-user`); everything below them is judged.",
    },
    ParamDoc {
        key: "modes.trusted_read_groups",
        kind: "list of group names",
        doc: "Groups that may read password databases (`mode-sensitive-file`), unless the runtime user is a member.",
    },
    ParamDoc {
        key: "secrets.builtin_rules",
        kind: "boolean",
        doc: "Use the rules shipped in `policies/secret-rules.toml`.",
    },
    ParamDoc {
        key: "secrets.rule_files",
        kind: "list of paths",
        doc: "More secret rule files (same format); relative to the policy file.",
    },
    ParamDoc {
        key: "secrets.disabled_rules",
        kind: "list of rule ids",
        doc: "Secret rules that never report.",
    },
    ParamDoc {
        key: "secrets.skip_paths",
        kind: "list of globs",
        doc: "Files never searched for secrets.",
    },
    ParamDoc {
        key: "secrets.max_file_size",
        kind: "size",
        doc: "Files larger than this are not searched for secrets.",
    },
    ParamDoc {
        key: "secrets.scan_removed_files",
        kind: "boolean",
        doc: "Also search files a later layer deleted or replaced (still extractable).",
    },
    ParamDoc {
        key: "packages.check_outdated",
        kind: "boolean",
        doc: "Compare OS packages with package indexes (`--package-index`, and with `--fetch-indexes` those of the repositories the image is configured with).",
    },
    ParamDoc {
        key: "packages.index_cache",
        kind: "path",
        doc: "Cache directory for downloaded package indexes; empty: the user cache directory.",
    },
    ParamDoc {
        key: "packages.index_max_age_hours",
        kind: "integer",
        doc: "Re-download a cached package index older than this.",
    },
    ParamDoc {
        key: "packages.offline",
        kind: "boolean",
        doc: "Never download package indexes: use cached copies whatever their age; a missing one is a diagnostic.",
    },
    ParamDoc {
        key: "packages.image_repositories",
        kind: "boolean",
        doc: "Without `--package-index`, compare with the indexes of the repositories the image is configured with (through the index cache; offline, cached copies only); what cannot be had is said in the report's sources.",
    },
    ParamDoc {
        key: "packages.eol_warning_days",
        kind: "integer",
        doc: "Warn this many days before the distribution's end of life.",
    },
    ParamDoc {
        key: "osv.databases",
        kind: "list of paths",
        doc: "Offline OSV databases (directories of OSV JSON, or osv.dev `all.zip`); relative to the policy file.",
    },
    ParamDoc {
        key: "osv.vex",
        kind: "list of paths",
        doc: "VEX documents (OpenVEX or CycloneDX) whose `not_affected` and `fixed` statements suppress the vulnerabilities they cover; relative to the policy file.",
    },
    ParamDoc {
        key: "osv.trivy",
        kind: "\"auto\", \"always\" or \"never\"",
        doc: "Run Trivy for vulnerabilities when installed with its database, always (error if missing), or never.",
    },
    ParamDoc {
        key: "osv.ignore_unfixed",
        kind: "boolean",
        doc: "Leave out vulnerabilities no released version fixes.",
    },
    ParamDoc {
        key: "osv.ecosystems",
        kind: "list of OSV ecosystems",
        doc: "Ecosystems to match (`Debian`, `Alpine`, `PyPI`, `npm` ...); empty: all.",
    },
    ParamDoc {
        key: "osv.trivy_timeout_seconds",
        kind: "integer",
        doc: "Stop Trivy after this many seconds; the scan goes on without its results (a diagnostic says so).",
    },
    ParamDoc {
        key: "osv.local_database",
        kind: "boolean",
        doc: "Match against the local vulnerability database (`portcullis db update`; `--db-dir`) too.",
    },
    ParamDoc {
        key: "osv.db_max_age_hours",
        kind: "integer",
        doc: "A scan updates the database exports its image needs when they are missing or were last checked longer ago than this, unless offline (`--offline`, `PORTCULLIS_OFFLINE=1`, `--skip-db-update`).",
    },
];

/// Keys of [`Params`] holding a path or a list of paths, which a policy file writes
/// relative to itself.
pub(crate) const PATH_KEYS: &[(&str, &str)] = &[
    ("secrets", "rule_files"),
    ("packages", "index_cache"),
    ("osv", "databases"),
    ("osv", "vex"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn leaf_keys(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => leaf_keys(&key, t, out),
                _ => {
                    out.insert(key);
                }
            }
        }
    }

    #[test]
    fn every_parameter_is_documented_in_the_reference() {
        let table = toml::Table::try_from(Params::default()).unwrap();
        let mut fields = BTreeSet::new();
        leaf_keys("", &table, &mut fields);
        let documented: BTreeSet<String> = REFERENCE.iter().map(|d| d.key.to_string()).collect();
        assert_eq!(
            fields, documented,
            "params fields and params::REFERENCE differ"
        );
        assert_eq!(
            documented.len(),
            REFERENCE.len(),
            "a key is documented twice"
        );
    }

    #[test]
    fn path_keys_name_path_fields() {
        let table = toml::Table::try_from(Params::default()).unwrap();
        for (section, key) in PATH_KEYS {
            let value = &table[*section][*key];
            assert!(value.is_array() || value.is_str(), "{section}.{key}");
        }
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = toml::to_string(&Params::default()).unwrap();
        let back: Params = toml::from_str(&text).unwrap();
        assert_eq!(back, Params::default());
    }

    #[test]
    fn globs_match_whole_paths_with_or_without_a_leading_slash() {
        let list =
            GlobList::new(&["/usr/bin/*", "opt/**/bin/tool", "etc/ssh/ssh_host_?sa_key"]).unwrap();
        assert!(list.matches("/usr/bin/su"));
        assert!(list.matches("usr/bin/su"));
        assert!(!list.matches("usr/bin/sub/su"), "* stays in one component");
        assert!(list.matches("opt/a/b/bin/tool"));
        assert!(list.matches("opt/bin/tool"));
        assert!(list.matches("/etc/ssh/ssh_host_rsa_key"));
        assert!(!list.matches("usr/bin"));
        assert!(
            GlobList::new(&["[unclosed"])
                .unwrap_err()
                .contains("[unclosed")
        );
    }

    #[test]
    fn sizes_and_limits_parse_both_spellings() {
        #[derive(Deserialize)]
        struct T {
            a: Size,
            b: SizeLimit,
            c: SizeLimit,
            d: CountLimit,
        }
        let t: T = toml::from_str("a = 1024\nb = \"2G\"\nc = \"unlimited\"\nd = 40\n").unwrap();
        assert_eq!(t.a, Size(1024));
        assert_eq!(t.b, SizeLimit::At(Size(2 << 30)));
        assert_eq!(t.c, SizeLimit::Unlimited);
        assert_eq!(t.d, CountLimit::At(40));
        assert!(SizeLimit::At(Size(10)).exceeded_by(11));
        assert!(!SizeLimit::Unlimited.exceeded_by(u64::MAX));
        assert_eq!(Size(2 << 30).to_string(), "2G");
        assert_eq!(Size(1000).to_string(), "1000");
        for bad in [
            "a = -1\nb=1\nc=1\nd=1",
            "a = \"5X\"\nb=1\nc=1\nd=1",
            "a=1\nb=1\nc=1\nd=\"x\"",
        ] {
            assert!(toml::from_str::<T>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
