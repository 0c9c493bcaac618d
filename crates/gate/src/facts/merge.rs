//! Folding layer reports, in manifest order, into the final filesystem.
//!
//! Whiteouts of a layer apply to the layers below it, then its entries are laid on top. A
//! non-directory replaces a directory together with everything under it; a directory over a
//! directory only updates its metadata. Every version that a later layer deleted or
//! overwrote is remembered with the layer that hid it: it is gone from the running
//! container but anyone can still extract it from the lower layer.

use crate::analyze::LayerReport;
use portcullis_layer::{Entry, EntryKind};
use portcullis_model::path;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Symlinks followed while resolving one path before giving up (Linux' MAXSYMLINKS).
const MAX_SYMLINK_HOPS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub entry: Entry,
    /// The layer that wrote this version.
    pub layer: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenHow {
    Deleted,
    Overwritten,
}

/// A version of a path that is not in the final filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub entry: Entry,
    pub layer: usize,
    pub hidden_by: usize,
    pub how: HiddenHow,
}

/// What became of the version of `path` written by some layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Visible,
    Hidden { by: usize, how: HiddenHow },
}

/// A directory no layer listed, as the runtime creates it: root-owned, mode 0755.
fn implicit_dir(path: &str, layer: usize) -> Node {
    Node {
        entry: Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            special: None,
        },
        layer,
    }
}

#[derive(Debug, Default)]
pub struct FileSystem {
    nodes: BTreeMap<String, Node>,
    hidden: Vec<Hidden>,
    hidden_index: HashMap<(String, usize), usize>,
}

impl FileSystem {
    pub fn merge<'a>(reports: impl IntoIterator<Item = &'a LayerReport>) -> FileSystem {
        let mut fs = FileSystem::default();
        for (layer, report) in reports.into_iter().enumerate() {
            for whiteout in &report.whiteouts {
                fs.remove_subtree(whiteout, true, layer, HiddenHow::Deleted);
            }
            for dir in &report.opaque_dirs {
                fs.remove_subtree(dir, false, layer, HiddenHow::Deleted);
            }
            for entry in &report.entries {
                fs.put(entry, layer);
            }
        }
        fs
    }

    fn hide(&mut self, node: Node, by: usize, how: HiddenHow) {
        if node.entry.kind == EntryKind::Dir && how == HiddenHow::Overwritten {
            // A directory carries no content; only its children matter, and they are
            // recorded one by one.
            return;
        }
        self.hidden_index
            .insert((node.entry.path.to_string(), node.layer), self.hidden.len());
        self.hidden.push(Hidden {
            entry: node.entry,
            layer: node.layer,
            hidden_by: by,
            how,
        });
    }

    fn remove_subtree(&mut self, path: &str, include_self: bool, by: usize, how: HiddenHow) {
        if include_self && let Some(node) = self.nodes.remove(path) {
            self.hide(node, by, how);
        }
        let children: Vec<String> = self.children_keys(path);
        for key in children {
            if let Some(node) = self.nodes.remove(&key) {
                self.hide(node, by, how);
            }
        }
    }

    fn children_keys(&self, dir: &str) -> Vec<String> {
        if dir.is_empty() {
            return self.nodes.keys().cloned().collect();
        }
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn has_children(&self, dir: &str) -> bool {
        if dir.is_empty() {
            return !self.nodes.is_empty();
        }
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    fn put(&mut self, entry: &Entry, layer: usize) {
        // An entry below a path that is not a directory turns that path into one.
        // A parent the layers never listed exists all the same once something is below it
        // (tars from Bazel, ko and other builders often omit directory entries): it is
        // created as Docker and containerd create it on extraction, root-owned, mode 0755.
        let mut ancestor = path::parent(&entry.path);
        while !ancestor.is_empty() {
            match self.nodes.get(ancestor) {
                Some(n) if n.entry.kind == EntryKind::Dir => {}
                Some(_) => {
                    if let Some(node) = self.nodes.remove(ancestor) {
                        self.hide(node, layer, HiddenHow::Overwritten);
                    }
                    self.nodes
                        .insert(ancestor.to_string(), implicit_dir(ancestor, layer));
                }
                None => {
                    self.nodes
                        .insert(ancestor.to_string(), implicit_dir(ancestor, layer));
                }
            }
            ancestor = path::parent(ancestor);
        }
        if let Some(old) = self.nodes.remove(entry.path.as_str()) {
            if old.entry.kind == EntryKind::Dir && entry.kind != EntryKind::Dir {
                self.remove_subtree(&entry.path, false, layer, HiddenHow::Overwritten);
            }
            self.hide(old, layer, HiddenHow::Overwritten);
        }
        self.nodes.insert(
            entry.path.to_string(),
            Node {
                entry: entry.clone(),
                layer,
            },
        );
    }

    /// The node at exactly `path`, without following symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Follows symlinks (in every component) the way the kernel does inside a chroot: a
    /// link can never lead out of the image root. `None` for dangling links, loops, and
    /// paths that do not exist.
    pub fn resolve(&self, path: &str) -> Option<(String, &Node)> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            resolved.push(component);
            let current = resolved.join("/");
            match self.nodes.get(&current) {
                Some(node) if node.entry.kind == EntryKind::Symlink => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    resolved.pop();
                    let target = node.entry.link().unwrap_or("");
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    pending.extend(
                        target
                            .split('/')
                            .filter(|c| !c.is_empty())
                            .rev()
                            .map(str::to_string),
                    );
                }
                Some(node) => {
                    if !pending.is_empty() && node.entry.kind != EntryKind::Dir {
                        return None;
                    }
                }
                None => {
                    if !pending.is_empty() && !self.has_children(&current) {
                        return None;
                    }
                    if pending.is_empty() {
                        return None;
                    }
                }
            }
        }
        let key = resolved.join("/");
        self.nodes.get(&key).map(|n| (key, n))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Versions of paths that later layers deleted or overwrote, in the order they were
    /// hidden.
    pub fn hidden(&self) -> &[Hidden] {
        &self.hidden
    }

    /// Whether the version of `path` written by `layer` is in the final filesystem, and if
    /// not, which layer hid it. `None` when that layer never wrote the path.
    pub fn fate(&self, path: &str, layer: usize) -> Option<Fate> {
        if self.nodes.get(path).is_some_and(|n| n.layer == layer) {
            return Some(Fate::Visible);
        }
        self.hidden_index
            .get(&(path.to_string(), layer))
            .map(|&i| Fate::Hidden {
                by: self.hidden[i].hidden_by,
                how: self.hidden[i].how,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Entry {
        Entry::test_file(path)
    }
    fn dir(path: &str) -> Entry {
        Entry {
            kind: EntryKind::Dir,
            mode: 0o755,
            size: 0,
            ..file(path)
        }
    }
    fn symlink(path: &str, target: &str) -> Entry {
        Entry {
            kind: EntryKind::Symlink,
            size: 0,
            ..file(path)
        }
        .with_link(target)
    }
    fn layer(entries: Vec<Entry>, whiteouts: &[&str], opaque: &[&str]) -> LayerReport {
        LayerReport {
            entries,
            whiteouts: whiteouts.iter().map(|s| s.to_string()).collect(),
            opaque_dirs: opaque.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
    fn paths(fs: &FileSystem) -> Vec<(&str, usize)> {
        fs.iter()
            .map(|n| (n.entry.path.as_str(), n.layer))
            .collect()
    }

    #[test]
    fn whiteout_removes_a_file_and_remembers_who_hid_it() {
        let fs = FileSystem::merge(&[
            layer(
                vec![dir("etc"), file("etc/secret"), file("etc/keep")],
                &[],
                &[],
            ),
            layer(vec![], &["etc/secret"], &[]),
        ]);
        assert_eq!(paths(&fs), vec![("etc", 0), ("etc/keep", 0)]);
        assert_eq!(
            fs.fate("etc/secret", 0),
            Some(Fate::Hidden {
                by: 1,
                how: HiddenHow::Deleted
            })
        );
        assert_eq!(fs.fate("etc/keep", 0), Some(Fate::Visible));
        assert_eq!(fs.fate("etc/other", 0), None);
    }

    #[test]
    fn whiteout_of_a_directory_removes_its_subtree_and_a_later_layer_can_recreate_it() {
        // go-containerregistry's whiteout_dir: a/ removed by .wh.a, then a/baz added.
        let fs = FileSystem::merge(&[
            layer(vec![dir("a"), file("a/foo")], &[], &[]),
            layer(vec![dir("b"), file("b/bar")], &[], &[]),
            layer(vec![], &["a"], &[]),
            layer(vec![dir("a"), file("a/baz")], &[], &[]),
        ]);
        assert_eq!(
            paths(&fs),
            vec![("a", 3), ("a/baz", 3), ("b", 1), ("b/bar", 1)]
        );
        assert!(fs.get("a/foo").is_none());
    }

    #[test]
    fn opaque_directory_hides_lower_children_but_not_its_own_layer() {
        let fs = FileSystem::merge(&[
            layer(vec![dir("d"), file("d/old"), file("d/old2")], &[], &[]),
            layer(vec![dir("d"), file("d/new")], &[], &["d"]),
        ]);
        assert_eq!(paths(&fs), vec![("d", 1), ("d/new", 1)]);
        assert_eq!(fs.hidden().len(), 2);
    }

    #[test]
    fn a_file_over_a_directory_hides_the_whole_subtree() {
        let fs = FileSystem::merge(&[
            layer(
                vec![dir("x"), file("x/a"), dir("x/y"), file("x/y/b")],
                &[],
                &[],
            ),
            layer(vec![file("x")], &[], &[]),
        ]);
        assert_eq!(paths(&fs), vec![("x", 1)]);
        let hidden: Vec<&str> = fs.hidden().iter().map(|h| h.entry.path.as_str()).collect();
        assert_eq!(hidden, vec!["x/a", "x/y/b"]);
    }

    #[test]
    fn duplicate_entries_in_one_layer_keep_the_last() {
        // claircore's concat.tar: var/run is a symlink, then a directory, in one layer.
        let fs = FileSystem::merge(&[layer(
            vec![
                dir("var"),
                symlink("var/run", "../run"),
                dir("var/run"),
                file("var/run/algo.txt"),
            ],
            &[],
            &[],
        )]);
        assert_eq!(fs.get("var/run").unwrap().entry.kind, EntryKind::Dir);
        assert!(fs.get("var/run/algo.txt").is_some());
    }

    #[test]
    fn overwritten_file_is_hidden_by_the_overwriting_layer() {
        let fs = FileSystem::merge(&[
            layer(vec![file("app/config")], &[], &[]),
            layer(vec![file("app/config")], &[], &[]),
        ]);
        assert_eq!(fs.get("app/config").unwrap().layer, 1);
        assert_eq!(
            fs.fate("app/config", 0),
            Some(Fate::Hidden {
                by: 1,
                how: HiddenHow::Overwritten
            })
        );
    }

    #[test]
    fn symlinks_resolve_within_the_root_and_loops_stop() {
        let fs = FileSystem::merge(&[layer(
            vec![
                dir("etc"),
                file("usr/lib/os-release"),
                symlink("etc/os-release", "../usr/lib/os-release"),
                symlink("dir1/escape", "../../../usr/lib/os-release"),
                symlink("abs", "/usr/lib/os-release"),
                symlink("lib", "usr/lib"),
                symlink("loop1", "loop2"),
                symlink("loop2", "loop1"),
                symlink("dangling", "/nope"),
            ],
            &[],
            &[],
        )]);
        let resolve = |p: &str| fs.resolve(p).map(|(k, _)| k);
        assert_eq!(
            resolve("etc/os-release").as_deref(),
            Some("usr/lib/os-release")
        );
        assert_eq!(
            resolve("dir1/escape").as_deref(),
            Some("usr/lib/os-release")
        );
        assert_eq!(resolve("abs").as_deref(), Some("usr/lib/os-release"));
        assert_eq!(
            resolve("lib/os-release").as_deref(),
            Some("usr/lib/os-release")
        );
        assert_eq!(resolve("loop1"), None);
        assert_eq!(resolve("dangling"), None);
        assert_eq!(resolve("etc/missing"), None);
    }
}
