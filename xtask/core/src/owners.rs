//! Which units a repository path is an input of: the reverse of [`crate::inputs`], indexed
//! so that asking for every tracked file of a large monorepo stays cheap.

use crate::config::{self, Config};
use crate::inputs::{keeps, Scope, UnitInputs};
use anyhow::Result;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::{BTreeSet, HashMap};

/// Root files that are partly inputs of every Rust unit: the workspace manifest (build
/// settings, inherited values) and the lockfile (each service's slice). `deploy.toml`
/// (the recipes) is partly an input of every unit.
const SHARED_ROOT_FILES: [&str; 2] = ["Cargo.toml", "Cargo.lock"];

/// How far a unit's reach goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only what its build reads (a crate's `tests/` folder is not).
    Inputs,
    /// Whole folders: a crate's tests belong to it even though no image contains them.
    Folders,
}

pub struct Owners<'u> {
    names: Vec<&'u str>,
    /// Folder inputs by folder path, with their skipped test folders and unit index.
    dirs: HashMap<String, Vec<(usize, Vec<String>)>>,
    files: HashMap<String, Vec<usize>>,
    globs: GlobSet,
    glob_units: Vec<usize>,
}

impl<'u> Owners<'u> {
    pub fn new(units: &'u [UnitInputs], reach: Reach) -> Result<Self> {
        let mut owners = Owners {
            names: units.iter().map(|u| u.unit.name.as_str()).collect(),
            dirs: HashMap::new(),
            files: HashMap::new(),
            globs: GlobSet::empty(),
            glob_units: Vec::new(),
        };
        let mut globs = GlobSetBuilder::new();
        for (index, unit) in units.iter().enumerate() {
            let scopes = unit
                .folders()
                .map(|scope| match (reach, scope) {
                    (Reach::Folders, Scope::Dir { path, .. }) => Scope::Dir {
                        path,
                        skipped: Vec::new(),
                    },
                    (_, scope) => scope,
                })
                .chain(
                    unit.unit
                        .dockerfile
                        .iter()
                        .chain(&unit.context)
                        .map(|path| Scope::File(path.clone())),
                );
            for scope in scopes {
                owners.add(index, scope);
            }
            owners.add(index, Scope::File(config::FILE_NAME.to_owned()));
            if !unit.crates.is_empty() {
                for file in SHARED_ROOT_FILES {
                    owners.add(index, Scope::File(file.to_owned()));
                }
            }
            for pattern in unit.globals.iter().chain(&unit.extras) {
                // Literal paths may name a folder; a glob `p/**` covers both cases.
                let pattern = if crate::fingerprint::is_glob(pattern) {
                    pattern.clone()
                } else {
                    owners.add(index, Scope::File(pattern.clone()));
                    format!("{pattern}/**")
                };
                globs.add(GlobBuilder::new(&pattern).literal_separator(true).build()?);
                owners.glob_units.push(index);
            }
        }
        owners.globs = globs.build()?;
        Ok(owners)
    }

    fn add(&mut self, unit: usize, scope: Scope) {
        match scope {
            Scope::Dir { path, skipped } => {
                self.dirs.entry(path).or_default().push((unit, skipped))
            }
            Scope::File(path) => self.files.entry(path).or_default().push(unit),
            Scope::None => {}
        }
    }

    /// The names of the units `path` is an input of, sorted.
    pub fn of(&self, path: &str) -> Vec<&'u str> {
        let mut units = BTreeSet::new();
        units.extend(self.files.get(path).into_iter().flatten().copied());
        for (dir, rest) in ancestors(path) {
            for (unit, skipped) in self.dirs.get(dir).into_iter().flatten() {
                if keeps(skipped, rest) {
                    units.insert(*unit);
                }
            }
        }
        units.extend(
            self.globs
                .matches(path)
                .into_iter()
                .map(|i| self.glob_units[i]),
        );
        let mut names: Vec<&str> = units.into_iter().map(|i| self.names[i]).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Every proper ancestor folder of `path` with the rest of the path below it:
/// `a/b/c` gives `("a", "b/c")` and `("a/b", "c")`.
fn ancestors(path: &str) -> impl Iterator<Item = (&str, &str)> {
    path.match_indices('/')
        .map(move |(i, _)| (&path[..i], &path[i + 1..]))
}

/// Whether `path` matches one of the `ignore` globs of `deploy.toml`.
pub fn ignore_set(config: &Config) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for glob in &config.inputs.ignore {
        builder.add(
            GlobBuilder::new(glob.get_ref())
                .literal_separator(true)
                .build()?,
        );
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_pairs_folders_with_the_rest() {
        let found: Vec<_> = ancestors("a/b/c").collect();
        assert_eq!(found, [("a", "b/c"), ("a/b", "c")]);
        assert_eq!(ancestors("top").count(), 0);
    }
}
