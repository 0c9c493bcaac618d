//! Scanning an archive that can only be read front to back: a `docker save | gzip` file
//! or (later) the export stream of a daemon.
//!
//! The manifest of a `docker save` comes last, so layers cannot be matched to it while they
//! stream. Every blob that looks like a layer (gzip, zstd or tar magic) is scanned as it
//! passes, on worker threads so that layers overlap; small blobs (manifests, configs) are
//! kept in memory. Once the stream ends the manifest is resolved as for any archive and the
//! layer results are matched to it by path, then checked against their digests.

use super::ImageError;
use super::store::Store;
use crate::LayerScanner;
use crate::model::Compression;
use portcullis_layer::decode::HashingReader;
use portcullis_layer::{Budget, LayerError, ScannedLayer};
use portcullis_model::path;
use std::collections::HashMap;
use std::io::{self, Cursor, Read};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::ScopedJoinHandle;

/// Blobs up to this size that do not look like layers are kept (manifests and configs).
const SMALL_MAX: u64 = 32 << 20;
/// All kept small blobs together.
const SMALL_TOTAL_MAX: u64 = 256 << 20;
const MAX_ARCHIVE_ENTRIES: usize = 1_000_000;
const MAX_LINK_HOPS: usize = 16;
const FEED_CHUNK: usize = 256 * 1024;
/// Layer-like blobs scanned from one archive (every image of a multi-image `docker save`
/// together). Their reports are kept until the manifest, at the end of the archive, says
/// which ones belong to the image: more is a hostile archive, not a real one.
const MAX_STREAM_LAYERS: usize = 16_384;

/// What the stream held, by normalised path.
pub struct StreamStore<R> {
    small: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
    layers: HashMap<String, Result<ScannedLayer<R>, String>>,
    /// Large blobs that did not look like layers: their digest and size.
    other: HashMap<String, (String, u64)>,
}

impl<R: Clone + Send + Sync> StreamStore<R> {
    fn canonical(&self, name: &str) -> Option<String> {
        let mut current = name.to_string();
        for _ in 0..MAX_LINK_HOPS {
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => return Some(current),
            }
        }
        None
    }

    /// The scan of the layer blob at `name`, scanning it now if it was kept in memory.
    pub fn layer(
        &self,
        name: &str,
        scanner: &dyn LayerScanner<R>,
        budget: &Budget,
    ) -> Result<ScannedLayer<R>, ImageError> {
        let key = self
            .canonical(name)
            .ok_or_else(|| ImageError::Invalid(format!("{name}: too many levels of links")))?;
        if let Some(result) = self.layers.get(&key) {
            return result.clone().map_err(|message| ImageError::Layer {
                what: key.clone(),
                message,
            });
        }
        if let Some(data) = self.small.get(&key) {
            return scanner
                .scan(Box::new(Cursor::new(data.as_slice())), u64::MAX, budget)
                .map_err(|e| ImageError::Layer {
                    what: key.clone(),
                    message: e.to_string(),
                });
        }
        if self.other.contains_key(&key) {
            return Err(ImageError::Layer {
                what: key,
                message: LayerError::UnknownFormat.to_string(),
            });
        }
        Err(ImageError::MissingBlob(name.to_string()))
    }
}

impl<R: Clone + Send + Sync> Store for StreamStore<R> {
    fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let Some(key) = self.canonical(name) else {
            return Err(ImageError::Invalid(format!(
                "{name}: too many levels of links"
            )));
        };
        match self.small.get(&key) {
            Some(data) if data.len() as u64 > max => Err(ImageError::Invalid(format!(
                "{name} is larger than {max} bytes"
            ))),
            Some(data) => Ok(Some(data.clone())),
            None if self.layers.contains_key(&key) || self.other.contains_key(&key) => Err(
                ImageError::Invalid(format!("{name} is not a metadata file")),
            ),
            None => Ok(None),
        }
    }

    fn has_file(&self, name: &str) -> bool {
        self.canonical(name).is_some_and(|k| {
            self.small.contains_key(&k)
                || self.layers.contains_key(&k)
                || self.other.contains_key(&k)
        })
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let key = self.canonical(name).unwrap_or_default();
        match self.small.get(&key) {
            Some(data) => Ok(Box::new(Cursor::new(data.as_slice()))),
            None => Err(ImageError::MissingBlob(name.to_string())),
        }
    }
}

/// Reads the uncompressed tar stream of an archive once, scanning layer blobs as they pass.
pub fn scan_stream<T: Read, R: Send + Sync>(
    reader: T,
    scanner: &dyn LayerScanner<R>,
    budget: &Budget,
) -> Result<StreamStore<R>, ImageError> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let mut store = StreamStore {
        small: HashMap::new(),
        links: HashMap::new(),
        layers: HashMap::new(),
        other: HashMap::new(),
    };
    let mut small_total = 0u64;
    let mut archive = tar::Archive::new(reader);

    std::thread::scope(|scope| -> Result<(), ImageError> {
        // A token per worker: the reader waits for one before starting another layer.
        let (token_tx, token_rx) = sync_channel::<()>(workers);
        for _ in 0..workers {
            let _ = token_tx.send(());
        }
        let mut running = Vec::new();
        let mut count = 0usize;
        let entries = archive
            .entries()
            .map_err(|e| ImageError::Invalid(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| ImageError::Invalid(format!("reading the archive: {e}")))?;
            count += 1;
            if count > MAX_ARCHIVE_ENTRIES {
                return Err(ImageError::Invalid(format!(
                    "the archive holds more than {MAX_ARCHIVE_ENTRIES} entries"
                )));
            }
            let name = path::normalize(&entry.path_bytes())
                .map_err(|e| ImageError::Invalid(format!("archive entry: {e}")))?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = if kind.is_symlink() {
                    path::resolve_link(path::parent(&name), &path::display_bytes(&target))
                } else {
                    path::normalize(&target)
                        .map_err(|e| ImageError::Invalid(format!("archive entry: {e}")))?
                };
                store.links.insert(name, target);
                continue;
            }
            if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                continue;
            }
            let size = entry.size();
            let mut head = Vec::with_capacity(512);
            (&mut entry)
                .take(512)
                .read_to_end(&mut head)
                .map_err(|e| ImageError::io(&name, e))?;
            let looks_like_layer = matches!(
                Compression::sniff(&head),
                Some(Compression::Gzip | Compression::Zstd)
            ) || (head.len() == 512 && Compression::sniff(&head).is_some());

            if looks_like_layer {
                token_rx
                    .recv()
                    .map_err(|_| ImageError::Invalid("layer workers stopped".into()))?;
                // Threads are joined as soon as they are done: at most `workers` run, and
                // no finished thread lingers until the end of the archive.
                let (done, still): (Vec<_>, Vec<_>) = running
                    .drain(..)
                    .partition(|(_, h): &(String, ScopedJoinHandle<_>)| h.is_finished());
                running = still;
                for (name, handle) in done {
                    store.layers.insert(name, joined(handle));
                }
                if store.layers.len() + running.len() >= MAX_STREAM_LAYERS {
                    return Err(ImageError::Invalid(format!(
                        "the archive holds more than {MAX_STREAM_LAYERS} layer-like blobs"
                    )));
                }
                let (tx, rx) = sync_channel::<Option<Vec<u8>>>(4);
                let token_tx = token_tx.clone();
                let handle = scope.spawn(move || {
                    let result = scanner
                        .scan(Box::new(Fed::new(rx)), u64::MAX, budget)
                        .map_err(|e| e.to_string());
                    let _ = token_tx.send(());
                    result
                });
                let mut alive = tx.send(Some(head)).is_ok();
                while alive {
                    let mut buf = vec![0u8; FEED_CHUNK];
                    let n =
                        read_full(&mut entry, &mut buf).map_err(|e| ImageError::io(&name, e))?;
                    if n == 0 {
                        break;
                    }
                    buf.truncate(n);
                    alive = tx.send(Some(buf)).is_ok();
                }
                if alive {
                    let _ = tx.send(None);
                }
                running.push((name, handle));
            } else if size <= SMALL_MAX {
                let mut data = head;
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| ImageError::io(&name, e))?;
                small_total += data.len() as u64;
                if small_total > SMALL_TOTAL_MAX {
                    return Err(ImageError::Invalid(format!(
                        "the archive holds more than {SMALL_TOTAL_MAX} bytes of non-layer files"
                    )));
                }
                store.small.insert(name, data);
            } else {
                let mut hashing =
                    HashingReader::new(Cursor::new(head).chain(&mut entry), u64::MAX, "blob");
                io::copy(&mut hashing, &mut io::sink()).map_err(|e| ImageError::io(&name, e))?;
                store.other.insert(name, hashing.finish());
            }
        }
        for (name, handle) in running {
            store.layers.insert(name, joined(handle));
        }
        Ok(())
    })?;
    if store.small.is_empty() && store.layers.is_empty() {
        return Err(ImageError::Invalid("the archive is empty".into()));
    }
    Ok(store)
}

/// The result of a finished layer thread.
fn joined<T>(handle: ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
    handle
        .join()
        .unwrap_or_else(|_| Err("layer scan panicked".to_string()))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The bytes of one blob, as the archive reader hands them over.
struct Fed {
    rx: Receiver<Option<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Fed {
    fn new(rx: Receiver<Option<Vec<u8>>>) -> Fed {
        Fed {
            rx,
            current: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for Fed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Some(next)) => {
                    self.current = next;
                    self.pos = 0;
                }
                Ok(None) => self.done = true,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the archive ended inside this blob",
                    ));
                }
            }
        }
        let n = (self.current.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
