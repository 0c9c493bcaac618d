//! One layer as a stream: raw bytes are hashed and decompressed on one thread while the
//! uncompressed tar is hashed, walked and analysed on another, so a single large layer keeps
//! two cores busy. Nothing is written to disk and at most a few chunks are in flight.

#![forbid(unsafe_code)]

pub mod analyzer;
pub mod decode;
pub mod entry;
pub mod framing;
pub mod rewrite;
pub mod walk;

pub use analyzer::{Analyzer, Interest};
pub use entry::{CompactString, Entry, EntryKind, Listing, Note, Special};

use decode::{HashingReader, LimitExceeded, Peeked};
use portcullis_model::image::Compression;
use portcullis_model::path;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Size of the decompressed chunks handed from the decompressing thread to the walker.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two threads of one layer.
const IN_FLIGHT: usize = 4;

/// Bounds on what one image may hold. The defaults accept any real image (the largest
/// public images hold a few hundred thousand files and tens of GiB) and stop hostile ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Tar entries over all layers.
    pub max_entries: u64,
    /// Uncompressed bytes over all layers.
    pub max_total_bytes: u64,
    /// Bytes of a single file.
    pub max_entry_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 4_000_000,
            max_total_bytes: 256 << 30,
            max_entry_size: 64 << 30,
        }
    }
}

/// The limits and what has been spent of them, shared by the layers of one image.
#[derive(Debug, Default)]
pub struct Budget {
    pub limits: Limits,
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            ..Default::default()
        }
    }

    fn count_entry(&self) -> Result<(), LayerError> {
        let n = self.entries.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.limits.max_entries {
            return Err(LayerError::TooManyEntries(self.limits.max_entries));
        }
        Ok(())
    }

    /// Counts a layer whose report was reused (from the layer cache) as if it had been
    /// read, so that the limits hold whether or not a layer was cached.
    pub fn charge(
        &self,
        tar_entries: u64,
        entries: &[Entry],
        uncompressed: u64,
    ) -> Result<(), LayerError> {
        let n = self
            .entries
            .fetch_add(tar_entries, Ordering::Relaxed)
            .saturating_add(tar_entries);
        if n > self.limits.max_entries {
            return Err(LayerError::TooManyEntries(self.limits.max_entries));
        }
        if let Some(e) = entries.iter().find(|e| e.size > self.limits.max_entry_size) {
            return Err(LayerError::EntryTooLarge {
                path: e.path.to_string(),
                size: e.size,
                limit: self.limits.max_entry_size,
            });
        }
        self.count_bytes(uncompressed).map_err(LayerError::Read)
    }

    fn count_bytes(&self, n: u64) -> io::Result<()> {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if total > self.limits.max_total_bytes {
            return Err(io::Error::other(LimitExceeded {
                what: "the uncompressed image (--max-uncompressed-size)",
                limit: self.limits.max_total_bytes,
            }));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("not a tar, gzip or zstd stream")]
    UnknownFormat,
    #[error("{0}")]
    Path(#[from] path::PathError),
    #[error(
        "malformed whiteout {path:?}: {why}; runtimes disagree on what it removes (moby removes the directory that holds it), so the layer is refused"
    )]
    MalformedWhiteout { path: String, why: &'static str },
    #[error(
        "symlink {path:?} has a target of {len} bytes, longer than {} (PATH_MAX)",
        path::MAX_PATH_LEN
    )]
    LinkTooLong { path: String, len: usize },
    #[error(
        "{path:?} is owned by {which} {id}, beyond Linux' 32-bit ids: no container runtime extracts it as written"
    )]
    IdTooLarge {
        path: String,
        which: &'static str,
        id: u64,
    },
    #[error("more than {0} tar entries (--max-entries)")]
    TooManyEntries(u64),
    #[error(
        "file {path:?} declares {size} bytes, more than the limit of {limit} (--max-file-size)"
    )]
    EntryTooLarge { path: String, size: u64, limit: u64 },
    #[error("hard link {path:?}: {source}")]
    LinkTarget {
        path: String,
        source: path::PathError,
    },
    #[error(
        "the tar stream ends inside {path:?}, which declares {size} bytes: truncated, or a size header larger than the data"
    )]
    Truncated { path: String, size: u64 },
    #[error("{0}")]
    Tar(io::Error),
    #[error("{0}")]
    Decompress(io::Error),
    #[error("reading the blob: {0}")]
    Read(io::Error),
}

/// A layer after its one pass: what its bytes hashed to and what they hold. `R` is what the
/// analyzers made of it (the gate's layer report); the walk itself yields a [`Listing`].
#[derive(Debug, Clone)]
pub struct ScannedLayer<R = Listing> {
    /// SHA-256 of the blob as stored.
    pub digest: String,
    pub size: u64,
    pub compression: Compression,
    /// SHA-256 of the uncompressed tar stream.
    pub diff_id: String,
    pub uncompressed_size: u64,
    /// Tar entries in the stream, counted against the image's budget.
    pub tar_entries: u64,
    pub report: R,
}

impl<R> ScannedLayer<R> {
    /// The same layer with its report replaced by what `f` makes of it.
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> ScannedLayer<S> {
        ScannedLayer {
            digest: self.digest,
            size: self.size,
            compression: self.compression,
            diff_id: self.diff_id,
            uncompressed_size: self.uncompressed_size,
            tar_entries: self.tar_entries,
            report: f(self.report),
        }
    }
}

/// Scans one layer blob, feeding `analyzers`. `max_blob_size` bounds the stored bytes (the
/// descriptor's size when the format records one). Digests are computed while the bytes
/// stream; the caller compares them with what the manifest and config promise.
pub fn scan_layer<A: Analyzer + ?Sized>(
    raw: Box<dyn Read + Send + '_>,
    max_blob_size: u64,
    analyzers: &mut [Box<A>],
    budget: &Budget,
) -> Result<ScannedLayer, LayerError> {
    let (tx, rx) = sync_channel::<Piece>(IN_FLIGHT);
    let (recycle_tx, recycle_rx) = channel::<Vec<u8>>();

    std::thread::scope(|scope| {
        let producer = scope.spawn(move || decompress_into(raw, max_blob_size, tx, recycle_rx));

        let mut reader = ChunkReader {
            rx,
            recycle: recycle_tx,
            current: Vec::new(),
            pos: 0,
            done: false,
            hasher: Some(Sha256::new()),
            count: 0,
            budget,
        };
        let walked = walk::walk(&mut reader, analyzers, budget).and_then(|report| {
            // Bytes after the end-of-archive blocks still belong to the diff_id.
            io::copy(&mut reader, &mut io::sink()).map_err(LayerError::Tar)?;
            Ok(report)
        });
        // Dropping the receiver and the recycling sender before the join is what stops the
        // producer when the walk ended early (a limit, a refused name): its next send fails
        // instead of blocking forever on a full channel. A partial move out of `reader`
        // would keep them alive until the end of the scope, past the join.
        let ChunkReader {
            hasher,
            count,
            rx,
            recycle,
            ..
        } = reader;
        drop(rx);
        drop(recycle);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(LayerError::Read(io::Error::other("decompressor panicked"))));
        match (produced, walked) {
            (Err(LayerError::Read(e)), Err(walk_error)) if is_cancelled(&e) => Err(walk_error),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok((digest, size, compression)), Ok(report)) => Ok(ScannedLayer {
                // An uncompressed blob is its own tar stream: one hash serves both.
                diff_id: hasher.map_or_else(|| digest.clone(), decode::sha256_digest),
                digest,
                size,
                compression,
                uncompressed_size: count,
                tar_entries: report.tar_entries,
                report,
            }),
        }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
struct Cancelled;

fn is_cancelled(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Cancelled>())
}

/// What the decompressing half sends the walking half.
enum Piece {
    /// The blob's compression, sent first.
    Compression(Compression),
    Data(Vec<u8>),
    /// A clean end of the stream.
    End,
}

/// The decompressing half: hashes the stored bytes, recognises the compression, and sends
/// the uncompressed stream in chunks.
fn decompress_into(
    raw: Box<dyn Read + Send + '_>,
    max_blob_size: u64,
    tx: SyncSender<Piece>,
    recycle: Receiver<Vec<u8>>,
) -> Result<(String, u64, Compression), LayerError> {
    let hashing = HashingReader::new(raw, max_blob_size, "the layer blob");
    let mut peeked = Peeked::new(hashing, 512).map_err(read_error)?;
    let compression = if peeked.head().is_empty() {
        // A zero-byte blob: an empty layer.
        Compression::None
    } else {
        Compression::sniff(peeked.head()).ok_or(LayerError::UnknownFormat)?
    };
    if tx.send(Piece::Compression(compression)).is_err() {
        return Err(LayerError::Read(io::Error::other(Cancelled)));
    }
    {
        let mut decoder = decode::decompressor(&mut peeked, compression).map_err(read_error)?;
        loop {
            let mut buf = recycle.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let n = read_full(&mut decoder, &mut buf).map_err(|e| match compression {
                Compression::None => read_error(e),
                _ => decompress_error(e),
            })?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if tx.send(Piece::Data(buf)).is_err() {
                return Err(LayerError::Read(io::Error::other(Cancelled)));
            }
        }
    }
    // Whatever follows the compressed stream still belongs to the blob's digest.
    io::copy(&mut peeked, &mut io::sink()).map_err(read_error)?;
    let _ = tx.send(Piece::End);
    let (digest, size) = peeked.into_inner().finish();
    Ok((digest, size, compression))
}

fn read_error(e: io::Error) -> LayerError {
    LayerError::Read(e)
}

fn decompress_error(e: io::Error) -> LayerError {
    if e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>()) {
        LayerError::Read(e)
    } else {
        LayerError::Decompress(e)
    }
}

fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The walking half's view of the uncompressed stream: chunks from the channel, hashed
/// (diff_id, unless the blob is uncompressed and its digest already is the diff_id) and
/// counted against the image's byte budget as they arrive.
struct ChunkReader<'b> {
    rx: Receiver<Piece>,
    recycle: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
    hasher: Option<Sha256>,
    count: u64,
    budget: &'b Budget,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Piece::Compression(Compression::None)) => self.hasher = None,
                Ok(Piece::Compression(_)) => {}
                Ok(Piece::Data(next)) => {
                    if let Some(h) = self.hasher.as_mut() {
                        h.update(&next);
                    }
                    self.count += next.len() as u64;
                    self.budget.count_bytes(next.len() as u64)?;
                    let old = std::mem::replace(&mut self.current, next);
                    let _ = self.recycle.send(old);
                    self.pos = 0;
                }
                Ok(Piece::End) => self.done = true,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer stream stopped early",
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
