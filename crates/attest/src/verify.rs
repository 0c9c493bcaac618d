//! What a consumer checks before trusting an attestation, in order: the signature (before
//! anything in the payload is read), the payload type, the statement type, the subject digest
//! against the image they hold, the verdict, and the age. Each failure is its own error.

use super::dsse::Envelope;
use super::keys::PublicKey;
use super::predicates::{self, NoVerdict};
use super::statement::{
    DigestKind, ImageDigests, ResourceDescriptor, STATEMENT_TYPE_V1, Statement,
};
use super::{PAYLOAD_TYPE_IN_TOTO, parse_rfc3339};
use portcullis_gate::policy::Verdict;
use std::time::{Duration, SystemTime};

/// Clocks disagree; a statement dated this far ahead of ours is still accepted.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the envelope holds no signature")]
    NoSignatures,
    #[error(
        "no signature verifies with key {keyid}: the payload was altered, the signature \
         replaced, or the envelope was signed with another key{}",
        keyid_hint(.envelope_keyids)
    )]
    BadSignature {
        keyid: String,
        envelope_keyids: Vec<String>,
    },
    #[error("payload type is {found:?}, expected {PAYLOAD_TYPE_IN_TOTO:?}")]
    PayloadType { found: String },
    #[error("the payload is not an in-toto statement: {0}")]
    NotAStatement(String),
    #[error("statement type is {found:?}, expected {STATEMENT_TYPE_V1:?}")]
    StatementType { found: String },
    #[error("the statement has no subject with a sha256 digest")]
    NoSubjectDigest,
    #[error("the attestation is about {subjects}, not this image ({kind} digest {expected})")]
    SubjectMismatch {
        subjects: String,
        kind: DigestKind,
        expected: String,
    },
    #[error(
        "the attestation names a manifest digest ({subjects}), but this image has none \
         (a docker-archive stores no manifest): verify against the image it was made from"
    )]
    NoManifestDigest { subjects: String },
    #[error("predicate {predicate_type} records no pass/fail verdict{}", missing_field(.field))]
    NoVerdict {
        predicate_type: String,
        field: Option<&'static str>,
    },
    #[error("the verdict is FAILED ({predicate_type})")]
    Failed { predicate_type: String },
    #[error("predicate {predicate_type} records no time to check --max-age against{}", missing_field(.field))]
    NoTime {
        predicate_type: String,
        field: Option<&'static str>,
    },
    #[error("the statement's time {text:?} is not an RFC 3339 timestamp")]
    BadTime { text: String },
    #[error("the attestation is too old: made {time}, {} ago, more than the {} allowed", human(*.age), human(*.max_age))]
    Expired {
        time: String,
        age: Duration,
        max_age: Duration,
    },
    #[error("the attestation is dated {time}, in the future")]
    FromTheFuture { time: String },
    #[error(
        "predicate {predicate_type} names no dated vulnerability data to check \
         --max-data-age against (it was made without a local database: `portcullis db update`)"
    )]
    NoDataTime { predicate_type: String },
    #[error("the vulnerability data is too old: {name} was last updated {time}, {} ago, more than the {} allowed", human(*.age), human(*.max_age))]
    DataExpired {
        name: String,
        time: String,
        age: Duration,
        max_age: Duration,
    },
}

fn keyid_hint(keyids: &[String]) -> String {
    let named: Vec<&str> = keyids
        .iter()
        .map(String::as_str)
        .filter(|k| !k.is_empty())
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!(" (the envelope names key {})", named.join(", "))
    }
}

fn missing_field(field: &Option<&'static str>) -> String {
    field.map_or(String::new(), |f| {
        format!(" (field {f} is missing or invalid)")
    })
}

/// Durations as people read them: `3d 4h`, `12m 5s`.
pub fn human(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// What the caller wants to be true besides a good signature.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// Digests of the image the attestation must be about.
    pub image: Option<ImageDigests>,
    pub verdict: VerdictRule,
    pub max_age: Option<Duration>,
    /// The vulnerability data the attestation was made with must have been current this
    /// recently (`verify --max-data-age`).
    pub max_data_age: Option<Duration>,
}

/// Which recorded verdicts verify. A signature proves who judged the image, not that it
/// passed: a verifier that only checked signatures would wave through a signed FAILED.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerdictRule {
    /// A FAILED verdict verifies too (the caller reads it from [`Verified::verdict`]).
    AllowFailed,
    /// A FAILED verdict does not verify; a predicate that records no verdict (an SBOM)
    /// does.
    #[default]
    RejectFailed,
    /// Only a recorded PASSED verifies: no verdict is as bad as FAILED.
    RequirePassed,
}

/// An attestation that passed every check asked for.
#[derive(Debug, Clone)]
pub struct Verified {
    pub statement: Statement,
    /// The subject that matched the image, when an image was given.
    pub matched: Option<ResourceDescriptor>,
    pub verdict: Option<Verdict>,
    /// The statement's time, when its predicate type records one.
    pub time: Option<String>,
}

pub fn verify(
    envelope: &Envelope,
    key: &PublicKey,
    expect: &Expectations,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    if envelope.signatures.is_empty() {
        return Err(VerifyError::NoSignatures);
    }
    envelope
        .verify(key)
        .map_err(|u| VerifyError::BadSignature {
            keyid: key.keyid(),
            envelope_keyids: u.keyids,
        })?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(VerifyError::PayloadType {
            found: envelope.payload_type.clone(),
        });
    }
    let value: serde_json::Value = serde_json::from_slice(&envelope.payload)
        .map_err(|e| VerifyError::NotAStatement(e.to_string()))?;
    let found_type = value.get("_type").and_then(|t| t.as_str()).unwrap_or("");
    if found_type != STATEMENT_TYPE_V1 {
        return Err(VerifyError::StatementType {
            found: found_type.to_string(),
        });
    }
    let statement: Statement =
        serde_json::from_value(value).map_err(|e| VerifyError::NotAStatement(e.to_string()))?;

    let matched = match &expect.image {
        Some(image) => Some(match_subject(&statement, image)?),
        None => None,
    };

    let verdict = predicates::verdict(&statement.predicate_type, &statement.predicate);
    match (expect.verdict, &verdict) {
        (VerdictRule::AllowFailed, _)
        | (_, Ok(Verdict::Passed))
        | (VerdictRule::RejectFailed, Err(_)) => {}
        (_, Ok(Verdict::Failed)) => {
            return Err(VerifyError::Failed {
                predicate_type: statement.predicate_type.clone(),
            });
        }
        (VerdictRule::RequirePassed, Err(why)) => {
            return Err(VerifyError::NoVerdict {
                predicate_type: statement.predicate_type.clone(),
                field: match why {
                    NoVerdict::UnknownType => None,
                    NoVerdict::Missing(f) => Some(f),
                },
            });
        }
    }

    let time = predicates::time(&statement.predicate_type, &statement.predicate);
    if let Some(max_age) = expect.max_age {
        let no_time = |field| VerifyError::NoTime {
            predicate_type: statement.predicate_type.clone(),
            field,
        };
        let text = match time {
            None => return Err(no_time(None)),
            Some((field, None)) => return Err(no_time(Some(field))),
            Some((_, Some(text))) => text,
        };
        let when = parse_rfc3339(text).ok_or_else(|| VerifyError::BadTime {
            text: text.to_string(),
        })?;
        match now.duration_since(when) {
            Ok(age) if age > max_age => {
                return Err(VerifyError::Expired {
                    time: text.to_string(),
                    age,
                    max_age,
                });
            }
            Ok(_) => {}
            Err(ahead) if ahead.duration() > CLOCK_SKEW => {
                return Err(VerifyError::FromTheFuture {
                    time: text.to_string(),
                });
            }
            Err(_) => {}
        }
    }

    if let Some(max_age) = expect.max_data_age {
        let no_data = || VerifyError::NoDataTime {
            predicate_type: statement.predicate_type.clone(),
        };
        let sets = predicates::data_times(&statement.predicate_type, &statement.predicate)
            .filter(|sets| !sets.is_empty())
            .ok_or_else(no_data)?;
        for (name, text) in sets {
            let text = text.ok_or_else(no_data)?;
            let when =
                parse_rfc3339(&text).ok_or_else(|| VerifyError::BadTime { text: text.clone() })?;
            if let Ok(age) = now.duration_since(when)
                && age > max_age
            {
                return Err(VerifyError::DataExpired {
                    name,
                    time: text,
                    age,
                    max_age,
                });
            }
        }
    }

    Ok(Verified {
        time: time.and_then(|(_, t)| t).map(str::to_string),
        verdict: verdict.ok(),
        matched,
        statement,
    })
}

/// The first subject whose digest is the image's digest of the kind the subject names.
fn match_subject(
    statement: &Statement,
    image: &ImageDigests,
) -> Result<ResourceDescriptor, VerifyError> {
    let with_digest: Vec<(&ResourceDescriptor, String)> = statement
        .subject
        .iter()
        .filter_map(|s| s.sha256().map(|d| (s, d)))
        .collect();
    if with_digest.is_empty() {
        return Err(VerifyError::NoSubjectDigest);
    }
    if let Some((subject, _)) = with_digest
        .iter()
        .find(|(s, d)| image.get(s.digest_kind()) == Some(d.as_str()))
    {
        return Ok((*subject).clone());
    }
    let subjects = with_digest
        .iter()
        .map(|(s, d)| {
            let name = if s.name.is_empty() { "?" } else { &s.name };
            format!("{name}@{d} ({} digest)", s.digest_kind())
        })
        .collect::<Vec<_>>()
        .join(", ");
    if image.manifest.is_none()
        && with_digest
            .iter()
            .all(|(s, _)| s.digest_kind() == DigestKind::Manifest)
    {
        return Err(VerifyError::NoManifestDigest { subjects });
    }
    let (kind, expected) = image.primary();
    Err(VerifyError::SubjectMismatch {
        subjects,
        kind,
        expected: expected.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyType, SigningKey};
    use crate::predicates::{SCAN_V1, VSA_V1};
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    const T0: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0)
    }

    fn image(manifest: Option<&str>, config: &str) -> ImageDigests {
        ImageDigests {
            manifest: manifest.map(str::to_string),
            config: config.to_string(),
        }
    }

    fn statement(
        subject_image: &ImageDigests,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Vec<u8> {
        Statement::new(
            ResourceDescriptor::image("app:1", subject_image),
            predicate_type,
            predicate,
        )
        .to_json()
    }

    fn scan_predicate(verdict: &str, time: &str) -> serde_json::Value {
        json!({"verdict": verdict, "timeVerified": time})
    }

    fn signed(key: &SigningKey, payload: Vec<u8>) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE_IN_TOTO, payload, key)
    }

    #[test]
    fn a_good_attestation_verifies_and_reports_what_it_says() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let img = image(Some("sha256:aaaa"), "sha256:cccc");
        let env = signed(
            &key,
            statement(
                &img,
                SCAN_V1,
                scan_predicate("PASSED", "2023-11-14T22:00:00Z"),
            ),
        );
        let verified = verify(
            &env,
            key.public_key(),
            &Expectations {
                image: Some(img),
                verdict: VerdictRule::RequirePassed,
                max_age: Some(Duration::from_secs(3600)),
                max_data_age: None,
            },
            now(),
        )
        .unwrap();
        assert_eq!(verified.verdict, Some(Verdict::Passed));
        assert_eq!(verified.time.as_deref(), Some("2023-11-14T22:00:00Z"));
        assert_eq!(verified.matched.unwrap().name, "app:1");
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let other = SigningKey::generate(KeyType::Ed25519).unwrap();
        let img = image(Some("sha256:aaaa"), "sha256:cccc");
        let good = statement(
            &img,
            SCAN_V1,
            scan_predicate("PASSED", "2023-11-14T22:00:00Z"),
        );
        let none = Expectations::default();
        let check = |env: &Envelope, expect: &Expectations| {
            verify(env, key.public_key(), expect, now()).unwrap_err()
        };

        let mut unsigned = signed(&key, good.clone());
        unsigned.signatures.clear();
        assert_eq!(check(&unsigned, &none), VerifyError::NoSignatures);

        let mut tampered = signed(&key, good.clone());
        tampered.payload = statement(
            &img,
            SCAN_V1,
            scan_predicate("PASSED", "2030-01-01T00:00:00Z"),
        );
        assert!(matches!(
            check(&tampered, &none),
            VerifyError::BadSignature { .. }
        ));

        let by_other = signed(&other, good.clone());
        match check(&by_other, &none) {
            VerifyError::BadSignature {
                keyid,
                envelope_keyids,
            } => {
                assert_eq!(keyid, key.public_key().keyid());
                assert_eq!(envelope_keyids, vec![other.public_key().keyid()]);
            }
            e => panic!("{e}"),
        }

        let wrong_type = Envelope::sign("application/json", good.clone(), &key);
        assert!(matches!(
            check(&wrong_type, &none),
            VerifyError::PayloadType { .. }
        ));

        let not_json = signed(&key, b"not json".to_vec());
        assert!(matches!(
            check(&not_json, &none),
            VerifyError::NotAStatement(_)
        ));

        let v01 = signed(
            &key,
            json!({"_type": "https://in-toto.io/Statement/v0.1", "subject": [], "predicateType": SCAN_V1})
                .to_string()
                .into_bytes(),
        );
        assert!(matches!(
            check(&v01, &none),
            VerifyError::StatementType { .. }
        ));

        let env = signed(&key, good.clone());
        let elsewhere = Expectations {
            image: Some(image(Some("sha256:bbbb"), "sha256:dddd")),
            ..Default::default()
        };
        assert!(matches!(
            check(&env, &elsewhere),
            VerifyError::SubjectMismatch { .. }
        ));
        let archive = Expectations {
            image: Some(image(None, "sha256:cccc")),
            ..Default::default()
        };
        assert!(matches!(
            check(&env, &archive),
            VerifyError::NoManifestDigest { .. }
        ));

        let failed = signed(
            &key,
            statement(
                &img,
                SCAN_V1,
                scan_predicate("FAILED", "2023-11-14T22:00:00Z"),
            ),
        );
        let require_pass = Expectations {
            verdict: VerdictRule::RequirePassed,
            ..Default::default()
        };
        let allow_failed = Expectations {
            verdict: VerdictRule::AllowFailed,
            ..Default::default()
        };
        for rejecting in [&require_pass, &none] {
            assert!(matches!(
                check(&failed, rejecting),
                VerifyError::Failed { .. }
            ));
        }
        let verified = verify(&failed, key.public_key(), &allow_failed, now()).unwrap();
        assert_eq!(verified.verdict, Some(Verdict::Failed));

        // No verdict to judge: only a required pass refuses it.
        let unknown = signed(&key, statement(&img, "https://example.com/p", json!({})));
        assert!(matches!(
            check(&unknown, &require_pass),
            VerifyError::NoVerdict { field: None, .. }
        ));
        assert!(verify(&unknown, key.public_key(), &none, now()).is_ok());

        let within = |secs| Expectations {
            max_age: Some(Duration::from_secs(secs)),
            ..Default::default()
        };
        // 2023-11-14T22:00:00Z is 800 s before now().
        assert!(matches!(
            check(&env, &within(799)),
            VerifyError::Expired { .. }
        ));
        assert!(verify(&env, key.public_key(), &within(800), now()).is_ok());
        let future = signed(
            &key,
            statement(
                &img,
                SCAN_V1,
                scan_predicate("PASSED", "2023-11-15T00:00:00Z"),
            ),
        );
        assert!(matches!(
            check(&future, &within(60)),
            VerifyError::FromTheFuture { .. }
        ));
        let garbled = signed(
            &key,
            statement(&img, SCAN_V1, scan_predicate("PASSED", "last week")),
        );
        assert!(matches!(
            check(&garbled, &within(60)),
            VerifyError::BadTime { .. }
        ));
        let timeless = signed(
            &key,
            statement(&img, VSA_V1, json!({"verificationResult": "PASSED"})),
        );
        assert!(matches!(
            check(&timeless, &within(60)),
            VerifyError::NoTime {
                field: Some("/timeVerified"),
                ..
            }
        ));
    }

    #[test]
    fn config_digest_subjects_match_the_config_of_any_image() {
        let key = SigningKey::generate(KeyType::EcdsaP256).unwrap();
        let archive = image(None, "sha256:cccc");
        let env = signed(&key, statement(&archive, VSA_V1, json!({})));
        // The same image read from an OCI layout has a manifest digest too.
        let layout = image(Some("sha256:aaaa"), "sha256:cccc");
        let expect = Expectations {
            image: Some(layout),
            ..Default::default()
        };
        assert!(verify(&env, key.public_key(), &expect, now()).is_ok());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(90_061)), "1d 1h");
        assert_eq!(human(Duration::from_secs(65)), "1m 5s");
        assert_eq!(human(Duration::from_millis(20)), "20ms");
    }
}
