//! The portcullis gate: the one pipeline every front end calls.
//!
//! ```text
//! reference ─► acquire (portcullis-image) ─► analyze ─► facts ─► enrich ─► checks ─► verdict ─► report
//! ```

#![forbid(unsafe_code)]

pub mod analyze;
pub mod checks;
pub mod facts;
pub mod policy;
pub mod report;
