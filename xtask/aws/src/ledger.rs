//! The deploy ledger: one JSON record per deploy, rollback or broken lock, under `ledger/`
//! in the environment's state bucket. Keys sort by start time, so a listing is the history;
//! a key also names the commit's first 8 hex digits, so the records of one commit are found
//! without reading the others. Written by `deploy`/`rollback`/`lock release`, read by
//! `history` and by `rollback` (which images and releases a commit had).

use crate::aws::{AwsContext as _, Clients};
use crate::deploy_plan::{DeployPlan, LastOutcome};
use crate::exec::tally::Timing;
use crate::outcome::{RunOutcome, UnitOutcome};
use crate::phase::Phase;
use crate::plan::Action;
use crate::report::{AppSummary, ServiceSummary, Summary};
use crate::state::{self, HeldLock, Lock};
use crate::time::Timestamp;
use anyhow::Result;
use futures_util::stream::{self, StreamExt as _};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const PREFIX: &str = "ledger/";

/// Records read at once when walking the ledger.
const PAGE: usize = 16;

/// What a deploy or rollback writes when it ends.
#[derive(Serialize)]
pub struct Record<'a> {
    pub id: &'a str,
    pub command: &'a str,
    pub who: &'a str,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    #[serde(flatten)]
    pub summary: &'a Summary,
    pub plan: &'a DeployPlan,
    /// The image digest each rolled service got.
    pub digests: BTreeMap<&'a str, &'a str>,
    /// Each step's duration.
    pub steps: &'a [Timing],
    /// While the run goes on (`outcome` `started`): the phase it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<Phase>,
    /// A promotion's source environment (each image's source deploy is in the plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<&'a str>,
}

/// What `lock release` writes: who broke which lock, and when.
#[derive(Serialize)]
struct LockBroken<'a> {
    id: &'a str,
    command: &'static str,
    who: &'a str,
    env: &'a str,
    started_at: Timestamp,
    finished_at: Timestamp,
    outcome: RunOutcome,
    commit: &'a str,
    broken_lock: &'a Lock,
}

/// A record as read back: the fields every kind of record shares, the rest defaulted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub command: String,
    pub who: String,
    pub started_at: Timestamp,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    #[serde(default)]
    pub outcome: RunOutcome,
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub duration_seconds: f64,
    #[serde(default)]
    pub services: Vec<ServiceSummary>,
    #[serde(default)]
    pub apps: Vec<AppSummary>,
    #[serde(default)]
    pub digests: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_lock: Option<Lock>,
    /// The run's lock was broken while it ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lock_broken: bool,
    /// A `started` or `abandoned` run's phase when it last wrote its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<Phase>,
    /// A promotion's source environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
}

impl Entry {
    /// A deploy or rollback (not a broken lock).
    pub fn is_release(&self) -> bool {
        matches!(self.command.as_str(), "deploy" | "rollback")
    }

    pub fn succeeded(&self) -> bool {
        self.outcome == RunOutcome::Success
    }

    /// The services and apps it changed (or tried to).
    pub fn changed(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|s| s.action == Action::Deploy)
            .map(|s| (&s.name, &s.outcome))
            .chain(
                self.apps
                    .iter()
                    .filter(|a| a.action == Action::Deploy)
                    .map(|a| (&a.name, &a.outcome)),
            )
            .map(|(name, outcome)| match outcome {
                UnitOutcome::Deployed => name.clone(),
                other => format!("{name} ({other})"),
            })
            .collect()
    }
}

/// Marks each `started` record whose run no longer holds `lock` (the environment's lock
/// now, if any) as `abandoned`: it died, or its lock went stale or was broken. Only the
/// lock's live holder is still going.
pub fn classify(entries: &mut [Entry], lock: Option<&HeldLock>) {
    let running = lock.filter(|l| !l.is_stale()).map(|l| l.lock.id.as_str());
    for entry in entries.iter_mut() {
        if entry.outcome == RunOutcome::Started && running != Some(entry.id.as_str()) {
            entry.outcome = RunOutcome::Abandoned;
        }
    }
}

/// Reads `keys` as [`read`] does, then [`classify`]s them against the lock as it is now.
pub async fn read_classified(aws: &Clients, bucket: &str, keys: &[String]) -> Result<Vec<Entry>> {
    let lock = state::current_lock(aws, bucket).await?;
    let mut entries = read(aws, bucket, keys).await?;
    classify(&mut entries, lock.as_ref());
    Ok(entries)
}

/// The key of a record started at `at` with id `id`.
pub fn key(at: Timestamp, id: &str) -> String {
    state::ledger_key(at, id)
}

pub async fn write(aws: &Clients, bucket: &str, at: Timestamp, record: &Record<'_>) -> Result<()> {
    state::write_json(aws, bucket, &key(at, record.id), record).await
}

/// Records that `who` broke `lock`.
pub async fn write_lock_broken(
    aws: &Clients,
    bucket: &str,
    env: &str,
    who: &str,
    lock: &Lock,
) -> Result<()> {
    let now = Timestamp::now();
    let id = format!("{}-lock", now.compact());
    let record = LockBroken {
        id: &id,
        command: "lock-release",
        who,
        env,
        started_at: now,
        finished_at: now,
        outcome: RunOutcome::Success,
        commit: &lock.commit,
        broken_lock: lock,
    };
    state::write_json(aws, bucket, &key(now, &id), &record).await
}

/// Every record's key, newest first. A missing bucket is [`state::NoBucket`].
pub async fn keys(aws: &Clients, bucket: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pages = aws
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(PREFIX)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(err)
                if err.as_service_error().and_then(|e| e.meta().code()) == Some("NoSuchBucket") =>
            {
                return Err(state::NoBucket(bucket.to_owned()).into())
            }
            Err(err) => return Err(err).aws_context(|| format!("listing s3://{bucket}/{PREFIX}")),
        };
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| k.ends_with(".json"))
                .map(str::to_owned),
        );
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    Ok(keys)
}

/// Reads `keys`, in their order; a record that is gone meanwhile is left out.
pub async fn read(aws: &Clients, bucket: &str, keys: &[String]) -> Result<Vec<Entry>> {
    let reads = keys
        .iter()
        .map(|key| async move { state::read_json::<Entry>(aws, bucket, key).await });
    let read: Vec<Result<Option<Entry>>> = stream::iter(reads).buffered(PAGE).collect().await;
    Ok(read
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// Records read at most when looking for each service's last outcome: a service no deploy
/// touched in that many runs has no recent outcome that matters.
const LAST_OUTCOMES_DEPTH: usize = 4 * PAGE;

/// For each service, what the newest deploy or rollback that rolled it recorded of it
/// (`unhealthy`, `deployed`, ...), from the newest records.
pub async fn last_outcomes(aws: &Clients, bucket: &str) -> Result<BTreeMap<String, LastOutcome>> {
    let keys = keys(aws, bucket).await?;
    let mut last = BTreeMap::new();
    for chunk in keys[..keys.len().min(LAST_OUTCOMES_DEPTH)].chunks(PAGE) {
        for entry in read(aws, bucket, chunk).await? {
            if !entry.is_release() {
                continue;
            }
            for service in entry.services.iter().filter(|s| s.action == Action::Deploy) {
                last.entry(service.name.clone())
                    .or_insert_with(|| LastOutcome {
                        deploy_id: entry.id.clone(),
                        fingerprint: service.fingerprint.clone(),
                        outcome: service.outcome,
                    });
            }
        }
    }
    Ok(last)
}

/// Records read at most when looking for what a promotion takes from its source: a version
/// not deployed there in that many runs is not what the source runs.
const PROMOTION_DEPTH: usize = 4 * PAGE;

/// The newest deploys and rollbacks, newest first, a run that died marked `abandoned`
/// (what a promotion reads of its source environment).
pub async fn recent(aws: &Clients, bucket: &str) -> Result<Vec<Entry>> {
    let keys = keys(aws, bucket).await?;
    let keys = &keys[..keys.len().min(PROMOTION_DEPTH)];
    let mut entries = read_classified(aws, bucket, keys).await?;
    entries.retain(Entry::is_release);
    Ok(entries)
}

/// The deploys and rollbacks of `commit` (a full id), newest first.
pub async fn of_commit(aws: &Clients, bucket: &str, commit: &str) -> Result<Vec<Entry>> {
    let marker = format!("-{}-", &commit[..commit.len().min(8)]);
    let keys: Vec<String> = keys(aws, bucket)
        .await?
        .into_iter()
        .filter(|k| k.contains(&marker))
        .collect();
    Ok(read(aws, bucket, &keys)
        .await?
        .into_iter()
        .filter(|e| e.is_release() && e.commit == commit)
        .collect())
}

/// `--previous`: the newest deploy or rollback (what is live, or was tried last), and the
/// newest successful one before it of another commit.
///
/// A run killed without warning is the newest (`abandoned`): what it reached may be live
/// in part, so going back means before it, to the last success of another commit.
pub async fn previous(aws: &Clients, bucket: &str) -> Result<(Option<Entry>, Option<Entry>)> {
    let keys = keys(aws, bucket).await?;
    // The lock once, for every page of records.
    let lock = state::current_lock(aws, bucket).await?;
    let mut live: Option<Entry> = None;
    for chunk in keys.chunks(PAGE) {
        let mut entries = read(aws, bucket, chunk).await?;
        classify(&mut entries, lock.as_ref());
        for entry in entries {
            if !entry.is_release() {
                continue;
            }
            match &live {
                None => live = Some(entry),
                Some(newest) if entry.succeeded() && entry.commit != newest.commit => {
                    return Ok((live, Some(entry)))
                }
                Some(_) => {}
            }
        }
    }
    Ok((live, None))
}
