//! Why each unit's live version differs from HEAD's, worked out while gathering, before
//! the plan is made: the commit each live unit runs (`DEPLOY_VERSION`, the app manifest's
//! commit) is loaded from this clone once, and its fingerprint manifest compared with
//! HEAD's. The planner then takes the reasons as data. A live commit that cannot be read
//! is reported, once, with why; its units' reason stays "the live fingerprint differs".

use crate::git::Repo;
use crate::model::{Loader, Model};
use crate::plan::{self, Reason};
use crate::source::ChangeSet;
use std::collections::BTreeMap;
use std::fmt;

/// One live unit, as the explanation needs it.
pub struct LiveUnit<'a> {
    pub name: &'a str,
    pub fingerprint: Option<&'a str>,
    pub commit: Option<&'a str>,
}

/// The reasons of each unit whose live commit explains its change, and the live commits
/// that could not be read.
#[derive(Debug, Default)]
pub struct Explanations {
    reasons: BTreeMap<String, Vec<Reason>>,
    pub unexplained: Vec<Unexplained>,
}

impl Explanations {
    /// The reasons of `unit`, where they are known.
    pub fn of(&self, unit: &str) -> Option<&[Reason]> {
        self.reasons.get(unit).map(Vec::as_slice)
    }
}

/// A live commit whose units' changes could not be explained.
#[derive(Debug)]
pub struct Unexplained {
    pub commit: String,
    pub units: Vec<String>,
    pub why: Why,
}

#[derive(Debug)]
pub enum Why {
    /// Not fetched: usual in a shallow clone, and harmless.
    NotInClone,
    /// In the clone, but loading or comparing it failed.
    Unreadable(String),
}

impl Unexplained {
    /// Only a failure to read is worth a warning; a commit this clone lacks is expected.
    pub fn is_warning(&self) -> bool {
        matches!(self.why, Why::Unreadable(_))
    }
}

impl fmt::Display for Unexplained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (commit, units) = (crate::text::short(&self.commit), self.units.join(", "));
        match &self.why {
            Why::NotInClone => write!(
                f,
                "live commit {commit} ({units}) is not in this clone, so the plan says only that \
                 the fingerprint differs (`git fetch origin {}` brings it)",
                self.commit
            ),
            Why::Unreadable(why) => write!(
                f,
                "live commit {commit} ({units}) could not be compared with HEAD: {why}; the plan \
                 says only that the fingerprint differs"
            ),
        }
    }
}

/// Explains every unit whose live fingerprint is known and differs from HEAD's.
pub fn gather<'a>(
    repo: &Repo,
    loader: &mut Loader<'_>,
    head: &Model,
    lives: impl IntoIterator<Item = LiveUnit<'a>>,
) -> Explanations {
    let mut by_commit: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for live in lives {
        let (Some(fingerprint), Some(commit)) = (live.fingerprint, live.commit) else {
            continue;
        };
        let differs = head
            .prints
            .get(live.name)
            .is_some_and(|h| h.fingerprint != fingerprint);
        if differs {
            by_commit
                .entry(commit)
                .or_default()
                .push((live.name, fingerprint));
        }
    }
    let mut explanations = Explanations::default();
    for (commit, units) in by_commit {
        match base(repo, loader, head, commit) {
            Ok((base, changes)) => {
                for (name, fingerprint) in units {
                    let reasons = reasons(&base, head, &changes, name, fingerprint);
                    if !reasons.is_empty() {
                        explanations.reasons.insert(name.to_owned(), reasons);
                    }
                }
            }
            Err(why) => explanations.unexplained.push(Unexplained {
                commit: commit.to_owned(),
                units: units.iter().map(|(name, _)| (*name).to_owned()).collect(),
                why,
            }),
        }
    }
    explanations
}

/// The live commit's model and what changed from it to HEAD.
fn base(
    repo: &Repo,
    loader: &mut Loader<'_>,
    head: &Model,
    commit: &str,
) -> Result<(Model, ChangeSet), Why> {
    if !repo.has_commit(commit) {
        return Err(Why::NotInClone);
    }
    let unreadable = |err: anyhow::Error| Why::Unreadable(format!("{err:#}"));
    let resolved = repo.resolve(commit, "live commit").map_err(unreadable)?;
    let model = loader.load(&resolved, false).map_err(unreadable)?;
    let changes = repo
        .changes(&model.commit, &head.commit)
        .map_err(unreadable)?;
    Ok((model, changes))
}

/// The reasons of one unit, when its live image is the live commit's own build: a reused
/// image may be older than its commit, and only an exact match explains.
fn reasons(
    base: &Model,
    head: &Model,
    changes: &ChangeSet,
    name: &str,
    live_fingerprint: &str,
) -> Vec<Reason> {
    let (Some(old), Some(new)) = (base.prints.get(name), head.prints.get(name)) else {
        return Vec::new();
    };
    if old.fingerprint != live_fingerprint {
        return Vec::new();
    }
    plan::reasons(
        &base.prints.manifest(old),
        &head.prints.manifest(new),
        changes,
    )
}
