//! Builds real container images for the integration tests, byte for byte as the tools that
//! make them in the wild do: layer tars (plain, gzip, zstd) with every entry type, image
//! configs and OCI manifests, and the four local formats portcullis reads (classic and
//! Docker 25+ `docker save` archives, optionally gzipped; OCI layout directories; OCI
//! archives).
//!
//! Everything is deterministic (fixed mtimes, sorted JSON keys), so a digest computed here
//! is the digest the scanner must report. Hostile inputs are built with the raw escape
//! hatches ([`RawEntry`], [`Layer::raw_bytes`], [`Tamper`], [`Layout::self_referencing_index`],
//! `omit_blob`) rather than by editing files after the fact.
//!
//! ```ignore
//! let image = Image::new()
//!     .user("app")
//!     .layer(Layer::new().gzip().dir("etc").file("etc/passwd", PASSWD))
//!     .build();
//! DockerArchive::classic().image(&image, &["app:1"]).write(&dir.join("app.tar"));
//! Layout::new().image(&image, &["1"]).write_dir(&dir.join("layout"));
//! ```

use flate2::write::GzEncoder;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// The mtime of every entry the builder writes (2024-01-01T00:00:00Z).
pub const MTIME: u64 = 1_704_067_200;
/// The `created` time of every image config.
pub const CREATED: &str = "2024-01-01T00:00:00Z";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The hex part of a `sha256:` digest.
pub fn hex_of(digest: &str) -> &str {
    digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{digest} is not a sha256 digest"))
}

/// Serialises JSON the way the builder stores every metadata blob.
pub fn to_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialise")
}

// ---------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub const ALL: [Compression; 3] = [Compression::None, Compression::Gzip, Compression::Zstd];

    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => data.to_vec(),
            Compression::Gzip => gzip(data),
            Compression::Zstd => zstd::encode_all(data, 3).expect("zstd compresses"),
        }
    }

    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    pub fn docker_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.docker.image.rootfs.diff.tar",
            Compression::Gzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Zstd => "application/vnd.docker.image.rootfs.diff.tar.zstd",
        }
    }

    /// As portcullis' JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip writes to memory");
    enc.finish().expect("gzip finishes")
}

// ---------------------------------------------------------------------------------------
// Tar streams
// ---------------------------------------------------------------------------------------

/// How a name (or link target) longer than the 100-byte header field is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LongNames {
    /// A PAX extended header (`x`) with `path=` / `linkpath=` records, as Go's archive/tar
    /// (Docker, BuildKit) writes them.
    #[default]
    Pax,
    /// A GNU `././@LongLink` entry (`L` for names, `K` for link targets), as GNU tar writes.
    Gnu,
}

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// One well-formed tar entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Overrides the layer's [`LongNames`] style for this entry.
    pub long_names: Option<LongNames>,
}

impl Entry {
    fn new(path: &str, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            long_names: None,
        }
    }

    pub fn file(path: &str, content: impl AsRef<[u8]>) -> Entry {
        Entry::new(path, Kind::File(content.as_ref().to_vec()), 0o644)
    }
    pub fn dir(path: &str) -> Entry {
        Entry::new(path, Kind::Dir, 0o755)
    }
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::new(path, Kind::Symlink(target.to_string()), 0o777)
    }
    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry::new(path, Kind::Hardlink(target.to_string()), 0o644)
    }
    pub fn char_device(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, Kind::Char(major, minor), 0o666)
    }
    pub fn block_device(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, Kind::Block(major, minor), 0o660)
    }
    pub fn fifo(path: &str) -> Entry {
        Entry::new(path, Kind::Fifo, 0o644)
    }

    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn long_names(mut self, style: LongNames) -> Entry {
        self.long_names = Some(style);
        self
    }
}

/// A tar header written exactly as given: the escape hatch for hostile entries. The name is
/// stored raw in the 100-byte field (no normalisation, so `../x` and `/x` survive), the size
/// field says `declared_size` whatever the body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// The type flag byte (`b'0'` file, `b'5'` dir, `b'2'` symlink ...).
    pub entry_type: u8,
    pub mode: u32,
    pub declared_size: u64,
    pub body: Vec<u8>,
    pub link: Vec<u8>,
    /// Pad the body to a 512-byte boundary (a truncated entry leaves this off).
    pub pad: bool,
}

impl RawEntry {
    /// A regular file named `name` (stored verbatim) holding `body`.
    pub fn file(name: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> RawEntry {
        let body = body.as_ref().to_vec();
        RawEntry {
            name: name.as_ref().to_vec(),
            entry_type: b'0',
            mode: 0o644,
            declared_size: body.len() as u64,
            body,
            link: Vec::new(),
            pad: true,
        }
    }

    /// A symlink named `name` pointing at `target`, both verbatim.
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> RawEntry {
        RawEntry {
            name: name.as_ref().to_vec(),
            entry_type: b'2',
            mode: 0o777,
            declared_size: 0,
            body: Vec::new(),
            link: target.as_ref().to_vec(),
            pad: true,
        }
    }

    /// A hard link named `name` pointing at `target`, both verbatim.
    pub fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> RawEntry {
        RawEntry {
            entry_type: b'1',
            mode: 0o644,
            ..RawEntry::symlink(name, target)
        }
    }

    /// A file whose header claims `declared_size` bytes but whose body is `body` (the stream
    /// ends, or goes on with whatever follows, long before).
    pub fn lying_size(
        name: impl AsRef<[u8]>,
        declared_size: u64,
        body: impl AsRef<[u8]>,
    ) -> RawEntry {
        RawEntry {
            declared_size,
            pad: false,
            ..RawEntry::file(name, body)
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::new(self.entry_type));
        header.set_mode(self.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_size(self.declared_size);
        put_field(&mut header.as_old_mut().name, &self.name);
        put_field(&mut header.as_old_mut().linkname, &self.link);
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(&self.body);
        if self.pad {
            pad_block(&mut out);
        }
        out
    }
}

fn put_field(field: &mut [u8], value: &[u8]) {
    assert!(
        value.len() <= field.len(),
        "{} bytes do not fit a {}-byte header field",
        value.len(),
        field.len()
    );
    field.fill(0);
    field[..value.len()].copy_from_slice(value);
}

fn pad_block(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// A tar stream under construction.
#[derive(Debug, Default)]
pub struct TarWriter {
    out: Vec<u8>,
}

impl TarWriter {
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    fn block(&mut self, header: &tar::Header, body: &[u8]) {
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(body);
        pad_block(&mut self.out);
    }

    /// Writes one PAX extended header (`x`) holding `records`.
    fn pax(&mut self, records: &[(&str, &[u8])]) {
        let mut body = Vec::new();
        for (key, value) in records {
            // The length prefix counts itself: find the fixed point.
            let len = 1 + key.len() + 1 + value.len() + 1;
            let mut total = len + 1;
            while total != len + total.to_string().len() {
                total = len + total.to_string().len();
            }
            body.extend_from_slice(format!("{total} {key}=").as_bytes());
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_size(body.len() as u64);
        put_field(&mut h.as_old_mut().name, b"PaxHeaders.0/long");
        h.set_cksum();
        self.block(&h, &body);
    }

    /// Writes a GNU `././@LongLink` entry (`L` for a name, `K` for a link target).
    fn gnu_long(&mut self, gnu_type: u8, value: &[u8]) {
        let mut body = value.to_vec();
        body.push(0);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(gnu_type));
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_size(body.len() as u64);
        put_field(&mut h.as_old_mut().name, b"././@LongLink");
        h.set_cksum();
        self.block(&h, &body);
    }

    pub fn entry(&mut self, entry: &Entry, default_style: LongNames) {
        let style = entry.long_names.unwrap_or(default_style);
        let mut name = entry.path.clone().into_bytes();
        if matches!(entry.kind, Kind::Dir) && !name.ends_with(b"/") {
            name.push(b'/');
        }
        let link: &[u8] = match &entry.kind {
            Kind::Symlink(t) | Kind::Hardlink(t) => t.as_bytes(),
            _ => b"",
        };
        match style {
            LongNames::Pax => {
                let mut records: Vec<(&str, &[u8])> = Vec::new();
                if name.len() > 100 {
                    records.push(("path", &name));
                }
                if link.len() > 100 {
                    records.push(("linkpath", link));
                }
                if !records.is_empty() {
                    self.pax(&records);
                }
            }
            LongNames::Gnu => {
                if link.len() > 100 {
                    self.gnu_long(b'K', link);
                }
                if name.len() > 100 {
                    self.gnu_long(b'L', &name);
                }
            }
        }
        let mut h = match style {
            LongNames::Pax => tar::Header::new_ustar(),
            LongNames::Gnu => tar::Header::new_gnu(),
        };
        let (ty, body): (tar::EntryType, &[u8]) = match &entry.kind {
            Kind::File(data) => (tar::EntryType::Regular, data),
            Kind::Dir => (tar::EntryType::Directory, b""),
            Kind::Symlink(_) => (tar::EntryType::Symlink, b""),
            Kind::Hardlink(_) => (tar::EntryType::Link, b""),
            Kind::Char(..) => (tar::EntryType::Char, b""),
            Kind::Block(..) => (tar::EntryType::Block, b""),
            Kind::Fifo => (tar::EntryType::Fifo, b""),
        };
        h.set_entry_type(ty);
        h.set_mode(entry.mode);
        h.set_uid(entry.uid);
        h.set_gid(entry.gid);
        h.set_mtime(MTIME);
        h.set_size(body.len() as u64);
        put_field(&mut h.as_old_mut().name, &name[..name.len().min(100)]);
        put_field(&mut h.as_old_mut().linkname, &link[..link.len().min(100)]);
        if let Kind::Char(major, minor) | Kind::Block(major, minor) = entry.kind {
            h.set_device_major(major)
                .expect("ustar/gnu headers hold devices");
            h.set_device_minor(minor)
                .expect("ustar/gnu headers hold devices");
        }
        h.set_cksum();
        self.block(&h, body);
    }

    pub fn file(&mut self, path: &str, content: &[u8]) {
        self.entry(&Entry::file(path, content), LongNames::Pax);
    }

    pub fn dir(&mut self, path: &str) {
        self.entry(&Entry::dir(path), LongNames::Pax);
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Appends the two zero blocks that end an archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }

    /// The bytes without an end-of-archive marker.
    pub fn into_unterminated(self) -> Vec<u8> {
        self.out
    }
}

// ---------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Entry(Entry),
    Raw(Vec<u8>),
}

/// One layer: tar entries in order, and how the blob is compressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    items: Vec<Item>,
    compression: Compression,
    long_names: LongNames,
    unterminated: bool,
}

impl Layer {
    pub fn new() -> Layer {
        Layer::default()
    }

    pub fn compression(mut self, compression: Compression) -> Layer {
        self.compression = compression;
        self
    }
    pub fn gzip(self) -> Layer {
        self.compression(Compression::Gzip)
    }
    pub fn zstd(self) -> Layer {
        self.compression(Compression::Zstd)
    }
    /// How names over 100 bytes are written in this layer (default PAX).
    pub fn long_names(mut self, style: LongNames) -> Layer {
        self.long_names = style;
        self
    }
    /// Leaves off the end-of-archive blocks.
    pub fn unterminated(mut self) -> Layer {
        self.unterminated = true;
        self
    }

    pub fn entry(mut self, entry: Entry) -> Layer {
        self.items.push(Item::Entry(entry));
        self
    }
    pub fn file(self, path: &str, content: impl AsRef<[u8]>) -> Layer {
        self.entry(Entry::file(path, content))
    }
    /// A regular file with explicit mode (setuid etc.) and owner.
    pub fn file_with(
        self,
        path: &str,
        content: impl AsRef<[u8]>,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Layer {
        self.entry(Entry::file(path, content).mode(mode).owner(uid, gid))
    }
    pub fn dir(self, path: &str) -> Layer {
        self.entry(Entry::dir(path))
    }
    pub fn dir_with(self, path: &str, mode: u32, uid: u64, gid: u64) -> Layer {
        self.entry(Entry::dir(path).mode(mode).owner(uid, gid))
    }
    pub fn symlink(self, path: &str, target: &str) -> Layer {
        self.entry(Entry::symlink(path, target))
    }
    pub fn hardlink(self, path: &str, target: &str) -> Layer {
        self.entry(Entry::hardlink(path, target))
    }
    pub fn char_device(self, path: &str, major: u32, minor: u32) -> Layer {
        self.entry(Entry::char_device(path, major, minor))
    }
    pub fn block_device(self, path: &str, major: u32, minor: u32) -> Layer {
        self.entry(Entry::block_device(path, major, minor))
    }
    pub fn fifo(self, path: &str) -> Layer {
        self.entry(Entry::fifo(path))
    }
    /// Deletes `path` (file or directory) from the layers below: writes `DIR/.wh.NAME`.
    pub fn whiteout(self, path: &str) -> Layer {
        let (dir, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n.to_string()),
            None => (String::new(), path.trim_end_matches('/').to_string()),
        };
        self.entry(Entry::file(&format!("{dir}.wh.{name}"), b""))
    }
    /// Hides everything the layers below put in `dir`: writes `DIR/.wh..wh..opq`.
    pub fn opaque(self, dir: &str) -> Layer {
        let dir = dir.trim_end_matches('/');
        self.entry(Entry::file(&format!("{dir}/.wh..wh..opq"), b""))
    }
    /// A hostile header, written verbatim.
    pub fn raw_entry(self, raw: RawEntry) -> Layer {
        self.raw_bytes(raw.encode())
    }
    /// Arbitrary bytes in the tar stream at this point.
    pub fn raw_bytes(mut self, bytes: impl AsRef<[u8]>) -> Layer {
        self.items.push(Item::Raw(bytes.as_ref().to_vec()));
        self
    }

    /// Number of entries portcullis reports for this layer: everything but whiteout markers,
    /// the root directory and raw bytes.
    pub fn entry_count(&self) -> usize {
        self.items
            .iter()
            .filter(|i| match i {
                Item::Entry(e) => {
                    let name = e.path.trim_end_matches('/');
                    let base = name.rsplit('/').next().unwrap_or(name);
                    !base.starts_with(".wh.") && !matches!(name, "" | "." | "./")
                }
                Item::Raw(_) => false,
            })
            .count()
    }

    /// The uncompressed tar stream.
    pub fn tar(&self) -> Vec<u8> {
        let mut w = TarWriter::new();
        for item in &self.items {
            match item {
                Item::Entry(e) => w.entry(e, self.long_names),
                Item::Raw(bytes) => w.raw(bytes),
            }
        }
        if self.unterminated {
            w.into_unterminated()
        } else {
            w.finish()
        }
    }

    /// The blob as stored.
    pub fn blob(&self) -> Vec<u8> {
        self.compression.compress(&self.tar())
    }
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/// One `history` entry of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub created_by: String,
    pub empty_layer: bool,
}

/// Faults built into an image, for hostile tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Layer N's stored bytes differ (one content byte changed, same length) from what its
    /// descriptor digest and the config's diff_id say.
    LayerBytes(usize),
    /// The config lists a wrong diff_id for layer N.
    DiffId(usize),
    /// Layer N's blob is cut in half; its descriptor matches the cut bytes, so only the
    /// stream itself is broken (use a gzip or zstd layer).
    TruncateLayer(usize),
    /// The manifest lists one layer more (the last one again) than the config's diff_ids.
    ExtraManifestLayer,
}

/// An image to build: layers and config.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub user: Option<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub working_dir: Option<String>,
    pub healthcheck: Option<Vec<String>>,
    /// Written as given; when empty, one `ADD layer N` entry per layer.
    pub history: Vec<History>,
    /// Docker media types (`application/vnd.docker.*`) instead of OCI ones.
    pub docker_media_types: bool,
    /// Extra top-level config fields, merged last (replace anything above).
    pub config_extra: Map<String, Value>,
    /// The manifest's `annotations`; none written when empty.
    pub annotations: BTreeMap<String, String>,
    pub tampers: Vec<Tamper>,
}

impl Default for Image {
    fn default() -> Self {
        Image {
            layers: Vec::new(),
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            user: None,
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            labels: BTreeMap::new(),
            cmd: None,
            entrypoint: None,
            exposed_ports: Vec::new(),
            volumes: Vec::new(),
            working_dir: None,
            healthcheck: None,
            history: Vec::new(),
            docker_media_types: false,
            config_extra: Map::new(),
            annotations: BTreeMap::new(),
            tampers: Vec::new(),
        }
    }
}

impl Image {
    /// linux/amd64, no user, PATH set.
    pub fn new() -> Image {
        Image::default()
    }

    pub fn layer(mut self, layer: Layer) -> Image {
        self.layers.push(layer);
        self
    }
    /// `os/arch[/variant]`.
    pub fn platform(mut self, platform: &str) -> Image {
        let parts: Vec<&str> = platform.split('/').collect();
        assert!(
            (2..=3).contains(&parts.len()),
            "platform {platform:?} is not os/arch[/variant]"
        );
        self.os = parts[0].into();
        self.architecture = parts[1].into();
        self.variant = parts.get(2).map(|v| v.to_string());
        self
    }
    pub fn user(mut self, user: &str) -> Image {
        self.user = Some(user.into());
        self
    }
    pub fn env(mut self, key_value: &str) -> Image {
        self.env.push(key_value.into());
        self
    }
    pub fn label(mut self, key: &str, value: &str) -> Image {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// A manifest annotation (`org.opencontainers.image.base.name`, say).
    pub fn annotation(mut self, key: &str, value: &str) -> Image {
        self.annotations.insert(key.into(), value.into());
        self
    }
    pub fn cmd(mut self, cmd: &[&str]) -> Image {
        self.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn entrypoint(mut self, entrypoint: &[&str]) -> Image {
        self.entrypoint = Some(entrypoint.iter().map(|s| s.to_string()).collect());
        self
    }
    /// `8080/tcp`.
    pub fn expose(mut self, port: &str) -> Image {
        self.exposed_ports.push(port.into());
        self
    }
    pub fn volume(mut self, path: &str) -> Image {
        self.volumes.push(path.into());
        self
    }
    pub fn workdir(mut self, dir: &str) -> Image {
        self.working_dir = Some(dir.into());
        self
    }
    /// `["CMD", "curl", "-f", "http://localhost/"]` or `["NONE"]`.
    pub fn healthcheck(mut self, test: &[&str]) -> Image {
        self.healthcheck = Some(test.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn history(mut self, created_by: &str, empty_layer: bool) -> Image {
        self.history.push(History {
            created_by: created_by.into(),
            empty_layer,
        });
        self
    }
    pub fn docker_media_types(mut self) -> Image {
        self.docker_media_types = true;
        self
    }
    pub fn config_field(mut self, key: &str, value: Value) -> Image {
        self.config_extra.insert(key.into(), value);
        self
    }
    pub fn tamper(mut self, tamper: Tamper) -> Image {
        self.tampers.push(tamper);
        self
    }

    fn config_json(&self, diff_ids: &[String]) -> Value {
        let mut config = Map::new();
        if let Some(u) = &self.user {
            config.insert("User".into(), json!(u));
        }
        if !self.env.is_empty() {
            config.insert("Env".into(), json!(self.env));
        }
        if let Some(c) = &self.entrypoint {
            config.insert("Entrypoint".into(), json!(c));
        }
        if let Some(c) = &self.cmd {
            config.insert("Cmd".into(), json!(c));
        }
        if !self.labels.is_empty() {
            config.insert("Labels".into(), json!(self.labels));
        }
        if !self.exposed_ports.is_empty() {
            let ports: Map<String, Value> = self
                .exposed_ports
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            config.insert("ExposedPorts".into(), Value::Object(ports));
        }
        if !self.volumes.is_empty() {
            let vols: Map<String, Value> = self
                .volumes
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            config.insert("Volumes".into(), Value::Object(vols));
        }
        if let Some(w) = &self.working_dir {
            config.insert("WorkingDir".into(), json!(w));
        }
        if let Some(h) = &self.healthcheck {
            config.insert("Healthcheck".into(), json!({ "Test": h }));
        }
        let history: Vec<Value> = if self.history.is_empty() {
            (0..self.layers.len())
                .map(|i| json!({"created": CREATED, "created_by": format!("ADD layer{i}.tar / # buildkit")}))
                .collect()
        } else {
            self.history
                .iter()
                .map(|h| {
                    let mut v = json!({"created": CREATED, "created_by": h.created_by});
                    if h.empty_layer {
                        v["empty_layer"] = json!(true);
                    }
                    v
                })
                .collect()
        };
        let mut top = Map::new();
        top.insert("architecture".into(), json!(self.architecture));
        top.insert("os".into(), json!(self.os));
        if let Some(v) = &self.variant {
            top.insert("variant".into(), json!(v));
        }
        top.insert("created".into(), json!(CREATED));
        top.insert("config".into(), Value::Object(config));
        top.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        top.insert("history".into(), Value::Array(history));
        for (k, v) in &self.config_extra {
            top.insert(k.clone(), v.clone());
        }
        Value::Object(top)
    }

    /// Builds every blob: layers, config, manifest.
    pub fn build(&self) -> Built {
        let mut layers = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let tar = layer.tar();
            let diff_id = sha256(&tar);
            let mut blob = layer.compression.compress(&tar);
            let mut digest = sha256(&blob);
            let mut size = blob.len() as u64;
            if self.tampers.contains(&Tamper::LayerBytes(i)) {
                let mut changed = tar.clone();
                flip_content_byte(&mut changed);
                blob = layer.compression.compress(&changed);
            }
            if self.tampers.contains(&Tamper::TruncateLayer(i)) {
                blob.truncate(blob.len() / 2);
                digest = sha256(&blob);
                size = blob.len() as u64;
            }
            let media_type = if self.docker_media_types {
                layer.compression.docker_media_type()
            } else {
                layer.compression.oci_media_type()
            };
            layers.push(BuiltLayer {
                tar,
                blob,
                digest,
                diff_id,
                size,
                compression: layer.compression,
                media_type: media_type.to_string(),
                entries: layer.entry_count(),
            });
        }
        let mut diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        for t in &self.tampers {
            if let Tamper::DiffId(i) = t {
                diff_ids[*i] = sha256(format!("not layer {i}").as_bytes());
            }
        }
        let config = to_json(&self.config_json(&diff_ids));
        let config_digest = sha256(&config);
        let mut layer_descs: Vec<Value> = layers
            .iter()
            .map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
            .collect();
        if self.tampers.contains(&Tamper::ExtraManifestLayer)
            && let Some(last) = layer_descs.last().cloned()
        {
            layer_descs.push(last);
        }
        let (manifest_type, config_type) = if self.docker_media_types {
            (DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": layer_descs,
        });
        if !self.annotations.is_empty() {
            manifest["annotations"] = json!(self.annotations);
        }
        let manifest = to_json(&manifest);
        Built {
            manifest_digest: sha256(&manifest),
            manifest_media_type: manifest_type.to_string(),
            manifest,
            config_digest,
            config,
            diff_ids,
            layers,
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
            extra_manifest_layer: self.tampers.contains(&Tamper::ExtraManifestLayer),
        }
    }
}

/// Changes one byte of file content in an uncompressed tar, keeping its length (and so its
/// structure) intact.
fn flip_content_byte(tar: &mut [u8]) {
    // The first block after the first header that holds content.
    let mut pos = 0;
    while pos + 512 <= tar.len() {
        let header = &tar[pos..pos + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size_field = std::str::from_utf8(&header[124..136])
            .unwrap_or("")
            .trim_matches(|c: char| c == '\0' || c == ' ');
        let size = u64::from_str_radix(size_field, 8).unwrap_or(0) as usize;
        if size > 0 && header[156] == b'0' {
            tar[pos + 512] ^= 0x01;
            return;
        }
        pos += 512 + size.div_ceil(512) * 512;
    }
    panic!("Tamper::LayerBytes needs a layer with a non-empty regular file");
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The uncompressed tar stream.
    pub tar: Vec<u8>,
    /// The bytes stored in the archive or layout.
    pub blob: Vec<u8>,
    /// The digest descriptors promise (the blob's unless tampered).
    pub digest: String,
    /// The digest of the untampered tar stream.
    pub diff_id: String,
    pub size: u64,
    pub compression: Compression,
    pub media_type: String,
    /// What portcullis should count in the report's `entries`.
    pub entries: usize,
}

/// An image with every blob computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    /// As the config lists them (tampered ones included).
    pub diff_ids: Vec<String>,
    pub layers: Vec<BuiltLayer>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    extra_manifest_layer: bool,
}

impl Built {
    /// `os/arch[/variant]`.
    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    fn platform_json(&self) -> Value {
        let mut p = json!({"architecture": self.architecture, "os": self.os});
        if let Some(v) = &self.variant {
            p["variant"] = json!(v);
        }
        p
    }

    /// The descriptor of this image's manifest.
    pub fn descriptor(&self, with_platform: bool) -> Value {
        let mut d = json!({
            "mediaType": self.manifest_media_type,
            "digest": self.manifest_digest,
            "size": self.manifest.len(),
        });
        if with_platform {
            d["platform"] = self.platform_json();
        }
        d
    }

    /// Every blob this image stores, by digest: config, layers, manifest.
    pub fn blobs(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![
            (self.config_digest.clone(), self.config.clone()),
            (self.manifest_digest.clone(), self.manifest.clone()),
        ];
        for l in &self.layers {
            out.push((l.digest.clone(), l.blob.clone()));
        }
        out
    }

    /// How many layers the manifest lists (one more than built under
    /// `Tamper::ExtraManifestLayer`).
    fn layer_count_in_manifest(&self) -> usize {
        self.layers.len() + usize::from(self.extra_manifest_layer)
    }
}

// ---------------------------------------------------------------------------------------
// OCI image layouts and archives
// ---------------------------------------------------------------------------------------

/// An entry of an index: an image, or a nested index of entries.
#[derive(Debug, Clone)]
pub enum Node {
    Image(Box<Built>),
    Index(Vec<Node>),
}

impl Node {
    pub fn image(built: &Built) -> Node {
        Node::Image(Box::new(built.clone()))
    }

    /// Writes this node's blobs into `blobs` and returns its descriptor.
    fn store(&self, blobs: &mut BTreeMap<String, Vec<u8>>, in_index: bool) -> Value {
        match self {
            Node::Image(built) => {
                for (d, b) in built.blobs() {
                    blobs.insert(d, b);
                }
                built.descriptor(in_index)
            }
            Node::Index(children) => {
                let manifests: Vec<Value> = children.iter().map(|c| c.store(blobs, true)).collect();
                let data = to_json(&json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": manifests,
                }));
                let digest = sha256(&data);
                let d = json!({"mediaType": OCI_INDEX, "digest": digest, "size": data.len()});
                blobs.insert(digest, data);
                d
            }
        }
    }

    /// The digest of this node's manifest or index blob.
    pub fn digest(&self) -> String {
        let mut blobs = BTreeMap::new();
        self.store(&mut blobs, false)["digest"]
            .as_str()
            .expect("descriptors have digests")
            .to_string()
    }
}

/// An OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/*`.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    top: Vec<(Node, Option<String>)>,
    omit: BTreeSet<String>,
    extra_blobs: BTreeMap<String, Vec<u8>>,
    extra_descriptors: Vec<Value>,
}

impl Layout {
    pub fn new() -> Layout {
        Layout::default()
    }

    /// Lists `node` in index.json once per ref name, or once without one when `refs` is empty.
    pub fn node(mut self, node: Node, refs: &[&str]) -> Layout {
        if refs.is_empty() {
            self.top.push((node, None));
        } else {
            for r in refs {
                self.top.push((node.clone(), Some(r.to_string())));
            }
        }
        self
    }

    pub fn image(self, built: &Built, refs: &[&str]) -> Layout {
        self.node(Node::image(built), refs)
    }

    /// A multi-platform index of `images`.
    pub fn index(self, images: &[&Built], refs: &[&str]) -> Layout {
        let node = Node::Index(images.iter().map(|b| Node::image(b)).collect());
        self.node(node, refs)
    }

    /// Leaves the blob with this digest out.
    pub fn omit_blob(mut self, digest: &str) -> Layout {
        self.omit.insert(digest.to_string());
        self
    }

    /// Lists (under `ref_name`) an index blob stored under digest D whose only entry is D
    /// itself. (Content addressing makes a true cycle impossible, so the blob's bytes do
    /// not hash to D: a scanner must stop on the digest or on the cycle.)
    pub fn self_referencing_index(mut self, ref_name: &str) -> Layout {
        let fake = sha256(b"an index that lists itself");
        let body_with = |size: usize| {
            to_json(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [{"mediaType": OCI_INDEX, "digest": fake, "size": size}],
            }))
        };
        // The inner descriptor states the blob's own size: find the fixed point.
        let mut size = 0;
        while body_with(size).len() != size {
            size = body_with(size).len();
        }
        let body = body_with(size);
        self.extra_descriptors.push(json!({
            "mediaType": OCI_INDEX,
            "digest": fake,
            "size": size,
            "annotations": {REF_NAME: ref_name},
        }));
        self.extra_blobs.insert(fake, body);
        self
    }

    /// A blob stored as is (referenced by nothing unless a descriptor names it).
    pub fn extra_blob(mut self, digest: &str, data: &[u8]) -> Layout {
        self.extra_blobs.insert(digest.to_string(), data.to_vec());
        self
    }

    /// A descriptor added verbatim to index.json.
    pub fn extra_descriptor(mut self, descriptor: Value) -> Layout {
        self.extra_descriptors.push(descriptor);
        self
    }

    /// index.json and every blob (omitted ones left out), by path.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut blobs = BTreeMap::new();
        let mut manifests = Vec::new();
        for (node, ref_name) in &self.top {
            let mut d = node.store(&mut blobs, false);
            if let Some(r) = ref_name {
                d["annotations"] = json!({ REF_NAME: r });
            }
            manifests.push(d);
        }
        manifests.extend(self.extra_descriptors.iter().cloned());
        for (d, b) in &self.extra_blobs {
            blobs.insert(d.clone(), b.clone());
        }
        let index = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }));
        let mut files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".to_string(), index),
        ];
        for (digest, data) in blobs {
            if !self.omit.contains(&digest) {
                files.push((format!("blobs/sha256/{}", hex_of(&digest)), data));
            }
        }
        files
    }

    pub fn write_dir(&self, dir: &Path) {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create the layout");
        for (path, data) in self.files() {
            std::fs::write(dir.join(&path), data).expect("write a layout file");
        }
    }

    /// The layout as an OCI archive (a tar of the directory).
    pub fn archive_bytes(&self) -> Vec<u8> {
        let mut w = TarWriter::new();
        w.dir("blobs");
        w.dir("blobs/sha256");
        for (path, data) in self.files() {
            w.file(&path, &data);
        }
        w.finish()
    }

    pub fn write_archive(&self, file: &Path) {
        std::fs::write(file, self.archive_bytes()).expect("write the OCI archive");
    }
}

// ---------------------------------------------------------------------------------------
// docker save archives
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerStyle {
    /// Before Docker 25: `<layer id>/layer.tar`, `<config hex>.json`, manifest.json,
    /// repositories.
    Classic,
    /// Docker 25+: an OCI layout (`blobs/sha256`, index.json, oci-layout) plus manifest.json
    /// and repositories.
    Docker25,
}

/// A `docker save` archive of one or more images.
#[derive(Debug, Clone)]
pub struct DockerArchive {
    style: DockerStyle,
    images: Vec<(Built, Vec<String>)>,
    gzip: bool,
    omit: BTreeSet<String>,
    extra: Vec<Vec<u8>>,
}

/// Docker's v1 layer id: a chain over the diff_ids, so that equal layer stacks share ids.
fn v1_layer_id(parent: Option<&str>, diff_id: &str) -> String {
    let text = match parent {
        Some(p) => format!("{p} {diff_id}"),
        None => diff_id.to_string(),
    };
    hex_of(&sha256(text.as_bytes())).to_string()
}

impl DockerArchive {
    pub fn new(style: DockerStyle) -> DockerArchive {
        DockerArchive {
            style,
            images: Vec::new(),
            gzip: false,
            omit: BTreeSet::new(),
            extra: Vec::new(),
        }
    }
    pub fn classic() -> DockerArchive {
        DockerArchive::new(DockerStyle::Classic)
    }
    pub fn docker25() -> DockerArchive {
        DockerArchive::new(DockerStyle::Docker25)
    }

    /// Adds an image with its repo tags (`name:tag`; none for an untagged save).
    pub fn image(mut self, built: &Built, tags: &[&str]) -> DockerArchive {
        self.images
            .push((built.clone(), tags.iter().map(|t| t.to_string()).collect()));
        self
    }

    /// `docker save | gzip`.
    pub fn gzipped(mut self) -> DockerArchive {
        self.gzip = true;
        self
    }

    /// Leaves out the file holding the blob with this digest (a layer's promised digest or
    /// the config's).
    pub fn omit_blob(mut self, digest: &str) -> DockerArchive {
        self.omit.insert(digest.to_string());
        self
    }

    /// Appends a hostile entry to the outer archive.
    pub fn raw_entry(mut self, raw: RawEntry) -> DockerArchive {
        self.extra.push(raw.encode());
        self
    }

    /// The paths of image `n`'s layers inside the archive, in manifest order.
    pub fn layer_paths(&self, n: usize) -> Vec<String> {
        let built = &self.images[n].0;
        match self.style {
            DockerStyle::Classic => {
                let mut parent: Option<String> = None;
                let mut out = Vec::new();
                for l in &built.layers {
                    let id = v1_layer_id(parent.as_deref(), &l.diff_id);
                    out.push(format!("{id}/layer.tar"));
                    parent = Some(id);
                }
                out
            }
            DockerStyle::Docker25 => built
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", hex_of(&l.digest)))
                .collect(),
        }
    }

    fn config_path(&self, built: &Built) -> String {
        match self.style {
            DockerStyle::Classic => format!("{}.json", hex_of(&built.config_digest)),
            DockerStyle::Docker25 => format!("blobs/sha256/{}", hex_of(&built.config_digest)),
        }
    }

    /// The archive's files, by path, in the order `docker save` writes them.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut index_manifests = Vec::new();
        for (n, (built, tags)) in self.images.iter().enumerate() {
            let mut paths = self.layer_paths(n);
            for (l, p) in built.layers.iter().zip(&paths) {
                if !self.omit.contains(&l.digest) {
                    files.insert(p.clone(), l.blob.clone());
                }
                if self.style == DockerStyle::Classic {
                    let id = p.trim_end_matches("/layer.tar");
                    files.insert(format!("{id}/VERSION"), b"1.0".to_vec());
                    files.insert(
                        format!("{id}/json"),
                        to_json(&json!({"id": id, "created": CREATED})),
                    );
                }
            }
            let config_path = self.config_path(built);
            if !self.omit.contains(&built.config_digest) {
                files.insert(config_path.clone(), built.config.clone());
            }
            if built.layer_count_in_manifest() > paths.len()
                && let Some(last) = paths.last().cloned()
            {
                paths.push(last);
            }
            let top_layer = paths
                .last()
                .map(|p| p.trim_end_matches("/layer.tar").to_string())
                .unwrap_or_default();
            for tag in tags {
                let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(t.to_string(), hex_of_path(&top_layer));
            }
            manifest.push(json!({
                "Config": config_path,
                "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
                "Layers": paths,
            }));
            if self.style == DockerStyle::Docker25 {
                if !self.omit.contains(&built.manifest_digest) {
                    files.insert(
                        format!("blobs/sha256/{}", hex_of(&built.manifest_digest)),
                        built.manifest.clone(),
                    );
                }
                if tags.is_empty() {
                    index_manifests.push(built.descriptor(false));
                }
                for tag in tags {
                    let mut d = built.descriptor(false);
                    let t = tag.rsplit_once(':').map_or("latest", |(_, t)| t);
                    d["annotations"] = json!({
                        "io.containerd.image.name": format!("docker.io/library/{tag}"),
                        REF_NAME: t,
                    });
                    index_manifests.push(d);
                }
            }
        }
        let mut out = Vec::new();
        if self.style == DockerStyle::Docker25 {
            // Docker 25 writes the blobs first, then the metadata files.
            out.extend(files);
            out.push((
                "index.json".to_string(),
                to_json(&json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": index_manifests,
                })),
            ));
            out.push(("manifest.json".to_string(), to_json(&json!(manifest))));
            out.push((
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ));
        } else {
            out.extend(files);
            out.push(("manifest.json".to_string(), to_json(&json!(manifest))));
        }
        if !repositories.is_empty() {
            out.push(("repositories".to_string(), to_json(&json!(repositories))));
        }
        out
    }

    /// The archive bytes (gzipped when asked for).
    pub fn bytes(&self) -> Vec<u8> {
        let mut w = TarWriter::new();
        let mut dirs = BTreeSet::new();
        for (path, data) in self.files() {
            let mut dir = path.as_str();
            let mut parents = Vec::new();
            while let Some((d, _)) = dir.rsplit_once('/') {
                parents.push(d.to_string());
                dir = d;
            }
            for d in parents.into_iter().rev() {
                if dirs.insert(d.clone()) {
                    w.dir(&d);
                }
            }
            w.file(&path, &data);
        }
        for raw in &self.extra {
            w.raw(raw);
        }
        let tar = w.finish();
        if self.gzip { gzip(&tar) } else { tar }
    }

    pub fn write(&self, file: &Path) {
        std::fs::write(file, self.bytes()).expect("write the docker archive");
    }
}

fn hex_of_path(layer_dir: &str) -> String {
    layer_dir
        .strip_prefix("blobs/sha256/")
        .unwrap_or(layer_dir)
        .to_string()
}
