//! An image's facts as stored next to it in its registry (`scan --attach-facts`), so that
//! `recheck` judges it again against today's data without reading a layer.
//!
//! What is stored is what the layers were found to hold: the image's manifest and config as
//! read, the verified layer digests, and each layer's report (the file entries, packages,
//! binaries and redacted secret findings the layer cache keeps). The data consulted about
//! them (vulnerabilities, package indexes, end of life) is not stored: that is what a recheck
//! looks up afresh. The analyzers that made the reports are named by the layer cache's salt;
//! facts from other analyzers (another portcullis version, other secret rules) are stale,
//! and the image is scanned instead.

use super::ImageFacts;
use crate::analyze::LayerReport;
use portcullis_model::image::{ImageMeta, LayerInfo};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The referrer's artifact type.
pub const ARTIFACT_TYPE: &str = "application/vnd.portcullis.facts.v1+json";
/// The facts blob: zstd-compressed JSON.
pub const MEDIA_TYPE: &str = "application/vnd.portcullis.facts.v1+json+zstd";
/// Version of the stored format.
const FORMAT: u32 = 1;
/// The largest facts blob read, compressed, and decompressed.
pub const MAX_BLOB: u64 = 256 << 20;
const MAX_JSON: u64 = 1 << 30;

/// The facts of one image, as stored.
#[derive(Serialize, Deserialize)]
pub struct StoredFacts {
    format: u32,
    /// The analyzers that made the layer reports (the layer cache's salt).
    pub analyzers: String,
    pub meta: ImageMeta,
    pub layers: Vec<LayerInfo>,
    pub reports: Vec<LayerReport>,
}

/// Why stored facts could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("the stored facts are not readable: {0}")]
    Unreadable(String),
    #[error("the stored facts are of format {0}, not {FORMAT}")]
    Format(u32),
}

impl StoredFacts {
    /// The facts of a read image.
    pub fn of(facts: &ImageFacts, analyzers: &str) -> StoredFacts {
        StoredFacts {
            format: FORMAT,
            analyzers: analyzers.to_string(),
            meta: facts.meta.clone(),
            layers: facts.layers.clone(),
            reports: facts.reports.clone(),
        }
    }

    /// zstd-compressed JSON.
    pub fn encode(&self) -> Result<Vec<u8>, StoredError> {
        let mut out = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::new(&mut out, 9)
            .map_err(|e| StoredError::Unreadable(e.to_string()))?;
        serde_json::to_writer(&mut encoder, self)
            .map_err(|e| StoredError::Unreadable(e.to_string()))?;
        encoder
            .finish()
            .map_err(|e| StoredError::Unreadable(e.to_string()))?;
        Ok(out)
    }

    /// Reads what [`StoredFacts::encode`] wrote, bounded.
    pub fn decode(data: &[u8]) -> Result<StoredFacts, StoredError> {
        let decoder = zstd::stream::read::Decoder::new(data)
            .map_err(|e| StoredError::Unreadable(e.to_string()))?;
        let mut json = Vec::new();
        decoder
            .take(MAX_JSON + 1)
            .read_to_end(&mut json)
            .map_err(|e| StoredError::Unreadable(e.to_string()))?;
        if json.len() as u64 > MAX_JSON {
            return Err(StoredError::Unreadable(format!(
                "more than {MAX_JSON} bytes decompressed"
            )));
        }
        let stored: StoredFacts = match serde_json::from_slice(&json) {
            Ok(stored) => stored,
            Err(e) => {
                // Another format's facts: say so rather than what of it did not parse.
                #[derive(Deserialize)]
                struct Head {
                    format: u32,
                }
                return Err(match serde_json::from_slice::<Head>(&json) {
                    Ok(head) if head.format != FORMAT => StoredError::Format(head.format),
                    _ => StoredError::Unreadable(e.to_string()),
                });
            }
        };
        if stored.format != FORMAT {
            return Err(StoredError::Format(stored.format));
        }
        if stored.layers.len() != stored.reports.len() {
            return Err(StoredError::Unreadable(format!(
                "{} layers but {} layer reports",
                stored.layers.len(),
                stored.reports.len()
            )));
        }
        Ok(stored)
    }
}
