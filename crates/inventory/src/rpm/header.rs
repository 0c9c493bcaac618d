//! The rpm header blob, as an rpm database stores it for each installed package.
//!
//! Layout (all integers big-endian): the index length `il` and data length `dl` (u32
//! each), then `il` index entries of 16 bytes (tag, type, offset into the data, count),
//! then `dl` bytes of data. Strings are NUL-terminated; numbers are aligned to their size
//! within the data. A header read from a hostile image is checked entry by entry before
//! anything is read through it.

use std::fmt::Write;

/// rpm's own bounds (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;
/// Strings read from one tag: each costs a `String` even when empty, so a count of 2^31
/// over a data area of NUL bytes would cost 24 bytes of memory per byte of input.
const MAX_STRINGS: u32 = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("header blob too short ({0} bytes)")]
    TooShort(usize),
    #[error("header has {0} tags, more than rpm allows")]
    TooManyTags(u32),
    #[error("header data of {0} bytes is more than rpm allows")]
    TooMuchData(u32),
    #[error("header blob is {have} bytes, its index says {need}")]
    Truncated { have: usize, need: usize },
    #[error("tag {tag}: type {kind} with count {count} at offset {offset} does not fit")]
    BadEntry {
        tag: u32,
        kind: u32,
        offset: u32,
        count: u32,
    },
    #[error("header has no {0} tag")]
    Missing(&'static str),
    #[error("file list is inconsistent: {0}")]
    Files(&'static str),
}

pub mod tag {
    pub const SIGPGP: u32 = 259;
    pub const SIGMD5: u32 = 261;
    pub const RSAHEADER: u32 = 268;
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const INSTALLTIME: u32 = 1008;
    pub const SIZE: u32 = 1009;
    pub const VENDOR: u32 = 1011;
    pub const LICENSE: u32 = 1014;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILESIZES: u32 = 1028;
    pub const FILEMODES: u32 = 1030;
    pub const FILEDIGESTS: u32 = 1035;
    pub const FILEFLAGS: u32 = 1037;
    pub const FILEUSERNAME: u32 = 1039;
    pub const FILEGROUPNAME: u32 = 1040;
    pub const SOURCERPM: u32 = 1044;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIRENAME: u32 = 1049;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const FILEDIGESTALGO: u32 = 5011;
    pub const LONGFILESIZES: u32 = 5008;
    pub const LONGSIZE: u32 = 5009;
    pub const MODULARITYLABEL: u32 = 5096;
}

mod kind {
    pub const CHAR: u32 = 1;
    pub const INT8: u32 = 2;
    pub const INT16: u32 = 3;
    pub const INT32: u32 = 4;
    pub const INT64: u32 = 5;
    pub const STRING: u32 = 6;
    pub const BIN: u32 = 7;
    pub const STRING_ARRAY: u32 = 8;
    pub const I18NSTRING: u32 = 9;
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// A parsed header, borrowing the blob.
#[derive(Debug)]
pub struct Header<'a> {
    entries: Vec<IndexEntry>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Header<'a> {
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, HeaderError> {
        if blob.len() < 8 {
            return Err(HeaderError::TooShort(blob.len()));
        }
        let il = be32(blob, 0);
        let dl = be32(blob, 4);
        if il == 0 || il > MAX_TAGS {
            return Err(HeaderError::TooManyTags(il));
        }
        if dl > MAX_DATA {
            return Err(HeaderError::TooMuchData(dl));
        }
        let index_end = 8 + il as usize * 16;
        let need = index_end + dl as usize;
        if blob.len() < need {
            return Err(HeaderError::Truncated {
                have: blob.len(),
                need,
            });
        }
        let data = &blob[index_end..need];
        let mut entries = Vec::with_capacity(il as usize);
        for i in 0..il as usize {
            let at = 8 + i * 16;
            let entry = IndexEntry {
                tag: be32(blob, at),
                kind: be32(blob, at + 4),
                offset: be32(blob, at + 8),
                count: be32(blob, at + 12),
            };
            check_entry(&entry, data)?;
            entries.push(entry);
        }
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// A `STRING`, or the first string of a `STRING_ARRAY` / `I18NSTRING`.
    pub fn string(&self, tag: u32) -> Option<String> {
        let e = self.entry(tag)?;
        match e.kind {
            kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING => {
                self.strings_of(e).into_iter().next()
            }
            _ => None,
        }
    }

    pub fn strings(&self, tag: u32) -> Vec<String> {
        match self.entry(tag) {
            Some(e) if matches!(e.kind, kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING) => {
                self.strings_of(e)
            }
            _ => Vec::new(),
        }
    }

    fn strings_of(&self, e: &IndexEntry) -> Vec<String> {
        let count = if e.kind == kind::STRING {
            1
        } else {
            e.count.min(MAX_STRINGS)
        };
        let mut rest = &self.data[e.offset as usize..];
        let mut out = Vec::with_capacity((count as usize).min(rest.len()));
        for _ in 0..count {
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                break;
            };
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            rest = &rest[end + 1..];
        }
        out
    }

    /// Integers of any width, widened.
    pub fn ints(&self, tag: u32) -> Vec<u64> {
        let Some(e) = self.entry(tag) else {
            return Vec::new();
        };
        let width = match e.kind {
            kind::CHAR | kind::INT8 => 1,
            kind::INT16 => 2,
            kind::INT32 => 4,
            kind::INT64 => 8,
            _ => return Vec::new(),
        };
        let start = e.offset as usize;
        self.data[start..start + width * e.count as usize]
            .chunks_exact(width)
            .map(|c| c.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
            .collect()
    }

    pub fn int(&self, tag: u32) -> Option<u64> {
        self.ints(tag).first().copied()
    }

    pub fn bin(&self, tag: u32) -> Option<&'a [u8]> {
        let e = self.entry(tag)?;
        if e.kind != kind::BIN {
            return None;
        }
        let start = e.offset as usize;
        Some(&self.data[start..start + e.count as usize])
    }

    /// The package this header describes.
    pub fn package(&self) -> Result<RpmPackage, HeaderError> {
        let name = self.string(tag::NAME).ok_or(HeaderError::Missing("NAME"))?;
        Ok(RpmPackage {
            name,
            epoch: self.int(tag::EPOCH),
            version: self.string(tag::VERSION).unwrap_or_default(),
            release: self.string(tag::RELEASE).unwrap_or_default(),
            arch: self.string(tag::ARCH),
            source_rpm: self.string(tag::SOURCERPM),
            size: self.int(tag::LONGSIZE).or_else(|| self.int(tag::SIZE)),
            license: self.string(tag::LICENSE),
            vendor: self.string(tag::VENDOR),
            modularity_label: self.string(tag::MODULARITYLABEL),
            summary: self.string(tag::SUMMARY),
            sigmd5: self.bin(tag::SIGMD5).map(hex::encode),
            install_time: self.int(tag::INSTALLTIME),
            digest_algorithm: self.int(tag::FILEDIGESTALGO).unwrap_or(1),
            pgp: self.bin(tag::SIGPGP).and_then(Signature::parse),
            rsa_header: self.bin(tag::RSAHEADER).and_then(Signature::parse),
            provides: self.strings(tag::PROVIDENAME),
            requires: self.strings(tag::REQUIRENAME),
        })
    }

    /// The files the package installed. An error when the file tags disagree with each
    /// other (or a package that installs files has none of them).
    pub fn files(&self) -> Result<Vec<RpmFile>, HeaderError> {
        let paths = match self.entry(tag::BASENAMES) {
            Some(_) => {
                let basenames = self.strings(tag::BASENAMES);
                let dirnames = self.strings(tag::DIRNAMES);
                let indexes = self.ints(tag::DIRINDEXES);
                if indexes.len() != basenames.len() {
                    return Err(HeaderError::Files("DIRINDEXES and BASENAMES differ"));
                }
                basenames
                    .iter()
                    .zip(&indexes)
                    .map(|(base, &i)| {
                        dirnames
                            .get(i as usize)
                            .map(|dir| format!("{dir}{base}"))
                            .ok_or(HeaderError::Files("DIRINDEXES out of range"))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => self.strings(tag::OLDFILENAMES),
        };
        if paths.is_empty() {
            return Err(HeaderError::Missing("BASENAMES"));
        }
        let sizes = {
            let long = self.ints(tag::LONGFILESIZES);
            if long.is_empty() {
                self.ints(tag::FILESIZES)
            } else {
                long
            }
        };
        let modes = self.ints(tag::FILEMODES);
        let digests = self.strings(tag::FILEDIGESTS);
        let flags = self.ints(tag::FILEFLAGS);
        let users = self.strings(tag::FILEUSERNAME);
        let groups = self.strings(tag::FILEGROUPNAME);
        let n = paths.len();
        let fits = |len: usize| len == 0 || len == n;
        if ![
            sizes.len(),
            modes.len(),
            digests.len(),
            flags.len(),
            users.len(),
            groups.len(),
        ]
        .into_iter()
        .all(fits)
        {
            return Err(HeaderError::Files("per-file tags have different lengths"));
        }
        Ok(paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| RpmFile {
                path,
                mode: modes.get(i).map_or(0, |&m| m as u16),
                digest: digests.get(i).cloned().unwrap_or_default(),
                size: sizes.get(i).copied().unwrap_or(0),
                username: users.get(i).cloned().unwrap_or_default(),
                groupname: groups.get(i).cloned().unwrap_or_default(),
                flags: flags.get(i).map_or(0, |&f| f as u32),
            })
            .collect())
    }
}

/// Checks that an index entry's data lies inside the data store, so that every later read
/// through it is in bounds.
fn check_entry(e: &IndexEntry, data: &[u8]) -> Result<(), HeaderError> {
    let bad = || HeaderError::BadEntry {
        tag: e.tag,
        kind: e.kind,
        offset: e.offset,
        count: e.count,
    };
    let start = e.offset as usize;
    if start > data.len() {
        return Err(bad());
    }
    let width = match e.kind {
        kind::CHAR | kind::INT8 | kind::BIN => 1,
        kind::INT16 => 2,
        kind::INT32 => 4,
        kind::INT64 => 8,
        kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING => {
            // Strings are read up to the NULs there are (counting them here would cost a
            // pass over the data per entry: quadratic in a hostile header).
            return if e.count == 0 || (e.kind == kind::STRING && e.count != 1) {
                Err(bad())
            } else {
                Ok(())
            };
        }
        // NULL and unknown types carry nothing we read.
        _ => return Ok(()),
    };
    match (e.count as usize).checked_mul(width) {
        Some(len) if start + len <= data.len() => Ok(()),
        _ => Err(bad()),
    }
}

/// What rpm knows about one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    pub source_rpm: Option<String>,
    pub size: Option<u64>,
    pub license: Option<String>,
    pub vendor: Option<String>,
    pub modularity_label: Option<String>,
    pub summary: Option<String>,
    /// MD5 of header and payload as hex (`RPMTAG_SIGMD5`).
    pub sigmd5: Option<String>,
    pub install_time: Option<u64>,
    /// OpenPGP hash algorithm of the file digests (`RPMTAG_FILEDIGESTALGO`; MD5 when
    /// absent).
    pub digest_algorithm: u64,
    pub pgp: Option<Signature>,
    pub rsa_header: Option<Signature>,
    pub provides: Vec<String>,
    pub requires: Vec<String>,
}

impl RpmPackage {
    /// `[EPOCH:]VERSION-RELEASE`, the form rpm compares.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The source package's name and `VERSION-RELEASE`, from `SOURCERPM`
    /// (`NAME-VERSION-RELEASE.src.rpm`).
    pub fn source(&self) -> Option<(String, String)> {
        let srpm = self.source_rpm.as_deref()?;
        let nvr = srpm
            .strip_suffix(".src.rpm")
            .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
        let (nv, release) = nvr.rsplit_once('-')?;
        let (name, version) = nv.rsplit_once('-')?;
        if name.is_empty() || version.is_empty() || release.is_empty() {
            return None;
        }
        Some((name.to_string(), format!("{version}-{release}")))
    }
}

/// The name rpm gives a file digest algorithm.
pub fn digest_algorithm_name(algo: u64) -> &'static str {
    match algo {
        1 => "PGPHASHALGO_MD5",
        2 => "PGPHASHALGO_SHA1",
        3 => "PGPHASHALGO_RIPEMD160",
        5 => "PGPHASHALGO_MD2",
        6 => "PGPHASHALGO_TIGER192",
        7 => "PGPHASHALGO_HAVAL_5_160",
        8 => "PGPHASHALGO_SHA256",
        9 => "PGPHASHALGO_SHA384",
        10 => "PGPHASHALGO_SHA512",
        11 => "PGPHASHALGO_SHA224",
        _ => "PGPHASHALGO_UNKNOWN",
    }
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmFile {
    pub path: String,
    pub mode: u16,
    pub digest: String,
    pub size: u64,
    pub username: String,
    pub groupname: String,
    pub flags: u32,
}

/// The parts of an OpenPGP signature (RFC 4880 §5.2) that say who signed and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub public_key_algorithm: u8,
    pub hash_algorithm: u8,
    /// Seconds since the epoch.
    pub created: u32,
    pub key_id: [u8; 8],
}

impl Signature {
    /// The signature packet at the start of `data`; `None` for anything else.
    pub fn parse(data: &[u8]) -> Option<Signature> {
        let first = *data.first()?;
        if first & 0x80 == 0 {
            return None;
        }
        let (tag, body) = if first & 0x40 != 0 {
            let tag = first & 0x3f;
            let (len, header): (usize, usize) = match *data.get(1)? {
                o if o < 192 => (o as usize, 2),
                o if o < 224 => (((o as usize - 192) << 8) + *data.get(2)? as usize + 192, 3),
                255 => (be32(data.get(2..6)?, 0) as usize, 6),
                _ => return None,
            };
            (tag, data.get(header..header.checked_add(len)?)?)
        } else {
            let tag = (first >> 2) & 0x0f;
            let (len, header): (usize, usize) = match first & 3 {
                0 => (*data.get(1)? as usize, 2),
                1 => (
                    u16::from_be_bytes([*data.get(1)?, *data.get(2)?]) as usize,
                    3,
                ),
                2 => (be32(data.get(1..5)?, 0) as usize, 5),
                _ => (data.len() - 1, 1),
            };
            (tag, data.get(header..header.checked_add(len)?)?)
        };
        if tag != 2 {
            return None;
        }
        match *body.first()? {
            3 => {
                // version, hashed length (5), type, time, key id, pk algo, hash algo
                let b = body.get(..17)?;
                Some(Signature {
                    created: be32(b, 3),
                    key_id: b[7..15].try_into().ok()?,
                    public_key_algorithm: b[15],
                    hash_algorithm: b[16],
                })
            }
            4 => {
                let public_key_algorithm = *body.get(2)?;
                let hash_algorithm = *body.get(3)?;
                let hashed_len = u16::from_be_bytes([*body.get(4)?, *body.get(5)?]) as usize;
                let hashed = body.get(6..6 + hashed_len)?;
                let unhashed_at = 6 + hashed_len;
                let unhashed_len =
                    u16::from_be_bytes([*body.get(unhashed_at)?, *body.get(unhashed_at + 1)?])
                        as usize;
                let unhashed = body.get(unhashed_at + 2..unhashed_at + 2 + unhashed_len)?;
                let mut created = None;
                let mut key_id = None;
                for area in [hashed, unhashed] {
                    for (kind, value) in subpackets(area) {
                        match kind {
                            2 if value.len() == 4 => created = Some(be32(value, 0)),
                            16 if value.len() == 8 => key_id = value.try_into().ok(),
                            33 if value.len() == 21 && key_id.is_none() => {
                                key_id = value[13..21].try_into().ok()
                            }
                            _ => {}
                        }
                    }
                }
                Some(Signature {
                    public_key_algorithm,
                    hash_algorithm,
                    created: created?,
                    key_id: key_id?,
                })
            }
            _ => None,
        }
    }
}

/// Signature subpackets: (type without the critical bit, value).
fn subpackets(mut area: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let Some(&first) = area.first() {
        let (len, skip): (usize, usize) = match first {
            o if o < 192 => (o as usize, 1),
            o if o < 255 => match area.get(1) {
                Some(&o2) => (((o as usize - 192) << 8) + o2 as usize + 192, 2),
                None => break,
            },
            _ => match area.get(1..5) {
                Some(b) => (be32(b, 0) as usize, 5),
                None => break,
            },
        };
        let Some(packet) = area.get(skip..skip.saturating_add(len)) else {
            break;
        };
        if let Some((&kind, value)) = packet.split_first() {
            out.push((kind & 0x7f, value));
        }
        area = &area[skip + len..];
    }
    out
}

impl std::fmt::Display for Signature {
    /// As rpm prints it: `RSA/SHA256, Mon Apr  3 18:10:39 2023, Key ID 199e2f91fd431d51`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pk = match self.public_key_algorithm {
            1..=3 => "RSA",
            17 => "DSA",
            19 => "ECDSA",
            22 => "EdDSA",
            _ => "UNKNOWN",
        };
        let hash = match self.hash_algorithm {
            1 => "MD5",
            2 => "SHA1",
            3 => "RIPEMD160",
            8 => "SHA256",
            9 => "SHA384",
            10 => "SHA512",
            11 => "SHA224",
            _ => "UNKNOWN",
        };
        let mut key = String::with_capacity(16);
        for b in self.key_id {
            let _ = write!(key, "{b:02x}");
        }
        write!(
            f,
            "{pk}/{hash}, {}, Key ID {key}",
            asctime_utc(self.created as i64)
        )
    }
}

/// `Mon Apr  3 18:10:39 2023` for a Unix time, in UTC.
fn asctime_utc(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a header blob from (tag, type, count, data) entries, aligning numbers.
    pub fn blob(entries: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut index = Vec::new();
        for (tag, kind, count, bytes) in entries {
            let align = match *kind {
                kind::INT16 => 2,
                kind::INT32 => 4,
                kind::INT64 => 8,
                _ => 1,
            };
            while data.len() % align != 0 {
                data.push(0);
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&count.to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    pub fn s(text: &str) -> Vec<u8> {
        let mut v = text.as_bytes().to_vec();
        v.push(0);
        v
    }

    pub fn package_blob(name: &str, version: &str, release: &str) -> Vec<u8> {
        blob(&[
            (tag::NAME, kind::STRING, 1, s(name)),
            (tag::VERSION, kind::STRING, 1, s(version)),
            (tag::RELEASE, kind::STRING, 1, s(release)),
            (tag::ARCH, kind::STRING, 1, s("x86_64")),
            (
                tag::SOURCERPM,
                kind::STRING,
                1,
                s(&format!("{name}-src-{version}-{release}.src.rpm")),
            ),
        ])
    }

    /// A string count of 2^31 over a data area of NULs reads at most `MAX_STRINGS`
    /// strings, not one `String` per byte of input.
    #[test]
    fn a_huge_string_count_is_bounded() {
        let nuls = vec![0u8; (MAX_STRINGS as usize) * 2];
        let header = blob(&[(tag::BASENAMES, kind::STRING_ARRAY, 1 << 31, nuls)]);
        let parsed = Header::parse(&header).unwrap();
        assert_eq!(parsed.strings(tag::BASENAMES).len(), MAX_STRINGS as usize);
    }

    #[test]
    fn reads_a_hand_built_header() {
        let mut strings = s("/usr/bin/");
        strings.extend(s("/etc/"));
        let mut bases = s("tool");
        bases.extend(s("tool.conf"));
        let raw = blob(&[
            (tag::NAME, kind::STRING, 1, s("tool")),
            (tag::EPOCH, kind::INT32, 1, 2u32.to_be_bytes().to_vec()),
            (tag::VERSION, kind::STRING, 1, s("1.0")),
            (tag::RELEASE, kind::STRING, 1, s("3.el9")),
            (tag::SUMMARY, kind::I18NSTRING, 1, s("A tool")),
            (
                tag::SOURCERPM,
                kind::STRING,
                1,
                s("tool-suite-1.0-3.el9.src.rpm"),
            ),
            (tag::SIGMD5, kind::BIN, 2, vec![0xab, 0xcd]),
            (tag::DIRNAMES, kind::STRING_ARRAY, 2, strings),
            (tag::BASENAMES, kind::STRING_ARRAY, 2, bases),
            (
                tag::DIRINDEXES,
                kind::INT32,
                2,
                [0u32.to_be_bytes(), 1u32.to_be_bytes()].concat(),
            ),
            (
                tag::FILEMODES,
                kind::INT16,
                2,
                [0o100755u16.to_be_bytes(), 0o100644u16.to_be_bytes()].concat(),
            ),
        ]);
        let header = Header::parse(&raw).unwrap();
        let p = header.package().unwrap();
        assert_eq!(p.evr(), "2:1.0-3.el9");
        assert_eq!(p.summary.as_deref(), Some("A tool"));
        assert_eq!(p.sigmd5.as_deref(), Some("abcd"));
        assert_eq!(p.source(), Some(("tool-suite".into(), "1.0-3.el9".into())));
        let files = header.files().unwrap();
        assert_eq!(files[1].path, "/etc/tool.conf");
        assert_eq!(files[0].mode, 0o100755);
    }

    #[test]
    fn signature_v4_and_date() {
        // v4 RSA/SHA256 signature: creation time hashed, issuer unhashed.
        let mut body = vec![4, 0x00, 1, 8, 0, 6, 5, 2];
        body.extend_from_slice(&1_680_545_439u32.to_be_bytes());
        body.extend_from_slice(&[0, 10, 9, 16]);
        body.extend_from_slice(&[0x19, 0x9e, 0x2f, 0x91, 0xfd, 0x43, 0x1d, 0x51]);
        body.extend_from_slice(&[0, 0]);
        let mut packet = vec![0x89, 0, body.len() as u8];
        packet.extend(body);
        let sig = Signature::parse(&packet).unwrap();
        assert_eq!(
            sig.to_string(),
            "RSA/SHA256, Mon Apr  3 18:10:39 2023, Key ID 199e2f91fd431d51"
        );
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime_utc(951_782_400), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn hostile_headers_are_errors() {
        assert!(Header::parse(b"").is_err());
        assert!(Header::parse(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Header::parse(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(Header::parse(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]).is_err());
        // An entry pointing past the data, a huge count, a string with a count of 0.
        for (kind, offset, count) in [(6u32, 100u32, 1u32), (4, 0, u32::MAX), (8, 0, 0)] {
            let mut raw = Vec::new();
            raw.extend_from_slice(&1u32.to_be_bytes());
            raw.extend_from_slice(&4u32.to_be_bytes());
            raw.extend_from_slice(&1000u32.to_be_bytes());
            raw.extend_from_slice(&kind.to_be_bytes());
            raw.extend_from_slice(&offset.to_be_bytes());
            raw.extend_from_slice(&count.to_be_bytes());
            raw.extend_from_slice(b"ab\0c");
            assert!(Header::parse(&raw).is_err(), "{kind} {offset} {count}");
        }
        // More strings announced than there are: those present are read.
        let raw = blob(&[
            (tag::NAME, kind::STRING, 1, s("a")),
            (tag::PROVIDENAME, kind::STRING_ARRAY, u32::MAX, s("x")),
        ]);
        assert_eq!(
            Header::parse(&raw).unwrap().strings(tag::PROVIDENAME),
            vec!["x"]
        );
        let good = package_blob("a", "1", "1");
        for cut in 0..good.len() {
            let _ = Header::parse(&good[..cut]).map(|h| h.package());
        }
        for junk in [
            &b"\x89"[..],
            b"\x89\x05\x04",
            b"\xc2\xff",
            b"\x88\x10\x04\x00",
            b"\xc2\x05\x03",
        ] {
            let _ = Signature::parse(junk);
        }
        assert_eq!(subpackets(&[255, 0xff, 0xff, 0xff, 0xff, 1]), vec![]);
    }
}
