//! The local vulnerability database: osv.dev's per-ecosystem exports, reduced to what
//! matching needs and indexed by package, kept under one directory that `portcullis db
//! update` replaces atomically and every scan reads.
//!
//! ```text
//! DIR/current -> gen-<nanos>-<pid>         a symbolic link, replaced by rename
//! DIR/gen-…/meta.json                       what each ecosystem is: source, digest, times
//! DIR/gen-…/<ecosystem>.osvidx              one index per ecosystem export
//! ```
//!
//! An index file is `PCOSVIX1`, then the offset and the count of its key table (u64 LE
//! each), then the bodies, then the table. A key is `ECOSYSTEM\0NAME` (the ecosystem
//! without its release, the name as the ecosystem compares names); its body is a JSON array
//! of the reduced records naming that package, with only the `affected` entries for it. A
//! scan reads the table and then only the bodies of the image's packages: the cost does not
//! grow with the records of packages the image does not have.
//!
//! A generation is never changed once `current` names it. An update writes a new one
//! (indexes of ecosystems it did not touch are hard-linked from the old one), renames a new
//! link over `current`, and removes generations older than the one it replaced, so a scan
//! that resolved `current` a moment before still finds its files.

use super::load::{self, Limits, LoadError};
use super::record::Record;
use super::{Database, Key, Wanted, affected_ecosystem_base, name_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PCOSVIX1";
/// The version of `meta.json` and of the index files this build reads and writes.
pub const FORMAT: u32 = 1;
const CURRENT: &str = "current";
const META: &str = "meta.json";
/// Longest key accepted in an index table.
const MAX_KEY: usize = 4096;
/// Largest body of one key (every record of one package).
const MAX_BODY: u64 = 256 << 20;
/// Largest `meta.json`.
pub const MAX_META: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("vulnerability database {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("vulnerability database {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Load(#[from] LoadError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// What the database knows about one ecosystem export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcosystemMeta {
    /// The export's name as osv.dev names it (`Debian:12`, `PyPI`).
    pub ecosystem: String,
    /// Where it was fetched from: the URL or file of its `all.zip`.
    pub source: String,
    /// When its current content was downloaded (RFC 3339, UTC).
    pub fetched: String,
    /// When the source last confirmed it (a download, or a "not modified" answer).
    pub checked: String,
    /// `sha256:…` of the `all.zip` the index was built from.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Records in the export, withdrawn ones included.
    pub records: u64,
    pub withdrawn: u64,
    /// Files of the export that were not usable records.
    pub skipped: u64,
    /// Packages the index has records for.
    pub packages: u64,
    /// The index file, in the generation directory.
    pub file: String,
}

/// `meta.json`: the ecosystems of one generation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub ecosystems: BTreeMap<String, EcosystemMeta>,
    /// The OCI artifact this generation was pulled from (`--db-repository`); `None` for a
    /// database updated from osv.dev or a mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactOrigin>,
}

/// Where a pulled generation came from: what a second pull compares with, so that an
/// unchanged artifact is not downloaded again, and an unchanged index not either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactOrigin {
    /// `docker://REGISTRY/REPOSITORY:TAG` as it was asked for.
    pub reference: String,
    /// The digest of the manifest pulled.
    pub digest: String,
    /// When it was pulled (RFC 3339, UTC).
    pub pulled: String,
    /// Each index file and the digest of the layer it was unpacked from.
    #[serde(default)]
    pub layers: BTreeMap<String, String>,
}

/// The local database as one generation of it: what `current` named when it was opened.
#[derive(Debug, Clone)]
pub struct LocalDb {
    pub root: PathBuf,
    pub generation: PathBuf,
    pub meta: Meta,
}

/// The default place: `$XDG_CACHE_HOME/portcullis/db` (or `~/.cache/portcullis/db`).
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("portcullis").join("db"))
}

/// The index file name of an ecosystem: letters, digits, `.`, `-` and `_` kept, the rest
/// written as `%XX`, so `Debian:12` and `Rocky Linux` give portable names.
pub fn file_name(ecosystem: &str) -> String {
    let mut out = String::new();
    for b in ecosystem.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{out}.osvidx")
}

impl LocalDb {
    /// The generation `current` names under `root`; `None` when there is no database yet.
    pub fn open(root: &Path) -> Result<Option<LocalDb>, StoreError> {
        let link = root.join(CURRENT);
        let target = match fs::read_link(&link) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&link)(e)),
        };
        // Only a generation beside the link, never a path elsewhere.
        let name = target
            .to_str()
            .filter(|n| n.starts_with("gen-") && !n.contains(['/', '\\']))
            .ok_or_else(|| corrupt(&link, "does not name a generation of this directory"))?;
        let generation = root.join(name);
        let meta_path = generation.join(META);
        let file = File::open(&meta_path).map_err(io_error(&meta_path))?;
        let mut text = Vec::new();
        file.take(MAX_META + 1)
            .read_to_end(&mut text)
            .map_err(io_error(&meta_path))?;
        if text.len() as u64 > MAX_META {
            return Err(corrupt(&meta_path, "larger than 16 MiB"));
        }
        let meta: Meta = serde_json::from_slice(&text)
            .map_err(|e| corrupt(&meta_path, format!("not a database description: {e}")))?;
        if meta.format != FORMAT {
            return Err(corrupt(
                &meta_path,
                format!(
                    "format {} (this portcullis reads format {FORMAT}; run `portcullis db update`)",
                    meta.format
                ),
            ));
        }
        for entry in meta.ecosystems.values() {
            if entry.file != file_name(&entry.ecosystem) {
                return Err(corrupt(
                    &meta_path,
                    format!("bad file name {:?}", entry.file),
                ));
            }
        }
        Ok(Some(LocalDb {
            root: root.to_path_buf(),
            generation,
            meta,
        }))
    }

    /// The exports that hold records for packages of `base` ecosystems (`Debian` for
    /// `Debian`, `Debian:12` and `Debian:11`).
    pub fn ecosystems_for<'a>(
        &'a self,
        bases: &'a [String],
    ) -> impl Iterator<Item = &'a EcosystemMeta> + 'a {
        self.meta.ecosystems.values().filter(move |e| {
            bases
                .iter()
                .any(|b| b == affected_ecosystem_base(&e.ecosystem))
        })
    }

    /// Reads the records of the `wanted` packages from the exports that can hold them into a
    /// database that matches like one loaded from the exports themselves.
    pub fn load(&self, wanted: &Wanted, today: &str) -> Result<Database, StoreError> {
        let mut bases: Vec<String> = wanted.iter().map(|(e, _)| e.clone()).collect();
        bases.sort();
        bases.dedup();
        let mut db = Database::default();
        for entry in self.ecosystems_for(&bases) {
            let path = self.generation.join(&entry.file);
            let index = db.databases.len();
            db.databases.push(PathBuf::from(&entry.source));
            db.stats.databases += 1;
            db.stats.records += entry.records as usize;
            db.stats.withdrawn += entry.withdrawn as usize;
            db.stats.skipped += entry.skipped as usize;
            let mut reader = IndexReader::open(&path)?;
            let keys = reader.keys()?;
            for key in wanted {
                let Some(&(offset, len)) = keys.get(&key_string(key)) else {
                    continue;
                };
                for record in reader.body(offset, len)? {
                    if record.is_withdrawn(today) {
                        continue;
                    }
                    db.insert(record, index, None);
                }
            }
        }
        Ok(db)
    }
}

fn key_string((ecosystem, name): &Key) -> String {
    format!("{ecosystem}\0{name}")
}

/// Checks that `path` is an index this build can read: its header, and a key table whose
/// bodies all lie inside the file.
pub fn check_index(path: &Path) -> Result<(), StoreError> {
    IndexReader::open(path)?.keys().map(drop)
}

/// One index file, open for lookups.
struct IndexReader {
    path: PathBuf,
    file: File,
    len: u64,
    table: u64,
    count: u64,
}

impl IndexReader {
    fn open(path: &Path) -> Result<IndexReader, StoreError> {
        let mut file = File::open(path).map_err(io_error(path))?;
        let len = file.metadata().map_err(io_error(path))?.len();
        let mut header = [0u8; 24];
        file.read_exact(&mut header)
            .map_err(|_| corrupt(path, "too short for an index"))?;
        if &header[..8] != MAGIC {
            return Err(corrupt(path, "not a portcullis OSV index"));
        }
        let table = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        let count = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
        // Each table entry takes at least 16 bytes: the count cannot claim more than fits.
        if table < 24 || table > len || count > (len - table) / 16 {
            return Err(corrupt(path, "its key table lies outside the file"));
        }
        Ok(IndexReader {
            path: path.to_path_buf(),
            file,
            len,
            table,
            count,
        })
    }

    /// The key table: key → (offset, length) of its body.
    fn keys(&mut self) -> Result<HashMap<String, (u64, u64)>, StoreError> {
        let path = self.path.clone();
        self.file
            .seek(SeekFrom::Start(self.table))
            .map_err(io_error(&path))?;
        let mut bytes = Vec::with_capacity((self.len - self.table) as usize);
        (&mut self.file)
            .take(self.len - self.table)
            .read_to_end(&mut bytes)
            .map_err(io_error(&path))?;
        let mut keys = HashMap::with_capacity(self.count as usize);
        let mut at = 0usize;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], StoreError> {
            let slice = bytes
                .get(*at..*at + n)
                .ok_or_else(|| corrupt(&path, "truncated key table"))?;
            *at += n;
            Ok(slice)
        };
        for _ in 0..self.count {
            let klen =
                u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or_default()) as usize;
            if klen > MAX_KEY {
                return Err(corrupt(&path, "a key longer than 4096 bytes"));
            }
            let key = std::str::from_utf8(take(&mut at, klen)?)
                .map_err(|_| corrupt(&path, "a key that is not UTF-8"))?
                .to_string();
            let offset = u64::from_le_bytes(take(&mut at, 8)?.try_into().unwrap_or_default());
            let len = u64::from_le_bytes(take(&mut at, 8)?.try_into().unwrap_or_default());
            if offset < 24 || offset.checked_add(len).is_none_or(|end| end > self.table) {
                return Err(corrupt(&path, "a body outside the file"));
            }
            keys.insert(key, (offset, len));
        }
        Ok(keys)
    }

    fn body(&mut self, offset: u64, len: u64) -> Result<Vec<Record>, StoreError> {
        if len > MAX_BODY {
            return Err(corrupt(&self.path, "a package body larger than 256 MiB"));
        }
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(io_error(&self.path))?;
        let mut bytes = vec![0u8; len as usize];
        self.file
            .read_exact(&mut bytes)
            .map_err(io_error(&self.path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(&self.path, format!("a package body is not valid: {e}")))
    }
}

/// What building one index read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    pub records: u64,
    pub withdrawn: u64,
    pub skipped: u64,
    pub packages: u64,
    /// The first problems, for the update's output.
    pub problems: Vec<String>,
}

/// Builds the index of one export (`all.zip`, a directory of records, or a record file)
/// into `out`. Records withdrawn by `today` are left out.
/// Each package key's affected entries, as (index of the record's header, entry JSON).
type ByKey = HashMap<String, Vec<(u32, Box<[u8]>)>>;

pub fn build(
    source: &Path,
    out: &mut File,
    today: &str,
    limits: Limits,
) -> Result<Built, StoreError> {
    // Held as compact JSON rather than as parsed records: an export like AlmaLinux's, whose
    // records name dozens of binary packages each, is millions of small strings parsed, and
    // a tenth of that as bytes.
    let mut headers: Vec<Box<[u8]>> = Vec::new();
    let mut by_key: ByKey = HashMap::new();
    let mut failure: Option<String> = None;
    let mut sink = |mut record: Record| {
        let affected = std::mem::take(&mut record.affected);
        let index = headers.len() as u32;
        let mut kept = false;
        for entry in affected {
            let base = affected_ecosystem_base(&entry.ecosystem).to_string();
            let name = name_key(&base, &entry.name);
            let Ok(json) = serde_json::to_vec(&entry) else {
                continue;
            };
            by_key
                .entry(key_string(&(base, name)))
                .or_default()
                .push((index, json.into_boxed_slice()));
            kept = true;
        }
        if kept {
            match header_prefix(&record) {
                Some(prefix) => headers.push(prefix),
                None => failure = Some(format!("record {} cannot be stored", record.id)),
            }
        }
    };
    let db = load::for_each_record(source, today, limits, &mut sink)?;
    if let Some(reason) = failure {
        return Err(corrupt(source, reason));
    }
    let built = Built {
        records: db.stats.records as u64,
        withdrawn: db.stats.withdrawn as u64,
        skipped: db.stats.skipped as u64,
        packages: by_key.len() as u64,
        problems: db
            .problems
            .iter()
            .take(10)
            .map(|p| format!("{}: {}", p.file, p.reason))
            .collect(),
    };
    let mut keys: Vec<String> = by_key.keys().cloned().collect();
    keys.sort();
    write_index(out, &keys, &by_key, &headers).map_err(|e| StoreError::Io {
        path: source.to_path_buf(),
        source: e,
    })?;
    Ok(built)
}

/// A record without its affected entries as JSON, cut before the empty `affected` list it
/// ends with: `{"id":…,"affected":` — a body appends the package's entries and `}`.
fn header_prefix(record: &Record) -> Option<Box<[u8]>> {
    let json = serde_json::to_vec(record).ok()?;
    let prefix = json.strip_suffix(b"[]}")?;
    prefix
        .ends_with(b"\"affected\":")
        .then(|| prefix.to_vec().into_boxed_slice())
}

fn write_index(
    out: &mut File,
    keys: &[String],
    by_key: &ByKey,
    headers: &[Box<[u8]>],
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, &mut *out);
    w.write_all(MAGIC)?;
    w.write_all(&[0u8; 16])?;
    let mut offset = 24u64;
    let mut table = Vec::with_capacity(keys.len());
    let mut body = Vec::new();
    for key in keys {
        body.clear();
        body.push(b'[');
        // One record per advisory, with the entries of this package (pushed in record
        // order, so one advisory's entries are consecutive).
        let mut current: Option<u32> = None;
        for (index, affected) in &by_key[key] {
            if current == Some(*index) {
                body.push(b',');
            } else {
                if current.is_some() {
                    body.extend_from_slice(b"]},");
                }
                body.extend_from_slice(&headers[*index as usize]);
                body.push(b'[');
                current = Some(*index);
            }
            body.extend_from_slice(affected);
        }
        if current.is_some() {
            body.extend_from_slice(b"]}");
        }
        body.push(b']');
        w.write_all(&body)?;
        table.push((key, offset, body.len() as u64));
        offset += body.len() as u64;
    }
    let table_offset = offset;
    for (key, offset, len) in &table {
        w.write_all(&(key.len() as u32).to_le_bytes())?;
        w.write_all(key.as_bytes())?;
        w.write_all(&offset.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
    }
    w.flush()?;
    drop(w);
    out.seek(SeekFrom::Start(8))?;
    out.write_all(&table_offset.to_le_bytes())?;
    out.write_all(&(table.len() as u64).to_le_bytes())?;
    out.sync_all()
}

/// A new generation being written: indexes of kept ecosystems linked from the current one,
/// new ones added, then [`Generation::commit`] makes it current.
pub struct Generation {
    root: PathBuf,
    dir: PathBuf,
    name: String,
    pub meta: Meta,
    committed: bool,
}

impl Generation {
    /// Starts a generation under `root` holding what `base` holds.
    pub fn start(root: &Path, base: Option<&LocalDb>) -> Result<Generation, StoreError> {
        fs::create_dir_all(root).map_err(io_error(root))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("gen-{nanos}-{}", std::process::id());
        let dir = root.join(&name);
        fs::create_dir(&dir).map_err(io_error(&dir))?;
        let mut generation = Generation {
            root: root.to_path_buf(),
            dir,
            name,
            meta: Meta {
                format: FORMAT,
                ecosystems: BTreeMap::new(),
                artifact: None,
            },
            committed: false,
        };
        if let Some(base) = base {
            for entry in base.meta.ecosystems.values() {
                generation.link_index(base, entry)?;
                generation
                    .meta
                    .ecosystems
                    .insert(entry.ecosystem.clone(), entry.clone());
            }
        }
        Ok(generation)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the index of `entry` from `base` as it is (a hard link where the file system
    /// allows one). The caller records `entry` in [`Generation::meta`].
    pub fn link_index(&self, base: &LocalDb, entry: &EcosystemMeta) -> Result<(), StoreError> {
        let from = base.generation.join(&entry.file);
        let to = self.dir.join(&entry.file);
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(io_error(&from))?;
        }
        Ok(())
    }

    /// A new file for the index of `ecosystem`, replacing the linked one.
    pub fn create_index(&self, ecosystem: &str) -> Result<(PathBuf, File), StoreError> {
        let path = self.dir.join(file_name(ecosystem));
        let _ = fs::remove_file(&path);
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok((path, file))
    }

    /// Writes `meta.json` and makes this generation current; older generations than the one
    /// it replaces are removed.
    pub fn commit(mut self) -> Result<LocalDb, StoreError> {
        let meta_path = self.dir.join(META);
        let text = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| corrupt(&meta_path, e.to_string()))?;
        let mut file = File::create(&meta_path).map_err(io_error(&meta_path))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(io_error(&meta_path))?;
        let previous = fs::read_link(self.root.join(CURRENT)).ok();
        let temp = self.root.join(format!(".{CURRENT}-{}", std::process::id()));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(&self.name, &temp).map_err(io_error(&temp))?;
        fs::rename(&temp, self.root.join(CURRENT)).map_err(io_error(&temp))?;
        self.committed = true;
        if let Ok(dir) = File::open(&self.root) {
            let _ = dir.sync_all();
        }
        // Keep this generation and the one just replaced; remove the rest.
        let keep: Vec<std::ffi::OsString> = [
            Some(self.name.clone().into()),
            previous.map(|p| p.into_os_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with("gen-") && !keep.contains(&name) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(LocalDb {
            root: self.root.clone(),
            generation: self.dir.clone(),
            meta: self.meta.clone(),
        })
    }
}

impl Drop for Generation {
    /// An update that did not commit leaves nothing behind.
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"id": "PYSEC-1", "aliases": ["CVE-2020-1"], "affected": [
        {"package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]},
        {"package": {"ecosystem": "PyPI", "name": "other"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]}]}"#;

    #[test]
    fn a_generation_round_trips_and_reads_only_wanted_packages() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records");
        fs::create_dir(&records).unwrap();
        fs::write(records.join("PYSEC-1.json"), RECORD).unwrap();
        fs::write(records.join("bad.json"), "{").unwrap();
        let root = dir.path().join("db");
        let mut generation = Generation::start(&root, None).unwrap();
        let (_, mut file) = generation.create_index("PyPI").unwrap();
        let built = build(&records, &mut file, "2026-01-01", Limits::default()).unwrap();
        assert_eq!((built.records, built.skipped, built.packages), (1, 1, 2));
        generation.meta.ecosystems.insert(
            "PyPI".into(),
            EcosystemMeta {
                ecosystem: "PyPI".into(),
                source: "test".into(),
                fetched: "2026-01-01T00:00:00Z".into(),
                checked: "2026-01-01T00:00:00Z".into(),
                digest: "sha256:00".into(),
                etag: None,
                last_modified: None,
                records: built.records,
                withdrawn: 0,
                skipped: built.skipped,
                packages: built.packages,
                file: file_name("PyPI"),
            },
        );
        generation.commit().unwrap();
        let db = LocalDb::open(&root).unwrap().unwrap();
        let wanted: Wanted = [("PyPI".to_string(), "demo-pkg".to_string())].into();
        let loaded = db.load(&wanted, "2026-01-01").unwrap();
        assert_eq!(loaded.len(), 1);
        let entries = &loaded.index[&("PyPI".to_string(), "demo-pkg".to_string())];
        assert_eq!(entries.len(), 1);
        assert!(
            !loaded
                .index
                .contains_key(&("PyPI".to_string(), "other".to_string()))
        );

        // A second generation keeps the first's index and replaces the first's directory
        // only after it is current.
        let old = db.generation.clone();
        let generation = Generation::start(&root, Some(&db)).unwrap();
        let second = generation.commit().unwrap();
        assert!(old.is_dir(), "the replaced generation stays for readers");
        assert_eq!(second.meta, db.meta);
        let third = Generation::start(&root, Some(&second))
            .unwrap()
            .commit()
            .unwrap();
        assert!(!old.exists());
        assert_eq!(third.load(&wanted, "2026-01-01").unwrap().len(), 1);
    }

    #[test]
    fn file_names_are_portable() {
        assert_eq!(file_name("Debian:12"), "Debian%3A12.osvidx");
        assert_eq!(file_name("Rocky Linux"), "Rocky%20Linux.osvidx");
        assert_eq!(file_name("crates.io"), "crates.io.osvidx");
    }

    #[test]
    fn a_link_out_of_the_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join(CURRENT)).unwrap();
        assert!(matches!(
            LocalDb::open(dir.path()),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(LocalDb::open(&dir.path().join("none")).unwrap().is_none());
    }
}
