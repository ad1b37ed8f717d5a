//! The executor: runs a [`DeployPlan`]'s phases in order, the steps of a phase in parallel
//! (bounded), each step through one `match` arm that calls one module. It decides nothing:
//! the plan did. A failed phase stops the deploy; with `--on-failure rollback`, services
//! this deploy already rolled go back to their previous task definitions.

pub mod auditable;
pub mod build_cache;
pub mod copy;
pub mod credential_helper;
pub mod docker;
pub mod ecr;
pub mod ecs;
pub mod health;
pub mod migrate;
pub mod pace;
pub mod scan;
pub mod shift;
pub mod smoke;
pub mod spa;
pub mod tally;

use crate::aws::Clients;
use crate::config::Names;
use crate::deploy_plan::{DeployPlan, Step};
use crate::error::Error;
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::report::{Event, Reporter, StepState};
use futures_util::stream::{self, StreamExt as _};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tally::{Fact, Tally};

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
    /// `--dry-run`: only the steps that preview run, and they stop before changing
    /// anything remote (see [`Step::previews`]).
    pub dry_run: bool,
    /// Seconds of AWS's clock per real second on this target: 1 on AWS; the local stack's
    /// time scale, which runs bakes of minutes in seconds.
    pub time_scale: f64,
    /// `rollback --allow-vulnerable`: the scan gate warns instead of refusing, and the
    /// override is recorded.
    pub allow_vulnerable: bool,
    /// The shared compile cache the host build uses, when the environment has one and
    /// sccache is installed.
    pub build_cache: Option<BuildCache>,
}

/// The environment's compile cache: its bucket, and the sccache that reads and writes it
/// (or why there is none: said when a build would have used it).
#[derive(Debug, Clone)]
pub struct BuildCache {
    pub sccache: Result<std::path::PathBuf, String>,
    pub bucket: String,
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

/// Everything a step needs.
pub struct Executor<'a> {
    pub aws: &'a Clients,
    pub names: &'a Names<'a>,
    pub plan: &'a DeployPlan,
    pub report: &'a Reporter,
    pub root: &'a Path,
    pub deploy_id: &'a str,
    pub options: Options,
    pub docker: docker::Docker,
    /// The fold of every event sent so far (start with the default): written only by
    /// [`Executor::send`], read by steps as the snapshot their phase started with.
    pub tally: Folded,
}

impl Executor<'_> {
    /// Runs every phase; the first failure stops it (after its phase's other steps end).
    pub async fn run(&self) -> Result<(), Error> {
        *self.tally.0.lock().unwrap() = Tally::seeded(self.plan);
        let phases = if self.options.dry_run {
            self.plan.preview_phases()
        } else {
            self.plan.phases.clone()
        };
        for phase in phases {
            let name = phase[0].phase();
            self.send(Event::Phase { phase: name });
            // Steps of a phase read what the phases before it learned, never each other.
            let earlier = self.tally();
            // Builds load the machine: bounded. Migrations, rolls and health checks mostly
            // wait on AWS: all at once, so twenty services take as long as the slowest.
            let limit = if name.loads_the_machine() {
                self.options.concurrency.max(1)
            } else {
                phase.len()
            };
            let outcomes: Vec<Result<(), Error>> = stream::iter(phase.iter())
                .map(|step| self.step(step, &earlier))
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
    async fn step(&self, step: &Step, earlier: &Tally) -> Result<(), Error> {
        let (unit, phase) = (step.unit(), step.phase());
        self.progress(unit, phase, StepState::Started, "started");
        let started = std::time::Instant::now();
        let done = match step {
            Step::Compile { binaries } => docker::compile(self, binaries).await,
            Step::Build(build) => docker::build(self, build, earlier).await,
            Step::Copy(image) => copy::copy(self, image).await,
            Step::Retag(retag) => ecr::retag(self, retag).await,
            Step::Scan(step) => scan::check(self, step, earlier).await,
            Step::Migrate(migration) => migrate::run(self, migration, earlier).await,
            Step::Roll(roll) => ecs::roll(self, roll, earlier).await,
            Step::Health(check) => health::check(self, check).await,
            Step::BuildApp(app) => spa::build(self, app).await,
            Step::FetchApp { app, promoted } => spa::fetch(self, app, promoted).await,
            Step::Ship(app) => spa::ship(self, app, earlier).await,
            Step::Activate { app, release } => spa::activate(self, app, release).await,
        };
        let (state, message) = match &done {
            Ok(message) => (StepState::Done, message.clone()),
            Err(err) => (StepState::Failed, format!("{err:#}")),
        };
        self.send(Event::Step {
            service: unit.map(str::to_owned),
            phase,
            state,
            message,
            seconds: Some(started.elapsed().as_secs_f64()),
        });
        // The message keeps the whole chain; the kind comes from the error it carries.
        done.map(drop).map_err(|err| {
            let message = format!("{err:#}");
            Error::from(err).with_message(message)
        })
    }

    /// `--on-failure rollback`: every service this deploy rolled goes back to the task
    /// definition it had, and that rollout is waited for too.
    async fn restore_rolled(&self) {
        let rolled: Vec<String> = self
            .tally()
            .units
            .into_iter()
            // ECS already put back what its circuit breaker rolled back.
            .filter(|(_, r)| r.rolled && r.outcome != Some(UnitOutcome::RolledBack))
            .map(|(name, _)| name)
            .collect();
        self.send(Event::Phase {
            phase: Phase::Restore,
        });
        let restores = rolled.iter().map(|service| async move {
            let unit = Some(service.as_str());
            self.progress(unit, Phase::Restore, StepState::Started, "started");
            let restored = match self.plan.rollout_of(service) {
                Some(roll) => ecs::restore(self, roll).await,
                None => Err(anyhow::anyhow!("{service} was not rolled by this plan")),
            };
            match restored {
                Ok(message) => {
                    self.record(
                        service,
                        Fact::Outcome {
                            outcome: UnitOutcome::Restored,
                        },
                    );
                    self.progress(unit, Phase::Restore, StepState::Done, message);
                }
                Err(err) => {
                    self.progress(unit, Phase::Restore, StepState::Failed, format!("{err:#}"))
                }
            }
        });
        stream::iter(restores)
            .buffer_unordered(rolled.len().max(1))
            .collect::<Vec<()>>()
            .await;
    }

    /// Sends an event to the reporter, folding it into the tally first.
    pub fn send(&self, event: Event) {
        self.tally.0.lock().unwrap().apply(&event);
        self.report.emit(event);
    }

    /// A step of `unit` (or of the whole deploy) moved on; not a step's end, so untimed.
    pub fn progress(
        &self,
        unit: Option<&str>,
        phase: Phase,
        state: StepState,
        message: impl Into<String>,
    ) {
        self.send(Event::step(unit, phase, state, message));
    }

    /// A step learned something about `unit` that later steps or the summary need.
    pub fn record(&self, unit: &str, fact: Fact) {
        self.send(Event::Record {
            unit: unit.to_owned(),
            fact,
        });
    }

    /// What every event so far adds up to.
    pub fn tally(&self) -> Tally {
        self.tally.0.lock().unwrap().clone()
    }
}

/// The executor's fold of its events: made empty (`Default`), written only by
/// [`Executor::send`], so nothing else can change what the summary will say.
#[derive(Debug, Default)]
pub struct Folded(Mutex<Tally>);

/// The failure that decides the exit code: the first by phase order is all one phase's,
/// so the most severe among them wins ([`Exit::severity`]: a timeout over a plain failure).
///
/// [`Exit::severity`]: crate::diag::Exit::severity
fn first_failure(outcomes: Vec<Result<(), Error>>) -> Option<Error> {
    let mut errors: Vec<Error> = outcomes.into_iter().filter_map(Result::err).collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.exit().severity()));
    let messages: Vec<String> = errors.iter().map(Error::message).collect();
    Some(errors.first()?.with_message(messages.join("\n")))
}

/// An exclusive lock on the file at `path` (created), held until the file is dropped;
/// waited for off the runtime's threads, as long as another process holds it.
pub(crate) async fn hold_lock(path: &Path) -> anyhow::Result<std::fs::File> {
    use anyhow::Context as _;
    let file =
        std::fs::File::create(path).with_context(|| format!("opening {}", path.display()))?;
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await?
        .with_context(|| format!("locking {shown}"))
}
