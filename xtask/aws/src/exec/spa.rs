//! The deploy's app steps: run an app's build command (with the commit in its environment,
//! so the page can show it; never the environment's name, so that one build can run
//! anywhere), add the environment's `config.json`, then ship the build through `spa`.

use super::tally::{Fact, Tally};
use super::Executor;
use crate::aws::{AwsContext as _, Clients};
use crate::config::App;
use crate::deploy_plan::AppStep;
use crate::error::Error;
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::promotion::PromotedRelease;
use crate::report::StepState;
use crate::spa::diff::{ShipPlan, Target};
use crate::spa::files::{self, LocalFile};
use crate::spa::{Bucket, Shipped};
use anyhow::{Context as _, Result};
use std::path::Path;
use std::time::Instant;

pub async fn build(exec: &Executor<'_>, app: &AppStep) -> Result<String> {
    let started = Instant::now();
    let mut built = build_app(exec.root, &app.target.config, &exec.plan.commit).await?;
    built.push(environment_config(&exec.plan.env)?);
    let count = built.len();
    exec.record(
        &app.app,
        Fact::AppBuilt {
            files: built.into(),
            count,
        },
    );
    Ok(format!(
        "built {count} files in {:.1}s",
        started.elapsed().as_secs_f64()
    ))
}

/// A promoted app's files: the source release's, read from the source's bucket (this
/// environment's credentials, which its bucket policy lets read), each checked against the
/// digest its manifest records and kept with the headers it was served with; then this
/// environment's `config.json` in place of the source's. They ship as a build's would.
pub async fn fetch(
    exec: &Executor<'_>,
    app: &AppStep,
    promoted: &PromotedRelease,
) -> Result<String> {
    use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
    let started = Instant::now();
    let aws = exec.aws.for_bucket(&promoted.bucket).await;
    let release = &promoted.release;
    // As many reads at once as an upload runs (see `bucket`).
    let reads = (release.files.iter())
        .filter(|(path, _)| *path != CONFIG_FILE)
        .map(|(path, entry)| fetch_file(&aws, app, promoted, path, entry));
    let mut files: Vec<LocalFile> = stream::iter(reads)
        .buffer_unordered(exec.options.concurrency.max(8))
        .try_collect()
        .await?;
    // In a build's order: by path, then the environment's config.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.push(environment_config(&exec.plan.env)?);
    let count = files.len();
    exec.record(
        &app.app,
        Fact::AppBuilt {
            files: files.into(),
            count,
        },
    );
    Ok(format!(
        "took {count} files of release {} from {} in {:.1}s (no build)",
        release.id,
        promoted.from,
        started.elapsed().as_secs_f64()
    ))
}

/// One file of a promoted release, from the source's bucket, checked against the digest
/// the source's manifest records and given the headers it was served with.
async fn fetch_file(
    aws: &Clients,
    app: &AppStep,
    promoted: &PromotedRelease,
    path: &str,
    entry: &crate::spa::manifest::Entry,
) -> Result<LocalFile> {
    let (bucket, key) = (&promoted.bucket, &entry.stored);
    let object = (aws.s3.get_object().bucket(bucket).key(key).send())
        .await
        .aws_context(|| format!("reading s3://{bucket}/{key}"))?;
    let bytes = (object.body.collect().await)
        .with_context(|| format!("reading s3://{bucket}/{key}"))?
        .into_bytes()
        .to_vec();
    let mut file = files::read_dist_from([(path.to_owned(), bytes)]).remove(0);
    if file.sha256 != entry.sha256 {
        return Err(Error::Spa(format!(
            "{}'s release {} of app {}: {path} is not the file its manifest records",
            promoted.from, promoted.release.id, app.app
        ))
        .into());
    }
    file.headers = entry.headers.clone();
    Ok(file)
}

/// The file the tool writes into every app's release: what differs per environment, so
/// that the build itself does not (`/config.json`, never cached).
pub const CONFIG_FILE: &str = "config.json";

/// `config.json` for `env` (an app whose build writes one itself is refused by
/// `build_app`: the two would fight over it).
fn environment_config(env: &str) -> Result<LocalFile> {
    let bytes = serde_json::to_vec_pretty(&serde_json::json!({ "env": env }))?;
    let mut file = files::read_dist_from([(CONFIG_FILE.to_owned(), bytes)]).remove(0);
    file.headers.cache_control = "no-cache".to_owned();
    Ok(file)
}

/// Runs `app`'s build command in its folder and reads what it wrote to its `dist`.
pub async fn build_app(root: &Path, app: &App, commit: &str) -> Result<Vec<LocalFile>> {
    let folder = root.join(app.path.get_ref());
    let (program, args) = app
        .build
        .split_first()
        .context("an app has a build command")?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&folder)
        .env("DEPLOY_VERSION", commit);
    let out = crate::process::output(command).await.map_err(|err| {
        Error::Build(format!(
            "running `{}` for app {}: {err}",
            app.build.join(" "),
            app.name
        ))
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);

        return Err(Error::Build(format!(
            "`{}` of app {} failed ({}):\n{}",
            app.build.join(" "),
            app.name,
            out.status,
            crate::text::tail(&stderr, 20)
        ))
        .into());
    }
    let dist = folder.join(&app.dist);
    let built = files::read_dist(&dist, &app.cache_control)?;
    if built.iter().any(|f| f.path == CONFIG_FILE) {
        return Err(Error::Build(format!(
            "app {} built {}/{CONFIG_FILE}, which the deploy writes per environment: rename it",
            app.name,
            dist.display()
        ))
        .into());
    }
    if built.is_empty() {
        return Err(Error::Build(format!(
            "app {} built nothing into {}",
            app.name,
            dist.display()
        ))
        .into());
    }
    Ok(built)
}

/// The app's bucket, through `aws` (the clients for its region), with as many transfers
/// at once as the run allows (at least 8).
fn bucket<'a>(aws: &'a Clients, exec: &Executor<'_>, app: &AppStep) -> Bucket<'a> {
    Bucket {
        aws,
        name: app.target.bucket.clone(),
        concurrency: exec.options.concurrency.max(8),
    }
}

pub async fn ship(exec: &Executor<'_>, app: &AppStep, earlier: &Tally) -> Result<String> {
    let name = app.app.as_str();
    let aws = exec.aws.for_bucket(&app.target.bucket).await;
    let bucket = bucket(&aws, exec, app);
    let built = earlier.unit(name).map_or(&[][..], |r| &*r.files);
    let target = Target::for_app(
        &app.target.config,
        exec.deploy_id,
        &exec.plan.commit,
        &app.fingerprint,
    );
    let (plan, listing) = bucket
        .plan(built, &target)
        .await
        .map_err(|e| Error::Spa(format!("{e:#}")))?;
    if exec.options.dry_run {
        return Ok(preview(exec, name, &plan));
    }
    let shipped = bucket
        .ship(
            &plan,
            built,
            &listing,
            &format!("{}-{name}", exec.deploy_id),
        )
        .await?;
    Ok(shipped_as(exec, name, shipped))
}

/// A rollback: the planned kept release becomes the live one again.
pub async fn activate(exec: &Executor<'_>, app: &AppStep, release: &str) -> Result<String> {
    let name = app.app.as_str();
    if exec.options.dry_run {
        return Ok(format!("would make kept release {release} live again"));
    }
    let aws = exec.aws.for_bucket(&app.target.bucket).await;
    let shipped = bucket(&aws, exec, app)
        .activate(name, release, &format!("{}-{name}", exec.deploy_id))
        .await
        .map_err(|e| Error::Spa(format!("{e:#}")))?;
    Ok(shipped_as(exec, name, shipped))
}

/// `--dry-run`: every upload, copy and delete shipping would do, with its reason.
fn preview(exec: &Executor<'_>, name: &str, plan: &ShipPlan) -> String {
    let lines = [
        ("upload", &plan.uploads),
        ("copy", &plan.copies),
        ("activate", &plan.activation),
        ("remove", &plan.removals),
        ("delete", &plan.deletes),
    ];
    for (verb, actions) in lines {
        for action in actions {
            let from = action
                .from
                .as_deref()
                .map(|f| format!(" from {f}"))
                .unwrap_or_default();
            let line = format!("would {verb} {}{from}: {}", action.key, action.reason);
            exec.progress(Some(name), Phase::Ship, StepState::Progress, line);
        }
    }
    let invalidate = if plan.invalidation.is_empty() {
        "nothing".to_owned()
    } else {
        plan.invalidation.join(" ")
    };
    format!(
        "{} unchanged; would invalidate {invalidate}",
        plan.unchanged
    )
}

/// Records what shipping moved; the app is deployed.
fn shipped_as(exec: &Executor<'_>, name: &str, shipped: Shipped) -> String {
    let message = describe(&shipped);
    exec.record(name, Fact::Shipped { shipped });
    exec.record(
        name,
        Fact::Outcome {
            outcome: UnitOutcome::Deployed,
        },
    );
    message
}

pub fn describe(shipped: &Shipped) -> String {
    format!(
        "{} uploaded, {} copied, {} deleted, {} unchanged, {} paths invalidated{}",
        shipped.uploaded,
        shipped.copied,
        shipped.deleted,
        shipped.unchanged,
        shipped.invalidated_paths,
        shipped
            .release
            .as_ref()
            .map(|r| format!(", release {r} live"))
            .unwrap_or_else(|| ", nothing changed".into())
    )
}
