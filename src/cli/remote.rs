//! The registry flags `scan`, `attest` and `verify` share: credentials for the registry named
//! in the reference, and transport security.

use anyhow::{Context, Result, bail};
use clap::{ArgAction, Args};
use portcullis_image::reference::ImageRef;
use portcullis_image::registry::RemoteOptions;
use portcullis_image::registry::credentials::Credentials;
use portcullis_image::registry::name::RegistryRef;
use std::io::Read;

/// A password or token longer than this is not a password.
const MAX_PASSWORD: u64 = 64 << 10;

#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Registry user name (the password is read from stdin with --password-stdin)
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,

    /// Read the registry password or token from stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// Do not verify registry certificates, and allow plain-HTTP registries
    #[arg(long)]
    pub insecure: bool,

    /// Verify registry certificates (--tls-verify=false is --insecure, as in skopeo)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = ArgAction::Set)]
    pub tls_verify: Option<bool>,
}

impl RemoteArgs {
    /// The options, with the password read from stdin when `--password-stdin` asks for it.
    pub fn options(&self) -> Result<RemoteOptions> {
        let credentials = match &self.username {
            Some(user) => {
                let mut password = String::new();
                std::io::stdin()
                    .take(MAX_PASSWORD)
                    .read_to_string(&mut password)
                    .context("reading the password from stdin")?;
                let password = password.trim_end_matches(['\n', '\r']);
                if password.is_empty() {
                    bail!("--password-stdin: stdin is empty");
                }
                Some(Credentials::basic(user.clone(), password))
            }
            None => None,
        };
        Ok(RemoteOptions {
            credentials,
            insecure: self.insecure(),
        })
    }

    /// Whether certificates go unchecked and plain HTTP is allowed.
    pub fn insecure(&self) -> bool {
        self.insecure || self.tls_verify == Some(false)
    }
}

/// Where an image lives when it lives in a registry: the registry and repository of a
/// `docker://` reference or of a name that is not a local path. An image in a file, a
/// directory or a Docker daemon has none, and the error says which it is.
pub fn registry_target(image: &str, purpose: &str) -> Result<RegistryRef> {
    let what = match ImageRef::parse(image).with_context(|| image.to_string())? {
        ImageRef::Registry { reference } => {
            return RegistryRef::parse(&reference).with_context(|| image.to_string());
        }
        ImageRef::DockerDaemon { .. } => "an image in a Docker daemon",
        ImageRef::DockerArchive { .. } => "a docker-archive file",
        ImageRef::OciArchive { .. } => "an oci-archive file",
        ImageRef::OciLayout { .. } => "an OCI layout directory",
        ImageRef::Local { .. } => "a local file or directory",
    };
    bail!(
        "{purpose} needs an image in a registry (docker://REGISTRY/NAME[:TAG|@DIGEST]), but \
         {image} is {what}, which has no registry: push the image (e.g. with skopeo copy) and \
         name it by its docker:// reference"
    )
}
