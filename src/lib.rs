//! portcullis: a container image hardening gate.
//!
//! This crate is the command line ([`cli`]): one file per subcommand, no pipeline logic.
//! The pipeline is [`gate`] (`portcullis-gate`); the crates it stands on are re-exported
//! here under their stage names, in the order the data flows through them: [`image`]
//! (acquire), [`layer`], [`inventory`], [`secrets`] and [`advisories`] (data), then the
//! gate's analyze, facts, enrich, [`checks`], [`policy`] and [`report`] stages, and
//! [`attest`] to sign the result. docs/architecture.md draws the graph.

#![forbid(unsafe_code)]

pub mod cli;

pub use portcullis_advisories as advisories;
pub use portcullis_attest as attest;
pub use portcullis_gate as gate;
pub use portcullis_gate::{checks, policy, report};
pub use portcullis_image as image;
pub use portcullis_interrupt as interrupt;
pub use portcullis_inventory as inventory;
pub use portcullis_layer as layer;
pub use portcullis_model as model;
pub use portcullis_secrets as secrets;
pub use portcullis_version as version;
