//! `[params.secrets]` of a policy: the secret scanner's settings.

use portcullis_model::params::{GlobList, Size};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[params.secrets]`: the secret scanner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretParams {
    /// Use the rules shipped in `policies/secret-rules.toml`.
    pub builtin_rules: bool,
    /// More rule files in the format of `policies/secret-rules.toml`; relative paths are
    /// relative to the policy file that names them.
    pub rule_files: Vec<PathBuf>,
    /// Rule ids that never report.
    pub disabled_rules: Vec<String>,
    /// Files never searched for secrets (globs on image paths).
    pub skip_paths: GlobList,
    /// Files larger than this are not searched.
    pub max_file_size: Size,
    /// Also search files that a later layer deleted or replaced: they are still extractable
    /// from the layer that added them.
    pub scan_removed_files: bool,
}

impl Default for SecretParams {
    fn default() -> Self {
        SecretParams {
            builtin_rules: true,
            rule_files: Vec::new(),
            disabled_rules: Vec::new(),
            skip_paths: GlobList::of(&["/usr/share/doc/**", "/usr/share/man/**"]),
            max_file_size: Size(10 << 20),
            scan_removed_files: true,
        }
    }
}
