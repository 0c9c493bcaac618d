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

/// Links followed inside a layout directory (the kernel's limit).
const MAX_DIR_LINK_HOPS: usize = 40;
/// Entries looked at when checking that a hard-linked blob's other names are all inside
/// the layout directory.
const MAX_LINK_SCAN_ENTRIES: usize = 100_000;

/// An OCI image layout directory.
///
/// The layout is as hostile as the image: a blob, `index.json` or `oci-layout` that is a
/// symbolic link is resolved component by component without following anything outside the
/// layout directory (an absolute target is accepted only when it names a path inside it),
/// a hard link is accepted only when every name of the file is inside the layout, and
/// anything but a regular file (a device, a FIFO, a socket, a directory) is refused. Errors
/// name the file in the layout, never what its target holds.
pub struct DirStore {
    /// The layout directory with its own links resolved (the user chose it), to tell
    /// whether an absolute link target stays inside.
    real_root: PathBuf,
}

/// A layout file, resolved inside the layout: where it is and what it was when checked.
struct Located {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl DirStore {
    pub fn new(root: &Path) -> DirStore {
        DirStore {
            real_root: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
        }
    }

    /// Resolves `rel` inside the layout; `Ok(None)` when it does not exist.
    fn locate(&self, rel: &str) -> Result<Option<Located>, ImageError> {
        use std::collections::VecDeque;
        use std::os::unix::fs::MetadataExt;
        // `rel` comes from constants or validated digests; normalising again keeps a
        // hostile manifest from naming anything outside the layout.
        let clean = path::normalize(rel.as_bytes())
            .map_err(|e| ImageError::Invalid(format!("blob path {rel:?}: {e}")))?;
        let mut remaining: VecDeque<String> = clean.split('/').map(str::to_string).collect();
        let mut resolved = self.real_root.clone();
        let mut depth = 0usize;
        let mut hops = 0usize;
        let outside = || {
            ImageError::Invalid(format!(
                "{rel} in the OCI layout is a symbolic link that leads outside the layout \
                 directory; refusing to follow it"
            ))
        };
        while let Some(part) = remaining.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if depth == 0 {
                        return Err(outside());
                    }
                    resolved.pop();
                    depth -= 1;
                    continue;
                }
                _ => {}
            }
            let candidate = resolved.join(&part);
            let meta = match std::fs::symlink_metadata(&candidate) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
                Err(e) => return Err(ImageError::io(rel, e)),
            };
            if !meta.file_type().is_symlink() {
                resolved = candidate;
                depth += 1;
                continue;
            }
            hops += 1;
            if hops > MAX_DIR_LINK_HOPS {
                return Err(ImageError::Invalid(format!(
                    "{rel} in the OCI layout: too many levels of symbolic links"
                )));
            }
            let target = std::fs::read_link(&candidate).map_err(|e| ImageError::io(rel, e))?;
            let rest: Vec<String> = if target.is_absolute() {
                let inside = target
                    .strip_prefix(&self.real_root)
                    .map_err(|_| outside())?;
                resolved = self.real_root.clone();
                depth = 0;
                inside
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect()
            } else {
                target
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect()
            };
            for component in rest.into_iter().rev() {
                remaining.push_front(component);
            }
        }
        let meta = std::fs::symlink_metadata(&resolved).map_err(|e| ImageError::io(rel, e))?;
        let kind = meta.file_type();
        if !kind.is_file() {
            return Err(ImageError::Invalid(format!(
                "{rel} in the OCI layout is {}, not a regular file",
                describe_kind(&kind)
            )));
        }
        if meta.nlink() > 1 {
            let inside = self.links_inside(meta.dev(), meta.ino());
            if inside < meta.nlink() {
                return Err(ImageError::Invalid(format!(
                    "{rel} in the OCI layout is a hard link to a file that also has names \
                     outside the layout directory; refusing to read it (copy the layout \
                     without hard links)"
                )));
            }
        }
        Ok(Some(Located {
            path: resolved,
            dev: meta.dev(),
            ino: meta.ino(),
        }))
    }

    /// How many names inside the layout directory the file `(dev, ino)` has (bounded).
    fn links_inside(&self, dev: u64, ino: u64) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let mut found = 0;
        let mut seen = 0usize;
        let mut stack = vec![self.real_root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                seen += 1;
                if seen > MAX_LINK_SCAN_ENTRIES {
                    return found;
                }
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(entry.path());
                } else if meta.is_file() && meta.dev() == dev && meta.ino() == ino {
                    found += 1;
                }
            }
        }
        found
    }

    /// Opens a located file, checking it is still the file that was checked.
    fn open_located(&self, rel: &str, located: &Located) -> Result<File, ImageError> {
        use std::os::unix::fs::MetadataExt;
        let file = File::open(&located.path).map_err(|e| ImageError::io(rel, e))?;
        let meta = file.metadata().map_err(|e| ImageError::io(rel, e))?;
        if meta.dev() != located.dev || meta.ino() != located.ino {
            return Err(ImageError::Invalid(format!(
                "{rel} in the OCI layout changed while it was being opened"
            )));
        }
        Ok(file)
    }
}

/// "a directory", "a FIFO" ...: what a non-regular layout file is.
fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

impl Store for DirStore {
    fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let Some(located) = self.locate(rel)? else {
            return Ok(None);
        };
        let file = self.open_located(rel, &located)?;
        read_bounded(file, rel, max).map(Some)
    }

    /// A file that is there but refused counts as present, so that reading it says why.
    fn has_file(&self, rel: &str) -> bool {
        !matches!(self.locate(rel), Ok(None))
    }

    fn open(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let Some(located) = self.locate(rel)? else {
            return Err(ImageError::MissingBlob(rel.to_string()));
        };
        Ok(Box::new(self.open_located(rel, &located)?))
    }
}

#[derive(Debug, Clone)]
enum Item {
    File {
        offset: u64,
        size: u64,
    },
    Link(String),
    Dir,
    /// A device, FIFO or other entry that is not a file: present, never read.
    Special(&'static str),
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
            } else if kind.is_fifo() {
                Item::Special("a FIFO")
            } else if kind.is_character_special() {
                Item::Special("a character device")
            } else if kind.is_block_special() {
                Item::Special("a block device")
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
                Some(Item::Special(what)) => {
                    return Err(ImageError::Invalid(format!(
                        "{name} in the archive is {what}, not a regular file"
                    )));
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
