//! Where passphrases come from: an environment variable (CI), or a prompt on the terminal.
//! A passphrase is never echoed, logged, or put in an error message.

use anyhow::{Context, Result, bail};
use portcullis_attest::keys::{
    KeyError, PermissionVerdict, PrivateKeyFile, Protection, SigningKey,
};
use std::io::IsTerminal;
use std::path::Path;
use zeroize::Zeroizing;

/// Passphrase for portcullis keys (and a fallback for cosign keys).
pub const PORTCULLIS_PASSWORD: &str = "PORTCULLIS_PASSWORD";
/// Passphrase for cosign keys, as cosign reads it (and a fallback for portcullis keys).
pub const COSIGN_PASSWORD: &str = "COSIGN_PASSWORD";

fn from_env(name: &str) -> Option<Zeroizing<String>> {
    std::env::var_os(name).map(|v| Zeroizing::new(v.to_string_lossy().into_owned()))
}

fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt(text: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .context("reading the passphrase from the terminal")
}

/// The passphrase for a new key: `PORTCULLIS_PASSWORD`, or asked twice on the terminal.
pub fn for_new_key() -> Result<Zeroizing<String>> {
    let passphrase = match from_env(PORTCULLIS_PASSWORD) {
        Some(p) => p,
        None if can_prompt() => {
            let first = prompt("Passphrase for the new private key: ")?;
            let again = prompt("Passphrase again: ")?;
            if first != again {
                bail!("the passphrases differ");
            }
            first
        }
        None => bail!(
            "no passphrase for the private key: set {PORTCULLIS_PASSWORD}, run in a terminal, \
             or pass --no-password for an unencrypted key"
        ),
    };
    if passphrase.is_empty() {
        bail!("the passphrase is empty: pass --no-password for an unencrypted key");
    }
    Ok(passphrase)
}

/// Reads a private key file, checks who else can read it, and decrypts it if needed.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let shown = path.display();
    let file = portcullis_attest::keys::read_key_file(path)?;
    let key_file = PrivateKeyFile::parse(&file.text).with_context(|| format!("{shown}"))?;
    let protection = key_file.protection();
    if let PermissionVerdict::Loose { mode } =
        portcullis_attest::keys::check_permissions(path, file.mode, protection)?
    {
        eprintln!(
            "portcullis: warning: {shown} is accessible by other users (mode {mode:04o}); \
             run `chmod 600 {shown}`"
        );
    }
    let (first, second) = match protection {
        Protection::None => {
            return key_file.unlock(None).with_context(|| format!("{shown}"));
        }
        Protection::Cosign => (COSIGN_PASSWORD, PORTCULLIS_PASSWORD),
        Protection::Pkcs8Encrypted => (PORTCULLIS_PASSWORD, COSIGN_PASSWORD),
    };
    let passphrase = match from_env(first).or_else(|| from_env(second)) {
        Some(p) => p,
        None if can_prompt() => prompt(&format!("Passphrase for {shown}: "))?,
        None => bail!(
            "{shown} is encrypted: set {first} (or {second}) to its passphrase, or run in a \
             terminal"
        ),
    };
    key_file
        .unlock(Some(passphrase.as_bytes()))
        .map_err(|e| match e {
            KeyError::WrongPassphrase => anyhow::anyhow!(
                "{shown}: wrong passphrase (read from {}), or the key file is corrupted",
                if from_env(first).is_some() {
                    first
                } else if from_env(second).is_some() {
                    second
                } else {
                    "the terminal"
                }
            ),
            other => anyhow::Error::new(other).context(format!("{shown}")),
        })
}
