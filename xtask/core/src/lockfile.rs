//! `Cargo.lock` as a graph: every package with its exact version, source and checksum,
//! and the edges between them, so a service's external dependencies can be sliced out.

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One `[[package]]` of the lockfile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `None` for path packages (workspace members, path patches).
    pub source: Option<String>,
    pub checksum: Option<String>,
    /// Indexes into [`Lockfile::packages`].
    pub deps: Vec<usize>,
}

/// Kept between runs by [`crate::cache`] as its package list; the name index is rebuilt.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Package>", into = "Vec<Package>")]
pub struct Lockfile {
    pub packages: Vec<Package>,
    by_name: HashMap<String, Vec<usize>>,
}

impl From<Vec<Package>> for Lockfile {
    fn from(packages: Vec<Package>) -> Lockfile {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, package) in packages.iter().enumerate() {
            by_name.entry(package.name.clone()).or_default().push(index);
        }
        Lockfile { packages, by_name }
    }
}

impl From<Lockfile> for Vec<Package> {
    fn from(lock: Lockfile) -> Vec<Package> {
        lock.packages
    }
}

#[derive(Deserialize)]
struct RawLock {
    #[serde(default)]
    package: Vec<RawPackage>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

impl Lockfile {
    /// Parses a lockfile of format version 3 or 4 (what current cargo writes).
    pub fn parse(text: &str) -> Result<Lockfile> {
        let raw: RawLock = toml::from_str(text).map_err(|err| anyhow!("{}", err.message()))?;
        let mut specs = Vec::with_capacity(raw.package.len());
        let packages: Vec<Package> = raw
            .package
            .into_iter()
            .map(|package| {
                specs.push(package.dependencies);
                Package {
                    name: package.name,
                    version: package.version,
                    source: package.source,
                    checksum: package.checksum,
                    deps: Vec::new(),
                }
            })
            .collect();
        let mut lock = Lockfile::from(packages);
        for (index, specs) in specs.into_iter().enumerate() {
            let deps = specs
                .iter()
                .map(|spec| {
                    lock.find_spec(spec).ok_or_else(|| {
                        anyhow!(
                            "`{}` depends on `{spec}`, which the lockfile does not list",
                            lock.packages[index].name
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            lock.packages[index].deps = deps;
        }
        Ok(lock)
    }

    /// Resolves a dependency entry: `name`, `name version` or `name version (source)`.
    fn find_spec(&self, spec: &str) -> Option<usize> {
        let mut parts = spec.splitn(3, ' ');
        let name = parts.next()?;
        let version = parts.next();
        let source = parts
            .next()
            .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
        let candidates = self.by_name.get(name)?;
        candidates.iter().copied().find(|&index| {
            let package = &self.packages[index];
            version.is_none_or(|v| v == package.version)
                && source.is_none_or(|s| Some(s) == package.source.as_deref())
        })
    }

    /// The path package (workspace member or path patch) called `name`.
    pub fn path_package(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name)?
            .iter()
            .copied()
            .find(|&index| self.packages[index].source.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "api"
version = "0.1.0"
dependencies = ["rand 0.8.5", "serde"]

[[package]]
name = "rand"
version = "0.7.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aaa"

[[package]]
name = "rand"
version = "0.8.5"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "bbb"

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "ccc"
dependencies = ["rand 0.7.3 (registry+https://github.com/rust-lang/crates.io-index)"]
"#;

    #[test]
    fn resolves_every_spec_form() {
        let lock = Lockfile::parse(LOCK).unwrap();
        let api = lock.path_package("api").unwrap();
        let names: Vec<_> = lock.packages[api]
            .deps
            .iter()
            .map(|&d| (&lock.packages[d].name[..], &lock.packages[d].version[..]))
            .collect();
        assert_eq!(names, [("rand", "0.8.5"), ("serde", "1.0.200")]);
        let serde = lock.packages[api].deps[1];
        assert_eq!(lock.packages[lock.packages[serde].deps[0]].version, "0.7.3");
    }

    #[test]
    fn a_dangling_dependency_is_an_error() {
        let err = Lockfile::parse(
            "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\ndependencies = [\"b\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`a` depends on `b`"), "{err}");
    }
}
