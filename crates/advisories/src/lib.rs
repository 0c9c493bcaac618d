//! What is outdated or vulnerable: the distribution's package indexes ([`index`]), the
//! end-of-life table ([`eol`]), offline OSV databases ([`osv`]) and the Trivy runner
//! ([`trivy`]).

pub mod eol;
pub mod index;
pub mod osv;
pub mod trivy;
