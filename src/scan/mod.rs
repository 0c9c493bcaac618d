//! The single pass: per-entry analyzers fed while each layer streams, then the merge.

pub mod accounts;
pub mod analyzer;
pub mod capture;
pub mod facts;
pub mod layer_report;
pub mod merge;
pub mod presence;

use analyzer::{Analyzer, AnalyzerSet};

/// The analyzers every scan runs.
#[derive(Debug, Default)]
pub struct DefaultAnalyzers;

impl AnalyzerSet for DefaultAnalyzers {
    fn build(&self) -> Vec<Box<dyn Analyzer>> {
        vec![
            Box::new(capture::Capture::default()),
            Box::new(presence::Presence::default()),
            Box::new(crate::inventory::analyzer::InventoryAnalyzer::default()),
        ]
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

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub platform: Option<Platform>,
    pub limits: Limits,
}

/// Reads the image `reference` once and returns what its layers hold, merged.
pub fn scan_image(reference: &str, options: &ScanOptions) -> Result<ImageFacts, ScanError> {
    let image_ref = ImageRef::parse(reference)?;
    let budget = Budget::new(options.limits);
    let loaded = image::load(
        reference,
        &image_ref,
        &LoadOptions {
            platform: options.platform.as_ref(),
            analyzers: &DefaultAnalyzers,
            budget: &budget,
        },
    )?;
    Ok(ImageFacts::new(loaded.meta, loaded.layers, loaded.reports))
}
