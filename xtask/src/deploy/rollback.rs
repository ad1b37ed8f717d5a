//! What `cargo xtask rollback` adds to a deploy: which commit to go back to (`--sha`, or
//! `--previous` from the ledger), which image and release that commit had (the ledger's
//! record of a deploy of it first, else its fingerprint's image and a kept release built
//! from it), and which migrations were applied since (the schema only moves forward).
//! Everything else, from the pre-flight checks to the ledger, is the deploy's.

use crate::aws::Clients;
use crate::cli::RollbackArgs;
use crate::config::{self, Config, Names};
use crate::deploy_plan::DeployPlan;
use crate::error::Error;
use crate::git::{self, Commit, Repo, Source as _};
use crate::ledger;
use crate::live::{self, Image};
use crate::report::Reporter;
use crate::spa::manifest::Manifest;
use crate::state::{self, AppliedMigrations};
use crate::text::short;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// Flags checked before anything is read from AWS: `--sha` must name a commit here.
pub fn validate(repo: &Repo, args: &RollbackArgs) -> Result<()> {
    if let Some(rev) = &args.sha {
        repo.resolve(rev, "--sha")?;
    }
    Ok(())
}

/// The commit to go back to.
pub async fn commit(
    repo: &Repo,
    aws: &Clients,
    names: &Names<'_>,
    args: &RollbackArgs,
    report: &Reporter,
) -> Result<Commit> {
    if let Some(rev) = &args.sha {
        return repo.resolve(rev, "--sha");
    }
    let env = names.env_name;
    let (live, previous) = match ledger::previous(aws, &names.state_bucket()).await {
        Err(err) if err.is::<state::NoBucket>() => (None, None),
        found => found?,
    };
    let Some(previous) = previous else {
        return Err(Error::Usage(format!(
            "--previous: the ledger of {env} has no successful deploy before {}; name a commit with --sha",
            live.map_or("the live one".into(), |l| format!("the last one ({})", l.id))
        )).into());
    };
    if let Some(live) = &live {
        report.info(format!(
            "--previous: the last {} ({}, {}) was of {}; going back to {} ({} {})",
            live.command,
            live.id,
            live.outcome,
            short(&live.commit),
            short(&previous.commit),
            previous.command,
            previous.id
        ));
    }
    if !repo.has_commit(&previous.commit) {
        return Err(Error::Usage(format!(
            "--previous is commit {}, which is not in this clone: `git fetch origin {}` brings it",
            previous.commit, previous.commit
        ))
        .into());
    }
    repo.resolve(&previous.commit, "--previous")
}

/// What the ledger's successful records of the commit say it had.
#[derive(Debug, Default)]
pub struct Known {
    /// Image digest per service.
    pub digests: BTreeMap<String, String>,
    /// Live release per app once that record's run ended.
    pub releases: BTreeMap<String, String>,
}

/// Reads the ledger's records of `commit`; the newest record naming a unit wins.
pub async fn known(aws: &Clients, bucket: &str, commit: &str) -> Result<Known> {
    let entries = match ledger::of_commit(aws, bucket, commit).await {
        Err(err) if err.is::<state::NoBucket>() => Vec::new(),
        found => found?,
    };
    let mut known = Known::default();
    for entry in entries.iter().filter(|e| e.succeeded()) {
        for (service, digest) in &entry.digests {
            known
                .digests
                .entry(service.clone())
                .or_insert_with(|| digest.clone());
        }
        for app in &entry.apps {
            if let Some(release) = &app.shipped.release {
                known
                    .releases
                    .entry(app.name.clone())
                    .or_insert_with(|| release.clone());
            }
        }
    }
    Ok(known)
}

/// The image to go back to: the ledger's digest if the repository still has it, else the
/// image of the commit's fingerprint.
pub async fn image(
    aws: &Clients,
    repository: &str,
    recorded: Option<&str>,
    fingerprint: &str,
) -> Result<Option<Image>> {
    if let Some(digest) = recorded {
        if let Some(image) = live::image_with_digest(aws, repository, digest).await? {
            return Ok(Some(image));
        }
    }
    live::image_for(aws, repository, fingerprint).await
}

/// The kept release to re-activate: the ledger's, else the newest built from the commit,
/// else the newest with its fingerprint (the same files, built from another commit).
pub fn release(
    manifest: &Manifest,
    recorded: Option<&str>,
    commit: &str,
    fingerprint: &str,
) -> Option<String> {
    let kept = |id: &str| manifest.release(id).is_some();
    if let Some(id) = recorded.filter(|id| kept(id)) {
        return Some(id.to_owned());
    }
    let newest = |keep: &dyn Fn(&crate::spa::manifest::Release) -> bool| {
        manifest
            .releases
            .iter()
            .rev()
            .find(|r| keep(r))
            .map(|r| r.id.clone())
    };
    newest(&|r| r.commit == commit).or_else(|| newest(&|r| r.fingerprint == fingerprint))
}

/// Services the plan rolls whose applied migrations are ahead of `commit`'s: each with the
/// migrations applied after it (or why they cannot be named).
pub fn schema_ahead(
    repo: &Repo,
    config: &Config,
    commit: &Commit,
    plan: &DeployPlan,
    applied: &BTreeMap<String, AppliedMigrations>,
) -> Result<Vec<(String, String)>> {
    let target = repo.snapshot(commit)?;
    let mut ahead = Vec::new();
    for planned in plan.deploying() {
        let name = &planned.unit.name;
        let (Some(service), Some(applied)) = (config.service(name), applied.get(name)) else {
            continue;
        };
        let Some(migrations) = &service.migrations else {
            continue;
        };
        let dir = config::join(service.path.get_ref(), migrations.dir.get_ref());
        if target
            .object_id(&dir)?
            .is_some_and(|id| id.to_string() == applied.tree)
        {
            continue;
        }
        if !repo.has_commit(&applied.commit) {
            ahead.push((
                name.clone(),
                format!(
                    "the schema is at commit {}, which is not in this clone",
                    short(&applied.commit)
                ),
            ));
            continue;
        }
        let at = repo.resolve(&applied.commit, "applied migrations")?;
        let had = file_names(&target, &dir)?;
        let newer: Vec<String> = file_names(&repo.snapshot(&at)?, &dir)?
            .difference(&had)
            .cloned()
            .collect();
        if !newer.is_empty() {
            ahead.push((name.clone(), newer.join(", ")));
        }
    }
    Ok(ahead)
}

fn file_names(source: &dyn git::Source, dir: &str) -> Result<BTreeSet<String>> {
    Ok(git::walk_files(source, dir)?
        .into_iter()
        .map(|(path, _)| path.rsplit('/').next().unwrap_or(&path).to_owned())
        .collect())
}
