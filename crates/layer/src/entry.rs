//! What the walk of one layer sees: its entries, whiteouts and notes.

use serde::{Deserialize, Serialize};

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
    /// A root-owned regular file of one byte, mode 0644: the starting point of unit tests.
    #[doc(hidden)]
    pub fn test_file(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 1,
            link: None,
            device: None,
        }
    }

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

/// What a layer's tar stream lists, in stream order; computed from the layer's bytes alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Entries in stream order, whiteout markers excluded. A path may appear twice when the
    /// tar holds duplicates; the later one wins, as on extraction.
    pub entries: Vec<Entry>,
    /// Paths removed from lower layers by `.wh.NAME` markers.
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents are hidden by `.wh..wh..opq`.
    pub opaque_dirs: Vec<String>,
    /// Total bytes of file content in the layer.
    pub content_bytes: u64,
    /// Tar entries in the stream (the root directory and whiteout markers included).
    pub tar_entries: u64,
    pub notes: Vec<Note>,
}
