//! Writing an image: an OCI image layout assembled in a directory (its blobs put there by
//! whoever made them), then finished as a layout, an OCI archive or a docker-archive.
//!
//! Everything written is deterministic: JSON with a fixed key order, archives with sorted
//! names, a fixed owner, mode and modification time. The same blobs and config give the
//! same bytes, so the same manifest digest.

use crate::keep::blob_file;
use crate::{BlobSource, ImageError};
use portcullis_layer::decode::{HashingReader, sha256_of};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The name Docker (25 and later) and containerd give an image in an archive's index.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Where an image is written, named as skopeo names its transports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `oci:DIR[:TAG]`: a new OCI image layout directory.
    Layout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:NAME:TAG]`: what `docker load` reads.
    DockerArchive { file: PathBuf, name: Option<String> },
    /// `docker://REGISTRY/NAME[:TAG|@DIGEST]`: pushed to a registry (the text after
    /// `docker://`).
    Registry { reference: String },
    /// `docker-daemon:NAME:TAG`: loaded into the Docker (or Podman) daemon.
    Daemon { name: String },
}

impl Destination {
    /// Parses `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME[:TAG]]`,
    /// `docker://REF` or `docker-daemon:NAME[:TAG]`.
    pub fn parse(text: &str) -> Result<Destination, ImageError> {
        if let Some(reference) = text.strip_prefix("docker://") {
            crate::registry::name::RegistryRef::parse(reference)?;
            return Ok(Destination::Registry {
                reference: reference.to_string(),
            });
        }
        if let Some(name) = text.strip_prefix("docker-daemon:") {
            return daemon_name(text, name).map(|name| Destination::Daemon { name });
        }
        let split = |rest: &str| -> (PathBuf, Option<String>) {
            match rest.split_once(':') {
                Some((path, tag)) if !tag.is_empty() => (path.into(), Some(tag.to_string())),
                Some((path, _)) => (path.into(), None),
                None => (rest.into(), None),
            }
        };
        let (dest, path) = if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = split(rest);
            (
                Destination::Layout {
                    dir: dir.clone(),
                    tag,
                },
                dir,
            )
        } else if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, tag) = split(rest);
            (
                Destination::OciArchive {
                    file: file.clone(),
                    tag,
                },
                file,
            )
        } else if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (file, name) = split(rest);
            let name = name.map(|n| {
                let last = n.rsplit('/').next().unwrap_or(&n);
                if last.contains(':') {
                    n
                } else {
                    format!("{n}:latest")
                }
            });
            (
                Destination::DockerArchive {
                    file: file.clone(),
                    name,
                },
                file,
            )
        } else {
            return Err(ImageError::Unsupported(format!(
                "{text}: an output is written to oci:DIR[:TAG], oci-archive:FILE[:TAG], \
                 docker-archive:FILE[:NAME:TAG], docker://REGISTRY/NAME[:TAG] or \
                 docker-daemon:NAME:TAG"
            )));
        };
        if path.as_os_str().is_empty() {
            return Err(ImageError::Invalid(format!(
                "{text}: missing path after the transport"
            )));
        }
        Ok(dest)
    }

    /// The directory or file written, for a destination on this machine's disk.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Destination::Layout { dir, .. } => Some(dir),
            Destination::OciArchive { file, .. } | Destination::DockerArchive { file, .. } => {
                Some(file)
            }
            Destination::Registry { .. } | Destination::Daemon { .. } => None,
        }
    }

    /// Whether the image goes out as one tar archive (a file, or the stream a daemon loads).
    pub fn is_archive(&self) -> bool {
        matches!(
            self,
            Destination::OciArchive { .. }
                | Destination::DockerArchive { .. }
                | Destination::Daemon { .. }
        )
    }

    /// Whether the archive written is a docker-archive (with `manifest.json`).
    fn is_docker_archive(&self) -> bool {
        matches!(
            self,
            Destination::DockerArchive { .. } | Destination::Daemon { .. }
        )
    }

    /// The name the image gets inside what is written, when one was given.
    fn tag(&self) -> Option<&str> {
        match self {
            Destination::Layout { tag, .. } | Destination::OciArchive { tag, .. } => tag.as_deref(),
            Destination::DockerArchive { name, .. } => name.as_deref(),
            Destination::Daemon { name } => Some(name),
            Destination::Registry { .. } => None,
        }
    }
}

/// The `NAME:TAG` of `docker-daemon:NAME[:TAG]` (`:latest` when no tag is given). An image
/// ID or a digest names no tag to load the image under, and is refused.
fn daemon_name(text: &str, name: &str) -> Result<String, ImageError> {
    let refuse = |why: &str| {
        ImageError::Invalid(format!(
            "{text}: {why}; an image is loaded into a daemon as docker-daemon:NAME:TAG"
        ))
    };
    if name.is_empty() {
        return Err(refuse("missing name after the transport"));
    }
    if name.contains('@') || name.starts_with("sha256:") {
        return Err(refuse("a digest names no tag"));
    }
    crate::registry::name::RegistryRef::parse(name).map_err(|e| refuse(&e.to_string()))?;
    let last = name.rsplit('/').next().unwrap_or(name);
    Ok(if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    })
}

/// A layer of the new image whose blob is in the assembly directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// Layer blobs of the new image that are not in the assembly directory: untouched layers of
/// the input, read again from where the scan read them and hashed on the way.
pub struct Elsewhere<'a> {
    pub source: &'a dyn BlobSource,
    pub blobs: Vec<LayerBlob>,
}

impl Elsewhere<'_> {
    fn holds(&self, hex: &str) -> bool {
        self.blobs.iter().any(|b| hex_of(&b.digest) == hex)
    }
}

/// What was written: the new image's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub config_digest: String,
}

/// Puts `data` into the layout at `root` as a blob; its digest and size.
pub fn put_blob(root: &Path, data: &[u8]) -> Result<(String, u64), ImageError> {
    let digest = sha256_of(data);
    let path = blob_file(root, &digest);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    std::fs::write(&path, data).map_err(|e| io_error(&path, e))?;
    Ok((digest, data.len() as u64))
}

/// Copies the blob `blob` from `source` into the layout at `root`, checking its digest and
/// size as it passes.
pub fn copy_blob(source: &dyn BlobSource, blob: &LayerBlob, root: &Path) -> Result<(), ImageError> {
    let path = blob_file(root, &blob.digest);
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
    let mut hashing = HashingReader::new(source.open_blob(&blob.digest)?, blob.size, "the blob");
    io::copy(&mut hashing, tmp.as_file_mut()).map_err(|e| ImageError::Layer {
        what: blob.digest.clone(),
        message: e.to_string(),
    })?;
    let (digest, size) = hashing.finish();
    if digest != blob.digest || size != blob.size {
        return Err(ImageError::DigestMismatch {
            what: format!("blob {} read again", blob.digest),
            expected: format!("{} ({} bytes)", blob.digest, blob.size),
            actual: format!("{digest} ({size} bytes)"),
        });
    }
    tmp.persist(&path).map_err(|e| io_error(&path, e.error))?;
    Ok(())
}

fn io_error(path: &Path, e: io::Error) -> ImageError {
    ImageError::io(&path.display().to_string(), e)
}

/// Turns the directory `root`, which holds the layer blobs, into the OCI layout of one
/// image: its config, its manifest (with `annotations`), `index.json` and `oci-layout`, and
/// for a docker-archive the `manifest.json` of `docker save`. Blobs nothing refers to are
/// removed. The layers `elsewhere` holds are not expected in `root`.
pub fn assemble(
    root: &Path,
    dest: &Destination,
    config: &[u8],
    layers: &[LayerBlob],
    annotations: &BTreeMap<String, String>,
    elsewhere: Option<&Elsewhere>,
) -> Result<Written, ImageError> {
    let (config_digest, config_size) = put_blob(root, config)?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type, "digest": l.digest, "size": l.size,
        })).collect::<Vec<_>>(),
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let manifest_bytes = to_bytes(&manifest);
    let (manifest_digest, manifest_size) = put_blob(root, &manifest_bytes)?;

    let mut descriptor = json!({
        "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size,
    });
    let mut names = BTreeMap::new();
    match (dest, dest.tag()) {
        (Destination::DockerArchive { .. } | Destination::Daemon { .. }, Some(name)) => {
            let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
            names.insert(CONTAINERD_NAME, docker_io_name(name));
            names.insert(REF_NAME, tag.to_string());
        }
        (_, Some(tag)) => {
            names.insert(REF_NAME, tag.to_string());
        }
        (_, None) => {}
    }
    if !names.is_empty() {
        descriptor["annotations"] = json!(names);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]});
    write_file(&root.join("index.json"), &to_bytes(&index))?;
    write_file(
        &root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    if dest.is_docker_archive() {
        let blob = |digest: &str| format!("blobs/sha256/{}", hex_of(digest));
        let docker = json!([{
            "Config": blob(&config_digest),
            "RepoTags": dest.tag().iter().collect::<Vec<_>>(),
            "Layers": layers.iter().map(|l| blob(&l.digest)).collect::<Vec<_>>(),
        }]);
        write_file(&root.join("manifest.json"), &to_bytes(&docker))?;
    }

    let mut wanted: BTreeSet<String> = layers.iter().map(|l| hex_of(&l.digest)).collect();
    wanted.insert(hex_of(&config_digest));
    wanted.insert(hex_of(&manifest_digest));
    let blobs = root.join("blobs").join("sha256");
    for entry in std::fs::read_dir(&blobs).map_err(|e| io_error(&blobs, e))? {
        let entry = entry.map_err(|e| io_error(&blobs, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !wanted.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
        }
    }
    for hex in &wanted {
        let path = blobs.join(hex);
        if !path.is_file() && !elsewhere.is_some_and(|e| e.holds(hex)) {
            return Err(ImageError::MissingBlob(format!("sha256:{hex}")));
        }
    }
    Ok(Written {
        manifest_digest,
        manifest_size,
        config_digest,
    })
}

/// `docker.io/library/NAME:TAG` for a short name, as Docker names images in an index.
fn docker_io_name(name: &str) -> String {
    let first = name.split('/').next().unwrap_or(name);
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':'));
    match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    }
}

fn hex_of(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).to_string()
}

/// Compact JSON with the keys of every object sorted.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(&sorted(value)).unwrap_or_default()
}

/// `value` with the keys of every object in sorted order, whatever order the map type of
/// `serde_json` keeps.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), ImageError> {
    std::fs::write(path, data).map_err(|e| io_error(path, e))
}

/// Writes the assembled layout at `root` as one tar archive (an OCI archive, or with
/// `manifest.json` a docker-archive): directories first, names sorted, every entry owned by
/// root with mode 0644 (0755 for directories) and modified at the epoch. The blobs of
/// `elsewhere` are copied from their source straight into the archive, each checked against
/// its digest and size as it passes.
pub fn write_archive(
    root: &Path,
    elsewhere: Option<&Elsewhere>,
    out: impl Write,
) -> Result<(), ImageError> {
    let mut names: Vec<String> = ["oci-layout", "index.json", "manifest.json"]
        .into_iter()
        .filter(|n| root.join(n).is_file())
        .map(str::to_string)
        .collect();
    let blobs = root.join("blobs").join("sha256");
    let mut hexes: Vec<String> = std::fs::read_dir(&blobs)
        .map_err(|e| io_error(&blobs, e))?
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(|e| io_error(&blobs, e))
        })
        .collect::<Result<_, _>>()?;
    let mut outside: BTreeMap<String, &LayerBlob> = BTreeMap::new();
    for blob in elsewhere.iter().flat_map(|e| &e.blobs) {
        let hex = hex_of(&blob.digest);
        if !hexes.contains(&hex) {
            outside.insert(hex.clone(), blob);
            hexes.push(hex);
        }
    }
    hexes.sort();
    names.sort();
    let mut builder = tar::Builder::new(out);
    let header = |size: u64, mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    let archive_error = |e: io::Error| ImageError::io("the archive", e);
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(0, 0o755, tar::EntryType::Directory);
        builder
            .append_data(&mut h, dir, io::empty())
            .map_err(archive_error)?;
    }
    let add = |builder: &mut tar::Builder<_>, name: &str, path: &Path| -> Result<(), ImageError> {
        let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        let size = file.metadata().map_err(|e| io_error(path, e))?.len();
        append_file(builder, name, size, file).map_err(archive_error)
    };
    for hex in &hexes {
        let name = format!("blobs/sha256/{hex}");
        match (outside.get(hex), elsewhere) {
            (Some(blob), Some(elsewhere)) => {
                let source = elsewhere.source.open_blob(&blob.digest)?;
                let mut hashing = HashingReader::new(source, blob.size, "the layer blob");
                append_file(&mut builder, &name, blob.size, &mut hashing).map_err(|e| {
                    ImageError::Layer {
                        what: blob.digest.clone(),
                        message: e.to_string(),
                    }
                })?;
                let (digest, size) = hashing.finish();
                if size != blob.size || digest != blob.digest {
                    return Err(ImageError::DigestMismatch {
                        what: format!("layer {} read again for the archive", blob.digest),
                        expected: format!("{} ({} bytes)", blob.digest, blob.size),
                        actual: format!("{digest} ({size} bytes)"),
                    });
                }
            }
            _ => add(&mut builder, &name, &blobs.join(hex))?,
        }
    }
    for name in &names {
        add(&mut builder, name, &root.join(name))?;
    }
    builder
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(archive_error)
}

/// Bytes copied at once into an archive: large blobs pass in few reads and writes.
const COPY_BUFFER: usize = 1 << 20;

/// Appends a regular file entry `name` of `size` bytes read from `data`, as the archive's
/// other entries are written (root, 0644, the epoch), copied in large pieces; `data` must
/// hold `size` bytes.
fn append_file<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    mut data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_path(name)?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    let out = builder.get_mut();
    out.write_all(header.as_bytes())?;
    let mut buffer = vec![0u8; COPY_BUFFER.min(usize::try_from(size).unwrap_or(COPY_BUFFER))];
    let mut left = size;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(buffer.len()));
        let n = data.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: {left} of {size} bytes missing"),
            ));
        }
        out.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    let padding = (512 - size % 512) % 512;
    out.write_all(&[0u8; 512][..padding as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        let table = [
            (
                "oci:out",
                Some(Destination::Layout {
                    dir: "out".into(),
                    tag: None,
                }),
            ),
            (
                "oci:out:1.0",
                Some(Destination::Layout {
                    dir: "out".into(),
                    tag: Some("1.0".into()),
                }),
            ),
            (
                "oci-archive:app.oci.tar",
                Some(Destination::OciArchive {
                    file: "app.oci.tar".into(),
                    tag: None,
                }),
            ),
            (
                "docker-archive:app.tar:app:hardened",
                Some(Destination::DockerArchive {
                    file: "app.tar".into(),
                    name: Some("app:hardened".into()),
                }),
            ),
            (
                "docker-archive:app.tar:app",
                Some(Destination::DockerArchive {
                    file: "app.tar".into(),
                    name: Some("app:latest".into()),
                }),
            ),
            (
                "docker://127.0.0.1:5000/app:hardened",
                Some(Destination::Registry {
                    reference: "127.0.0.1:5000/app:hardened".into(),
                }),
            ),
            (
                "docker-daemon:app:hardened",
                Some(Destination::Daemon {
                    name: "app:hardened".into(),
                }),
            ),
            (
                "docker-daemon:localhost:5000/app",
                Some(Destination::Daemon {
                    name: "localhost:5000/app:latest".into(),
                }),
            ),
            ("oci:", None),
            ("app.tar", None),
            ("docker-archive:", None),
            ("docker://", None),
            ("docker://App:1", None),
            ("docker-daemon:", None),
            ("docker-daemon:sha256:abcdef", None),
            (
                "docker-daemon:app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                None,
            ),
        ];
        for (text, expected) in table {
            assert_eq!(Destination::parse(text).ok(), expected, "{text}");
        }
    }

    /// A source that serves `data` for every digest.
    struct Serving(&'static [u8]);

    impl BlobSource for Serving {
        fn open_blob(&self, _digest: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
            Ok(Box::new(self.0))
        }
    }

    #[test]
    fn blobs_from_elsewhere_are_copied_only_when_they_are_what_was_scanned() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("blobs/sha256")).unwrap();
        std::fs::write(root.path().join("oci-layout"), "{}").unwrap();
        let layer = LayerBlob {
            digest: sha256_of(b"layer bytes"),
            size: 11,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        };
        let archive = |source: &dyn BlobSource| {
            let mut out = Vec::new();
            let elsewhere = Elsewhere {
                source,
                blobs: vec![layer.clone()],
            };
            write_archive(root.path(), Some(&elsewhere), &mut out).map(|()| out)
        };

        let out = archive(&Serving(b"layer bytes")).unwrap();
        let mut entries = tar::Archive::new(out.as_slice());
        let files: Vec<(String, Vec<u8>)> = entries
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect();
        let name = format!("blobs/sha256/{}", hex_of(&layer.digest));
        assert!(
            files.contains(&(name, b"layer bytes".to_vec())),
            "{files:?}"
        );

        // Only the blob's length is read: what follows it is never written.
        assert_eq!(archive(&Serving(b"layer bytes and more")).unwrap(), out);
        // The input changed between the scan and the copy: refused.
        for changed in [&b"LAYER BYTES"[..], b"layer"] {
            assert!(
                matches!(
                    archive(&Serving(changed)),
                    Err(ImageError::DigestMismatch { .. } | ImageError::Layer { .. })
                ),
                "{changed:?}"
            );
        }
    }

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let value = json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": 3}});
        assert_eq!(
            String::from_utf8(to_bytes(&value)).unwrap(),
            r#"{"a":{"c":3,"d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn docker_names_get_their_registry() {
        assert_eq!(docker_io_name("app:1"), "docker.io/library/app:1");
        assert_eq!(docker_io_name("me/app:1"), "docker.io/me/app:1");
        assert_eq!(docker_io_name("reg.io:5000/app:1"), "reg.io:5000/app:1");
    }
}
