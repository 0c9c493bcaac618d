//! Everything the checks know about an image after its single pass.

pub mod accounts;
pub mod inventory;
pub mod lineage;
pub mod merge;
pub mod stored;

use crate::analyze::LayerReport;
use accounts::{GroupEntry, PasswdEntry, ShadowEntry};
use lineage::Lineage;
use merge::FileSystem;
use portcullis_advisories::index::IndexSet;
use portcullis_advisories::osv::Vulnerability;
use portcullis_layer::EntryKind;
use portcullis_model::Date;
use portcullis_model::image::ImageSummary;
use portcullis_model::image::{ImageMeta, LayerInfo};
use portcullis_model::{Diagnostic, Source};

pub struct ImageFacts {
    pub meta: ImageMeta,
    /// Layers in manifest order, with their verified digests.
    pub layers: Vec<LayerInfo>,
    /// What each layer holds, in manifest order.
    pub reports: Vec<LayerReport>,
    /// The final filesystem.
    pub fs: FileSystem,
    pub diagnostics: Vec<Diagnostic>,
    /// The day dates are judged on (the end of life of the distribution): today by the
    /// system clock, unless the command line fixes it (`PORTCULLIS_NOW`).
    pub today: Date,
    /// Package indexes of the distribution's repositories, which the outdated checks
    /// compare the installed packages with; the command line loads them.
    pub package_indexes: IndexSet,
    /// Vulnerable packages, as every source that was consulted reports them (one entry per
    /// source and record; the `vulns` family merges them).
    pub vulnerabilities: Vec<Vulnerability>,
    /// The data sources consulted beyond the image itself, and what became of each.
    pub sources: Vec<Source>,
    /// Which layers are the base image's: guessed from the history, unless the gate knows
    /// the base better (`--base`, the base annotations).
    pub lineage: Lineage,
}

impl ImageFacts {
    pub fn new(meta: ImageMeta, layers: Vec<LayerInfo>, reports: Vec<LayerReport>) -> ImageFacts {
        let fs = FileSystem::merge(&reports);
        let lineage = Lineage::guess(&meta, layers.len());
        let diagnostics = reports
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.notes.iter().map(move |n| Diagnostic {
                    source: None,
                    layer: Some(i),
                    path: n.path.clone(),
                    message: n.message.clone(),
                })
            })
            .collect();
        ImageFacts {
            meta,
            layers,
            reports,
            fs,
            diagnostics,
            today: Date::today_utc(),
            package_indexes: IndexSet::default(),
            vulnerabilities: Vec::new(),
            sources: Vec::new(),
            lineage,
        }
    }

    /// Contents of a captured file as the final filesystem shows it (symlinks and hard
    /// links followed). `None` when the path does not exist or was not captured.
    pub fn read_file(&self, path: &str) -> Option<&[u8]> {
        let (resolved, node) = self.fs.resolve(path)?;
        let key = match node.entry.kind {
            EntryKind::File => resolved,
            EntryKind::Hardlink => node.entry.link()?.to_string(),
            _ => return None,
        };
        self.reports
            .get(node.layer)?
            .files
            .get(&key)
            .map(Vec::as_slice)
    }

    /// The packages of the final filesystem, each attributed to the layer that installed it.
    pub fn inventory(&self) -> portcullis_inventory::Inventory {
        inventory::build(&self.reports, &self.fs)
    }

    /// `config.User` as written (empty when unset).
    pub fn config_user(&self) -> &str {
        self.meta
            .config
            .config()
            .as_ref()
            .and_then(|c| c.user().as_deref())
            .unwrap_or("")
    }

    /// /etc/passwd, or `None` when the image has none.
    pub fn passwd(&self) -> Option<Vec<PasswdEntry>> {
        self.read_file("etc/passwd").map(accounts::parse_passwd)
    }

    pub fn group(&self) -> Option<Vec<GroupEntry>> {
        self.read_file("etc/group").map(accounts::parse_group)
    }

    pub fn shadow(&self) -> Option<Vec<ShadowEntry>> {
        self.read_file("etc/shadow").map(accounts::parse_shadow)
    }

    pub fn summary(&self) -> ImageSummary {
        ImageSummary {
            reference: self.meta.reference.clone(),
            transport: self.meta.transport,
            manifest_digest: self.meta.manifest_digest.clone(),
            config_digest: self.meta.config_digest.clone(),
            platform: self.meta.platform.clone(),
            names: self.meta.names.clone(),
            user: self.config_user().to_string(),
            created: self.meta.config.created().clone(),
            layers: self.layers.clone(),
        }
    }
}
