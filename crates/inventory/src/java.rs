//! Java archives (`.jar`, `.war`, `.ear`): the Maven coordinates in
//! `META-INF/maven/GROUP/ARTIFACT/pom.properties`, or the manifest when there are none,
//! including the archives nested one level deep (Spring Boot's `BOOT-INF/lib/`, a war's
//! `WEB-INF/lib/`).
//!
//! A jar is a zip file. It is read here as a stream of local file headers, each followed
//! by its data (and, with general-purpose flag bit 3, a data descriptor after the data,
//! the sizes in the header being zero). The central directory at the end is never needed.
//! Only the few entries that matter are inflated, each up to a cap.

use super::PackageRecord;
use flate2::{Decompress, FlushDecompress, Status};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const LOCAL_HEADER_LEN: usize = 30;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_ENCRYPTED: u16 = 0x0001;
/// Largest `pom.properties` or manifest kept.
const MAX_SMALL_ENTRY: usize = 256 * 1024;
/// Inflated bytes allowed per compressed byte read, and up front.
const INFLATE_RATIO: u64 = 32;
const INFLATE_ALLOWANCE: u64 = 64 << 20;
/// Bytes one entry may inflate to before it is given up on (a deflate bomb).
const MAX_INFLATED: u64 = 1 << 30;
/// Archives inside an archive are read; archives inside those are not.
const MAX_DEPTH: u8 = 1;
/// Packages reported for one archive (a shaded jar can hold hundreds, not millions).
const MAX_PACKAGES: usize = 10_000;

pub fn is_archive_path(path: &str) -> bool {
    let lower = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [".jar", ".war", ".ear", ".par", ".hpi", ".jpi"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

enum Target {
    Skip,
    Manifest(Vec<u8>),
    Pom(Vec<u8>),
    Nested(Box<JarScanner>),
}

struct Current {
    target: Target,
    method: u16,
    /// Compressed bytes still to come, when the header says.
    remaining: Option<u64>,
    descriptor: bool,
    zip64: bool,
    inflater: Option<Box<Decompress>>,
}

enum State {
    Header,
    Data(Box<Current>),
    Descriptor { zip64: bool },
    Done,
}

/// Reads one archive pushed to it in chunks.
pub struct JarScanner {
    file_name: Option<String>,
    depth: u8,
    state: State,
    pending: Vec<u8>,
    scratch: Vec<u8>,
    /// Bytes entries may still inflate to: grows with the compressed bytes read, so that a
    /// stream of deflate bombs costs time in proportion to its size, not to its ratio.
    inflate_budget: u64,
    poms: Vec<PackageRecord>,
    manifest: Option<Vec<u8>>,
    nested: Vec<PackageRecord>,
}

impl Default for JarScanner {
    fn default() -> Self {
        JarScanner::new(0, None)
    }
}

impl JarScanner {
    /// A scanner for the archive at `path`, whose file name may name the artifact.
    pub fn for_path(path: &str) -> JarScanner {
        JarScanner::new(0, Some(path))
    }

    fn new(depth: u8, path: Option<&str>) -> JarScanner {
        JarScanner {
            file_name: path.map(|p| p.rsplit('/').next().unwrap_or(p).to_string()),
            depth,
            state: State::Header,
            pending: Vec::new(),
            scratch: Vec::new(),
            inflate_budget: INFLATE_ALLOWANCE,
            poms: Vec::new(),
            manifest: None,
            nested: Vec::new(),
        }
    }

    /// The next bytes of the archive.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.inflate_budget = self
            .inflate_budget
            .saturating_add(INFLATE_RATIO.saturating_mul(data.len() as u64));
        while !data.is_empty() {
            let used = match &mut self.state {
                State::Done => return,
                State::Header => self.header(data),
                State::Descriptor { zip64 } => {
                    let zip64 = *zip64;
                    self.descriptor(data, zip64)
                }
                State::Data(_) => self.entry_data(data),
            };
            data = &data[used..];
        }
    }

    /// Collects a local file header; returns the bytes consumed.
    fn header(&mut self, data: &[u8]) -> usize {
        let need = if self.pending.len() < LOCAL_HEADER_LEN {
            LOCAL_HEADER_LEN
        } else {
            LOCAL_HEADER_LEN + le16(&self.pending, 26) as usize + le16(&self.pending, 28) as usize
        };
        let take = (need - self.pending.len()).min(data.len());
        self.pending.extend_from_slice(&data[..take]);
        if self.pending.len() >= 4 && le32(&self.pending, 0) != LOCAL_HEADER {
            // The central directory (or something that is not a zip at all).
            self.state = State::Done;
            return take;
        }
        if self.pending.len() == need && need > LOCAL_HEADER_LEN
            || (need == LOCAL_HEADER_LEN
                && self.pending.len() == need
                && le16(&self.pending, 26) == 0
                && le16(&self.pending, 28) == 0)
        {
            self.start_entry();
        }
        take
    }

    fn start_entry(&mut self) {
        let h = std::mem::take(&mut self.pending);
        let flags = le16(&h, 6);
        let method = le16(&h, 8);
        let name_len = le16(&h, 26) as usize;
        let name = String::from_utf8_lossy(&h[LOCAL_HEADER_LEN..LOCAL_HEADER_LEN + name_len]);
        let extra = &h[LOCAL_HEADER_LEN + name_len..];
        let mut compressed = u64::from(le32(&h, 18));
        let mut zip64 = false;
        if (compressed == u64::from(u32::MAX) || le32(&h, 22) == u32::MAX)
            && let Some(sizes) = zip64_sizes(extra)
        {
            zip64 = true;
            compressed = sizes.1;
        }
        let descriptor = flags & FLAG_DESCRIPTOR != 0;
        let remaining = (!descriptor || compressed != 0).then_some(compressed);
        let readable = flags & FLAG_ENCRYPTED == 0 && matches!(method, STORED | DEFLATED);
        if remaining.is_none() && !(readable && method == DEFLATED) {
            // Without a size only a deflate stream shows where the entry ends.
            self.state = State::Done;
            return;
        }
        let target = if !readable {
            Target::Skip
        } else if name == "META-INF/MANIFEST.MF" {
            Target::Manifest(Vec::new())
        } else if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            Target::Pom(Vec::new())
        } else if self.depth < MAX_DEPTH && is_archive_path(&name) {
            Target::Nested(Box::new(JarScanner::new(self.depth + 1, Some(&name))))
        } else {
            Target::Skip
        };
        let must_inflate =
            method == DEFLATED && (remaining.is_none() || !matches!(target, Target::Skip));
        let current = Current {
            target,
            method,
            remaining,
            descriptor,
            zip64,
            inflater: must_inflate.then(|| Box::new(Decompress::new(false))),
        };
        if current.remaining == Some(0) {
            self.finish_entry(current);
        } else {
            self.state = State::Data(Box::new(current));
        }
    }

    fn entry_data(&mut self, data: &[u8]) -> usize {
        let State::Data(current) = &mut self.state else {
            return data.len();
        };
        let window = match current.remaining {
            Some(left) => &data[..left.min(data.len() as u64) as usize],
            None => data,
        };
        let mut used = window.len();
        let mut ended = false;
        if let Some(inflater) = current.inflater.as_mut() {
            match inflate(
                inflater,
                window,
                &mut self.scratch,
                &mut current.target,
                &mut self.inflate_budget,
            ) {
                Some((consumed, stream_end)) => {
                    ended = stream_end;
                    if current.remaining.is_none() {
                        used = consumed;
                    }
                }
                None if current.remaining.is_some() => {
                    // A corrupt or oversized entry of known size is stepped over.
                    current.target = Target::Skip;
                    current.inflater = None;
                }
                None => {
                    self.state = State::Done;
                    return data.len();
                }
            }
            if current.remaining.is_some() && capture_full(&current.target) {
                current.inflater = None;
            }
        } else if current.method == STORED {
            deliver(&mut current.target, window);
        }
        let done = match current.remaining.as_mut() {
            Some(left) => {
                *left -= used as u64;
                *left == 0
            }
            None => {
                if !ended && used < window.len() {
                    self.state = State::Done;
                    return data.len();
                }
                ended
            }
        };
        if done {
            let State::Data(current) = std::mem::replace(&mut self.state, State::Header) else {
                return data.len();
            };
            self.finish_entry(*current);
        }
        used
    }

    fn finish_entry(&mut self, current: Current) {
        match current.target {
            Target::Skip => {}
            Target::Manifest(bytes) => self.manifest = Some(bytes),
            Target::Pom(bytes) => {
                if self.poms.len() < MAX_PACKAGES
                    && let Some(record) = parse_pom_properties(&bytes)
                {
                    self.poms.push(record);
                }
            }
            Target::Nested(scanner) => {
                let mut found = scanner.finish();
                found.truncate(MAX_PACKAGES.saturating_sub(self.nested.len()));
                self.nested.extend(found);
            }
        }
        self.state = if current.descriptor {
            State::Descriptor {
                zip64: current.zip64,
            }
        } else {
            State::Header
        };
    }

    /// Steps over a data descriptor: an optional signature, the CRC, two sizes.
    fn descriptor(&mut self, data: &[u8], zip64: bool) -> usize {
        let sizes = if zip64 { 16 } else { 8 };
        let need = if self.pending.len() < 4 {
            4
        } else if le32(&self.pending, 0) == DESCRIPTOR_SIG {
            8 + sizes
        } else {
            4 + sizes
        };
        let take = (need - self.pending.len()).min(data.len());
        self.pending.extend_from_slice(&data[..take]);
        if need > 4 && self.pending.len() == need {
            self.pending.clear();
            self.state = State::Header;
        }
        take
    }

    /// The packages found: those of the archive's own `pom.properties` files (or its
    /// manifest when it has none), then those of the archives inside it.
    pub fn finish(self) -> Vec<PackageRecord> {
        let mut out = self.poms;
        if out.is_empty()
            && let Some(record) = self
                .manifest
                .as_deref()
                .and_then(|m| parse_manifest(m, self.file_name.as_deref()))
        {
            out.push(record);
        }
        out.extend(self.nested);
        out
    }
}

/// Inflates `input` into `target`: the bytes consumed and whether the deflate stream
/// ended; `None` when the stream is corrupt or inflates past `MAX_INFLATED`.
fn inflate(
    inflater: &mut Decompress,
    input: &[u8],
    scratch: &mut Vec<u8>,
    target: &mut Target,
    budget: &mut u64,
) -> Option<(usize, bool)> {
    if scratch.is_empty() {
        scratch.resize(32 * 1024, 0);
    }
    let mut used = 0;
    loop {
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(&input[used..], scratch, FlushDecompress::None)
            .ok()?;
        let consumed = (inflater.total_in() - in_before) as usize;
        let produced = (inflater.total_out() - out_before) as usize;
        used += consumed;
        deliver(target, &scratch[..produced]);
        *budget = budget.checked_sub(produced as u64)?;
        if inflater.total_out() > MAX_INFLATED {
            return None;
        }
        if status == Status::StreamEnd {
            return Some((used, true));
        }
        if (consumed == 0 && produced == 0) || (used == input.len() && produced < scratch.len()) {
            return Some((used, false));
        }
    }
}

fn capture_full(target: &Target) -> bool {
    matches!(target, Target::Manifest(b) | Target::Pom(b) if b.len() >= MAX_SMALL_ENTRY)
}

fn deliver(target: &mut Target, bytes: &[u8]) {
    match target {
        Target::Skip => {}
        Target::Manifest(buf) | Target::Pom(buf) => {
            let room = MAX_SMALL_ENTRY.saturating_sub(buf.len());
            buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        Target::Nested(scanner) => scanner.feed(bytes),
    }
}

/// The zip64 extended information extra field (id 1): uncompressed then compressed size.
fn zip64_sizes(mut extra: &[u8]) -> Option<(u64, u64)> {
    while extra.len() >= 4 {
        let id = le16(extra, 0);
        let len = le16(extra, 2) as usize;
        let body = extra.get(4..4 + len)?;
        if id == 1 && body.len() >= 16 {
            let u = u64::from_le_bytes(body[0..8].try_into().ok()?);
            let c = u64::from_le_bytes(body[8..16].try_into().ok()?);
            return Some((u, c));
        }
        extra = &extra[4 + len..];
    }
    None
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Java properties: `key=value` or `key: value`, `#` and `!` comments.
fn properties(data: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(data)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', '!']))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_string(), l[at + 1..].trim().to_string()))
        })
        .collect()
}

pub fn parse_pom_properties(data: &[u8]) -> Option<PackageRecord> {
    let props = properties(data);
    let get = |k: &str| {
        props
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Some(PackageRecord {
        name: format!("{}:{}", get("groupId")?, get("artifactId")?),
        version: get("version")?,
        ..Default::default()
    })
}

/// A manifest's main section (up to the first blank line); continuation lines start with
/// one space.
fn manifest_attributes(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some((_, v)) = out.last_mut() {
                v.push_str(rest);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The archive itself when it carries no Maven metadata. The artifact is what the file
/// name says before `-VERSION.jar` (Maven's own naming), else the OSGi bundle name, else a
/// one-word implementation title; the version is the manifest's, else the file name's; the
/// group comes only from `Implementation-Vendor-Id`.
pub fn parse_manifest(data: &[u8], file_name: Option<&str>) -> Option<PackageRecord> {
    let attrs = manifest_attributes(data);
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let manifest_version = get("Implementation-Version").or_else(|| get("Bundle-Version"));
    let from_file = file_name.and_then(|f| split_file_name(f, manifest_version.as_deref()));
    let artifact = from_file
        .as_ref()
        .map(|(a, _)| a.clone())
        .or_else(|| {
            get("Bundle-SymbolicName").map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        })
        .or_else(|| get("Implementation-Title").filter(|t| !t.contains(char::is_whitespace)))
        .filter(|a| !a.is_empty())?;
    let version = manifest_version.or_else(|| from_file.map(|(_, v)| v))?;
    let name = match get("Implementation-Vendor-Id") {
        Some(group) => format!("{group}:{artifact}"),
        None => artifact,
    };
    Some(PackageRecord {
        name,
        version,
        license: get("Bundle-License"),
        ..Default::default()
    })
}

/// `guava-31.1-jre.jar` → (`guava`, `31.1-jre`): the version is `version` when the name
/// ends with it, else what follows the last `-` that precedes a digit.
fn split_file_name(file_name: &str, version: Option<&str>) -> Option<(String, String)> {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    if let Some(v) = version
        && let Some(artifact) = stem.strip_suffix(v).and_then(|a| a.strip_suffix('-'))
        && !artifact.is_empty()
    {
        return Some((artifact.to_string(), v.to_string()));
    }
    let at = stem
        .match_indices('-')
        .map(|(i, _)| i)
        .find(|&i| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))?;
    let (artifact, v) = (&stem[..at], &stem[at + 1..]);
    (!artifact.is_empty()).then(|| (artifact.to_string(), v.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::DeflateEncoder};
    use std::io::Write;

    /// A zip stream of (name, content, deflate?, use a data descriptor?) entries.
    pub fn zip(entries: &[(&str, &[u8], bool, bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, content, deflate, descriptor) in entries {
            let data = if *deflate {
                let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
                e.write_all(content).unwrap();
                e.finish().unwrap()
            } else {
                content.to_vec()
            };
            out.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&(if *descriptor { FLAG_DESCRIPTOR } else { 0 }).to_le_bytes());
            out.extend_from_slice(&(if *deflate { DEFLATED } else { STORED }).to_le_bytes());
            out.extend_from_slice(&[0u8; 8]);
            let (c, u) = if *descriptor {
                (0, 0)
            } else {
                (data.len() as u32, content.len() as u32)
            };
            out.extend_from_slice(&c.to_le_bytes());
            out.extend_from_slice(&u.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&data);
            if *descriptor {
                out.extend_from_slice(&DESCRIPTOR_SIG.to_le_bytes());
                out.extend_from_slice(&[0u8; 4]);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(&(content.len() as u32).to_le_bytes());
            }
        }
        // A central directory header ends the stream.
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0u8; 42]);
        out
    }

    fn scan(bytes: &[u8], chunk: usize) -> Vec<(String, String)> {
        let mut s = JarScanner::default();
        for c in bytes.chunks(chunk.max(1)) {
            s.feed(c);
        }
        s.finish()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect()
    }

    pub fn fat_jar() -> Vec<u8> {
        let inner = zip(&[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\n",
                true,
                true,
            ),
            (
                "META-INF/maven/com.google.guava/guava/pom.properties",
                b"#Generated\nversion=31.1-jre\ngroupId=com.google.guava\nartifactId=guava\n",
                true,
                true,
            ),
            ("com/google/Big.class", &[0x42; 5000], true, true),
        ]);
        let deeper = zip(&[(
            "META-INF/maven/x/deep/pom.properties",
            b"groupId=x\nartifactId=deep\nversion=1\n",
            false,
            false,
        )]);
        let middle = zip(&[("lib/deeper.jar", &deeper, false, false)]);
        zip(&[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\nImplementation-Title: app\nImplementation-Version: 2.0\n",
                true,
                false,
            ),
            ("BOOT-INF/classes/App.class", &[7u8; 3000], true, false),
            ("BOOT-INF/lib/guava-31.1-jre.jar", &inner, false, false),
            ("BOOT-INF/lib/middle.jar", &middle, true, true),
            (
                "META-INF/maven/com.example/app/pom.properties",
                b"artifactId=app\ngroupId=com.example\nversion=2.0.1\n",
                true,
                true,
            ),
        ])
    }

    #[test]
    fn reads_poms_manifests_and_nested_archives_in_any_chunking() {
        let jar = fat_jar();
        let want = vec![
            ("com.example:app".to_string(), "2.0.1".to_string()),
            ("com.google.guava:guava".to_string(), "31.1-jre".to_string()),
        ];
        for chunk in [1, 3, 29, 512, 65536] {
            assert_eq!(scan(&jar, chunk), want, "chunk {chunk}");
        }
        let plain = zip(&[(
            "META-INF/MANIFEST.MF",
            b"Implementation-Title: lib\nImplementation-Version: 1.2\nImplementation-Vendor-Id: org.x\n",
            true,
            true,
        )]);
        assert_eq!(scan(&plain, 7), vec![("org.x:lib".into(), "1.2".into())]);
    }

    #[test]
    fn manifest_fallback_names() {
        let asm = b"Implementation-Title: ASM, a very small framework\nImplementation-Version: 9.7.1\nBundle-SymbolicName: org.objectweb.asm\n";
        let cases = [
            (Some("asm-9.7.1.jar"), &asm[..], Some(("asm", "9.7.1"))),
            (None, &asm[..], Some(("org.objectweb.asm", "9.7.1"))),
            (
                Some("app.jar"),
                &asm[..],
                Some(("org.objectweb.asm", "9.7.1")),
            ),
            (
                Some("commons-io-2.11.0.jar"),
                &b"Manifest-Version: 1.0\n"[..],
                Some(("commons-io", "2.11.0")),
            ),
            (
                Some("CloudDatastore.jar"),
                &b"Manifest-Version: 1.0\n"[..],
                None,
            ),
            (
                None,
                &b"Implementation-Title: Two words\nImplementation-Version: 1\n"[..],
                None,
            ),
        ];
        for (file, manifest, want) in cases {
            let got = parse_manifest(manifest, file);
            assert_eq!(
                got.as_ref().map(|r| (r.name.as_str(), r.version.as_str())),
                want,
                "{file:?}"
            );
        }
    }

    #[test]
    fn hostile_archives_never_panic() {
        let jar = fat_jar();
        for cut in (0..jar.len()).step_by(13) {
            let _ = scan(&jar[..cut], 100);
        }
        for at in (0..jar.len()).step_by(5) {
            let mut bad = jar.clone();
            bad[at] ^= 0xa5;
            let _ = scan(&bad, 4096);
        }
        assert!(scan(b"not a zip at all", 4).is_empty());
        // A pom.properties that claims 4 GiB and inflates a bomb: capped.
        let bomb = vec![b'a'; 4 << 20];
        let z = zip(&[("META-INF/maven/a/b/pom.properties", &bomb, true, true)]);
        assert!(scan(&z, 65536).is_empty());
        // Entries of unknown length must be inflated to find their end; a run of bombs
        // exhausts the inflation allowance and the rest of the archive is not read.
        let one = zip(&[("x.class", &bomb, true, true)]);
        let entry = &one[..one.len() - 46];
        let pom = zip(&[(
            "META-INF/maven/a/b/pom.properties",
            b"groupId=a\nartifactId=b\nversion=1\n",
            true,
            true,
        )]);
        assert!(scan(&[entry.repeat(40), pom.clone()].concat(), 65536).is_empty());
        assert_eq!(scan(&[entry.repeat(4), pom].concat(), 65536).len(), 1);
    }
}
