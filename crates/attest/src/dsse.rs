//! Dead Simple Signing Envelope (DSSE v1): a payload, its type, and signatures over the
//! pre-authentication encoding of both, so that a signature can never be replayed over the
//! same bytes read as another type.
//!
//! ```json
//! {"payload": "<base64>", "payloadType": "application/vnd.in-toto+json",
//!  "signatures": [{"keyid": "<hex>", "sig": "<base64>"}]}
//! ```

use super::keys::{PublicKey, SigningKey};
use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum DsseError {
    #[error("not a DSSE envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the envelope's {0} is not valid base64")]
    Base64(&'static str),
}

/// The envelope holds signatures, but none verifies under the key given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no signature in the envelope verifies with the key")]
pub struct Unverified {
    /// The key ids the signatures name (unauthenticated hints, possibly empty).
    pub keyids: Vec<String>,
}

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where LEN is the
/// byte length in ASCII decimal without leading zeros.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// An unauthenticated hint at the key that made the signature; cosign leaves it empty.
    pub keyid: String,
    pub sig: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize)]
struct WireEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize, Deserialize)]
struct WireSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// Readers must accept standard and URL-safe base64, padded or not (DSSE protocol).
fn decode_base64(text: &str, what: &'static str) -> Result<Vec<u8>, DsseError> {
    STANDARD_PAD_INDIFFERENT
        .decode(text)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(text))
        .map_err(|_| DsseError::Base64(what))
}

impl Envelope {
    /// Signs `payload` as `payload_type` with one key; the key id is the public key's.
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &SigningKey) -> Envelope {
        let sig = key.sign(&pae(payload_type, &payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload,
            signatures: vec![Signature {
                keyid: key.public_key().keyid(),
                sig,
            }],
        }
    }

    pub fn from_json(json: &[u8]) -> Result<Envelope, DsseError> {
        let wire: WireEnvelope = serde_json::from_slice(json)?;
        let signatures = wire
            .signatures
            .into_iter()
            .map(|s| {
                Ok(Signature {
                    keyid: s.keyid,
                    sig: decode_base64(&s.sig, "signature")?,
                })
            })
            .collect::<Result<_, DsseError>>()?;
        Ok(Envelope {
            payload: decode_base64(&wire.payload, "payload")?,
            payload_type: wire.payload_type,
            signatures,
        })
    }

    /// The envelope as one line of JSON (the `.intoto.jsonl` convention), standard base64.
    pub fn to_json(&self) -> String {
        let wire = WireEnvelope {
            payload: STANDARD.encode(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        // Strings and vectors of strings always serialize.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Succeeds when at least one signature verifies under `key` over the PAE of this
    /// envelope's type and payload. Key ids are hints only: cosign writes none, so every
    /// signature is tried.
    pub fn verify(&self, key: &PublicKey) -> Result<(), Unverified> {
        let message = pae(&self.payload_type, &self.payload);
        if self
            .signatures
            .iter()
            .any(|s| key.verify(&message, &s.sig).is_ok())
        {
            Ok(())
        } else {
            Err(Unverified {
                keyids: self.signatures.iter().map(|s| s.keyid.clone()).collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    #[test]
    fn pae_matches_the_dsse_specification() {
        // The worked example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
        // Lengths count bytes, not characters.
        assert_eq!(pae("é", b"\xff"), b"DSSEv1 2 \xc3\xa9 1 \xff".to_vec());
    }

    #[test]
    fn envelopes_round_trip_and_verify() {
        for kind in [KeyType::EcdsaP256, KeyType::Ed25519] {
            let key = SigningKey::generate(kind).unwrap();
            let env = Envelope::sign("application/x", b"{\"a\":1}".to_vec(), &key);
            assert_eq!(env.signatures[0].keyid, key.public_key().keyid());
            let back = Envelope::from_json(env.to_json().as_bytes()).unwrap();
            assert_eq!(back, env);
            assert!(back.verify(key.public_key()).is_ok());

            let mut retyped = back.clone();
            retyped.payload_type = "application/y".into();
            assert!(retyped.verify(key.public_key()).is_err(), "type is signed");
            let mut altered = back.clone();
            altered.payload.push(b' ');
            assert!(
                altered.verify(key.public_key()).is_err(),
                "payload is signed"
            );
            let other = SigningKey::generate(kind).unwrap();
            assert_eq!(
                back.verify(other.public_key()),
                Err(Unverified {
                    keyids: vec![key.public_key().keyid()]
                })
            );
        }
    }

    #[test]
    fn any_verifying_signature_suffices_whatever_its_keyid() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let other = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let mut env = Envelope::sign("t", b"p".to_vec(), &other);
        let mine = Envelope::sign("t", b"p".to_vec(), &key);
        env.signatures.push(Signature {
            keyid: String::new(),
            sig: mine.signatures[0].sig.clone(),
        });
        assert!(env.verify(key.public_key()).is_ok());
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_read() {
        let json = r#"{"payload":"-_8","payloadType":"t","signatures":[{"sig":"AA"}]}"#;
        let env = Envelope::from_json(json.as_bytes()).unwrap();
        assert_eq!(env.payload, vec![0xfb, 0xff]);
        assert_eq!(env.signatures[0].sig, vec![0]);
        assert_eq!(env.signatures[0].keyid, "");
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        assert!(matches!(
            Envelope::from_json(b"{\"payload\":\"AA\"}"),
            Err(DsseError::Json(_))
        ));
        assert!(matches!(
            Envelope::from_json(br#"{"payload":"%%","payloadType":"t","signatures":[]}"#),
            Err(DsseError::Base64("payload"))
        ));
    }
}
