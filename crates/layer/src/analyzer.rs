//! The interface between the layer walk and the things that look at file contents.
//!
//! The walk reads each tar entry once. For every entry it asks each analyzer what it wants;
//! content is read only when someone asked for it, and handed over either whole (up to a
//! bound) or as a stream of chunks. An analyzer keeps what it found until its owner collects
//! it when the layer ends, so its output depends on the layer's bytes alone.

use crate::entry::Entry;

/// What an analyzer wants of one entry's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Metadata only.
    None,
    /// The whole content in one slice, truncated at `max` bytes.
    Whole { max: u64 },
    /// Every byte, as consecutive chunks.
    Stream,
}

pub trait Analyzer: Send {
    /// Sees every entry (whiteout markers excluded) and says whether it wants its content.
    fn interest(&mut self, entry: &Entry) -> Interest;

    /// The content of an entry for which `interest` returned `Whole`; `truncated` when the
    /// file was longer than asked for.
    fn whole(&mut self, _entry: &Entry, _data: &[u8], _truncated: bool) {}

    /// A chunk of an entry for which `interest` returned `Stream`, starting at `offset`.
    fn chunk(&mut self, _entry: &Entry, _offset: u64, _data: &[u8]) {}

    /// The end of a streamed entry.
    fn end(&mut self, _entry: &Entry) {}
}
