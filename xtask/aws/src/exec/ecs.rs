//! Rolling a service: a new task definition revision copied from the live one (every field
//! `RegisterTaskDefinition` takes, tags included) with only the image (and the deployed
//! commit) changed, `UpdateService`, then waiting for the
//! deployment this roll created. Success is that deployment PRIMARY with rolloutState
//! COMPLETED. FAILED, or the PRIMARY moving to another task definition, is a failure; it is
//! a rollback only once ECS's deployment of the previous task definition has completed
//! (with `rollback = false` in the circuit breaker nothing goes back, and `--on-failure
//! rollback` must). The `services-stable` waiter is not used: it calls a rollback success.
//! A rollout of the same version an earlier, killed run started is waited for instead.

use super::pace::{Pace, Polled};
use super::shift;
use super::tally::{Fact, Tally};
use super::Executor;
use crate::aws::{AwsContext as _, Clients};
use crate::deploy_plan::Rollout;
use crate::error::Error;
use crate::live::{self, InFlight, FINGERPRINT_VAR, VERSION_VAR};
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::report::{task_definition_name, StepState};
use anyhow::{Context as _, Result};
use aws_sdk_ecs::types as ecs;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub async fn roll(exec: &Executor<'_>, roll: &Rollout, earlier: &Tally) -> Result<String> {
    let name = roll.unit.service.as_str();
    let outcome = match &roll.adopt {
        Some(adopted) => adopt(exec, roll, adopted).await,
        None => roll_anew(exec, roll, earlier).await,
    };
    let decided = match &outcome {
        Ok(_) => Some(UnitOutcome::Deployed),
        Err(err) => match err.downcast_ref() {
            Some(Error::RolledBack(_)) => Some(UnitOutcome::RolledBack),
            Some(Error::Rollout(_)) => Some(UnitOutcome::Failed),
            _ => None,
        },
    };
    if let Some(outcome) = decided {
        exec.record(name, Fact::Outcome { outcome });
    }
    outcome
}

/// Waits for the rollout of this version an earlier run started and did not see end (it
/// was killed): starting another would replace tasks that may already be healthy.
async fn adopt(exec: &Executor<'_>, roll: &Rollout, adopted: &InFlight) -> Result<String> {
    let name = roll.unit.service.as_str();
    exec.record(
        name,
        Fact::TaskDefinition {
            arn: adopted.task_definition.clone(),
        },
    );
    // As good as rolled by this run: `--on-failure rollback` may put back what ran before.
    exec.record(name, Fact::Rolled);
    exec.progress(
        Some(name),
        Phase::Roll,
        StepState::Progress,
        format!(
            "waiting for the rollout an earlier run started ({}, {})",
            task_definition_name(&adopted.task_definition),
            adopted.describe()
        ),
    );
    let watch = Watch {
        exec,
        name,
        phase: Phase::Roll,
        cluster: &roll.unit.target.cluster,
        service: &roll.unit.target.ecs_service,
        deployment: &adopted.deployment,
        task_definition: &adopted.task_definition,
        previous: adopted.previous.as_deref(),
        since: adopted.created_at_ms as f64 / 1000.0,
        bakes: roll.bakes,
    };
    watch.wait().await
}

/// A new revision of the family's template with this deploy's image, and its rollout.
async fn roll_anew(exec: &Executor<'_>, roll: &Rollout, earlier: &Tally) -> Result<String> {
    let name = roll.unit.service.as_str();
    let live_arn = roll
        .source_task_definition
        .as_deref()
        .with_context(|| format!("service {name} has no live task definition to copy"))?;
    let image = earlier.image(name)?;
    // The family's template, not the revision the service runs: what Terraform changed since
    // the last deploy is in the former only.
    let (live, tags) = live::template(exec.aws, live::family_of(live_arn)).await?;
    let copy = Revision {
        service: name,
        fingerprint: &roll.unit.fingerprint,
        image,
        tags: &tags,
    };
    let arn = register_copy(exec, &live, &copy)
        .await
        .map_err(|err| Error::Rollout(format!("{err:#}")))?;
    exec.record(name, Fact::TaskDefinition { arn: arn.clone() });
    exec.progress(
        Some(name),
        Phase::Roll,
        StepState::Progress,
        format!("registered {}", task_definition_name(&arn)),
    );
    update_and_wait(exec, roll, &arn, Phase::Roll).await
}

/// `--on-failure rollback`: back to the task definition the service had before this deploy.
pub async fn restore(exec: &Executor<'_>, roll: &Rollout) -> Result<String> {
    let previous =
        (roll.source_task_definition.as_deref()).context("no previous task definition")?;
    update_and_wait(exec, roll, previous, Phase::Restore).await
}

/// Points the service at `arn` with deploy.toml's deployment configuration, and waits
/// for the deployment that creates: through its service deployment's stages when it
/// shifts traffic, else through the service's deployments.
async fn update_and_wait(
    exec: &Executor<'_>,
    roll: &Rollout,
    arn: &str,
    phase: Phase,
) -> Result<String> {
    let name = roll.unit.service.as_str();
    let (cluster, service) = (&roll.unit.target.cluster, &roll.unit.target.ecs_service);
    let shift = shift::of(exec, roll, phase);
    let (deployment, since) = update(exec, roll, arn, phase, &shift).await?;
    if shift.strategy.shifts_traffic() {
        let found = shift::service_deployment_of(exec, cluster, service, since, true).await?;
        let sd = found.with_context(|| {
            format!("ECS lists no service deployment of {service} since UpdateService")
        })?;
        record_service_deployment(exec, name, &sd, true);
        return shift::follow(exec, roll, &sd, arn, phase).await;
    }
    let watch = Watch {
        exec,
        name,
        phase,
        cluster,
        service,
        deployment: &deployment,
        task_definition: arn,
        // Only a roll has a previous definition ECS's circuit breaker can go back to.
        previous: (phase == Phase::Roll)
            .then_some(roll.source_task_definition.as_deref())
            .flatten(),
        // ECS's clock, not ours: events at or after the deployment's creation are its own.
        since,
        bakes: roll.bakes,
    };
    let waited = watch.wait().await;
    // For the summary and the ledger, and to say why ECS rolled back: read once the
    // deployment ended (ECS lists it by then; no waiting), never a reason to fail the roll.
    if let Ok(Some(sd)) = shift::service_deployment_of(exec, cluster, service, since, false).await {
        record_service_deployment(exec, name, &sd, false);
        let rolled_back = (waited.as_ref())
            .is_err_and(|e| matches!(e.downcast_ref(), Some(Error::RolledBack(_))));
        if let Some(by) = if rolled_back {
            shift::cause_of(exec, &sd).await
        } else {
            None
        } {
            exec.record(name, Fact::RolledBackBy { by });
        }
    }
    waited
}

/// `UpdateService` to `arn` with `shift`'s deployment configuration over the live one;
/// returns the deployment it created and when (ECS's clock, epoch seconds).
async fn update(
    exec: &Executor<'_>,
    roll: &Rollout,
    arn: &str,
    phase: Phase,
    shift: &crate::delivery::Shift,
) -> Result<(String, f64)> {
    let name = roll.unit.service.as_str();
    let (cluster, service) = (&roll.unit.target.cluster, &roll.unit.target.ecs_service);
    let configuration = live_configuration(exec, cluster, service).await?;
    say_strategy_change(exec, name, phase, configuration.as_ref(), shift);
    let updated = (exec.aws.ecs.update_service())
        .cluster(cluster)
        .service(service)
        .task_definition(arn)
        .deployment_configuration(shift::configuration(configuration.as_ref(), shift)?)
        .send()
        .await
        .aws_context(|| format!("updating service {service}"))
        .map_err(|err| Error::Rollout(format!("{err:#}")))?;
    if phase == Phase::Roll {
        exec.record(name, Fact::Rolled);
    }
    let deployment = (updated
        .service()
        .map(|s| s.deployments())
        .unwrap_or_default()
        .iter())
    .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(arn))
    .with_context(|| format!("UpdateService of {service} created no deployment of {arn}"))?;
    let since = deployment.created_at().map_or(0.0, |t| t.as_secs_f64());
    Ok((deployment.id().unwrap_or_default().to_owned(), since))
}

/// A roll that changes the service's strategy says so: the tool sets deploy.toml's.
fn say_strategy_change(
    exec: &Executor<'_>,
    name: &str,
    phase: Phase,
    configuration: Option<&ecs::DeploymentConfiguration>,
    shift: &crate::delivery::Shift,
) {
    let live = (configuration.and_then(|c| c.strategy())).map_or("ROLLING", |s| s.as_str());
    if live != shift.strategy.ecs_name() {
        let changed = format!(
            "strategy {live} -> {} ({})",
            shift.strategy.ecs_name(),
            crate::config::FILE_NAME
        );
        exec.progress(Some(name), phase, StepState::Progress, changed);
    }
}

/// The service's deployment configuration now: what the roll keeps of it.
async fn live_configuration(
    exec: &Executor<'_>,
    cluster: &str,
    service: &str,
) -> Result<Option<ecs::DeploymentConfiguration>> {
    let described = (exec.aws.ecs.describe_services())
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .aws_context(|| format!("describing service {service}"))?;
    Ok(described
        .services()
        .first()
        .and_then(|s| s.deployment_configuration().cloned()))
}

fn record_service_deployment(exec: &Executor<'_>, name: &str, arn: &str, shifting: bool) {
    let fact = Fact::ServiceDeployment {
        arn: arn.to_owned(),
        shifting,
    };
    exec.record(name, fact);
}

/// How long a deployment `UpdateService` answered with may be missing from
/// `DescribeServices` before that means it was replaced: ECS's reads are eventually
/// consistent, and a new deployment can be missing from the first describes after it.
pub const VISIBILITY_GRACE: Duration = Duration::from_secs(60);

/// One deployment being waited for.
struct Watch<'a> {
    exec: &'a Executor<'a>,
    name: &'a str,
    phase: Phase,
    cluster: &'a str,
    service: &'a str,
    deployment: &'a str,
    task_definition: &'a str,
    /// The task definition the service ran before: ECS's circuit breaker goes back to it.
    previous: Option<&'a str>,
    /// Epoch seconds (ECS's clock) the deployment was created at: earlier events are not
    /// this roll's.
    since: f64,
    /// The strategy's bakes, which ECS waits through before the deployment completes.
    bakes: Duration,
}

enum State {
    /// The deployment has no `rolloutState` (a service behind a Classic Load Balancer):
    /// its service deployment tells.
    Unreported,
    Waiting(String),
    /// Nothing to judge yet: the deployment not visible (ECS's eventually consistent
    /// reads), or a transient error; the next poll backs off.
    NotYet(String),
    Completed,
    /// ECS's circuit breaker rolled back, and its deployment of the previous task
    /// definition completed: the service runs what it ran before.
    RolledBack(String),
    /// Nothing put the previous task definition back.
    Failed(String),
}

/// One poll's answer, or why there was none this time.
enum Poll {
    Answer(Box<ecs::Service>),
    Transient(String),
}

/// What the polls so far have learned.
#[derive(Default)]
struct Seen {
    /// The deployment has appeared in a `DescribeServices` answer.
    deployment: bool,
    /// The first reason the deployment failed: later polls may only say it is gone.
    failure: Option<String>,
}

impl Watch<'_> {
    /// How long the deployment may take: `--timeout` for the new tasks, and the bakes.
    fn limit(&self) -> Duration {
        self.exec.options.timeout + self.bakes
    }

    async fn wait(&self) -> Result<String> {
        let started = Instant::now();
        let mut events = BTreeSet::new();
        let mut seen = Seen::default();
        let mut last = String::new();
        let mut pace = Pace::new(self.exec.options.poll);
        loop {
            let state = self.observe(started, &mut seen, &mut events).await?;
            let polled = match state {
                State::NotYet(_) => Polled::NotYet,
                _ => Polled::Answer,
            };
            match state {
                State::Unreported => unreachable!("observe asks the service deployment"),
                State::Completed => {
                    return Ok(format!(
                        "{} COMPLETED in {:.1}s",
                        task_definition_name(self.task_definition),
                        started.elapsed().as_secs_f64()
                    ))
                }
                State::RolledBack(why) => return Err(self.failure(Error::RolledBack, &why).await),
                State::Failed(why) => return Err(self.failure(Error::Rollout, &why).await),
                State::Waiting(progress) | State::NotYet(progress) if progress != last => {
                    self.exec.progress(
                        Some(self.name),
                        self.phase,
                        StepState::Progress,
                        progress.clone(),
                    );
                    last = progress;
                }
                State::Waiting(_) | State::NotYet(_) => {}
            }
            if started.elapsed() >= self.limit() {
                let why = format!(
                    "the deployment did not complete within {}",
                    humantime::format_duration(self.limit())
                );
                let why = match seen.failure.take() {
                    Some(failure) => format!("{failure}; {why}"),
                    None => why,
                };
                return Err(self.failure(Error::Timeout, &why).await);
            }
            pace.sleep(polled).await;
        }
    }

    /// One poll: the service's new events shown, and the deployment's state. A transient
    /// error (throttling past the SDK's retries, a reset connection) is one poll lost, not
    /// the roll: the timeout still bounds the wait.
    async fn observe(
        &self,
        started: Instant,
        seen: &mut Seen,
        events: &mut BTreeSet<String>,
    ) -> Result<State> {
        let found = match self.describe().await? {
            Poll::Answer(found) => found,
            Poll::Transient(why) if started.elapsed() < self.limit() => {
                return Ok(State::NotYet(format!("{why}; polling again")))
            }
            Poll::Transient(why) => return Err(Error::Timeout(why).into()),
        };
        for event in self.new_events(&found, events) {
            self.exec
                .report
                .step(Some(self.name), self.phase, StepState::Progress, event);
        }
        match self.state(&found, seen, started.elapsed()) {
            State::Unreported => self.service_deployment().await,
            state => Ok(state),
        }
    }

    async fn describe(&self) -> Result<Poll> {
        let what = || format!("describing service {}", self.service);
        let sent = (self.exec.aws.ecs.describe_services())
            .cluster(self.cluster)
            .services(self.service)
            .send()
            .await;
        let out = match crate::aws::polled(sent, what)? {
            Ok(out) => out,
            Err(why) => return Ok(Poll::Transient(why)),
        };
        out.services()
            .first()
            .cloned()
            .map(|service| Poll::Answer(Box::new(service)))
            .with_context(|| format!("service {} is gone", self.service))
    }

    fn state(&self, service: &ecs::Service, seen: &mut Seen, waited: Duration) -> State {
        let deployments = service.deployments();
        let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
        let ours = deployments.iter().find(|d| d.id() == Some(self.deployment));
        match ours {
            Some(_) => seen.deployment = true,
            None if !seen.deployment && waited < VISIBILITY_GRACE => {
                return State::NotYet(format!(
                    "deployment {} is not visible yet (ECS's reads are eventually consistent)",
                    self.deployment
                ))
            }
            None => {}
        }
        let runs = |d: Option<&ecs::Deployment>| {
            d.and_then(|d| d.task_definition())
                .map_or("?", task_definition_name)
                .to_owned()
        };
        let failure = match ours {
            None => format!(
                "deployment {} is gone; the service now runs {}",
                self.deployment,
                runs(primary)
            ),
            Some(ours) => match ours.rollout_state() {
                Some(ecs::DeploymentRolloutState::Completed)
                    if ours.status() == Some("PRIMARY") =>
                {
                    return State::Completed
                }
                Some(ecs::DeploymentRolloutState::Failed) => ours
                    .rollout_state_reason()
                    .unwrap_or("the deployment FAILED")
                    .to_owned(),
                _ if primary.and_then(|p| p.task_definition()) != Some(self.task_definition)
                    && primary.is_some() =>
                {
                    format!("the service's PRIMARY deployment runs {}", runs(primary))
                }
                // Behind a Classic Load Balancer ECS keeps no rolloutState.
                None if ours.status() == Some("PRIMARY") => return State::Unreported,
                _ => return State::Waiting(progress(ours)),
            },
        };
        let why = seen.failure.get_or_insert(failure).clone();
        self.after_failure(primary, why)
    }

    /// The state of this roll's service deployment (`ListServiceDeployments` since the
    /// deployment was created, the newest; `DescribeServiceDeployments` would add nothing the
    /// brief lacks): where `rolloutState` is absent, the only record of how it went.
    async fn service_deployment(&self) -> Result<State> {
        let listed = shift::listed_since(self.exec, self.cluster, self.service, self.since).await?;
        let Some(newest) = listed.last() else {
            return Ok(State::NotYet("no service deployment listed yet".into()));
        };
        let why = newest.status_reason().unwrap_or_default().to_owned();
        Ok(match newest.status() {
            Some(ecs::ServiceDeploymentStatus::Successful) => State::Completed,
            Some(ecs::ServiceDeploymentStatus::RollbackSuccessful) => State::RolledBack(why),
            Some(
                ecs::ServiceDeploymentStatus::Stopped
                | ecs::ServiceDeploymentStatus::RollbackFailed,
            ) => State::Failed(why),
            status => State::Waiting(format!(
                "service deployment {}",
                status.map_or("PENDING", |s| s.as_str())
            )),
        })
    }

    /// Our deployment failed or was replaced: rolled back once ECS's deployment of the
    /// previous task definition completed, waiting while it rolls, failed otherwise.
    fn after_failure(&self, primary: Option<&ecs::Deployment>, why: String) -> State {
        let restoring = primary
            .filter(|p| p.task_definition().is_some() && p.task_definition() == self.previous);
        let Some(restoring) = restoring else {
            return State::Failed(why);
        };
        let previous = task_definition_name(self.previous.unwrap_or_default());
        match restoring.rollout_state() {
            Some(ecs::DeploymentRolloutState::Completed) => {
                State::RolledBack(format!("{why}; ECS rolled back to {previous}"))
            }
            Some(ecs::DeploymentRolloutState::Failed) => {
                State::Failed(format!("{why}; ECS's rollback to {previous} failed too"))
            }
            // No rolloutState (a Classic Load Balancer): the service deployment tells.
            None => State::Unreported,
            _ => State::Waiting(format!(
                "{why}; ECS is rolling back to {previous}: {}",
                progress(restoring)
            )),
        }
    }

    /// Service events of this roll not yet shown, oldest first.
    fn new_events(&self, service: &ecs::Service, seen: &mut BTreeSet<String>) -> Vec<String> {
        let mut events: Vec<&ecs::ServiceEvent> = service
            .events()
            .iter()
            .filter(|e| {
                e.created_at()
                    .is_some_and(|t| t.as_secs_f64() >= self.since)
            })
            .filter(|e| e.id().is_some_and(|id| seen.insert(id.to_owned())))
            .collect();
        events.sort_by(|a, b| {
            let at = |e: &ecs::ServiceEvent| e.created_at().map_or(0.0, |t| t.as_secs_f64());
            at(a).total_cmp(&at(b))
        });
        events
            .into_iter()
            .filter_map(|e| e.message().map(str::to_owned))
            .collect()
    }

    /// The last log lines of the newest stopped task's service container.
    async fn newest_log(&self, task: &ecs::Task) -> String {
        let Ok(definition) = live::task_definition(self.exec.aws, self.task_definition).await
        else {
            return String::new();
        };
        let Ok(container) = live::container_of(&definition, self.name) else {
            return String::new();
        };
        let container = container.name().unwrap_or(self.name);
        crate::logs::report(
            self.exec.aws,
            &definition,
            container,
            task.task_arn().unwrap_or_default(),
        )
        .await
    }

    /// The failure, with the service's events since the roll began, the stopped tasks'
    /// reasons and exit codes, and the newest one's last log lines.
    async fn failure(&self, kind: fn(String) -> Error, why: &str) -> anyhow::Error {
        let mut message = format!("{} of {} failed: {why}", self.phase, self.name);
        if let Ok(Poll::Answer(service)) = self.describe().await {
            let mut seen = BTreeSet::new();
            let events = self.new_events(&service, &mut seen);
            if !events.is_empty() {
                message.push_str("\n  service events since the roll began:");
                for event in events {
                    message.push_str(&format!("\n    {event}"));
                }
            }
        }
        match stopped_tasks(
            self.exec.aws,
            self.cluster,
            self.service,
            self.task_definition,
        )
        .await
        {
            Ok(tasks) if !tasks.is_empty() => {
                message.push_str("\n  stopped tasks:");
                for task in &tasks {
                    message.push_str(&format!("\n    {}", describe_stopped(task)));
                }
                message.push_str(&self.newest_log(&tasks[0]).await);
            }
            Ok(_) => {}
            Err(err) => message.push_str(&format!("\n  (stopped tasks unavailable: {err:#})")),
        }
        kind(message).into()
    }
}

/// How many stopped tasks a failure report reads at most: ECS keeps them about an hour, and
/// a crash loop makes many.
const STOPPED_READ: usize = 500;

/// Stopped tasks of `task_definition` in the service, newest first: reason and each
/// container's exit code. Every page of `ListTasks` is read (up to [`STOPPED_READ`]), since
/// ECS lists them in no promised order.
async fn stopped_tasks(
    aws: &Clients,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Vec<ecs::Task>> {
    let mut arns: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let listed = (aws.ecs.list_tasks())
            .cluster(cluster)
            .service_name(service)
            .desired_status(ecs::DesiredStatus::Stopped)
            .set_next_token(token.take())
            .send()
            .await
            .aws_context(|| format!("listing stopped tasks of {service}"))?;
        arns.extend(listed.task_arns().iter().cloned());
        match listed.next_token() {
            Some(next) if arns.len() < STOPPED_READ => token = Some(next.to_owned()),
            _ => break,
        }
    }
    let mut tasks: Vec<ecs::Task> = Vec::new();
    for chunk in arns.chunks(100) {
        let described = (aws.ecs.describe_tasks())
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .aws_context(|| format!("describing stopped tasks of {service}"))?;
        tasks.extend(
            (described.tasks().iter())
                .filter(|t| t.task_definition_arn() == Some(task_definition))
                .cloned(),
        );
    }
    let stopped_at = |t: &ecs::Task| t.stopped_at().map_or(0.0, |at| at.as_secs_f64());
    tasks.sort_by(|a, b| stopped_at(b).total_cmp(&stopped_at(a)));
    tasks.truncate(5);
    Ok(tasks)
}

/// `IN_PROGRESS: 1 running, 1 pending of 2 desired, 0 failed` for one deployment.
fn progress(deployment: &ecs::Deployment) -> String {
    format!(
        "{}: {} running, {} pending of {} desired, {} failed",
        deployment
            .rollout_state()
            .map_or("IN_PROGRESS", |s| s.as_str()),
        deployment.running_count(),
        deployment.pending_count(),
        deployment.desired_count(),
        deployment.failed_tasks()
    )
}

/// `task 1a2b…: <stoppedReason>; app exit 1` for one stopped task.
pub fn describe_stopped(task: &ecs::Task) -> String {
    let id = task
        .task_arn()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("?");
    let containers: Vec<String> = task
        .containers()
        .iter()
        .map(|c| {
            let name = c.name().unwrap_or("?");
            match c.exit_code() {
                Some(code) => format!("{name} exit {code}"),
                None => format!(
                    "{name} no exit code{}",
                    c.reason().map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            }
        })
        .collect();
    format!(
        "task {id}: {}; {}",
        task.stopped_reason().unwrap_or("no stopped reason"),
        containers.join(", ")
    )
}

/// What a copied task definition changes: the service container's image, and the
/// fingerprint it is (with the plan's commit) in its environment.
pub struct Revision<'a> {
    pub service: &'a str,
    pub fingerprint: &'a str,
    pub image: &'a str,
    /// The live definition's tags, carried over.
    pub tags: &'a [ecs::Tag],
}

/// Registers a copy of `live` (a template: see [`live::template`]) with `copy`'s changes,
/// tagged with the template it was copied from; returns the new revision's ARN.
pub async fn register_copy(
    exec: &Executor<'_>,
    live: &ecs::TaskDefinition,
    copy: &Revision<'_>,
) -> Result<String> {
    let aws = exec.aws;
    let containers = containers_with(exec, live, copy)?;
    let family = live
        .family()
        .context("the live task definition has a family")?;
    let registered = aws
        .ecs
        .register_task_definition()
        .family(family)
        .set_task_role_arn(live.task_role_arn().map(str::to_owned))
        .set_execution_role_arn(live.execution_role_arn().map(str::to_owned))
        .set_network_mode(live.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(live.volumes().to_vec()))
        .set_placement_constraints(Some(live.placement_constraints().to_vec()))
        .set_requires_compatibilities(Some(live.requires_compatibilities().to_vec()))
        .set_cpu(live.cpu().map(str::to_owned))
        .set_memory(live.memory().map(str::to_owned))
        .set_pid_mode(live.pid_mode().cloned())
        .set_ipc_mode(live.ipc_mode().cloned())
        .set_proxy_configuration(live.proxy_configuration().cloned())
        .set_ephemeral_storage(live.ephemeral_storage().cloned())
        .set_runtime_platform(live.runtime_platform().cloned())
        .set_enable_fault_injection(live.enable_fault_injection())
        .set_tags(Some(tags_of(live, copy)))
        .send()
        .await
        .aws_context(|| format!("registering a new revision of {family}"))?;
    registered
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .map(str::to_owned)
        .context("RegisterTaskDefinition returned no ARN")
}

/// The template's tags and the tool's: which revision this copy was made from.
fn tags_of(template: &ecs::TaskDefinition, copy: &Revision<'_>) -> Vec<ecs::Tag> {
    let from = ecs::Tag::builder()
        .key(live::TEMPLATE_TAG)
        .value(template.task_definition_arn().unwrap_or_default())
        .build();
    copy.tags.iter().cloned().chain([from]).collect()
}

/// The live definition's containers, the service's own with `image` and this deploy's
/// commit and fingerprint in its environment; the others (sidecars) as they are.
fn containers_with(
    exec: &Executor<'_>,
    live: &ecs::TaskDefinition,
    copy: &Revision<'_>,
) -> Result<Vec<ecs::ContainerDefinition>> {
    let (commit, fingerprint, image) = (exec.plan.commit.as_str(), copy.fingerprint, copy.image);
    let target = live::container_of(live, copy.service)?
        .name()
        .map(str::to_owned);
    let ours = |c: &ecs::ContainerDefinition| {
        let mut c = c.clone();
        c.image = Some(image.to_owned());
        let mut env: Vec<ecs::KeyValuePair> = c
            .environment
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|kv| kv.name() != Some(VERSION_VAR) && kv.name() != Some(FINGERPRINT_VAR))
            .collect();
        for (name, value) in [(VERSION_VAR, commit), (FINGERPRINT_VAR, fingerprint)] {
            env.push(ecs::KeyValuePair::builder().name(name).value(value).build());
        }
        c.environment = Some(env);
        c
    };
    Ok(live
        .container_definitions()
        .iter()
        .map(|c| {
            if c.name().map(str::to_owned) == target {
                ours(c)
            } else {
                c.clone()
            }
        })
        .collect())
}

/// Poll interval for ECS: the local stack's clock is fast, AWS's is not.
pub fn poll_interval(local: bool) -> Duration {
    if local {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    }
}
