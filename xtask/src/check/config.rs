//! `deploy.toml` in the working tree: it parses, and every path it names exists, each Rust
//! service's folder is a workspace crate. Problems point at their line in `deploy.toml`.

use super::{Finding, Outcome};
use crate::cache::Cache;
use crate::config::{join, Config, FILE_NAME};
use crate::context::Context;
use crate::diag::{Diagnostic, Failure};
use crate::git::{EntryKind, Source, Worktree};
use crate::inputs;
use crate::workspace::Workspace;
use anyhow::Result;
use std::ops::Range;

pub fn check(ctx: &Context) -> Result<Outcome> {
    match load(ctx) {
        Ok((_, _, units)) => {
            let findings: Vec<Finding> = units
                .iter()
                .flat_map(|u| &u.findings)
                .map(|f| Finding {
                    file: f.file.clone(),
                    line: Some(f.line),
                    rule: f.kind.as_str(),
                    message: f.message.clone(),
                })
                .collect();
            Ok(if findings.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Findings(findings)
            })
        }
        Err(err) => match err.downcast::<Failure>() {
            Ok(failure) => Ok(Outcome::Failed(failure.message)),
            Err(err) => Err(err),
        },
    }
}

/// The working tree's config, workspace and unit inputs, or every problem found.
pub fn load(ctx: &Context) -> Result<(Config, Workspace, Vec<inputs::UnitInputs>)> {
    let tree = Worktree::new(&ctx.root);
    let text = tree.read_text(FILE_NAME)?.unwrap_or_default();
    let config = Config::parse(FILE_NAME, &text)?;
    let problems = missing_paths(&config, &tree)?;
    if !problems.is_empty() {
        return Err(config.failure(&problems));
    }
    let workspace = Workspace::load(&tree, &mut Cache::in_memory())?;
    let units = inputs::describe(&config, &workspace, &tree)?;
    Ok((config, workspace, units))
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
        let dockerfile = &service.dockerfile;
        wanted.push((
            dockerfile.span(),
            dockerfile.get_ref().clone(),
            EntryKind::File,
            "the service's Dockerfile",
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
