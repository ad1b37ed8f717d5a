//! Expand/contract's gathering half: for each migration a deploy is about to run, what it
//! drops or renames (parsed by libpg_query through `xtask_sql`), and where the live code
//! of every service sharing that database still uses it ([`xtask_core::contract`]). The
//! live code is each service's commit as its running task definition says
//! (`DEPLOY_VERSION`), read from git: the service's folder and its workspace crates. A
//! commit a shallow clone lacks is fetched; one that cannot be is reported, not skipped.

use crate::config::{self, Config, Service};
use crate::contract::{self, LiveCode, Target, Use};
use crate::deploy_plan::{DeployPlan, Step};
use crate::git::{self, Commit, Repo, Source as _};
use crate::live::LiveService;
use crate::model::Loader;
use crate::state::AppliedMigrations;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use xtask_sql::{Contraction, Linter, Rule};

/// What [`gather`] reads besides the plan.
pub struct Live<'a> {
    pub repo: &'a Repo,
    pub config: &'a Config,
    pub head: &'a Commit,
    pub services: &'a BTreeMap<String, LiveService>,
    pub applied: &'a BTreeMap<String, AppliedMigrations>,
}

/// Every drop and rename the plan's migrations make, with the live code that uses it.
pub fn gather(
    live: &Live<'_>,
    loader: &mut Loader<'_>,
    plan: &DeployPlan,
) -> Result<Vec<LiveCode>> {
    let mut code = BTreeMap::new();
    let mut found = Vec::new();
    for step in plan.phases.iter().flatten() {
        let Step::Migrate(migration) = step else {
            continue;
        };
        let Some(service) = live.config.service(&migration.unit.service) else {
            continue;
        };
        for (file, contraction) in contractions(live, service)? {
            found.push(search(
                live,
                loader,
                &mut code,
                service,
                &file,
                &contraction,
            )?);
        }
    }
    Ok(found)
}

/// The contractions of the migrations not applied yet, with their files, in version order.
fn contractions(live: &Live<'_>, service: &Service) -> Result<Vec<(String, Contraction)>> {
    let Some(migrations) = &service.migrations else {
        return Ok(Vec::new());
    };
    let dir = config::join(service.path.get_ref(), migrations.dir.get_ref());
    let head = live.repo.snapshot(live.head)?;
    let applied = applied_names(live, service, &dir)?;
    let mut files: Vec<(u32, String)> = git::walk_files(&head, &dir)?
        .into_iter()
        .filter_map(|(path, _)| {
            let name = path.rsplit('/').next()?.to_owned();
            let (version, _) = xtask_sql::parse_name(&name).ok()?;
            Some((version, path))
        })
        .filter(|(_, path)| !applied.contains(path.rsplit('/').next().unwrap_or(path)))
        .collect();
    files.sort();
    let mut linter = Linter::default();
    let mut found = Vec::new();
    for (_, path) in files {
        let sql = head.read_text(&path)?.unwrap_or_default();
        // A file that does not parse is `check`'s and the runner's to refuse.
        let Ok(contractions) = linter.contractions(&sql) else {
            continue;
        };
        found.extend(contractions.into_iter().map(|c| (path.clone(), c)));
    }
    Ok(found)
}

/// The names of the migration files already applied, from the commit they were applied at.
fn applied_names(live: &Live<'_>, service: &Service, dir: &str) -> Result<BTreeSet<String>> {
    let Some(applied) = live.applied.get(&service.name) else {
        return Ok(BTreeSet::new());
    };
    let Some(commit) = present(live.repo, &applied.commit)? else {
        // Without the commit, every file counts as pending: searched, never skipped.
        return Ok(BTreeSet::new());
    };
    let names = git::walk_files(&live.repo.snapshot(&commit)?, dir)?;
    Ok(names
        .into_iter()
        .filter_map(|(path, _)| path.rsplit('/').next().map(str::to_owned))
        .collect())
}

/// A service's live code, read once per deploy whatever the number of contractions.
enum Code {
    /// Not deployed by this tool (no `DEPLOY_VERSION`): no live code of it runs.
    None,
    /// Its live commit, which this clone lacks and a fetch did not bring.
    Missing(String),
    /// Its live commit and the text of each of its files that runs.
    Files {
        commit: String,
        files: Vec<(String, String)>,
    },
}

/// Searches the live code of every service sharing `service`'s database.
fn search(
    live: &Live<'_>,
    loader: &mut Loader<'_>,
    code: &mut BTreeMap<String, Code>,
    service: &Service,
    file: &str,
    contraction: &Contraction,
) -> Result<LiveCode> {
    let target = Target {
        table: &contraction.table,
        column: contraction.column.as_deref(),
    };
    let mut found = LiveCode {
        service: service.name.clone(),
        file: file.to_owned(),
        line: contraction.line,
        what: describe(contraction),
        allowed: contraction.allowed.clone(),
        uses: Vec::new(),
        unsearched: Vec::new(),
    };
    for sharing in live.config.sharing(service) {
        if !code.contains_key(&sharing.name) {
            let read = read_code(live, loader, sharing)?;
            code.insert(sharing.name.clone(), read);
        }
        match &code[&sharing.name] {
            Code::None => {}
            Code::Missing(sha) => found.unsearched.push((sharing.name.clone(), sha.clone())),
            Code::Files { commit, files } => {
                for (path, text) in files {
                    let lines = contract::uses(path, text, &target).into_iter();
                    found.uses.extend(lines.map(|line| Use {
                        service: sharing.name.clone(),
                        commit: commit.clone(),
                        path: path.clone(),
                        line,
                    }));
                }
            }
        }
    }
    Ok(found)
}

/// `service`'s live code: its folder and its workspace crates at its live commit, without
/// what never runs in the service (tests, benches, examples) and without any service's
/// migrations (the schema's history names every column it ever had).
fn read_code(live: &Live<'_>, loader: &mut Loader<'_>, service: &Service) -> Result<Code> {
    let Some(sha) = (live.services.get(&service.name)).and_then(|l| l.commit.clone()) else {
        return Ok(Code::None);
    };
    let Some(commit) = present(live.repo, &sha)? else {
        return Ok(Code::Missing(sha));
    };
    let model = loader.load(&commit, false)?;
    let mut folders: BTreeSet<String> = BTreeSet::from([service.path.get_ref().clone()]);
    let mut skipped: Vec<String> = (live.config.services.iter())
        .filter_map(|s| {
            let dir = s.migrations.as_ref()?.dir.get_ref();
            Some(format!("{}/", config::join(s.path.get_ref(), dir)))
        })
        .collect();
    if let Some(unit) = model.units.iter().find(|u| u.unit.name == service.name) {
        for krate in &unit.crates {
            folders.insert(krate.path.clone());
            let dirs = krate.skipped_dirs.iter();
            skipped.extend(dirs.map(|d| format!("{}/", config::join(&krate.path, d))));
        }
    }
    let snapshot = live.repo.snapshot(&commit)?;
    let mut files = Vec::new();
    for folder in folders {
        for (path, _) in git::walk_files(&snapshot, &folder)? {
            if skipped.iter().any(|dir| path.starts_with(dir.as_str())) {
                continue;
            }
            if let Some(text) = snapshot.read_text(&path).ok().flatten() {
                files.push((path, text));
            }
        }
    }
    Ok(Code::Files { commit: sha, files })
}

/// `commit`, fetched from `origin` first when this (shallow) clone lacks it; `None` when
/// it still cannot be had.
fn present(repo: &Repo, sha: &str) -> Result<Option<Commit>> {
    if !repo.has_commit(sha) {
        // GitHub serves any reachable commit by its id; a clone without `origin`, or a
        // commit that was force-pushed away, stays missing and is reported.
        let _ = std::process::Command::new("git")
            .arg("-C")
            .arg(repo.git_dir())
            .args(["fetch", "--quiet", "--no-tags", "--depth=1", "origin", sha])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    if !repo.has_commit(sha) {
        return Ok(None);
    }
    Ok(Some(repo.resolve(sha, "a live commit")?))
}

fn describe(contraction: &Contraction) -> String {
    let what = match &contraction.column {
        Some(column) => format!("column {}.{column}", contraction.table),
        None => format!("table {}", contraction.table),
    };
    let verb = match contraction.rule {
        Rule::RenameColumn | Rule::RenameTable => "renames",
        _ => "drops",
    };
    format!("{verb} {what}")
}
