//! Walking the tar stream of one layer: entries, whiteouts, links and bounds.

use crate::analyzer::{Analyzer, Interest};
use crate::entry::{Entry, EntryKind, Listing, Note, Special};
use crate::{Budget, LayerError};
use portcullis_model::path;
use std::io::Read;
use tar::EntryType;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Size of the pieces content is handed to analyzers in.
const READ_CHUNK: usize = 64 * 1024;
/// Capacity of the whole-content buffer kept between entries.
const RETAINED_WHOLE: usize = 4 << 20;

/// Reads every entry of the tar stream, feeding `analyzers`, and returns what the layer
/// lists. The analyzers keep what they found; their owner collects it when the walk ends.
pub fn walk<R: Read, A: Analyzer + ?Sized>(
    reader: R,
    analyzers: &mut [Box<A>],
    budget: &Budget,
) -> Result<Listing, LayerError> {
    let mut report = Listing::default();
    // The guard refuses extension entries the tar reader would hold whole in memory.
    let mut archive = tar::Archive::new(crate::framing::Guard::new(reader));
    let mut whole_buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut interests: Vec<Interest> = Vec::with_capacity(analyzers.len());

    // The last file entry, to name it when the stream ends inside (or right after) it.
    let mut last_file: Option<(String, u64)> = None;
    for item in archive.entries().map_err(LayerError::Tar)? {
        let mut tar_entry = item.map_err(|e| truncated_or(e, &last_file))?;
        budget.count_entry()?;
        report.tar_entries += 1;

        let raw_path = tar_entry.path_bytes().into_owned();
        let path = path::normalize(&raw_path).map_err(LayerError::Path)?;
        let header = tar_entry.header();
        let size = tar_entry.size();
        if size > budget.limits.max_entry_size {
            return Err(LayerError::EntryTooLarge {
                path,
                size,
                limit: budget.limits.max_entry_size,
            });
        }

        // A GNU sparse file's holes are not in the stream: the tar reader would make them up
        // as zeros, terabytes of them from a few bytes of header. They count against the
        // uncompressed-size limit as declared, and the file's content is not read.
        let sparse = header.entry_type() == EntryType::GNUSparse;
        if sparse {
            let stored = header.entry_size().unwrap_or(0);
            budget
                .count_bytes(size.saturating_sub(stored))
                .map_err(LayerError::Read)?;
        }
        let kind = match header.entry_type() {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => EntryKind::File,
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink => EntryKind::Symlink,
            EntryType::Link => EntryKind::Hardlink,
            EntryType::Char => EntryKind::Char,
            EntryType::Block => EntryKind::Block,
            EntryType::Fifo => EntryKind::Fifo,
            other => {
                report.notes.push(Note {
                    path: Some(path),
                    message: format!("skipped tar entry of type {:?}", other.as_byte() as char),
                });
                continue;
            }
        };

        let name = path::file_name(&path);
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let dir = path::parent(&path);
            if name == OPAQUE_MARKER {
                report.opaque_dirs.push(dir.to_string());
            } else if hidden.starts_with(WHITEOUT_PREFIX) {
                // Other `.wh..wh.` names are aufs bookkeeping (hard-link directories,
                // `.wh..wh.aufs`) and hide nothing.
            } else if let Some(why) = malformed_whiteout(hidden) {
                return Err(LayerError::MalformedWhiteout { path, why });
            } else if dir.is_empty() {
                report.whiteouts.push(hidden.to_string());
            } else {
                report.whiteouts.push(format!("{dir}/{hidden}"));
            }
            continue;
        }
        if path.is_empty() {
            // The root directory itself (`./`): nothing to record.
            continue;
        }

        let special = match kind {
            EntryKind::Symlink => match tar_entry.link_name_bytes() {
                // Linux refuses a symlink target of PATH_MAX bytes or more; so does the walk,
                // before keeping it.
                Some(target) if target.len() > path::MAX_PATH_LEN => {
                    return Err(LayerError::LinkTooLong {
                        path,
                        len: target.len(),
                    });
                }
                Some(target) => Some(Special::Link(path::display_bytes(&target).into())),
                None => None,
            },
            EntryKind::Hardlink => {
                let target = tar_entry.link_name_bytes().unwrap_or_default();
                let target = path::normalize(&target).map_err(|source| LayerError::LinkTarget {
                    path: path.clone(),
                    source,
                })?;
                Some(Special::Link(target.into()))
            }
            EntryKind::Char | EntryKind::Block => Some(Special::Device(
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            )),
            _ => None,
        };
        let uid = owner_id(&path, "uid", header.uid().unwrap_or(0))?;
        let gid = owner_id(&path, "gid", header.gid().unwrap_or(0))?;
        let entry = Entry {
            path: path.into(),
            kind,
            mode: header.mode().unwrap_or(0) & 0o7777,
            uid,
            gid,
            size: if kind == EntryKind::File { size } else { 0 },
            special: special.map(Box::new),
        };

        if kind == EntryKind::File && sparse {
            report.content_bytes += size;
            report.notes.push(Note {
                path: Some(entry.path.to_string()),
                message: format!(
                    "sparse file of {size} bytes: its content was not read (holes are not scanned)"
                ),
            });
            for a in analyzers.iter_mut() {
                a.interest(&entry);
            }
        } else if kind == EntryKind::File {
            report.content_bytes += size;
            last_file = Some((entry.path.to_string(), size));
            feed_content(
                &mut tar_entry,
                &entry,
                analyzers,
                &mut interests,
                &mut whole_buf,
                &mut chunk,
            )
            .map_err(|e| match e {
                LayerError::Tar(io) => truncated_or(io, &last_file),
                other => other,
            })?;
        } else {
            for a in analyzers.iter_mut() {
                a.interest(&entry);
            }
        }
        report.entries.push(entry);
    }

    Ok(report)
}

/// An end of stream inside a file's data is a truncated layer (or a lying size header);
/// other read errors pass through.
fn truncated_or(e: std::io::Error, last_file: &Option<(String, u64)>) -> LayerError {
    let eof =
        e.kind() == std::io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF");
    match last_file {
        Some((path, size)) if eof => LayerError::Truncated {
            path: path.clone(),
            size: *size,
        },
        _ => LayerError::Tar(e),
    }
}

/// Reads a file's content once and hands it to the analyzers that asked for it.
fn feed_content<R: Read, A: Analyzer + ?Sized>(
    content: &mut R,
    entry: &Entry,
    analyzers: &mut [Box<A>],
    interests: &mut Vec<Interest>,
    whole_buf: &mut Vec<u8>,
    chunk: &mut [u8],
) -> Result<(), LayerError> {
    interests.clear();
    interests.extend(analyzers.iter_mut().map(|a| a.interest(entry)));
    let max_whole = interests
        .iter()
        .filter_map(|i| match i {
            Interest::Whole { max } => Some(*max),
            _ => None,
        })
        .max();
    let streaming = interests.contains(&Interest::Stream);
    if max_whole.is_none() && !streaming {
        return Ok(());
    }

    whole_buf.clear();
    let want_whole = max_whole.unwrap_or(0).min(entry.size);
    // One allocation of the final size: growing by doubling would briefly hold the old and
    // the new buffer, up to three times the file (package databases reach 100 MiB).
    whole_buf.reserve_exact(want_whole as usize);
    let mut offset = 0u64;
    loop {
        if !streaming && offset >= want_whole {
            break;
        }
        let n = content.read(chunk).map_err(LayerError::Tar)?;
        if n == 0 {
            break;
        }
        let data = &chunk[..n];
        if streaming {
            for (a, i) in analyzers.iter_mut().zip(interests.iter()) {
                if *i == Interest::Stream {
                    a.chunk(entry, offset, data);
                }
            }
        }
        if offset < want_whole {
            let take = ((want_whole - offset) as usize).min(n);
            whole_buf.extend_from_slice(&data[..take]);
        }
        offset += n as u64;
    }
    for (a, i) in analyzers.iter_mut().zip(interests.iter()) {
        match *i {
            Interest::Whole { max } => {
                let len = (max.min(whole_buf.len() as u64)) as usize;
                a.whole(entry, &whole_buf[..len], entry.size > max);
            }
            Interest::Stream => a.end(entry),
            Interest::None => {}
        }
    }
    if whole_buf.capacity() > RETAINED_WHOLE {
        // A large database is not kept allocated for the rest of the layer.
        *whole_buf = Vec::new();
    }
    Ok(())
}

/// An owner id as Linux holds it. A tar header can claim up to 64 bits (base-256 numbers,
/// PAX records); an extractor handing more than 32 to chown(2) may keep the low 32 bits
/// (2^32 would be root) or fail, so such a header is refused rather than guessed at.
fn owner_id(path: &str, which: &'static str, id: u64) -> Result<u32, LayerError> {
    u32::try_from(id).map_err(|_| LayerError::IdTooLarge {
        path: path.to_string(),
        which,
        id,
    })
}

/// Why a whiteout's hidden name is not a file name, if it is not.
fn malformed_whiteout(hidden: &str) -> Option<&'static str> {
    match hidden {
        "" => Some("'.wh.' with nothing after it names no file"),
        "." => Some("'.wh..' names the directory itself"),
        ".." => Some("'.wh...' names the parent directory"),
        _ => None,
    }
}
