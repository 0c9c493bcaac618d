//! What the walk of one layer sees: its entries, whiteouts and notes.

pub use compact_str::CompactString;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

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
///
/// A scan keeps one per tar entry, so the record is small: 56 bytes on 64-bit targets, the
/// path inline when it fits in 24 bytes, and what only links and devices carry out of line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "EntryRecord")]
pub struct Entry {
    pub path: CompactString,
    pub kind: EntryKind,
    pub mode: u32,
    /// Owner ids: Linux ids are 32-bit, and the walk refuses a header that claims more.
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// The link target or device numbers, for the kinds that have them.
    pub special: Option<Box<Special>>,
}

/// What only links and devices carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Special {
    /// Symlink target as written (not normalised: it is data, resolved only inside the
    /// merged view), or the normalised path a hard link points at.
    Link(Box<str>),
    /// Device major/minor for character and block devices.
    Device(u32, u32),
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
            special: None,
        }
    }

    /// The same entry pointing at `target` (a symlink's or a hard link's).
    pub fn with_link(self, target: &str) -> Entry {
        Entry {
            special: Some(Box::new(Special::Link(target.into()))),
            ..self
        }
    }

    /// The same entry with device numbers (a character or block device's).
    pub fn with_device(self, major: u32, minor: u32) -> Entry {
        Entry {
            special: Some(Box::new(Special::Device(major, minor))),
            ..self
        }
    }

    /// Symlink target as written, or the normalised path a hard link points at.
    pub fn link(&self) -> Option<&str> {
        match self.special.as_deref() {
            Some(Special::Link(target)) => Some(target),
            _ => None,
        }
    }

    /// Device major/minor for character and block devices.
    pub fn device(&self) -> Option<(u32, u32)> {
        match self.special.as_deref() {
            Some(Special::Device(major, minor)) => Some((*major, *minor)),
            _ => None,
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

/// An entry as stored (in the layer cache): the link target and device numbers as fields of
/// their own, present only when set.
#[derive(Deserialize)]
struct EntryRecord {
    path: CompactString,
    kind: EntryKind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    device: Option<(u32, u32)>,
}

impl From<EntryRecord> for Entry {
    fn from(r: EntryRecord) -> Entry {
        let special = match (r.link, r.device) {
            (Some(target), _) => Some(Box::new(Special::Link(target.into_boxed_str()))),
            (None, Some((major, minor))) => Some(Box::new(Special::Device(major, minor))),
            (None, None) => None,
        };
        Entry {
            path: r.path,
            kind: r.kind,
            mode: r.mode,
            uid: r.uid,
            gid: r.gid,
            size: r.size,
            special,
        }
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut record = serializer.serialize_struct("Entry", 7)?;
        record.serialize_field("path", self.path.as_str())?;
        record.serialize_field("kind", &self.kind)?;
        record.serialize_field("mode", &self.mode)?;
        record.serialize_field("uid", &self.uid)?;
        record.serialize_field("gid", &self.gid)?;
        record.serialize_field("size", &self.size)?;
        match self.link() {
            Some(target) => record.serialize_field("link", target)?,
            None => record.skip_field("link")?,
        }
        match self.device() {
            Some(device) => record.serialize_field("device", &device)?,
            None => record.skip_field("device")?,
        }
        record.end()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_stays_small() {
        assert!(std::mem::size_of::<Entry>() <= 56);
    }

    #[test]
    fn stored_form_names_link_and_device_only_when_set() {
        let cases = [
            (
                Entry::test_file("etc/passwd"),
                r#"{"path":"etc/passwd","kind":"file","mode":420,"uid":0,"gid":0,"size":1}"#,
            ),
            (
                Entry {
                    kind: EntryKind::Symlink,
                    size: 0,
                    ..Entry::test_file("bin/sh")
                }
                .with_link("busybox"),
                r#"{"path":"bin/sh","kind":"symlink","mode":420,"uid":0,"gid":0,"size":0,"link":"busybox"}"#,
            ),
            (
                Entry {
                    kind: EntryKind::Char,
                    size: 0,
                    ..Entry::test_file("dev/null")
                }
                .with_device(1, 3),
                r#"{"path":"dev/null","kind":"char","mode":420,"uid":0,"gid":0,"size":0,"device":[1,3]}"#,
            ),
        ];
        for (entry, json) in cases {
            assert_eq!(serde_json::to_string(&entry).unwrap(), json);
            assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), entry);
        }
    }
}
