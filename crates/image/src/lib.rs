//! Getting an image: from a reference to its metadata and its scanned layers.

#![forbid(unsafe_code)]

pub mod body;
pub mod daemon;
pub mod keep;
pub mod observe;
pub mod reference;
pub mod registry;
pub mod resolve;
pub mod store;
pub mod stream;
pub mod write;

pub use portcullis_model::image as model;

use model::{Compression, ImageMeta, LayerInfo, PlannedLayer, Platform, Transport};
use observe::{Counted, LayerSource, Observer};
use portcullis_layer::{self as layer, Budget, LayerError, ScannedLayer};
use reference::{ImageRef, Selector};
use resolve::{Request, Resolved};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use store::{DirStore, Store, TarStore};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Select(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("blob {0} is missing")]
    MissingBlob(String),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("layer {what}: {message}")]
    Layer { what: String, message: String },
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
}

impl ImageError {
    pub fn io(path: &str, source: io::Error) -> ImageError {
        ImageError::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// An image read end to end: its metadata and, per layer, what the layer scanner made of it.
pub struct Loaded<R> {
    pub meta: ImageMeta,
    pub layers: Vec<LayerInfo>,
    pub reports: Vec<R>,
    /// For an image read from a layout directory or an uncompressed archive, the store to
    /// read its layer blobs from again.
    pub reopen: Option<Reopen>,
}

/// The files an image was read from at random (a layout directory, an uncompressed
/// archive), to read its layer blobs again by digest: `harden` writes untouched layers into
/// its output from there rather than keeping a copy of every blob while it scans.
pub struct Reopen {
    store: Box<dyn Store + Send>,
    /// The store path of each layer blob, by the digest the scan verified.
    paths: HashMap<String, String>,
}

/// Where blobs are read from by digest.
pub trait BlobSource: Sync {
    /// The bytes of the blob `digest`, unchecked: the reader hashes them.
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, ImageError>;
}

impl BlobSource for Reopen {
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let path = self
            .paths
            .get(digest)
            .ok_or_else(|| ImageError::MissingBlob(digest.to_string()))?;
        self.store.open(path)
    }
}

/// Whether the image `image_ref` names is read at random from this machine's disk (a
/// layout directory, an uncompressed archive), so that [`Loaded::reopen`] will be set.
pub fn rereadable(image_ref: &ImageRef) -> bool {
    match image_ref {
        ImageRef::OciLayout { path, .. } => path.is_dir(),
        ImageRef::Local { path, .. } if path.is_dir() => true,
        ImageRef::DockerArchive { path, .. }
        | ImageRef::OciArchive { path, .. }
        | ImageRef::Local { path, .. } => {
            refuse_special_file(path, "").is_ok()
                && archive_compression(path) == Some(Compression::None)
        }
        ImageRef::DockerDaemon { .. } | ImageRef::Registry { .. } => false,
    }
}

/// The compression of the archive at `path`, from its first bytes.
fn archive_compression(path: &Path) -> Option<Compression> {
    let mut head = Vec::with_capacity(512);
    File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .ok()?;
    Compression::sniff(&head)
}

/// The stage after this one, as acquiring sees it: it turns one layer's stream into a report
/// `R` while the stream's digests are computed, and may know a layer's report already.
pub trait LayerScanner<R>: Sync {
    /// Reads one layer blob to its end (see [`layer::scan_layer`]).
    fn scan(
        &self,
        raw: Box<dyn Read + Send + '_>,
        max_blob_size: u64,
        budget: &Budget,
    ) -> Result<ScannedLayer<R>, LayerError>;

    /// The report of a layer seen before, by the digests a manifest names, charged to
    /// `budget` as if the layer had been read.
    fn cached(
        &self,
        _digest: &str,
        _diff_id: &str,
        _budget: &Budget,
    ) -> Result<Option<ScannedLayer<R>>, LayerError> {
        Ok(None)
    }

    /// A layer was read and its digests verified: the scanner may keep its report. What
    /// goes wrong here costs speed, not the scan, and is returned to be shown as a detail.
    fn remember(&self, _layer: &LayerInfo, _report: &R) -> Result<(), String> {
        Ok(())
    }
}

pub struct LoadOptions<'a, R> {
    pub platform: Option<&'a Platform>,
    pub scanner: &'a dyn LayerScanner<R>,
    pub budget: &'a Budget,
    pub observer: &'a dyn Observer,
    /// Credentials and transport security for registries.
    pub remote: &'a registry::RemoteOptions,
}

/// Resolves `image_ref` and reads every layer of the chosen image once.
pub fn load<R: Clone + Send + Sync>(
    text: &str,
    image_ref: &ImageRef,
    opts: &LoadOptions<R>,
) -> Result<Loaded<R>, ImageError> {
    match image_ref {
        ImageRef::OciLayout { path, selector } => {
            if !path.is_dir() {
                return Err(not_found_or(
                    path,
                    "is not a directory (an OCI layout is a directory)",
                ));
            }
            let store = DirStore::new(path);
            let req = Request {
                origin: Some(path),
                ..request(text, Transport::OciLayout, selector.as_ref(), opts)
            };
            let resolved = resolve::resolve_oci(&store, &req)?;
            scan_local(store, resolved, opts)
        }
        ImageRef::Local { path, selector } if path.is_dir() => {
            let store = DirStore::new(path);
            let req = Request {
                origin: Some(path),
                ..request(text, Transport::OciLayout, selector.as_ref(), opts)
            };
            let resolved = resolve::resolve_oci(&store, &req)?;
            scan_local(store, resolved, opts)
        }
        ImageRef::DockerArchive { path, selector } => load_archive(
            text,
            path,
            Some(Transport::DockerArchive),
            selector.as_ref(),
            opts,
        ),
        ImageRef::OciArchive { path, selector } => load_archive(
            text,
            path,
            Some(Transport::OciArchive),
            selector.as_ref(),
            opts,
        ),
        ImageRef::Local { path, selector } => {
            load_archive(text, path, None, selector.as_ref(), opts)
        }
        ImageRef::DockerDaemon { name } => daemon::load(text, name, opts),
        ImageRef::Registry { reference } => registry::load(text, reference, opts),
    }
}

/// A FIFO, socket or device given as an image archive is refused at once: reading one
/// could block forever or never end.
fn refuse_special_file(path: &Path, shown: &str) -> Result<(), ImageError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let kind = meta.file_type();
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        return Ok(());
    };
    Err(ImageError::Invalid(format!(
        "{shown} is {what}, not an image archive: refused (give a regular file)"
    )))
}

fn not_found_or(path: &Path, otherwise: &str) -> ImageError {
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Err(e) => ImageError::io(&shown, e),
        Ok(_) => ImageError::Invalid(format!("{shown} {otherwise}")),
    }
}

fn request<'a, R>(
    text: &'a str,
    transport: Transport,
    selector: Option<&'a Selector>,
    opts: &LoadOptions<'a, R>,
) -> Request<'a> {
    Request {
        reference: text,
        transport,
        selector,
        platform: opts.platform,
        origin: None,
    }
}

/// An archive file: plain tar archives are indexed and read at random; compressed ones are
/// read once as a stream.
fn load_archive<R: Clone + Send + Sync>(
    text: &str,
    path: &Path,
    expected: Option<Transport>,
    selector: Option<&Selector>,
    opts: &LoadOptions<R>,
) -> Result<Loaded<R>, ImageError> {
    let shown = path.display().to_string();
    // Opening a FIFO waits for a writer, forever: look before opening.
    refuse_special_file(path, &shown)?;
    let mut file = File::open(path).map_err(|e| ImageError::io(&shown, e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ImageError::Invalid(format!(
            "{shown} is a directory; use oci:{shown} for an OCI layout"
        )));
    }
    let mut head = Vec::with_capacity(512);
    (&mut file)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| ImageError::io(&shown, e))?;
    drop(file);
    match Compression::sniff(&head) {
        Some(Compression::None) => {
            let store = TarStore::index(path)?;
            let transport = archive_transport(&store, expected)?;
            let req = Request {
                origin: Some(path),
                ..request(text, transport, selector, opts)
            };
            let resolved = resolve_archive(&store, &req)?;
            scan_local(store, resolved, opts)
        }
        Some(outer @ (Compression::Gzip | Compression::Zstd)) => {
            let file = File::open(path).map_err(|e| ImageError::io(&shown, e))?;
            let counted = Counted {
                inner: file,
                observer: opts.observer,
            };
            let decoded = layer::decode::decompressor(counted, outer)
                .map_err(|e| ImageError::io(&shown, e))?;
            load_stream(decoded, text, expected, None, selector, Some(path), opts)
        }
        None => Err(ImageError::Invalid(
            "not an image archive (neither a tar archive nor gzip/zstd-compressed)".into(),
        )),
    }
}

/// An archive read once from front to back (a compressed archive, a daemon's export),
/// reported as `report_as` when given.
fn load_stream<T: Read, R: Clone + Send + Sync>(
    reader: T,
    text: &str,
    expected: Option<Transport>,
    report_as: Option<Transport>,
    selector: Option<&Selector>,
    origin: Option<&Path>,
    opts: &LoadOptions<R>,
) -> Result<Loaded<R>, ImageError> {
    let store = stream::scan_stream(reader, opts.scanner, opts.budget)?;
    let transport = archive_transport(&store, expected)?;
    let req = Request {
        origin,
        ..request(text, transport, selector, opts)
    };
    let mut resolved = resolve_archive(&store, &req)?;
    if let Some(t) = report_as {
        resolved.meta.transport = t;
    }
    let mut layers = Vec::new();
    let mut reports = Vec::new();
    for (i, (planned, blob)) in resolved
        .meta
        .layers
        .iter()
        .zip(&resolved.layer_paths)
        .enumerate()
    {
        let scanned = store.layer(blob, opts.scanner, opts.budget)?;
        let (info, report) = verify(i, planned, blob, scanned)?;
        opts.observer.layer_done(&info.digest, LayerSource::Scanned);
        remember(opts, &info, &report);
        layers.push(info);
        reports.push(report);
    }
    Ok(Loaded {
        meta: resolved.meta,
        layers,
        reports,
        reopen: None,
    })
}

/// Puts a verified layer into the cache, if there is one. A cache that cannot be written
/// is not a reason to fail a scan.
fn remember<R: Clone + Send + Sync>(opts: &LoadOptions<R>, info: &LayerInfo, report: &R) {
    if let Err(e) = opts.scanner.remember(info, report) {
        opts.observer.detail(&e);
    }
}

fn archive_transport(
    store: &dyn Store,
    expected: Option<Transport>,
) -> Result<Transport, ImageError> {
    let docker = store.has_file("manifest.json");
    let oci = store.has_file("index.json");
    match expected {
        Some(Transport::DockerArchive) if !docker => Err(ImageError::Invalid(if oci {
            "no manifest.json in the archive: this is an OCI archive (use oci-archive:)".into()
        } else {
            "manifest.json is missing: not a docker-archive".into()
        })),
        Some(Transport::OciArchive) if !oci => Err(ImageError::Invalid(if docker {
            "no index.json in the archive: this is a docker-archive (use docker-archive:)".into()
        } else {
            "index.json is missing: not an OCI archive".into()
        })),
        Some(t) => Ok(t),
        None if docker => Ok(Transport::DockerArchive),
        None if oci => Ok(Transport::OciArchive),
        None => Err(ImageError::Invalid(
            "neither manifest.json nor index.json found: not a docker-archive or OCI archive"
                .into(),
        )),
    }
}

fn resolve_archive(store: &dyn Store, req: &Request) -> Result<Resolved, ImageError> {
    match req.transport {
        Transport::DockerArchive => resolve::resolve_docker_archive(store, req),
        _ => resolve::resolve_oci(store, req),
    }
}

/// Scans the resolved image's layers from a random-access store, several at a time.
/// `min_workers` raises the parallelism above the core count for stores that wait on the
/// network.
fn scan_resolved<R: Clone + Send + Sync>(
    store: &dyn Store,
    resolved: Resolved,
    opts: &LoadOptions<R>,
    min_workers: usize,
) -> Result<Loaded<R>, ImageError> {
    let Resolved { meta, layer_paths } = resolved;
    // A blob listed twice (identical empty layers) is read once.
    let mut unique: Vec<(&str, &PlannedLayer, usize)> = Vec::new();
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    for (index, (p, planned)) in layer_paths.iter().zip(&meta.layers).enumerate() {
        slot_of.entry(p.as_str()).or_insert_with(|| {
            unique.push((p.as_str(), planned, index));
            unique.len() - 1
        });
    }
    let sizes: Option<u64> = unique.iter().map(|(_, p, _)| p.size).sum();
    opts.observer.layers_planned(unique.len(), sizes);
    type Outcome<R> = Result<(ScannedLayer<R>, LayerSource), ImageError>;
    let results: Vec<Mutex<Option<Outcome<R>>>> = unique.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let remembered: Vec<AtomicBool> = unique.iter().map(|_| AtomicBool::new(false)).collect();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(min_workers)
        .min(unique.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= unique.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let (blob, planned, index) = unique[i];
                    let result = scan_one(store, blob, planned, opts);
                    match &result {
                        Ok((scanned, source)) => {
                            opts.observer.layer_done(&scanned.digest, *source);
                            // Stored as soon as it is verified: scans elsewhere waiting for
                            // this layer go on now, not when this whole image is read.
                            if *source == LayerSource::Scanned
                                && let Ok(info) = check(index, planned, blob, scanned)
                            {
                                remember(opts, &info, &scanned.report);
                                remembered[i].store(true, Ordering::Relaxed);
                            }
                        }
                        Err(_) => failed.store(true, Ordering::Relaxed),
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut scanned: Vec<Option<Outcome<R>>> = results
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect();
    // Report the first failure in manifest order.
    let mut layers = Vec::new();
    let mut reports = Vec::new();
    for (i, (planned, blob)) in meta.layers.iter().zip(&layer_paths).enumerate() {
        let slot = slot_of[blob.as_str()];
        let (result, source) = match scanned[slot].take() {
            Some(Ok(s)) => {
                scanned[slot] = Some(Ok(s.clone()));
                s
            }
            Some(Err(e)) => return Err(e),
            // A worker stopped before this layer because another one failed.
            None => continue,
        };
        let (info, report) = verify(i, planned, blob, result)?;
        if source == LayerSource::Scanned && !remembered[slot].swap(true, Ordering::Relaxed) {
            remember(opts, &info, &report);
        }
        layers.push(info);
        reports.push(report);
    }
    if layers.len() != meta.layers.len() {
        return Err(ImageError::Invalid("a layer could not be scanned".into()));
    }
    Ok(Loaded {
        meta,
        layers,
        reports,
        reopen: None,
    })
}

/// [`scan_resolved`] for a store on this machine's disk, which the image keeps to read its
/// blobs again.
fn scan_local<S: Store + Send + 'static, R: Clone + Send + Sync>(
    store: S,
    resolved: Resolved,
    opts: &LoadOptions<R>,
) -> Result<Loaded<R>, ImageError> {
    let layer_paths = resolved.layer_paths.clone();
    let mut loaded = scan_resolved(&store, resolved, opts, 1)?;
    let paths = loaded
        .layers
        .iter()
        .zip(layer_paths)
        .map(|(layer, path)| (layer.digest.clone(), path))
        .collect();
    loaded.reopen = Some(Reopen {
        store: Box::new(store),
        paths,
    });
    Ok(loaded)
}

/// One layer: from the cache when the manifest names its digest and a report is cached,
/// otherwise read from the store and scanned.
fn scan_one<R: Clone + Send + Sync>(
    store: &dyn Store,
    blob: &str,
    planned: &PlannedLayer,
    opts: &LoadOptions<R>,
) -> Result<(ScannedLayer<R>, LayerSource), ImageError> {
    let layer_error = |message: String| ImageError::Layer {
        what: blob.to_string(),
        message,
    };
    if let Some(digest) = &planned.digest
        && let Some(hit) = opts
            .scanner
            .cached(digest, &planned.diff_id, opts.budget)
            .map_err(|e| layer_error(e.to_string()))?
    {
        return Ok((hit, LayerSource::Cache));
    }
    let reader = store.open(blob)?;
    let counted = Counted {
        inner: reader,
        observer: opts.observer,
    };
    // One byte more than declared, so that an overlong blob is caught.
    let max = planned.size.map_or(u64::MAX, |s| s.saturating_add(1));
    opts.scanner
        .scan(Box::new(counted), max, opts.budget)
        .map(|s| (s, LayerSource::Scanned))
        .map_err(|e| layer_error(e.to_string()))
}

/// Checks one scanned layer against what the manifest and config promise.
fn verify<R>(
    index: usize,
    planned: &PlannedLayer,
    blob: &str,
    scanned: ScannedLayer<R>,
) -> Result<(LayerInfo, R), ImageError> {
    let info = check(index, planned, blob, &scanned)?;
    Ok((info, scanned.report))
}

/// [`verify`] without taking the layer: what it is, if it is what was promised.
fn check<R>(
    index: usize,
    planned: &PlannedLayer,
    blob: &str,
    scanned: &ScannedLayer<R>,
) -> Result<LayerInfo, ImageError> {
    let what = format!(
        "layer {index} ({})",
        planned.digest.as_deref().unwrap_or(blob)
    );
    if let Some(expected) = &planned.digest
        && *expected != scanned.digest
    {
        return Err(ImageError::DigestMismatch {
            what,
            expected: expected.clone(),
            actual: scanned.digest.clone(),
        });
    }
    if planned.diff_id != scanned.diff_id {
        return Err(ImageError::DigestMismatch {
            what: format!("{what} diff_id"),
            expected: planned.diff_id.clone(),
            actual: scanned.diff_id.clone(),
        });
    }
    if let Some(size) = planned.size
        && size != scanned.size
    {
        return Err(ImageError::Layer {
            what,
            message: format!(
                "blob is {} bytes but the manifest says {size}",
                scanned.size
            ),
        });
    }
    if let Some(mt) = &planned.media_type
        && let Some(declared) = Compression::from_media_type(mt)
        && declared != scanned.compression
    {
        return Err(ImageError::Layer {
            what,
            message: format!(
                "media type {mt} says {} but the blob is {}",
                declared.as_str(),
                scanned.compression.as_str()
            ),
        });
    }
    Ok(LayerInfo {
        index,
        digest: scanned.digest.clone(),
        diff_id: scanned.diff_id.clone(),
        media_type: planned.media_type.clone(),
        compression: scanned.compression,
        size: scanned.size,
        uncompressed_size: scanned.uncompressed_size,
        entries: scanned.tar_entries as usize,
    })
}
