//! `portcullis keygen [--type ecdsa-p256|ed25519] [--out PREFIX]`

use super::EXIT_PASS;
use super::passphrase;
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_attest::keys::{KeyType, SigningKey};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key algorithm
    #[arg(long = "type", value_enum, default_value_t = KeyTypeArg::EcdsaP256)]
    pub key_type: KeyTypeArg,

    /// Write the private key to PREFIX.key (mode 0600) and the public key to PREFIX.pub
    /// (mode 0644)
    #[arg(long, value_name = "PREFIX", default_value = "portcullis")]
    pub out: PathBuf,

    /// Leave the private key unencrypted (only for keys kept in a secret store); by default
    /// it is encrypted with a passphrase from PORTCULLIS_PASSWORD or the terminal
    #[arg(long)]
    pub no_password: bool,

    /// Replace existing key files
    #[arg(long)]
    pub force: bool,
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn run(args: KeygenArgs) -> Result<u8> {
    let private_path = with_suffix(&args.out, ".key");
    let public_path = with_suffix(&args.out, ".pub");
    if !args.force {
        for path in [&private_path, &public_path] {
            if path.symlink_metadata().is_ok() {
                bail!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                );
            }
        }
    }
    let passphrase = if args.no_password {
        None
    } else {
        Some(passphrase::for_new_key()?)
    };
    let key = SigningKey::generate(args.key_type.into())?;
    let private_pem = key.to_pkcs8_pem(passphrase.as_ref().map(|p| p.as_bytes()))?;
    let public_pem = key.public_key().to_pem()?;

    write_new(&private_path, private_pem.as_bytes(), 0o600, args.force)?;
    if let Err(e) = write_new(&public_path, public_pem.as_bytes(), 0o644, args.force) {
        // A private key without its public half would only confuse: take it back.
        let _ = std::fs::remove_file(&private_path);
        return Err(e);
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Private key: {} ({}, {})",
        private_path.display(),
        key.key_type(),
        if passphrase.is_some() {
            "encrypted: PKCS#8 PBES2, scrypt + AES-256-CBC"
        } else {
            "NOT encrypted"
        }
    )?;
    writeln!(out, "Public key:  {}", public_path.display())?;
    writeln!(out, "Key id:      {}", key.public_key().keyid())?;
    Ok(EXIT_PASS)
}

/// Writes a key file through a temporary file created with its final mode, so the key is never
/// on disk with looser permissions, nor half-written under its final name. Without `replace`,
/// an existing file is left alone and the write fails.
fn write_new(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".portcullis-key-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp =
        portcullis_interrupt::TempFile::with(|| builder.tempfile_in(dir)).with_context(|| {
            format!(
                "{}: cannot create a file in {}",
                path.display(),
                dir.display()
            )
        })?;
    tmp.as_file_mut()
        .write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    if replace {
        tmp.persist(path)
            .with_context(|| format!("{}: cannot replace the file", path.display()))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("writing {}", path.display()))
            }
        })?;
    }
    Ok(())
}

/// `--type`: the algorithms portcullis signs with ([`KeyType`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyTypeArg {
    /// ECDSA over NIST P-256 with SHA-256 (cosign's default)
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// Ed25519 (RFC 8032)
    #[value(name = "ed25519")]
    Ed25519,
}

impl From<KeyTypeArg> for KeyType {
    fn from(arg: KeyTypeArg) -> KeyType {
        match arg {
            KeyTypeArg::EcdsaP256 => KeyType::EcdsaP256,
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
        }
    }
}

impl std::fmt::Display for KeyTypeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        KeyType::from(*self).fmt(f)
    }
}
