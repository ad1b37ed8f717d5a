//! The identity of a build: for each unit, a canonical manifest of the content of every
//! input at one commit (git object ids, lockfile entries, canonical settings) and the
//! SHA-256 of that manifest.
//!
//! Everything is read from the commit's trees: no checkout, no history, so the same commit
//! gives the same fingerprint on every machine and in a depth-1 clone.

use crate::git::{walk_files, EntryKind, Snapshot, Source};
use crate::inputs::{Scope, UnitInputs, UnitKind};
use crate::workspace::{hex, Crate, Workspace};
use anyhow::Result;
use git2::Oid;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Version of the manifest format; bump it when the meaning of an input changes, so that
/// every fingerprint changes with it.
pub const SCHEME: u32 = 1;

/// The id recorded for an input that does not exist at the commit.
const ABSENT: &str = "absent";

/// What an input is. Its order is the order of manifest lines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum InputKey {
    Scheme,
    Recipe,
    Dockerfile(String),
    Folder(String),
    Crate(String),
    Package(String),
    CargoSetting(String),
    Global(String),
    Extra(String),
}

impl fmt::Display for InputKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKey::Scheme => f.write_str("scheme"),
            InputKey::Recipe => f.write_str("recipe"),
            InputKey::Dockerfile(p) => write!(f, "dockerfile {p}"),
            InputKey::Folder(p) => write!(f, "folder {p}"),
            InputKey::Crate(n) => write!(f, "crate {n}"),
            InputKey::Package(n) => write!(f, "package {n}"),
            InputKey::CargoSetting(s) => write!(f, "cargo {s}"),
            InputKey::Global(p) => write!(f, "global {p}"),
            InputKey::Extra(p) => write!(f, "extra {p}"),
        }
    }
}

/// One line of a manifest.
#[derive(Debug, Clone)]
pub struct Input {
    /// The content id; the only part that is hashed.
    pub id: String,
    /// A short human description (a path, versions).
    pub summary: String,
    /// For packages: the workspace crate through which the build uses it.
    pub via: Option<String>,
    pub scope: Scope,
}

/// The inputs of one unit at one commit, and their hash.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub kind: UnitKind,
    /// A Rust service's own crate: its changes are reported file by file.
    pub own_crate: Option<String>,
    pub inputs: BTreeMap<InputKey, Input>,
    pub fingerprint: String,
}

impl Manifest {
    pub(crate) fn new(
        name: &str,
        kind: UnitKind,
        own_crate: Option<String>,
        inputs: BTreeMap<InputKey, Input>,
    ) -> Manifest {
        let mut manifest = Manifest {
            name: name.to_owned(),
            kind,
            own_crate,
            inputs,
            fingerprint: String::new(),
        };
        manifest.fingerprint = hex(&Sha256::digest(manifest.canonical_text()));
        manifest
    }

    /// The hashed text: one `key<TAB>id` line per input, in key order.
    pub fn canonical_text(&self) -> String {
        let mut text = String::from("xtask-fingerprint\n");
        for (key, input) in &self.inputs {
            text.push_str(&format!("{key}\t{}\n", input.id));
        }
        text
    }
}

/// Content ids reused across the commits of one run (unchanged crates are hashed once).
#[derive(Default)]
pub struct Cache {
    crates: HashMap<(Oid, String), String>,
}

/// Computes manifests for the units of one commit.
pub struct Fingerprinter<'a> {
    snapshot: &'a Snapshot<'a>,
    workspace: &'a Workspace,
    cache: &'a mut Cache,
    /// Matches of each pattern at this commit, shared by every unit using it.
    patterns: HashMap<String, Vec<(String, String, Scope)>>,
}

impl<'a> Fingerprinter<'a> {
    pub fn new(snapshot: &'a Snapshot<'a>, workspace: &'a Workspace, cache: &'a mut Cache) -> Self {
        Fingerprinter {
            snapshot,
            workspace,
            cache,
            patterns: HashMap::new(),
        }
    }

    pub fn manifest(&mut self, unit: &UnitInputs) -> Result<Manifest> {
        let mut inputs = BTreeMap::new();
        let mut add = |key, id: String, summary: String, scope| {
            inputs.insert(
                key,
                Input {
                    id,
                    summary,
                    via: None,
                    scope,
                },
            );
        };
        add(
            InputKey::Scheme,
            SCHEME.to_string(),
            format!("v{SCHEME}"),
            Scope::None,
        );
        add(
            InputKey::Recipe,
            unit.recipe.clone(),
            unit.recipe.clone(),
            Scope::None,
        );
        if let Some(path) = &unit.dockerfile {
            let id = self.id_of(path)?;
            add(
                InputKey::Dockerfile(path.clone()),
                id,
                path.clone(),
                Scope::File(path.clone()),
            );
        }
        if let Some(path) = &unit.folder {
            let id = self.id_of(path)?;
            let scope = Scope::Dir {
                path: path.clone(),
                skipped: Vec::new(),
            };
            add(InputKey::Folder(path.clone()), id, path.clone(), scope);
        }
        for krate in &unit.crates {
            let id = format!("{} {}", krate.path, self.crate_digest(krate)?);
            let scope = Scope::of_crate(krate);
            add(
                InputKey::Crate(krate.name.clone()),
                id,
                krate.path.clone(),
                scope,
            );
        }
        for section in &unit.settings {
            let id = self
                .workspace
                .settings
                .get(section)
                .map_or_else(|| ABSENT.to_owned(), |text| hex(&Sha256::digest(text)));
            add(
                InputKey::CargoSetting(section.clone()),
                id,
                format!("[{section}]"),
                Scope::None,
            );
        }
        if !unit.crates.is_empty() && self.workspace.lock.is_none() {
            add(
                InputKey::CargoSetting("Cargo.lock".into()),
                ABSENT.into(),
                "no Cargo.lock".into(),
                Scope::None,
            );
        }
        for (pattern, key) in unit
            .globals
            .iter()
            .map(|p| (p, InputKey::Global as fn(String) -> InputKey))
            .chain(
                unit.extras
                    .iter()
                    .map(|p| (p, InputKey::Extra as fn(String) -> InputKey)),
            )
        {
            for (path, id, scope) in self.matches(pattern)? {
                add(key(path.clone()), id, path, scope);
            }
        }
        self.add_packages(unit, &mut inputs);
        Ok(Manifest::new(
            &unit.name,
            unit.kind,
            unit.own_crate.clone(),
            inputs,
        ))
    }

    /// One input per external package name; several versions of one name share it.
    fn add_packages(&self, unit: &UnitInputs, inputs: &mut BTreeMap<InputKey, Input>) {
        let Some(lock) = &self.workspace.lock else {
            return;
        };
        for (index, via) in &unit.packages {
            let package = &lock.packages[*index];
            let id = format!(
                "{} {} {}",
                package.version,
                package.source.as_deref().unwrap_or("-"),
                package.checksum.as_deref().unwrap_or("-")
            );
            let entry = inputs
                .entry(InputKey::Package(package.name.clone()))
                .or_insert_with(|| Input {
                    id: String::new(),
                    summary: String::new(),
                    via: Some(via.clone()),
                    scope: Scope::None,
                });
            append(&mut entry.id, &id, "; ");
            append(&mut entry.summary, &package.version, ", ");
        }
        // Versions were appended in lockfile order; sort them so the id is canonical.
        for input in inputs.values_mut().filter(|i| i.via.is_some()) {
            input.id = sorted_list(&input.id, "; ");
            input.summary = sorted_list(&input.summary, ", ");
        }
    }

    /// The object id at `path`, or `absent`.
    fn id_of(&self, path: &str) -> Result<String> {
        Ok(self
            .snapshot
            .id(path)?
            .map_or_else(|| ABSENT.to_owned(), |(id, _)| id.to_string()))
    }

    /// A crate's content: its top-level entries except test-only folders and the raw
    /// manifest, plus the digest of the manifest as the build sees it.
    fn crate_digest(&mut self, krate: &Crate) -> Result<String> {
        let Some((tree, EntryKind::Dir)) = self.snapshot.id(&krate.path)? else {
            return Ok(ABSENT.to_owned());
        };
        let key = (tree, krate.manifest_digest.clone());
        if let Some(digest) = self.cache.crates.get(&key) {
            return Ok(digest.clone());
        }
        let mut hasher = Sha256::new();
        for entry in self.snapshot.list(&krate.path)?.unwrap_or_default() {
            let skipped =
                entry.kind == EntryKind::Dir && krate.skipped_dirs.contains(&entry.name.as_str());
            if entry.name == "Cargo.toml" || skipped {
                continue;
            }
            let id = entry.id.map(|id| id.to_string()).unwrap_or_default();
            hasher.update(format!("{}\t{id}\n", entry.name));
        }
        hasher.update(format!("Cargo.toml\t{}\n", krate.manifest_digest));
        let digest = hex(&hasher.finalize());
        self.cache.crates.insert(key, digest.clone());
        Ok(digest)
    }

    /// The files a path or glob names at this commit. A literal path that is missing is
    /// recorded as absent, so that creating it changes the fingerprint.
    fn matches(&mut self, pattern: &str) -> Result<Vec<(String, String, Scope)>> {
        if let Some(found) = self.patterns.get(pattern) {
            return Ok(found.clone());
        }
        let found = if is_glob(pattern) {
            let matcher = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()?
                .compile_matcher();
            walk_files(self.snapshot, literal_prefix(pattern))?
                .into_iter()
                .filter(|(path, _)| matcher.is_match(path))
                .map(|(path, id)| {
                    let id = id.map(|id| id.to_string()).unwrap_or_default();
                    (path.clone(), id, Scope::File(path))
                })
                .collect()
        } else {
            let scope = match self.snapshot.id(pattern)? {
                Some((_, EntryKind::Dir)) => Scope::Dir {
                    path: pattern.to_owned(),
                    skipped: Vec::new(),
                },
                _ => Scope::File(pattern.to_owned()),
            };
            vec![(pattern.to_owned(), self.id_of(pattern)?, scope)]
        };
        self.patterns.insert(pattern.to_owned(), found.clone());
        Ok(found)
    }
}

/// Whether a pattern has glob syntax (else it is a literal path).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// The folder before the first glob segment: the only part of the tree a glob can match.
pub fn literal_prefix(pattern: &str) -> &str {
    let mut end = 0;
    for (index, segment) in pattern.split('/').enumerate() {
        if is_glob(segment) {
            break;
        }
        end = if index == 0 {
            segment.len()
        } else {
            end + 1 + segment.len()
        };
    }
    if end >= pattern.len() {
        // No glob at all: the whole pattern names a file, whose folder is the prefix.
        return pattern.rsplit_once('/').map_or("", |(dir, _)| dir);
    }
    &pattern[..end]
}

fn append(list: &mut String, item: &str, separator: &str) {
    if !list.is_empty() {
        list.push_str(separator);
    }
    list.push_str(item);
}

fn sorted_list(list: &str, separator: &str) -> String {
    let mut items: Vec<&str> = list.split(separator).collect();
    items.sort_unstable();
    items.dedup();
    items.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefix_stops_at_the_first_glob_segment() {
        assert_eq!(literal_prefix("apps/shared/**"), "apps/shared");
        assert_eq!(literal_prefix("**/*.md"), "");
        assert_eq!(literal_prefix("docs/*.md"), "docs");
        assert_eq!(literal_prefix("a/b{c,d}/e"), "a");
    }
}
