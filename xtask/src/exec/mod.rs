//! The executor: runs a [`DeployPlan`]'s phases in order, the steps of a phase in parallel
//! (bounded), each step through one `match` arm that calls one module. It decides nothing:
//! the plan did. A failed phase stops the deploy; with `--on-failure rollback`, services
//! this deploy already rolled go back to their previous task definitions.

pub mod docker;
pub mod ecr;
pub mod ecs;
pub mod health;
pub mod migrate;
pub mod spa;

use crate::aws::Clients;
use crate::config::{Config, Names, Service};
use crate::deploy::steps::{DeployPlan, ImagePlan, ServicePlan, Step};
use crate::diag::{Exit, Failure};
use crate::live::LiveService;
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::report::{Event, Reporter, StepState};
use futures_util::stream::{self, StreamExt as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How the executor behaves, from the command line and the environment.
#[derive(Debug, Clone)]
pub struct Options {
    /// Parallel image builds and pushes (rolls and health checks all run at once).
    pub concurrency: usize,
    /// Each waiting phase's own limit (migration, rollout, health).
    pub timeout: Duration,
    /// Between two polls of ECS (shorter against the local stack).
    pub poll: Duration,
    pub rollback_on_failure: bool,
    pub health: HealthTargets,
}

/// Where health checks find each service.
#[derive(Debug, Clone)]
pub enum HealthTargets {
    /// The environment's `service_url` template.
    ServiceUrl,
    /// The local stack's task containers (`local up --run-containers`), from its endpoint.
    LocalTasks { endpoint: String },
    /// Nowhere: the reason is reported instead of a check.
    Unavailable { why: String },
}

/// What happened to one service.
#[derive(Debug, Clone, Default)]
pub struct ServiceResult {
    /// `uri@digest`, once known.
    pub image: Option<String>,
    pub digest: Option<String>,
    /// The task definition this deploy registered and rolled to.
    pub task_definition: Option<String>,
    pub binary: Option<PathBuf>,
    pub outcome: Option<UnitOutcome>,
    /// Rolled (an `UpdateService` was sent): `--on-failure rollback` restores these.
    pub rolled: bool,
}

/// Everything a step needs.
pub struct Executor<'a> {
    pub aws: &'a Clients,
    pub config: &'a Config,
    pub names: &'a Names<'a>,
    pub plan: &'a DeployPlan,
    pub report: &'a Reporter,
    pub root: &'a Path,
    pub deploy_id: &'a str,
    pub options: Options,
    /// Repository URI per service.
    pub repositories: BTreeMap<String, String>,
    /// What ran before this deploy, per planned service.
    pub live: BTreeMap<String, LiveService>,
    /// The package of each Rust service's own crate.
    pub own_crates: BTreeMap<String, String>,
    pub results: Mutex<BTreeMap<String, ServiceResult>>,
    pub apps: Mutex<BTreeMap<String, spa::AppResult>>,
    /// Every step's duration, in the order they ended (the ledger keeps them).
    pub timings: Mutex<Vec<Timing>>,
    pub docker: docker::Docker,
}

/// How long one step took, and whether it succeeded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub phase: Phase,
    pub seconds: f64,
    pub ok: bool,
}

impl Executor<'_> {
    /// Seeds each deploying service's result with what the plan already knows.
    pub fn seed(&self) {
        let mut results = self.results.lock().unwrap();
        for planned in self.plan.deploying() {
            let entry = results.entry(planned.unit.name.clone()).or_default();
            if let Some(ImagePlan::Reuse { digest, .. }) = &planned.image {
                entry.image = Some(self.image_ref(&planned.unit.name, digest));
                entry.digest = Some(digest.clone());
            }
        }
    }

    /// Runs every phase; the first failure stops it (after its phase's other steps end).
    pub async fn run(&self) -> anyhow::Result<()> {
        for phase in self.plan.phases() {
            let name = phase[0].phase();
            self.report.emit(Event::Phase { phase: name });
            // Builds load the machine: bounded. Migrations, rolls and health checks mostly
            // wait on AWS: all at once, so twenty services take as long as the slowest.
            let limit = if name.loads_the_machine() {
                self.options.concurrency.max(1)
            } else {
                phase.len()
            };
            let outcomes: Vec<anyhow::Result<()>> = stream::iter(phase.iter())
                .map(|step| self.step(step))
                .buffer_unordered(limit)
                .collect()
                .await;
            if let Some(err) = first_failure(outcomes) {
                if self.options.rollback_on_failure && name.after_rolling() {
                    self.restore_rolled().await;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// One step: the one place that maps a step to the module that does it.
    async fn step(&self, step: &Step) -> anyhow::Result<()> {
        let (service, phase) = (step.service(), step.phase());
        self.report
            .step(service, phase, StepState::Started, "started");
        let started = std::time::Instant::now();
        let done = match step {
            Step::Compile { services } => docker::compile(self, services).await,
            Step::Build { service } => docker::build(self, service).await,
            Step::Retag { service } => ecr::retag(self, service).await,
            Step::Migrate { service } => migrate::run(self, service).await,
            Step::Roll { service } => ecs::roll(self, service).await,
            Step::Health { service } => health::check(self, service).await,
            Step::BuildApp { app } => spa::build(self, app).await,
            Step::Ship { app } => spa::ship(self, app).await,
            Step::Activate { app } => spa::activate(self, app).await,
        };
        self.timings.lock().unwrap().push(Timing {
            service: service.map(str::to_owned),
            phase,
            seconds: started.elapsed().as_secs_f64(),
            ok: done.is_ok(),
        });
        match &done {
            Ok(message) => self.report.step(service, phase, StepState::Done, message),
            Err(err) => {
                match step {
                    Step::BuildApp { app } | Step::Ship { app } | Step::Activate { app } => {
                        self.set_app(app, |r| r.outcome = r.outcome.or(Some(UnitOutcome::Failed)))
                    }
                    _ => {
                        if let Some(service) = service {
                            self.set(service, |r| {
                                r.outcome = r.outcome.or(Some(UnitOutcome::Failed))
                            });
                        }
                    }
                }
                self.report
                    .step(service, phase, StepState::Failed, format!("{err:#}"));
            }
        }
        done.map(drop)
    }

    /// `--on-failure rollback`: every service this deploy rolled goes back to the task
    /// definition it had, and that rollout is waited for too.
    async fn restore_rolled(&self) {
        let rolled: Vec<String> = self
            .results
            .lock()
            .unwrap()
            .iter()
            // ECS already put back what its circuit breaker rolled back.
            .filter(|(_, r)| r.rolled && r.outcome != Some(UnitOutcome::RolledBack))
            .map(|(name, _)| name.clone())
            .collect();
        self.report.emit(Event::Phase {
            phase: Phase::Restore,
        });
        let restores = rolled.iter().map(|service| async move {
            self.report
                .step(Some(service), Phase::Restore, StepState::Started, "started");
            match ecs::restore(self, service).await {
                Ok(message) => {
                    self.set(service, |r| r.outcome = Some(UnitOutcome::Restored));
                    self.report
                        .step(Some(service), Phase::Restore, StepState::Done, message);
                }
                Err(err) => self.report.step(
                    Some(service),
                    Phase::Restore,
                    StepState::Failed,
                    format!("{err:#}"),
                ),
            }
        });
        stream::iter(restores)
            .buffer_unordered(rolled.len().max(1))
            .collect::<Vec<()>>()
            .await;
    }

    pub fn service(&self, name: &str) -> &Service {
        self.config
            .service(name)
            .expect("the plan only names services of deploy.toml")
    }

    pub fn app(&self, name: &str) -> &crate::config::App {
        self.config
            .app(name)
            .expect("the plan only names apps of deploy.toml")
    }

    pub fn app_result(&self, name: &str) -> spa::AppResult {
        self.apps
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_app(&self, name: &str, update: impl FnOnce(&mut spa::AppResult)) {
        update(
            self.apps
                .lock()
                .unwrap()
                .entry(name.to_owned())
                .or_default(),
        );
    }

    pub fn planned(&self, name: &str) -> &ServicePlan {
        self.plan
            .service(name)
            .expect("steps only name planned services")
    }

    pub fn repository_uri(&self, service: &str) -> &str {
        &self.repositories[service]
    }

    pub fn image_ref(&self, service: &str, digest: &str) -> String {
        format!("{}@{digest}", self.repository_uri(service))
    }

    pub fn result(&self, service: &str) -> ServiceResult {
        self.results
            .lock()
            .unwrap()
            .get(service)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set(&self, service: &str, update: impl FnOnce(&mut ServiceResult)) {
        update(
            self.results
                .lock()
                .unwrap()
                .entry(service.to_owned())
                .or_default(),
        );
    }

    /// The image a later step uses: known once the images phase succeeded.
    pub fn image(&self, service: &str) -> anyhow::Result<String> {
        self.result(service)
            .image
            .ok_or_else(|| anyhow::anyhow!("no image for {service}: the images phase did not run"))
    }
}

/// The failure that decides the exit code: the first by phase order is all one phase's,
/// so the most severe code among them wins (a timeout over a plain failure).
fn first_failure(outcomes: Vec<anyhow::Result<()>>) -> Option<anyhow::Error> {
    let mut errors: Vec<anyhow::Error> = outcomes.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        return None;
    }
    errors.sort_by_key(|e| std::cmp::Reverse(exit_of(e) as u8));
    let messages: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
    let exit = exit_of(&errors[0]);
    Some(
        Failure {
            exit,
            message: messages.join("\n"),
        }
        .into(),
    )
}

pub fn exit_of(err: &anyhow::Error) -> Exit {
    err.downcast_ref::<Failure>()
        .map_or(Exit::Internal, |f| f.exit)
}
