//! cosign's encrypted private keys, so that a key pair made with `cosign generate-key-pair`
//! signs portcullis attestations as it is.
//!
//! The PEM block (`ENCRYPTED SIGSTORE PRIVATE KEY`, or `ENCRYPTED COSIGN PRIVATE KEY` before
//! cosign 2.0) holds JSON, as go-securesystemslib's `encrypted` package writes it:
//!
//! ```json
//! {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": "<base64>"},
//!  "cipher": {"name": "nacl/secretbox", "nonce": "<base64>"},
//!  "ciphertext": "<base64>"}
//! ```
//!
//! The key is scrypt(passphrase, salt), 32 bytes; the ciphertext is NaCl secretbox
//! (XSalsa20-Poly1305) over the PKCS#8 DER of the private key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use serde::Deserialize;
use zeroize::Zeroizing;

/// PEM labels of cosign's encrypted private keys, newest first.
pub const PEM_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

const KDF_SCRYPT: &str = "scrypt";
const CIPHER_SECRETBOX: &str = "nacl/secretbox";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// scrypt needs 128·r·N bytes. cosign uses N = 2^15 and r = 8 (32 MiB); the cap keeps a
/// hostile key file from asking for gigabytes or hours.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_SCRYPT_P: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    #[error("the encrypted key is not cosign's JSON envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the encrypted key's {field} is not valid base64")]
    Base64 { field: &'static str },
    #[error("unsupported key derivation {0:?} (cosign keys use scrypt)")]
    Kdf(String),
    #[error("unsupported cipher {0:?} (cosign keys use nacl/secretbox)")]
    Cipher(String),
    #[error("scrypt parameters N={n}, r={r}, p={p} are out of bounds")]
    ScryptParams { n: u64, r: u32, p: u32 },
    #[error("the secretbox nonce is {0} bytes, expected 24")]
    Nonce(usize),
    #[error("wrong passphrase, or the key file is corrupted")]
    Decrypt,
}

#[derive(Deserialize)]
struct Envelope {
    kdf: KdfJson,
    cipher: CipherJson,
    ciphertext: String,
}

#[derive(Deserialize)]
struct KdfJson {
    name: String,
    params: ScryptJson,
    salt: String,
}

#[derive(Deserialize)]
struct ScryptJson {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct CipherJson {
    name: String,
    nonce: String,
}

/// A cosign private key, still encrypted.
#[derive(Debug, Clone)]
pub struct EncryptedKey {
    log_n: u8,
    r: u32,
    p: u32,
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl EncryptedKey {
    /// Parses the JSON inside the PEM block and checks its parameters before any work is done.
    pub fn from_json(json: &[u8]) -> Result<EncryptedKey, CosignError> {
        let envelope: Envelope = serde_json::from_slice(json)?;
        if envelope.kdf.name != KDF_SCRYPT {
            return Err(CosignError::Kdf(envelope.kdf.name));
        }
        if envelope.cipher.name != CIPHER_SECRETBOX {
            return Err(CosignError::Cipher(envelope.cipher.name));
        }
        let ScryptJson { n, r, p } = envelope.kdf.params;
        let out_of_bounds = || CosignError::ScryptParams { n, r, p };
        if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 || p > MAX_SCRYPT_P {
            return Err(out_of_bounds());
        }
        let memory = 128u64
            .checked_mul(u64::from(r))
            .and_then(|m| m.checked_mul(n))
            .ok_or_else(out_of_bounds)?;
        if memory > MAX_SCRYPT_MEMORY {
            return Err(out_of_bounds());
        }
        let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| out_of_bounds())?;
        let decode = |field: &'static str, text: &str| {
            STANDARD
                .decode(text)
                .map_err(|_| CosignError::Base64 { field })
        };
        let nonce = decode("nonce", &envelope.cipher.nonce)?;
        let nonce: [u8; NONCE_LEN] = nonce
            .as_slice()
            .try_into()
            .map_err(|_| CosignError::Nonce(nonce.len()))?;
        Ok(EncryptedKey {
            log_n,
            r,
            p,
            salt: decode("salt", &envelope.kdf.salt)?,
            nonce,
            ciphertext: decode("ciphertext", &envelope.ciphertext)?,
        })
    }

    /// Derives the key from `passphrase` and opens the box: the PKCS#8 DER of the private key.
    pub fn decrypt(&self, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, CosignError> {
        if self.ciphertext.len() < TAG_LEN {
            return Err(CosignError::Decrypt);
        }
        let key = derive_key(passphrase, &self.salt, self.log_n, self.r, self.p)?;
        let cipher = XSalsa20Poly1305::new(Key::from_slice(key.as_slice()));
        cipher
            .decrypt(Nonce::from_slice(&self.nonce), self.ciphertext.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| CosignError::Decrypt)
    }
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, CosignError> {
    let params = scrypt::Params::new(log_n, r, p).map_err(|_| CosignError::ScryptParams {
        n: 1u64 << log_n,
        r,
        p,
    })?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, key.as_mut_slice()).map_err(|_| {
        CosignError::ScryptParams {
            n: 1u64 << log_n,
            r,
            p,
        }
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals `plaintext` the way cosign does, with small scrypt parameters to keep tests fast.
    fn seal(plaintext: &[u8], passphrase: &[u8], n: u64) -> String {
        let salt = [7u8; 32];
        let nonce = [9u8; NONCE_LEN];
        let key = derive_key(passphrase, &salt, n.trailing_zeros() as u8, 8, 1).unwrap();
        let cipher = XSalsa20Poly1305::new(Key::from_slice(key.as_slice()));
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .unwrap();
        serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1},
                    "salt": STANDARD.encode(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": STANDARD.encode(nonce)},
            "ciphertext": STANDARD.encode(ciphertext),
        })
        .to_string()
    }

    #[test]
    fn opens_with_the_right_passphrase_only() {
        let json = seal(b"pkcs8 bytes", b"hunter2", 1024);
        let key = EncryptedKey::from_json(json.as_bytes()).unwrap();
        assert_eq!(key.decrypt(b"hunter2").unwrap().as_slice(), b"pkcs8 bytes");
        assert!(matches!(key.decrypt(b"hunter3"), Err(CosignError::Decrypt)));
    }

    #[test]
    fn rejects_what_cosign_never_writes() {
        let good: serde_json::Value = serde_json::from_str(&seal(b"x", b"pw", 1024)).unwrap();
        let with = |path: &[&str], value: serde_json::Value| {
            let mut v = good.clone();
            let mut slot = &mut v;
            for key in path {
                slot = &mut slot[*key];
            }
            *slot = value;
            EncryptedKey::from_json(v.to_string().as_bytes())
        };
        use serde_json::json;
        assert!(matches!(
            with(&["kdf", "name"], json!("pbkdf2")),
            Err(CosignError::Kdf(_))
        ));
        assert!(matches!(
            with(&["cipher", "name"], json!("aes-gcm")),
            Err(CosignError::Cipher(_))
        ));
        for (n, r, p) in [(1000, 8, 1), (1 << 20, 8, 1), (1024, 0, 1), (1024, 8, 99)] {
            assert!(
                matches!(
                    with(&["kdf", "params"], json!({"N": n, "r": r, "p": p})),
                    Err(CosignError::ScryptParams { .. })
                ),
                "N={n} r={r} p={p}"
            );
        }
        assert!(matches!(
            with(&["cipher", "nonce"], json!("AAAA")),
            Err(CosignError::Nonce(3))
        ));
        assert!(matches!(
            with(&["ciphertext"], json!("not base64!")),
            Err(CosignError::Base64 {
                field: "ciphertext"
            })
        ));
        assert!(matches!(
            EncryptedKey::from_json(b"{}"),
            Err(CosignError::Json(_))
        ));
    }
}
