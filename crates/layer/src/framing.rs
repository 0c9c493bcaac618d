//! A guard in front of the tar reader: it follows the stream's framing (headers, GNU sparse
//! extension blocks, data padded to 512 bytes) as the `tar` crate does, and refuses an
//! extension entry that would be read whole into memory before anything could check it: a
//! GNU long name or long link (`L`, `K`) or a PAX header (`x`, `g`) larger than
//! [`MAX_EXTENSION`]. Without it a 1 GB long name costs a gigabyte before the name-length
//! check sees it.
//!
//! The guard only watches; the bytes pass through unchanged. When it cannot make sense of a
//! header (a size field that is not a number) it stops watching and lets the tar reader
//! report the damage in its own words.

use std::io::{self, Read};

/// The largest GNU long name, long link or PAX extension entry accepted: far above any
/// real one (a path is at most 4096 bytes; PAX records of a real entry fit in a few KiB).
pub const MAX_EXTENSION: u64 = 1 << 20;

const BLOCK: u64 = 512;

#[derive(Debug, thiserror::Error)]
#[error(
    "tar {what} entry of {size} bytes, more than the {MAX_EXTENSION} accepted (it would be held in memory whole)"
)]
pub struct ExtensionTooLarge {
    pub what: &'static str,
    pub size: u64,
}

enum State {
    /// Collecting the 512-byte header that starts at `start`.
    Header { start: u64 },
    /// Collecting a GNU sparse extension block.
    SparseExtension { start: u64, data: u64 },
    /// Passing data through until `end`; when `pax` is set, keeping the bytes of a PAX
    /// extension entry to learn the `size` it gives the next entry.
    Data { end: u64, pax: bool },
    /// Past the end of the archive, or lost: bytes pass unwatched.
    Unwatched,
}

pub struct Guard<R> {
    inner: R,
    pos: u64,
    state: State,
    block: Vec<u8>,
    pax: Vec<u8>,
    /// The size a PAX header gave the next (non-extension) entry.
    pax_size: Option<u64>,
}

impl<R: Read> Guard<R> {
    pub fn new(inner: R) -> Guard<R> {
        Guard {
            inner,
            pos: 0,
            state: State::Header { start: 0 },
            block: Vec::with_capacity(BLOCK as usize),
            pax: Vec::new(),
            pax_size: None,
        }
    }

    /// Follows the framing over `data`, which starts at `self.pos`.
    fn watch(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.state {
                State::Unwatched => return Ok(()),
                State::Header { .. } | State::SparseExtension { .. } => {
                    let want = BLOCK as usize - self.block.len();
                    let take = want.min(data.len());
                    self.block.extend_from_slice(&data[..take]);
                    self.pos += take as u64;
                    data = &data[take..];
                    if self.block.len() == BLOCK as usize {
                        let block = std::mem::take(&mut self.block);
                        self.block_done(&block)?;
                        self.block = block;
                        self.block.clear();
                    }
                }
                State::Data { end, pax } => {
                    let take = ((end - self.pos) as usize).min(data.len());
                    if pax {
                        self.pax.extend_from_slice(&data[..take]);
                    }
                    self.pos += take as u64;
                    data = &data[take..];
                    if self.pos == end {
                        if pax {
                            self.pax_size = pax_size(&self.pax);
                            self.pax.clear();
                        }
                        self.state = State::Header { start: end };
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole header or sparse extension block has been seen.
    fn block_done(&mut self, block: &[u8]) -> io::Result<()> {
        match self.state {
            State::Header { start } => {
                if block.iter().all(|&b| b == 0) {
                    // The end of the archive for the tar reader (it does not skip zeros).
                    self.state = State::Unwatched;
                    return Ok(());
                }
                let Some(header_size) = octal_or_binary(&block[124..136]) else {
                    self.state = State::Unwatched;
                    return Ok(());
                };
                let kind = block[156];
                let extension = matches!(kind, b'L' | b'K' | b'x' | b'g');
                let size = if extension {
                    header_size
                } else {
                    self.pax_size.take().unwrap_or(header_size)
                };
                if extension && size > MAX_EXTENSION {
                    let what = match kind {
                        b'L' => "GNU long name",
                        b'K' => "GNU long link",
                        b'x' => "PAX header",
                        _ => "PAX global header",
                    };
                    return Err(io::Error::other(ExtensionTooLarge { what, size }));
                }
                let data_start = start + BLOCK;
                // A GNU sparse entry: extension blocks follow when byte 482 says so.
                if kind == b'S' && block[482] != 0 {
                    self.state = State::SparseExtension {
                        start: data_start,
                        data: size,
                    };
                    return Ok(());
                }
                self.enter_data(data_start, size, kind == b'x');
            }
            State::SparseExtension { start, data } => {
                let next = start + BLOCK;
                if block[504] != 0 {
                    self.state = State::SparseExtension { start: next, data };
                } else {
                    self.enter_data(next, data, false);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn enter_data(&mut self, start: u64, size: u64, pax: bool) {
        let Some(end) = size
            .checked_add(BLOCK - 1)
            .map(|s| s / BLOCK * BLOCK)
            .and_then(|padded| start.checked_add(padded))
        else {
            self.state = State::Unwatched;
            return;
        };
        self.state = if end == start {
            State::Header { start }
        } else {
            State::Data { end, pax }
        };
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.watch(&buf[..n])?;
        Ok(n)
    }
}

/// A numeric header field: octal text (NUL or space terminated), or GNU's base-256 form
/// (high bit of the first byte set).
fn octal_or_binary(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(value);
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// The `size` record of PAX extension data (`NN size=1234\n`), as the tar reader uses it.
fn pax_size(data: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(data);
    let mut size = None;
    for record in text.split('\n') {
        let Some((_, kv)) = record.split_once(' ') else {
            continue;
        };
        if let Some(value) = kv.strip_prefix("size=") {
            size = value.trim().parse().ok();
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all_through_guard(data: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        Guard::new(Chunked(data, chunk)).read_to_end(&mut out)?;
        Ok(out)
    }

    /// An archive with every kind of framing: long names (GNU and PAX), a PAX size, plain
    /// files and directories; the guard passes it unchanged at any read size, and the tar
    /// reader behind it lists the same entries.
    #[test]
    fn real_archives_pass_unchanged() {
        let mut builder = tar::Builder::new(Vec::new());
        let long = format!("dir/{}", "n".repeat(300));
        for (name, body) in [
            ("a.txt", &b"hello"[..]),
            (long.as_str(), &b"long name body"[..]),
            ("dir/empty", &b""[..]),
            ("dir/block", &[7u8; 512][..]),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, body).unwrap();
        }
        let mut pax = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_cksum();
        pax.append_pax_extensions([("path", &b"pax/name"[..])])
            .unwrap();
        pax.append_data(&mut header, "short", &b"abc"[..]).unwrap();
        for data in [builder.into_inner().unwrap(), pax.into_inner().unwrap()] {
            for chunk in [1, 7, 511, 512, 513, 4096, 1 << 20] {
                assert_eq!(read_all_through_guard(&data, chunk).unwrap(), data);
            }
            let names: Vec<String> = tar::Archive::new(Guard::new(&data[..]))
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            let plain: Vec<String> = tar::Archive::new(&data[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            assert_eq!(names, plain);
        }
    }

    fn extension(kind: u8, size: u64) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_path("././@LongLink").unwrap();
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        header.as_bytes().to_vec()
    }

    /// A long name, long link or PAX header that claims more than the limit is refused at
    /// its header, before a byte of it is kept.
    #[test]
    fn oversized_extension_entries_are_refused_at_their_header() {
        for kind in [b'L', b'K', b'x', b'g'] {
            let mut data = extension(kind, 1 << 30);
            data.extend_from_slice(&[b'a'; 4096]);
            let err = read_all_through_guard(&data, 4096).unwrap_err();
            let inner = err.get_ref().unwrap().downcast_ref::<ExtensionTooLarge>();
            assert_eq!(inner.map(|e| e.size), Some(1 << 30), "{}", kind as char);
            // At the limit it passes.
            let mut ok = extension(kind, 100);
            ok.extend_from_slice(&[b'a'; 512]);
            ok.extend_from_slice(&[0u8; 1024]);
            assert!(read_all_through_guard(&ok, 100).is_ok());
        }
    }

    /// After a PAX header that gives the next entry a size, the guard follows that size:
    /// a long name hidden after a file whose header size lies is still seen.
    #[test]
    fn a_pax_size_moves_the_next_header() {
        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("size", &b"1024"[..])]).unwrap();
        let mut data = pax.into_inner().unwrap();
        // Strip the builder's end-of-archive blocks.
        while data.len() >= 512 && data[data.len() - 512..].iter().all(|&b| b == 0) {
            data.truncate(data.len() - 512);
        }
        let mut file = tar::Header::new_ustar();
        file.set_path("f").unwrap();
        file.set_size(0);
        file.set_mode(0o644);
        file.set_cksum();
        data.extend_from_slice(file.as_bytes());
        data.extend_from_slice(&[b'z'; 1024]);
        data.extend_from_slice(&extension(b'L', 1 << 30));
        let err = read_all_through_guard(&data, 333).unwrap_err();
        assert!(err.to_string().contains("GNU long name"), "{err}");
    }
}
