//! What a promotion reads of the environment it promotes from, with this environment's
//! credentials (the source grants them read access by resource policy, as Terraform
//! declares): the commit to promote (`--sha`, else the one the source deployed last), and
//! per service the source ledger's newest roll of the commit's fingerprint and whether the
//! source repository still has its image. The rules that judge these facts are
//! `promotion::decide`, in the plan.

use crate::aws::Clients;
use crate::config::{Config, Names, Service};
use crate::error::Error;
use crate::git::{Commit, Repo};
use crate::ledger::{self, Entry};
use crate::live;
use crate::model::Model;
use crate::plan::Action;
use crate::promotion::{AppSourceFacts, Soak, SourceFacts, SourceRun};
use crate::spa::manifest::Manifest;
use crate::state;
use anyhow::Result;
use futures_util::future::join_all;
use std::collections::BTreeMap;

/// The environment a promotion takes from, and clients in its region.
pub struct Source<'a> {
    pub env: String,
    pub names: Names<'a>,
    pub aws: Clients,
    /// Its ledger's newest deploys and rollbacks, newest first.
    records: Vec<Entry>,
}

impl<'a> Source<'a> {
    /// Reads the source's ledger (a missing or unreadable one stops the run: without it
    /// nothing can be promoted).
    pub async fn open(config: &'a Config, env: &str, aws: Clients) -> Result<Source<'a>> {
        let (env, _) =
            (config.environments.get_key_value(env)).expect("checked against deploy.toml");
        let names = config.names(env);
        let bucket = names.state_bucket();
        let records = ledger::recent(&aws, &bucket).await.map_err(|err| {
            let why = if err.is::<state::NoBucket>() {
                format!("its state bucket {bucket} does not exist")
            } else {
                format!("{err:#}")
            };
            Error::Check(format!(
                "cannot read the ledger of {env} to promote from it: {why}; nothing was changed"
            ))
        })?;
        Ok(Source {
            env: env.to_owned(),
            names,
            aws,
            records,
        })
    }

    /// The commit to promote: `--sha`, else the commit of the source's newest successful
    /// deploy or rollback.
    pub fn commit(&self, repo: &Repo, sha: Option<&str>) -> Result<Commit> {
        if let Some(rev) = sha {
            return repo.resolve(rev, "--sha");
        }
        let env = &self.env;
        let Some(newest) = self.records.iter().find(|e| e.succeeded()) else {
            return Err(Error::Usage(format!(
                "{env} has no successful deploy to promote: deploy there first, or name a commit with --sha"
            ))
            .into());
        };
        if !repo.has_commit(&newest.commit) {
            return Err(Error::Usage(format!(
                "{env} runs commit {}, which is not in this clone: `git fetch origin {}` brings it",
                newest.commit, newest.commit
            ))
            .into());
        }
        repo.resolve(&newest.commit, "the promoted commit")
    }

    /// What the source ran of each of `services` (at `model`'s fingerprints: the promoted
    /// commit's), to be judged against this environment's `soak`; the source's repositories
    /// are asked about all of them at once.
    pub async fn facts(
        &self,
        services: &[&Service],
        model: &Model,
        commit: &str,
        soak: Soak,
    ) -> Result<BTreeMap<String, SourceFacts>> {
        let read = (services.iter()).filter_map(|service| {
            let fingerprint = &model.prints.get(&service.name)?.fingerprint;
            Some(async move {
                let run = self.run(&service.name, fingerprint);
                let image_uri = match run.as_ref().and_then(|r| r.digest.as_deref()) {
                    Some(digest) => self.image_uri(service, digest).await?,
                    None => None,
                };
                let found = SourceFacts {
                    env: self.env.clone(),
                    ran_other: self.ran_other(&service.name, fingerprint, commit),
                    run,
                    image_uri,
                    soak,
                    unchecked_ok: service.promote_unchecked,
                };
                anyhow::Ok((service.name.clone(), found))
            })
        });
        join_all(read).await.into_iter().collect()
    }

    /// The newest record that rolled `service` at `fingerprint`, whatever became of it.
    fn run(&self, service: &str, fingerprint: &str) -> Option<SourceRun> {
        self.records.iter().find_map(|entry| {
            let rolled = (entry.services.iter())
                .find(|s| s.name == service && s.action == Action::Deploy)?;
            (rolled.fingerprint == fingerprint).then(|| SourceRun {
                deploy_id: entry.id.clone(),
                commit: entry.commit.clone(),
                digest: entry.digests.get(service).cloned(),
                outcome: rolled.outcome,
                health: rolled.health,
                finished_at: entry.finished_at.unwrap_or(entry.started_at),
            })
        })
    }

    /// The fingerprint the source's records of `commit` rolled `service` at, when not
    /// `fingerprint`.
    fn ran_other(&self, service: &str, fingerprint: &str, commit: &str) -> Option<String> {
        (self.records.iter())
            .filter(|e| e.commit == commit)
            .flat_map(|e| &e.services)
            .find(|s| s.name == service && s.action == Action::Deploy)
            .map(|s| s.fingerprint.clone())
            .filter(|ran| ran != fingerprint)
    }

    /// The source repository's URI, if it still has `digest`.
    async fn image_uri(&self, service: &Service, digest: &str) -> Result<Option<String>> {
        let account = Some(self.names.env.account_id.get_ref().as_str());
        let repository = self.names.ecr_repository(service);
        if live::image_with_digest_in(&self.aws, account, &repository, digest)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        Ok(live::repository_in(&self.aws, account, &repository)
            .await?
            .uri)
    }

    /// The releases the source keeps of each app (none for an app whose bucket or
    /// manifest it does not have), to be judged against this environment's `soak`.
    pub async fn app_facts(
        &self,
        apps: &[&crate::config::App],
        soak: Soak,
    ) -> Result<BTreeMap<String, AppSourceFacts>> {
        let mut facts = BTreeMap::new();
        for app in apps {
            let bucket = self.names.bucket(app);
            let aws = self.aws.for_bucket(&bucket).await;
            let key = crate::spa::manifest::key(&app.name);
            let manifest: Option<Manifest> = match state::read_json(&aws, &bucket, &key).await {
                Err(err) if err.is::<state::NoBucket>() => None,
                read => read?,
            };
            let found = AppSourceFacts {
                env: self.env.clone(),
                bucket,
                releases: manifest.map(|m| m.releases).unwrap_or_default(),
                soak,
            };
            facts.insert(app.name.clone(), found);
        }
        Ok(facts)
    }

    /// For people: which of the source's deploys ran `commit`.
    pub fn provenance(&self, commit: &Commit) -> String {
        (self.records.iter())
            .find(|e| e.succeeded() && e.commit == commit.sha())
            .map_or("not deployed there successfully".to_owned(), |e| {
                format!("deployed there by {}", e.id)
            })
    }
}
