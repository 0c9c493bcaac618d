//! Folding layer reports, in manifest order, into the final filesystem.
//!
//! Whiteouts of a layer apply to the layers below it, then its entries are laid on top. A
//! non-directory replaces a directory together with everything under it; a directory over a
//! directory only updates its metadata. Every version that a later layer deleted or
//! overwrote is remembered with the layer that hid it: it is gone from the running
//! container but anyone can still extract it from the lower layer.
//!
//! The view copies no entry. It holds slots (a layer and an index into that layer's entry
//! list, which it shares with the report) in a vector sorted by path; what the layers change
//! goes to a small ordered map first, folded into the vector whenever the map outgrows an
//! eighth of it. So an image of millions of files costs about ten bytes per file beyond its
//! entries, and lookups are binary searches.

use crate::analyze::{Entries, LayerReport};
use portcullis_layer::{CompactString, Entry, EntryKind};
use portcullis_model::path;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Bound;

/// Symlinks followed while resolving one path before giving up (Linux' MAXSYMLINKS).
const MAX_SYMLINK_HOPS: usize = 40;

/// Changes held in the ordered map before it is folded into the sorted vector, at least.
const MIN_PENDING: usize = 1024;

/// Directories remembered by the merge as it walks up from each entry, at most: a small
/// image gets a table in proportion.
const RECENT_DIRS: usize = 1 << 16;

/// Marks the index of a slot that names a directory no layer listed.
const IMPLICIT: u32 = 1 << 31;

/// Where a version of a path lives: entry `index` of layer `layer`'s list or, with the
/// `IMPLICIT` bit, a directory the merge created for what is below it. Layers and entries
/// fit: an image config lists at most 10,000 layers and `--max-entries` keeps a layer far
/// below 2^31 entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    layer: u32,
    index: u32,
}

/// A path of the final filesystem and the layer that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    pub entry: &'a Entry,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hidden<'a> {
    pub entry: &'a Entry,
    pub layer: usize,
    pub hidden_by: usize,
    pub how: HiddenHow,
}

#[derive(Debug, Clone, Copy)]
struct HiddenSlot {
    slot: Slot,
    by: u32,
    how: HiddenHow,
}

/// What became of the version of `path` written by some layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Visible,
    Hidden { by: usize, how: HiddenHow },
}

/// The entries slots point at.
#[derive(Debug, Default)]
struct Store {
    /// Each layer's entries, shared with its report.
    layers: Vec<Entries>,
    /// Directories no layer listed, created as the runtime creates them.
    implicit: Vec<Entry>,
}

impl Store {
    fn entry(&self, slot: Slot) -> &Entry {
        if slot.index & IMPLICIT != 0 {
            &self.implicit[(slot.index & !IMPLICIT) as usize]
        } else {
            &self.layers[slot.layer as usize][slot.index as usize]
        }
    }

    fn path(&self, slot: Slot) -> &str {
        &self.entry(slot).path
    }

    /// Where `path` goes in `sorted` (the first slot not before it), found by galloping
    /// from the end: a fold places paths in descending order, each near the last.
    fn place_before(&self, sorted: &[Slot], path: &str) -> usize {
        let mut known = sorted.len();
        let mut step = 1;
        while known > 0 {
            let probe = known.saturating_sub(step);
            if self.path(sorted[probe]) < path {
                let rest = &sorted[probe + 1..known];
                return probe + 1 + rest.partition_point(|&s| self.path(s) < path);
            }
            known = probe;
            step *= 2;
        }
        0
    }

    /// A directory no layer listed, as the runtime creates it: root-owned, mode 0755.
    /// `None` past 2^31 of them, which no memory holds.
    fn implicit_dir(&mut self, path: &str, layer: u32) -> Option<Slot> {
        let index = u32::try_from(self.implicit.len())
            .ok()
            .filter(|i| i & IMPLICIT == 0)?;
        self.implicit.push(Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            special: None,
        });
        Some(Slot {
            layer,
            index: index | IMPLICIT,
        })
    }
}

fn path_hash(path: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

/// What spares the merge most binary searches: most entries are new paths, in a directory
/// met a moment before.
#[derive(Debug, Default)]
struct Shortcuts {
    /// Two bits per path folded into the sorted vector, chosen by its hash and never
    /// cleared: a path missing either bit was never folded.
    folded: Vec<u64>,
    /// Directories visible when last met, by the hash of their path; forgotten whenever a
    /// directory is taken away.
    dirs: Vec<Option<(u64, Slot)>>,
    /// How many `dirs` holds once made (a power of two).
    dirs_size: usize,
}

impl Shortcuts {
    fn bits(&self, hash: u64) -> [usize; 2] {
        let mask = (self.folded.len() * 64).wrapping_sub(1);
        [hash as usize & mask, (hash >> 32) as usize & mask]
    }

    fn may_be_folded(&self, hash: u64) -> bool {
        !self.folded.is_empty()
            && self
                .bits(hash)
                .iter()
                .all(|&bit| self.folded[bit / 64] & (1 << (bit % 64)) != 0)
    }

    fn mark_folded(&mut self, hash: u64) {
        if self.folded.is_empty() {
            return;
        }
        for bit in self.bits(hash) {
            self.folded[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Keeps eight to sixteen bits per folded path (a false "maybe" for a few percent of
    /// new paths), starting over from `paths` when there are too few.
    fn fit<'a>(&mut self, count: usize, paths: impl Iterator<Item = &'a str>) {
        if self.folded.len() * 64 >= count * 8 {
            return;
        }
        self.folded = vec![0; (count * 16).div_ceil(64).next_power_of_two()];
        for path in paths {
            self.mark_folded(path_hash(path));
        }
    }

    fn dir(&self, hash: u64, path: &str, store: &Store) -> bool {
        let mask = self.dirs.len().wrapping_sub(1);
        match self.dirs.get(hash as usize & mask) {
            Some(Some((h, slot))) => *h == hash && store.path(*slot) == path,
            _ => false,
        }
    }

    fn remember_dir(&mut self, hash: u64, slot: Slot) {
        if self.dirs.is_empty() {
            self.dirs = vec![None; self.dirs_size.max(1)];
        }
        let mask = self.dirs.len() - 1;
        self.dirs[hash as usize & mask] = Some((hash, slot));
    }

    fn forget_dirs(&mut self) {
        self.dirs.clear();
    }
}

/// The merged view. `merge` returns it folded: no slot pending, none removed.
#[derive(Debug, Default)]
pub struct FileSystem {
    store: Store,
    /// Visible slots sorted by path, as of the last fold.
    sorted: Vec<Slot>,
    /// Which of `sorted` were removed since the last fold.
    removed: Vec<bool>,
    /// Slots placed since the last fold, by path; none of these paths is alive in `sorted`.
    pending: BTreeMap<CompactString, Slot>,
    shortcuts: Shortcuts,
    /// Every hidden version, in the order hidden.
    hidden: Vec<HiddenSlot>,
    /// Indices into `hidden` sorted by path and layer, made when the merge ends; a version
    /// hidden twice (a path listed twice in one layer) keeps the order it was hidden in.
    hidden_by_path: Vec<usize>,
}

impl FileSystem {
    pub fn merge<'a>(reports: impl IntoIterator<Item = &'a LayerReport>) -> FileSystem {
        let reports: Vec<&LayerReport> = reports.into_iter().collect();
        let entries: usize = reports.iter().map(|r| r.entries.len()).sum();
        let mut fs = FileSystem::default();
        fs.shortcuts.dirs_size = entries.clamp(64, RECENT_DIRS).next_power_of_two();
        for (layer, report) in (0u32..).zip(reports) {
            let entries = report.entries.clone();
            fs.store.layers.push(entries.clone());
            for whiteout in &report.whiteouts {
                fs.remove_subtree(whiteout, true, layer, HiddenHow::Deleted);
            }
            for dir in &report.opaque_dirs {
                fs.remove_subtree(dir, false, layer, HiddenHow::Deleted);
            }
            for (index, entry) in (0..IMPLICIT).zip(entries.iter()) {
                fs.put(entry, Slot { layer, index });
            }
        }
        fs.fold();
        let store = &fs.store;
        let hidden = &fs.hidden;
        let mut by_path: Vec<usize> = (0..hidden.len()).collect();
        by_path.sort_by(|&a, &b| {
            let (a, b) = (hidden[a].slot, hidden[b].slot);
            (store.path(a), a.layer).cmp(&(store.path(b), b.layer))
        });
        fs.hidden_by_path = by_path;
        fs
    }

    fn hide(&mut self, slot: Slot, by: u32, how: HiddenHow) {
        if self.store.entry(slot).kind == EntryKind::Dir && how == HiddenHow::Overwritten {
            // A directory carries no content; only its children matter, and they are
            // recorded one by one.
            return;
        }
        self.hidden.push(HiddenSlot { slot, by, how });
    }

    fn remove_subtree(&mut self, path: &str, include_self: bool, by: u32, how: HiddenHow) {
        if include_self && let Some(slot) = self.take(path, path_hash(path)) {
            self.hide(slot, by, how);
        }
        for slot in self.take_descendants(path) {
            self.hide(slot, by, how);
        }
    }

    /// Position of `path` in `sorted`, removed or not.
    fn position(&self, path: &str) -> Result<usize, usize> {
        self.sorted
            .binary_search_by(|&slot| self.store.path(slot).cmp(path))
    }

    /// Position of `path` among the folded slots, unless it certainly has none.
    fn folded_position(&self, path: &str, hash: u64) -> Option<usize> {
        if !self.shortcuts.may_be_folded(hash) {
            return None;
        }
        self.position(path).ok()
    }

    /// The slot visible at `path` (whose hash is `hash`).
    fn find(&self, path: &str, hash: u64) -> Option<Slot> {
        if let Some(&slot) = self.pending.get(path) {
            return Some(slot);
        }
        let i = self.folded_position(path, hash)?;
        (!self.removed[i]).then_some(self.sorted[i])
    }

    /// Removes the slot visible at `path` (whose hash is `hash`).
    fn take(&mut self, path: &str, hash: u64) -> Option<Slot> {
        let slot = match self.pending.remove(path) {
            Some(slot) => slot,
            None => {
                let i = self.folded_position(path, hash)?;
                if self.removed[i] {
                    return None;
                }
                self.removed[i] = true;
                self.sorted[i]
            }
        };
        if self.store.entry(slot).kind == EntryKind::Dir {
            self.shortcuts.forget_dirs();
        }
        Some(slot)
    }

    /// Places `slot` at `path`, where nothing is visible.
    fn place(&mut self, path: &str, slot: Slot) {
        self.pending.insert(path.into(), slot);
        if self.pending.len() >= MIN_PENDING.max(self.sorted.len() / 8) {
            self.fold();
        }
    }

    /// Removes everything below `dir` (the whole tree for the root, `""`), in path order.
    fn take_descendants(&mut self, dir: &str) -> Vec<Slot> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let store = &self.store;
        let start = self
            .sorted
            .partition_point(|&slot| store.path(slot) < prefix.as_str());
        let mut gone = Vec::new();
        for (slot, removed) in self.sorted[start..]
            .iter()
            .zip(&mut self.removed[start..])
            .take_while(|(slot, _)| store.path(**slot).starts_with(&prefix))
        {
            if !*removed {
                *removed = true;
                gone.push(*slot);
            }
        }
        let pending: Vec<CompactString> = self
            .pending
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .collect();
        if !pending.is_empty() {
            for path in pending {
                gone.extend(self.pending.remove(&path));
            }
            // Two sorted runs: the sort merges them.
            gone.sort_by(|&a, &b| store.path(a).cmp(store.path(b)));
        }
        if gone
            .iter()
            .any(|&slot| store.entry(slot).kind == EntryKind::Dir)
        {
            self.shortcuts.forget_dirs();
        }
        gone
    }

    /// Moves the pending slots into the sorted vector and drops the removed ones.
    fn fold(&mut self) {
        let store = &self.store;
        let mut removed = self.removed.iter();
        self.sorted.retain(|_| removed.next() == Some(&false));
        let pending = std::mem::take(&mut self.pending);
        let mut end = self.sorted.len();
        let mut write = end + pending.len();
        self.sorted.resize(write, Slot { layer: 0, index: 0 });
        // From the back: each pending path finds its place among the folded ones, searching
        // back from where the last one went, and the folded ones after it move up once.
        for (path, slot) in pending.into_iter().rev() {
            self.shortcuts.mark_folded(path_hash(&path));
            let at = store.place_before(&self.sorted[..end], &path);
            let after = end - at;
            self.sorted.copy_within(at..end, write - after);
            write -= after + 1;
            end = at;
            self.sorted[write] = slot;
        }
        self.removed.clear();
        self.removed.resize(self.sorted.len(), false);
        let paths = self.sorted.iter().map(|&slot| store.path(slot));
        self.shortcuts.fit(self.sorted.len(), paths);
    }

    fn has_children(&self, dir: &str) -> bool {
        if dir.is_empty() {
            return !self.is_empty();
        }
        let prefix = format!("{dir}/");
        let start = self
            .sorted
            .partition_point(|&slot| self.store.path(slot) < prefix.as_str());
        let folded = (start..self.sorted.len())
            .take_while(|&i| self.store.path(self.sorted[i]).starts_with(&prefix))
            .any(|i| !self.removed[i]);
        folded
            || self
                .pending
                .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|(path, _)| path.starts_with(&prefix))
    }

    fn put(&mut self, entry: &Entry, slot: Slot) {
        let layer = slot.layer;
        // An entry below a path that is not a directory turns that path into one.
        // A parent the layers never listed exists all the same once something is below it
        // (tars from Bazel, ko and other builders often omit directory entries): it is
        // created as Docker and containerd create it on extraction, root-owned, mode 0755.
        // Every ancestor of a visible path is a directory, so the walk up stops at the
        // first directory it meets.
        let mut ancestor = path::parent(&entry.path);
        while !ancestor.is_empty() {
            let hash = path_hash(ancestor);
            if self.shortcuts.dir(hash, ancestor, &self.store) {
                break;
            }
            match self.find(ancestor, hash) {
                Some(found) if self.store.entry(found).kind == EntryKind::Dir => {
                    self.shortcuts.remember_dir(hash, found);
                    break;
                }
                Some(_) => {
                    if let Some(old) = self.take(ancestor, hash) {
                        self.hide(old, layer, HiddenHow::Overwritten);
                    }
                    self.place_implicit_dir(ancestor, hash, layer);
                }
                None => self.place_implicit_dir(ancestor, hash, layer),
            }
            ancestor = path::parent(ancestor);
        }
        let hash = path_hash(&entry.path);
        if let Some(old) = self.take(&entry.path, hash) {
            if self.store.entry(old).kind == EntryKind::Dir && entry.kind != EntryKind::Dir {
                self.remove_subtree(&entry.path, false, layer, HiddenHow::Overwritten);
            }
            self.hide(old, layer, HiddenHow::Overwritten);
        }
        self.place(&entry.path, slot);
        if entry.kind == EntryKind::Dir {
            self.shortcuts.remember_dir(hash, slot);
        }
    }

    fn place_implicit_dir(&mut self, path: &str, hash: u64, layer: u32) {
        if let Some(dir) = self.store.implicit_dir(path, layer) {
            self.place(path, dir);
            self.shortcuts.remember_dir(hash, dir);
        }
    }

    fn node(&self, slot: Slot) -> Node<'_> {
        Node {
            entry: self.store.entry(slot),
            layer: slot.layer as usize,
        }
    }

    /// The node at exactly `path`, without following symlinks.
    pub fn get(&self, path: &str) -> Option<Node<'_>> {
        self.find(path, path_hash(path)).map(|slot| self.node(slot))
    }

    /// Follows symlinks (in every component) the way the kernel does inside a chroot: a
    /// link can never lead out of the image root. `None` for dangling links, loops, and
    /// paths that do not exist.
    pub fn resolve(&self, path: &str) -> Option<(String, Node<'_>)> {
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
            match self.get(&current) {
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
        self.get(&key).map(|n| (key, n))
    }

    /// The final filesystem in path order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Node<'_>> {
        self.sorted.iter().map(|&slot| self.node(slot))
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Versions of paths that later layers deleted or overwrote, in the order they were
    /// hidden.
    pub fn hidden(&self) -> impl ExactSizeIterator<Item = Hidden<'_>> {
        self.hidden.iter().map(|h| Hidden {
            entry: self.store.entry(h.slot),
            layer: h.slot.layer as usize,
            hidden_by: h.by as usize,
            how: h.how,
        })
    }

    /// Whether the version of `path` written by `layer` is in the final filesystem, and if
    /// not, which layer hid it. `None` when that layer never wrote the path.
    pub fn fate(&self, path: &str, layer: usize) -> Option<Fate> {
        if self.get(path).is_some_and(|n| n.layer == layer) {
            return Some(Fate::Visible);
        }
        let layer = u32::try_from(layer).ok()?;
        let key = |i: usize| {
            let slot = self.hidden[i].slot;
            (self.store.path(slot), slot.layer)
        };
        let end = self
            .hidden_by_path
            .partition_point(|&i| key(i) <= (path, layer));
        let last = *self.hidden_by_path[..end].last()?;
        let h = self.hidden[last];
        (key(last) == (path, layer)).then_some(Fate::Hidden {
            by: h.by as usize,
            how: h.how,
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
            entries: entries.into(),
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
        let hidden: Vec<&str> = fs.hidden().map(|h| h.entry.path.as_str()).collect();
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

    /// The merge as first written, one owned map entry per path: what the slots must agree
    /// with.
    #[derive(Default)]
    struct Model {
        nodes: BTreeMap<String, (Entry, usize)>,
        hidden: Vec<(String, usize, usize, HiddenHow)>,
    }

    impl Model {
        fn merge(reports: &[LayerReport]) -> Model {
            let mut m = Model::default();
            for (layer, report) in reports.iter().enumerate() {
                for w in &report.whiteouts {
                    m.remove_subtree(w, true, layer, HiddenHow::Deleted);
                }
                for d in &report.opaque_dirs {
                    m.remove_subtree(d, false, layer, HiddenHow::Deleted);
                }
                for e in &report.entries {
                    m.put(e, layer);
                }
            }
            m
        }

        fn hide(&mut self, (entry, layer): (Entry, usize), by: usize, how: HiddenHow) {
            if !(entry.kind == EntryKind::Dir && how == HiddenHow::Overwritten) {
                self.hidden.push((entry.path.to_string(), layer, by, how));
            }
        }

        fn remove_subtree(&mut self, path: &str, include_self: bool, by: usize, how: HiddenHow) {
            if include_self && let Some(node) = self.nodes.remove(path) {
                self.hide(node, by, how);
            }
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            };
            let below: Vec<String> = self
                .nodes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone())
                .collect();
            for key in below {
                let node = self.nodes.remove(&key).unwrap();
                self.hide(node, by, how);
            }
        }

        fn put(&mut self, entry: &Entry, layer: usize) {
            let implicit = |path: &str| Entry {
                kind: EntryKind::Dir,
                mode: 0o755,
                size: 0,
                ..file(path)
            };
            let mut ancestor = path::parent(&entry.path);
            while !ancestor.is_empty() {
                match self.nodes.get(ancestor) {
                    Some((e, _)) if e.kind == EntryKind::Dir => {}
                    Some(_) => {
                        let old = self.nodes.remove(ancestor).unwrap();
                        self.hide(old, layer, HiddenHow::Overwritten);
                        self.nodes
                            .insert(ancestor.to_string(), (implicit(ancestor), layer));
                    }
                    None => {
                        self.nodes
                            .insert(ancestor.to_string(), (implicit(ancestor), layer));
                    }
                }
                ancestor = path::parent(ancestor);
            }
            if let Some(old) = self.nodes.remove(entry.path.as_str()) {
                if old.0.kind == EntryKind::Dir && entry.kind != EntryKind::Dir {
                    self.remove_subtree(&entry.path, false, layer, HiddenHow::Overwritten);
                }
                self.hide(old, layer, HiddenHow::Overwritten);
            }
            self.nodes
                .insert(entry.path.to_string(), (entry.clone(), layer));
        }

        fn fate(&self, path: &str, layer: usize) -> Option<Fate> {
            if self.nodes.get(path).is_some_and(|(_, l)| *l == layer) {
                return Some(Fate::Visible);
            }
            self.hidden
                .iter()
                .rev()
                .find(|(p, l, _, _)| p == path && *l == layer)
                .map(|&(_, _, by, how)| Fate::Hidden { by, how })
        }
    }

    #[test]
    fn agrees_with_the_model_on_random_layers() {
        // Paths of up to four components out of six names collide often, and layers of a
        // few thousand entries fold the pending map more than once.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for round in 0..8 {
            let mut reports = Vec::new();
            let mut all_paths = std::collections::BTreeSet::new();
            for _ in 0..4 {
                let random_path = |next: &mut dyn FnMut(u64) -> u64| {
                    let depth = 1 + next(4);
                    (0..depth)
                        .map(|_| ["a", "b", "c", "d", "e", "f"][next(6) as usize])
                        .collect::<Vec<_>>()
                        .join("/")
                };
                let entries: Vec<Entry> = (0..next(3000))
                    .map(|_| {
                        let p = random_path(&mut next);
                        match next(10) {
                            0..=4 => file(&p),
                            5..=7 => dir(&p),
                            _ => symlink(&p, "a/b"),
                        }
                    })
                    .collect();
                let whiteouts: Vec<String> = (0..next(4)).map(|_| random_path(&mut next)).collect();
                let opaque: Vec<String> = (0..next(3))
                    .map(|_| match next(8) {
                        0 if round % 2 == 0 => String::new(),
                        _ => random_path(&mut next),
                    })
                    .collect();
                for e in &entries {
                    all_paths.insert(e.path.to_string());
                    let mut a = path::parent(&e.path);
                    while !a.is_empty() {
                        all_paths.insert(a.to_string());
                        a = path::parent(a);
                    }
                }
                let whiteouts: Vec<&str> = whiteouts.iter().map(String::as_str).collect();
                let opaque: Vec<&str> = opaque.iter().map(String::as_str).collect();
                reports.push(layer(entries, &whiteouts, &opaque));
            }
            let fs = FileSystem::merge(&reports);
            let model = Model::merge(&reports);
            let got: Vec<(&str, usize, &Entry)> = fs
                .iter()
                .map(|n| (n.entry.path.as_str(), n.layer, n.entry))
                .collect();
            let want: Vec<(&str, usize, &Entry)> = model
                .nodes
                .iter()
                .map(|(p, (e, l))| (p.as_str(), *l, e))
                .collect();
            assert_eq!(got, want, "round {round}");
            let hidden: Vec<(String, usize, usize, HiddenHow)> = fs
                .hidden()
                .map(|h| (h.entry.path.to_string(), h.layer, h.hidden_by, h.how))
                .collect();
            assert_eq!(hidden, model.hidden, "round {round}");
            for p in &all_paths {
                for l in 0..reports.len() {
                    assert_eq!(fs.fate(p, l), model.fate(p, l), "round {round}: {p} {l}");
                }
            }
        }
    }
}
