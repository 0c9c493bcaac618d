//! Keeping the layer blobs a scan reads: the one pass over an image that `harden` makes both
//! scans every layer and copies its blob, byte for byte, into the directory the new image is
//! assembled in. The copy is named by the digest the scan computed, which the acquire stage
//! then checks against the manifest like any other.

use crate::{LayerScanner, model::LayerInfo};
use portcullis_layer::{Budget, LayerError, ScannedLayer};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A [`LayerScanner`] that scans through `inner` and keeps each blob it reads under
/// `dir/blobs/sha256/HEX`. It never takes a report from a cache: a cached layer is not read,
/// so its blob would not be kept.
pub struct Keeping<'a, R> {
    pub inner: &'a dyn LayerScanner<R>,
    pub dir: &'a Path,
}

/// Where a blob of `digest` (`sha256:HEX`) lives under an OCI layout's root.
pub fn blob_file(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    root.join("blobs").join("sha256").join(hex)
}

impl<R> LayerScanner<R> for Keeping<'_, R> {
    fn scan(
        &self,
        raw: Box<dyn Read + Send + '_>,
        max_blob_size: u64,
        budget: &Budget,
    ) -> Result<ScannedLayer<R>, LayerError> {
        let blobs = self.dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(LayerError::Read)?;
        let tmp = tempfile::NamedTempFile::new_in(&blobs).map_err(LayerError::Read)?;
        let copy = tmp.reopen().map_err(LayerError::Read)?;
        let tee = Tee {
            inner: raw,
            out: BufWriter::with_capacity(256 * 1024, copy),
        };
        let scanned = self.inner.scan(Box::new(tee), max_blob_size, budget)?;
        tmp.persist(blob_file(self.dir, &scanned.digest))
            .map_err(|e| LayerError::Read(e.error))?;
        Ok(scanned)
    }

    fn remember(&self, layer: &LayerInfo, report: &R) -> Result<(), String> {
        self.inner.remember(layer, report)
    }
}

/// Copies every byte read through it to `out`; the copy is complete when the reader has
/// been read to its end, and flushed when it is dropped.
struct Tee<R, W: Write> {
    inner: R,
    out: BufWriter<W>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        if n == 0 {
            self.out.flush()?;
        }
        Ok(n)
    }
}
