//! Enrich: every data source beyond the image itself — package indexes, OSV databases,
//! Trivy, the end-of-life table — is consulted here and recorded in the facts, so that the
//! checks after it are pure functions of the facts and the policy.

pub mod indexes;
pub mod vulns;
