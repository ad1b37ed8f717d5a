//! `cargo xtask plan` and `cargo xtask explain`: load two commits, compare them, print.

use crate::cli::{ExplainArgs, Format, PlanArgs, PlanFormat, Revisions};
use crate::context::Context;
use crate::error::Error;
use crate::fingerprint::{InputKey, UnitFingerprint};
use crate::git::{ChangeSet, Repo};
use crate::model::{Loader, Model};
use crate::owners::{Owners, Reach};
use crate::plan::{self, DirtyInput, Plan, Reason, Side};
use crate::render;
use crate::shards::{balance, Build};
use anyhow::Result;

/// Two loaded commits and what changed between them.
struct Comparison {
    base: Model,
    head: Model,
    changes: ChangeSet,
    /// Uncommitted input changes, when the head is the checked-out commit.
    dirty: Option<Vec<DirtyInput>>,
}

impl Comparison {
    fn load(ctx: &Context, revisions: &Revisions) -> Result<Comparison> {
        let repo = Repo::open(&ctx.root)?;
        let head_commit = repo.resolve(revisions.head.as_deref().unwrap_or("HEAD"), "--head")?;
        let base_commit = repo.resolve(&revisions.base, "--base")?;
        let mut loader = Loader::new(&repo);
        let head = loader.load(&head_commit, true)?;
        let base = loader.load(&base_commit, false)?;
        loader.finish();
        let changes = repo.changes(&base_commit, &head_commit)?;
        let dirty = match revisions.head {
            None => Some(dirty_inputs(&repo, &head)?),
            Some(_) => None,
        };
        Ok(Comparison {
            base,
            head,
            changes,
            dirty,
        })
    }

    fn plan(&self) -> Plan {
        let (base, head) = (side(&self.base), side(&self.head));
        let mut plan = plan::plan(&base, &head, |base, head| self.reasons(base, head));
        plan.dirty_inputs = self.dirty.clone();
        plan
    }

    /// The services `plan` deploys, in at most `shards` groups (see [`shard_builds`]).
    fn shards(&self, plan: &Plan, shards: usize) -> Vec<Vec<String>> {
        let services: Vec<&str> = (plan.services.iter())
            .filter(|s| s.action == plan::Action::Deploy)
            .map(|s| s.name.as_str())
            .collect();
        shard_builds(&self.head, &services, shards)
    }

    /// Why a unit's fingerprint changed: its two manifests compared input by input.
    fn reasons(&self, base: &UnitFingerprint, head: &UnitFingerprint) -> Vec<Reason> {
        let (base, head) = (
            self.base.prints.manifest(base),
            self.head.prints.manifest(head),
        );
        plan::reasons(&base, &head, &self.changes)
    }
}

/// `services` in at most `shards` build jobs (see [`crate::shards`]): each service's
/// compile is the crates and packages its manifest in `model` names.
pub fn shard_builds(model: &Model, services: &[&str], shards: usize) -> Vec<Vec<String>> {
    let builds: Vec<Build> = (services.iter())
        .filter_map(|name| {
            let manifest = model.prints.manifest(model.prints.get(name)?);
            let units = (manifest.inputs.keys())
                .filter(|key| matches!(key, InputKey::Crate { .. } | InputKey::Package { .. }))
                .map(ToString::to_string)
                .collect();
            Some(Build {
                service: (*name).to_owned(),
                units,
            })
        })
        .collect();
    balance(&builds, shards)
}

fn side(model: &Model) -> Side<'_> {
    Side {
        commit: model.commit.sha(),
        units: &model.prints.units,
    }
}

/// Dirty paths of the working tree that are inputs of some unit at the head.
pub fn dirty_inputs(repo: &Repo, head: &Model) -> Result<Vec<DirtyInput>> {
    let owners = Owners::new(&head.units, Reach::Inputs)?;
    Ok(repo
        .dirty_paths()?
        .into_iter()
        .filter_map(|path| {
            let units: Vec<String> = owners.of(&path).into_iter().map(str::to_owned).collect();
            (!units.is_empty()).then_some(DirtyInput { path, units })
        })
        .collect())
}

pub fn plan_command(ctx: &Context, args: &PlanArgs) -> Result<()> {
    let comparison = Comparison::load(ctx, &args.revisions)?;
    let plan = comparison.plan();
    // Diagnostics go to stderr, so the plan's JSON or matrix on stdout stays clean.
    for finding in plan
        .services
        .iter()
        .chain(&plan.apps)
        .flat_map(|u| &u.findings)
    {
        eprintln!("warning: {finding}");
    }
    let text = match (args.format, args.shards) {
        (PlanFormat::GithubMatrix, Some(shards)) => {
            render::github_matrix_shards(&comparison.shards(&plan, usize::from(shards)))
        }
        (_, Some(_)) => {
            return Err(Error::Usage(
                "--shards splits a GitHub Actions matrix: add `--format github-matrix`".into(),
            )
            .into())
        }
        (PlanFormat::Text, None) => render::plan_text(&plan),
        (PlanFormat::Json, None) => render::plan_json(&plan),
        (PlanFormat::GithubMatrix, None) => render::github_matrix(&plan),
    };
    print!("{text}");
    // The process ends here: freeing every parsed manifest one by one is wasted work.
    std::mem::forget(comparison);
    Ok(())
}

pub fn explain_command(ctx: &Context, args: &ExplainArgs) -> Result<()> {
    let comparison = Comparison::load(ctx, &args.revisions)?;
    let Some(head) = comparison.head.prints.get(&args.unit) else {
        let known: Vec<&str> = comparison
            .head
            .prints
            .units
            .iter()
            .map(|u| u.unit.name.as_str())
            .collect();
        return Err(Error::Usage(format!(
            "`{}` is not a service or app in deploy.toml at {}; known: {}",
            args.unit,
            comparison.head.commit.short(),
            known.join(", ")
        ))
        .into());
    };
    let base = comparison.base.prints.get(&args.unit);
    let unit = plan::unit_plan(base, head, |base, head| comparison.reasons(base, head));
    let head_manifest = comparison.head.prints.manifest(head);
    let base_manifest = base.map(|b| comparison.base.prints.manifest(b));
    let explanation = render::Explanation {
        unit: &unit,
        head: &head_manifest,
        base: base_manifest.as_ref(),
        head_commit: &comparison.head.commit.sha(),
        base_commit: &comparison.base.commit.sha(),
    };
    let text = match args.format {
        Format::Text => render::explain_text(&explanation),
        Format::Json => render::explain_json(&explanation),
    };
    print!("{text}");
    Ok(())
}
