//! Parsed crates and lockfiles kept between runs in the repository's git directory
//! (`.git/xtask/cache.json`), so a plan on a large monorepo does not re-read and re-parse
//! hundreds of unchanged manifests.
//!
//! Every key is a git object id (with the folder and the inherited workspace values for
//! crates), so an entry can never be stale: there is no invalidation, only pruning of
//! entries no run has used for a while. A missing, unreadable or older-format file is an
//! empty cache; a failed write only costs speed. `XTASK_CACHE=off` disables the file.

use crate::lockfile::Lockfile;
use crate::workspace::Crate;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bump the leading number whenever a cached shape, or how a cached value is computed
/// (a crate's content digest, its build view), changes.
const FORMAT: &str = concat!("2-", env!("CARGO_PKG_VERSION"));

/// Entries unused for this many runs that wrote the file are dropped. A plan reads two
/// commits, and a developer moves between a few: more only makes the file slower to load
/// than the manifests it saves parsing (a cache grown over 200 plans was twice as slow as
/// none).
const KEEP_RUNS: u64 = 4;

/// At most this many lockfiles are kept, the most recently used: each is a whole
/// `Cargo.lock`, the largest entries by far.
const KEEP_LOCKS: usize = 4;

/// Crates kept beyond those this run used, in percent of them (the most recently used):
/// room for the few that differ on the branch a developer goes back to.
const KEEP_EXTRA_CRATES_PERCENT: usize = 25;

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    run: u64,
    crates: HashMap<String, Stamped<Crate>>,
    locks: HashMap<String, Stamped<Lockfile>>,
}

#[derive(Serialize, Deserialize)]
struct Stamped<T> {
    /// The last run that used this entry.
    used: u64,
    value: Arc<T>,
}

#[derive(Default)]
pub struct Cache {
    /// Where the file lives; `None` keeps the cache in memory only.
    path: Option<PathBuf>,
    run: u64,
    crates: HashMap<String, Stamped<Crate>>,
    locks: HashMap<String, Stamped<Lockfile>>,
    added: bool,
}

impl Cache {
    /// A cache for this process only (the working tree has no object ids to key by).
    pub fn in_memory() -> Cache {
        Cache::default()
    }

    /// The cache of the repository whose git directory is `git_dir`.
    pub fn open(git_dir: &Path) -> Cache {
        if std::env::var_os("XTASK_CACHE").is_some_and(|v| v == "off") {
            return Cache::in_memory();
        }
        let path = git_dir.join("xtask").join("cache.json");
        let file = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<File>(&bytes).ok())
            .filter(|file| file.format == FORMAT);
        let mut cache = Cache {
            path: Some(path),
            ..Cache::default()
        };
        if let Some(file) = file {
            cache.run = file.run;
            cache.crates = file.crates;
            cache.locks = file.locks;
        }
        cache.run += 1;
        cache
    }

    pub fn krate(&mut self, key: &str) -> Option<Arc<Crate>> {
        use_entry(&mut self.crates, key, self.run)
    }

    pub fn insert_crate(&mut self, key: String, krate: Arc<Crate>) {
        self.added = true;
        self.crates.insert(
            key,
            Stamped {
                used: self.run,
                value: krate,
            },
        );
    }

    pub fn lock(&mut self, key: &str) -> Option<Arc<Lockfile>> {
        use_entry(&mut self.locks, key, self.run)
    }

    pub fn insert_lock(&mut self, key: String, lock: Arc<Lockfile>) {
        self.added = true;
        self.locks.insert(
            key,
            Stamped {
                used: self.run,
                value: lock,
            },
        );
    }

    /// Writes the file when this run added entries, dropping those unused for
    /// [`KEEP_RUNS`] runs. Written to a temporary file and renamed, so a concurrent
    /// reader sees the old file or the new one, never half of one.
    pub fn save(self) -> Result<()> {
        let Some(path) = self.path.filter(|_| self.added) else {
            return Ok(());
        };
        let oldest = self.run.saturating_sub(KEEP_RUNS);
        let mut file = File {
            format: FORMAT.to_owned(),
            run: self.run,
            crates: self.crates,
            locks: self.locks,
        };
        let used = file.crates.values().filter(|e| e.used == self.run).count();
        keep_newest(
            &mut file.crates,
            oldest,
            used + used * KEEP_EXTRA_CRATES_PERCENT / 100,
        );
        keep_newest(&mut file.locks, oldest, KEEP_LOCKS);
        let dir = path.parent().expect("the cache file is in a folder");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let temporary = dir.join(format!("cache.json.{}", std::process::id()));
        std::fs::write(&temporary, serde_json::to_vec(&file)?)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("replacing {}", path.display()))?;
        Ok(())
    }
}

/// Keeps the `limit` most recently used entries among those used since run `oldest`
/// (ties broken by key, so the file is deterministic).
fn keep_newest<T>(entries: &mut HashMap<String, Stamped<T>>, oldest: u64, limit: usize) {
    let mut newest: Vec<(u64, &String)> = entries
        .iter()
        .filter(|(_, entry)| entry.used >= oldest)
        .map(|(key, entry)| (entry.used, key))
        .collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    newest.truncate(limit);
    let keep: HashSet<String> = newest.into_iter().map(|(_, key)| key.clone()).collect();
    entries.retain(|key, _| keep.contains(key));
}

fn use_entry<T>(entries: &mut HashMap<String, Stamped<T>>, key: &str, run: u64) -> Option<Arc<T>> {
    let entry = entries.get_mut(key)?;
    entry.used = run;
    Some(Arc::clone(&entry.value))
}
