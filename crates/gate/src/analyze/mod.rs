//! The single pass: per-entry analyzers fed while each layer streams, then the merge.

pub mod accounts;
pub mod analyzer;
pub mod capture;
pub mod facts;
pub mod layer_report;
pub mod merge;
pub mod presence;
pub mod secrets;

use analyzer::{Analyzer, AnalyzerSet};

/// The analyzers every scan runs. Building them per layer is cheap: the secret rules are
/// compiled once and shared.
#[derive(Debug)]
pub struct DefaultAnalyzers {
    /// `None` turns the secret scan off.
    pub secrets: Option<secrets::Secrets>,
}

impl Default for DefaultAnalyzers {
    /// With the built-in secret rules.
    fn default() -> Self {
        DefaultAnalyzers {
            secrets: Some(secrets::Secrets::new(secrets::RuleSet::builtin())),
        }
    }
}

impl AnalyzerSet for DefaultAnalyzers {
    fn build(&self) -> Vec<Box<dyn Analyzer>> {
        let mut set: Vec<Box<dyn Analyzer>> = vec![
            Box::new(capture::Capture::default()),
            Box::new(presence::Presence::default()),
            Box::new(crate::inventory::analyzer::InventoryAnalyzer::default()),
        ];
        if let Some(secrets) = &self.secrets {
            set.push(Box::new(secrets.analyzer()));
        }
        set
    }

    /// The secret scan's rules and settings change what a layer report holds, so a cached
    /// report is reused only under the same ones.
    fn fingerprint(&self) -> String {
        match &self.secrets {
            Some(secrets) => format!("secrets:{}", secrets.fingerprint()),
            None => "secrets:off".to_string(),
        }
    }
}

use crate::image::cache::{CacheConfig, LayerCache};
use crate::image::observe::{Observer, Silent};
use crate::image::registry::RemoteOptions;
use crate::image::{self, LoadOptions, model::Platform, reference::ImageRef};
use crate::layer::{Budget, Limits};
use facts::ImageFacts;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Reference(#[from] image::reference::RefError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
}

#[derive(Clone)]
pub struct ScanOptions {
    pub platform: Option<Platform>,
    pub limits: Limits,
    /// Registry credentials and transport security.
    pub remote: RemoteOptions,
    /// The layer cache; `None` scans every layer.
    pub cache: Option<CacheConfig>,
    /// Progress and details; `None` is silent.
    pub observer: Option<Arc<dyn Observer>>,
    /// The secret scan to run while the layers stream; `None` skips it.
    pub secrets: Option<secrets::Secrets>,
}

impl Default for ScanOptions {
    /// The host's platform, the default limits, no cache, silence and the built-in secret
    /// rules.
    fn default() -> Self {
        ScanOptions {
            platform: None,
            limits: Limits::default(),
            remote: RemoteOptions::default(),
            cache: None,
            observer: None,
            secrets: Some(secrets::Secrets::new(secrets::RuleSet::builtin())),
        }
    }
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("platform", &self.platform)
            .field("limits", &self.limits)
            .field("remote", &self.remote)
            .field("cache", &self.cache)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// Reads the image `reference` once and returns what its layers hold, merged.
pub fn scan_image(reference: &str, options: &ScanOptions) -> Result<ImageFacts, ScanError> {
    let image_ref = ImageRef::parse(reference)?;
    let budget = Budget::new(options.limits);
    let observer: &dyn Observer = options.observer.as_deref().unwrap_or(&Silent);
    let analyzers = DefaultAnalyzers {
        secrets: options.secrets.clone(),
    };
    // A cache that cannot be opened (read-only home, say) costs speed, not the scan.
    let cache = options.cache.as_ref().and_then(|config| {
        LayerCache::open(config, &analyzers.fingerprint())
            .map_err(|e| observer.detail(&e.to_string()))
            .ok()
    });
    let loaded = image::load(
        reference,
        &image_ref,
        &LoadOptions {
            platform: options.platform.as_ref(),
            analyzers: &analyzers,
            budget: &budget,
            cache: cache.as_ref(),
            observer,
            remote: &options.remote,
        },
    )?;
    if let Some(cache) = &cache
        && cache.stored() > 0
        && let Err(e) = cache.evict()
    {
        observer.detail(&e.to_string());
    }
    Ok(ImageFacts::new(loaded.meta, loaded.layers, loaded.reports))
}
