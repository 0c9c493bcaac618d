//! What is outdated or vulnerable: the distribution's package indexes ([`index`]), the
//! end-of-life table ([`eol`]), offline OSV databases ([`osv`]) and the Trivy runner
//! ([`trivy`]). Every network access for data happens here; [`params`] holds the policy
//! settings that steer it.

#![forbid(unsafe_code)]

pub mod eol;
pub mod index;
pub mod osv;
pub mod params;
pub mod trivy;
