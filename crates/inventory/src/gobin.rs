//! Build information of Go executables: the Go version and every module linked in, as
//! `go version -m` prints them.
//!
//! The Go linker writes a `.go.buildinfo` blob, aligned to 16 bytes, that starts with the
//! magic `\xff Go buildinf:`, then the pointer size and a flags byte. Since Go 1.18
//! (flag 2) the version and the module information follow inline, each as a uvarint length
//! and the bytes. Before that (Go 1.13 to 1.17) two pointers follow, each to a Go string
//! header (data pointer, length) elsewhere in the image; the strings themselves live in
//! the read-only data, which comes *before* the blob in the file.
//!
//! The executable is read once, as a stream, never held whole: the scanner keeps the first
//! 64 KiB (for the program headers that map addresses to file offsets), and, in files
//! that look like Go, remembers where `go1.` strings and the module-information sentinels
//! were seen, so that an old-format pointer into bytes already streamed past can still be
//! resolved. Everything it keeps is bounded.

use super::PackageRecord;
use memchr::memmem;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const ALIGN: u64 = 16;
/// Sentinels the Go toolchain wraps the module information in.
const INFO_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const INFO_END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
const MAX_MODINFO: usize = 1 << 20;
const MAX_VERSION: usize = 128;
const HEAD_MAX: usize = 64 * 1024;
/// Bytes kept from one chunk to the next so that a pattern split between them is seen.
const CARRY: usize = 15;
const MAX_VERSION_CANDIDATES: usize = 4096;
const MAX_MODINFO_CANDIDATES: usize = 4;
const MAX_HEADER_CANDIDATES: usize = 16;
/// A Go executable's own build ID, near the start of its text or in an ELF note.
const GO_BUILD_ID: &[u8] = b"\xff Go build ID: \"";
const GO_NOTE: &[u8] = b"\x04\x00\x00\x00Go\x00\x00";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    pub path: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// `go1.21.3`, as the toolchain wrote it.
    pub go_version: String,
    /// The main package's import path.
    pub path: String,
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    /// `build` settings (`GOARCH`, `GOOS`, `-ldflags` ...).
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// The toolchain (as the `stdlib` module, `go1.21.3` written `v1.21.3` like every
    /// other Go module version), the main module when it has a real version, and every
    /// dependency (replacements applied). A module replaced by a local directory has no
    /// version (`(devel)`) and nothing to match against: it is left out.
    pub fn records(&self) -> Vec<PackageRecord> {
        let arch = self
            .settings
            .iter()
            .find(|(k, _)| k == "GOARCH")
            .map(|(_, v)| v.clone());
        let mut out = Vec::new();
        if let Some(version) = self
            .go_version
            .split_whitespace()
            .next()
            .and_then(|v| v.strip_prefix("go"))
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        {
            out.push(PackageRecord {
                name: "stdlib".into(),
                version: format!("v{version}"),
                arch: arch.clone(),
                ..Default::default()
            });
        }
        let versioned = |m: &&Module| !m.version.is_empty() && m.version != "(devel)";
        for module in self.main.iter().chain(&self.deps).filter(versioned) {
            out.push(PackageRecord {
                name: module.path.clone(),
                version: module.version.clone(),
                arch: arch.clone(),
                ..Default::default()
            });
        }
        out
    }
}

/// The module information text (`path`, `mod`, `dep`, `=>`, `build` lines), with or
/// without its sentinels.
pub fn parse_modinfo(go_version: &str, raw: &[u8]) -> BuildInfo {
    let mut raw = raw;
    if raw.len() >= 33 && raw[raw.len() - 17] == b'\n' {
        raw = &raw[16..raw.len() - 16];
    }
    let text = String::from_utf8_lossy(raw);
    let mut info = BuildInfo {
        go_version: go_version.to_string(),
        ..Default::default()
    };
    let module = |fields: &[&str]| Module {
        path: fields.first().copied().unwrap_or("").to_string(),
        version: fields.get(1).copied().unwrap_or("").to_string(),
    };
    // Whether the last `mod`/`dep` line was the main module, for a `=>` after it.
    let mut last_main = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.first().copied() {
            Some("path") => info.path = fields.get(1).copied().unwrap_or("").to_string(),
            Some("mod") => {
                info.main = Some(module(&fields[1..]));
                last_main = true;
            }
            Some("dep") if fields.len() >= 3 => {
                info.deps.push(module(&fields[1..]));
                last_main = false;
            }
            Some("=>") if fields.len() >= 2 => {
                let replacement = module(&fields[1..]);
                let target = if last_main {
                    info.main.as_mut()
                } else {
                    info.deps.last_mut()
                };
                if let Some(m) = target {
                    *m = replacement;
                }
            }
            Some("build") => {
                if let Some((k, v)) = fields.get(1).and_then(|kv| kv.split_once('=')) {
                    info.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
    info
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Version,
    Modinfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A possible build-info blob.
    Header,
    /// Bytes after a `go1.` seen before the blob.
    VersionCandidate,
    /// A sentinel-wrapped module information string seen before the blob.
    ModinfoCandidate,
    /// An old-format Go string header (pointer, length).
    StringHeader(Which),
    /// The bytes an old-format string header points at, still ahead in the stream.
    StringData(Which),
}

#[derive(Debug)]
struct Capture {
    start: u64,
    len: usize,
    buf: Vec<u8>,
    purpose: Purpose,
    dead: bool,
}

impl Capture {
    fn complete(&self) -> bool {
        self.buf.len() >= self.len
    }

    /// Copies what `data` (at file offset `offset`) holds of the capture's range.
    fn fill(&mut self, offset: u64, data: &[u8]) {
        if self.dead || self.complete() {
            return;
        }
        let from = self.start + self.buf.len() as u64;
        let end = offset + data.len() as u64;
        if from < offset {
            self.dead = true;
            return;
        }
        if from >= end {
            return;
        }
        let at = (from - offset) as usize;
        let take = (self.len - self.buf.len()).min(data.len() - at);
        self.buf.extend_from_slice(&data[at..at + take]);
    }
}

/// Loadable segments of an ELF file: (file offset, virtual address, file size).
#[derive(Debug, Default)]
struct AddressMap {
    segments: Vec<(u64, u64, u64)>,
}

impl AddressMap {
    fn from_elf(head: &[u8]) -> AddressMap {
        let mut map = AddressMap::default();
        if head.len() < 64 || !head.starts_with(b"\x7fELF") {
            return map;
        }
        let is64 = head[4] == 2;
        let big = head[5] == 2;
        let rd = |at: usize, n: usize| -> Option<u64> {
            let b = head.get(at..at + n)?;
            Some(if big {
                b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))
            } else {
                b.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x))
            })
        };
        let (phoff, phentsize, phnum) = if is64 {
            (rd(32, 8), rd(54, 2), rd(56, 2))
        } else {
            (rd(28, 4), rd(42, 2), rd(44, 2))
        };
        let (Some(phoff), Some(size), Some(num)) = (phoff, phentsize, phnum) else {
            return map;
        };
        for i in 0..num.min(256) {
            let at = (phoff + i * size) as usize;
            let entry = if is64 {
                (rd(at, 4), rd(at + 8, 8), rd(at + 16, 8), rd(at + 32, 8))
            } else {
                (rd(at, 4), rd(at + 4, 4), rd(at + 8, 4), rd(at + 16, 4))
            };
            if let (Some(1), Some(off), Some(vaddr), Some(filesz)) = entry {
                map.segments.push((off, vaddr, filesz));
            }
        }
        map
    }

    fn offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(_, start, size)| vaddr >= *start && vaddr - start < *size)
            .map(|(off, start, _)| off + (vaddr - start))
    }
}

/// Old-format blob: where its pointers are, once the blob's first bytes are known.
#[derive(Debug, Clone, Copy)]
struct OldFormat {
    ptr_size: usize,
    big_endian: bool,
}

impl OldFormat {
    fn read(&self, b: &[u8]) -> u64 {
        let b = &b[..self.ptr_size];
        if self.big_endian {
            b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))
        } else {
            b.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x))
        }
    }
}

/// Reads an executable pushed to it in chunks and finds its build information.
#[derive(Default)]
pub struct GoScanner {
    next: u64,
    skip: bool,
    head: Vec<u8>,
    maybe_go: bool,
    window: Vec<u8>,
    window_start: u64,
    /// How many bytes at the start of the window were searched with the previous chunk.
    carried: usize,
    captures: Vec<Capture>,
    /// Captures registered per purpose, for the bounds.
    registered: [usize; 3],
    old: Option<OldFormat>,
    version: Option<Vec<u8>>,
    modinfo: Option<Vec<u8>>,
    done: bool,
    found_blob: bool,
}

/// Whether a file starts like an executable (ELF, PE, Mach-O).
pub fn is_executable_magic(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
        || head.starts_with(b"MZ")
        || [
            [0xfe, 0xed, 0xfa, 0xce],
            [0xfe, 0xed, 0xfa, 0xcf],
            [0xce, 0xfa, 0xed, 0xfe],
            [0xcf, 0xfa, 0xed, 0xfe],
        ]
        .iter()
        .any(|m| head.starts_with(m))
}

impl GoScanner {
    pub fn chunk(&mut self, offset: u64, data: &[u8]) {
        if self.skip || self.done {
            return;
        }
        if offset != self.next {
            self.skip = true;
            return;
        }
        self.next = offset + data.len() as u64;
        if self.head.len() < HEAD_MAX {
            let take = (HEAD_MAX - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            if self.head.len() >= 4
                && self.head.len() - take < 4
                && !is_executable_magic(&self.head)
            {
                self.skip = true;
                return;
            }
            if !self.maybe_go {
                self.maybe_go = memmem::find(&self.head, GO_BUILD_ID).is_some()
                    || memmem::find(&self.head, GO_NOTE).is_some();
            }
        }
        for capture in &mut self.captures {
            capture.fill(offset, data);
        }

        let keep = self.window.len().saturating_sub(CARRY);
        self.window.drain(..keep);
        self.window_start += keep as u64;
        if self.window.is_empty() {
            self.window_start = offset;
        }
        self.carried = self.window.len();
        self.window.extend_from_slice(data);
        self.search();
        self.progress();
        self.captures.retain(|c| !c.dead);
    }

    fn register(&mut self, start: u64, len: usize, purpose: Purpose) {
        let mut capture = Capture {
            start,
            len,
            buf: Vec::new(),
            purpose,
            dead: false,
        };
        if start < self.window_start {
            return;
        }
        capture.fill(self.window_start, &self.window);
        self.captures.push(capture);
    }

    /// Registers a candidate unless `MAX` of its kind were registered already.
    fn register_bounded(&mut self, start: u64, len: usize, purpose: Purpose) {
        let (slot, max) = match purpose {
            Purpose::Header => (0, MAX_HEADER_CANDIDATES),
            Purpose::VersionCandidate => (1, MAX_VERSION_CANDIDATES),
            _ => (2, MAX_MODINFO_CANDIDATES),
        };
        if self.registered[slot] < max {
            self.registered[slot] += 1;
            self.register(start, len, purpose);
        }
    }

    /// Looks for new pattern occurrences in the window: those ending in its carried part
    /// were seen with the previous chunk.
    fn search(&mut self) {
        let seen_before = self.carried;
        let new_from = |p: usize, len: usize| p + len > seen_before;
        let starts: Vec<u64> = memmem::find_iter(&self.window, MAGIC)
            .filter(|&p| new_from(p, MAGIC.len()))
            .map(|p| self.window_start + p as u64)
            .filter(|abs| abs % ALIGN == 0)
            .collect();
        for abs in starts {
            self.register_bounded(abs, 32, Purpose::Header);
        }
        if !self.maybe_go || self.found_blob {
            return;
        }
        let versions: Vec<u64> = memmem::find_iter(&self.window, b"go1.")
            .filter(|&p| new_from(p, 4))
            .map(|p| self.window_start + p as u64)
            .collect();
        for abs in versions {
            self.register_bounded(abs, 32, Purpose::VersionCandidate);
        }
        let infos: Vec<u64> = memmem::find_iter(&self.window, INFO_START)
            .filter(|&p| new_from(p, INFO_START.len()))
            .map(|p| self.window_start + p as u64)
            .collect();
        for abs in infos {
            self.register_bounded(abs, MAX_MODINFO, Purpose::ModinfoCandidate);
        }
    }

    fn progress(&mut self) {
        // Module-information candidates end at their closing sentinel.
        for c in &mut self.captures {
            if c.purpose == Purpose::ModinfoCandidate
                && !c.complete()
                && c.buf.len() > 16
                && let Some(end) = memmem::find(&c.buf[16..], INFO_END)
            {
                c.buf.truncate(16 + end + INFO_END.len());
                c.len = c.buf.len();
            }
        }
        if !self.found_blob {
            self.check_headers();
        }
        let mut pending: Vec<(u64, usize, Purpose)> = Vec::new();
        for i in 0..self.captures.len() {
            let c = &self.captures[i];
            if !c.complete() || c.dead {
                continue;
            }
            match c.purpose {
                Purpose::StringHeader(which) => {
                    let Some(old) = self.old else { continue };
                    let ptr = old.read(&c.buf);
                    let len = old.read(&c.buf[old.ptr_size..]) as usize;
                    self.captures[i].dead = true;
                    let max = match which {
                        Which::Version => MAX_VERSION,
                        Which::Modinfo => MAX_MODINFO,
                    };
                    if len > max {
                        continue;
                    }
                    let Some(at) = AddressMap::from_elf(&self.head).offset(ptr) else {
                        continue;
                    };
                    let kind = match which {
                        Which::Version => Purpose::VersionCandidate,
                        Which::Modinfo => Purpose::ModinfoCandidate,
                    };
                    let remembered = self
                        .captures
                        .iter()
                        .find(|c| c.purpose == kind && c.start == at && c.buf.len() >= len)
                        .map(|c| c.buf[..len].to_vec());
                    match remembered {
                        Some(bytes) => self.set(which, bytes),
                        None if at >= self.window_start => {
                            pending.push((at, len, Purpose::StringData(which)))
                        }
                        None => {}
                    }
                }
                Purpose::StringData(which) => {
                    let bytes = c.buf.clone();
                    self.captures[i].dead = true;
                    self.set(which, bytes);
                }
                _ => {}
            }
        }
        for (at, len, purpose) in pending {
            self.register(at, len, purpose);
        }
        if self.found_blob && self.version.is_some() && self.modinfo.is_some() {
            self.done = true;
            self.captures.clear();
        }
    }

    fn set(&mut self, which: Which, bytes: Vec<u8>) {
        match which {
            Which::Version => self.version = Some(bytes),
            Which::Modinfo => self.modinfo = Some(bytes),
        }
    }

    /// Validates candidate blobs; the first good one is the build information.
    fn check_headers(&mut self) {
        for i in 0..self.captures.len() {
            let c = &self.captures[i];
            if c.purpose != Purpose::Header || c.dead || c.buf.len() < 16 {
                continue;
            }
            let ptr_size = c.buf[14] as usize;
            let flags = c.buf[15];
            if !matches!(ptr_size, 4 | 8) || flags > 3 {
                self.captures[i].dead = true;
                continue;
            }
            if flags & 2 != 0 {
                let capture = &mut self.captures[i];
                if capture.len == 32 {
                    // The strings follow inline: keep reading, from what the window still
                    // holds.
                    capture.len = 32 + 2 * 10 + MAX_VERSION + MAX_MODINFO;
                    capture.fill(self.window_start, &self.window);
                }
                match parse_inline(&self.captures[i].buf) {
                    Inline::NeedMore if !self.captures[i].complete() => {}
                    Inline::Done(version, modinfo) => {
                        self.found_blob = true;
                        self.version = Some(version);
                        self.modinfo = Some(modinfo);
                        return;
                    }
                    _ => self.captures[i].dead = true,
                }
                continue;
            }
            let need = 16 + 2 * ptr_size;
            if c.buf.len() < need {
                continue;
            }
            let old = OldFormat {
                ptr_size,
                big_endian: flags & 1 != 0,
            };
            let map = AddressMap::from_elf(&self.head);
            let version_at = map.offset(old.read(&c.buf[16..]));
            let modinfo_at = map.offset(old.read(&c.buf[16 + ptr_size..]));
            let (Some(version_at), Some(modinfo_at)) = (version_at, modinfo_at) else {
                self.captures[i].dead = true;
                continue;
            };
            self.found_blob = true;
            self.old = Some(old);
            self.captures[i].dead = true;
            self.captures
                .retain(|c| !matches!(c.purpose, Purpose::Header));
            self.register(
                version_at,
                2 * ptr_size,
                Purpose::StringHeader(Which::Version),
            );
            self.register(
                modinfo_at,
                2 * ptr_size,
                Purpose::StringHeader(Which::Modinfo),
            );
            return;
        }
    }

    /// The build information, once the whole file was seen; `None` for anything that is
    /// not a Go executable.
    pub fn finish(mut self) -> Option<BuildInfo> {
        if self.skip || !is_executable_magic(&self.head) {
            return None;
        }
        self.progress();
        if !self.found_blob {
            return None;
        }
        let modinfo = self.modinfo.take().or_else(|| {
            // An old-format pointer that could not be followed: a single module
            // information string in the file is the one.
            let mut candidates = self
                .captures
                .iter()
                .filter(|c| c.purpose == Purpose::ModinfoCandidate && c.len == c.buf.len());
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only.buf.clone()),
                _ => None,
            }
        });
        let version = self
            .version
            .take()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        if modinfo.is_none() && version.is_empty() {
            return None;
        }
        Some(parse_modinfo(&version, modinfo.as_deref().unwrap_or(&[])))
    }
}

enum Inline {
    NeedMore,
    Invalid,
    Done(Vec<u8>, Vec<u8>),
}

fn uvarint(b: &[u8]) -> Result<Option<(u64, usize)>, ()> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if b.len() >= 10 { Err(()) } else { Ok(None) }
}

/// Go ≥ 1.18: version and module information inline after the 32-byte header.
fn parse_inline(buf: &[u8]) -> Inline {
    let Some(mut rest) = buf.get(32..) else {
        return Inline::NeedMore;
    };
    let mut strings = Vec::with_capacity(2);
    for max in [MAX_VERSION, MAX_MODINFO] {
        let (len, used) = match uvarint(rest) {
            Ok(Some(v)) => v,
            Ok(None) => return Inline::NeedMore,
            Err(()) => return Inline::Invalid,
        };
        if len as usize > max {
            return Inline::Invalid;
        }
        let Some(bytes) = rest.get(used..used + len as usize) else {
            return Inline::NeedMore;
        };
        strings.push(bytes.to_vec());
        rest = &rest[used + len as usize..];
    }
    let modinfo = strings.pop().unwrap_or_default();
    let version = strings.pop().unwrap_or_default();
    if !version.starts_with(b"go") && !version.starts_with(b"devel") {
        return Inline::Invalid;
    }
    Inline::Done(version, modinfo)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn modinfo_text() -> Vec<u8> {
        let mut m = INFO_START.to_vec();
        m.extend_from_slice(
            b"path\texample.com/cmd/app\nmod\texample.com\t(devel)\t\ndep\tgolang.org/x/net\tv0.17.0\th1:abc=\ndep\tgithub.com/old/lib\tv1.0.0\th1:def=\n=>\tgithub.com/new/lib\tv1.2.0\th1:ghi=\nbuild\tGOARCH=amd64\nbuild\tGOOS=linux\n",
        );
        m.extend_from_slice(INFO_END);
        m
    }

    fn expected() -> Vec<(String, String)> {
        vec![
            ("stdlib".into(), "v1.21.3".into()),
            ("golang.org/x/net".into(), "v0.17.0".into()),
            ("github.com/new/lib".into(), "v1.2.0".into()),
        ]
    }

    fn scan(file: &[u8], chunk: usize) -> Option<Vec<(String, String)>> {
        let mut s = GoScanner::default();
        let mut offset = 0;
        for c in file.chunks(chunk) {
            s.chunk(offset, c);
            offset += c.len() as u64;
        }
        s.finish().map(|i| {
            i.records()
                .into_iter()
                .map(|r| (r.name, r.version))
                .collect()
        })
    }

    fn pad_to(file: &mut Vec<u8>, align: usize) {
        while !file.len().is_multiple_of(align) {
            file.push(0);
        }
    }

    /// An ELF-looking file with a Go ≥ 1.18 inline build-info blob.
    pub(crate) fn inline_binary() -> Vec<u8> {
        let mut file = b"\x7fELF\x02\x01\x01".to_vec();
        file.resize(300, 0);
        file.extend_from_slice(b"text with a decoy \xff Go buildinf:xx and go1.99 strings");
        pad_to(&mut file, 16);
        file.extend_from_slice(MAGIC);
        file.push(8);
        file.push(2);
        file.resize(file.len() + 16, 0);
        let version = b"go1.21.3";
        file.push(version.len() as u8);
        file.extend_from_slice(version);
        let modinfo = modinfo_text();
        let mut n = modinfo.len();
        while n >= 0x80 {
            file.push((n as u8) | 0x80);
            n >>= 7;
        }
        file.push(n as u8);
        file.extend_from_slice(&modinfo);
        file.extend_from_slice(&[0x55; 1000]);
        file
    }

    /// An ELF file with a Go 1.13–1.17 pointer blob: the strings come first (read-only
    /// data), then the blob, then the string headers (data), one PT_LOAD mapping the file
    /// at 0x400000.
    fn old_binary() -> Vec<u8> {
        const BASE: u64 = 0x40_0000;
        let mut file = vec![0u8; 64];
        file[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        file[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        file[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        file[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes());
        ph[16..24].copy_from_slice(&BASE.to_le_bytes());
        ph[32..40].copy_from_slice(&(1u64 << 20).to_le_bytes());
        file.extend_from_slice(&ph);
        file.extend_from_slice(GO_BUILD_ID);
        file.extend_from_slice(b"abc\"\n \xff");
        file.extend_from_slice(&[0x90; 5000]);
        let version_at = file.len() as u64;
        file.extend_from_slice(b"go1.21.3go1.x other rodata");
        let modinfo_at = file.len() as u64;
        let modinfo = modinfo_text();
        file.extend_from_slice(&modinfo);
        file.extend_from_slice(&[0x11; 3000]);
        pad_to(&mut file, 16);
        let headers_at = file.len() as u64 + 64;
        file.extend_from_slice(MAGIC);
        file.push(8);
        file.push(0);
        file.extend_from_slice(&(BASE + headers_at).to_le_bytes());
        file.extend_from_slice(&(BASE + headers_at + 16).to_le_bytes());
        pad_to(&mut file, 16);
        file.resize(headers_at as usize, 0);
        file.extend_from_slice(&(BASE + version_at).to_le_bytes());
        file.extend_from_slice(&8u64.to_le_bytes());
        file.extend_from_slice(&(BASE + modinfo_at).to_le_bytes());
        file.extend_from_slice(&(modinfo.len() as u64).to_le_bytes());
        file.extend_from_slice(&[0x22; 2000]);
        file
    }

    #[test]
    fn inline_format_in_any_chunking() {
        let file = inline_binary();
        for chunk in [1, 5, 16, 17, 64, 4096, 1 << 20] {
            assert_eq!(scan(&file, chunk), Some(expected()), "chunk {chunk}");
        }
    }

    #[test]
    fn old_pointer_format_in_any_chunking() {
        let file = old_binary();
        for chunk in [1, 7, 16, 100, 4096, 1 << 20] {
            assert_eq!(scan(&file, chunk), Some(expected()), "chunk {chunk}");
        }
    }

    #[test]
    fn modinfo_lines() {
        let info = parse_modinfo("go1.20.5 X:boringcrypto", &modinfo_text());
        assert_eq!(info.path, "example.com/cmd/app");
        assert_eq!(info.main.as_ref().unwrap().version, "(devel)");
        assert_eq!(info.records()[0].version, "v1.20.5");
        assert_eq!(info.records()[0].arch.as_deref(), Some("amd64"));
    }

    #[test]
    fn hostile_input_never_panics() {
        assert_eq!(scan(b"#!/bin/sh\necho \xff Go buildinf:", 4), None);
        assert_eq!(scan(b"\x7fELF", 4), None);
        let inline = inline_binary();
        let old = old_binary();
        for file in [&inline, &old] {
            for cut in (0..file.len()).step_by(11) {
                let _ = scan(&file[..cut], 64);
            }
            for at in (0..file.len()).step_by(3) {
                let mut bad = file.clone();
                bad[at] ^= 0xff;
                let _ = scan(&bad, 512);
            }
        }
        // Huge varint lengths and pointer sizes.
        let mut huge = b"\x7fELF".to_vec();
        huge.resize(16, 0);
        huge.extend_from_slice(MAGIC);
        huge.extend_from_slice(&[8, 2]);
        huge.resize(48, 0);
        huge.extend_from_slice(&[0xff; 12]);
        assert_eq!(scan(&huge, 7), None);
    }
}
