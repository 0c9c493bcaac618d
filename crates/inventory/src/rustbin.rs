//! Rust executables built with cargo-auditable: a `.dep-v0` section holding the crate
//! dependency tree as zlib-compressed JSON (`{"packages":[{"name","version","source",
//! "kind","dependencies","root"}]}`).
//!
//! The executable is streamed, never held: the section is found by its content, a zlib
//! stream whose first inflated bytes are `{"packages":[`. Every valid zlib header in the
//! file is a candidate (about one in 16 KiB of random bytes); a candidate costs one
//! inflate of a few dozen bytes, a real one is then inflated to its end.

use super::PackageRecord;
use flate2::{Decompress, FlushDecompress, Status};
use serde::Deserialize;

const PREFIX: &[u8] = b"{\"packages\":[";
/// Input bytes looked at to decide whether a zlib header starts the dependency list.
const PROBE: usize = 128;
/// Largest inflated dependency list accepted.
const MAX_JSON: usize = 8 << 20;

#[derive(Debug, Deserialize)]
struct DepInfo {
    packages: Vec<Crate>,
}

#[derive(Debug, Deserialize)]
struct Crate {
    name: String,
    version: String,
    #[serde(default)]
    kind: String,
}

/// The crates compiled into the executable: build-time dependencies (build scripts,
/// proc-macros) are left out, as they are not in it.
pub fn parse_json(json: &[u8]) -> Option<Vec<PackageRecord>> {
    let info: DepInfo = serde_json::from_slice(json).ok()?;
    Some(
        info.packages
            .into_iter()
            .filter(|c| c.kind != "build" && !c.name.is_empty() && !c.version.is_empty())
            .map(|c| PackageRecord {
                name: c.name,
                version: c.version,
                ..Default::default()
            })
            .collect(),
    )
}

/// Reads an executable pushed to it in chunks.
pub struct RustScanner {
    next: u64,
    /// The first bytes, to tell an executable from anything else.
    magic: Vec<u8>,
    skip: bool,
    window: Vec<u8>,
    /// Window bytes already probed.
    probed: usize,
    probe: Decompress,
    probe_out: Vec<u8>,
    capture: Option<(Box<Decompress>, Vec<u8>)>,
    json: Option<Vec<u8>>,
}

impl Default for RustScanner {
    fn default() -> Self {
        RustScanner {
            next: 0,
            magic: Vec::new(),
            skip: false,
            window: Vec::new(),
            probed: 0,
            probe: Decompress::new(true),
            probe_out: vec![0u8; PREFIX.len()],
            capture: None,
            json: None,
        }
    }
}

fn zlib_header(cmf: u8, flg: u8) -> bool {
    cmf == 0x78 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0 && flg & 0x20 == 0
}

impl RustScanner {
    pub fn chunk(&mut self, offset: u64, data: &[u8]) {
        if self.skip || self.json.is_some() {
            return;
        }
        if offset != self.next {
            self.skip = true;
            return;
        }
        if self.magic.len() < 4 {
            let take = (4 - self.magic.len()).min(data.len());
            self.magic.extend_from_slice(&data[..take]);
            if self.magic.len() == 4 && !super::gobin::is_executable_magic(&self.magic) {
                self.skip = true;
                return;
            }
        }
        self.next = offset + data.len() as u64;
        if self.capture.is_some() {
            self.inflate(data);
            return;
        }
        self.window.extend_from_slice(data);
        self.scan(false);
        let keep_from = self.probed.min(self.window.len());
        self.window.drain(..keep_from);
        self.probed -= keep_from;
    }

    /// Probes every zlib header with `PROBE` bytes after it (all of them at the end).
    fn scan(&mut self, at_end: bool) {
        let limit = if at_end {
            self.window.len()
        } else {
            self.window.len().saturating_sub(PROBE)
        };
        while self.probed < limit {
            let Some(found) = memchr::memchr(0x78, &self.window[self.probed..limit]) else {
                self.probed = limit;
                return;
            };
            let at = self.probed + found;
            self.probed = at + 1;
            let Some(&flg) = self.window.get(at + 1) else {
                continue;
            };
            if !zlib_header(0x78, flg) || !self.starts_dependency_list(at) {
                continue;
            }
            let rest = self.window.split_off(at);
            self.window.clear();
            self.probed = 0;
            self.capture = Some((Box::new(Decompress::new(true)), Vec::new()));
            self.inflate(&rest);
            return;
        }
    }

    fn starts_dependency_list(&mut self, at: usize) -> bool {
        let input = &self.window[at..self.window.len().min(at + PROBE)];
        self.probe.reset(true);
        let _ = self
            .probe
            .decompress(input, &mut self.probe_out, FlushDecompress::None);
        self.probe.total_out() as usize == PREFIX.len() && self.probe_out == PREFIX
    }

    fn inflate(&mut self, mut input: &[u8]) {
        let Some((inflater, out)) = self.capture.as_mut() else {
            return;
        };
        let mut buf = [0u8; 16 * 1024];
        loop {
            let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
            let status = inflater.decompress(input, &mut buf, FlushDecompress::None);
            let consumed = (inflater.total_in() - in_before) as usize;
            let produced = (inflater.total_out() - out_before) as usize;
            input = &input[consumed..];
            out.extend_from_slice(&buf[..produced]);
            match status {
                Ok(Status::StreamEnd) => {
                    self.json = self.capture.take().map(|(_, json)| json);
                    return;
                }
                Ok(_) if out.len() > MAX_JSON => break,
                Ok(_) if consumed == 0 && produced == 0 => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // Corrupt or too large: not the list after all.
        self.capture = None;
        self.skip = true;
    }

    /// The crates of the executable; `None` when it carries no dependency list.
    pub fn finish(mut self) -> Option<Vec<PackageRecord>> {
        if self.skip || !super::gobin::is_executable_magic(&self.magic) {
            return None;
        }
        if self.json.is_none() && self.capture.is_none() {
            self.scan(true);
        }
        parse_json(self.json.as_deref()?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

    const JSON: &str = r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","kind":"runtime","dependencies":[1,2],"root":true},{"name":"serde","version":"1.0.190","source":"crates.io","dependencies":[]},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build","dependencies":[]}]}"#;

    pub(crate) fn binary() -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::new(7));
        z.write_all(JSON.as_bytes()).unwrap();
        let section = z.finish().unwrap();
        let mut file = b"\x7fELF\x02\x01\x01".to_vec();
        // Decoy zlib headers, one a real zlib stream of something else.
        file.extend_from_slice(&[0x78, 0xda, 0x78, 0x9c, 0x01, 0x02]);
        let mut other = ZlibEncoder::new(Vec::new(), Compression::default());
        other.write_all(b"{\"not\":1}").unwrap();
        file.extend(other.finish().unwrap());
        file.extend_from_slice(&[0x33; 5000]);
        file.extend_from_slice(&section);
        file.extend_from_slice(&[0x44; 3000]);
        file
    }

    fn scan(file: &[u8], chunk: usize) -> Option<Vec<(String, String)>> {
        let mut s = RustScanner::default();
        let mut offset = 0;
        for c in file.chunks(chunk) {
            s.chunk(offset, c);
            offset += c.len() as u64;
        }
        s.finish()
            .map(|r| r.into_iter().map(|p| (p.name, p.version)).collect())
    }

    #[test]
    fn finds_the_dependency_list_in_any_chunking() {
        let want = vec![
            ("app".to_string(), "0.1.0".to_string()),
            ("serde".to_string(), "1.0.190".to_string()),
        ];
        let file = binary();
        for chunk in [1, 9, 128, 4096, 1 << 20] {
            assert_eq!(scan(&file, chunk), Some(want.clone()), "chunk {chunk}");
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        assert_eq!(scan(b"#!/bin/sh\n", 3), None);
        let file = binary();
        for cut in (0..file.len()).step_by(17) {
            let _ = scan(&file[..cut], 256);
        }
        for at in (0..file.len()).step_by(7) {
            let mut bad = file.clone();
            bad[at] ^= 0x5a;
            let _ = scan(&bad, 1000);
        }
        // A dependency-list prefix followed by a deflate bomb stops at the cap.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(PREFIX).unwrap();
        z.write_all(&vec![b' '; MAX_JSON + 1024]).unwrap();
        let mut bomb = b"\x7fELF".to_vec();
        bomb.extend(z.finish().unwrap());
        assert_eq!(scan(&bomb, 65536), None);
    }
}
