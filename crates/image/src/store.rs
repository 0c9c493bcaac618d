//! Random access to the files of an image layout or archive, without extracting anything.

use super::ImageError;
use portcullis_model::path;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Entries in an outer archive (a `docker save` tar or an OCI archive) that are indexed.
const MAX_ARCHIVE_ENTRIES: usize = 1_000_000;
/// Links followed when looking a name up inside an archive.
const MAX_LINK_HOPS: usize = 16;

/// Files of an image store, addressed by normalised relative paths.
pub trait Store: Sync {
    /// Reads a whole file of at most `max` bytes; `Ok(None)` when it does not exist.
    fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError>;
    /// Whether `path` exists as a regular file.
    fn has_file(&self, path: &str) -> bool;
    /// Opens a file for streaming.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ImageError>;
}

fn too_large(path: &str, max: u64) -> ImageError {
    ImageError::Invalid(format!("{path} is larger than {max} bytes"))
}

fn read_bounded<R: Read>(reader: R, path: &str, max: u64) -> Result<Vec<u8>, ImageError> {
    let mut buf = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ImageError::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(too_large(path, max));
    }
    Ok(buf)
}

/// An OCI image layout directory.
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: &Path) -> DirStore {
        DirStore {
            root: root.to_path_buf(),
        }
    }

    fn locate(&self, rel: &str) -> Result<PathBuf, ImageError> {
        // `rel` comes from constants or validated digests; normalising again keeps a
        // hostile manifest from naming anything outside the layout.
        let clean = path::normalize(rel.as_bytes())
            .map_err(|e| ImageError::Invalid(format!("blob path {rel:?}: {e}")))?;
        Ok(self.root.join(clean))
    }
}

impl Store for DirStore {
    fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let full = self.locate(rel)?;
        match std::fs::metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ImageError::io(rel, e)),
            Ok(m) if !m.is_file() => {
                return Err(ImageError::Invalid(format!("{rel} is not a regular file")));
            }
            Ok(_) => {}
        }
        let file = File::open(&full).map_err(|e| ImageError::io(rel, e))?;
        read_bounded(file, rel, max).map(Some)
    }

    fn has_file(&self, rel: &str) -> bool {
        self.locate(rel)
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.is_file())
    }

    fn open(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let full = self.locate(rel)?;
        match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(ImageError::Invalid(format!("{rel} is not a regular file"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ImageError::MissingBlob(rel.to_string()));
            }
            Err(e) => return Err(ImageError::io(rel, e)),
        }
        let file = File::open(&full).map_err(|e| ImageError::io(rel, e))?;
        Ok(Box::new(file))
    }
}

#[derive(Debug, Clone)]
enum Item {
    File { offset: u64, size: u64 },
    Link(String),
    Dir,
}

/// An uncompressed tar archive on disk, indexed by reading its headers only.
pub struct TarStore {
    file: PathBuf,
    items: HashMap<String, Item>,
}

impl TarStore {
    pub fn index(file: &Path) -> Result<TarStore, ImageError> {
        let display = file.display().to_string();
        let handle = File::open(file).map_err(|e| ImageError::io(&display, e))?;
        let file_len = handle
            .metadata()
            .map_err(|e| ImageError::io(&display, e))?
            .len();
        let mut archive = tar::Archive::new(handle);
        let mut items = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| ImageError::Invalid(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| ImageError::Invalid(format!("reading the archive: {e}")))?;
            if items.len() >= MAX_ARCHIVE_ENTRIES {
                return Err(ImageError::Invalid(format!(
                    "the archive holds more than {MAX_ARCHIVE_ENTRIES} entries"
                )));
            }
            let name = path::normalize(&entry.path_bytes())
                .map_err(|e| ImageError::Invalid(format!("archive entry: {e}")))?;
            let kind = entry.header().entry_type();
            let item = if kind.is_file() || kind == tar::EntryType::Continuous {
                let (offset, size) = (entry.raw_file_position(), entry.size());
                // Seeking past the end of the file is not an error, so a truncated
                // archive would otherwise index as if whole.
                if offset.saturating_add(size) > file_len {
                    return Err(ImageError::Invalid(format!(
                        "archive entry {name:?} claims {size} bytes but the archive ends \
                         {} bytes into it: the archive is truncated",
                        file_len.saturating_sub(offset)
                    )));
                }
                Item::File { offset, size }
            } else if kind.is_symlink() {
                let target = entry.link_name_bytes().unwrap_or_default();
                Item::Link(path::resolve_link(
                    path::parent(&name),
                    &path::display_bytes(&target),
                ))
            } else if kind.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                Item::Link(
                    path::normalize(&target)
                        .map_err(|e| ImageError::Invalid(format!("archive entry: {e}")))?,
                )
            } else if kind.is_dir() {
                Item::Dir
            } else {
                continue;
            };
            items.insert(name, item);
        }
        if items.is_empty() {
            return Err(ImageError::Invalid("the archive is empty".into()));
        }
        Ok(TarStore {
            file: file.to_path_buf(),
            items,
        })
    }

    fn lookup(&self, name: &str) -> Result<Option<(u64, u64)>, ImageError> {
        let mut current = name.to_string();
        for _ in 0..MAX_LINK_HOPS {
            match self.items.get(&current) {
                None => return Ok(None),
                Some(Item::File { offset, size }) => return Ok(Some((*offset, *size))),
                Some(Item::Dir) => {
                    return Err(ImageError::Invalid(format!("{name} is a directory")));
                }
                Some(Item::Link(target)) => current = target.clone(),
            }
        }
        Err(ImageError::Invalid(format!(
            "{name}: too many levels of links"
        )))
    }

    fn open_at(
        &self,
        name: &str,
        offset: u64,
        size: u64,
    ) -> Result<std::io::Take<File>, ImageError> {
        let mut f = File::open(&self.file).map_err(|e| ImageError::io(name, e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| ImageError::io(name, e))?;
        Ok(f.take(size))
    }
}

impl Store for TarStore {
    fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let Some((offset, size)) = self.lookup(name)? else {
            return Ok(None);
        };
        if size > max {
            return Err(too_large(name, max));
        }
        let reader = self.open_at(name, offset, size)?;
        let data = read_bounded(reader, name, max)?;
        if (data.len() as u64) < size {
            return Err(ImageError::Invalid(format!("{name} is truncated")));
        }
        Ok(Some(data))
    }

    fn has_file(&self, name: &str) -> bool {
        matches!(self.lookup(name), Ok(Some(_)))
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let Some((offset, size)) = self.lookup(name)? else {
            return Err(ImageError::MissingBlob(name.to_string()));
        };
        Ok(Box::new(self.open_at(name, offset, size)?))
    }
}
