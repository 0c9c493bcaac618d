//! Analyze: one layer's stream → its [`LayerReport`], computed from that layer's bytes alone.
//!
//! The walk (`portcullis-layer`) feeds every entry to the analyzers of the pass: the capture
//! of small configuration files, the watch for packages that matter to hygiene, the package
//! inventory and the secret scan. A `LayerReport` never looks at other layers, so layers
//! scan in parallel, a stream can be scanned as it arrives, and a report can be cached under
//! the layer's diff_id ([`cache`]).

pub mod cache;
pub mod capture;
pub mod presence;
pub mod redis;

use cache::LayerCache;
use portcullis_image::LayerScanner;
use portcullis_image::model::LayerInfo;
use portcullis_inventory::PackageDb;
use portcullis_inventory::analyzer::InventoryAnalyzer;
use portcullis_layer::ScannedLayer;
use portcullis_layer::{self as layer, Analyzer, Budget, Entry, LayerError, Listing, Note};
use portcullis_secrets::{SecretHit, Secrets, SecretsAnalyzer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// Bumped whenever the analyzers change what they put into a `LayerReport`, so that cached
/// reports from an older analyzer are never reused.
pub const ANALYZER_VERSION: u32 = 6;

/// What one layer holds, computed from that layer's bytes alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Entries in stream order, whiteout markers excluded. A path may appear twice when the
    /// tar holds duplicates; the later one wins, as on extraction.
    pub entries: Entries,
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
    pub secrets: Vec<SecretHit>,
    /// Tar entries in the stream (the root directory and whiteout markers included).
    pub tar_entries: u64,
    pub notes: Vec<Note>,
    /// Package records of the databases (and executables, archives) the layer writes, one
    /// entry per file, in stream order.
    #[serde(default)]
    pub packages: Vec<PackageDb>,
}

/// A layer's entries, shared by its report and the merged filesystem (which points into
/// them rather than copying them). Stored as a plain list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entries(Arc<Vec<Entry>>);

impl Deref for Entries {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        &self.0
    }
}

impl From<Vec<Entry>> for Entries {
    fn from(entries: Vec<Entry>) -> Entries {
        Entries(Arc::new(entries))
    }
}

impl FromIterator<Entry> for Entries {
    fn from_iter<I: IntoIterator<Item = Entry>>(entries: I) -> Entries {
        Entries::from(entries.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Entries {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for Entries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Entries, D::Error> {
        Vec::<Entry>::deserialize(deserializer).map(Entries::from)
    }
}

impl From<Listing> for LayerReport {
    /// What the walk saw; the analyzers add theirs.
    fn from(listing: Listing) -> LayerReport {
        LayerReport {
            entries: listing.entries.into(),
            whiteouts: listing.whiteouts,
            opaque_dirs: listing.opaque_dirs,
            content_bytes: listing.content_bytes,
            tar_entries: listing.tar_entries,
            notes: listing.notes,
            ..LayerReport::default()
        }
    }
}

/// An analyzer of the pass: fed by the layer walk, then asked to put what it found into the
/// layer's report when the layer ends.
pub trait LayerAnalyzer: Analyzer {
    fn finish(self: Box<Self>, report: &mut LayerReport);
}

impl LayerAnalyzer for InventoryAnalyzer {
    fn finish(self: Box<Self>, report: &mut LayerReport) {
        let (packages, notes) = (*self).finish();
        report.packages.extend(packages);
        report.notes.extend(notes);
    }
}

impl LayerAnalyzer for SecretsAnalyzer {
    fn finish(self: Box<Self>, report: &mut LayerReport) {
        let (hits, notes) = (*self).finish();
        report.secrets.extend(hits);
        report.notes.extend(notes);
    }
}

/// The analyzers every scan runs. Building them per layer is cheap: the secret rules are
/// compiled once and shared.
#[derive(Debug, Clone)]
pub struct Analyzers {
    /// `None` turns the secret scan off.
    pub secrets: Option<Secrets>,
}

impl Default for Analyzers {
    /// With the built-in secret rules.
    fn default() -> Self {
        Analyzers {
            secrets: Some(Secrets::new(portcullis_secrets::RuleSet::builtin())),
        }
    }
}

impl Analyzers {
    /// A fresh set for one layer.
    pub fn build(&self) -> Vec<Box<dyn LayerAnalyzer>> {
        let mut set: Vec<Box<dyn LayerAnalyzer>> = vec![
            Box::new(capture::Capture::default()),
            Box::new(presence::Presence::default()),
            Box::new(InventoryAnalyzer::default()),
        ];
        if let Some(secrets) = &self.secrets {
            set.push(Box::new(secrets.analyzer()));
        }
        set
    }

    /// Names everything besides `ANALYZER_VERSION` that changes what the analyzers write:
    /// the secret scan's rules and settings. Part of the layer cache's key, so that a cached
    /// report is reused only under the same ones.
    pub fn fingerprint(&self) -> String {
        match &self.secrets {
            Some(secrets) => format!("secrets:{}", secrets.fingerprint()),
            None => "secrets:off".to_string(),
        }
    }

    /// Reads one layer blob through these analyzers.
    pub fn scan_layer(
        &self,
        raw: Box<dyn Read + Send + '_>,
        max_blob_size: u64,
        budget: &Budget,
    ) -> Result<ScannedLayer<LayerReport>, LayerError> {
        let mut set = self.build();
        let scanned = layer::scan_layer(raw, max_blob_size, &mut set, budget)?;
        Ok(scanned.map(|listing| {
            let mut report = LayerReport::from(listing);
            for analyzer in set {
                analyzer.finish(&mut report);
            }
            report
        }))
    }
}

/// The analyze stage as the acquire stage calls it: the analyzers, and the layer cache
/// when there is one.
pub struct Scanner<'a> {
    pub analyzers: &'a Analyzers,
    pub cache: Option<&'a LayerCache>,
    /// The layers this scan claimed to analyse (by blob digest), released once their
    /// entries are stored, or when the scan ends.
    pub claims: Mutex<HashMap<String, cache::Claim>>,
}

impl<'a> Scanner<'a> {
    pub fn new(analyzers: &'a Analyzers, cache: Option<&'a LayerCache>) -> Scanner<'a> {
        Scanner {
            analyzers,
            cache,
            claims: Mutex::new(HashMap::new()),
        }
    }
}

impl LayerScanner<LayerReport> for Scanner<'_> {
    fn scan(
        &self,
        raw: Box<dyn Read + Send + '_>,
        max_blob_size: u64,
        budget: &Budget,
    ) -> Result<ScannedLayer<LayerReport>, LayerError> {
        self.analyzers.scan_layer(raw, max_blob_size, budget)
    }

    fn cached(
        &self,
        digest: &str,
        diff_id: &str,
        budget: &Budget,
    ) -> Result<Option<ScannedLayer<LayerReport>>, LayerError> {
        let Some(cache) = self.cache else {
            return Ok(None);
        };
        let hit = match cache.lookup(digest, diff_id) {
            cache::Lookup::Hit(hit) => *hit,
            cache::Lookup::Claimed(claim) => {
                self.claims
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(digest.to_string(), claim);
                return Ok(None);
            }
            cache::Lookup::Unclaimed => return Ok(None),
        };
        // A sparse file's holes count as declared, as when the layer was read.
        let uncompressed = hit.uncompressed_size.max(hit.report.content_bytes);
        budget.charge(hit.tar_entries, &hit.report.entries, uncompressed)?;
        Ok(Some(hit))
    }

    fn remember(&self, layer: &LayerInfo, report: &LayerReport) -> Result<(), String> {
        let stored = match self.cache {
            Some(cache) => cache.put(layer, report).map_err(|e| e.to_string()),
            None => Ok(()),
        };
        // Stored (or not storable): whoever waits for it looks again now.
        self.claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&layer.digest);
        stored
    }
}
