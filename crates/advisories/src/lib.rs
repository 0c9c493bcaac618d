//! What is outdated or vulnerable: the distribution's package indexes ([`index`]), the
//! end-of-life table ([`eol`]), offline OSV databases ([`osv`]), the Trivy runner
//! ([`trivy`]), and suppliers' VEX statements about what does not affect them ([`vex`]).
//! Every network access for data happens here; [`params`] holds the policy settings that
//! steer it.

#![forbid(unsafe_code)]

pub mod eol;
pub mod index;
pub mod osv;
pub mod params;
pub mod trivy;
pub mod vex;
