//! The layer cache: the report of every verified layer, stored under its blob digest, its
//! diff_id and what the analyzers are, so that images sharing base layers scan only the
//! layers they add.
//!
//! An entry is written only after the layer's bytes were read in full and both digests
//! matched what the manifest and config promise; it is read only when the manifest names the
//! blob's digest before anything is fetched (registries and OCI layouts). A hit skips reading
//! the blob at all: the entry's key is the verified digest, so reusing it trusts the cache
//! directory exactly as far as it trusts the user's own files (see SECURITY.md).
//!
//! Entries are zstd-compressed JSON, one file each, written to a temporary file and renamed
//! into place, so concurrent runs never see half an entry; an entry that does not parse, or
//! whose key does not match, is ignored. The cache is bounded: once it grows past its size,
//! the entries used longest ago (by modification time, refreshed on every hit) are removed.
//!
//! With a shared tier (`--cache redis://…`), an entry missing locally is looked up in Redis,
//! under the same key, and copied into the local directory when found; every entry stored
//! locally is also stored there, with a time to live refreshed on every hit (Redis's own
//! `maxmemory` policy bounds its size). The value is the same compressed entry, checked the
//! same way when read back. Redis that cannot be reached, or answers wrongly, is a warning
//! on stderr, once: the scan goes on with the local cache alone.
//!
//! A layer is analysed once even when several scans meet it at the same time
//! ([`LayerCache::lookup`]): the first to miss claims it — in this process, and in Redis
//! with a short-lived `SET … NX` — and the others wait for its entry instead of pulling the
//! blob too. A claim ends when its entry is stored, or when its scan fails or its process
//! dies (the Redis claim expires); waiting is bounded, after which the layer is analysed
//! anyway.

use super::redis::{Connection, RedisUrl};
use super::{ANALYZER_VERSION, LayerReport};
use portcullis_layer::ScannedLayer;
use portcullis_layer::{Entry, Note};
use portcullis_model::image::{Compression, LayerInfo};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::cell::Cell;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Default bound on the cache's size on disk.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;
/// Version of the entry format and directory layout.
const FORMAT: u32 = 1;
/// A decompressed entry larger than this is not read (a report of a million files is about
/// 200 MiB of JSON).
const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// Temporary files older than this were left by a run that died; eviction removes them.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// Eviction stops once the cache is this fraction of its bound, so that it does not run on
/// every scan.
const EVICT_TO_PERCENT: u64 = 90;
/// How long a shared entry lives after it was last stored or used.
pub const SHARED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// A compressed entry larger than this is not shared.
const MAX_SHARED_BYTES: usize = 256 << 20;
/// How long a claim on a layer lasts in Redis when its holder neither stores the entry nor
/// gives it up (its process died).
const CLAIM_TTL: Duration = Duration::from_secs(120);
/// How long a scan waits for a layer another scan claimed before analysing it itself.
const MAX_CLAIM_WAIT: Duration = Duration::from_secs(180);

/// The layers a scan of this process is analysing now (cache keys), and the condition the
/// others wait on until one is done.
static IN_FLIGHT: std::sync::LazyLock<(
    Mutex<std::collections::HashSet<String>>,
    std::sync::Condvar,
)> = std::sync::LazyLock::new(Default::default);

/// What [`LayerCache::lookup`] found.
pub enum Lookup {
    /// The layer's report, from the cache.
    Hit(Box<ScannedLayer<LayerReport>>),
    /// Not cached, and this scan analyses it: keep the claim until the entry is stored
    /// (or the scan fails), then drop it.
    Claimed(Claim),
    /// Not cached, and waiting for another scan took too long: analyse it anyway.
    Unclaimed,
}

/// A scan's claim on analysing one layer; dropping it lets the others go on.
pub struct Claim {
    key: String,
    /// The Redis tier and the token this claim holds there.
    shared: Option<(std::sync::Arc<SharedClaims>, String)>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some((shared, token)) = &self.shared {
            shared.release(&self.key, token);
        }
        let (set, done) = &*IN_FLIGHT;
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
        done.notify_all();
    }
}

/// Claims in Redis, on a connection of their own (a claim is released from whichever
/// thread drops it).
struct SharedClaims {
    url: RedisUrl,
    conn: Mutex<Option<Connection>>,
}

impl fmt::Debug for SharedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedClaims({})", self.url)
    }
}

impl SharedClaims {
    fn key(key: &str) -> Vec<u8> {
        format!("portcullis:layers-v{FORMAT}-claim:{key}").into_bytes()
    }

    fn command(&self, args: &[&[u8]]) -> Option<super::redis::Reply> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = self.url.connect().ok();
        }
        let reply = guard.as_mut()?.command(args, 64);
        if reply.is_err() {
            *guard = None;
        }
        reply.ok()
    }

    /// `Some(true)`: claimed; `Some(false)`: another holds it; `None`: Redis cannot say.
    fn claim(&self, key: &str, token: &str) -> Option<bool> {
        let ttl = CLAIM_TTL.as_secs().to_string();
        match self.command(&[
            b"SET",
            &SharedClaims::key(key),
            token.as_bytes(),
            b"NX",
            b"EX",
            ttl.as_bytes(),
        ])? {
            super::redis::Reply::Status(_) => Some(true),
            _ => Some(false),
        }
    }

    /// Gives up the claim, if it is still this token's.
    fn release(&self, key: &str, token: &str) {
        let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                      return redis.call('DEL', KEYS[1]) else return 0 end";
        self.command(&[
            b"EVAL",
            script.as_bytes(),
            b"1",
            &SharedClaims::key(key),
            token.as_bytes(),
        ]);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("layer cache {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("layer cache: {0}")]
    Encode(String),
}

fn io_error(path: &Path, source: io::Error) -> CacheError {
    CacheError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the cache lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub dir: PathBuf,
    pub max_size: u64,
    /// The shared tier: Redis, where several replicas and CI runners find each other's
    /// layers.
    pub shared: Option<RedisUrl>,
}

impl CacheConfig {
    /// `$XDG_CACHE_HOME/portcullis`, else `~/.cache/portcullis`; `None` without a home.
    pub fn default_dir() -> Option<PathBuf> {
        let xdg = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let base = xdg.or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
        Some(base.join("portcullis"))
    }
}

/// One cached layer: what `ScannedLayer` holds.
#[derive(Serialize, DeriveDeserialize)]
struct StoredLayer<R = LayerReport> {
    format: u32,
    salt: String,
    digest: String,
    diff_id: String,
    size: u64,
    compression: Compression,
    uncompressed_size: u64,
    report: R,
}

/// An open layer cache.
#[derive(Debug)]
pub struct LayerCache {
    root: PathBuf,
    max_size: u64,
    /// Everything besides the two digests that decides a report: the analyzer version, the
    /// report's shape, the analyzers' own configuration.
    salt: String,
    stored: AtomicUsize,
    shared: Option<Shared>,
    claims: Option<std::sync::Arc<SharedClaims>>,
}

/// Whether this process warned about the shared tier being down, and it has not come back
/// since: a server opens a cache per scan, and says so once per outage, not once per scan.
static OUTAGE_WARNED: AtomicBool = AtomicBool::new(false);

/// The Redis tier, with its connection, once it is up.
struct Shared {
    url: RedisUrl,
    conn: Mutex<Option<Connection>>,
    /// Set at the first failure: the rest of the run uses the local cache only.
    down: AtomicBool,
    hits: AtomicUsize,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({})", self.url)
    }
}

impl Shared {
    fn key(key: &str) -> Vec<u8> {
        format!("portcullis:layers-v{FORMAT}:{key}").into_bytes()
    }

    /// Runs `f` on the connection (opening it first); a failure marks the tier down for
    /// this cache and says so, once per outage in the process.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> io::Result<T>) -> Option<T> {
        if self.down.load(Ordering::Relaxed) {
            return None;
        }
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let result = match guard.as_mut() {
            Some(conn) => f(conn),
            None => self.url.connect().and_then(|mut conn| {
                let r = f(&mut conn);
                *guard = Some(conn);
                r
            }),
        };
        match result {
            Ok(value) => {
                if OUTAGE_WARNED.swap(false, Ordering::Relaxed) {
                    eprintln!(
                        "portcullis: shared layer cache {}: reachable again",
                        self.url
                    );
                }
                Some(value)
            }
            Err(e) => {
                *guard = None;
                if !self.down.swap(true, Ordering::Relaxed)
                    && !OUTAGE_WARNED.swap(true, Ordering::Relaxed)
                {
                    eprintln!(
                        "portcullis: warning: shared layer cache {}: {e}; going on with the local cache only",
                        self.url
                    );
                }
                None
            }
        }
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let key = Shared::key(key);
        let ttl = SHARED_TTL.as_secs().to_string();
        self.with(
            |conn| match conn.command(&[b"GET", &key], MAX_SHARED_BYTES)? {
                super::redis::Reply::Bulk(value) => {
                    conn.command(&[b"EXPIRE", &key, ttl.as_bytes()], 0)?;
                    Ok(Some(value))
                }
                _ => Ok(None),
            },
        )
        .flatten()
    }

    fn set(&self, key: &str, value: &[u8]) {
        let key = Shared::key(key);
        let ttl = SHARED_TTL.as_secs().to_string();
        self.with(|conn| conn.command(&[b"SET", &key, value, b"EX", ttl.as_bytes()], 0));
    }
}

impl LayerCache {
    /// Opens (creating, private to the user) the cache under `config.dir`. `fingerprint`
    /// names whatever else changes analyzer output (rule files, options).
    pub fn open(config: &CacheConfig, fingerprint: &str) -> Result<LayerCache, CacheError> {
        let root = config.dir.join(format!("layers-v{FORMAT}"));
        create_private_dir(&config.dir)?;
        create_private_dir(&root)?;
        Ok(LayerCache {
            root,
            max_size: config.max_size,
            salt: salt(fingerprint),
            stored: AtomicUsize::new(0),
            shared: config.shared.clone().map(|url| Shared {
                url,
                conn: Mutex::new(None),
                down: AtomicBool::new(false),
                hits: AtomicUsize::new(0),
            }),
            claims: config.shared.clone().map(|url| {
                std::sync::Arc::new(SharedClaims {
                    url,
                    conn: Mutex::new(None),
                })
            }),
        })
    }

    fn key(&self, digest: &str, diff_id: &str) -> String {
        let mut h = Sha256::new();
        for part in [self.salt.as_str(), digest, diff_id] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    fn entry_path(&self, digest: &str, diff_id: &str) -> PathBuf {
        let key = self.key(digest, diff_id);
        self.root.join(&key[..2]).join(format!("{key}.json.zst"))
    }

    /// Layers found in the shared tier (not locally) in this run.
    pub fn shared_hits(&self) -> usize {
        self.shared
            .as_ref()
            .map_or(0, |s| s.hits.load(Ordering::Relaxed))
    }

    /// A stored entry, when it is whole, of this format and salt, and for these digests.
    fn decode(&self, reader: impl Read, digest: &str, diff_id: &str) -> Option<StoredLayer> {
        let decoder = zstd::stream::read::Decoder::new(reader).ok()?;
        let mut json = Vec::new();
        decoder
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut json)
            .ok()?;
        if json.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        let stored: StoredLayer = serde_json::from_slice(&json).ok()?;
        if stored.format != FORMAT
            || stored.salt != self.salt
            || stored.digest != digest
            || stored.diff_id != diff_id
        {
            return None;
        }
        Some(stored)
    }

    /// Writes an entry's bytes to its file, whole or not at all.
    fn write_local(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        let dir = path.parent().unwrap_or(&self.root);
        create_private_dir(dir)?;
        let mut tmp = portcullis_interrupt::TempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
        tmp.as_file_mut()
            .write_all(bytes)
            .map_err(|e| io_error(path, e))?;
        tmp.persist(path).map_err(|e| io_error(path, e))
    }

    /// The layer whose blob is `digest` and whose tar stream is `diff_id`, when a report
    /// for it is cached. Anything unreadable counts as a miss.
    pub fn get(&self, digest: &str, diff_id: &str) -> Option<ScannedLayer<LayerReport>> {
        let path = self.entry_path(digest, diff_id);
        let local = File::open(&path)
            .ok()
            .and_then(|file| self.decode(BufReader::new(&file), digest, diff_id));
        let stored = match local {
            Some(stored) => {
                // The modification time is the LRU clock; a read-only cache still serves
                // hits.
                let _ = File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                stored
            }
            None => {
                let shared = self.shared.as_ref()?;
                let bytes = shared.get(&self.key(digest, diff_id))?;
                let stored = self.decode(bytes.as_slice(), digest, diff_id)?;
                shared.hits.fetch_add(1, Ordering::Relaxed);
                // A local copy for the next run; failing to keep one costs nothing now.
                let _ = self.write_local(&path, &bytes);
                stored
            }
        };
        Some(ScannedLayer {
            digest: stored.digest,
            size: stored.size,
            compression: stored.compression,
            diff_id: stored.diff_id,
            uncompressed_size: stored.uncompressed_size,
            tar_entries: stored.report.tar_entries,
            report: stored.report,
        })
    }

    /// The layer's cached report, or the claim to analyse it (see the module's
    /// documentation): waits while another scan, here or on another machine sharing Redis,
    /// analyses it.
    pub fn lookup(&self, digest: &str, diff_id: &str) -> Lookup {
        let key = self.key(digest, diff_id);
        let deadline = std::time::Instant::now() + MAX_CLAIM_WAIT;
        let token = format!("{}-{key}", std::process::id());
        loop {
            if let Some(hit) = self.get(digest, diff_id) {
                return Lookup::Hit(Box::new(hit));
            }
            if std::time::Instant::now() >= deadline {
                return Lookup::Unclaimed;
            }
            let (set, done) = &*IN_FLIGHT;
            let mut in_flight = set.lock().unwrap_or_else(|e| e.into_inner());
            if in_flight.contains(&key) {
                // Another scan of this process analyses it: wait for it, then look again.
                let _ = done.wait_timeout(in_flight, Duration::from_millis(500));
                continue;
            }
            in_flight.insert(key.clone());
            drop(in_flight);
            let local = Claim {
                key: key.clone(),
                shared: None,
            };
            let Some(claims) = self.shared_claims() else {
                return Lookup::Claimed(local);
            };
            match claims.claim(&key, &token) {
                // Redis cannot say: analyse it, as without a shared tier.
                None => return Lookup::Claimed(local),
                Some(true) => {
                    let mut claim = local;
                    claim.shared = Some((claims, token));
                    return Lookup::Claimed(claim);
                }
                Some(false) => {
                    // Another machine analyses it: let this process's other scans wait on
                    // Redis too, and look again shortly.
                    drop(local);
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }

    /// The Redis tier's claims, unless the tier is down for this cache.
    fn shared_claims(&self) -> Option<std::sync::Arc<SharedClaims>> {
        let shared = self.shared.as_ref()?;
        if shared.down.load(Ordering::Relaxed) {
            return None;
        }
        self.claims.clone()
    }

    /// Stores a layer's report. Call it only once the layer's digest and diff_id were
    /// verified against the manifest and the config.
    pub fn put(&self, layer: &LayerInfo, report: &LayerReport) -> Result<(), CacheError> {
        let path = self.entry_path(&layer.digest, &layer.diff_id);
        let dir = path.parent().unwrap_or(&self.root);
        create_private_dir(dir)?;
        let stored: StoredLayer<&LayerReport> = StoredLayer {
            format: FORMAT,
            salt: self.salt.clone(),
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            size: layer.size,
            compression: layer.compression,
            uncompressed_size: layer.uncompressed_size,
            report,
        };
        let mut tmp = portcullis_interrupt::TempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
        {
            let mut encoder =
                zstd::stream::write::Encoder::new(BufWriter::new(tmp.as_file_mut()), 3)
                    .map_err(|e| io_error(&path, e))?;
            serde_json::to_writer(&mut encoder, &stored)
                .map_err(|e| CacheError::Encode(e.to_string()))?;
            encoder
                .finish()
                .and_then(|mut w| w.flush())
                .map_err(|e| io_error(&path, e))?;
        }
        tmp.persist(&path).map_err(|e| io_error(&path, e))?;
        self.stored.fetch_add(1, Ordering::Relaxed);
        if let Some(shared) = &self.shared
            && let Ok(bytes) = fs::read(&path)
            && bytes.len() <= MAX_SHARED_BYTES
        {
            shared.set(&self.key(&layer.digest, &layer.diff_id), &bytes);
        }
        Ok(())
    }

    /// Entries this process stored.
    pub fn stored(&self) -> usize {
        self.stored.load(Ordering::Relaxed)
    }

    /// Removes the least recently used entries until the cache fits its bound, and
    /// temporary files that a dead run left behind. Returns the entries removed.
    pub fn evict(&self) -> Result<usize, CacheError> {
        let now = SystemTime::now();
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let mut total = 0u64;
        let shards = fs::read_dir(&self.root).map_err(|e| io_error(&self.root, e))?;
        for shard in shards.flatten() {
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.flatten() {
                let Ok(meta) = file.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let name = file.file_name();
                if name.to_string_lossy().starts_with(".tmp") {
                    if now.duration_since(mtime).unwrap_or_default() > STALE_TEMP {
                        let _ = fs::remove_file(file.path());
                    }
                    continue;
                }
                total += meta.len();
                entries.push((mtime, meta.len(), file.path()));
            }
        }
        if total <= self.max_size {
            return Ok(0);
        }
        let target = self.max_size / 100 * EVICT_TO_PERCENT;
        entries.sort();
        let mut removed = 0;
        for (_, len, path) in entries {
            if total <= target {
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                // Another run removed it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
            total = total.saturating_sub(len);
        }
        Ok(removed)
    }
}

fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error(dir, e))
}

/// What, besides the digests, a cached report depends on: the analyzer version, the
/// report's shape and the analyzers' configuration (`fingerprint`).
pub fn salt(fingerprint: &str) -> String {
    let mut h = Sha256::new();
    let parts = [
        format!("analyzer-version={ANALYZER_VERSION}"),
        format!("portcullis={}", env!("CARGO_PKG_VERSION")),
        format!("layer-report={}", field_names::<LayerReport>().join(",")),
        format!("entry={}", field_names::<Entry>().join(",")),
        format!("note={}", field_names::<Note>().join(",")),
        format!("analyzers={fingerprint}"),
    ];
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The field names serde knows for a struct. A field added to `LayerReport` changes the
/// salt, so that reports cached before it existed (which would read back with the field's
/// default) are never reused, even if `ANALYZER_VERSION` was not bumped.
fn field_names<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
    let seen = Cell::new(&[][..]);
    let _ = T::deserialize(FieldNames(&seen));
    seen.get().to_vec()
}

struct FieldNames<'a>(&'a Cell<&'static [&'static str]>);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names collected")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.set(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> (LayerInfo, LayerReport) {
        let report = LayerReport {
            content_bytes: u64::from(n),
            tar_entries: 1,
            ..LayerReport::default()
        };
        let info = LayerInfo {
            index: 0,
            digest: format!("sha256:{}", hex::encode([n; 32])),
            diff_id: format!("sha256:{}", hex::encode([n ^ 0xff; 32])),
            media_type: None,
            compression: Compression::Gzip,
            size: 100,
            uncompressed_size: 1024,
            entries: 1,
        };
        (info, report)
    }

    fn open(dir: &Path, max_size: u64, fingerprint: &str) -> LayerCache {
        LayerCache::open(
            &CacheConfig {
                dir: dir.to_path_buf(),
                max_size,
                shared: None,
            },
            fingerprint,
        )
        .unwrap()
    }

    #[test]
    fn a_stored_layer_reads_back_under_both_digests_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), DEFAULT_MAX_SIZE, "");
        let (l, report) = layer(1);
        assert!(cache.get(&l.digest, &l.diff_id).is_none());
        cache.put(&l, &report).unwrap();
        let back = cache.get(&l.digest, &l.diff_id).unwrap();
        assert_eq!(back.report, report);
        assert_eq!(
            (back.size, back.uncompressed_size, back.compression),
            (100, 1024, Compression::Gzip)
        );
        assert!(cache.get(&l.digest, &layer(2).0.diff_id).is_none());
        assert!(cache.get(&layer(2).0.digest, &l.diff_id).is_none());
        assert_eq!(cache.stored(), 1);
    }

    #[test]
    fn other_analyzer_configurations_do_not_share_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (l, report) = layer(1);
        open(dir.path(), DEFAULT_MAX_SIZE, "rules=a")
            .put(&l, &report)
            .unwrap();
        assert!(
            open(dir.path(), DEFAULT_MAX_SIZE, "rules=b")
                .get(&l.digest, &l.diff_id)
                .is_none()
        );
        assert!(
            open(dir.path(), DEFAULT_MAX_SIZE, "rules=a")
                .get(&l.digest, &l.diff_id)
                .is_some()
        );
    }

    #[test]
    fn corrupt_and_truncated_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), DEFAULT_MAX_SIZE, "");
        let (l, report) = layer(3);
        cache.put(&l, &report).unwrap();
        let path = cache.entry_path(&l.digest, &l.diff_id);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(cache.get(&l.digest, &l.diff_id).is_none());
        fs::write(&path, b"not zstd").unwrap();
        assert!(cache.get(&l.digest, &l.diff_id).is_none());
        // A valid entry of another layer moved under this key.
        let (other, other_report) = layer(4);
        cache.put(&other, &other_report).unwrap();
        fs::copy(cache.entry_path(&other.digest, &other.diff_id), &path).unwrap();
        assert!(cache.get(&l.digest, &l.diff_id).is_none());
    }

    #[test]
    fn eviction_removes_the_least_recently_used_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), u64::MAX, "");
        let layers: Vec<(LayerInfo, LayerReport)> = (0..6).map(layer).collect();
        let old = SystemTime::now() - Duration::from_secs(600);
        for (i, (l, report)) in layers.iter().enumerate() {
            cache.put(l, report).unwrap();
            let f = File::options()
                .append(true)
                .open(cache.entry_path(&l.digest, &l.diff_id))
                .unwrap();
            f.set_modified(old + Duration::from_secs(i as u64)).unwrap();
        }
        // A hit makes the oldest entry the newest.
        assert!(
            cache
                .get(&layers[0].0.digest, &layers[0].0.diff_id)
                .is_some()
        );
        let one = fs::metadata(cache.entry_path(&layers[1].0.digest, &layers[1].0.diff_id))
            .unwrap()
            .len();
        let bounded = LayerCache {
            max_size: one * 3,
            ..open(dir.path(), 0, "")
        };
        assert!(bounded.evict().unwrap() >= 3);
        let left: Vec<bool> = layers
            .iter()
            .map(|(l, _)| bounded.get(&l.digest, &l.diff_id).is_some())
            .collect();
        assert!(left[0], "the entry just used survives: {left:?}");
        assert!(!left[1] && !left[2] && !left[3], "{left:?}");
    }

    #[test]
    fn concurrent_writers_and_readers_never_see_half_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (l, report) = layer(9);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let cache = open(dir.path(), DEFAULT_MAX_SIZE, "");
                    for _ in 0..20 {
                        cache.put(&l, &report).unwrap();
                        if let Some(back) = cache.get(&l.digest, &l.diff_id) {
                            assert_eq!(back.report, report);
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn the_salt_follows_the_report_shape() {
        assert!(field_names::<LayerReport>().contains(&"entries"));
        assert!(field_names::<Entry>().contains(&"mode"));
        assert_ne!(salt("a"), salt("b"));
    }
}
