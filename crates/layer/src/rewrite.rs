//! Rewriting one layer: the tar stream copied entry by entry, with some entries removed and
//! some permission bits changed, into a new gzip-compressed blob. Nothing is extracted; the
//! stream is read under the same path rules and bounds as a scan, and the output is
//! deterministic (the input's entries in the input's order, a fixed gzip level and header).

use crate::decode::{self, HashingReader, HashingWriter, Peeked};
use crate::{Budget, LayerError};
use portcullis_model::image::Compression;
use portcullis_model::path;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use tar::{EntryType, Header};

/// The gzip level of rewritten layers: fixed, so that the same input gives the same blob.
pub const GZIP_LEVEL: u32 = 6;

/// What becomes of one entry, by its normalised path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// The entry is left out of the new layer.
    Remove,
    /// The entry keeps everything but its permission bits, which become these (`0o7777`).
    Mode(u32),
}

/// A rewritten layer: the new blob's digests and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// SHA-256 of the gzip blob written.
    pub digest: String,
    pub size: u64,
    /// SHA-256 of the new uncompressed tar stream.
    pub diff_id: String,
    /// The edits that found their entry, by path; an edit whose path the layer does not
    /// hold is not here.
    pub applied: BTreeMap<String, Edit>,
}

/// Copies the layer blob `raw` to `out` as a gzip-compressed tar, applying `edits`.
/// `max_blob_size` bounds the bytes read, as for a scan; every entry counts against
/// `budget`.
pub fn rewrite_layer<W: Write>(
    raw: impl Read,
    max_blob_size: u64,
    edits: &BTreeMap<String, Edit>,
    out: W,
    budget: &Budget,
) -> Result<Rewritten, LayerError> {
    let hashing = HashingReader::new(raw, max_blob_size, "the layer blob");
    let peeked = Peeked::new(hashing, 512).map_err(LayerError::Read)?;
    let compression = if peeked.head().is_empty() {
        Compression::None
    } else {
        Compression::sniff(peeked.head()).ok_or(LayerError::UnknownFormat)?
    };
    let decoded = decode::decompressor(peeked, compression).map_err(LayerError::Read)?;
    let mut archive = tar::Archive::new(crate::framing::Guard::new(decoded));

    let blob = HashingWriter::new(out);
    let gzip = flate2::GzBuilder::new().write(blob, flate2::Compression::new(GZIP_LEVEL));
    let mut builder = tar::Builder::new(HashingWriter::new(gzip));
    let mut applied = BTreeMap::new();
    for item in archive.entries().map_err(LayerError::Tar)? {
        let mut entry = item.map_err(LayerError::Tar)?;
        budget.count_entry()?;
        let raw_path = entry.path_bytes().into_owned();
        let normal = path::normalize(&raw_path).map_err(LayerError::Path)?;
        let mut header = entry.header().clone();
        let size = entry.size();
        if size > budget.limits.max_entry_size {
            return Err(LayerError::EntryTooLarge {
                path: normal,
                size,
                limit: budget.limits.max_entry_size,
            });
        }
        match edits.get(&normal) {
            Some(Edit::Remove) => {
                applied.insert(normal, Edit::Remove);
                continue;
            }
            Some(&Edit::Mode(bits)) => {
                let old = header.mode().map_err(LayerError::Tar)?;
                header.set_mode((old & !0o7777) | (bits & 0o7777));
                applied.insert(normal.clone(), Edit::Mode(bits));
            }
            None => {}
        }
        if header.entry_type() == EntryType::GNUSparse {
            // Its holes would be written out as zeros: refused rather than inflated.
            return Err(LayerError::Tar(io::Error::other(format!(
                "{normal:?} is a sparse file, which a rewritten layer cannot carry"
            ))));
        }
        let extensions = kept_extensions(&mut entry)?;
        let writer = builder.get_mut();
        if !extensions.is_empty() {
            append_pax(writer, &extensions).map_err(LayerError::Tar)?;
        }
        let name = output_name(&raw_path, &normal);
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let written = match (header.entry_type(), link) {
            (EntryType::Symlink | EntryType::Link, Some(target)) => {
                builder.append_link(&mut header, &name, bytes_path(&target))
            }
            _ => builder.append_data(&mut header, &name, &mut entry),
        };
        written.map_err(|e| LayerError::Tar(io::Error::new(e.kind(), format!("{normal}: {e}"))))?;
    }
    let tar_hashing = builder.into_inner().map_err(LayerError::Tar)?;
    let (gzip, tar_hasher, _) = tar_hashing.into_parts();
    let blob = gzip.finish().map_err(LayerError::Tar)?;
    let (mut out, blob_hasher, size) = blob.into_parts();
    out.flush().map_err(LayerError::Tar)?;
    Ok(Rewritten {
        digest: decode::sha256_digest(blob_hasher),
        size,
        diff_id: decode::sha256_digest(tar_hasher),
        applied,
    })
}

/// One entry of a layer made from nothing: a directory, or a file with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Normalised path.
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// `None` for a directory.
    pub content: Option<Vec<u8>>,
}

/// A new layer holding `entries`, as a gzip blob: its bytes, digest and diff_id. Names
/// sorted, modification times at the epoch, no owner names: the same entries give the
/// same bytes.
pub fn new_layer(entries: &[NewEntry]) -> io::Result<(Vec<u8>, String, String)> {
    let mut sorted: Vec<&NewEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let gzip = flate2::GzBuilder::new().write(
        HashingWriter::new(Vec::new()),
        flate2::Compression::new(GZIP_LEVEL),
    );
    let mut builder = tar::Builder::new(HashingWriter::new(gzip));
    for entry in sorted {
        let mut header = Header::new_ustar();
        header.set_mode(entry.mode & 0o7777);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(0);
        match &entry.content {
            Some(data) => {
                header.set_entry_type(EntryType::Regular);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, &entry.path, data.as_slice())?;
            }
            None => {
                header.set_entry_type(EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, format!("{}/", entry.path), io::empty())?;
            }
        }
    }
    let (gzip, tar_hasher, _) = builder.into_inner()?.into_parts();
    let (blob, _, _) = gzip.finish()?.into_parts();
    let digest = decode::sha256_of(&blob);
    Ok((blob, digest, decode::sha256_digest(tar_hasher)))
}

/// The name written for an entry: its own bytes (so that names that are not UTF-8 survive),
/// without the leading `/` tar refuses; the normalised path when tar refuses those bytes.
fn output_name(raw: &[u8], normal: &str) -> std::path::PathBuf {
    let trimmed: &[u8] = {
        let mut r = raw;
        while let [b'/', rest @ ..] = r {
            r = rest;
        }
        r
    };
    let has_parent = trimmed.split(|&b| b == b'/').any(|c| c == b"..");
    if trimmed.is_empty() {
        "./".into()
    } else if has_parent {
        normal.into()
    } else {
        bytes_path(trimmed).to_path_buf()
    }
}

fn bytes_path(bytes: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// A PAX record: its key and its value, as bytes.
type PaxRecord = (Vec<u8>, Vec<u8>);

/// The entry's PAX records other than those the builder writes itself (path, link name,
/// size): extended attributes (file capabilities), fine timestamps, large ids.
fn kept_extensions<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<PaxRecord>, LayerError> {
    let Some(extensions) = entry.pax_extensions().map_err(LayerError::Tar)? else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    for extension in extensions {
        let extension = extension.map_err(LayerError::Tar)?;
        let key = extension.key_bytes();
        if matches!(key, b"path" | b"linkpath" | b"size") {
            continue;
        }
        kept.push((key.to_vec(), extension.value_bytes().to_vec()));
    }
    Ok(kept)
}

/// A PAX extended header (`x`) holding `records`, for the entry that follows.
fn append_pax(out: &mut dyn Write, records: &[PaxRecord]) -> io::Result<()> {
    let mut data = Vec::new();
    for (key, value) in records {
        // "LEN KEY=VALUE\n", where LEN counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + rest.to_string().len();
        if len.to_string().len() != rest.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} ").as_bytes());
        data.extend_from_slice(key);
        data.push(b'=');
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut header = Header::new_ustar();
    header.set_entry_type(EntryType::XHeader);
    header.set_path("././@PaxHeader")?;
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(&data)?;
    let pad = (512 - data.len() % 512) % 512;
    out.write_all(&vec![0u8; pad])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, mode, data) in entries {
            let mut header = Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(1_700_000_000);
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn listing(blob: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let decoded = decode::decompressor(blob, Compression::Gzip).unwrap();
        let mut archive = tar::Archive::new(decoded);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let mode = e.header().mode().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, mode, data)
            })
            .collect()
    }

    #[test]
    fn edits_remove_entries_and_change_modes_and_keep_the_rest() {
        let input = layer(&[
            ("./usr/bin/tool", 0o4755, b"elf"),
            ("./app/.env", 0o644, b"TOKEN=s3cr3t"),
            ("./srv/upload/", 0o777, b""),
            ("./app/main", 0o755, b"run"),
        ]);
        let edits = BTreeMap::from([
            ("usr/bin/tool".to_string(), Edit::Mode(0o755)),
            ("app/.env".to_string(), Edit::Remove),
            ("srv/upload".to_string(), Edit::Mode(0o775)),
            ("not/there".to_string(), Edit::Remove),
        ]);
        let mut out = Vec::new();
        let budget = Budget::default();
        let done = rewrite_layer(&input[..], u64::MAX, &edits, &mut out, &budget).unwrap();
        assert_eq!(done.applied.len(), 3);
        assert!(!done.applied.contains_key("not/there"));
        assert_eq!(done.digest, decode::sha256_of(&out));
        assert_eq!(done.size, out.len() as u64);
        let entries = listing(&out);
        let names: Vec<(&str, u32)> = entries.iter().map(|(n, m, _)| (n.as_str(), *m)).collect();
        assert_eq!(
            names,
            [
                ("usr/bin/tool", 0o755),
                ("srv/upload/", 0o775),
                ("app/main", 0o755)
            ]
        );
        assert!(!out.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(entries[2].2, b"run");

        // The same input and edits give the same bytes.
        let mut again = Vec::new();
        rewrite_layer(&input[..], u64::MAX, &edits, &mut again, &budget).unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn extended_attributes_and_long_names_survive() {
        let long = format!("./opt/{}/bin/x", "d".repeat(150));
        let mut builder = tar::Builder::new(Vec::new());
        append_pax(
            builder.get_mut(),
            &[(
                b"SCHILY.xattr.security.capability".to_vec(),
                b"\x01\x02".to_vec(),
            )],
        )
        .unwrap();
        let mut header = Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o755);
        builder.append_data(&mut header, &long, &b"ok"[..]).unwrap();
        let input = builder.into_inner().unwrap();
        let mut out = Vec::new();
        rewrite_layer(
            &input[..],
            u64::MAX,
            &BTreeMap::new(),
            &mut out,
            &Budget::default(),
        )
        .unwrap();
        let decoded = decode::decompressor(&out[..], Compression::Gzip).unwrap();
        let mut archive = tar::Archive::new(decoded);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(
            path::normalize(&entry.path_bytes()).unwrap(),
            path::normalize(long.as_bytes()).unwrap()
        );
        let pax: Vec<(String, Vec<u8>)> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.key().unwrap().to_string(), e.value_bytes().to_vec())
            })
            .collect();
        assert_eq!(
            pax,
            [("SCHILY.xattr.security.capability".to_string(), vec![1, 2])]
        );
    }
}
