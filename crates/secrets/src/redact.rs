//! What of a secret may leave the scanner: a few leading characters and its length, plus a
//! fingerprint to recognise the same secret in two places.

use sha2::{Digest as _, Sha256};

/// `ghp_******** (40 chars)`: up to a few leading characters (none for short secrets, whose
/// prefix would give too much away), a fixed-width mask, and the length in characters.
pub fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let len = text.chars().count();
    let shown = match len {
        0..=11 => 0,
        12..=23 => 2,
        _ => 4,
    };
    let prefix: String = text
        .chars()
        .take(shown)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    format!("{prefix}******** ({len} chars)")
}

/// Fingerprint of a secret for deduplication: SHA-256, the first 16 bytes in hex. Layer
/// reports store this, never the secret.
pub fn fingerprint(secret: &[u8]) -> String {
    let digest = Sha256::digest(secret);
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_a_short_prefix_and_the_length() {
        assert_eq!(
            redact(b"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"),
            "ghp_******** (40 chars)"
        );
        assert_eq!(redact(b"AKIA0123456789ABCDEF"), "AK******** (20 chars)");
        assert_eq!(redact(b"hunter2"), "******** (7 chars)");
        assert_eq!(
            redact("pässwörd-lang-genug-x".as_bytes()),
            "p?******** (21 chars)"
        );
    }

    #[test]
    fn fingerprints_are_stable_and_short() {
        assert_eq!(fingerprint(b"a"), fingerprint(b"a"));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_eq!(fingerprint(b"a").len(), 32);
    }
}
