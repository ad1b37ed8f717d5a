//! Pre-flight's gathering half: what the rules in [`xtask_core::preflight`] need beyond what
//! planning read (git's branch and dirty paths, the lock, each app's bucket and
//! distribution, the Docker engine, a rollback's schema). A read that fails is a problem
//! the rules report (the lock) or the run's error, never a silent pass.

use super::rollback;
use super::Gathered;
use crate::aws::Clients;
use crate::compare::dirty_inputs;
use crate::config::FILE_NAME;
use crate::deploy_plan::{DeployPlan, StepKind};
use crate::exec::docker;
use crate::git::{Commit, Repo};
use crate::live;
use crate::model::Model;
use crate::state;
use anyhow::Result;
use std::collections::BTreeMap;
pub use xtask_core::preflight::*;

/// Reads the facts the rules need. `check_dirty` is false when dirty files are allowed.
pub struct Reader<'a> {
    pub aws: &'a Clients,
    pub repo: &'a Repo,
    pub model: &'a Model,
    pub rules: &'a Rules<'a>,
    pub account: &'a str,
    pub check_dirty: bool,
    /// A rollback's target commit, whose migrations are compared with what was applied.
    pub rollback_to: Option<&'a Commit>,
}

impl Reader<'_> {
    pub async fn gather(&self, plan: &DeployPlan, gathered: &Gathered) -> Result<Facts> {
        let dirty = if self.check_dirty {
            Some(self.dirty()?)
        } else {
            None
        };
        let builds = (plan.phases.iter().flatten()).any(|s| s.kind() == StepKind::Build);
        let schema_ahead = match self.rollback_to {
            Some(commit) => rollback::schema_ahead(
                self.repo,
                self.rules.config,
                commit,
                plan,
                &gathered.applied,
            )?,
            None => Vec::new(),
        };
        Ok(Facts {
            account: self.account.to_owned(),
            branch: self.repo.branch(),
            dirty,
            lock: self.lock().await,
            apps: self.apps(plan).await?,
            docker: builds.then(docker::engine_version),
            schema_ahead,
            // Read with the plan's migrations by `contract::gather`, which needs the loader.
            live_code: Vec::new(),
            credentials: crate::aws::credential_life(self.aws).await,
        })
    }

    fn dirty(&self) -> Result<Dirty> {
        let config = self.repo.dirty_paths()?.iter().any(|p| p == FILE_NAME);
        let inputs = dirty_inputs(self.repo, self.model)?;
        Ok(Dirty { config, inputs })
    }

    async fn lock(&self) -> LockState {
        let bucket = self.rules.names.state_bucket();
        match state::current_lock(self.aws, &bucket).await {
            Ok(Some(lock)) => LockState::Held {
                holder: lock.describe(),
                stale: lock.is_stale(),
            },
            Ok(None) => LockState::Free,
            Err(err) => LockState::Unreadable {
                bucket,
                why: format!("{err:#}"),
            },
        }
    }

    async fn apps(&self, plan: &DeployPlan) -> Result<BTreeMap<String, AppTarget>> {
        let mut targets = BTreeMap::new();
        for app in plan.apps_deploying() {
            let name = &app.unit.name;
            let config = self
                .rules
                .config
                .app(name)
                .expect("planned apps are in deploy.toml");
            let bucket = self.rules.names.bucket(config);
            let target = match self.bucket(&bucket).await? {
                Some(refused) => refused,
                None => {
                    let ids = live::distributions(self.aws, &bucket).await?;
                    match ids.len() {
                        0 => AppTarget::NoDistribution { bucket },
                        1 => AppTarget::Ready,
                        _ => AppTarget::Distributions { bucket, ids },
                    }
                }
            };
            targets.insert(name.clone(), target);
        }
        Ok(targets)
    }

    /// What `HeadBucket` says of an app's bucket, as what it is: `None` when it is there to
    /// use (in any region); 404 missing, 403 forbidden, 301 without a region; any other
    /// failure an error.
    async fn bucket(&self, bucket: &str) -> Result<Option<AppTarget>> {
        // Asked in the bucket's own region: one in another region is used there.
        let (_, head) = self.aws.head_bucket(bucket).await;
        let Err(err) = head else {
            return Ok(None);
        };
        let refused = |why: String| {
            Ok(Some(AppTarget::BucketRefused {
                bucket: bucket.to_owned(),
                why,
            }))
        };
        let Some(response) = err.raw_response() else {
            return Err(anyhow::anyhow!(crate::aws::describe(
                &format!("reading bucket {bucket}"),
                &err
            )));
        };
        let region = (response.headers().get("x-amz-bucket-region")).unwrap_or("another region");
        match response.status().as_u16() {
            404 => Ok(Some(AppTarget::NoBucket {
                bucket: bucket.to_owned(),
            })),
            403 => refused("S3 answered 403: the bucket exists, but this role may not use it (or it belongs to another account): compare the role's policy with infra/".into()),
            301 => refused(format!(
                "S3 redirects it to {region} and would not say which region it is in: check the bucket's region and the role's s3:ListBucket permission"
            )),
            _ => Err(anyhow::anyhow!(crate::aws::describe(&format!("reading bucket {bucket}"), &err))),
        }
    }
}
