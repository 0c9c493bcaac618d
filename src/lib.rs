//! portcullis: a container image hardening gate.
//!
//! The data flows through the modules in this order: [`image`] gets an image and its
//! layers, [`layer`] reads one layer as a stream, [`scan`] runs the analyzers and merges
//! the layers, [`checks`] turn the facts into findings, [`policy`] decides the verdict, and
//! [`report`] renders it; [`attest`] signs it.

#![forbid(unsafe_code)]

pub mod advisories;
pub mod attest;
pub mod checks;
pub mod cli;
pub mod image;
pub mod inventory;
pub mod layer;
pub mod policy;
pub mod report;
pub mod scan;
