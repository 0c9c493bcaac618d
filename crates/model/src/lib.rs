//! The shared vocabulary of portcullis, below every stage of the pipeline: severities,
//! calendar days, findings and diagnostics, check metadata, image identity (digests,
//! platform, transport) and paths inside an image. No I/O.

#![forbid(unsafe_code)]

pub mod check;
pub mod date;
pub mod finding;
pub mod image;
pub mod params;
pub mod path;
pub mod severity;

pub use check::{Check, Reference};
pub use date::{BadDate, Date};
pub use finding::{
    DataSet, Delta, Diagnostic, Finding, Location, Origin, Part, Source, SourceStatus,
    VexSuppression, Waived,
};
pub use severity::{Severity, UnknownSeverity};
