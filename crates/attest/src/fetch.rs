//! Finding the envelopes attached to an image in its repository, wherever [`push`](super::push)
//! or cosign put them: the layers of cosign's `sha256-<hex>.att` manifest, and the OCI 1.1
//! referrers of the image manifest (from the referrers API, or the referrers tag schema's
//! `sha256-<hex>` index when the registry has no such API).
//!
//! Nothing here is trusted: every digest is checked before it is used in a URL, every
//! document and blob is read up to a bound and checked against its digest, a referrer must
//! name this image as its subject, and only so many attestations are read from each place.
//! What is wrong with one attestation is said of that attestation; only the registry itself
//! failing (unreachable, access denied) is an error.

use super::dsse::Envelope;
use super::push::{
    DSSE_MEDIA_TYPE, ImageIndex, ImageManifest, OCI_INDEX, OCI_MANIFEST, cosign_tag, referrers_tag,
};
use portcullis_image::reference::is_sha256_digest;
use portcullis_image::registry::RegistryError;
use portcullis_image::registry::client::{Client, MANIFEST_ACCEPT};
use portcullis_image::resolve::MAX_MANIFEST;
use portcullis_layer::decode::sha256_of;

/// Envelopes carry one report; even large ones stay far below this.
pub const MAX_ENVELOPE: u64 = 64 << 20;
/// Attestations read from each place (the `.att` tag, the referrers list).
pub const MAX_ATTESTATIONS: usize = 64;
/// The artifact type of in-toto statements, which some tools give their DSSE referrers.
const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";

/// One envelope, however many places list it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The digest of the envelope's blob.
    pub digest: String,
    /// Where it is attached: `tag sha256-….att layer 1`, `referrer sha256:… (tag sha256-…)`.
    pub sources: Vec<String>,
    /// The envelope, or why it could not be read.
    pub envelope: Result<Envelope, String>,
}

/// What a search found, and where it looked.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub found: Vec<Found>,
    /// One line per place looked in, saying what was there.
    pub looked: Vec<String>,
    /// What was wrong beyond any one envelope: a manifest or index that cannot be read, a
    /// referrer of another image, more attestations than are read.
    pub problems: Vec<String>,
}

/// Looks for the attestations of the image manifest `subject` in the client's repository.
pub async fn find(client: &Client, subject: &str) -> Result<Search, RegistryError> {
    let mut search = Search::default();
    search.cosign_tag(client, subject).await?;
    search.referrers(client, subject).await?;
    Ok(search)
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

impl Search {
    async fn cosign_tag(&mut self, client: &Client, subject: &str) -> Result<(), RegistryError> {
        let tag = cosign_tag(subject);
        let Some(fetched) = client
            .get_manifest_raw(&tag, MANIFEST_ACCEPT, MAX_MANIFEST)
            .await?
        else {
            self.looked.push(format!("tag {tag}: none"));
            return Ok(());
        };
        let manifest: ImageManifest = match serde_json::from_slice(&fetched.data) {
            Ok(m) => m,
            Err(e) => {
                self.looked.push(format!("tag {tag}: unreadable"));
                self.problems
                    .push(format!("tag {tag} is not an image manifest: {e}"));
                return Ok(());
            }
        };
        let envelopes: Vec<_> = manifest
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.media_type == DSSE_MEDIA_TYPE)
            .collect();
        self.looked.push(format!(
            "tag {tag}: {}",
            plural(envelopes.len(), "attestation")
        ));
        if envelopes.len() > MAX_ATTESTATIONS {
            self.problems.push(format!(
                "tag {tag} holds {} attestations; only the first {MAX_ATTESTATIONS} are read",
                envelopes.len()
            ));
        }
        for (i, layer) in envelopes.into_iter().take(MAX_ATTESTATIONS) {
            self.add(
                client,
                &layer.digest,
                layer.size,
                format!("tag {tag} layer {}", i + 1),
            )
            .await?;
        }
        Ok(())
    }

    async fn referrers(&mut self, client: &Client, subject: &str) -> Result<(), RegistryError> {
        let (data, via) = match client
            .referrers(subject, Some(DSSE_MEDIA_TYPE), MAX_MANIFEST)
            .await?
        {
            Some(data) => (data, "the referrers API".to_string()),
            None => {
                let tag = referrers_tag(subject);
                match client
                    .get_manifest_raw(&tag, OCI_INDEX, MAX_MANIFEST)
                    .await?
                {
                    Some(fetched) => (fetched.data, format!("tag {tag}")),
                    None => {
                        self.looked
                            .push(format!("referrers: none (no referrers API; no tag {tag})"));
                        return Ok(());
                    }
                }
            }
        };
        let index: ImageIndex = match serde_json::from_slice(&data) {
            Ok(i) => i,
            Err(e) => {
                self.looked
                    .push(format!("referrers from {via}: unreadable"));
                self.problems.push(format!(
                    "the referrers list from {via} is not an image index: {e}"
                ));
                return Ok(());
            }
        };
        let attestations: Vec<_> = index
            .manifests
            .iter()
            .filter(|d| {
                matches!(
                    d.artifact_type.as_deref(),
                    Some(DSSE_MEDIA_TYPE | IN_TOTO_MEDIA_TYPE)
                )
            })
            .collect();
        self.looked.push(format!(
            "referrers from {via}: {}",
            plural(attestations.len(), "attestation")
        ));
        if attestations.len() > MAX_ATTESTATIONS {
            self.problems.push(format!(
                "{via} lists {} attestations; only the first {MAX_ATTESTATIONS} are read",
                attestations.len()
            ));
        }
        for descriptor in attestations.into_iter().take(MAX_ATTESTATIONS) {
            let digest = &descriptor.digest;
            if !is_sha256_digest(digest) {
                self.problems.push(format!(
                    "{via} lists a referrer whose digest {digest:?} is not a sha256 digest"
                ));
                continue;
            }
            let what = format!("referrer {digest} (from {via})");
            let Some(fetched) = client
                .get_manifest_raw(digest, OCI_MANIFEST, MAX_MANIFEST)
                .await?
            else {
                self.problems
                    .push(format!("{what} is not in the repository"));
                continue;
            };
            let manifest: ImageManifest = match serde_json::from_slice(&fetched.data) {
                Ok(m) => m,
                Err(e) => {
                    self.problems
                        .push(format!("{what} is not an image manifest: {e}"));
                    continue;
                }
            };
            match manifest.subject.as_ref().map(|s| s.digest.as_str()) {
                Some(s) if s == subject => {}
                other => {
                    self.problems.push(format!(
                        "{what} is attached to {}, not to this image",
                        other.unwrap_or("no subject")
                    ));
                    continue;
                }
            }
            for layer in manifest
                .layers
                .iter()
                .filter(|l| l.media_type == DSSE_MEDIA_TYPE)
            {
                self.add(client, &layer.digest, layer.size, what.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// Reads the envelope blob `digest` unless it was found elsewhere already.
    async fn add(
        &mut self,
        client: &Client,
        digest: &str,
        size: u64,
        source: String,
    ) -> Result<(), RegistryError> {
        if let Some(found) = self.found.iter_mut().find(|f| f.digest == digest) {
            found.sources.push(source);
            return Ok(());
        }
        let envelope = read_envelope(client, digest, size).await?;
        self.found.push(Found {
            digest: digest.to_string(),
            sources: vec![source],
            envelope,
        });
        Ok(())
    }
}

/// The envelope in the blob `digest`, or why it cannot be had; `Err` only when the registry
/// itself fails.
async fn read_envelope(
    client: &Client,
    digest: &str,
    size: u64,
) -> Result<Result<Envelope, String>, RegistryError> {
    if !is_sha256_digest(digest) {
        return Ok(Err(format!(
            "the layer's digest {digest:?} is not a sha256 digest"
        )));
    }
    if size > MAX_ENVELOPE {
        return Ok(Err(format!(
            "the layer declares {size} bytes, more than the {MAX_ENVELOPE} read for an envelope"
        )));
    }
    let data = match client.blob(digest, MAX_ENVELOPE).await {
        Ok(data) => data,
        Err(RegistryError::NotFound { .. }) => {
            return Ok(Err("the envelope's blob is not in the repository".into()));
        }
        Err(e @ RegistryError::TooLarge { .. }) => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    let actual = sha256_of(&data);
    if actual != digest {
        return Ok(Err(format!(
            "the envelope's blob does not match its digest (got {actual})"
        )));
    }
    if data.len() as u64 != size {
        return Ok(Err(format!(
            "the envelope's blob is {} bytes but its descriptor says {size}",
            data.len()
        )));
    }
    Ok(Envelope::from_json(&data).map_err(|e| e.to_string()))
}
