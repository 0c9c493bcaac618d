//! Signing and verifying keys: ECDSA P-256 (what cosign generates) and Ed25519.
//!
//! Private keys are PKCS#8 in PEM: plain (`PRIVATE KEY`), encrypted with a passphrase as
//! standard PKCS#8 `EncryptedPrivateKeyInfo` (`ENCRYPTED PRIVATE KEY`, PBES2 with scrypt or
//! PBKDF2 and AES, which OpenSSL reads), or wrapped by [cosign](super::cosign). Public keys are
//! PKIX `SubjectPublicKeyInfo` in PEM (`PUBLIC KEY`), as cosign and OpenSSL write them. A key's
//! id is the SHA-256 of its `SubjectPublicKeyInfo` DER, in hex.
//!
//! Private key material never reaches a `Debug` or `Display` implementation, and every buffer
//! that held it is zeroed when dropped.

use super::cosign::{self, CosignError, EncryptedKey};
use pkcs8::der::pem::LineEnding;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::spki::{DecodePublicKey, EncodePublicKey, ObjectIdentifier, SubjectPublicKeyInfoRef};
use pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef,
    SecretDocument,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Read;
use std::path::Path;

/// id-ecPublicKey (RFC 5480); the curve is checked by the P-256 decoder.
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// id-Ed25519 (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

const LABEL_PRIVATE: &str = "PRIVATE KEY";
const LABEL_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";
const LABEL_PUBLIC: &str = "PUBLIC KEY";
/// Key files are a few hundred bytes; anything this large is not a key.
const MAX_KEY_FILE: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a PEM file ({0})")]
    NotPem(String),
    #[error("this is a public key; a private key is needed here")]
    PublicNotPrivate,
    #[error("this is a private key; give the public key (`PUBLIC KEY` PEM) instead")]
    PrivateNotPublic,
    #[error(
        "unsupported PEM block {0:?} (expected PRIVATE KEY, ENCRYPTED PRIVATE KEY, \
         ENCRYPTED SIGSTORE PRIVATE KEY or PUBLIC KEY; convert other formats with \
         `openssl pkcs8 -topk8`)"
    )]
    UnsupportedLabel(String),
    #[error("unsupported key algorithm {0} (expected ECDSA P-256 or Ed25519)")]
    UnsupportedAlgorithm(String),
    #[error("malformed key: {0}")]
    Malformed(String),
    #[error("the private key is encrypted and no passphrase was given")]
    PassphraseRequired,
    #[error("wrong passphrase, or the key file is corrupted")]
    WrongPassphrase,
    #[error(transparent)]
    Cosign(CosignError),
    #[error(
        "{path} is readable by other users (mode {mode:04o}) and not encrypted: anyone who can read it can sign as you; run `chmod 600 {path}` or encrypt the key"
    )]
    Exposed { path: String, mode: u32 },
    #[error("could not encode the key: {0}")]
    Encode(String),
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// The algorithms portcullis signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA over NIST P-256 with SHA-256 (cosign's default)
    EcdsaP256,
    /// Ed25519 (RFC 8032)
    Ed25519,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key, and the DER it was read from or encodes to (what its id hashes).
#[derive(Clone)]
pub struct PublicKey {
    inner: PublicInner,
    spki_der: Vec<u8>,
}

#[derive(Clone)]
enum PublicInner {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A signature did not verify under the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify")]
pub struct BadSignature;

impl PublicKey {
    /// Reads a `PUBLIC KEY` PEM block.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let (label, der) = pem_block(text)?;
        match label.as_str() {
            LABEL_PUBLIC => PublicKey::from_spki_der(&der),
            LABEL_PRIVATE | LABEL_ENCRYPTED => Err(KeyError::PrivateNotPublic),
            l if cosign::PEM_LABELS.contains(&l) => Err(KeyError::PrivateNotPublic),
            _ => Err(KeyError::UnsupportedLabel(label)),
        }
    }

    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let inner = match spki.algorithm.oid {
            OID_EC_PUBLIC_KEY => PublicInner::EcdsaP256(
                p256::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| KeyError::Malformed(format!("not a P-256 public key: {e}")))?,
            ),
            OID_ED25519 => PublicInner::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| KeyError::Malformed(format!("not an Ed25519 public key: {e}")))?,
            ),
            other => return Err(KeyError::UnsupportedAlgorithm(other.to_string())),
        };
        PublicKey::from_inner(inner)
    }

    fn from_inner(inner: PublicInner) -> Result<PublicKey, KeyError> {
        let document = match &inner {
            PublicInner::EcdsaP256(k) => k.to_public_key_der(),
            PublicInner::Ed25519(k) => k.to_public_key_der(),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(PublicKey {
            inner,
            spki_der: document.into_vec(),
        })
    }

    pub fn key_type(&self) -> KeyType {
        match self.inner {
            PublicInner::EcdsaP256(_) => KeyType::EcdsaP256,
            PublicInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The key id: SHA-256 of the DER `SubjectPublicKeyInfo`, lower-case hex.
    pub fn keyid(&self) -> String {
        hex::encode(Sha256::digest(&self.spki_der))
    }

    pub fn to_pem(&self) -> Result<String, KeyError> {
        pkcs8::der::pem::encode_string(LABEL_PUBLIC, LineEnding::LF, &self.spki_der)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Verifies `signature` over `message`: ASN.1 DER for ECDSA (SHA-256 of the message), the
    /// 64 raw bytes for Ed25519 (strict verification: no malleable or small-order signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadSignature> {
        match &self.inner {
            PublicInner::EcdsaP256(key) => {
                use p256::ecdsa::signature::Verifier;
                let sig =
                    p256::ecdsa::DerSignature::from_bytes(signature).map_err(|_| BadSignature)?;
                key.verify(message, &sig).map_err(|_| BadSignature)
            }
            PublicInner::Ed25519(key) => {
                let sig =
                    ed25519_dalek::Signature::from_slice(signature).map_err(|_| BadSignature)?;
                key.verify_strict(message, &sig).map_err(|_| BadSignature)
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("type", &self.key_type())
            .field("keyid", &self.keyid())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

/// A private key, ready to sign.
pub struct SigningKey {
    inner: SigningInner,
    public: PublicKey,
}

enum SigningInner {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate(key_type: KeyType) -> Result<SigningKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        let inner = match key_type {
            KeyType::EcdsaP256 => loop {
                // A uniformly random 32-byte string is a valid P-256 scalar except with
                // probability about 2^-32; retrying keeps the distribution uniform.
                getrandom::fill(seed.as_mut_slice())
                    .map_err(|e| KeyError::Random(e.to_string()))?;
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(seed.as_slice()) {
                    break SigningInner::EcdsaP256(key);
                }
            },
            KeyType::Ed25519 => {
                getrandom::fill(seed.as_mut_slice())
                    .map_err(|e| KeyError::Random(e.to_string()))?;
                SigningInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        };
        SigningKey::from_inner(inner)
    }

    fn from_inner(inner: SigningInner) -> Result<SigningKey, KeyError> {
        let public = PublicKey::from_inner(match &inner {
            SigningInner::EcdsaP256(k) => PublicInner::EcdsaP256(*k.verifying_key()),
            SigningInner::Ed25519(k) => PublicInner::Ed25519(k.verifying_key()),
        })?;
        Ok(SigningKey { inner, public })
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (DER), ECDSA P-256 or Ed25519.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let info = PrivateKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Malformed(format!("not a PKCS#8 private key: {e}")))?;
        let inner = match info.algorithm.oid {
            OID_EC_PUBLIC_KEY => SigningInner::EcdsaP256(
                p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map_err(|e| KeyError::Malformed(format!("not a P-256 private key: {e}")))?,
            ),
            OID_ED25519 => SigningInner::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(der)
                    .map_err(|e| KeyError::Malformed(format!("not an Ed25519 private key: {e}")))?,
            ),
            other => return Err(KeyError::UnsupportedAlgorithm(other.to_string())),
        };
        SigningKey::from_inner(inner)
    }

    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message`: ECDSA P-256 over SHA-256 with an ASN.1 DER signature (as cosign and
    /// Go's `ecdsa.SignASN1` write them, RFC 6979 nonces), or pure Ed25519.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            SigningInner::EcdsaP256(key) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::DerSignature = key.sign(message);
                sig.as_bytes().to_vec()
            }
            SigningInner::Ed25519(key) => {
                use ed25519_dalek::Signer;
                key.sign(message).to_bytes().to_vec()
            }
        }
    }

    /// The PKCS#8 DER of the key (version 1, without the optional public key, which every
    /// reader accepts).
    fn to_pkcs8_der(&self) -> Result<SecretDocument, KeyError> {
        match &self.inner {
            SigningInner::EcdsaP256(key) => key.to_pkcs8_der(),
            SigningInner::Ed25519(key) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The key as PKCS#8 PEM: `ENCRYPTED PRIVATE KEY` (PBES2: scrypt, AES-256-CBC) when a
    /// passphrase is given, `PRIVATE KEY` otherwise.
    pub fn to_pkcs8_pem(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        let encode = |e: pkcs8::der::Error| KeyError::Encode(e.to_string());
        match passphrase {
            None => der.to_pem(LABEL_PRIVATE, LineEnding::LF).map_err(encode),
            Some(passphrase) => {
                let info = PrivateKeyInfoRef::try_from(der.as_bytes())
                    .map_err(|e| KeyError::Encode(e.to_string()))?;
                let encrypted = info
                    .encrypt(passphrase)
                    .map_err(|e| KeyError::Encode(e.to_string()))?;
                encrypted
                    .to_pem(LABEL_ENCRYPTED, LineEnding::LF)
                    .map_err(encode)
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("type", &self.key_type())
            .field("keyid", &self.public.keyid())
            .finish_non_exhaustive()
    }
}

/// How a private key file is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Plain PKCS#8.
    None,
    /// PKCS#8 `EncryptedPrivateKeyInfo`.
    Pkcs8Encrypted,
    /// cosign's scrypt + secretbox envelope.
    Cosign,
}

/// A private key file as read, before any passphrase is asked for.
pub enum PrivateKeyFile {
    Plain(SecretDocument),
    Pkcs8Encrypted(Zeroizing<Vec<u8>>),
    Cosign(EncryptedKey),
}

impl PrivateKeyFile {
    pub fn parse(text: &str) -> Result<PrivateKeyFile, KeyError> {
        let (label, body) = pem_block(text)?;
        match label.as_str() {
            LABEL_PRIVATE => Ok(PrivateKeyFile::Plain(
                SecretDocument::try_from(body.as_slice())
                    .map_err(|e| KeyError::Malformed(e.to_string()))?,
            )),
            LABEL_ENCRYPTED => Ok(PrivateKeyFile::Pkcs8Encrypted(body)),
            LABEL_PUBLIC => Err(KeyError::PublicNotPrivate),
            l if cosign::PEM_LABELS.contains(&l) => Ok(PrivateKeyFile::Cosign(
                EncryptedKey::from_json(&body).map_err(KeyError::Cosign)?,
            )),
            _ => Err(KeyError::UnsupportedLabel(label)),
        }
    }

    pub fn protection(&self) -> Protection {
        match self {
            PrivateKeyFile::Plain(_) => Protection::None,
            PrivateKeyFile::Pkcs8Encrypted(_) => Protection::Pkcs8Encrypted,
            PrivateKeyFile::Cosign(_) => Protection::Cosign,
        }
    }

    /// Decrypts the key if it is encrypted; `passphrase` is ignored for a plain key.
    pub fn unlock(&self, passphrase: Option<&[u8]>) -> Result<SigningKey, KeyError> {
        match self {
            PrivateKeyFile::Plain(doc) => SigningKey::from_pkcs8_der(doc.as_bytes()),
            PrivateKeyFile::Pkcs8Encrypted(der) => {
                let passphrase = passphrase.ok_or(KeyError::PassphraseRequired)?;
                let info = EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
                    .map_err(|e| KeyError::Malformed(format!("encrypted PKCS#8: {e}")))?;
                let doc = info.decrypt(passphrase).map_err(|e| match e {
                    // Decryption failures (bad padding) and a plaintext that is not DER both
                    // mean the passphrase was wrong; unsupported schemes are worth naming.
                    pkcs8::Error::EncryptedPrivateKey(
                        pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. },
                    )
                    | pkcs8::Error::EncryptedPrivateKey(
                        pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. },
                    ) => KeyError::Malformed(format!("encrypted PKCS#8: {e}")),
                    _ => KeyError::WrongPassphrase,
                })?;
                SigningKey::from_pkcs8_der(doc.as_bytes())
            }
            PrivateKeyFile::Cosign(key) => {
                let passphrase = passphrase.ok_or(KeyError::PassphraseRequired)?;
                let der = key.decrypt(passphrase).map_err(|e| match e {
                    CosignError::Decrypt => KeyError::WrongPassphrase,
                    other => KeyError::Cosign(other),
                })?;
                SigningKey::from_pkcs8_der(&der)
            }
        }
    }
}

/// A private key file's text and its permission bits (Unix), read through one handle so that
/// the mode checked is the mode of the file read.
pub struct KeyFileText {
    pub text: Zeroizing<String>,
    pub mode: Option<u32>,
}

pub fn read_key_file(path: &Path) -> Result<KeyFileText, KeyError> {
    let shown = path.display().to_string();
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(KeyError::NotPem(format!(
            "{shown} is larger than {MAX_KEY_FILE} bytes"
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| KeyError::NotPem(format!("{shown} is not text")))?;
    Ok(KeyFileText {
        text: Zeroizing::new(text.to_string()),
        mode: file_mode(&meta),
    })
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

/// What the permissions of a private key file allow, given how the key is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionVerdict {
    Private,
    /// Other users have some access, but cannot read a plain key: worth a warning.
    Loose {
        mode: u32,
    },
}

/// A plain private key readable by group or others is refused, as ssh refuses it: whoever can
/// read it can sign. An encrypted one is allowed with a warning, since the passphrase still
/// stands between the file and a signature; so is any other access by other users.
pub fn check_permissions(
    path: &Path,
    mode: Option<u32>,
    protection: Protection,
) -> Result<PermissionVerdict, KeyError> {
    match mode {
        None => Ok(PermissionVerdict::Private),
        Some(mode) if mode & 0o077 == 0 => Ok(PermissionVerdict::Private),
        Some(mode) if mode & 0o044 != 0 && protection == Protection::None => {
            Err(KeyError::Exposed {
                path: path.display().to_string(),
                mode,
            })
        }
        Some(mode) => Ok(PermissionVerdict::Loose { mode }),
    }
}

/// The first PEM block of `text`: its label and decoded body (zeroed on drop).
fn pem_block(text: &str) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    let start = text
        .find("-----BEGIN ")
        .ok_or_else(|| KeyError::NotPem("no -----BEGIN line".into()))?;
    let rest = &text[start..];
    let end_marker = rest
        .find("-----END ")
        .ok_or_else(|| KeyError::NotPem("no -----END line".into()))?;
    let end = rest[end_marker..]
        .find('\n')
        .map_or(rest.len(), |i| end_marker + i + 1);
    let block = rest[..end].replace("\r\n", "\n");
    let (label, body) = pkcs8::der::pem::decode_vec(block.trim_end().as_bytes())
        .map_err(|e| KeyError::NotPem(e.to_string()))?;
    Ok((label.to_string(), Zeroizing::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [KeyType; 2] = [KeyType::EcdsaP256, KeyType::Ed25519];

    #[test]
    fn generated_keys_sign_and_verify_and_only_their_own_messages() {
        for kind in BOTH {
            let key = SigningKey::generate(kind).unwrap();
            let sig = key.sign(b"message");
            assert!(key.public_key().verify(b"message", &sig).is_ok(), "{kind}");
            assert_eq!(
                key.public_key().verify(b"massage", &sig),
                Err(BadSignature),
                "{kind}"
            );
            let other = SigningKey::generate(kind).unwrap();
            assert_eq!(
                other.public_key().verify(b"message", &sig),
                Err(BadSignature)
            );
            assert_eq!(key.public_key().verify(b"message", b""), Err(BadSignature));
        }
    }

    #[test]
    fn ecdsa_signatures_are_der() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let sig = key.sign(b"m");
        assert_eq!(sig[0], 0x30, "a DER SEQUENCE");
        assert_eq!(usize::from(sig[1]) + 2, sig.len());
    }

    #[test]
    fn keys_round_trip_through_pem_plain_and_encrypted() {
        for kind in BOTH {
            let key = SigningKey::generate(kind).unwrap();
            let plain = key.to_pkcs8_pem(None).unwrap();
            assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let file = PrivateKeyFile::parse(&plain).unwrap();
            assert_eq!(file.protection(), Protection::None);
            assert_eq!(file.unlock(None).unwrap().public_key(), key.public_key());

            let encrypted = key.to_pkcs8_pem(Some(b"correct horse")).unwrap();
            assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
            let file = PrivateKeyFile::parse(&encrypted).unwrap();
            assert_eq!(file.protection(), Protection::Pkcs8Encrypted);
            assert!(matches!(
                file.unlock(None),
                Err(KeyError::PassphraseRequired)
            ));
            assert!(matches!(
                file.unlock(Some(b"wrong horse")),
                Err(KeyError::WrongPassphrase)
            ));
            let unlocked = file.unlock(Some(b"correct horse")).unwrap();
            assert_eq!(unlocked.public_key(), key.public_key());

            let public = PublicKey::from_pem(&key.public_key().to_pem().unwrap()).unwrap();
            assert_eq!(&public, key.public_key());
            assert_eq!(public.key_type(), kind);
        }
    }

    #[test]
    fn keyid_is_the_sha256_of_the_spki_der() {
        // RFC 8410 section 10.1: an Ed25519 public key.
        let pem = "-----BEGIN PUBLIC KEY-----\n\
                   MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                   -----END PUBLIC KEY-----\n";
        let key = PublicKey::from_pem(pem).unwrap();
        assert_eq!(key.key_type(), KeyType::Ed25519);
        let der = pkcs8::der::pem::decode_vec(pem.trim_end().as_bytes())
            .unwrap()
            .1;
        assert_eq!(key.keyid(), hex::encode(Sha256::digest(&der)));
        assert_eq!(key.keyid().len(), 64);
    }

    #[test]
    fn the_wrong_kind_of_pem_is_named() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let public = key.public_key().to_pem().unwrap();
        let private = key.to_pkcs8_pem(None).unwrap();
        assert!(matches!(
            PrivateKeyFile::parse(&public),
            Err(KeyError::PublicNotPrivate)
        ));
        assert!(matches!(
            PublicKey::from_pem(&private),
            Err(KeyError::PrivateNotPublic)
        ));
        assert!(matches!(
            PrivateKeyFile::parse("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
            Err(KeyError::UnsupportedLabel(l)) if l == "EC PRIVATE KEY"
        ));
        assert!(matches!(
            PrivateKeyFile::parse("hello"),
            Err(KeyError::NotPem(_))
        ));
    }

    #[test]
    fn pem_blocks_are_found_among_other_text_and_crlf() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = key.public_key().to_pem().unwrap();
        let wrapped = format!(
            "comment line\r\n{}\r\ntrailer\r\n",
            pem.replace('\n', "\r\n")
        );
        assert_eq!(&PublicKey::from_pem(&wrapped).unwrap(), key.public_key());
    }

    #[test]
    fn permissions_refuse_readable_plain_keys_and_warn_for_encrypted_ones() {
        let p = Path::new("k.key");
        let check = |mode, protection| check_permissions(p, Some(mode), protection);
        assert_eq!(
            check(0o600, Protection::None).unwrap(),
            PermissionVerdict::Private
        );
        assert_eq!(
            check(0o400, Protection::None).unwrap(),
            PermissionVerdict::Private
        );
        assert!(matches!(
            check(0o644, Protection::None),
            Err(KeyError::Exposed { mode: 0o644, .. })
        ));
        assert!(matches!(
            check(0o640, Protection::None),
            Err(KeyError::Exposed { .. })
        ));
        assert_eq!(
            check(0o644, Protection::Cosign).unwrap(),
            PermissionVerdict::Loose { mode: 0o644 }
        );
        assert_eq!(
            check(0o604, Protection::Pkcs8Encrypted).unwrap(),
            PermissionVerdict::Loose { mode: 0o604 }
        );
        assert_eq!(
            check(0o602, Protection::None).unwrap(),
            PermissionVerdict::Loose { mode: 0o602 }
        );
        assert_eq!(
            check_permissions(p, None, Protection::None).unwrap(),
            PermissionVerdict::Private
        );
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("keyid"));
        let secret_hex = match &key.inner {
            SigningInner::Ed25519(k) => hex::encode(k.to_bytes()),
            SigningInner::EcdsaP256(_) => unreachable!(),
        };
        assert!(!debug.contains(&secret_hex));
        assert!(!debug.to_lowercase().contains(&secret_hex[..16]));
    }
}
