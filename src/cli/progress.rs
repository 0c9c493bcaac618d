//! Progress on stderr while an image loads: a bar of bytes pulled and layers done when
//! stderr is a terminal, one line per layer with `--verbose`, nothing with `--quiet`.

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use portcullis_image::observe::{LayerSource, Observer};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    verbose: bool,
    planned: AtomicUsize,
    scanned: AtomicUsize,
    cached: AtomicUsize,
    bytes: AtomicU64,
}

impl Progress {
    /// A bar only when stderr is a terminal and not `quiet`; lines only when `verbose`.
    pub fn new(quiet: bool, verbose: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {bytes} read, {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            quiet,
            verbose: verbose && !quiet,
            planned: AtomicUsize::new(0),
            scanned: AtomicUsize::new(0),
            cached: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn layers_message(&self) -> String {
        let done = self.scanned.load(Ordering::Relaxed) + self.cached.load(Ordering::Relaxed);
        match self.planned.load(Ordering::Relaxed) {
            0 => format!("{done} layers scanned"),
            n => format!("{done}/{n} layers scanned"),
        }
    }

    fn say(&self, line: &str) {
        let line = portcullis_gate::report::text::visible(line);
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("portcullis: {line}")),
            None => eprintln!("portcullis: {line}"),
        }
    }

    /// Clears the bar; with `--verbose`, prints what the load read and reused.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.verbose {
            eprintln!(
                "portcullis: layers: {} scanned, {} from the layer cache; {} read",
                self.scanned.load(Ordering::Relaxed),
                self.cached.load(Ordering::Relaxed),
                HumanBytes(self.bytes.load(Ordering::Relaxed))
            );
        }
    }
}

impl Observer for Progress {
    /// Said even without `--verbose`: a name that was meant as a file, or a registry other
    /// than the one expected, must not be scanned (or signed) unnoticed.
    fn pulling(&self, reference: &str, host: &str, resolved: &str) {
        if !self.quiet {
            self.say(&format!("pulling {reference} from {host} ({resolved})"));
        }
    }

    fn layers_planned(&self, layers: usize, bytes: Option<u64>) {
        self.planned.store(layers, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            if let Some(total) = bytes {
                bar.set_length(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {bytes}/{total_bytes} {msg} [{elapsed}, {bytes_per_sec}]",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
            bar.set_message(self.layers_message());
        }
    }

    fn bytes_read(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn layer_done(&self, digest: &str, source: LayerSource) {
        match source {
            LayerSource::Scanned => self.scanned.fetch_add(1, Ordering::Relaxed),
            LayerSource::Cache => self.cached.fetch_add(1, Ordering::Relaxed),
        };
        if let Some(bar) = &self.bar {
            bar.set_message(self.layers_message());
        }
        if self.verbose {
            self.say(&format!("layer {digest}: {}", source.as_str()));
        }
    }

    fn detail(&self, message: &str) {
        if self.verbose {
            self.say(message);
        }
    }
}

/// The observer of the commands without progress (`attest`, `sbom`, `verify`): it says only
/// which registry an image is pulled from.
pub struct AnnouncePull;

impl Observer for AnnouncePull {
    fn pulling(&self, reference: &str, host: &str, resolved: &str) {
        eprintln!("portcullis: pulling {reference} from {host} ({resolved})");
    }
}
