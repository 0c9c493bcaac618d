//! The portcullis gate: the one pipeline every front end calls.
//!
//! ```text
//! reference ─► acquire (portcullis-image) ─► analyze ─► facts ─► enrich ─► checks ─► verdict ─► report
//! ```
//!
//! - [`analyze`]: one layer's stream → its [`analyze::LayerReport`] (and the layer cache);
//! - [`facts`]: the layers merged in manifest order → [`facts::ImageFacts`];
//! - [`enrich`]: every data source (package indexes, OSV, Trivy) recorded in the facts;
//! - [`checks`]: pure functions of the facts and the policy's parameters → findings;
//! - [`policy`]: the verdict's rules, parameters and waivers;
//! - [`rebase`]: the upgrade plan, candidate base images ranked by what rebuilding on them
//!   removes;
//! - [`report`]: the report and its renderers (table, JSON, SARIF, JUnit, Markdown, SBOM);
//! - [`harden`]: the findings fixed, written as a new image.
//!
//! [`Gate`] runs them in order; see [`pipeline`] for an example.

#![forbid(unsafe_code)]

pub mod analyze;
pub mod checks;
pub mod enrich;
pub mod facts;
pub mod harden;
pub mod pipeline;
pub mod policy;
pub mod rebase;
pub mod report;

pub use pipeline::{Gate, GateError, ReadError, ReadOptions, Scanned, Settings, read_image};
