//! From an index.json or a `docker save` manifest.json to one image: its manifest, its config
//! and the layers it promises, every metadata blob checked against its digest.

use super::ImageError;
use super::model::{DockerConfigExtras, ImageMeta, PlannedLayer, Platform, Transport};
use super::reference::{Selector, is_sha256_digest};
use super::store::Store;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use portcullis_layer::decode::sha256_of;
use portcullis_model::path;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// Largest index or manifest read (real ones are a few KiB).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// Largest config blob read (history can make configs large; real ones stay under 1 MiB).
pub const MAX_CONFIG: u64 = 32 << 20;
/// Nested indexes followed before giving up.
const MAX_INDEX_DEPTH: usize = 8;
/// Manifests looked at while matching a Docker 25 archive's config to its OCI manifest.
const MAX_MANIFESTS_VISITED: usize = 256;
/// Elements of any one list of an image config (history, rootfs.diff_ids, Env, Labels ...),
/// checked before the config is parsed: a 32 MiB config of a million `{}` history entries
/// would otherwise cost a gigabyte as parsed structures. Real images list a few hundred.
pub const MAX_CONFIG_LIST: usize = 10_000;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
const SCHEMA1_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// What the caller asked for.
pub struct Request<'a> {
    pub reference: &'a str,
    pub transport: Transport,
    pub selector: Option<&'a Selector>,
    /// `--platform`, when given; otherwise indexes resolve to the host's platform.
    pub platform: Option<&'a Platform>,
    /// The layout directory or archive file, to name an image whose
    /// `org.opencontainers.image.ref.name` is only a tag (`app:1.2` for `app.oci.tar`).
    pub origin: Option<&'a std::path::Path>,
}

/// The image, and where each of its layer blobs is inside the store.
pub struct Resolved {
    pub meta: ImageMeta,
    pub layer_paths: Vec<String>,
}

/// The path of a blob in an OCI layout.
pub fn blob_path(digest: &str) -> Result<String, ImageError> {
    if !is_sha256_digest(digest) {
        return Err(ImageError::Invalid(format!(
            "unsupported or malformed digest {digest:?} (expected sha256: and 64 hex digits)"
        )));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// Which kind of metadata blob is asked for: a registry serves manifests and indexes from
/// another endpoint than configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// An image manifest or an image index.
    Manifest,
    /// An image config.
    Config,
}

/// Where manifests, indexes and configs come from: the files of a layout or archive, or a
/// registry's API. Resolution checks whatever a source returns against the digest and size
/// it asked for, so a source need not.
pub trait MetadataSource {
    /// The blob `digest` of at most `max` bytes; `Ok(None)` when the source does not have it.
    fn fetch(&self, kind: BlobKind, digest: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError>;
    /// Whether the manifest `digest` is there to be read: an index entry without a platform
    /// is chosen only when it is.
    fn has_manifest(&self, digest: &str) -> bool;
}

/// The blobs of an OCI layout (a directory, or the inside of an archive).
pub struct StoreSource<'a>(pub &'a dyn Store);

impl MetadataSource for StoreSource<'_> {
    fn fetch(&self, _: BlobKind, digest: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        self.0.read(&blob_path(digest)?, max)
    }

    fn has_manifest(&self, digest: &str) -> bool {
        blob_path(digest).is_ok_and(|p| self.0.has_file(&p))
    }
}

/// Reads a metadata blob and checks its size and digest.
fn read_blob(
    source: &dyn MetadataSource,
    kind: BlobKind,
    digest: &str,
    size: Option<u64>,
    max: u64,
) -> Result<Vec<u8>, ImageError> {
    let path = blob_path(digest)?;
    if let Some(size) = size
        && size > max
    {
        return Err(ImageError::Invalid(format!(
            "blob {digest} declares {size} bytes, more than the {max} allowed for metadata"
        )));
    }
    let data = source
        .fetch(kind, digest, max)?
        .ok_or_else(|| ImageError::MissingBlob(digest.to_string()))?;
    if data.len() as u64 > max {
        return Err(ImageError::Invalid(format!(
            "blob {digest} is larger than the {max} bytes allowed for metadata"
        )));
    }
    let actual = sha256_of(&data);
    if actual != digest {
        return Err(ImageError::DigestMismatch {
            what: format!("blob {path}"),
            expected: digest.to_string(),
            actual,
        });
    }
    if let Some(size) = size
        && size != data.len() as u64
    {
        return Err(ImageError::Invalid(format!(
            "blob {digest} is {} bytes but its descriptor says {size}",
            data.len()
        )));
    }
    Ok(data)
}

fn parse_index(data: &[u8], what: &str) -> Result<ImageIndex, ImageError> {
    let mut value: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| ImageError::Invalid(format!("{what} is not valid JSON: {e}")))?;
    // Docker 25 writes `"manifests": null` into the index.json of `docker save`.
    if let Some(obj) = value.as_object_mut()
        && obj.get("manifests").is_none_or(|m| m.is_null())
    {
        obj.insert("manifests".into(), serde_json::Value::Array(vec![]));
    }
    serde_json::from_value(value)
        .map_err(|e| ImageError::Invalid(format!("{what} is not a valid image index: {e}")))
}

fn parse_manifest(data: &[u8], what: &str) -> Result<ImageManifest, ImageError> {
    serde_json::from_slice(data)
        .map_err(|e| ImageError::Invalid(format!("{what} is not a valid image manifest: {e}")))
}

/// Parses an image config and the Docker fields the OCI type leaves out.
pub fn parse_config(
    data: &[u8],
    what: &str,
) -> Result<(ImageConfiguration, DockerConfigExtras), ImageError> {
    check_config_lists(data, what)?;
    let config: ImageConfiguration = serde_json::from_slice(data)
        .map_err(|e| ImageError::Invalid(format!("{what} is not a valid image config: {e}")))?;
    #[derive(Deserialize, Default)]
    struct Outer {
        #[serde(default)]
        config: Option<DockerConfigExtras>,
    }
    let extras = serde_json::from_slice::<Outer>(data)
        .ok()
        .and_then(|o| o.config)
        .unwrap_or_default();
    Ok((config, extras))
}

/// Counts the lists of a config without building anything (every element is skipped as
/// it is read) and refuses one longer than [`MAX_CONFIG_LIST`].
fn check_config_lists(data: &[u8], what: &str) -> Result<(), ImageError> {
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// The length of a JSON array or object, or 0 for anything else.
    #[derive(Default)]
    struct Len(usize);
    impl<'de> Deserialize<'de> for Len {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Len, D::Error> {
            struct Counter;
            impl<'de> Visitor<'de> for Counter {
                type Value = Len;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Len, A::Error> {
                    let mut n = 0;
                    while seq.next_element::<IgnoredAny>()?.is_some() {
                        n += 1;
                    }
                    Ok(Len(n))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Len, A::Error> {
                    let mut n = 0;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                        n += 1;
                    }
                    Ok(Len(n))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Len, E> {
                    Ok(Len(0))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Len, E> {
                    Ok(Len(0))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Len, E> {
                    Ok(Len(0))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Len, E> {
                    Ok(Len(0))
                }
                fn visit_str<E>(self, _: &str) -> Result<Len, E> {
                    Ok(Len(0))
                }
                fn visit_unit<E>(self) -> Result<Len, E> {
                    Ok(Len(0))
                }
            }
            d.deserialize_any(Counter)
        }
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct RootFs {
        diff_ids: Len,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Inner {
        #[serde(rename = "Env")]
        env: Len,
        #[serde(rename = "Labels")]
        labels: Len,
        #[serde(rename = "ExposedPorts")]
        ports: Len,
        #[serde(rename = "Volumes")]
        volumes: Len,
        #[serde(rename = "Cmd")]
        cmd: Len,
        #[serde(rename = "Entrypoint")]
        entrypoint: Len,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Probe {
        history: Len,
        rootfs: Option<RootFs>,
        config: Option<Inner>,
    }
    // A config that does not even have this shape fails the real parse with its own reason.
    let Ok(probe) = serde_json::from_slice::<Probe>(data) else {
        return Ok(());
    };
    let rootfs = probe.rootfs.unwrap_or_default();
    let inner = probe.config.unwrap_or_default();
    for (list, len) in [
        ("history", probe.history.0),
        ("rootfs.diff_ids", rootfs.diff_ids.0),
        ("config.Env", inner.env.0),
        ("config.Labels", inner.labels.0),
        ("config.ExposedPorts", inner.ports.0),
        ("config.Volumes", inner.volumes.0),
        ("config.Cmd", inner.cmd.0),
        ("config.Entrypoint", inner.entrypoint.0),
    ] {
        if len > MAX_CONFIG_LIST {
            return Err(ImageError::Invalid(format!(
                "{what} lists {len} entries in {list}, more than the {MAX_CONFIG_LIST} allowed"
            )));
        }
    }
    Ok(())
}

fn platform_of_config(config: &ImageConfiguration) -> Platform {
    Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    }
}

fn descriptor_platform(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone(),
    })
}

fn annotation<'d>(d: &'d Descriptor, key: &str) -> Option<&'d str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Index,
    Manifest,
    Other,
}

fn kind_of_media_type(mt: &str) -> Option<Kind> {
    if INDEX_TYPES.contains(&mt) {
        Some(Kind::Index)
    } else if MANIFEST_TYPES.contains(&mt) {
        Some(Kind::Manifest)
    } else if mt.is_empty() {
        None
    } else {
        Some(Kind::Other)
    }
}

/// Index or manifest, from the blob's own `mediaType` or, lacking one, its shape.
fn kind_of_blob(data: &[u8]) -> (Kind, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return (Kind::Other, None);
    };
    let mt = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    if let Some(kind) = mt.as_deref().and_then(kind_of_media_type) {
        return (kind, mt);
    }
    if value.get("manifests").is_some() {
        (Kind::Index, mt)
    } else if value.get("config").is_some() && value.get("layers").is_some() {
        (Kind::Manifest, mt)
    } else {
        (Kind::Other, mt)
    }
}

fn is_attestation(d: &Descriptor) -> bool {
    annotation(d, "vnd.docker.reference.type") == Some("attestation-manifest")
        || descriptor_platform(d).is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

/// Resolves an OCI image layout (a directory or the inside of an OCI archive).
/// The `oci-layout` marker, when there is one, must be the small JSON object the image
/// layout spec describes (`{"imageLayoutVersion": "1.0.0"}`). Its absence is tolerated, as
/// skopeo and containerd tolerate it.
fn check_layout_marker(store: &dyn Store) -> Result<(), ImageError> {
    const MAX_MARKER: u64 = 4096;
    let Some(data) = store.read("oci-layout", MAX_MARKER)? else {
        return Ok(());
    };
    let version = serde_json::from_slice::<serde_json::Value>(&data)
        .ok()
        .and_then(|v| {
            v.get("imageLayoutVersion")
                .and_then(|v| v.as_str().map(str::to_string))
        });
    match version {
        Some(_) => Ok(()),
        None => Err(ImageError::Invalid(
            "oci-layout is not an OCI layout marker (a JSON object with imageLayoutVersion)".into(),
        )),
    }
}

pub fn resolve_oci(store: &dyn Store, req: &Request) -> Result<Resolved, ImageError> {
    check_layout_marker(store)?;
    let index_data = store.read("index.json", MAX_MANIFEST)?.ok_or_else(|| {
        ImageError::Invalid("index.json is missing: not an OCI image layout".into())
    })?;
    let index = parse_index(&index_data, "index.json")?;
    let top = index.manifests();

    let (descriptor, names): (Descriptor, Vec<String>) = match req.selector {
        Some(Selector::Name(name)) => {
            let found = top
                .iter()
                .find(|d| annotation(d, REF_NAME) == Some(name.as_str()));
            match found {
                Some(d) => (d.clone(), vec![name.clone()]),
                None => {
                    return Err(ImageError::Select(format!(
                        "no image named {name:?} in index.json; {}",
                        list_names(top)
                    )));
                }
            }
        }
        Some(Selector::Digest(digest)) => {
            let found = top.iter().find(|d| d.digest().to_string() == *digest);
            match found {
                Some(d) => (
                    d.clone(),
                    annotation(d, REF_NAME)
                        .map(str::to_string)
                        .into_iter()
                        .collect(),
                ),
                None => {
                    // Any blob in the layout may be asked for by digest (a platform image
                    // inside an index, say).
                    let data = read_blob(
                        &StoreSource(store),
                        BlobKind::Manifest,
                        digest,
                        None,
                        MAX_MANIFEST,
                    )?;
                    (descriptor_of(&data, digest, None)?, vec![])
                }
            }
        }
        Some(Selector::Index(i)) => {
            let d = top.get(*i).ok_or_else(|| {
                ImageError::Select(format!(
                    "index.json lists {} images; @{i} is out of range",
                    top.len()
                ))
            })?;
            (
                d.clone(),
                annotation(d, REF_NAME)
                    .map(str::to_string)
                    .into_iter()
                    .collect(),
            )
        }
        None => {
            let viable: Vec<&Descriptor> = top
                .iter()
                .filter(|d| {
                    matches!(
                        kind_of_media_type(d.media_type().as_ref()),
                        Some(Kind::Index | Kind::Manifest) | None
                    )
                })
                .collect();
            match viable.as_slice() {
                [] => {
                    return Err(ImageError::Select(
                        "no valid manifest: index.json lists no image".into(),
                    ));
                }
                [only] => (
                    (*only).clone(),
                    annotation(only, REF_NAME)
                        .map(str::to_string)
                        .into_iter()
                        .collect(),
                ),
                _ => {
                    return Err(ImageError::Select(format!(
                        "index.json lists {} images; choose one with :NAME or @sha256:DIGEST; {}",
                        viable.len(),
                        list_names(top)
                    )));
                }
            }
        }
    };

    let names = names
        .into_iter()
        .map(|n| qualified_name(n, req.origin))
        .collect();
    resolve_from(&StoreSource(store), &descriptor, req, names)
}

/// A descriptor for a manifest or index received as `data` under `digest`, typed by
/// `media_type` (a registry's Content-Type) or else by the blob's own `mediaType` or shape.
pub fn descriptor_of(
    data: &[u8],
    digest: &str,
    media_type: Option<&str>,
) -> Result<Descriptor, ImageError> {
    let (kind, own) = kind_of_blob(data);
    let mt = media_type
        .filter(|m| matches!(kind_of_media_type(m), Some(Kind::Index | Kind::Manifest)))
        .map(str::to_string)
        .or(own)
        .unwrap_or_else(|| match kind {
            Kind::Index => INDEX_TYPES[0].to_string(),
            _ => MANIFEST_TYPES[0].to_string(),
        });
    oci_spec::image::DescriptorBuilder::default()
        .media_type(mt.as_str())
        .digest(
            digest
                .parse::<oci_spec::image::Digest>()
                .map_err(|e| ImageError::Invalid(format!("{digest}: {e}")))?,
        )
        .size(data.len() as u64)
        .build()
        .map_err(|e| ImageError::Invalid(e.to_string()))
}

/// Follows `top` (a manifest or an index, by platform) to one image and reads its config.
/// Every blob is checked against its descriptor, wherever `source` gets it from.
pub fn resolve_from(
    source: &dyn MetadataSource,
    top: &Descriptor,
    req: &Request,
    names: Vec<String>,
) -> Result<Resolved, ImageError> {
    let mut visited = HashSet::new();
    let (manifest_digest, manifest_mt, manifest) = descend(source, top, req, 0, &mut visited)?;
    image_from_manifest(source, req, manifest_digest, manifest_mt, manifest, names)
}

/// The name an OCI image goes by: its `org.opencontainers.image.ref.name` when that is a
/// full reference (`registry.example.com/app:1.2`, `alpine:3.20`), otherwise (a bare tag, as
/// skopeo and umoci write `1.2`) the archive's or layout's name with that tag (`app:1.2`).
pub fn qualified_name(name: String, origin: Option<&std::path::Path>) -> String {
    if name.contains(['/', ':', '@']) {
        return name;
    }
    let Some(stem) = origin.and_then(origin_stem) else {
        return name;
    };
    format!("{stem}:{name}")
}

/// `app` for `app.oci.tar`, `app.tar.gz`, `./app/` or `/images/app`.
fn origin_stem(origin: &std::path::Path) -> Option<String> {
    let resolved;
    let origin = if origin.file_name().is_none() {
        resolved = std::fs::canonicalize(origin).ok()?;
        resolved.as_path()
    } else {
        origin
    };
    let mut name = origin.file_name()?.to_string_lossy().into_owned();
    for suffix in [".gz", ".zst", ".tgz", ".tar", ".oci"] {
        if let Some(stripped) = name.strip_suffix(suffix)
            && !stripped.is_empty()
        {
            name = stripped.to_string();
        }
    }
    for suffix in [".tar", ".oci"] {
        if let Some(stripped) = name.strip_suffix(suffix)
            && !stripped.is_empty()
        {
            name = stripped.to_string();
        }
    }
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

fn list_names(top: &[Descriptor]) -> String {
    let names: Vec<String> = top
        .iter()
        .map(|d| match annotation(d, REF_NAME) {
            Some(n) => n.to_string(),
            None => format!("@{}", d.digest()),
        })
        .collect();
    if names.is_empty() {
        "it lists no images".into()
    } else {
        format!("available: {}", names.join(", "))
    }
}

/// Follows a descriptor through (nested) indexes to one image manifest.
fn descend(
    source: &dyn MetadataSource,
    descriptor: &Descriptor,
    req: &Request,
    depth: usize,
    visited: &mut HashSet<String>,
) -> Result<(String, Option<String>, ImageManifest), ImageError> {
    let digest = descriptor.digest().to_string();
    if depth > MAX_INDEX_DEPTH {
        return Err(ImageError::Invalid(format!(
            "indexes nested deeper than {MAX_INDEX_DEPTH} levels at {digest}"
        )));
    }
    if !visited.insert(digest.clone()) {
        return Err(ImageError::Invalid(format!(
            "index cycle: {digest} refers back to itself"
        )));
    }
    let data = read_blob(
        source,
        BlobKind::Manifest,
        &digest,
        Some(descriptor.size()),
        MAX_MANIFEST,
    )?;
    let declared = descriptor.media_type().to_string();
    let (blob_kind, blob_mt) = kind_of_blob(&data);
    if SCHEMA1_TYPES.contains(&declared.as_str())
        || blob_mt
            .as_deref()
            .is_some_and(|m| SCHEMA1_TYPES.contains(&m))
    {
        return Err(ImageError::Unsupported(format!(
            "{digest} is a Docker schema 1 manifest, which is deprecated and not supported"
        )));
    }
    let kind = match kind_of_media_type(&declared) {
        Some(Kind::Other) | None => blob_kind,
        Some(k) => k,
    };
    match kind {
        Kind::Manifest => {
            let manifest = parse_manifest(&data, &format!("manifest {digest}"))?;
            Ok((digest, blob_mt.or(Some(declared)), manifest))
        }
        Kind::Index => {
            let index = parse_index(&data, &format!("index {digest}"))?;
            let child = choose_platform(source, &index, req, &digest)?;
            descend(source, &child, req, depth + 1, visited)
        }
        Kind::Other => Err(ImageError::Unsupported(format!(
            "{digest} has media type {declared:?}, which is not an image manifest or index"
        ))),
    }
}

fn choose_platform(
    source: &dyn MetadataSource,
    index: &ImageIndex,
    req: &Request,
    index_digest: &str,
) -> Result<Descriptor, ImageError> {
    let wanted = req.platform.cloned().unwrap_or_else(Platform::host);
    let children: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .collect();
    let mut available = Vec::new();
    let mut without_platform = Vec::new();
    for child in &children {
        match descriptor_platform(child) {
            Some(p) => {
                if wanted.matches(&p) {
                    return Ok((*child).clone());
                }
                available.push(p.to_string());
            }
            None => without_platform.push(*child),
        }
    }
    // Children without a platform: nested indexes, or a lone manifest whose config says.
    for child in &without_platform {
        if source.has_manifest(child.digest().as_ref()) {
            return Ok((*child).clone());
        }
    }
    let listed = if available.is_empty() {
        "it lists no platforms".to_string()
    } else {
        format!("available: {}", available.join(", "))
    };
    Err(ImageError::Select(format!(
        "no image for platform {wanted} in index {index_digest}; {listed}"
    )))
}

fn image_from_manifest(
    source: &dyn MetadataSource,
    req: &Request,
    manifest_digest: String,
    manifest_media_type: Option<String>,
    manifest: ImageManifest,
    names: Vec<String>,
) -> Result<Resolved, ImageError> {
    let config_desc = manifest.config();
    let config_mt = config_desc.media_type().to_string();
    if !CONFIG_TYPES.contains(&config_mt.as_str()) {
        let artifact = manifest
            .artifact_type()
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or(config_mt);
        return Err(ImageError::Unsupported(format!(
            "manifest {manifest_digest} is an artifact of type {artifact:?}, not a container image"
        )));
    }
    let config_digest = config_desc.digest().to_string();
    let config_data = read_blob(
        source,
        BlobKind::Config,
        &config_digest,
        Some(config_desc.size()),
        MAX_CONFIG,
    )?;
    let (config, extras) = parse_config(&config_data, &format!("config {config_digest}"))?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::Invalid(format!(
            "manifest {manifest_digest} lists {} layers but its config lists {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    let mut layer_paths = Vec::new();
    for (desc, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let mt = desc.media_type().to_string();
        if mt.contains("+encrypted") {
            return Err(ImageError::Unsupported(format!(
                "layer {} is encrypted ({mt})",
                desc.digest()
            )));
        }
        let digest = desc.digest().to_string();
        layer_paths.push(blob_path(&digest)?);
        layers.push(PlannedLayer {
            digest: Some(digest),
            diff_id: check_diff_id(diff_id)?,
            media_type: Some(mt),
            size: Some(desc.size()),
        });
    }
    let platform = platform_of_config(&config);
    check_requested_platform(req, &platform)?;
    Ok(Resolved {
        meta: ImageMeta {
            reference: req.reference.to_string(),
            transport: req.transport,
            manifest_digest: Some(manifest_digest),
            manifest_media_type,
            config_digest,
            config,
            config_extras: extras,
            platform,
            names,
            layers,
            annotations: manifest
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        },
        layer_paths,
    })
}

fn check_diff_id(diff_id: &str) -> Result<String, ImageError> {
    if is_sha256_digest(diff_id) {
        Ok(diff_id.to_string())
    } else {
        Err(ImageError::Invalid(format!(
            "config lists a malformed diff_id {diff_id:?}"
        )))
    }
}

fn check_requested_platform(req: &Request, platform: &Platform) -> Result<(), ImageError> {
    match req.platform {
        Some(wanted) if !wanted.matches(platform) => Err(ImageError::Select(format!(
            "the image is for {platform}, not the requested {wanted}"
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// `docker.io/library/alpine:latest`, `alpine` and `alpine:latest` name the same image.
fn normalize_repo_tag(name: &str) -> String {
    let mut n = name
        .trim_start_matches("docker.io/")
        .trim_start_matches("index.docker.io/")
        .to_string();
    if let Some(rest) = n.strip_prefix("library/") {
        n = rest.to_string();
    }
    let last = n.rsplit('/').next().unwrap_or("");
    if !last.contains(':') && !n.contains('@') {
        n.push_str(":latest");
    }
    n
}

/// Resolves a `docker save` archive: classic (`<id>/layer.tar`) or Docker 25+ (OCI blobs
/// with an index.json beside manifest.json).
pub fn resolve_docker_archive(store: &dyn Store, req: &Request) -> Result<Resolved, ImageError> {
    let data = store.read("manifest.json", MAX_MANIFEST)?.ok_or_else(|| {
        ImageError::Invalid("manifest.json is missing: not a docker-archive".into())
    })?;
    let entries: Option<Vec<DockerManifestEntry>> = serde_json::from_slice(&data)
        .map_err(|e| ImageError::Invalid(format!("manifest.json is not valid: {e}")))?;
    let entries = entries.unwrap_or_default();
    if entries.is_empty() {
        return Err(ImageError::Invalid("manifest.json is null or empty".into()));
    }
    let tags = |e: &DockerManifestEntry| e.repo_tags.clone().unwrap_or_default();
    let entry = match req.selector {
        Some(Selector::Index(i)) => entries.get(*i).ok_or_else(|| {
            ImageError::Select(format!(
                "the archive holds {} images; @{i} is out of range",
                entries.len()
            ))
        })?,
        Some(Selector::Name(name)) => {
            let want = normalize_repo_tag(name);
            entries
                .iter()
                .find(|e| tags(e).iter().any(|t| normalize_repo_tag(t) == want))
                .ok_or_else(|| {
                    ImageError::Select(format!(
                        "no image tagged {name:?} in the archive; {}",
                        list_tags(&entries)
                    ))
                })?
        }
        Some(Selector::Digest(d)) => {
            return Err(ImageError::Select(format!(
                "a docker-archive is addressed by tag or @INDEX, not by digest ({d})"
            )));
        }
        None => match entries.as_slice() {
            [only] => only,
            _ => {
                return Err(ImageError::Select(format!(
                    "the archive holds {} images; choose one with :NAME:TAG or :@INDEX; {}",
                    entries.len(),
                    list_tags(&entries)
                )));
            }
        },
    };

    let config_path = path::normalize(entry.config.as_bytes())
        .map_err(|e| ImageError::Invalid(format!("manifest.json Config: {e}")))?;
    let config_data = store
        .read(&config_path, MAX_CONFIG)?
        .ok_or_else(|| ImageError::MissingBlob(config_path.clone()))?;
    // Docker names the config after its digest, but `docker load` never checks the name:
    // the image ID is the hash of the content, so that is what is reported.
    let config_digest = sha256_of(&config_data);
    let (config, extras) = parse_config(&config_data, &format!("config {config_path}"))?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != entry.layers.len() {
        return Err(ImageError::Invalid(format!(
            "manifest.json lists {} layers but the config lists {} diff_ids",
            entry.layers.len(),
            diff_ids.len()
        )));
    }

    // Docker 25+ also writes an OCI index; its manifest gives the image a manifest digest
    // and the layers their media types.
    let oci = find_manifest_for_config(store, &config_digest);
    let mut layers = Vec::new();
    let mut layer_paths = Vec::new();
    match &oci {
        Some((_, _, manifest)) if manifest.layers().len() == diff_ids.len() => {
            for (desc, diff_id) in manifest.layers().iter().zip(&diff_ids) {
                let digest = desc.digest().to_string();
                layer_paths.push(blob_path(&digest)?);
                layers.push(PlannedLayer {
                    digest: Some(digest),
                    diff_id: check_diff_id(diff_id)?,
                    media_type: Some(desc.media_type().to_string()),
                    size: Some(desc.size()),
                });
            }
        }
        _ => {
            for (layer_path, diff_id) in entry.layers.iter().zip(&diff_ids) {
                let p = path::normalize(layer_path.as_bytes())
                    .map_err(|e| ImageError::Invalid(format!("manifest.json Layers: {e}")))?;
                layers.push(PlannedLayer {
                    digest: digest_named_by(&p),
                    diff_id: check_diff_id(diff_id)?,
                    media_type: None,
                    size: None,
                });
                layer_paths.push(p);
            }
        }
    }
    let platform = platform_of_config(&config);
    check_requested_platform(req, &platform)?;
    let (manifest_digest, manifest_media_type) = match oci {
        Some((d, mt, _)) => (Some(d), mt),
        None => (None, None),
    };
    Ok(Resolved {
        meta: ImageMeta {
            reference: req.reference.to_string(),
            transport: req.transport,
            manifest_digest,
            manifest_media_type,
            config_digest,
            config,
            config_extras: extras,
            platform,
            names: tags(entry),
            layers,
            annotations: Default::default(),
        },
        layer_paths,
    })
}

fn list_tags(entries: &[DockerManifestEntry]) -> String {
    let listed: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| match e.repo_tags.as_deref() {
            Some([first, ..]) => format!("@{i} ({first})"),
            _ => format!("@{i} (untagged)"),
        })
        .collect();
    format!("available: {}", listed.join(", "))
}

/// `blobs/sha256/<hex>` names its own digest (a content-addressed blob store); other layer
/// names in a `docker save` archive are only names.
fn digest_named_by(p: &str) -> Option<String> {
    let hex = p.strip_prefix("blobs/sha256/")?;
    let d = format!("sha256:{hex}");
    is_sha256_digest(&d).then_some(d)
}

/// In a Docker 25+ archive, the OCI manifest whose config is `config_digest`.
fn find_manifest_for_config(
    store: &dyn Store,
    config_digest: &str,
) -> Option<(String, Option<String>, ImageManifest)> {
    let data = store.read("index.json", MAX_MANIFEST).ok()??;
    let index = parse_index(&data, "index.json").ok()?;
    let mut queue: Vec<(Descriptor, usize)> =
        index.manifests().iter().map(|d| (d.clone(), 0)).collect();
    let mut seen: HashMap<String, ()> = HashMap::new();
    while let Some((desc, depth)) = queue.pop() {
        let digest = desc.digest().to_string();
        if depth > MAX_INDEX_DEPTH
            || seen.len() >= MAX_MANIFESTS_VISITED
            || seen.insert(digest.clone(), ()).is_some()
        {
            continue;
        }
        let Ok(blob) = read_blob(
            &StoreSource(store),
            BlobKind::Manifest,
            &digest,
            Some(desc.size()),
            MAX_MANIFEST,
        ) else {
            continue;
        };
        match kind_of_blob(&blob) {
            (Kind::Manifest, mt) => {
                if let Ok(m) = parse_manifest(&blob, &digest)
                    && m.config().digest().to_string() == config_digest
                {
                    return Some((digest, mt, m));
                }
            }
            (Kind::Index, _) => {
                if let Ok(i) = parse_index(&blob, &digest) {
                    queue.extend(i.manifests().iter().map(|d| (d.clone(), depth + 1)));
                }
            }
            (Kind::Other, _) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_normalize_like_docker() {
        assert_eq!(normalize_repo_tag("alpine"), "alpine:latest");
        assert_eq!(
            normalize_repo_tag("docker.io/library/alpine:3.10"),
            "alpine:3.10"
        );
        assert_eq!(
            normalize_repo_tag("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalize_repo_tag("localhost:5000/app:1"),
            "localhost:5000/app:1"
        );
    }

    #[test]
    fn digests_named_by_paths() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_named_by(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        // A classic archive's `<hex>.json` config name is only a name: `docker load` never
        // checks it, and the reported image ID is the hash of the content.
        assert_eq!(digest_named_by(&format!("{hex}.json")), None);
        assert_eq!(digest_named_by(&format!("{hex}/layer.tar")), None);
        assert_eq!(digest_named_by("blobs/sha256/xyz"), None);
    }
}
