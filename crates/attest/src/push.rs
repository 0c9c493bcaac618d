//! Attaching a signed envelope to its image in the image's own repository, in the two places
//! verifiers look for it:
//!
//! - **cosign's `.att` tag.** The tag `sha256-<hex>.att`, `<hex>` being the image manifest's
//!   digest, names an OCI image manifest with one layer per attestation: the envelope's JSON,
//!   media type `application/vnd.dsse.envelope.v1+json`, annotated with its `predicateType`.
//!   Its config is the one go-containerregistry computes for such an image (the layers'
//!   digests as `diff_ids`, zero times). A new attestation is appended to those already there.
//! - **An OCI 1.1 referrer.** A manifest of `artifactType`
//!   `application/vnd.dsse.envelope.v1+json` whose `subject` is the image manifest, with the
//!   empty config and the envelope as its one layer, pushed by digest. A registry with the
//!   referrers API indexes it (and says so in `OCI-Subject`); for one without, such as
//!   distribution 2.8, the referrers tag schema's index `sha256-<hex>` lists it instead.
//!
//! Nothing is ever replaced wholesale: what is under a tag is read first and extended, and
//! pushing the same envelope twice changes nothing.

use super::dsse::Envelope;
use bytes::Bytes;
use portcullis_image::registry::RegistryError;
use portcullis_image::registry::client::{Client, MANIFEST_ACCEPT};
use portcullis_image::resolve::MAX_MANIFEST;
use portcullis_layer::decode::sha256_of;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The media type of a DSSE envelope, as a layer and as an artifact type.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI 1.1 empty descriptor's media type, for artifacts without a config.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_JSON: &[u8] = b"{}";
/// The annotation cosign reads an attestation layer's predicate type from.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// cosign's readers require this annotation on every layer; on an attestation it is empty,
/// the signature being inside the envelope.
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// go-containerregistry's zero time, which cosign's configs carry.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{what} exists but is not {expected} ({reason}); not overwriting it")]
    Existing {
        what: String,
        expected: &'static str,
        reason: String,
    },
    #[error("the registry serves the image manifest {digest} without a media type")]
    SubjectType { digest: String },
    #[error("{what}: {reason}")]
    Artifact { what: String, reason: String },
}

/// A content descriptor. Fields this code does not use are kept as they were read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub size: u64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Descriptor {
    pub fn of(media_type: &str, data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            size: data.len() as u64,
            digest: sha256_of(data),
            annotations: BTreeMap::new(),
            artifact_type: None,
            other: Map::new(),
        }
    }
}

/// An image manifest, as far as attestations use one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index, as the referrers API and its fallback tag use one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `null` is read as no manifests, as some registries answer for an empty list.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub manifests: Vec<Descriptor>,
    /// Kept as read, so that extending another tool's index loses nothing of it.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Descriptor>, D::Error> {
    Ok(Option::<Vec<Descriptor>>::deserialize(d)?.unwrap_or_default())
}

fn to_json<T: Serialize>(value: &T) -> Bytes {
    // Strings, numbers and maps of strings: serialization cannot fail.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// `sha256:<hex>` as a tag: `sha256-<hex>`, the referrers tag schema's name for the index of
/// the manifest's referrers (the hex part of longer digests is cut to 64 characters).
pub fn referrers_tag(digest: &str) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    let hex: String = hex.chars().take(64).collect();
    format!("{algorithm}-{hex}")
}

/// cosign's tag for the attestations of the manifest `digest`: `sha256-<hex>.att`.
pub fn cosign_tag(digest: &str) -> String {
    format!("{}.att", referrers_tag(digest))
}

/// The envelope as a layer: its JSON, and a descriptor annotated as cosign annotates it.
pub fn envelope_layer(envelope: &Envelope, predicate_type: &str) -> (Bytes, Descriptor) {
    let data = Bytes::from(envelope.to_json());
    let mut layer = Descriptor::of(DSSE_MEDIA_TYPE, &data);
    layer
        .annotations
        .insert(COSIGN_SIGNATURE_ANNOTATION.into(), String::new());
    layer
        .annotations
        .insert(PREDICATE_TYPE_ANNOTATION.into(), predicate_type.into());
    (data, layer)
}

#[derive(Serialize)]
struct History {
    created: &'static str,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<&'a str>,
}

/// The config go-containerregistry computes for an image built from nothing by appending
/// uncompressed layers, which is how cosign builds its `.att` images: field for field, so
/// that the bytes (and the digest) are those cosign would write.
#[derive(Serialize)]
struct CosignConfig<'a> {
    architecture: &'static str,
    created: &'static str,
    history: Vec<History>,
    os: &'static str,
    rootfs: RootFs<'a>,
    config: Map<String, Value>,
}

fn cosign_config(layers: &[Descriptor]) -> Bytes {
    to_json(&CosignConfig {
        architecture: "",
        created: ZERO_TIME,
        history: layers
            .iter()
            .map(|_| History { created: ZERO_TIME })
            .collect(),
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.digest.as_str()).collect(),
        },
        config: Map::new(),
    })
}

/// A cosign `.att` image: its config blob and manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct CosignImage {
    pub config: Bytes,
    pub manifest: Bytes,
    /// Attestations in it.
    pub layers: usize,
}

/// The `.att` image with `layer` appended to the layers of `existing` (the manifest under
/// the tag now, if any), or `None` when `existing` already holds that very layer.
pub fn append_to_cosign_image(
    existing: Option<&[u8]>,
    layer: Descriptor,
    tag: &str,
) -> Result<Option<CosignImage>, PushError> {
    let mut layers = match existing {
        None => Vec::new(),
        Some(data) => {
            let manifest: ImageManifest =
                serde_json::from_slice(data).map_err(|e| PushError::Existing {
                    what: tag.to_string(),
                    expected: "an image manifest",
                    reason: e.to_string(),
                })?;
            manifest.layers
        }
    };
    if layers.iter().any(|l| l.digest == layer.digest) {
        return Ok(None);
    }
    layers.push(layer);
    let config = cosign_config(&layers);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG, &config),
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    };
    Ok(Some(CosignImage {
        config,
        layers: manifest.layers.len(),
        manifest: to_json(&manifest),
    }))
}

/// The OCI 1.1 artifact: the envelope as its one layer, the image as its subject.
pub fn referrer_manifest(subject: Descriptor, layer: Descriptor, predicate_type: &str) -> Bytes {
    let mut annotations = BTreeMap::new();
    annotations.insert(PREDICATE_TYPE_ANNOTATION.to_string(), predicate_type.into());
    to_json(&ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: Some(DSSE_MEDIA_TYPE.into()),
        config: Descriptor::of(OCI_EMPTY, EMPTY_JSON),
        layers: vec![layer],
        subject: Some(subject),
        annotations,
    })
}

/// How a referrer's descriptor appears in a referrers list: its artifact type and
/// annotations copied from the manifest.
pub fn referrer_descriptor(
    manifest: &[u8],
    artifact_type: &str,
    predicate_type: &str,
) -> Descriptor {
    let mut descriptor = Descriptor::of(OCI_MANIFEST, manifest);
    descriptor.artifact_type = Some(artifact_type.into());
    descriptor
        .annotations
        .insert(PREDICATE_TYPE_ANNOTATION.into(), predicate_type.into());
    descriptor
}

/// The referrers tag schema's index with `referrer` added to `existing`, or `None` when it
/// is listed already.
pub fn append_to_referrers_index(
    existing: Option<&[u8]>,
    referrer: Descriptor,
    tag: &str,
) -> Result<Option<Bytes>, PushError> {
    let mut index = match existing {
        None => ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: Vec::new(),
            other: Map::new(),
        },
        Some(data) => serde_json::from_slice(data).map_err(|e| PushError::Existing {
            what: tag.to_string(),
            expected: "an image index",
            reason: e.to_string(),
        })?,
    };
    if index.manifests.iter().any(|m| m.digest == referrer.digest) {
        return Ok(None);
    }
    index.media_type = Some(OCI_INDEX.into());
    index.manifests.push(referrer);
    Ok(Some(to_json(&index)))
}

/// Where the referrer is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The registry's referrers API indexed it.
    Api,
    /// The referrers tag schema's index; `added` is false when it was listed already.
    Tag { tag: String, added: bool },
}

/// What a push left in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub cosign_tag: String,
    /// Attestations under the `.att` tag now.
    pub cosign_layers: usize,
    /// False when the tag held this envelope already.
    pub cosign_appended: bool,
    /// Digest of the OCI 1.1 referrer manifest.
    pub referrer: String,
    pub listing: Listing,
}

/// The descriptor of the image manifest `subject_digest`, with its media type.
async fn subject_descriptor(
    client: &Client,
    subject_digest: &str,
) -> Result<Descriptor, PushError> {
    let subject = client.manifest(subject_digest, MAX_MANIFEST).await?;
    let media_type = subject
        .media_type
        .clone()
        .filter(|m| !m.is_empty() && m != "application/json")
        .or_else(|| {
            serde_json::from_slice::<Value>(&subject.data)
                .ok()?
                .get("mediaType")?
                .as_str()
                .map(str::to_string)
        })
        .ok_or_else(|| PushError::SubjectType {
            digest: subject_digest.to_string(),
        })?;
    Ok(Descriptor::of(&media_type, &subject.data))
}

/// Puts a referrer manifest, and lists it where the registry has no referrers API (the
/// referrers tag schema's index). Returns its digest and where it is listed.
async fn put_referrer(
    client: &Client,
    subject_digest: &str,
    manifest: Bytes,
    descriptor: Descriptor,
) -> Result<(String, Listing), PushError> {
    let put = client
        .put_manifest(&descriptor.digest, OCI_MANIFEST, manifest)
        .await?;
    let listing = if put.subject.as_deref() == Some(subject_digest) {
        Listing::Api
    } else {
        let tag = referrers_tag(subject_digest);
        let existing = client
            .get_manifest_raw(&tag, OCI_INDEX, MAX_MANIFEST)
            .await?;
        match append_to_referrers_index(
            existing.as_ref().map(|f| f.data.as_slice()),
            descriptor,
            &tag,
        )? {
            Some(index) => {
                client.put_manifest(&tag, OCI_INDEX, index).await?;
                Listing::Tag { tag, added: true }
            }
            None => Listing::Tag { tag, added: false },
        }
    };
    Ok((put.digest, listing))
}

/// Attaches an artifact of `artifact_type` holding `blobs` (media type and bytes, in order)
/// to the image manifest `subject_digest` as an OCI 1.1 referrer. Returns the referrer's
/// digest and where it is listed.
pub async fn push_artifact(
    client: &Client,
    subject_digest: &str,
    artifact_type: &str,
    blobs: Vec<(&str, Vec<u8>)>,
) -> Result<(String, Listing), PushError> {
    let subject = subject_descriptor(client, subject_digest).await?;
    let mut layers = Vec::new();
    for (media_type, data) in blobs {
        layers.push(Descriptor::of(media_type, &data));
        client.put_blob(Bytes::from(data)).await?;
    }
    client.put_blob(Bytes::from_static(EMPTY_JSON)).await?;
    let manifest = to_json(&ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: Some(artifact_type.into()),
        config: Descriptor::of(OCI_EMPTY, EMPTY_JSON),
        layers,
        subject: Some(subject),
        annotations: BTreeMap::new(),
    });
    let mut descriptor = Descriptor::of(OCI_MANIFEST, &manifest);
    descriptor.artifact_type = Some(artifact_type.into());
    put_referrer(client, subject_digest, manifest, descriptor).await
}

/// The newest referrer of `subject_digest` whose artifact type is `artifact_type` (the last
/// one listed, by the referrers API or the referrers tag schema), or `None`.
pub async fn find_artifact(
    client: &Client,
    subject_digest: &str,
    artifact_type: &str,
) -> Result<Option<ImageManifest>, PushError> {
    Ok(find_artifacts(client, subject_digest, artifact_type, 1)
        .await?
        .into_iter()
        .next())
}

/// The referrers of `subject_digest` whose artifact type is `artifact_type`, newest first,
/// at most `max` of them; those that do not name the subject are left out.
pub async fn find_artifacts(
    client: &Client,
    subject_digest: &str,
    artifact_type: &str,
    max: usize,
) -> Result<Vec<ImageManifest>, PushError> {
    let listed = match client
        .referrers(subject_digest, Some(artifact_type), MAX_MANIFEST)
        .await?
    {
        Some(data) => Some(data),
        None => client
            .get_manifest_raw(&referrers_tag(subject_digest), OCI_INDEX, MAX_MANIFEST)
            .await?
            .map(|f| f.data),
    };
    let Some(data) = listed else {
        return Ok(Vec::new());
    };
    let index: ImageIndex = serde_json::from_slice(&data).map_err(|e| PushError::Artifact {
        what: format!("the referrers of {subject_digest}"),
        reason: format!("not an image index: {e}"),
    })?;
    let mut found = Vec::new();
    for descriptor in index
        .manifests
        .iter()
        .rev()
        .filter(|d| d.artifact_type.as_deref() == Some(artifact_type))
    {
        if found.len() >= max {
            break;
        }
        let fetched = client.manifest(&descriptor.digest, MAX_MANIFEST).await?;
        let manifest: ImageManifest =
            serde_json::from_slice(&fetched.data).map_err(|e| PushError::Artifact {
                what: format!("the referrer {}", descriptor.digest),
                reason: format!("not an image manifest: {e}"),
            })?;
        if manifest.subject.as_ref().map(|d| d.digest.as_str()) == Some(subject_digest) {
            found.push(manifest);
        }
    }
    Ok(found)
}

/// The blob `descriptor` names, at most `max` bytes, checked against its digest.
pub async fn fetch_blob(
    client: &Client,
    descriptor: &Descriptor,
    max: u64,
) -> Result<Vec<u8>, PushError> {
    let data = client.blob(&descriptor.digest, max).await?;
    if sha256_of(&data) != descriptor.digest {
        return Err(PushError::Artifact {
            what: format!("the blob {}", descriptor.digest),
            reason: format!("its bytes hash to {}", sha256_of(&data)),
        });
    }
    Ok(data)
}

/// Attaches `envelope` (whose statement has `predicate_type`) to the image manifest
/// `subject_digest` in the client's repository, both ways.
pub async fn push(
    client: &Client,
    subject_digest: &str,
    envelope: &Envelope,
    predicate_type: &str,
) -> Result<Pushed, PushError> {
    let subject = subject_descriptor(client, subject_digest).await?;

    let (envelope_data, layer) = envelope_layer(envelope, predicate_type);
    client.put_blob(envelope_data).await?;

    let cosign_tag = cosign_tag(subject_digest);
    let existing = client
        .get_manifest_raw(&cosign_tag, MANIFEST_ACCEPT, MAX_MANIFEST)
        .await?;
    let (cosign_layers, cosign_appended) = match append_to_cosign_image(
        existing.as_ref().map(|f| f.data.as_slice()),
        layer.clone(),
        &cosign_tag,
    )? {
        Some(image) => {
            client.put_blob(image.config).await?;
            client
                .put_manifest(&cosign_tag, OCI_MANIFEST, image.manifest)
                .await?;
            (image.layers, true)
        }
        None => {
            let held = existing
                .as_ref()
                .and_then(|f| serde_json::from_slice::<ImageManifest>(&f.data).ok())
                .map_or(0, |m| m.layers.len());
            (held, false)
        }
    };

    client.put_blob(Bytes::from_static(EMPTY_JSON)).await?;
    let mut referrer_layer = layer;
    referrer_layer
        .annotations
        .remove(COSIGN_SIGNATURE_ANNOTATION);
    let manifest = referrer_manifest(subject, referrer_layer, predicate_type);
    let descriptor = referrer_descriptor(&manifest, DSSE_MEDIA_TYPE, predicate_type);
    let (referrer, listing) = put_referrer(client, subject_digest, manifest, descriptor).await?;
    Ok(Pushed {
        cosign_tag,
        cosign_layers,
        cosign_appended,
        referrer,
        listing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::Signature;

    fn envelope(payload: &str) -> Envelope {
        Envelope {
            payload_type: "application/vnd.in-toto+json".into(),
            payload: payload.as_bytes().to_vec(),
            signatures: vec![Signature {
                keyid: String::new(),
                sig: vec![1, 2, 3],
            }],
        }
    }

    const SUBJECT: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn tags_follow_cosign_and_the_referrers_tag_schema() {
        let hex = "a".repeat(64);
        assert_eq!(cosign_tag(SUBJECT), format!("sha256-{hex}.att"));
        assert_eq!(referrers_tag(SUBJECT), format!("sha256-{hex}"));
        let long = format!("sha512:{}", "b".repeat(128));
        assert_eq!(referrers_tag(&long), format!("sha512-{}", "b".repeat(64)));
    }

    #[test]
    fn the_cosign_config_is_byte_for_byte_what_cosign_writes() {
        // The specification's example: one layer makes a config of 233 bytes.
        let (_, layer) = envelope_layer(&envelope("{}"), "https://example.com/p");
        let image = append_to_cosign_image(None, layer.clone(), "t")
            .unwrap()
            .unwrap();
        assert_eq!(image.config.len(), 233);
        assert_eq!(
            std::str::from_utf8(&image.config).unwrap(),
            format!(
                r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#,
                layer.digest
            )
        );
        let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], OCI_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
        assert_eq!(manifest["config"]["digest"], sha256_of(&image.config));
        assert_eq!(manifest["layers"][0]["mediaType"], DSSE_MEDIA_TYPE);
        assert_eq!(
            manifest["layers"][0]["annotations"],
            serde_json::json!({
                "dev.cosignproject.cosign/signature": "",
                "predicateType": "https://example.com/p"
            })
        );
        assert!(manifest.get("subject").is_none());
    }

    #[test]
    fn attestations_are_appended_kept_as_they_were_and_never_doubled() {
        let (_, first) = envelope_layer(&envelope("1"), "https://example.com/a");
        let (_, second) = envelope_layer(&envelope("2"), "https://example.com/b");
        // Another tool's layer, with annotations and fields of its own, survives.
        let mut foreign: Value = serde_json::from_slice(
            &append_to_cosign_image(None, first.clone(), "t")
                .unwrap()
                .unwrap()
                .manifest,
        )
        .unwrap();
        foreign["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"] = "{}".into();
        foreign["layers"][0]["urls"] = serde_json::json!(["https://example.com/x"]);
        let existing = serde_json::to_vec(&foreign).unwrap();

        let image = append_to_cosign_image(Some(&existing), second.clone(), "t")
            .unwrap()
            .unwrap();
        assert_eq!(image.layers, 2);
        let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["layers"][0]["digest"], first.digest);
        assert_eq!(
            manifest["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"],
            "{}"
        );
        assert_eq!(manifest["layers"][0]["urls"][0], "https://example.com/x");
        assert_eq!(manifest["layers"][1]["digest"], second.digest);
        let config: Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([first.digest, second.digest])
        );
        assert_eq!(config["history"].as_array().unwrap().len(), 2);

        assert_eq!(
            append_to_cosign_image(Some(&image.manifest), first, "t").unwrap(),
            None
        );
        assert!(matches!(
            append_to_cosign_image(Some(b"[1]"), second, "sha256-x.att"),
            Err(PushError::Existing { .. })
        ));
    }

    #[test]
    fn referrers_name_their_subject_and_list_once() {
        let subject = Descriptor::of("application/vnd.oci.image.manifest.v1+json", b"image");
        let (_, layer) = envelope_layer(&envelope("1"), "https://example.com/a");
        let manifest = referrer_manifest(subject.clone(), layer, "https://example.com/a");
        let value: Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(value["artifactType"], DSSE_MEDIA_TYPE);
        assert_eq!(value["config"]["mediaType"], OCI_EMPTY);
        assert_eq!(
            value["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(value["config"]["size"], 2);
        assert_eq!(value["subject"]["digest"], subject.digest);
        assert_eq!(value["subject"]["size"], 5);
        assert_eq!(
            value["annotations"]["predicateType"],
            "https://example.com/a"
        );

        let descriptor = referrer_descriptor(&manifest, DSSE_MEDIA_TYPE, "https://example.com/a");
        let index = append_to_referrers_index(None, descriptor.clone(), "t")
            .unwrap()
            .unwrap();
        let value: Value = serde_json::from_slice(&index).unwrap();
        assert_eq!(value["mediaType"], OCI_INDEX);
        assert_eq!(value["manifests"][0]["artifactType"], DSSE_MEDIA_TYPE);
        assert_eq!(value["manifests"][0]["digest"], sha256_of(&manifest));
        assert_eq!(
            append_to_referrers_index(Some(&index), descriptor.clone(), "t").unwrap(),
            None
        );
        let annotated = br#"{"schemaVersion":2,"manifests":[],"annotations":{"a":"b"}}"#;
        let extended = append_to_referrers_index(Some(annotated), descriptor.clone(), "t")
            .unwrap()
            .unwrap();
        let value: Value = serde_json::from_slice(&extended).unwrap();
        assert_eq!(value["annotations"]["a"], "b");
        assert_eq!(value["manifests"].as_array().map(Vec::len), Some(1));
        let null_list = br#"{"schemaVersion":2,"manifests":null}"#;
        let from_null = append_to_referrers_index(Some(null_list), descriptor, "t")
            .unwrap()
            .unwrap();
        assert_eq!(from_null, index);
    }
}
