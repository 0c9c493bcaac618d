//! The per-layer half of the inventory: asks for the package databases a layer writes,
//! parses them as they stream by, and leaves the records in the layer's report.
//!
//! Databases are read whole, up to a cap per format; executables and Java archives are
//! streamed through scanners that keep a bounded amount of state, never the file.

use super::gobin::GoScanner;
use super::java::{self, JarScanner};
use super::rustbin::RustScanner;
use super::{DbFormat, PackageDb, PackageRecord, apk, copyright, dpkg, npm, python, rpm};
use portcullis_layer::analyzer::{Analyzer, Interest};
use portcullis_layer::entry::{Entry, EntryKind, Note};

const DPKG_STATUS: &str = "var/lib/dpkg/status";
const DPKG_STATUS_D: &str = "var/lib/dpkg/status.d/";
const OPKG_STATUS: &[&str] = &["usr/lib/opkg/status", "var/lib/opkg/status"];
const APK_INSTALLED: &str = "lib/apk/db/installed";

/// Caps on what is read of each kind of file.
const MAX_TEXT_DB: u64 = 64 << 20;
const MAX_RPM_DB: u64 = 256 << 20;
const MAX_STATUS_D: u64 = 1 << 20;
/// Only the headers of Python metadata are needed; they come first.
const MAX_PYTHON_METADATA: u64 = 64 << 10;
const MAX_NPM_MANIFEST: u64 = 1 << 20;
/// What of a copyright file is read: its licence fields come first (the largest files,
/// whole licence texts pasted in, run to a few hundred KiB).
const MAX_COPYRIGHT: u64 = 256 << 10;
/// Executables smaller than this are scripts or stubs.
const MIN_EXECUTABLE: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dpkg(dpkg::Layout),
    Opkg,
    Apk,
    Rpm(rpm::Backend),
    Python,
    Npm,
    Java,
    Copyright,
    NpmApplication,
    Pyproject,
    Executable,
}

fn classify(entry: &Entry) -> Option<Kind> {
    if entry.kind != EntryKind::File {
        return None;
    }
    let path = entry.path.as_str();
    if path == DPKG_STATUS {
        return Some(Kind::Dpkg(dpkg::Layout::Status));
    }
    if let Some(name) = path.strip_prefix(DPKG_STATUS_D) {
        // distroless keeps each package's md5sums beside its status file.
        let status = !name.contains('/') && !name.ends_with(".md5sums") && !name.starts_with('.');
        return status.then_some(Kind::Dpkg(dpkg::Layout::StatusD));
    }
    if OPKG_STATUS.contains(&path) {
        return Some(Kind::Opkg);
    }
    if path == APK_INSTALLED {
        return Some(Kind::Apk);
    }
    if let Some(backend) = rpm::Backend::for_path(path) {
        return Some(Kind::Rpm(backend));
    }
    if python::is_metadata_path(path) {
        return Some(Kind::Python);
    }
    if npm::is_manifest_path(path) {
        return Some(Kind::Npm);
    }
    if java::is_archive_path(path) {
        return Some(Kind::Java);
    }
    if copyright::package_of(path).is_some() {
        return Some(Kind::Copyright);
    }
    if npm::is_application_manifest_path(path) {
        return Some(Kind::NpmApplication);
    }
    if python::is_pyproject_path(path) {
        return Some(Kind::Pyproject);
    }
    if entry.mode & 0o111 != 0 && entry.size >= MIN_EXECUTABLE {
        return Some(Kind::Executable);
    }
    None
}

enum Streaming {
    Executable(Box<GoScanner>, Box<RustScanner>),
    Java(Box<JarScanner>),
}

#[derive(Default)]
pub struct InventoryAnalyzer {
    dbs: Vec<PackageDb>,
    notes: Vec<Note>,
    current: Option<(String, Streaming)>,
}

impl InventoryAnalyzer {
    fn push(&mut self, path: &str, format: DbFormat, result: Result<Vec<PackageRecord>, String>) {
        let (packages, error) = match result {
            Ok(packages) => (packages, None),
            Err(message) => {
                self.notes.push(Note {
                    path: Some(path.to_string()),
                    message: format!("package database not read: {message}"),
                });
                (Vec::new(), Some(message))
            }
        };
        self.dbs.push(PackageDb {
            path: path.to_string(),
            format,
            packages,
            error,
        });
    }
}

impl Analyzer for InventoryAnalyzer {
    fn interest(&mut self, entry: &Entry) -> Interest {
        match classify(entry) {
            None => Interest::None,
            Some(Kind::Dpkg(dpkg::Layout::Status) | Kind::Opkg | Kind::Apk) => {
                Interest::Whole { max: MAX_TEXT_DB }
            }
            Some(Kind::Dpkg(dpkg::Layout::StatusD)) => Interest::Whole { max: MAX_STATUS_D },
            Some(Kind::Rpm(_)) => Interest::Whole { max: MAX_RPM_DB },
            Some(Kind::Python) => Interest::Whole {
                max: MAX_PYTHON_METADATA,
            },
            Some(Kind::Npm) => Interest::Whole {
                max: MAX_NPM_MANIFEST,
            },
            Some(Kind::Copyright) => Interest::Whole { max: MAX_COPYRIGHT },
            Some(Kind::NpmApplication | Kind::Pyproject) => Interest::Whole {
                max: MAX_NPM_MANIFEST,
            },
            Some(Kind::Java) => {
                self.current = Some((
                    entry.path.to_string(),
                    Streaming::Java(Box::new(JarScanner::for_path(&entry.path))),
                ));
                Interest::Stream
            }
            Some(Kind::Executable) => {
                self.current = Some((
                    entry.path.to_string(),
                    Streaming::Executable(Box::default(), Box::default()),
                ));
                Interest::Stream
            }
        }
    }

    fn whole(&mut self, entry: &Entry, data: &[u8], truncated: bool) {
        let Some(kind) = classify(entry) else {
            return;
        };
        let path = entry.path.as_str();
        match kind {
            Kind::Python => {
                // Metadata headers come first: a cut-off description does not matter.
                if let Some(record) = python::parse(data) {
                    self.push(path, DbFormat::Python, Ok(vec![record]));
                }
                return;
            }
            Kind::Npm => {
                if let Some(record) = npm::parse(data).filter(|_| !truncated) {
                    self.push(path, DbFormat::Npm, Ok(vec![record]));
                }
                return;
            }
            Kind::NpmApplication => {
                if let Some(mut record) = npm::parse(data).filter(|_| !truncated) {
                    record.application = true;
                    self.push(path, DbFormat::Npm, Ok(vec![record]));
                }
                return;
            }
            Kind::Pyproject => {
                if let Some(record) = python::parse_pyproject(data).filter(|_| !truncated) {
                    self.push(path, DbFormat::Python, Ok(vec![record]));
                }
                return;
            }
            Kind::Copyright => {
                // Licence fields come first: a cut-off licence text does not matter.
                let names = copyright::licenses(data);
                if let (Some(package), false) = (copyright::package_of(path), names.is_empty()) {
                    let record = PackageRecord {
                        name: package.to_string(),
                        license: Some(names.join(" AND ")),
                        ..PackageRecord::default()
                    };
                    self.push(path, DbFormat::DpkgCopyright, Ok(vec![record]));
                }
                return;
            }
            _ => {}
        }
        let (format, result) = if truncated {
            let format = match kind {
                Kind::Apk => DbFormat::Apk,
                Kind::Opkg => DbFormat::Opkg,
                Kind::Rpm(_) => DbFormat::Rpm,
                _ => DbFormat::Dpkg,
            };
            (format, Err(format!("larger than {} bytes", data.len())))
        } else {
            match kind {
                Kind::Dpkg(layout) => (
                    DbFormat::Dpkg,
                    dpkg::parse(data, layout).map_err(|e| e.to_string()),
                ),
                Kind::Opkg => (
                    DbFormat::Opkg,
                    dpkg::parse(data, dpkg::Layout::Status).map_err(|e| e.to_string()),
                ),
                Kind::Apk => (DbFormat::Apk, apk::parse(data).map_err(|e| e.to_string())),
                Kind::Rpm(backend) => {
                    let result = rpm::records(data, backend).map_err(|e| e.to_string());
                    if let Ok((_, damaged)) = &result
                        && *damaged > 0
                    {
                        self.notes.push(Note {
                            path: Some(path.to_string()),
                            message: format!("{damaged} damaged rpm headers skipped"),
                        });
                    }
                    (DbFormat::Rpm, result.map(|(records, _)| records))
                }
                _ => return,
            }
        };
        self.push(path, format, result);
    }

    fn chunk(&mut self, entry: &Entry, offset: u64, data: &[u8]) {
        match &mut self.current {
            Some((path, Streaming::Executable(go, rust))) if *path == entry.path => {
                go.chunk(offset, data);
                rust.chunk(offset, data);
            }
            Some((path, Streaming::Java(jar))) if *path == entry.path => jar.feed(data),
            _ => {}
        }
    }

    fn end(&mut self, entry: &Entry) {
        let Some((path, streaming)) = self.current.take() else {
            return;
        };
        if path != entry.path {
            return;
        }
        match streaming {
            Streaming::Executable(go, rust) => {
                if let Some(info) = go.finish() {
                    let records = info.records();
                    if !records.is_empty() {
                        self.push(&path, DbFormat::GoBinary, Ok(records));
                    }
                }
                if let Some(records) = rust.finish().filter(|r| !r.is_empty()) {
                    self.push(&path, DbFormat::RustBinary, Ok(records));
                }
            }
            Streaming::Java(jar) => {
                let records = jar.finish();
                if !records.is_empty() {
                    self.push(&path, DbFormat::Java, Ok(records));
                }
            }
        }
    }
}

impl InventoryAnalyzer {
    /// The layer ended: the package databases it writes, one per file in stream order, and
    /// the notes about those that could not be read.
    pub fn finish(self) -> (Vec<PackageDb>, Vec<Note>) {
        (self.dbs, self.notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_layer::walk::walk;
    use portcullis_layer::{Budget, Limits};

    fn tar(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_layer_walk_fills_the_report() {
        let status = b"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n";
        let jar = crate::java::tests::fat_jar();
        let go = crate::gobin::tests::inline_binary();
        let rust = crate::rustbin::tests::binary();
        let layer = tar(&[
            ("var/lib/dpkg/status", status, 0o644),
            (
                "var/lib/dpkg/status.d/base",
                b"Package: base-files\nVersion: 12.4\n",
                0o644,
            ),
            (
                "var/lib/dpkg/status.d/base.md5sums",
                b"d41d8cd98f00b204e9800998ecf8427e  etc/x\n",
                0o644,
            ),
            ("lib/apk/db/installed", b"garbage\n", 0o644),
            ("srv/app.jar", &jar, 0o644),
            ("usr/local/bin/app", &go, 0o755),
            ("usr/local/bin/tool", &rust, 0o755),
            ("usr/local/bin/script", &[b'#'; 4096], 0o755),
            ("usr/share/doc/readme", &go, 0o644),
        ]);
        let mut analyzers = [Box::new(InventoryAnalyzer::default())];
        walk(&layer[..], &mut analyzers, &Budget::new(Limits::default())).unwrap();
        let [analyzer] = analyzers;
        let (packages, notes) = analyzer.finish();
        let found: Vec<(&str, DbFormat, usize, bool)> = packages
            .iter()
            .map(|d| {
                (
                    d.path.as_str(),
                    d.format,
                    d.packages.len(),
                    d.error.is_some(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("var/lib/dpkg/status", DbFormat::Dpkg, 1, false),
                ("var/lib/dpkg/status.d/base", DbFormat::Dpkg, 1, false),
                ("lib/apk/db/installed", DbFormat::Apk, 0, true),
                ("srv/app.jar", DbFormat::Java, 2, false),
                ("usr/local/bin/app", DbFormat::GoBinary, 3, false),
                ("usr/local/bin/tool", DbFormat::RustBinary, 2, false),
            ]
        );
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].path.as_deref(), Some("lib/apk/db/installed"));
    }

    #[test]
    fn a_database_over_its_cap_is_a_note() {
        let mut analyzer = InventoryAnalyzer::default();
        let entry = Entry {
            path: "var/lib/dpkg/status.d/huge".into(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: MAX_STATUS_D + 1,
            special: None,
        };
        assert_eq!(
            analyzer.interest(&entry),
            Interest::Whole { max: MAX_STATUS_D }
        );
        analyzer.whole(&entry, b"Package: x\nVersion: 1\n", true);
        let (packages, notes) = analyzer.finish();
        assert!(packages[0].error.is_some());
        assert_eq!(notes.len(), 1);
    }
}
