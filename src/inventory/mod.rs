//! What an image has installed, and how its package versions order.
//!
//! [`version`] orders version strings per packaging ecosystem; the package database
//! parsers that produce those strings sit beside it.

pub mod version;
