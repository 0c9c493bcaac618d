//! Reading OSV databases: a zip of records (osv.dev's `all.zip`), a directory tree of
//! records, or one record file.
//!
//! Every record is read once, parsed, reduced and dropped; only the reduced records that
//! name a wanted package stay. Sizes and counts are bounded (a record, all records, all
//! bytes inflated) so that a hostile or corrupt database cannot take the machine; a file
//! that is not a usable record is a [`Problem`], and loading goes on.

use super::record::{Record, RecordError};
use super::{Database, Problem, Wanted};
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Bounds on what loading reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest record file; the largest osv.dev records (kernel advisories listing every
    /// version) are a few MiB.
    pub max_record_bytes: u64,
    /// Most record files over all databases.
    pub max_records: u64,
    /// Most bytes read (inflated) over all databases.
    pub max_total_bytes: u64,
    /// Deepest directory level walked.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 32 << 20,
            max_records: 5_000_000,
            max_total_bytes: 64 << 30,
            max_depth: 32,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("OSV database {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("OSV database {path}: not a readable zip archive: {reason}")]
    Zip { path: PathBuf, reason: String },
    #[error("OSV database {path}: {reason}")]
    Limit { path: PathBuf, reason: String },
}

/// What a file name says about its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

fn format_of(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Some(Format::Json)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Some(Format::Yaml)
    } else {
        None
    }
}

struct Loader<'a> {
    db: Database,
    wanted: Option<&'a Wanted>,
    /// Where each usable record goes instead of the index, when set.
    sink: Option<&'a mut dyn FnMut(Record)>,
    today: &'a str,
    limits: Limits,
    records_read: u64,
    bytes_read: u64,
}

impl Database {
    /// Loads every database of `paths`, keeping the records that name a package of
    /// `wanted` (all of them when `None`). Records withdrawn on or before `today`
    /// (`YYYY-MM-DD`) are counted and left out.
    ///
    /// A path that cannot be read, a corrupt zip or a limit reached is an error; a record
    /// that cannot be used is a [`Problem`].
    pub fn load(
        paths: &[PathBuf],
        wanted: Option<&Wanted>,
        today: &str,
        limits: Limits,
    ) -> Result<Database, LoadError> {
        let mut loader = Loader {
            db: Database::default(),
            wanted,
            sink: None,
            today,
            limits,
            records_read: 0,
            bytes_read: 0,
        };
        for path in paths {
            loader.load(path)?;
        }
        Ok(loader.db)
    }
}

/// Reads every record of one database (a zip, a directory tree or a record file) and hands
/// each usable one, withdrawn ones left out, to `sink`: how the local database is built from
/// a download without holding the records. The returned database holds no records, only the
/// counts and the problems.
pub fn for_each_record(
    path: &Path,
    today: &str,
    limits: Limits,
    sink: &mut dyn FnMut(Record),
) -> Result<Database, LoadError> {
    let mut loader = Loader {
        db: Database::default(),
        wanted: None,
        sink: Some(sink),
        today,
        limits,
        records_read: 0,
        bytes_read: 0,
    };
    loader.load(path)?;
    Ok(loader.db)
}

impl Loader<'_> {
    fn load(&mut self, path: &Path) -> Result<(), LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        let index = self.db.databases.len();
        self.db.databases.push(path.to_path_buf());
        self.db.stats.databases += 1;
        if meta.is_dir() {
            return self.walk(index, path, path, 0);
        }
        let mut magic = [0u8; 4];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(io)?;
        if magic[..n] == *b"PK\x03\x04" || magic[..n] == *b"PK\x05\x06" {
            return self.zip(index, path);
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let format = format_of(&name).unwrap_or(Format::Json);
        let bytes = self.read_bounded(path, File::open(path).map_err(io)?, meta.len())?;
        self.record(index, &name, format, bytes);
        Ok(())
    }

    /// Walks a directory in name order (so that problems come out in the same order every
    /// run); hidden entries (`.git`) and symbolic links to directories are skipped.
    fn walk(&mut self, db: usize, root: &Path, dir: &Path, depth: usize) -> Result<(), LoadError> {
        if depth > self.limits.max_depth {
            return Err(LoadError::Limit {
                path: dir.to_path_buf(),
                reason: format!("directories nested deeper than {}", self.limits.max_depth),
            });
        }
        let io = |source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(io)?;
            if kind.is_dir() {
                self.walk(db, root, &path, depth + 1)?;
                continue;
            }
            let Some(format) = format_of(&name) else {
                continue;
            };
            // A symbolic link is followed to a file only.
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let file = File::open(&path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            let bytes = self.read_bounded(&path, file, meta.len())?;
            self.record(db, &shown, format, bytes);
        }
        Ok(())
    }

    fn zip(&mut self, db: usize, path: &Path) -> Result<(), LoadError> {
        let file = File::open(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let zip_error = |e: zip::result::ZipError| LoadError::Zip {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(zip_error)?;
            if entry.is_dir() {
                continue;
            }
            let name = match entry.name() {
                Ok(name) => name.into_owned(),
                Err(e) => {
                    self.problem(db, &format!("entry {i}"), format!("unreadable name: {e}"));
                    continue;
                }
            };
            let Some(format) = format_of(&name) else {
                continue;
            };
            let declared = entry.size();
            let bytes = match self.read_bounded(path, entry, declared) {
                Ok(bytes) => bytes,
                Err(LoadError::Io { source, .. }) => {
                    // A corrupt member (bad CRC, truncated deflate stream) spoils one record.
                    self.problem(db, &name, format!("unreadable in the zip: {source}"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.record(db, &name, format, bytes);
        }
        Ok(())
    }

    /// Reads one record file, refusing more than the per-record and total bounds. An
    /// over-long record is returned truncated to the bound plus one byte, and rejected by
    /// [`Loader::record`].
    fn read_bounded(
        &mut self,
        path: &Path,
        reader: impl Read,
        declared: u64,
    ) -> Result<Vec<u8>, LoadError> {
        self.records_read += 1;
        if self.records_read > self.limits.max_records {
            return Err(LoadError::Limit {
                path: path.to_path_buf(),
                reason: format!("more than {} record files", self.limits.max_records),
            });
        }
        let cap = self.limits.max_record_bytes + 1;
        let mut bytes = Vec::with_capacity(declared.min(cap).min(1 << 20) as usize);
        reader
            .take(cap)
            .read_to_end(&mut bytes)
            .map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        self.bytes_read += bytes.len() as u64;
        if self.bytes_read > self.limits.max_total_bytes {
            return Err(LoadError::Limit {
                path: path.to_path_buf(),
                reason: format!("more than {} bytes of records", self.limits.max_total_bytes),
            });
        }
        Ok(bytes)
    }

    fn record(&mut self, db: usize, name: &str, format: Format, bytes: Vec<u8>) {
        if bytes.len() as u64 > self.limits.max_record_bytes {
            self.problem(
                db,
                name,
                format!(
                    "larger than {} bytes, not read",
                    self.limits.max_record_bytes
                ),
            );
            return;
        }
        let parsed = match format {
            Format::Json => Record::parse_json(&bytes),
            Format::Yaml => Record::parse_yaml(&bytes),
        };
        drop(bytes);
        match parsed {
            Ok(record) => {
                self.db.stats.records += 1;
                if record.is_withdrawn(self.today) {
                    self.db.stats.withdrawn += 1;
                    return;
                }
                match self.sink.as_mut() {
                    Some(sink) => sink(record),
                    None => self.db.insert(record, db, self.wanted),
                }
            }
            Err(e @ (RecordError::Json(_) | RecordError::Yaml(_) | RecordError::NoId)) => {
                self.problem(db, name, e.to_string());
            }
        }
    }

    fn problem(&mut self, db: usize, file: &str, reason: String) {
        self.db.stats.skipped += 1;
        self.db.problems.push(Problem {
            database: self.db.databases.get(db).cloned().unwrap_or_default(),
            file: file.to_string(),
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const RECORD: &str = r#"{"id": "PYSEC-1", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}"#;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn a_directory_tree_loads_json_and_yaml_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/PYSEC-1.json", RECORD);
        write(
            dir.path(),
            "b/PYSEC-2.yaml",
            "id: PYSEC-2\naffected:\n- package: {ecosystem: PyPI, name: other}\n",
        );
        write(dir.path(), "b/broken.json", "{\"id\": ");
        write(dir.path(), "b/schema.json", "{\"title\": \"not a record\"}");
        write(
            dir.path(),
            "c/old.json",
            r#"{"id": "PYSEC-3", "withdrawn": "2020-01-01T00:00:00Z"}"#,
        );
        write(dir.path(), "README.md", "not read");
        write(dir.path(), ".git/x.json", "not read either");
        let db =
            Database::load(&[dir.path().into()], None, "2026-01-01", Limits::default()).unwrap();
        assert_eq!(db.stats.databases, 1);
        assert_eq!(db.stats.records, 3);
        assert_eq!(db.stats.withdrawn, 1);
        assert_eq!(db.stats.skipped, 2);
        assert_eq!(db.len(), 2);
        let files: Vec<&str> = db.problems.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["b/broken.json", "b/schema.json"]);
        assert!(db.problems[1].reason.contains("no \"id\""));
    }

    #[test]
    fn only_wanted_packages_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1.json", RECORD);
        let wanted: Wanted = [("PyPI".to_string(), "demo-pkg".to_string())].into();
        let db = Database::load(
            &[dir.path().into()],
            Some(&wanted),
            "2026-01-01",
            Limits::default(),
        )
        .unwrap();
        assert_eq!(db.len(), 1, "the name is compared PEP 503 normalised");
        let other: Wanted = [("PyPI".to_string(), "else".to_string())].into();
        let db = Database::load(
            &[dir.path().into()],
            Some(&other),
            "2026-01-01",
            Limits::default(),
        )
        .unwrap();
        assert_eq!((db.len(), db.stats.records), (0, 1));
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, body) in files {
            zip.start_file(
                *name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            zip.write_all(body).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_zip_streams_its_records_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let big = format!("{{\"id\": \"BIG\", \"summary\": \"{}\"}}", "x".repeat(4096));
        let path = dir.path().join("all.zip");
        fs::write(
            &path,
            zip_of(&[
                ("PYSEC-1.json", RECORD.as_bytes()),
                ("big.json", big.as_bytes()),
                ("notes.txt", b"ignored"),
            ]),
        )
        .unwrap();
        let limits = Limits {
            max_record_bytes: 1024,
            ..Limits::default()
        };
        let db = Database::load(std::slice::from_ref(&path), None, "2026-01-01", limits).unwrap();
        assert_eq!(db.len(), 1);
        assert_eq!(db.problems.len(), 1);
        assert!(db.problems[0].reason.contains("larger than 1024 bytes"));

        let few = Limits {
            max_records: 1,
            ..Limits::default()
        };
        let e = Database::load(&[path], None, "2026-01-01", few).unwrap_err();
        assert!(e.to_string().contains("more than 1 record files"), "{e}");
    }

    #[test]
    fn unreadable_databases_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.zip");
        assert!(matches!(
            Database::load(&[missing], None, "2026-01-01", Limits::default()),
            Err(LoadError::Io { .. })
        ));
        let fake = dir.path().join("fake.zip");
        fs::write(&fake, b"PK\x03\x04 but not really a zip").unwrap();
        assert!(matches!(
            Database::load(&[fake], None, "2026-01-01", Limits::default()),
            Err(LoadError::Zip { .. })
        ));
    }
}
