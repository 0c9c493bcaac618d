//! Keeps the small configuration files that checks read after the merge: accounts, the
//! distribution's release files, sudoers, the package managers' repository lists.

use super::{LayerAnalyzer, LayerReport};
use portcullis_layer::{Analyzer, Interest};
use portcullis_layer::{Entry, Note};
use std::collections::BTreeMap;

/// Largest file kept; real account and release files are a few KiB.
pub const MAX_CAPTURE: u64 = 1 << 20;

/// Paths (normalised) whose contents the checks need. A file is kept when its name matches
/// the name of one of these wherever it sits, because a layer cannot know whether a later
/// (or earlier) layer makes `etc` a symlink to somewhere else; the merged view then reads
/// the file through the links.
pub const KEY_FILES: &[&str] = &[
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/gshadow",
    "etc/os-release",
    "usr/lib/os-release",
    "etc/lsb-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/fedora-release",
    "etc/system-release",
    "etc/SuSE-release",
    "etc/sudoers",
    "etc/apt/sources.list",
    "etc/apk/repositories",
];

/// Directories whose files (direct children) are kept like `KEY_FILES`, matched by the
/// directory's name for the same reason.
pub const KEY_DIRS: &[&str] = &["etc/sudoers.d", "etc/apt/sources.list.d", "etc/yum.repos.d"];

/// Directories whose files are kept when the last two components of their path match:
/// their own name alone (`vars`) is too common to keep every file under it.
pub const KEY_SUBDIRS: &[&str] = &["etc/dnf/vars", "etc/yum/vars"];

#[derive(Default)]
pub struct Capture {
    files: BTreeMap<String, Vec<u8>>,
    notes: Vec<Note>,
}

fn is_key_file(path: &str) -> bool {
    use portcullis_model::path::{file_name, parent};
    let name = file_name(path);
    let dir = file_name(parent(path));
    fn last_two(p: &str) -> (&str, &str) {
        (file_name(parent(p)), file_name(p))
    }
    KEY_FILES.iter().any(|key| file_name(key) == name)
        || (!dir.is_empty() && KEY_DIRS.iter().any(|key| file_name(key) == dir))
        || (!dir.is_empty()
            && KEY_SUBDIRS
                .iter()
                .any(|key| last_two(key) == last_two(parent(path))))
}

impl Analyzer for Capture {
    fn interest(&mut self, entry: &Entry) -> Interest {
        if entry.size <= MAX_CAPTURE && is_key_file(&entry.path) {
            Interest::Whole { max: MAX_CAPTURE }
        } else if is_key_file(&entry.path) && KEY_FILES.contains(&entry.path.as_str()) {
            // Too large to keep: `whole` notes it.
            Interest::Whole { max: MAX_CAPTURE }
        } else {
            Interest::None
        }
    }

    fn whole(&mut self, entry: &Entry, data: &[u8], truncated: bool) {
        if truncated {
            self.notes.push(Note {
                path: Some(entry.path.to_string()),
                message: format!("larger than {MAX_CAPTURE} bytes; not read"),
            });
            return;
        }
        self.files.insert(entry.path.to_string(), data.to_vec());
    }
}

impl LayerAnalyzer for Capture {
    fn finish(self: Box<Self>, report: &mut LayerReport) {
        report.files.extend(self.files);
        report.notes.extend(self.notes);
    }
}
