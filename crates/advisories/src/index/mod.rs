//! Package indexes of distribution repositories: what the image's own repositories offer,
//! to tell which installed OS packages have a newer version available.
//!
//! Three formats, each with its own module: Debian's `Packages` ([`deb`]), Alpine's
//! `APKINDEX` ([`apk`]) and the `primary.xml` of RPM repositories ([`rpm`]). An index is
//! read from any source (a file given on the command line, a download) through [`read`],
//! which detects the compression (gzip, xz, zstd or none) and the format from the bytes,
//! and keeps only the newest version of each package. [`sources`] reads the repositories
//! an image is configured with, [`fetch`] downloads their indexes through a cache.
//!
//! Indexes are untrusted input like the image: the decompressed size, the number of
//! records and the length of a line are bounded.

pub mod apk;
pub mod deb;
pub mod fetch;
pub mod rpm;
pub mod sources;

use portcullis_inventory::DbFormat;
use portcullis_version::{self as version, Scheme};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// Largest decompressed index accepted. Debian's and Ubuntu's largest (`main` and
/// `universe` for amd64) are below 100 MiB.
pub const MAX_INDEX_SIZE: u64 = 1 << 30;
/// Most package records accepted in one index (Debian's `main` has about 65,000).
pub const MAX_RECORDS: usize = 2_000_000;
/// Longest line accepted in a `Packages` file or an `APKINDEX`.
pub const MAX_LINE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot read: {0}")]
    Io(io::Error),
    #[error("larger than {MAX_INDEX_SIZE} bytes decompressed")]
    TooLarge,
    #[error("more than {MAX_RECORDS} package records")]
    TooManyRecords,
    #[error("line {line}: longer than {MAX_LINE} bytes")]
    LineTooLong { line: usize },
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("bzip2-compressed index: give the .xz, .gz or uncompressed one")]
    Bzip2,
    #[error(
        "not a package index: expected a Debian Packages file, an Alpine APKINDEX (or APKINDEX.tar.gz) or an RPM primary.xml"
    )]
    UnknownFormat,
    #[error("a tar archive without an APKINDEX file")]
    NoApkIndex,
    #[error("repomd.xml lists the repository's files: give its primary.xml instead")]
    Repomd,
    #[error("XML: {0}")]
    Xml(String),
}

/// Which installed packages an index describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexFormat {
    /// Debian and Ubuntu `Packages`.
    Deb,
    /// Alpine `APKINDEX`.
    Apk,
    /// `repodata/primary.xml` of an RPM repository.
    Rpm,
}

impl IndexFormat {
    pub fn scheme(self) -> Scheme {
        match self {
            IndexFormat::Deb => Scheme::Deb,
            IndexFormat::Apk => Scheme::Apk,
            IndexFormat::Rpm => Scheme::Rpm,
        }
    }

    /// The index format that lists packages of a database format.
    pub fn for_db(format: DbFormat) -> Option<IndexFormat> {
        match format {
            DbFormat::Dpkg => Some(IndexFormat::Deb),
            DbFormat::Apk => Some(IndexFormat::Apk),
            DbFormat::Rpm => Some(IndexFormat::Rpm),
            _ => None,
        }
    }

    /// Whether packages of this format are matched by architecture as well as by name:
    /// dpkg and rpm install the same name for several architectures; apk does not.
    fn keys_arch(self) -> bool {
        !matches!(self, IndexFormat::Apk)
    }
}

impl fmt::Display for IndexFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexFormat::Deb => "Debian Packages",
            IndexFormat::Apk => "APKINDEX",
            IndexFormat::Rpm => "RPM primary.xml",
        })
    }
}

/// Where an index comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The suite or repository: `bookworm-security`, `v3.20/main`, `baseos`. `None` when
    /// neither given nor found in the location.
    pub suite: Option<String>,
    /// The file or URL it was read from.
    pub location: String,
    /// Whether the suite carries security updates (`*-security`, Debian's old
    /// `*/updates`).
    pub security: bool,
}

impl Origin {
    /// An origin named by `suite` when given, or else by what `location` says: a
    /// `dists/SUITE/` path (or apt's `_dists_SUITE_` list file name), an Alpine
    /// `/vX.Y/REPO/` path. A suite or location naming `-security` is a security suite.
    pub fn new(suite: Option<String>, location: &str) -> Origin {
        let (suite, security) = match suite.filter(|s| !s.is_empty()) {
            // A suite named on the command line is taken at its word.
            Some(named) => {
                let security = is_security_suite(&named);
                (Some(named), security)
            }
            None => {
                let found = suite_in(location);
                let security = found.as_deref().is_some_and(is_security_suite)
                    || location.contains("/debian-security/")
                    || (found.is_none() && location.contains("-security"));
                (found, security)
            }
        };
        Origin {
            suite,
            location: location.to_string(),
            security,
        }
    }

    /// How a finding names the index: its suite, else its location.
    pub fn label(&self) -> &str {
        self.suite.as_deref().unwrap_or(&self.location)
    }
}

/// Whether a suite name is one of the security-update suites: Debian's and Ubuntu's
/// `CODENAME-security`, Debian's `CODENAME/updates` before bullseye.
pub fn is_security_suite(suite: &str) -> bool {
    let suite = suite.trim_end_matches('/');
    suite.ends_with("-security") || suite.ends_with("/updates")
}

/// The suite a location names, if any.
fn suite_in(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next().unwrap_or(location);
    let parts: Vec<&str> = path.split('/').collect();
    if let Some(i) = parts.iter().position(|p| *p == "dists") {
        let suite = parts.get(i + 1).filter(|s| !s.is_empty())?;
        // Debian's old security suites are two components: `buster/updates`.
        return Some(match parts.get(i + 2) {
            Some(&"updates") => format!("{suite}/updates"),
            _ => suite.to_string(),
        });
    }
    let name = parts.last().copied().unwrap_or("");
    if let Some((_, rest)) = name.split_once("_dists_") {
        return rest.split('_').next().map(str::to_string);
    }
    // Alpine: .../alpine/v3.20/main/x86_64/APKINDEX.tar.gz
    let i = parts.iter().position(|p| {
        p.strip_prefix('v')
            .is_some_and(|v| v.contains('.') && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            || *p == "edge"
    })?;
    let repo = parts.get(i + 1).filter(|r| !r.is_empty())?;
    Some(format!("{}/{repo}", parts[i]))
}

/// The newest version an index offers for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub version: String,
}

/// One repository index, reduced to the newest version of each package.
#[derive(Debug, Clone)]
pub struct PackageIndex {
    pub format: IndexFormat,
    pub origin: Origin,
    /// Package records read (before keeping the newest per package).
    pub records: usize,
    newest: HashMap<(String, String), Available>,
}

impl PackageIndex {
    pub fn new(format: IndexFormat, origin: Origin) -> PackageIndex {
        PackageIndex {
            format,
            origin,
            records: 0,
            newest: HashMap::new(),
        }
    }

    fn key(&self, name: &str, arch: Option<&str>) -> (String, String) {
        let arch = if self.format.keys_arch() {
            arch.unwrap_or("")
        } else {
            ""
        };
        (name.to_string(), arch.to_string())
    }

    /// Adds one record, keeping the newer version when the package is already listed.
    /// Versions the scheme cannot order against the kept one are ignored.
    pub fn add(&mut self, name: &str, arch: Option<&str>, version: &str) -> Result<(), IndexError> {
        self.records += 1;
        if self.records > MAX_RECORDS {
            return Err(IndexError::TooManyRecords);
        }
        if name.is_empty() || version.is_empty() {
            return Ok(());
        }
        let key = self.key(name, arch);
        let scheme = self.format.scheme();
        match self.newest.get_mut(&key) {
            Some(kept) => {
                if version::compare(scheme, version, &kept.version) == Some(Ordering::Greater) {
                    kept.version = version.to_string();
                }
            }
            None => {
                self.newest.insert(
                    key,
                    Available {
                        version: version.to_string(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The newest version of `name` (for `arch`, where the format matches by
    /// architecture).
    pub fn newest(&self, name: &str, arch: Option<&str>) -> Option<&Available> {
        self.newest.get(&self.key(name, arch))
    }

    /// Distinct packages listed.
    pub fn len(&self) -> usize {
        self.newest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }
}

/// The indexes the outdated checks compare with.
#[derive(Debug, Clone, Default)]
pub struct IndexSet {
    pub indexes: Vec<PackageIndex>,
}

impl IndexSet {
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    pub fn push(&mut self, index: PackageIndex) {
        self.indexes.push(index);
    }

    /// Every index of `format` that lists `name` (for `arch`), with the version it offers.
    pub fn offers<'a>(
        &'a self,
        format: IndexFormat,
        name: &'a str,
        arch: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a PackageIndex, &'a Available)> + 'a {
        self.indexes
            .iter()
            .filter(move |i| i.format == format)
            .filter_map(move |i| i.newest(name, arch).map(|a| (i, a)))
    }
}

/// Reads an index of any supported format and compression.
pub fn read(input: impl Read, origin: Origin) -> Result<PackageIndex, IndexError> {
    let limited = Limited::new(input, MAX_INDEX_SIZE);
    let (magic, input) = peek(limited, 6)?;
    let decompressed: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(input))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(input)?)
    } else if magic.starts_with(b"BZh") {
        return Err(IndexError::Bzip2);
    } else {
        Box::new(input)
    };
    // The decompressed stream is bounded too: a small download must not expand without end.
    let decompressed = Limited::new(decompressed, MAX_INDEX_SIZE);
    let (head, input) = peek(decompressed, 512)?;
    let mut input = BufReader::with_capacity(1 << 16, input);
    match sniff(&head) {
        Sniffed::Tar => apk::read_tar(input, origin),
        Sniffed::Xml => rpm::read_primary(&mut input, origin),
        Sniffed::ApkText => apk::read(&mut input, origin),
        Sniffed::Deb => deb::read(&mut input, origin),
        Sniffed::Unknown => Err(IndexError::UnknownFormat),
    }
}

enum Sniffed {
    Tar,
    Xml,
    ApkText,
    Deb,
    Unknown,
}

fn sniff(head: &[u8]) -> Sniffed {
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Sniffed::Tar;
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let text = start.map_or(&[][..], |s| &text[s..]);
    if text.starts_with(b"<") {
        return Sniffed::Xml;
    }
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    match line.iter().position(|&b| b == b':') {
        Some(1) if line[0].is_ascii_alphabetic() => Sniffed::ApkText,
        Some(n) if n > 1 && line[..n].iter().all(|b| b.is_ascii_graphic()) => Sniffed::Deb,
        _ => Sniffed::Unknown,
    }
}

/// A reader with bytes already read from its front put back.
type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads up to `n` bytes from the front of `input`, and gives back a reader that still
/// yields them.
fn peek<R: Read>(mut input: R, n: usize) -> io::Result<(Vec<u8>, Peeked<R>)> {
    let mut head = Vec::with_capacity(n);
    (&mut input).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), io::Cursor::new(head).chain(input)))
}

impl From<io::Error> for IndexError {
    /// A read that went over a [`Limited`] reader's bound is [`IndexError::TooLarge`],
    /// whichever decompressor passed the error on.
    fn from(e: io::Error) -> IndexError {
        if e.get_ref().is_some_and(|inner| inner.is::<Oversize>()) {
            IndexError::TooLarge
        } else {
            IndexError::Io(e)
        }
    }
}

#[derive(Debug)]
struct Oversize;

impl fmt::Display for Oversize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "larger than {MAX_INDEX_SIZE} bytes")
    }
}

impl std::error::Error for Oversize {}

/// A reader that fails once more than `max` bytes went through it.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Limited<R> {
    fn new(inner: R, max: u64) -> Limited<R> {
        Limited { inner, left: max }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, Oversize))?;
        Ok(n)
    }
}

/// Reads one line (without its end) into `line`, refusing lines longer than
/// [`MAX_LINE`]. `Ok(false)` at the end of the input.
pub(crate) fn read_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    number: usize,
) -> Result<bool, IndexError> {
    line.clear();
    let n = input.take(MAX_LINE as u64 + 1).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > MAX_LINE {
        return Err(IndexError::LineTooLong { line: number });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_come_from_the_name_or_the_location() {
        let cases: &[(Option<&str>, &str, Option<&str>, bool)] = &[
            (
                Some("bookworm-security"),
                "Packages.xz",
                Some("bookworm-security"),
                true,
            ),
            (
                Some("bookworm"),
                "x/-security/Packages",
                Some("bookworm"),
                false,
            ),
            (
                None,
                "https://deb.debian.org/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz",
                Some("bookworm-security"),
                true,
            ),
            (
                None,
                "http://security.debian.org/dists/buster/updates/main/binary-amd64/Packages.gz",
                Some("buster/updates"),
                true,
            ),
            (
                None,
                "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages",
                Some("bookworm-updates"),
                false,
            ),
            (
                None,
                "https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz",
                Some("v3.20/main"),
                false,
            ),
            (None, "/tmp/jammy-security-Packages.gz", None, true),
            (None, "/tmp/Packages", None, false),
        ];
        for &(suite, location, want_suite, want_security) in cases {
            let origin = Origin::new(suite.map(str::to_string), location);
            assert_eq!(origin.suite.as_deref(), want_suite, "{location}");
            assert_eq!(origin.security, want_security, "{location}");
        }
    }

    fn origin() -> Origin {
        Origin::new(Some("test".into()), "test")
    }

    #[test]
    fn the_newest_version_is_kept_per_name_and_architecture() {
        let mut index = PackageIndex::new(IndexFormat::Deb, origin());
        for (name, arch, version) in [
            ("libc6", "amd64", "2.36-9"),
            ("libc6", "amd64", "2.36-9+deb12u4"),
            ("libc6", "amd64", "2.36-9+deb12u1"),
            ("libc6", "i386", "2.36-8"),
            ("bad", "amd64", "1.0"),
            ("bad", "amd64", "not a version!"),
        ] {
            index.add(name, Some(arch), version).unwrap();
        }
        assert_eq!(index.records, 6);
        assert_eq!(index.len(), 3);
        assert_eq!(
            index.newest("libc6", Some("amd64")).unwrap().version,
            "2.36-9+deb12u4"
        );
        assert_eq!(
            index.newest("libc6", Some("i386")).unwrap().version,
            "2.36-8"
        );
        assert_eq!(index.newest("libc6", Some("arm64")), None);
        assert_eq!(index.newest("bad", Some("amd64")).unwrap().version, "1.0");

        let mut apk = PackageIndex::new(IndexFormat::Apk, origin());
        apk.add("musl", Some("x86_64"), "1.2.4-r2").unwrap();
        assert_eq!(
            apk.newest("musl", Some("aarch64")).unwrap().version,
            "1.2.4-r2"
        );
        assert_eq!(apk.newest("musl", None).unwrap().version, "1.2.4-r2");
    }

    #[test]
    fn compression_and_format_are_detected_from_the_bytes() {
        let packages = b"Package: curl\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n\n";
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(packages).unwrap();
            e.finish().unwrap()
        };
        let xz = {
            use std::io::Write;
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(packages).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&packages[..], 1).unwrap();
        for bytes in [packages.to_vec(), gz, xz, zst] {
            let index = read(&bytes[..], origin()).unwrap();
            assert_eq!(index.format, IndexFormat::Deb);
            assert_eq!(
                index.newest("curl", Some("amd64")).unwrap().version,
                "7.88.1-10+deb12u5"
            );
        }
        assert!(matches!(
            read(&b"BZh91AY&SY"[..], origin()),
            Err(IndexError::Bzip2)
        ));
        assert!(matches!(
            read(&b"\x00\x01binary"[..], origin()),
            Err(IndexError::UnknownFormat)
        ));
        assert!(matches!(
            read(&b""[..], origin()),
            Err(IndexError::UnknownFormat)
        ));
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let mut limited = Limited::new(io::repeat(0), 1000);
        let mut sink = Vec::new();
        let err = limited.read_to_end(&mut sink).unwrap_err();
        assert!(matches!(IndexError::from(err), IndexError::TooLarge));
    }

    #[test]
    fn long_lines_are_refused() {
        let long = vec![b'a'; MAX_LINE + 10];
        let mut input = &long[..];
        let mut line = Vec::new();
        assert!(matches!(
            read_line(&mut input, &mut line, 1),
            Err(IndexError::LineTooLong { line: 1 })
        ));
        let mut input = &b"a\r\nb"[..];
        assert!(read_line(&mut input, &mut line, 1).unwrap());
        assert_eq!(line, b"a");
        assert!(read_line(&mut input, &mut line, 2).unwrap());
        assert_eq!(line, b"b");
        assert!(!read_line(&mut input, &mut line, 3).unwrap());
    }
}
