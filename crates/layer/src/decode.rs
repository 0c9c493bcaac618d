//! Reading a layer blob: hashing bytes as they pass, recognising the compression by its
//! magic bytes, and decompressing.

use portcullis_model::image::Compression;
use sha2::{Digest as _, Sha256};
use std::io::{self, BufReader, Read, Write};

/// Formats a finished SHA-256 as an OCI digest string.
pub fn sha256_digest(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// SHA-256 of a byte slice as an OCI digest string.
pub fn sha256_of(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    sha256_digest(h)
}

/// A reader that hashes and counts everything read through it, and fails once more than
/// `limit` bytes have passed (a blob longer than its descriptor says, or a stream larger
/// than the scan allows).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    limit: u64,
    what: &'static str,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
            limit,
            what,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn finish(self) -> (String, u64) {
        (sha256_digest(self.hasher), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(LimitExceeded {
                what: self.what,
                limit: self.limit,
            }));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{what} is larger than {limit} bytes")]
pub struct LimitExceeded {
    pub what: &'static str,
    pub limit: u64,
}

/// A reader with its first bytes already read, so that they can be looked at and still be
/// read again.
pub struct Peeked<R> {
    head: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R: Read> Peeked<R> {
    /// Reads up to `n` bytes (fewer only at end of stream).
    pub fn new(mut inner: R, n: usize) -> io::Result<Self> {
        let mut head = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            let got = inner.read(&mut head[filled..])?;
            if got == 0 {
                break;
            }
            filled += got;
        }
        head.truncate(filled);
        Ok(Peeked {
            head,
            pos: 0,
            inner,
        })
    }

    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Peeked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Wraps `raw` in the decompressor `compression` calls for. Gzip members may be
/// concatenated (as `pigz` and some registries write them).
pub fn decompressor<'a, R: Read + 'a>(
    raw: R,
    compression: Compression,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            raw,
        ))),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(raw)?;
            // Accept the window sizes `zstd --long` writes (up to 2 GiB would be allowed by
            // the format; 128 MiB bounds memory).
            d.window_log_max(27)?;
            Box::new(d)
        }
    })
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the hash of what was written and its length.
    pub fn into_parts(self) -> (W, Sha256, u64) {
        (self.inner, self.hasher, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
