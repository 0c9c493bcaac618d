//! What one layer holds, computed from that layer's bytes alone.
//!
//! A `LayerReport` never looks at other layers, so layers scan in parallel, a stream can be
//! scanned as it arrives, and a report can be cached under the layer's diff_id.

use crate::inventory::PackageDb;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped whenever the analyzers change what they put into a `LayerReport`, so that cached
/// reports from an older analyzer are never reused.
pub const ANALYZER_VERSION: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Hardlink => "hardlink",
            EntryKind::Char => "char",
            EntryKind::Block => "block",
            EntryKind::Fifo => "fifo",
        }
    }
}

/// One tar entry, after path normalisation. `mode` holds the permission bits including
/// setuid (0o4000), setgid (0o2000) and sticky (0o1000), never the file-type bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Symlink target as written (not normalised: it is data, resolved only inside the
    /// merged view), or the normalised path a hard link points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Device major/minor for character and block devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<(u32, u32)>,
}

impl Entry {
    pub fn is_setuid(&self) -> bool {
        self.mode & 0o4000 != 0
    }
    pub fn is_setgid(&self) -> bool {
        self.mode & 0o2000 != 0
    }
    pub fn is_sticky(&self) -> bool {
        self.mode & 0o1000 != 0
    }
    pub fn is_world_writable(&self) -> bool {
        self.mode & 0o002 != 0
    }
}

/// A diagnostic about the layer that does not stop the scan (an unreadable database,
/// a file skipped for its size ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Entries in stream order, whiteout markers excluded. A path may appear twice when the
    /// tar holds duplicates; the later one wins, as on extraction.
    pub entries: Vec<Entry>,
    /// Paths removed from lower layers by `.wh.NAME` markers.
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents are hidden by `.wh..wh..opq`.
    pub opaque_dirs: Vec<String>,
    /// Contents of the small configuration files later steps need (passwd, group, shadow,
    /// os-release ...), keyed by path. Bounded by `capture::MAX_CAPTURE`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Packages from `presence::WATCHED` that a package database in this layer lists as
    /// installed, keyed by the database's path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub watched_packages: BTreeMap<String, Vec<String>>,
    /// Total bytes of file content in the layer.
    pub content_bytes: u64,
    /// Secrets, credential files and build leftovers in this layer, redacted.
    #[serde(default)]
    pub secrets: Vec<super::secrets::SecretHit>,
    /// Tar entries in the stream (the root directory and whiteout markers included).
    pub tar_entries: u64,
    pub notes: Vec<Note>,
    /// Package records of the databases (and executables, archives) the layer writes, one
    /// entry per file, in stream order.
    #[serde(default)]
    pub packages: Vec<PackageDb>,
}
