//! Signing what a scan found, so that a consumer can trust the answer belongs to this exact
//! image: an in-toto Statement v1 about the image's digest, in a DSSE envelope.
//!
//! The pieces, in the order an attestation is made:
//! - [`keys`]: signing and verifying keys (ECDSA P-256, Ed25519), PKCS#8 and PKIX PEM files,
//!   passphrase-encrypted PKCS#8, and [`cosign`]'s encrypted key format;
//! - [`predicates`]: what is said about the image (our scan predicate, a SLSA verification
//!   summary, cosign's vulnerability predicate), built from a [`Report`](portcullis_gate::report::Report);
//! - [`statement`]: the in-toto statement binding a predicate to the image digest;
//! - [`dsse`]: the envelope and the signature over its pre-authentication encoding;
//! - [`verify`]: every check a consumer makes, each failure its own error.
//! - [`push`]: attaching a signed envelope to the image in its registry, as cosign does and as
//!   an OCI 1.1 referrer;
//! - [`fetch`]: finding the envelopes attached to an image there, for [`verify`];
//! - [`facts`]: the signature of the facts stored next to an image for `recheck`.

pub mod cosign;
pub mod dsse;
pub mod facts;
pub mod fetch;
pub mod keys;
pub mod predicates;
pub mod push;
pub mod statement;
pub mod verify;

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";

/// Formats a time as RFC 3339 in UTC, to the second (`2024-05-01T12:00:00Z`), as in-toto and
/// SLSA predicates write their timestamps.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(time)
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::from(time));
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp (any offset, fractional seconds allowed).
pub fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(std::time::SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_format_in_utc_to_the_second_and_parse_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_750);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.5+01:00"),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2023-11-14"), None);
    }
}
