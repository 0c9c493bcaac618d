//! What a load reports while it runs: bytes pulled, layers scanned or taken from the cache.
//! The command line turns these into a progress bar and `--verbose` lines; the library
//! itself prints nothing.

/// Where the report of one layer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSource {
    /// The layer's bytes were read and analysed.
    Scanned,
    /// A report cached under the layer's digest, diff_id and analyzer version was reused;
    /// the blob was not read.
    Cache,
}

impl LayerSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LayerSource::Scanned => "scanned",
            LayerSource::Cache => "from cache",
        }
    }
}

/// Receives events from a load. Called from worker threads; every method defaults to
/// doing nothing.
pub trait Observer: Send + Sync {
    /// An image is about to be pulled from the registry at `host`: `reference` as given,
    /// `resolved` in full (`docker.io/library/alpine:3.19`). Told once, before any request.
    fn pulling(&self, _reference: &str, _host: &str, _resolved: &str) {}
    /// The layers about to be read, and their stored bytes when the manifest says.
    fn layers_planned(&self, _layers: usize, _bytes: Option<u64>) {}
    /// Bytes of an image received (from a file, a daemon or a registry).
    fn bytes_read(&self, _bytes: u64) {}
    /// One layer is done.
    fn layer_done(&self, _digest: &str, _source: LayerSource) {}
    /// Something worth telling a user who asked for details (a cache that could not be
    /// written, a retried request).
    fn detail(&self, _message: &str) {}
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {}

/// A reader that tells an observer how many bytes passed through it.
pub struct Counted<'o, R> {
    pub inner: R,
    pub observer: &'o dyn Observer,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.observer.bytes_read(n as u64);
        }
        Ok(n)
    }
}
