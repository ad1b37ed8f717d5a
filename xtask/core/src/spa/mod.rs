//! Single-page apps, the pure half: the files of a built app and their headers
//! ([`files`]), what one HTML file loads ([`refs`]), the bucket manifest ([`manifest`]),
//! and the upload plan from one listing ([`diff`]). The xtask crate carries a plan out.

pub mod diff;
pub mod files;
pub mod manifest;
pub mod refs;

use serde::{Deserialize, Serialize};

/// What shipping one app did, for the summary and the ledger.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Shipped {
    pub release: Option<String>,
    pub uploaded: usize,
    pub copied: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub invalidated_paths: usize,
}
