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
}

use crate::image::{self, LoadOptions, model::Platform, reference::ImageRef};
use crate::layer::{Budget, Limits};
use facts::ImageFacts;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Reference(#[from] image::reference::RefError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
}

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub platform: Option<Platform>,
    pub limits: Limits,
    /// The secret scan to run while the layers stream; `None` skips it.
    pub secrets: Option<secrets::Secrets>,
}

impl Default for ScanOptions {
    /// The host's platform, the default limits and the built-in secret rules.
    fn default() -> Self {
        ScanOptions {
            platform: None,
            limits: Limits::default(),
            secrets: Some(secrets::Secrets::new(secrets::RuleSet::builtin())),
        }
    }
}

/// Reads the image `reference` once and returns what its layers hold, merged.
pub fn scan_image(reference: &str, options: &ScanOptions) -> Result<ImageFacts, ScanError> {
    let image_ref = ImageRef::parse(reference)?;
    let budget = Budget::new(options.limits);
    let analyzers = DefaultAnalyzers {
        secrets: options.secrets.clone(),
    };
    let loaded = image::load(
        reference,
        &image_ref,
        &LoadOptions {
            platform: options.platform.as_ref(),
            analyzers: &analyzers,
            budget: &budget,
        },
    )?;
    Ok(ImageFacts::new(loaded.meta, loaded.layers, loaded.reports))
}
