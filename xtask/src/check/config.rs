//! `deploy.toml` in the working tree: it parses, every path it names exists (a missing
//! Dockerfile is reported as its unit's finding, with the others), each Rust
//! service's folder is a workspace crate. Problems point at their line in `deploy.toml`.

use super::{Finding, Outcome};
use crate::cache::Cache;
use crate::config::{join, Config, FILE_NAME};
use crate::context::Context;
use crate::diag::Diagnostic;
use crate::error::Error;
use crate::git::{EntryKind, Source, Worktree};
use crate::inputs;
use crate::workspace::Workspace;
use anyhow::Result;
use std::ops::Range;

pub fn check(ctx: &Context) -> Result<Outcome> {
    let gathered = match gather(ctx) {
        Ok(gathered) => gathered,
        Err(err) => return failed(err),
    };
    let findings: Vec<Finding> = gathered
        .units
        .iter()
        .flat_map(|u| &u.findings)
        .map(|f| Finding {
            file: f.file.clone(),
            line: Some(f.line),
            rule: f.kind.as_str(),
            message: f.message.clone(),
        })
        .collect();
    if gathered.problems.is_empty() {
        return Ok(if findings.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Findings(findings)
        });
    }
    // Both kinds at once, so one run of `check` lists everything to fix.
    let failure = match Error::from(gathered.config.failure(&gathered.problems)) {
        Error::Internal(err) => return Err(err),
        rendered => rendered.message(),
    };
    let listed: Vec<String> = findings.iter().map(ToString::to_string).collect();
    Ok(Outcome::Failed(format!("{failure}\n{}", listed.join("\n"))))
}

/// A config failure as the check's report; any other error stays an error.
fn failed(err: anyhow::Error) -> Result<Outcome> {
    match Error::from(err) {
        Error::Internal(err) => Err(err),
        rendered => Ok(Outcome::Failed(rendered.message())),
    }
}

/// What `check` and `load` read: the config, the workspace, each unit's inputs and the
/// paths `deploy.toml` names that are missing (a missing Dockerfile is a unit finding).
struct Gathered {
    config: Config,
    workspace: Workspace,
    units: Vec<inputs::UnitInputs>,
    problems: Vec<Diagnostic>,
}

fn gather(ctx: &Context) -> Result<Gathered> {
    let tree = Worktree::new(&ctx.root);
    let text = tree.read_text(FILE_NAME)?.unwrap_or_default();
    let config = Config::parse(FILE_NAME, &text)?;
    let problems = missing_paths(&config, &tree)?;
    let workspace = Workspace::load(&tree, &mut Cache::in_memory())?;
    let units = inputs::describe(&config, &workspace, &tree)?;
    Ok(Gathered {
        config,
        workspace,
        units,
        problems,
    })
}

/// The working tree's config, workspace and unit inputs, or every problem found.
pub fn load(ctx: &Context) -> Result<(Config, Workspace, Vec<inputs::UnitInputs>)> {
    let gathered = gather(ctx)?;
    if !gathered.problems.is_empty() {
        return Err(gathered.config.failure(&gathered.problems));
    }
    Ok((gathered.config, gathered.workspace, gathered.units))
}

fn missing_paths(config: &Config, tree: &Worktree) -> Result<Vec<Diagnostic>> {
    let mut wanted: Vec<(Range<usize>, String, EntryKind, &str)> = Vec::new();
    for service in &config.services {
        let path = &service.path;
        wanted.push((
            path.span(),
            path.get_ref().clone(),
            EntryKind::Dir,
            "the service's folder",
        ));
        if let Some(migrations) = &service.migrations {
            let dir = join(path.get_ref(), migrations.dir.get_ref());
            wanted.push((
                migrations.dir.span(),
                dir,
                EntryKind::Dir,
                "the migrations folder",
            ));
        }
    }
    for app in &config.apps {
        wanted.push((
            app.path.span(),
            app.path.get_ref().clone(),
            EntryKind::Dir,
            "the app's folder",
        ));
    }
    let mut problems = Vec::new();
    for (span, path, kind, what) in wanted {
        if tree.kind(&path)? != Some(kind) {
            problems.push(Diagnostic::at(
                span,
                format!("{what} `{path}` does not exist"),
            ));
        }
    }
    Ok(problems)
}
