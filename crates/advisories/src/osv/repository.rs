//! The local database as an OCI artifact, for machines that cannot reach osv.dev but can
//! reach a registry: `db push` stores the current generation in a repository, and
//! `--db-repository` installs it from there as a new generation.
//!
//! ```text
//! manifest  application/vnd.oci.image.manifest.v1+json
//!           artifactType application/vnd.portcullis.osv-db.v1
//!           annotations  org.opencontainers.image.created   the newest check time of its exports
//!                        vnd.portcullis.osv-db.ecosystems   the exports, comma-separated
//!   config  application/vnd.oci.empty.v1+json               `{}`
//!   layer   application/vnd.portcullis.osv-db.meta.v1+json  title meta.json
//!   layer   application/vnd.portcullis.osv-db.index.v1+zstd title Debian%3A12.osvidx
//!   …       one per index file
//! ```
//!
//! Each layer is a file of the generation, named by its `org.opencontainers.image.title`.
//! Indexes are pushed zstd-compressed (level 3): the indexes of Debian's DSA/DLA records and
//! of the pypa advisory database shrink 11 times (3.8 MB to 331 kB, 2.6 MB to 223 kB).
//! A pull also takes uncompressed `index.v1` layers. The manifest holds no push time, so
//! pushing an unchanged database again writes the same manifest and uploads nothing.
//!
//! A pull trusts nothing in the artifact: the manifest's types, every layer's media type,
//! title, size and digest are checked; `meta.json` must name exactly the index files the
//! layers hold, each by the name [`store::file_name`] gives its ecosystem; every blob is
//! hashed and bounded as it streams into an uncommitted generation, which replaces the
//! database only when all of it is in place.

use super::store::{self, ArtifactOrigin, EcosystemMeta, Generation, LocalDb, Meta, StoreError};
use bytes::Bytes;
use portcullis_image::reference::is_sha256_digest;
use portcullis_image::registry::name::RegistryRef;
use portcullis_image::registry::{RegistryError, RemoteOptions, Session};
use portcullis_image::resolve::MAX_MANIFEST;
use portcullis_layer::decode::{HashingReader, HashingWriter, sha256_of};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

/// The artifact type of a database artifact.
pub const ARTIFACT_TYPE: &str = "application/vnd.portcullis.osv-db.v1";
/// The layer holding `meta.json`.
pub const META_MEDIA_TYPE: &str = "application/vnd.portcullis.osv-db.meta.v1+json";
/// A layer holding one index file as it is on disk.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.portcullis.osv-db.index.v1";
/// A layer holding one index file, zstd-compressed (what `db push` writes).
pub const INDEX_ZSTD_MEDIA_TYPE: &str = "application/vnd.portcullis.osv-db.index.v1+zstd";
/// The manifest annotation listing the exports.
pub const ECOSYSTEMS_ANNOTATION: &str = "vnd.portcullis.osv-db.ecosystems";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_JSON: &[u8] = b"{}";
const TITLE: &str = "org.opencontainers.image.title";
const CREATED: &str = "org.opencontainers.image.created";
const META_FILE: &str = "meta.json";
const ZSTD_LEVEL: i32 = 3;
/// Most layers in an artifact: `meta.json` and an index per export (osv.dev has about 40).
const MAX_LAYERS: usize = 1024;
/// Largest index layer, compressed or not ([`super::update::MAX_DOWNLOAD`]'s bound).
const MAX_LAYER: u64 = super::update::MAX_DOWNLOAD;
/// Largest index file unpacked from one layer.
const MAX_INDEX: u64 = 8 << 30;
/// Longest ecosystem name accepted from an artifact's `meta.json`.
const MAX_ECOSYSTEM: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("{reference}: {source}")]
    Registry {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
    /// The artifact is not one this build installs: the reason says which part and why.
    #[error("{reference}: refused: {reason}")]
    Refused { reference: String, reason: String },
    #[error("{reference}: {source}")]
    Store {
        reference: String,
        #[source]
        source: StoreError,
    },
    #[error("{reference}: {what}: {source}")]
    Io {
        reference: String,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{reference}: {reason}")]
    Unusable { reference: String, reason: String },
}

/// A repository the database is pushed to or pulled from, and how to reach it.
#[derive(Debug, Clone)]
pub struct Repository {
    /// `docker://REGISTRY/REPOSITORY:TAG` (or `@DIGEST`), as reports and `meta.json` name it.
    pub reference: String,
    pub target: RegistryRef,
    pub remote: RemoteOptions,
}

impl Repository {
    /// `docker://REGISTRY/REPOSITORY[:TAG|@DIGEST]`. The transport is required: a bare
    /// name would be a repository on Docker Hub, which a path with a typo must not become.
    pub fn parse(text: &str, remote: RemoteOptions) -> Result<Repository, RepositoryError> {
        let Some(name) = text.strip_prefix("docker://") else {
            return Err(RepositoryError::Unusable {
                reference: text.to_string(),
                reason: "expected a registry reference, docker://REGISTRY/REPOSITORY:TAG".into(),
            });
        };
        let target = RegistryRef::parse(name).map_err(|source| RepositoryError::Registry {
            reference: text.to_string(),
            source: Box::new(source),
        })?;
        Ok(Repository {
            reference: format!("docker://{target}"),
            target,
            remote,
        })
    }

    fn registry_error(&self) -> impl FnOnce(RegistryError) -> RepositoryError + '_ {
        move |source| RepositoryError::Registry {
            reference: self.reference.clone(),
            source: Box::new(source),
        }
    }

    fn refused(&self, reason: impl Into<String>) -> RepositoryError {
        RepositoryError::Refused {
            reference: self.reference.clone(),
            reason: reason.into(),
        }
    }

    fn store_error(&self) -> impl FnOnce(StoreError) -> RepositoryError + '_ {
        move |source| RepositoryError::Store {
            reference: self.reference.clone(),
            source,
        }
    }

    fn io_error(&self, what: impl Into<String>) -> impl FnOnce(io::Error) -> RepositoryError {
        let reference = self.reference.clone();
        let what = what.into();
        move |source| RepositoryError::Io {
            reference,
            what,
            source,
        }
    }
}

/// A content descriptor, as this module writes and reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The digest of the manifest the tag now names.
    pub digest: String,
    /// Blobs sent, and blobs the repository already had.
    pub uploaded: usize,
    pub existing: usize,
    /// The size of the layers, as stored.
    pub bytes: u64,
}

/// Pushes the generation of `db` to `repository` under its tag. Blobs the repository holds
/// already are not sent again.
pub fn push(db: &LocalDb, repository: &Repository) -> Result<Pushed, RepositoryError> {
    if repository.target.digest.is_some() {
        return Err(RepositoryError::Unusable {
            reference: repository.reference.clone(),
            reason: "a database is pushed under a tag, not a digest".into(),
        });
    }
    if db.meta.ecosystems.is_empty() {
        return Err(RepositoryError::Unusable {
            reference: repository.reference.clone(),
            reason: format!(
                "the database in {} holds no export: nothing to push",
                db.root.display()
            ),
        });
    }
    // Where this database was pulled from is the puller's record, not the artifact's.
    let meta = Meta {
        artifact: None,
        ..db.meta.clone()
    };
    let meta_json = Bytes::from(
        serde_json::to_vec_pretty(&meta).map_err(|e| repository.refused(e.to_string()))?,
    );
    let session = Session::open(&repository.target, &repository.remote, true)
        .map_err(repository.registry_error())?;
    let client = &session.client;
    let mut pushed = Pushed {
        digest: String::new(),
        uploaded: 0,
        existing: 0,
        bytes: 0,
    };
    let mut count = |sent: bool| {
        if sent {
            pushed.uploaded += 1
        } else {
            pushed.existing += 1
        }
    };
    let empty = Bytes::from_static(EMPTY_JSON);
    for blob in [&empty, &meta_json] {
        let digest = sha256_of(blob);
        let have = session
            .block_on(client.has_blob(&digest))
            .map_err(repository.registry_error())?;
        if !have {
            session
                .block_on(client.put_blob(blob.clone()))
                .map_err(repository.registry_error())?;
        }
        count(!have);
    }
    let mut layers = vec![Descriptor {
        media_type: META_MEDIA_TYPE.into(),
        digest: sha256_of(&meta_json),
        size: meta_json.len() as u64,
        annotations: [(TITLE.to_string(), META_FILE.to_string())].into(),
    }];
    for entry in meta.ecosystems.values() {
        let path = db.generation.join(&entry.file);
        let (spooled, digest, size) = compress(&path, &db.root)
            .map_err(repository.io_error(format!("compressing {}", path.display())))?;
        let sent = session
            .block_on(client.put_blob_file(spooled.path(), &digest, size))
            .map_err(repository.registry_error())?;
        count(sent);
        layers.push(Descriptor {
            media_type: INDEX_ZSTD_MEDIA_TYPE.into(),
            digest,
            size,
            annotations: [(TITLE.to_string(), entry.file.clone())].into(),
        });
    }
    pushed.bytes = layers.iter().map(|l| l.size).sum();
    let created = meta.ecosystems.values().map(|e| e.checked.as_str()).max();
    let ecosystems: Vec<&str> = meta.ecosystems.keys().map(String::as_str).collect();
    let mut annotations: BTreeMap<String, String> =
        [(ECOSYSTEMS_ANNOTATION.to_string(), ecosystems.join(","))].into();
    if let Some(created) = created {
        annotations.insert(CREATED.into(), created.to_string());
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config: Descriptor {
            media_type: OCI_EMPTY.into(),
            digest: sha256_of(EMPTY_JSON),
            size: EMPTY_JSON.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers,
        annotations,
    };
    let data = serde_json::to_vec(&manifest).map_err(|e| repository.refused(e.to_string()))?;
    let put = session
        .block_on(client.put_manifest(
            repository.target.manifest_reference(),
            OCI_MANIFEST,
            Bytes::from(data),
        ))
        .map_err(repository.registry_error())?;
    pushed.digest = put.digest;
    Ok(pushed)
}

/// Compresses the index at `path` into a temporary file in `dir`; returns it with the
/// digest and size of what it holds.
fn compress(path: &Path, dir: &Path) -> io::Result<(portcullis_interrupt::TempFile, String, u64)> {
    let mut spooled = portcullis_interrupt::TempFile::new_in(dir)?;
    let mut input = File::open(path)?;
    let writer = HashingWriter::new(spooled.as_file_mut());
    let mut encoder = zstd::stream::write::Encoder::new(writer, ZSTD_LEVEL)?;
    io::copy(&mut input, &mut encoder)?;
    let (_, hasher, size) = encoder.finish()?.into_parts();
    let digest = portcullis_layer::decode::sha256_digest(hasher);
    spooled.as_file_mut().sync_all()?;
    Ok((spooled, digest, size))
}

/// What a pull did.
#[derive(Debug)]
pub enum Pulled {
    /// The database came from this very manifest already: nothing was downloaded.
    NotModified(LocalDb),
    /// A new generation holds the artifact; `downloaded` index layers were fetched,
    /// `reused` taken from the previous generation (same layer digest).
    Updated {
        db: LocalDb,
        downloaded: usize,
        reused: usize,
    },
}

/// An index layer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexLayer {
    file: String,
    digest: String,
    size: u64,
    compressed: bool,
}

/// The layers of a manifest that passed [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    meta: Descriptor,
    indexes: Vec<IndexLayer>,
}

/// Installs the artifact of `repository` as the database under `root`, unless the
/// database was pulled from the same manifest already. `now` (RFC 3339) is recorded as the
/// pull time.
pub fn pull(root: &Path, repository: &Repository, now: &str) -> Result<Pulled, RepositoryError> {
    let session = Session::open(&repository.target, &repository.remote, false)
        .map_err(repository.registry_error())?;
    let fetched = session
        .block_on(
            session
                .client
                .manifest(repository.target.manifest_reference(), MAX_MANIFEST),
        )
        .map_err(repository.registry_error())?;
    fs::create_dir_all(root).map_err(repository.io_error(root.display().to_string()))?;
    // A database that cannot be read is replaced as a whole anyway.
    let current = LocalDb::open(root).ok().flatten();
    if let Some(db) = &current
        && db.meta.artifact.as_ref().is_some_and(|origin| {
            origin.digest == fetched.digest && origin.reference == repository.reference
        })
    {
        return Ok(Pulled::NotModified(db.clone()));
    }
    let plan = plan(&fetched.data, fetched.media_type.as_deref())
        .map_err(|reason| repository.refused(reason))?;
    let meta_json = session
        .block_on(session.client.blob(&plan.meta.digest, plan.meta.size))
        .map_err(repository.registry_error())?;
    check_blob(&plan.meta, &meta_json).map_err(|reason| repository.refused(reason))?;
    let meta: Meta = serde_json::from_slice(&meta_json).map_err(|e| {
        repository.refused(format!("{META_FILE} is not a database description: {e}"))
    })?;
    check_meta(&meta, &plan).map_err(|reason| repository.refused(reason))?;

    let mut generation = Generation::start(root, None).map_err(repository.store_error())?;
    let (mut downloaded, mut reused) = (0, 0);
    let mut layers = BTreeMap::new();
    for layer in &plan.indexes {
        let Some(entry) = meta.ecosystems.values().find(|e| e.file == layer.file) else {
            continue;
        };
        layers.insert(layer.file.clone(), layer.digest.clone());
        if let Some((db, held)) = reusable(current.as_ref(), layer) {
            generation
                .link_index(db, held)
                .map_err(repository.store_error())?;
            reused += 1;
            continue;
        }
        let (path, mut file) = generation
            .create_index(&entry.ecosystem)
            .map_err(repository.store_error())?;
        download(&session, repository, layer, &mut file)?;
        store::check_index(&path)
            .map_err(|e| repository.refused(format!("{}: {e}", layer.file)))?;
        downloaded += 1;
    }
    generation.meta = Meta {
        format: meta.format,
        ecosystems: meta.ecosystems,
        artifact: Some(ArtifactOrigin {
            reference: repository.reference.clone(),
            digest: fetched.digest,
            pulled: now.to_string(),
            layers,
        }),
    };
    let db = generation.commit().map_err(repository.store_error())?;
    Ok(Pulled::Updated {
        db,
        downloaded,
        reused,
    })
}

/// The index of the current generation that was unpacked from the same layer, if any.
fn reusable<'a>(
    current: Option<&'a LocalDb>,
    layer: &IndexLayer,
) -> Option<(&'a LocalDb, &'a EcosystemMeta)> {
    let db = current?;
    let origin = db.meta.artifact.as_ref()?;
    if origin.layers.get(&layer.file) != Some(&layer.digest) {
        return None;
    }
    let held = db.meta.ecosystems.values().find(|e| e.file == layer.file)?;
    Some((db, held))
}

/// Streams one index layer into `file`, unpacking it when it is compressed, and checks its
/// size and digest. A layer that fails to unpack is reported by its digest first: a
/// tampered blob is a digest mismatch, not a zstd error.
fn download(
    session: &Session,
    repository: &Repository,
    layer: &IndexLayer,
    file: &mut File,
) -> Result<(), RepositoryError> {
    let mut blob = HashingReader::new(session.open_blob(&layer.digest), layer.size, "the layer");
    let copied = if layer.compressed {
        zstd::stream::read::Decoder::new(&mut blob)
            .and_then(|mut decoder| copy_bounded(&mut decoder, file, MAX_INDEX))
    } else {
        copy_bounded(&mut blob, file, MAX_INDEX)
    };
    let drained = io::copy(&mut blob, &mut io::sink());
    let (digest, size) = blob.finish();
    let what = format!("{} (layer {})", layer.file, layer.digest);
    if drained.is_ok() {
        check_size_and_digest(&what, layer.size, &layer.digest, size, &digest)
            .map_err(|reason| repository.refused(reason))?;
    }
    copied.map_err(|e| repository.refused(format!("{what}: {e}")))?;
    drained.map_err(repository.io_error(what.clone()))?;
    file.sync_all().map_err(repository.io_error(what))
}

fn copy_bounded(from: &mut impl Read, to: &mut File, max: u64) -> io::Result<u64> {
    let copied = io::copy(&mut from.take(max + 1), to)?;
    if copied > max {
        return Err(io::Error::other(format!(
            "unpacks to more than {max} bytes"
        )));
    }
    Ok(copied)
}

fn check_blob(descriptor: &Descriptor, data: &[u8]) -> Result<(), String> {
    check_size_and_digest(
        META_FILE,
        descriptor.size,
        &descriptor.digest,
        data.len() as u64,
        &sha256_of(data),
    )
}

fn check_size_and_digest(
    what: &str,
    size: u64,
    digest: &str,
    actual_size: u64,
    actual_digest: &str,
) -> Result<(), String> {
    if actual_size != size {
        return Err(format!(
            "{what}: the registry sent {actual_size} bytes, the manifest says {size}"
        ));
    }
    if actual_digest != digest {
        return Err(format!(
            "{what}: digest mismatch: expected {digest}, got {actual_digest}"
        ));
    }
    Ok(())
}

/// Checks a manifest is a database artifact this build reads, and picks its layers.
fn plan(data: &[u8], content_type: Option<&str>) -> Result<Plan, String> {
    if let Some(t) = content_type
        && (t == OCI_INDEX || t == DOCKER_LIST)
    {
        return Err(format!(
            "it is an image index ({t}), not a database artifact"
        ));
    }
    let manifest: Manifest = serde_json::from_slice(data)
        .map_err(|e| format!("the manifest is not an OCI image manifest: {e}"))?;
    if manifest.schema_version != 2 {
        return Err(format!(
            "the manifest has schemaVersion {}, not 2",
            manifest.schema_version
        ));
    }
    for media_type in [content_type, manifest.media_type.as_deref()]
        .into_iter()
        .flatten()
    {
        if media_type != OCI_MANIFEST {
            return Err(format!(
                "the manifest's media type is {media_type}, not {OCI_MANIFEST}: an image, \
                 not a database artifact"
            ));
        }
    }
    match manifest.artifact_type.as_deref() {
        Some(ARTIFACT_TYPE) => {}
        Some(other) => {
            return Err(format!(
                "its artifact type is {other}, not {ARTIFACT_TYPE}: not a database artifact"
            ));
        }
        None => {
            return Err(format!(
                "it has no artifact type ({ARTIFACT_TYPE}): an image, not a database \
                 artifact (`portcullis db push` writes those)"
            ));
        }
    }
    if manifest.config.media_type != OCI_EMPTY {
        return Err(format!(
            "its config is {}, not {OCI_EMPTY}",
            manifest.config.media_type
        ));
    }
    if manifest.layers.len() > MAX_LAYERS {
        return Err(format!("it has more than {MAX_LAYERS} layers"));
    }
    let mut meta = None;
    let mut indexes: Vec<IndexLayer> = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate() {
        if !is_sha256_digest(&layer.digest) {
            return Err(format!(
                "layer {i}: {:?} is not a sha256 digest",
                layer.digest
            ));
        }
        let title = layer
            .annotations
            .get(TITLE)
            .ok_or_else(|| format!("layer {i} ({}) has no {TITLE}", layer.digest))?;
        match layer.media_type.as_str() {
            META_MEDIA_TYPE => {
                if title != META_FILE {
                    return Err(format!(
                        "layer {i} is {META_MEDIA_TYPE} titled {title:?}, not {META_FILE}"
                    ));
                }
                if meta.is_some() {
                    return Err(format!("it has two {META_FILE} layers"));
                }
                if layer.size > store::MAX_META {
                    return Err(format!(
                        "its {META_FILE} is larger than {} bytes",
                        store::MAX_META
                    ));
                }
                meta = Some(layer.clone());
            }
            INDEX_MEDIA_TYPE | INDEX_ZSTD_MEDIA_TYPE => {
                if !is_index_name(title) {
                    return Err(format!(
                        "layer {i} is titled {title:?}, which is not the name of an index file"
                    ));
                }
                if indexes.iter().any(|x| &x.file == title) {
                    return Err(format!("two layers are titled {title:?}"));
                }
                if layer.size > MAX_LAYER {
                    return Err(format!("{title} is larger than {MAX_LAYER} bytes"));
                }
                indexes.push(IndexLayer {
                    file: title.clone(),
                    digest: layer.digest.clone(),
                    size: layer.size,
                    compressed: layer.media_type == INDEX_ZSTD_MEDIA_TYPE,
                });
            }
            other => {
                return Err(format!(
                    "layer {i} ({title:?}) has the media type {other}, which a database \
                     artifact does not hold"
                ));
            }
        }
    }
    let meta = meta.ok_or_else(|| format!("it has no {META_FILE} layer ({META_MEDIA_TYPE})"))?;
    Ok(Plan { meta, indexes })
}

/// A name [`store::file_name`] can give: one path component of portable characters,
/// ending in `.osvidx`.
fn is_index_name(name: &str) -> bool {
    name.len() <= 3 * MAX_ECOSYSTEM + 7
        && !name.starts_with('.')
        && name
            .strip_suffix(".osvidx")
            .is_some_and(|stem| !stem.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'%'))
}

/// Checks that the artifact's `meta.json` describes exactly the index layers, each under
/// the file name its ecosystem has.
fn check_meta(meta: &Meta, plan: &Plan) -> Result<(), String> {
    if meta.format != store::FORMAT {
        return Err(format!(
            "{META_FILE} is format {} (this portcullis reads format {})",
            meta.format,
            store::FORMAT
        ));
    }
    let mut files = BTreeSet::new();
    for (key, entry) in &meta.ecosystems {
        let name = &entry.ecosystem;
        if key != name
            || name.is_empty()
            || name.len() > MAX_ECOSYSTEM
            || name.chars().any(char::is_control)
        {
            return Err(format!(
                "{META_FILE} names an ecosystem {name:?} under {key:?}"
            ));
        }
        let expected = store::file_name(name);
        if entry.file != expected {
            return Err(format!(
                "{META_FILE} names the file {:?} for {name}, whose index is {expected}",
                entry.file
            ));
        }
        if !plan.indexes.iter().any(|l| l.file == entry.file) {
            return Err(format!(
                "{META_FILE} names {}, which no layer holds",
                entry.file
            ));
        }
        files.insert(entry.file.as_str());
    }
    if let Some(extra) = plan
        .indexes
        .iter()
        .find(|l| !files.contains(l.file.as_str()))
    {
        return Err(format!(
            "the layer {} is not named in {META_FILE}",
            extra.file
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn layer(media_type: &str, digest: &str, title: Option<&str>) -> serde_json::Value {
        let mut value = serde_json::json!({"mediaType": media_type, "digest": digest, "size": 10});
        if let Some(t) = title {
            value["annotations"] = serde_json::json!({ TITLE: t });
        }
        value
    }

    fn manifest(layers: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": sha256_of(EMPTY_JSON), "size": 2},
            "layers": layers,
        })
    }

    fn good() -> serde_json::Value {
        manifest(vec![
            layer(META_MEDIA_TYPE, D1, Some("meta.json")),
            layer(INDEX_ZSTD_MEDIA_TYPE, D2, Some("Debian%3A11.osvidx")),
        ])
    }

    fn meta(entries: &[(&str, &str)]) -> Meta {
        let ecosystems = entries
            .iter()
            .map(|(ecosystem, file)| {
                let entry = EcosystemMeta {
                    ecosystem: ecosystem.to_string(),
                    source: "https://osv.example/all.zip".into(),
                    fetched: "2026-01-01T00:00:00Z".into(),
                    checked: "2026-01-01T00:00:00Z".into(),
                    digest: D1.into(),
                    etag: None,
                    last_modified: None,
                    records: 1,
                    withdrawn: 0,
                    skipped: 0,
                    packages: 1,
                    file: file.to_string(),
                };
                (ecosystem.to_string(), entry)
            })
            .collect();
        Meta {
            format: store::FORMAT,
            ecosystems,
            artifact: None,
        }
    }

    #[test]
    fn a_database_artifact_is_planned() {
        let data = serde_json::to_vec(&good()).unwrap();
        let plan = plan(&data, Some(OCI_MANIFEST)).unwrap();
        assert_eq!(plan.meta.digest, D1);
        assert_eq!(
            plan.indexes,
            [IndexLayer {
                file: "Debian%3A11.osvidx".into(),
                digest: D2.into(),
                size: 10,
                compressed: true,
            }]
        );
        check_meta(&meta(&[("Debian:11", "Debian%3A11.osvidx")]), &plan).unwrap();
    }

    #[test]
    fn manifests_that_are_not_database_artifacts_are_refused() {
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut m = good();
            f(&mut m);
            serde_json::to_vec(&m).unwrap()
        };
        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (b"{".to_vec(), None, "not an OCI image manifest"),
            (
                edit(&|m| m["schemaVersion"] = 1.into()),
                None,
                "schemaVersion 1",
            ),
            (edit(&|_| {}), Some(OCI_INDEX), "image index"),
            (
                edit(&|m| m["mediaType"] = DOCKER_LIST.into()),
                None,
                "media type",
            ),
            (
                edit(&|m| {
                    m.as_object_mut().unwrap().remove("artifactType");
                }),
                None,
                "no artifact type",
            ),
            (
                edit(&|m| m["artifactType"] = "application/vnd.dsse.envelope.v1+json".into()),
                None,
                "artifact type is application/vnd.dsse",
            ),
            (
                edit(&|m| {
                    m["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into()
                }),
                None,
                "its config",
            ),
            (
                edit(&|m| {
                    m["layers"][1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into()
                }),
                None,
                "does not hold",
            ),
            (
                edit(&|m| m["layers"][1]["annotations"][TITLE] = "../x.osvidx".into()),
                None,
                "not the name of an index file",
            ),
            (
                edit(&|m| m["layers"][1]["annotations"][TITLE] = "/etc/passwd".into()),
                None,
                "not the name of an index file",
            ),
            (
                edit(&|m| m["layers"][1]["annotations"][TITLE] = ".osvidx".into()),
                None,
                "not the name of an index file",
            ),
            (
                edit(&|m| m["layers"][0]["annotations"][TITLE] = "../meta.json".into()),
                None,
                "not meta.json",
            ),
            (
                edit(&|m| {
                    m["layers"][1]["annotations"]
                        .as_object_mut()
                        .unwrap()
                        .remove(TITLE);
                }),
                None,
                "has no org.opencontainers.image.title",
            ),
            (
                edit(&|m| m["layers"][1]["digest"] = "sha256:../../x".into()),
                None,
                "not a sha256 digest",
            ),
            (
                edit(&|m| {
                    let first = m["layers"][0].clone();
                    m["layers"][1] = first;
                }),
                None,
                "two meta.json layers",
            ),
            (
                edit(&|m| {
                    m["layers"].as_array_mut().unwrap().remove(0);
                }),
                None,
                "no meta.json layer",
            ),
            (
                edit(&|m| m["layers"][0]["size"] = (store::MAX_META + 1).into()),
                None,
                "larger than",
            ),
        ];
        for (data, content_type, expected) in cases {
            let err = plan(&data, content_type).unwrap_err();
            assert!(
                err.contains(expected),
                "{expected:?} not in {err:?} for {}",
                String::from_utf8_lossy(&data)
            );
        }
    }

    #[test]
    fn meta_json_must_name_exactly_the_index_layers() {
        let data = serde_json::to_vec(&good()).unwrap();
        let plan = plan(&data, None).unwrap();
        let cases: Vec<(Meta, &str)> = vec![
            (meta(&[("Debian:11", "../x")]), "names the file \"../x\""),
            (
                meta(&[("Debian:11", "Debian%3A11.osvidx"), ("PyPI", "PyPI.osvidx")]),
                "PyPI.osvidx, which no layer holds",
            ),
            (meta(&[]), "not named in meta.json"),
            (meta(&[("", ".osvidx")]), "names an ecosystem"),
            (
                Meta {
                    format: store::FORMAT + 1,
                    ..meta(&[("Debian:11", "Debian%3A11.osvidx")])
                },
                "format",
            ),
        ];
        for (meta, expected) in cases {
            let err = check_meta(&meta, &plan).unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
        let mut renamed = meta(&[("Debian:11", "Debian%3A11.osvidx")]);
        let entry = renamed.ecosystems.remove("Debian:11").unwrap();
        renamed.ecosystems.insert("Debian:12".into(), entry);
        assert!(check_meta(&renamed, &plan).is_err());
    }

    #[test]
    fn index_names_are_what_file_name_gives() {
        for ecosystem in [
            "Debian:12",
            "Rocky Linux",
            "crates.io",
            "Alpine:v3.20",
            "npm",
        ] {
            assert!(is_index_name(&store::file_name(ecosystem)), "{ecosystem}");
        }
        for bad in [
            "meta.json",
            "x.osvidx/..",
            "a/b.osvidx",
            "..osvidx",
            "x.osvidx\0",
            "",
        ] {
            assert!(!is_index_name(bad), "{bad:?}");
        }
    }
}
