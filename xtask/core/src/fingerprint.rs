//! The identity of a build: for each unit, a canonical manifest of the content of every
//! input at one commit (git object ids, lockfile entries, canonical settings), and the
//! SHA-256 of that manifest.
//!
//! Everything is read from the commit's trees: no checkout, no history, so the same commit
//! gives the same fingerprint on every machine and in a depth-1 clone.
//!
//! Units share most inputs (a crate used by fifty services), so each input's content id
//! and manifest line are computed once per commit in a table; a unit is a sorted list of
//! table entries. The keyed [`Manifest`] view, with explanations, is built only for the
//! units that need reasons and for `explain`.

use crate::inputs::{Finding, Scope, Unit, UnitInputs};
use crate::source::{walk_files, EntryKind, Source};
use crate::workspace::{hex, Crate, Workspace};
use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Version of the manifest format; bump it when the meaning of an input changes, so that
/// every fingerprint changes with it.
pub const SCHEME: u32 = 2;

/// The id recorded for an input that does not exist at the commit.
const ABSENT: &str = "absent";

/// The registry whose packages are named without their source.
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// What an input is. Its order is the order of manifest lines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputKey {
    Scheme,
    Recipe,
    Dockerfile {
        path: String,
    },
    Folder {
        path: String,
    },
    Crate {
        name: String,
    },
    /// A lockfile package; `version` carries its source when that is not crates.io.
    Package {
        name: String,
        version: String,
    },
    CargoSetting {
        section: String,
    },
    Global {
        path: String,
    },
    Extra {
        path: String,
    },
    /// A file a Dockerfile copies from its build context.
    Context {
        path: String,
    },
}

impl fmt::Display for InputKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKey::Scheme => f.write_str("scheme"),
            InputKey::Recipe => f.write_str("recipe"),
            InputKey::Dockerfile { path } => write!(f, "dockerfile {path}"),
            InputKey::Folder { path } => write!(f, "folder {path}"),
            InputKey::Crate { name } => write!(f, "crate {name}"),
            InputKey::Package { name, version } => write!(f, "package {name} {version}"),
            InputKey::CargoSetting { section } => write!(f, "cargo {section}"),
            InputKey::Global { path } => write!(f, "global {path}"),
            InputKey::Extra { path } => write!(f, "extra {path}"),
            InputKey::Context { path } => write!(f, "context {path}"),
        }
    }
}

/// The content id of a lockfile package: its source, checksum and the exact versions its
/// dependencies resolved to, written `source checksum [a@1.0.0,b@2.1.0]` (no field holds a
/// space). Parsed back to say which of them changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageId {
    pub source: String,
    pub checksum: String,
    /// `name@version`, sorted.
    pub deps: Vec<String>,
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} [{}]",
            self.source,
            self.checksum,
            self.deps.join(",")
        )
    }
}

impl PackageId {
    pub fn parse(id: &str) -> Option<PackageId> {
        let (source, rest) = id.split_once(' ')?;
        let (checksum, deps) = rest.split_once(' ')?;
        let deps = deps.strip_prefix('[')?.strip_suffix(']')?;
        Some(PackageId {
            source: source.to_owned(),
            checksum: checksum.to_owned(),
            deps: deps
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// One line of a manifest.
#[derive(Debug, Clone)]
pub struct Input {
    /// The content id; the only part that is hashed.
    pub id: String,
    /// A short human description (a path, a version).
    pub summary: String,
    /// For packages: the workspace crate through which this unit's build uses it.
    pub via: Option<String>,
    /// The repository paths that belong to this input.
    pub scope: Scope,
    /// How the input was read, for `explain` (a crate's inherited dependencies); not hashed.
    pub notes: Vec<String>,
}

/// The inputs of one unit at one commit, keyed, and their hash.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub unit: Unit,
    pub inputs: BTreeMap<InputKey, Input>,
    pub fingerprint: String,
}

impl Manifest {
    pub(crate) fn new(unit: Unit, inputs: BTreeMap<InputKey, Input>) -> Self {
        let fingerprint = digest(
            inputs
                .iter()
                .map(|(key, input)| line_digest(key, &input.id))
                .collect(),
        );
        Manifest {
            unit,
            inputs,
            fingerprint,
        }
    }
}

/// The digest of one manifest line, `key<TAB>id`.
fn line_digest(key: &InputKey, id: &str) -> [u8; 32] {
    Sha256::digest(format!("{key}\t{id}\n")).into()
}

/// The fingerprint of a manifest: the SHA-256 of its line digests, sorted. It depends on
/// the set of inputs, not on the order they were gathered in, and each line is hashed
/// once per commit however many units share it.
fn digest(mut lines: Vec<[u8; 32]>) -> String {
    lines.sort_unstable();
    lines.dedup();
    let mut hasher = Sha256::new();
    hasher.update("xtask-fingerprint\n");
    for line in &lines {
        hasher.update(line);
    }
    hex(&hasher.finalize())
}

/// One unit's fingerprint at one commit.
#[derive(Debug, Clone)]
pub struct UnitFingerprint {
    pub unit: Unit,
    pub fingerprint: String,
    /// Table entries, each with the crate a package enters through.
    pub(crate) slots: Vec<(usize, Option<usize>)>,
    /// What the unit's description could not account for (see [`crate::inputs::Finding`]).
    pub findings: Vec<Finding>,
}

impl UnitFingerprint {
    /// A fingerprint known by its value alone, with no table behind it (the deploy
    /// planner's tests build their facts from these).
    pub fn bare(unit: Unit, fingerprint: String) -> Self {
        UnitFingerprint {
            unit,
            fingerprint,
            slots: Vec::new(),
            findings: Vec::new(),
        }
    }
}

/// Every unit's fingerprint at one commit, and the inputs they are made of.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    pub units: Vec<UnitFingerprint>,
    table: Vec<Entry>,
    crate_names: Vec<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: InputKey,
    input: Input,
    digest: [u8; 32],
}

impl Fingerprints {
    pub fn get(&self, name: &str) -> Option<&UnitFingerprint> {
        self.units.iter().find(|u| u.unit.name == name)
    }

    /// The keyed manifest of one unit, with explanations.
    pub fn manifest(&self, unit: &UnitFingerprint) -> Manifest {
        let inputs = unit
            .slots
            .iter()
            .map(|&(entry, via)| {
                let entry = &self.table[entry];
                let mut input = entry.input.clone();
                input.via = via.map(|c| self.crate_names[c].clone());
                (entry.key.clone(), input)
            })
            .collect();
        let manifest = Manifest {
            unit: unit.unit.clone(),
            inputs,
            fingerprint: unit.fingerprint.clone(),
        };
        debug_assert_eq!(
            Manifest::new(unit.unit.clone(), manifest.inputs.clone()).fingerprint,
            unit.fingerprint,
            "the keyed view hashes like the table"
        );
        manifest
    }
}

/// Fingerprints every unit of one commit.
pub fn fingerprint(
    snapshot: &dyn Source,
    workspace: &Workspace,
    units: &[UnitInputs],
) -> Result<Fingerprints> {
    let mut builder = Builder {
        snapshot,
        workspace,
        table: Vec::new(),
        by_key: HashMap::new(),
        patterns: HashMap::new(),
    };
    let mut fingerprinted = Vec::with_capacity(units.len());
    for unit in units {
        let mut slots = builder.slots(unit)?;
        slots.sort_unstable_by_key(|slot| slot.0);
        slots.dedup_by_key(|slot| slot.0);
        let fingerprint = digest(
            slots
                .iter()
                .map(|&(entry, _)| builder.table[entry].digest)
                .collect(),
        );
        fingerprinted.push(UnitFingerprint {
            unit: unit.unit.clone(),
            fingerprint,
            slots,
            findings: unit.findings.clone(),
        });
    }
    Ok(Fingerprints {
        units: fingerprinted,
        table: builder.table,
        crate_names: workspace.crates.iter().map(|c| c.name.clone()).collect(),
    })
}

/// Builds the table of one commit's inputs, computing each content id once.
struct Builder<'a> {
    snapshot: &'a dyn Source,
    workspace: &'a Workspace,
    table: Vec<Entry>,
    by_key: HashMap<InputKey, usize>,
    /// Table entries of each path pattern's matches at this commit.
    patterns: HashMap<(String, bool), Vec<usize>>,
}

impl Builder<'_> {
    /// The table entries of one unit, unsorted, with "via" crates for packages.
    fn slots(&mut self, unit: &UnitInputs) -> Result<Vec<(usize, Option<usize>)>> {
        let mut slots = Vec::new();
        slots.push(self.shared(InputKey::Scheme, |_| {
            Ok((SCHEME.to_string(), format!("v{SCHEME}"), Scope::None))
        })?);
        // The recipe differs per unit: never shared.
        slots.push(self.push(
            InputKey::Recipe,
            unit.recipe.clone(),
            unit.recipe.clone(),
            Scope::None,
        ));
        // A Dockerfile inside one of the unit's folders is already part of that folder's
        // content; only one elsewhere is an input of its own.
        if let Some(path) = unit
            .unit
            .dockerfile
            .as_ref()
            .filter(|path| !unit.folders().any(|f| f.contains(path)))
        {
            let key = InputKey::Dockerfile { path: path.clone() };
            slots.push(self.shared(key, |b| {
                Ok((b.id_of(path)?, path.clone(), Scope::File(path.clone())))
            })?);
        }
        if let Some(path) = &unit.folder {
            let key = InputKey::Folder { path: path.clone() };
            let scope = Scope::Dir {
                path: path.clone(),
                skipped: Vec::new(),
            };
            slots.push(self.shared(key, |b| Ok((b.id_of(path)?, path.clone(), scope)))?);
        }
        for krate in &unit.crates {
            slots.push(self.krate(krate)?);
        }
        for section in &unit.settings {
            let key = InputKey::CargoSetting {
                section: section.clone(),
            };
            slots.push(self.shared(key, |b| {
                let id = b
                    .workspace
                    .settings
                    .get(section)
                    .map_or_else(|| ABSENT.to_owned(), |t| hex(&Sha256::digest(t)));
                Ok((id, format!("[{section}]"), Scope::None))
            })?);
        }
        if !unit.crates.is_empty() && self.workspace.lock.is_none() {
            let key = InputKey::CargoSetting {
                section: "Cargo.lock".into(),
            };
            slots.push(self.shared(key, |_| {
                Ok((ABSENT.into(), "no Cargo.lock".into(), Scope::None))
            })?);
        }
        for pattern in &unit.globals {
            slots.extend(
                self.matches(pattern, true)?
                    .into_iter()
                    .map(|entry| (entry, None)),
            );
        }
        for pattern in &unit.extras {
            slots.extend(
                self.matches(pattern, false)?
                    .into_iter()
                    .map(|entry| (entry, None)),
            );
        }
        for path in &unit.context {
            let key = InputKey::Context { path: path.clone() };
            slots.push(self.shared(key, |b| {
                Ok((b.id_of(path)?, path.clone(), Scope::File(path.clone())))
            })?);
        }
        for &(package, via) in &unit.packages {
            slots.push((self.package(package)?, Some(via)));
        }
        Ok(slots)
    }

    fn push(
        &mut self,
        key: InputKey,
        id: String,
        summary: String,
        scope: Scope,
    ) -> (usize, Option<usize>) {
        self.table.push(Entry {
            digest: line_digest(&key, &id),
            key,
            input: Input {
                id,
                summary,
                via: None,
                scope,
                notes: Vec::new(),
            },
        });
        (self.table.len() - 1, None)
    }

    /// The entry for `key`, computed by `make` (id, summary, scope) the first time.
    fn shared(
        &mut self,
        key: InputKey,
        make: impl FnOnce(&mut Self) -> Result<(String, String, Scope)>,
    ) -> Result<(usize, Option<usize>)> {
        if let Some(&entry) = self.by_key.get(&key) {
            return Ok((entry, None));
        }
        let (id, summary, scope) = make(self)?;
        let slot = self.push(key.clone(), id, summary, scope);
        self.by_key.insert(key, slot.0);
        Ok(slot)
    }

    fn krate(&mut self, krate: &Crate) -> Result<(usize, Option<usize>)> {
        let key = InputKey::Crate {
            name: krate.name.clone(),
        };
        let slot = self.shared(key, |_| {
            let id = format!("{} {}", krate.path, krate.content);
            Ok((id, krate.path.clone(), Scope::of_crate(krate)))
        })?;
        self.table[slot.0].input.notes.clone_from(&krate.notes);
        Ok(slot)
    }

    /// A lockfile package: its exact identity and the versions its dependencies resolved
    /// to, so that a changed edge in the lockfile changes the fingerprint too. Its key
    /// carries the source when not crates.io, so it names one lockfile entry.
    fn package(&mut self, index: usize) -> Result<usize> {
        // The workspace outlives the builder: borrow the lockfile from it, not from `self`.
        let workspace = self.workspace;
        let lock = workspace
            .lock
            .as_deref()
            .expect("packages come from the lockfile");
        let package = &lock.packages[index];
        let version = match package.source.as_deref() {
            Some(CRATES_IO) | None => package.version.clone(),
            Some(source) => format!("{} ({source})", package.version),
        };
        let key = InputKey::Package {
            name: package.name.clone(),
            version: version.clone(),
        };
        let (entry, _) = self.shared(key, |_| {
            let mut deps: Vec<String> = package
                .deps
                .iter()
                .map(|&d| format!("{}@{}", lock.packages[d].name, lock.packages[d].version))
                .collect();
            deps.sort_unstable();
            let id = PackageId {
                source: package.source.clone().unwrap_or_else(|| "-".into()),
                checksum: package.checksum.clone().unwrap_or_else(|| "-".into()),
                deps,
            };
            Ok((id.to_string(), version, Scope::None))
        })?;
        Ok(entry)
    }

    /// The object id at `path`, or `absent`.
    fn id_of(&self, path: &str) -> Result<String> {
        Ok(self.stat(path)?.1)
    }

    /// What is at `path` and its object id (`absent` when nothing is). Fingerprints are of
    /// commits: a source without object ids is a caller's mistake.
    fn stat(&self, path: &str) -> Result<(Option<EntryKind>, String)> {
        Ok(match self.snapshot.stat(path)? {
            Some((kind, Some(id))) => (Some(kind), id.to_string()),
            Some((_, None)) => anyhow::bail!(
                "{path} (at {}) has no object id: only commits are fingerprinted",
                self.snapshot.label()
            ),
            None => (None, ABSENT.to_owned()),
        })
    }

    /// The entries of the files a path or glob names at this commit. A literal path that
    /// is missing is recorded as absent, so that creating it changes the fingerprint.
    fn matches(&mut self, pattern: &str, global: bool) -> Result<Vec<usize>> {
        let memo = (pattern.to_owned(), global);
        if let Some(found) = self.patterns.get(&memo) {
            return Ok(found.clone());
        }
        let key = |path: String| {
            if global {
                InputKey::Global { path }
            } else {
                InputKey::Extra { path }
            }
        };
        let mut found = Vec::new();
        if is_glob(pattern) {
            let matcher = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()?
                .compile_matcher();
            for (path, id) in walk_files(self.snapshot, literal_prefix(pattern))? {
                if matcher.is_match(&path) {
                    let id = id.map(|id| id.to_string()).unwrap_or_default();
                    let scope = Scope::File(path.clone());
                    found.push(self.shared(key(path.clone()), |_| Ok((id, path, scope)))?.0);
                }
            }
        } else {
            let (kind, id) = self.stat(pattern)?;
            let scope = match kind {
                Some(EntryKind::Dir) => Scope::Dir {
                    path: pattern.to_owned(),
                    skipped: Vec::new(),
                },
                _ => Scope::File(pattern.to_owned()),
            };
            found.push(
                self.shared(key(pattern.to_owned()), |_| {
                    Ok((id, pattern.to_owned(), scope))
                })?
                .0,
            );
        }
        self.patterns.insert(memo, found.clone());
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

    fn unit() -> Unit {
        Unit {
            name: "x".into(),
            kind: crate::inputs::UnitKind::Service,
            own_crate: None,
            dockerfile: None,
        }
    }

    #[test]
    fn a_manifest_hash_is_its_set_of_key_id_lines() {
        let input = |id: &str| Input {
            id: id.into(),
            summary: String::new(),
            via: None,
            scope: Scope::None,
            notes: Vec::new(),
        };
        let (a, b) = (
            InputKey::Crate { name: "a".into() },
            InputKey::Crate { name: "b".into() },
        );
        let mut inputs = BTreeMap::new();
        inputs.insert(b.clone(), input("2"));
        inputs.insert(a.clone(), input("1"));
        let manifest = Manifest::new(unit(), inputs.clone());
        let mut expected = Sha256::new();
        expected.update("xtask-fingerprint\n");
        let mut lines = [
            Sha256::digest("crate a\t1\n"),
            Sha256::digest("crate b\t2\n"),
        ];
        lines.sort();
        for line in lines {
            expected.update(line);
        }
        assert_eq!(manifest.fingerprint, hex(&expected.finalize()));
        inputs.get_mut(&a).unwrap().summary = "not hashed".into();
        assert_eq!(
            Manifest::new(unit(), inputs.clone()).fingerprint,
            manifest.fingerprint
        );
        inputs.get_mut(&b).unwrap().id = "3".into();
        assert_ne!(
            Manifest::new(unit(), inputs).fingerprint,
            manifest.fingerprint
        );
    }
}
