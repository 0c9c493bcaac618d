//! Signed stored facts: the statement `--sign-facts` adds beside the facts `--attach-facts`
//! stores next to an image, and the checks `recheck --facts-key` makes before judging from
//! them.
//!
//! Anyone who can push to a repository can store facts next to its images; unsigned, they
//! are trusted as far as the registry's write access is. Signed, a recheck knows the facts
//! are the ones a holder of the key stored for this very image: the statement's subject is
//! the image manifest's digest, and its predicate names the facts blob by digest, so facts
//! moved to another image, or changed, are refused.

use crate::dsse::Envelope;
use crate::keys::{PublicKey, SigningKey};
use crate::statement::{ResourceDescriptor, Statement};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The predicate type of the statement about stored facts.
pub const PREDICATE_TYPE: &str = "https://portcullis.dev/stored-facts/v1";
/// The media type of the envelope's layer in the facts artifact.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The largest envelope read back.
pub const MAX_ENVELOPE: u64 = 1 << 20;

/// Why stored facts are not trusted under a key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FactsSignatureError {
    #[error("the stored facts are not signed")]
    Unsigned,
    #[error("the facts signature is not a DSSE envelope: {0}")]
    Malformed(String),
    #[error("the facts signature does not verify under the --facts-key key")]
    BadSignature,
    #[error("the facts signature is about {found}, not this image ({expected})")]
    OtherImage { expected: String, found: String },
    #[error("the facts signature names other facts ({found}) than those stored ({expected})")]
    OtherFacts { expected: String, found: String },
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Signs the statement that `facts` (the stored blob, of `media_type`) are those of the
/// image whose manifest digest is `manifest` (named `name`).
pub fn sign(
    name: &str,
    manifest: &str,
    media_type: &str,
    facts: &[u8],
    key: &SigningKey,
) -> Envelope {
    let hex = manifest.strip_prefix("sha256:").unwrap_or(manifest);
    let subject = ResourceDescriptor {
        name: name.to_string(),
        digest: BTreeMap::from([("sha256".to_string(), hex.to_string())]),
        annotations: Default::default(),
    };
    let predicate = json!({
        "facts": {
            "mediaType": media_type,
            "digest": sha256(facts),
            "size": facts.len(),
        }
    });
    let statement = Statement::new(subject, PREDICATE_TYPE, predicate);
    Envelope::sign(crate::PAYLOAD_TYPE_IN_TOTO, statement.to_json(), key)
}

/// Checks that `envelope` (the stored signature, `None` when there is none) is a statement
/// signed by `key` that the facts blob `facts` belong to the image of manifest digest
/// `manifest`.
pub fn verify(
    envelope: Option<&[u8]>,
    key: &PublicKey,
    manifest: &str,
    facts: &[u8],
) -> Result<(), FactsSignatureError> {
    let envelope = envelope.ok_or(FactsSignatureError::Unsigned)?;
    let envelope =
        Envelope::from_json(envelope).map_err(|e| FactsSignatureError::Malformed(e.to_string()))?;
    envelope
        .verify(key)
        .map_err(|_| FactsSignatureError::BadSignature)?;
    if envelope.payload_type != crate::PAYLOAD_TYPE_IN_TOTO {
        return Err(FactsSignatureError::Malformed(format!(
            "payload type {:?}",
            envelope.payload_type
        )));
    }
    let statement: Statement = serde_json::from_slice(&envelope.payload)
        .map_err(|e| FactsSignatureError::Malformed(format!("the statement: {e}")))?;
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(FactsSignatureError::Malformed(format!(
            "predicate type {:?}",
            statement.predicate_type
        )));
    }
    let found = match statement.subject.as_slice() {
        [subject] => subject.sha256().unwrap_or_default(),
        _ => String::new(),
    };
    if found != manifest {
        return Err(FactsSignatureError::OtherImage {
            expected: manifest.to_string(),
            found,
        });
    }
    let expected = sha256(facts);
    let named = statement.predicate["facts"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if named != expected {
        return Err(FactsSignatureError::OtherFacts {
            expected,
            found: named,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    const MANIFEST: &str =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn signed_facts_verify_only_for_their_image_their_blob_and_the_key() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let stranger = SigningKey::generate(KeyType::Ed25519).unwrap();
        let facts = b"the facts".to_vec();
        let envelope = sign("r/app", MANIFEST, "application/x", &facts, &key)
            .to_json()
            .into_bytes();
        let public = key.public_key();
        assert_eq!(verify(Some(&envelope), public, MANIFEST, &facts), Ok(()));
        assert_eq!(
            verify(None, public, MANIFEST, &facts),
            Err(FactsSignatureError::Unsigned)
        );
        assert_eq!(
            verify(Some(&envelope), stranger.public_key(), MANIFEST, &facts),
            Err(FactsSignatureError::BadSignature)
        );
        assert!(matches!(
            verify(Some(&envelope), public, OTHER, &facts),
            Err(FactsSignatureError::OtherImage { .. })
        ));
        assert!(matches!(
            verify(Some(&envelope), public, MANIFEST, b"other facts"),
            Err(FactsSignatureError::OtherFacts { .. })
        ));
        assert!(matches!(
            verify(Some(b"{"), public, MANIFEST, &facts),
            Err(FactsSignatureError::Malformed(_))
        ));
        // Another statement signed by the same key is not a facts signature.
        let other = Statement::new(
            ResourceDescriptor {
                name: "r/app".into(),
                digest: BTreeMap::from([("sha256".into(), MANIFEST[7..].into())]),
                annotations: Default::default(),
            },
            "https://example.com/other",
            json!({"facts": {"digest": sha256(&facts)}}),
        );
        let other = Envelope::sign(crate::PAYLOAD_TYPE_IN_TOTO, other.to_json(), &key)
            .to_json()
            .into_bytes();
        assert!(matches!(
            verify(Some(&other), public, MANIFEST, &facts),
            Err(FactsSignatureError::Malformed(_))
        ));
    }
}
