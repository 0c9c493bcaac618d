//! `docker://[REGISTRY/]NAME[:TAG|@DIGEST]`: pulling from a registry that speaks the OCI
//! distribution API (Docker Hub, a `registry:2`, Harbor, ghcr.io, quay.io ...).
//!
//! Only the network side is asynchronous. The top manifest is fetched and checked against
//! the digest of the bytes received; indexes, manifests and the config are then resolved by
//! the same code as a local OCI layout (`resolve::resolve_from`, platform choice included),
//! each checked against its descriptor. Layer blobs are fetched several at a time and
//! streamed straight into the scanner, which hashes them as they pass; a layer whose
//! report is in the layer cache is not fetched at all.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod name;

use super::body::body_channel;
use super::model::Transport;
use super::resolve::{self, BlobKind, MetadataSource, Request};
use super::store::Store;
use super::{ImageError, LoadOptions, Loaded, scan_resolved};
use client::{Client, Fetched};
use credentials::Credentials;
use name::RegistryRef;
use std::io::Read;
use std::sync::Arc;

/// Layers fetched at once: a pull waits on the network more than on the scanner.
const PARALLEL_BLOBS: usize = 4;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
    /// Credentials for the registry named in the reference (`--username`,
    /// `--password-stdin`); otherwise Docker's config file is consulted.
    pub credentials: Option<Credentials>,
    /// Skip certificate verification and allow plain HTTP (`--insecure`).
    pub insecure: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference:?} is not an image reference: {reason}")]
    BadReference { reference: String, reason: String },
    #[error("credentials from {source_name}: {message}")]
    Credentials {
        source_name: String,
        message: String,
    },
    #[error("authentication failed: {message}")]
    Auth { message: String },
    #[error("{registry}: access to repository {repository} denied ({status}){}", if *.anonymous {
        "; log in (docker login) or pass --username and --password-stdin"
    } else {
        "; check the credentials and the repository's permissions"
    })]
    Denied {
        registry: String,
        repository: String,
        status: u16,
        anonymous: bool,
    },
    #[error("{registry}: {what} not found in repository {repository} (404)")]
    NotFound {
        registry: String,
        repository: String,
        what: String,
    },
    #[error("{registry}: {what} in repository {repository}: the registry answered {status}")]
    Status {
        registry: String,
        repository: String,
        status: u16,
        what: String,
    },
    #[error("{registry}: {what} in repository {repository} refused ({status}){}", if .detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    })]
    Rejected {
        registry: String,
        repository: String,
        status: u16,
        what: String,
        /// The error codes and messages of the registry's answer, when it sent any.
        detail: String,
    },
    #[error("{registry} does not list its repositories: its catalog API answered {status}{}",
        if *.anonymous && *.status != 404 {
            " to an anonymous client (log in with docker login, or pass --username and \
             --password-stdin, where the registry lists them to its users)"
        } else {
            ""
        })]
    CatalogRefused {
        registry: String,
        status: u16,
        anonymous: bool,
    },
    #[error("{registry}: the catalog is longer than {limit}")]
    CatalogTooLong { registry: String, limit: String },
    #[error("{repository}: the tag list is longer than {limit}")]
    TagsTooLong { repository: String, limit: String },
    #[error("{registry}: {message}")]
    Network { registry: String, message: String },
    #[error("{what} is larger than {max} bytes")]
    TooLarge { what: String, max: u64 },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    Digest {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Unsupported(String),
}

/// A client for one repository on a runtime of its own, for the work done with a registry
/// outside a scan (attaching and finding attestations, pushing and pulling the
/// vulnerability database).
pub struct Session {
    runtime: tokio::runtime::Runtime,
    pub client: Arc<Client>,
}

impl Session {
    /// Connects to the repository of `target` with the credentials of `remote`, or Docker's
    /// for that registry; `push` asks token endpoints for write access too.
    pub fn open(
        target: &RegistryRef,
        remote: &RemoteOptions,
        push: bool,
    ) -> Result<Session, RegistryError> {
        let credentials = credentials::resolve(remote.credentials.as_ref(), &target.registry)?;
        // One worker, so that a blob opened with `open_blob` streams while the caller reads.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Network {
                registry: target.registry.clone(),
                message: format!("starting the async runtime: {e}"),
            })?;
        let client = runtime.block_on(Client::connect(
            target.clone(),
            credentials,
            remote.insecure,
        ))?;
        let client = if push {
            client.with_push_access()
        } else {
            client
        };
        Ok(Session {
            runtime,
            client: Arc::new(client),
        })
    }

    /// Runs a future (a call on [`Session::client`]) to its end.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The blob `digest` as a stream read on this thread while the runtime fetches it. The
    /// bytes are not checked here: the reader hashes and bounds them.
    pub fn open_blob(&self, digest: &str) -> impl Read + Send + use<> {
        let (tx, reader) = body_channel();
        let client = Arc::clone(&self.client);
        let digest = digest.to_string();
        self.runtime
            .spawn(async move { client.stream_blob(digest, tx).await });
        reader
    }
}

/// The tags of the repository `repository` (`REGISTRY/NAME`, the text after `docker://`).
pub fn list_tags(repository: &str, remote: &RemoteOptions) -> Result<Vec<String>, RegistryError> {
    let target = name::RegistryRef::parse(repository)?;
    let session = Session::open(&target, remote, false)?;
    session.block_on(session.client.tags())
}

/// Every tag of the repository `repository`, or an error when there are more than the
/// client lists ([`client::Client::all_tags`]).
pub fn list_all_tags(
    repository: &str,
    remote: &RemoteOptions,
) -> Result<Vec<String>, RegistryError> {
    let target = name::RegistryRef::parse(repository)?;
    let session = Session::open(&target, remote, false)?;
    session.block_on(session.client.all_tags())
}

/// The repositories of the registry `registry` (a [`RegistryRef::registry_only`]), from its
/// catalog API, at most `max` of them (see [`Client::catalog`]).
pub fn list_repositories(
    registry: &RegistryRef,
    remote: &RemoteOptions,
    max: usize,
) -> Result<Vec<String>, RegistryError> {
    let session = Session::open(registry, remote, false)?;
    session.block_on(session.client.catalog(max))
}

/// Pulls and scans `reference` (the text after `docker://`, or a bare name).
pub fn load<R: Clone + Send + Sync>(
    text: &str,
    reference: &str,
    opts: &LoadOptions<R>,
) -> Result<Loaded<R>, ImageError> {
    let target = RegistryRef::parse(reference).map_err(|e| match e {
        // A bare argument that is neither a file nor an image name is most likely a path
        // with a typo.
        RegistryError::BadReference { reference, reason } if !text.starts_with("docker://") => {
            RegistryError::BadReference {
                reference,
                reason: format!(
                    "no such file or directory, and not an image name to pull either ({reason})"
                ),
            }
        }
        other => other,
    })?;
    // A bare name says where it is pulled from; `docker://HOST/...` names the registry
    // itself.
    if !text.starts_with("docker://") {
        opts.observer
            .pulling(reference, target.api_host(), &target.to_string());
    }
    let credentials = credentials::resolve(opts.remote.credentials.as_ref(), &target.registry)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ImageError::io("the async runtime", e))?;
    let client = Arc::new(runtime.block_on(Client::connect(
        target.clone(),
        credentials,
        opts.remote.insecure,
    ))?);
    let top =
        runtime.block_on(client.manifest(target.manifest_reference(), resolve::MAX_MANIFEST))?;
    let descriptor = resolve::descriptor_of(&top.data, &top.digest, top.media_type.as_deref())?;
    let source = Metadata {
        client: &client,
        runtime: &runtime,
        top,
    };
    let req = Request {
        reference: text,
        transport: Transport::Registry,
        selector: None,
        platform: opts.platform,
        origin: None,
    };
    let resolved = resolve::resolve_from(&source, &descriptor, &req, vec![target.to_string()])?;
    let blobs = Blobs {
        client,
        runtime: runtime.handle().clone(),
    };
    scan_resolved(&blobs, resolved, opts, PARALLEL_BLOBS)
}

/// Manifests, indexes and configs, fetched on demand; the top manifest is already here.
struct Metadata<'a> {
    client: &'a Client,
    runtime: &'a tokio::runtime::Runtime,
    top: Fetched,
}

impl MetadataSource for Metadata<'_> {
    fn fetch(&self, kind: BlobKind, digest: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        if kind == BlobKind::Manifest && digest == self.top.digest {
            return Ok(Some(self.top.data.clone()));
        }
        let data = match kind {
            BlobKind::Manifest => {
                self.runtime
                    .block_on(self.client.manifest(digest, max))?
                    .data
            }
            BlobKind::Config => self.runtime.block_on(self.client.blob(digest, max))?,
        };
        Ok(Some(data))
    }

    fn has_manifest(&self, _digest: &str) -> bool {
        // A registry is asked, not listed: an index entry is there until a fetch says not.
        true
    }
}

/// Layer blobs, each opened as a stream that a task on the runtime feeds.
struct Blobs {
    client: Arc<Client>,
    runtime: tokio::runtime::Handle,
}

fn digest_of_path(path: &str) -> Result<String, ImageError> {
    path.strip_prefix("blobs/sha256/")
        .map(|hex| format!("sha256:{hex}"))
        .ok_or_else(|| ImageError::Invalid(format!("{path} is not a blob")))
}

impl Store for Blobs {
    fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let digest = digest_of_path(path)?;
        Ok(Some(self.runtime.block_on(self.client.blob(&digest, max))?))
    }

    fn has_file(&self, path: &str) -> bool {
        digest_of_path(path).is_ok()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let digest = digest_of_path(path)?;
        let (tx, reader) = body_channel();
        let client = Arc::clone(&self.client);
        self.runtime
            .spawn(async move { client.stream_blob(digest, tx).await });
        Ok(Box::new(reader))
    }
}

/// What [`push_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// Blobs sent, blobs the repository had already, and blobs mounted from the repository
    /// the image was read from (neither sent again).
    pub uploaded: usize,
    pub existing: usize,
    pub mounted: usize,
    /// The manifest's digest, and the tag or digest it was stored under.
    pub digest: String,
    pub reference: String,
}

/// Asks `target`'s repository, with the credentials a push would use, about a blob: a
/// registry that cannot be reached, or that refuses those credentials, is found before an
/// image is read and hardened for it.
pub fn check_push(target: &RegistryRef, remote: &RemoteOptions) -> Result<(), ImageError> {
    let session = Session::open(target, remote, true)?;
    let empty = portcullis_layer::decode::sha256_of(b"");
    session.block_on(session.client.has_blob(&empty))?;
    Ok(())
}

/// Pushes the image whose manifest is the blob `manifest_digest` of the OCI layout at `root`
/// to `target`: every blob the manifest names that the repository lacks (asked with HEAD),
/// then the manifest, last, so that a push that fails leaves no tag pointing at a partial
/// image. A `target` naming a digest must name this manifest's. The layers of `mount_from`
/// (another repository of the same registry, the one the image was read from) are mounted
/// from there when the registry will, rather than sent.
pub fn push_image(
    root: &std::path::Path,
    manifest_digest: &str,
    target: &RegistryRef,
    remote: &RemoteOptions,
    mount_from: Option<&str>,
) -> Result<PushedImage, ImageError> {
    if let Some(digest) = &target.digest
        && digest != manifest_digest
    {
        return Err(ImageError::Invalid(format!(
            "{target}: the hardened image's manifest digest is {manifest_digest}, not {digest} \
             (push it to a tag)"
        )));
    }
    let manifest_path = crate::keep::blob_file(root, manifest_digest);
    let manifest = std::fs::read(&manifest_path)
        .map_err(|e| ImageError::io(&manifest_path.display().to_string(), e))?;
    let parsed: oci_spec::image::ImageManifest = serde_json::from_slice(&manifest)
        .map_err(|e| ImageError::Invalid(format!("the manifest to push: {e}")))?;
    let session = Session::open(target, remote, true)?;
    let mut pushed = PushedImage {
        uploaded: 0,
        existing: 0,
        mounted: 0,
        digest: manifest_digest.to_string(),
        reference: target.manifest_reference().to_string(),
    };
    for descriptor in parsed.layers().iter().chain([parsed.config()]) {
        let digest = descriptor.digest().to_string();
        let client = &session.client;
        if session.block_on(client.has_blob(&digest))? {
            pushed.existing += 1;
            continue;
        }
        if let Some(from) = mount_from
            && session.block_on(client.mount_blob(&digest, from))?
        {
            pushed.mounted += 1;
            continue;
        }
        let path = crate::keep::blob_file(root, &digest);
        session.block_on(client.put_blob_file(&path, &digest, descriptor.size()))?;
        pushed.uploaded += 1;
    }
    let put = session.block_on(session.client.put_manifest(
        &pushed.reference,
        super::write::OCI_MANIFEST,
        bytes::Bytes::from(manifest),
    ))?;
    pushed.digest = put.digest;
    Ok(pushed)
}
