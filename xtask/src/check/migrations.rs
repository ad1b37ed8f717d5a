//! Migrations of every service that has them: `NNN_description.sql` names numbered 1, 2, 3…
//! with no gap or duplicate; forward only (a migration that exists at the base must not be
//! edited or deleted: databases already ran it); and each new one passes the lint of
//! [`xtask_sql`] (PostgreSQL's own parser; locks, rewrites, and operations that break the
//! code still running during a rollout). Those at the base ran already, so they are not
//! linted again, but the lint learns from them (which tables exist, their column types).

use super::{Finding, Outcome};
use crate::cli::CheckArgs;
use crate::config::{join, Config, FILE_NAME};
use crate::context::Context;
use crate::git::{self, Commit, Repo, Source, Worktree};
use anyhow::Result;
use std::collections::BTreeMap;
use xtask_sql::{parse_name, Linter, Settings};

pub fn check(ctx: &Context, args: &CheckArgs) -> Result<Outcome> {
    let tree = Worktree::new(&ctx.root);
    let Some(text) = tree.read_text(FILE_NAME)? else {
        return Ok(Outcome::Failed(format!("no {FILE_NAME}")));
    };
    let Ok(config) = Config::parse(FILE_NAME, &text) else {
        return Ok(Outcome::Failed(
            "skipped: deploy.toml does not load (see its check)".into(),
        ));
    };
    let repo = Repo::open(&ctx.root)?;
    let base = match base(&repo, args.base.as_deref()) {
        Ok(base) => base,
        Err(err) => return Ok(Outcome::Failed(format!("error: {err:#}"))),
    };
    let base_snapshot = base.as_ref().map(|b| repo.snapshot(b)).transpose()?;
    if base.is_none() {
        eprintln!("note: no base (no --base, no origin/main): every migration is linted, none is checked for edits");
    }
    let mut findings = Vec::new();
    for service in &config.services {
        let Some(migrations) = &service.migrations else {
            continue;
        };
        let dir = join(service.path.get_ref(), migrations.dir.get_ref());
        let now = files(&tree, &dir)?;
        let before = match &base_snapshot {
            Some(snapshot) => files(snapshot, &dir)?,
            None => BTreeMap::new(),
        };
        findings.extend(numbering(&dir, now.keys()));
        findings.extend(forward_only(&before, &now));
        let settings = Settings {
            runner_lock_timeout: migrations.lock_timeout.is_some(),
        };
        findings.extend(lint_in_order(&now, &before, settings));
    }
    Ok(Outcome::Findings(findings))
}

/// The lint of each new migration, in version order, after learning from those before it
/// (applied ones are learnt, not judged). A file PostgreSQL would not parse is a finding.
fn lint_in_order(
    now: &BTreeMap<String, String>,
    before: &BTreeMap<String, String>,
    settings: Settings,
) -> Vec<Finding> {
    let mut linter = Linter::new(settings);
    let mut findings = Vec::new();
    for (path, text) in now {
        let judged = if before.contains_key(path) {
            linter.learn(text).map(|()| Vec::new())
        } else {
            linter.lint(text)
        };
        match judged {
            Ok(found) => findings.extend(found.into_iter().map(|f| Finding {
                file: path.clone(),
                line: Some(f.line),
                rule: f.rule.id(),
                message: f.message,
            })),
            Err(err) => findings.push(Finding {
                file: path.clone(),
                line: Some(err.line),
                rule: "migration-syntax",
                message: format!("PostgreSQL's parser refuses it: {}", err.message),
            }),
        }
    }
    findings
}

/// `--base`, else the merge base of HEAD and `origin/main` when that exists.
fn base(repo: &Repo, rev: Option<&str>) -> Result<Option<Commit>> {
    if let Some(rev) = rev {
        return repo.resolve(rev, "--base").map(Some);
    }
    let Ok(main) = repo.resolve("origin/main", "origin/main") else {
        return Ok(None);
    };
    let head = repo.resolve("HEAD", "HEAD")?;
    Ok(repo.merge_base(&head, &main))
}

/// Every `.sql` file of `dir` in `source`: path → text.
fn files(source: &dyn Source, dir: &str) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for (path, _) in git::walk_files(source, dir)? {
        if path.ends_with(".sql") {
            files.insert(path.clone(), source.read_text(&path)?.unwrap_or_default());
        }
    }
    Ok(files)
}

/// Names, duplicates and gaps: versions run 1, 2, 3… in file-name order.
fn numbering<'a>(dir: &str, paths: impl Iterator<Item = &'a String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut versions: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for path in paths {
        let name = path.rsplit('/').next().unwrap_or(path);
        match parse_name(name) {
            Ok((version, _)) => versions.entry(version).or_default().push(path),
            Err(message) => findings.push(finding(path, "migration-name", message)),
        }
    }
    for (version, paths) in versions.iter().filter(|(_, p)| p.len() > 1) {
        findings.push(finding(
            paths[1],
            "migration-duplicate",
            format!("version {version:03} is also `{}`: renumber one", paths[0]),
        ));
    }
    let mut expected = 1;
    for &version in versions.keys() {
        if version != expected {
            findings.push(finding(
                dir,
                "migration-gap",
                format!("migration {expected:03} is missing: versions jump to {version:03}"),
            ));
        }
        expected = version + 1;
    }
    findings
}

/// A migration at the base ran somewhere already: it must stay as it is.
fn forward_only(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<Finding> {
    before
        .iter()
        .filter_map(|(path, text)| match now.get(path) {
            None => Some(finding(
                path,
                "migration-deleted",
                "deleted, but it exists at the base and databases ran it: restore it and add a new migration".into(),
            )),
            Some(current) if current != text => Some(finding(
                path,
                "migration-edited",
                "edited, but it exists at the base and databases ran it: restore it and put the change in a new migration".into(),
            )),
            Some(_) => None,
        })
        .collect()
}

fn finding(file: &str, rule: &'static str, message: String) -> Finding {
    Finding {
        file: file.to_owned(),
        line: None,
        rule,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_numbered_without_gaps_or_duplicates() {
        let paths: Vec<String> = [
            "m/001_a.sql",
            "m/002_b.sql",
            "m/002_c.sql",
            "m/005_d.sql",
            "m/x.sql",
        ]
        .map(String::from)
        .to_vec();
        let rules: Vec<&str> = numbering("m", paths.iter())
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules,
            ["migration-name", "migration-duplicate", "migration-gap"]
        );
    }

    #[test]
    fn a_migration_of_the_base_is_neither_edited_nor_deleted() {
        let before: BTreeMap<String, String> = [("m/001_a.sql", "A"), ("m/002_b.sql", "B")]
            .map(|(p, t)| (p.into(), t.into()))
            .into();
        let now: BTreeMap<String, String> = [("m/001_a.sql", "A2"), ("m/003_c.sql", "C")]
            .map(|(p, t)| (p.into(), t.into()))
            .into();
        let found: Vec<(String, &str)> = forward_only(&before, &now)
            .into_iter()
            .map(|f| (f.file, f.rule))
            .collect();
        assert_eq!(
            found,
            [
                ("m/001_a.sql".into(), "migration-edited"),
                ("m/002_b.sql".into(), "migration-deleted")
            ]
        );
    }
}
