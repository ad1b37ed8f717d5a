//! One commit as the tool sees it: its `deploy.toml`, its Cargo workspace, what each unit
//! reads, and each unit's manifest and fingerprint. A [`Loader`] shares parsed files
//! between the commits of one run, and with later runs through [`xtask_core::cache`].

use crate::{Commit, Repo};
use anyhow::Result;
use std::collections::HashMap;
use std::sync::Arc;
use xtask_core::cache::Cache;
use xtask_core::config::{self, Config};
use xtask_core::error::Error;
use xtask_core::fingerprint::{self, Fingerprints};
use xtask_core::inputs::{self, UnitInputs};
use xtask_core::source::{ObjectId, Source};
use xtask_core::workspace::Workspace;

pub struct Model {
    pub commit: Commit,
    /// The commit's `deploy.toml`; `None` before the tool was adopted.
    pub config: Option<Arc<Config>>,
    /// What each unit reads; empty when the commit has no `deploy.toml` (before the tool
    /// was adopted).
    pub units: Vec<UnitInputs>,
    pub prints: Fingerprints,
}

pub struct Loader<'r> {
    repo: &'r Repo,
    cache: Cache,
    /// Parsed `deploy.toml` by blob id: two commits usually share it.
    configs: HashMap<ObjectId, Arc<Config>>,
}

impl<'r> Loader<'r> {
    pub fn new(repo: &'r Repo) -> Self {
        Loader {
            repo,
            cache: Cache::open(repo.git_dir()),
            configs: HashMap::new(),
        }
    }

    /// Keeps what this run parsed for the next one. Failing to is only worth a warning.
    pub fn finish(self) {
        if let Err(err) = self.cache.save() {
            eprintln!("warning: the parse cache was not saved: {err:#}");
        }
    }

    /// Loads `commit`. A missing `deploy.toml` is an error when `require_config` is set,
    /// else a model without units.
    pub fn load(&mut self, commit: &Commit, require_config: bool) -> Result<Model> {
        let snapshot = self.repo.snapshot(commit)?;
        let config = match snapshot.object_id(config::FILE_NAME)? {
            Some(id) => Some(match self.configs.get(&id) {
                Some(config) => Arc::clone(config),
                None => {
                    let text = snapshot.read_text(config::FILE_NAME)?.unwrap_or_default();
                    let parsed = Config::parse(config::FILE_NAME, &text)
                        .map_err(|err| at_commit(err, commit))?;
                    Arc::clone(self.configs.entry(id).or_insert(Arc::new(parsed)))
                }
            }),
            None if require_config => {
                return Err(Error::Usage(format!(
                    "commit {} has no {} at the repository root",
                    commit.short(),
                    config::FILE_NAME
                ))
                .into())
            }
            None => None,
        };
        let workspace = Workspace::load(&snapshot, &mut self.cache)?;
        let units = match &config {
            Some(config) => inputs::describe(config, &workspace, &snapshot)
                .map_err(|err| at_commit(err, commit))?,
            None => Vec::new(),
        };
        let prints = fingerprint::fingerprint(&snapshot, &workspace, &units)?;
        Ok(Model {
            commit: commit.clone(),
            config,
            units,
            prints,
        })
    }
}

/// Says which commit a rendered configuration error comes from.
fn at_commit(err: anyhow::Error, commit: &Commit) -> anyhow::Error {
    match Error::from(err) {
        Error::Internal(err) => err.context(format!("at commit {}", commit.short())),
        rendered => rendered
            .with_message(format!(
                "{} at commit {} is not valid:\n{}",
                config::FILE_NAME,
                commit.short(),
                rendered.message()
            ))
            .into(),
    }
}
