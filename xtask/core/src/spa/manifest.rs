//! The app's manifest in its bucket (`.deploy/<app>/manifest.json`): every release with the
//! files it serves (their digests, headers and where their bytes are stored), which release
//! is live, and every object the tool stored there, with when it stopped being used.
//! Planning an upload reads it once instead of asking for each object.

use super::files::Headers;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: u32 = 1;

/// Releases kept in the manifest (older ones can no longer be activated).
pub const KEPT_RELEASES: usize = 20;

pub fn key(app: &str) -> String {
    format!(".deploy/{app}/manifest.json")
}

/// Where a release's staged copy of a non-hashed file lives.
pub fn staged_key(app: &str, release: &str, path: &str) -> String {
    format!(".deploy/{app}/releases/{release}/{path}")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema: u32,
    pub app: String,
    /// The live release's id.
    pub active: Option<String>,
    /// Oldest first.
    pub releases: Vec<Release>,
    /// Every key this tool stored, by key.
    pub objects: BTreeMap<String, Object>,
    /// Invalidation paths of an activation whose invalidation was not (yet) sent: written
    /// before it is sent, cleared once CloudFront took it, sent by the next run otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_invalidation: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Release {
    pub id: String,
    pub commit: String,
    pub fingerprint: String,
    pub created_at: Timestamp,
    /// Served path → what is served there.
    pub files: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub sha256: String,
    #[serde(flatten)]
    pub headers: Headers,
    /// The key holding these bytes: the path itself for a hashed asset, a staged copy for
    /// the rest.
    pub stored: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Object {
    pub sha256: String,
    #[serde(flatten)]
    pub headers: Headers,
    pub size: u64,
    /// When the last release that used it stopped being one of the kept ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
}

impl Manifest {
    pub fn new(app: &str) -> Manifest {
        Manifest {
            schema: SCHEMA,
            app: app.to_owned(),
            ..Manifest::default()
        }
    }

    pub fn active(&self) -> Option<&Release> {
        let id = self.active.as_ref()?;
        self.releases.iter().find(|r| &r.id == id)
    }

    pub fn release(&self, id: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }
}
