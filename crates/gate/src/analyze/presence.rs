//! Which of a few packages that the checks ask about (sudo, sshd ...) a package database
//! lists as installed, until the package inventory answers that question for every package.
//!
//! dpkg needs no content: `var/lib/dpkg/info/NAME.list` exists for an installed package, so
//! the checks read the merged filesystem. apk keeps one database file, streamed here line
//! by line without holding it. rpm databases are binary; the checks fall back to the
//! installed binaries there.

use super::{LayerAnalyzer, LayerReport};
use portcullis_layer::Entry;
use portcullis_layer::{Analyzer, Interest};
use std::collections::{BTreeMap, BTreeSet};

/// The packages looked for.
pub const WATCHED: &[&str] = &[
    "sudo",
    "sudo-ldap",
    "doas",
    "openssh-server",
    "openssh-server-pam",
    "dropbear",
];

/// Alpine's installed-package database.
pub const APK_DB: &str = "lib/apk/db/installed";

/// Longest line start kept across chunk boundaries: enough for `P:` and any watched name.
const MAX_LINE_START: usize = 64;

#[derive(Default)]
pub struct Presence {
    found: BTreeMap<String, BTreeSet<String>>,
    line: Vec<u8>,
    /// Whether the current line was cut at `MAX_LINE_START` (its tail is ignored).
    overlong: bool,
}

impl Presence {
    fn end_line(&mut self, path: &str) {
        if !self.overlong
            && let Some(name) = self.line.strip_prefix(b"P:")
            && let Ok(name) = std::str::from_utf8(name)
        {
            let name = name.trim_end_matches('\r');
            if WATCHED.contains(&name) {
                self.found
                    .entry(path.to_string())
                    .or_default()
                    .insert(name.to_string());
            }
        }
        self.line.clear();
        self.overlong = false;
    }
}

impl Analyzer for Presence {
    fn interest(&mut self, entry: &Entry) -> Interest {
        if entry.path == APK_DB {
            // A later copy of the database in the same layer replaces the earlier one.
            self.found.remove(APK_DB);
            self.line.clear();
            self.overlong = false;
            Interest::Stream
        } else {
            Interest::None
        }
    }

    fn chunk(&mut self, entry: &Entry, _offset: u64, data: &[u8]) {
        let mut rest = data;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            self.push(&rest[..at]);
            self.end_line(&entry.path);
            rest = &rest[at + 1..];
        }
        self.push(rest);
    }

    fn end(&mut self, entry: &Entry) {
        self.end_line(&entry.path);
    }
}

impl LayerAnalyzer for Presence {
    fn finish(self: Box<Self>, report: &mut LayerReport) {
        report.watched_packages.extend(
            self.found
                .into_iter()
                .map(|(path, names)| (path, names.into_iter().collect())),
        );
    }
}

impl Presence {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_START.saturating_sub(self.line.len());
        if bytes.len() > room {
            self.overlong = true;
        }
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_layer::entry::EntryKind;

    fn db_entry(size: u64) -> Entry {
        Entry {
            path: APK_DB.into(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            special: None,
        }
    }

    fn feed(chunks: &[&[u8]]) -> LayerReport {
        let mut presence = Box::new(Presence::default());
        let entry = db_entry(chunks.iter().map(|c| c.len() as u64).sum());
        assert_eq!(presence.interest(&entry), Interest::Stream);
        let mut offset = 0;
        for c in chunks {
            presence.chunk(&entry, offset, c);
            offset += c.len() as u64;
        }
        presence.end(&entry);
        let mut report = LayerReport::default();
        presence.finish(&mut report);
        report
    }

    #[test]
    fn watched_packages_are_found_across_chunk_boundaries() {
        let report = feed(&[
            b"C:Q1abc\nP:musl\nV:1.2\n\nP:su",
            b"do\nV:1.9\n\nP:sudoku\n\nP:openssh-server-pam\r\n",
            b"\nP:dropbear",
        ]);
        assert_eq!(
            report.watched_packages[APK_DB],
            vec!["dropbear", "openssh-server-pam", "sudo"]
        );
    }

    #[test]
    fn overlong_lines_and_other_files_are_ignored() {
        let long = format!("P:sudo{}\n", "x".repeat(100));
        let report = feed(&[long.as_bytes()]);
        assert!(report.watched_packages.is_empty());
        let mut presence = Presence::default();
        let other = Entry {
            path: "etc/apk/world".into(),
            ..db_entry(5)
        };
        assert_eq!(presence.interest(&other), Interest::None);
    }
}
