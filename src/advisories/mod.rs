pub mod eol;
pub mod index;
pub mod osv;
pub mod trivy;
