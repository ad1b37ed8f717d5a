//! A roll that shifts traffic (blue/green, canary, linear), followed through ECS's service
//! deployment rather than the service's deployments: `DescribeServiceDeployments` says the
//! lifecycle stage, the traffic weights, the hooks and the alarms.
//!
//! The tool is the deployment's lifecycle hook. The roll registers a `PAUSE` hook at
//! `POST_TEST_TRAFFIC_SHIFT` (the new revision has the test listener, production still the
//! old); when ECS pauses there, the tool runs the version-aware health check and the smoke
//! test against the test listener, then `ContinueServiceDeployment` with CONTINUE, or with
//! ROLLBACK and the failing check. The hook's timeout rolls back, so a tool that died does
//! not leave the service paused on double capacity. Once production traffic moved, the
//! smoke test runs against production during the bake; a failure there is a
//! `StopServiceDeployment` with ROLLBACK. ECS's alarms and circuit breaker may roll back
//! at any time: the outcome says which ([`RolledBackBy`]).

use super::tally::Fact;
use super::{health, smoke, Executor, HealthTargets};
use crate::aws::AwsContext as _;
use crate::delivery::{RolledBackBy, Shift, SmokeStage, Stage};
use crate::deploy_plan::{Rollout, ServiceStep};
use crate::error::Error;
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::report::{task_definition_name, StepState};
use anyhow::{Context as _, Result};
use aws_sdk_ecs::types as ecs;
use std::time::{Duration, Instant};

/// The `deploymentConfiguration` a roll sets: the live one's batch sizes and circuit
/// breaker kept; deploy.toml's strategy, bakes and alarms and the tool's pause over it.
/// Lifecycle hooks that are not PAUSE hooks (a team's Lambda) are kept; PAUSE hooks are
/// the tool's own and replaced.
pub fn configuration(
    live: Option<&ecs::DeploymentConfiguration>,
    shift: &Shift,
) -> Result<ecs::DeploymentConfiguration> {
    let theirs = (live.map(|c| c.lifecycle_hooks()).unwrap_or_default().iter())
        .filter(|h| h.target_type() != Some(&ecs::DeploymentLifecycleHookTargetType::Pause))
        .cloned();
    let ours = shift.pause.map(|pause| {
        let timeout = ecs::DeploymentLifecycleHookTimeoutConfiguration::builder()
            .timeout_in_minutes(pause.timeout_minutes)
            .action(ecs::DeploymentLifecycleHookAction::Rollback)
            .build();
        ecs::DeploymentLifecycleHook::builder()
            .target_type(ecs::DeploymentLifecycleHookTargetType::Pause)
            .lifecycle_stages(ecs::DeploymentLifecycleHookStage::from(
                pause.stage.ecs_name(),
            ))
            .timeout_configuration(timeout)
            .build()
    });
    let alarms = ecs::DeploymentAlarms::builder()
        .set_alarm_names(Some(shift.alarms.clone()))
        .enable(!shift.alarms.is_empty())
        .rollback(true)
        .build()
        .context("the deployment's alarms")?;
    let mut config = live
        .cloned()
        .map_or_else(ecs::DeploymentConfiguration::builder, |live| {
            ecs::DeploymentConfiguration::builder()
                .set_deployment_circuit_breaker(live.deployment_circuit_breaker().cloned())
                .set_maximum_percent(live.maximum_percent())
                .set_minimum_healthy_percent(live.minimum_healthy_percent())
        });
    config = config
        .strategy(ecs::DeploymentStrategy::from(shift.strategy.ecs_name()))
        .set_bake_time_in_minutes(shift.bake_minutes)
        .alarms(alarms)
        .set_lifecycle_hooks(Some(theirs.chain(ours).collect()));
    if let Some((percent, minutes)) = shift.canary {
        let canary = ecs::CanaryConfiguration::builder()
            .canary_percent(percent)
            .canary_bake_time_in_minutes(minutes);
        config = config.canary_configuration(canary.build());
    }
    if let Some((step, minutes)) = shift.linear {
        let linear = ecs::LinearConfiguration::builder()
            .step_percent(step)
            .step_bake_time_in_minutes(minutes);
        config = config.linear_configuration(linear.build());
    }
    Ok(config.build())
}

/// What a roll sets for `phase`: deploy.toml's delivery; a restore goes back without the
/// tool's pause (what it restores ran before; nothing is left to check at the test
/// listener) and the post-deploy checks.
pub fn of(exec: &Executor<'_>, roll: &Rollout, phase: Phase) -> Shift {
    let target = &roll.unit.target;
    let delivery = &target.config.delivery;
    let checks = exec.options.timeout + delivery.smoke_timeout();
    let mut shift = delivery.shift(target.alarms.clone(), checks);
    if phase != Phase::Roll {
        shift.pause = None;
    }
    shift
}

/// The service deployments ECS lists for `service` as created at or after `since` (ECS's
/// clock, epoch seconds), oldest first.
pub async fn listed_since(
    exec: &Executor<'_>,
    cluster: &str,
    service: &str,
    since: f64,
) -> Result<Vec<ecs::ServiceDeploymentBrief>> {
    let after = aws_sdk_ecs::primitives::DateTime::from_secs_f64(since - 1.0);
    let listed = (exec.aws.ecs.list_service_deployments())
        .cluster(cluster)
        .service(service)
        .created_at(ecs::CreatedAt::builder().after(after).build())
        .send()
        .await
        .aws_context(|| format!("listing the service deployments of {service}"))?;
    let mut briefs = listed.service_deployments().to_vec();
    let at = |d: &ecs::ServiceDeploymentBrief| d.created_at().map_or(0.0, |t| t.as_secs_f64());
    briefs.sort_by(|a, b| at(a).total_cmp(&at(b)));
    Ok(briefs)
}

/// The ARN of the service deployment a roll's `UpdateService` started: the first ECS
/// lists since then (a later one is someone else's update), waited for as long as ECS's
/// eventually consistent reads may hide it when `wait`.
pub async fn service_deployment_of(
    exec: &Executor<'_>,
    cluster: &str,
    service: &str,
    since: f64,
    wait: bool,
) -> Result<Option<String>> {
    let started = Instant::now();
    loop {
        let listed = listed_since(exec, cluster, service, since).await?;
        if let Some(arn) = listed.first().and_then(|d| d.service_deployment_arn()) {
            return Ok(Some(arn.to_owned()));
        }
        if !wait || started.elapsed() >= super::ecs::VISIBILITY_GRACE {
            return Ok(None);
        }
        tokio::time::sleep(exec.options.poll).await;
    }
}

/// Where the service's test and production listeners answer (base URLs), if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    pub test: Option<String>,
    pub production: Option<String>,
}

/// The listeners of `step`'s service: deploy.toml's `test_url` and `service_url` where the
/// environment names them, else the local stack's load balancer.
pub async fn listeners(exec: &Executor<'_>, step: &ServiceStep) -> Result<Listeners> {
    let target = &step.target;
    let production = (target.health_url.as_deref())
        .and_then(|url| url.strip_suffix(target.config.health_path.as_str()))
        .map(str::to_owned);
    match &exec.options.health {
        HealthTargets::LocalTasks { endpoint } if target.test_url.is_none() => {
            local_listeners(endpoint, &target.cluster, &target.ecs_service).await
        }
        _ => Ok(Listeners {
            test: target.test_url.clone(),
            production,
        }),
    }
}

/// The local stack's listeners of a service, from its load balancer's list.
async fn local_listeners(endpoint: &str, cluster: &str, service: &str) -> Result<Listeners> {
    let url = format!("{endpoint}/_xtask/balancers");
    let body = tokio::task::spawn_blocking(move || crate::http::get_text(&url)).await??;
    let listed: serde_json::Value = serde_json::from_str(&body)?;
    let found = (listed["balancers"].as_array().into_iter().flatten())
        .find(|b| b["cluster"] == cluster && b["service"] == service);
    let url = |key: &str| found.and_then(|b| b[key].as_str()).map(str::to_owned);
    Ok(Listeners {
        test: url("test_url"),
        production: url("production_url"),
    })
}

/// `StopServiceDeployment` with ROLLBACK: an interrupted deploy's paused deployment goes
/// back rather than wait at the pause for its timeout. Says what happened, for people.
pub async fn roll_back(exec_aws: &crate::aws::Clients, arn: &str) -> String {
    let sent = (exec_aws.ecs.stop_service_deployment())
        .service_deployment_arn(arn)
        .stop_type(ecs::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .aws_context(|| format!("stopping service deployment {}", crate::text::short(arn)));
    match sent {
        Ok(_) => format!(
            "service deployment {} is rolling back (StopServiceDeployment): production stays on the previous revision",
            crate::text::short(arn)
        ),
        Err(err) => format!("{err:#}; it rolls back on its own when its pause times out"),
    }
}

/// Follows a shifting roll's service deployment `arn` to its end.
pub async fn follow(
    exec: &Executor<'_>,
    roll: &Rollout,
    arn: &str,
    task_definition: &str,
    phase: Phase,
) -> Result<String> {
    let listeners = listeners(exec, &roll.unit).await?;
    let mut follow = Follow {
        exec,
        roll,
        arn,
        name: &roll.unit.service,
        task_definition,
        phase,
        listeners,
        seen: Seen::default(),
    };
    follow.run().await
}

/// One service deployment being followed.
struct Follow<'a> {
    exec: &'a Executor<'a>,
    roll: &'a Rollout,
    arn: &'a str,
    name: &'a str,
    task_definition: &'a str,
    phase: Phase,
    listeners: Listeners,
    seen: Seen,
}

/// What the polls so far have seen and done.
#[derive(Default)]
struct Seen {
    stage: Option<(Stage, Instant)>,
    /// Production traffic reached the new revision at some poll.
    reached_production: bool,
    shown: String,
    /// The tool resolved its pause.
    resolved: bool,
    smoked_production: bool,
    /// The tool rolled the deployment back itself, and why.
    ours: Option<(RolledBackBy, String)>,
}

impl Follow<'_> {
    /// How long the whole deployment may take here: the new tasks (`--timeout`), the
    /// checks at the pause, the smoke test in production, and the bakes on this target's
    /// clock (the local stack runs AWS's minutes faster).
    fn limit(&self) -> Duration {
        let options = &self.exec.options;
        let smoke = self.roll.unit.target.config.delivery.smoke_timeout();
        options.timeout * 2 + smoke * 2 + self.roll.bakes.div_f64(options.time_scale.max(1.0))
    }

    async fn run(&mut self) -> Result<String> {
        let started = Instant::now();
        let mut pace = super::pace::Pace::new(self.exec.options.poll);
        loop {
            let polled = match self.describe().await? {
                Some(deployment) => {
                    if let Some(done) = self.step(&deployment).await? {
                        return done.map(|how| {
                            format!("{how} in {:.1}s", started.elapsed().as_secs_f64())
                        });
                    }
                    super::pace::Polled::Answer
                }
                None => super::pace::Polled::NotYet,
            };
            if started.elapsed() >= self.limit() {
                let why = format!(
                    "{} of {} did not end within {}: service deployment {} is still {}",
                    self.phase,
                    self.name,
                    humantime::format_duration(self.limit()),
                    crate::text::short(self.arn),
                    self.seen
                        .stage
                        .map_or("pending".into(), |(s, _)| s.to_string()),
                );
                return Err(Error::Timeout(why).into());
            }
            pace.sleep(polled).await;
        }
    }

    /// The service deployment, or `None` while ECS's reads do not show it yet (or a
    /// transient error lost the poll).
    async fn describe(&self) -> Result<Option<ecs::ServiceDeployment>> {
        let sent = (self.exec.aws.ecs.describe_service_deployments())
            .service_deployment_arns(self.arn)
            .send()
            .await;
        let what = || {
            format!(
                "describing service deployment {}",
                crate::text::short(self.arn)
            )
        };
        Ok(match crate::aws::polled(sent, what)? {
            Ok(out) => out.service_deployments().first().cloned(),
            Err(_) => None,
        })
    }

    /// One poll's answer: shown, acted on; `Some` once the deployment ended.
    async fn step(
        &mut self,
        deployment: &ecs::ServiceDeployment,
    ) -> Result<Option<Result<String>>> {
        self.show(deployment);
        use ecs::ServiceDeploymentStatus as S;
        let reason = deployment.status_reason().unwrap_or_default();
        match deployment.status() {
            Some(S::Successful) => {
                let done = format!("{} SUCCESSFUL", task_definition_name(self.task_definition));
                return Ok(Some(Ok(done)));
            }
            Some(S::RollbackSuccessful) => return Ok(Some(Err(self.rolled_back(deployment)))),
            Some(S::Stopped | S::RollbackFailed) => {
                let why = format!(
                    "{} of {} failed: service deployment {} {}: {reason}",
                    self.phase,
                    self.name,
                    crate::text::short(self.arn),
                    deployment.status().map_or("", |s| s.as_str())
                );
                return Ok(Some(Err(Error::Rollout(why).into())));
            }
            _ => {}
        }
        let in_progress = deployment.status() == Some(&S::InProgress);
        if in_progress && self.phase == Phase::Roll {
            if let Some(hook) = awaiting_pause(deployment).filter(|_| !self.seen.resolved) {
                self.at_pause(hook).await?;
            }
            let stage = deployment
                .lifecycle_stage()
                .and_then(|s| Stage::from_ecs(s.as_str()));
            let after_shift = stage.is_some_and(|s| s >= Stage::PostProductionTrafficShift);
            if after_shift && !self.seen.smoked_production {
                self.in_production().await?;
            }
        }
        Ok(None)
    }

    /// The stage, the traffic weights and the bake's time left, each shown when it changes.
    fn show(&mut self, deployment: &ecs::ServiceDeployment) {
        let stage = deployment
            .lifecycle_stage()
            .and_then(|s| Stage::from_ecs(s.as_str()));
        if let Some(stage) = stage {
            if self.seen.stage.map(|(s, _)| s) != Some(stage) {
                self.seen.stage = Some((stage, Instant::now()));
            }
        }
        let revision = deployment.target_service_revision();
        let traffic = revision.map(|r| {
            (
                r.requested_test_traffic_weight().unwrap_or_default(),
                r.requested_production_traffic_weight().unwrap_or_default(),
            )
        });
        let mut line = match self.seen.stage {
            Some((stage, _)) => format!("{stage}: {}", stage.describe()),
            None => "service deployment PENDING".to_owned(),
        };
        if let Some((test, production)) = traffic.filter(|_| self.seen.stage.is_some()) {
            line.push_str(&format!(
                " (new revision: test {test}%, production {production}%)"
            ));
        }
        if let Some(left) = self.bake_left() {
            line.push_str(&format!(", {left} left"));
        }
        self.seen.reached_production |= traffic.is_some_and(|(_, p)| p > 0.0);
        if line != self.seen.shown {
            let exec = self.exec;
            exec.progress(
                Some(self.name),
                self.phase,
                StepState::Progress,
                line.clone(),
            );
            self.seen.shown = line;
        }
    }

    /// The bake's time left on AWS's clock, in whole minutes (rounded up), while baking.
    fn bake_left(&self) -> Option<String> {
        let (Stage::BakeTime, since) = self.seen.stage? else {
            return None;
        };
        let bake = self.roll.unit.target.config.delivery.bake();
        let elapsed = since
            .elapsed()
            .mul_f64(self.exec.options.time_scale.max(1.0));
        let minutes = bake.saturating_sub(elapsed).as_secs().div_ceil(60);
        Some(format!("{minutes}m"))
    }

    /// ECS waits at the tool's pause: the new revision has the test listener. Checks it,
    /// then continues or rolls back.
    async fn at_pause(&mut self, hook: &ecs::DeploymentLifecycleHookDetail) -> Result<()> {
        let hook_id = hook.hook_id().context("a paused hook has an id")?;
        self.seen.resolved = true;
        let (action, said) = match self.checks_on_test().await {
            Ok(()) => (
                ecs::DeploymentLifecycleHookAction::Continue,
                "checks passed on the test listener: continuing, production traffic moves next"
                    .to_owned(),
            ),
            Err((by, why)) => {
                let said = format!("{why}: rolling back, production never served it");
                self.seen.ours = Some((by, why));
                (ecs::DeploymentLifecycleHookAction::Rollback, said)
            }
        };
        let continuing = action == ecs::DeploymentLifecycleHookAction::Continue;
        (self.exec.aws.ecs.continue_service_deployment())
            .service_deployment_arn(self.arn)
            .hook_id(hook_id)
            .action(action)
            .send()
            .await
            .aws_context(|| format!("resolving the pause of {}", crate::text::short(self.arn)))?;
        if continuing {
            self.exec.record(self.name, Fact::Continued);
        }
        let exec = self.exec;
        exec.progress(Some(self.name), self.phase, StepState::Progress, said);
        Ok(())
    }

    /// The version-aware health check and the smoke test, on the test listener.
    async fn checks_on_test(&self) -> Result<(), (RolledBackBy, String)> {
        let step = &self.roll.unit;
        let config = &step.target.config;
        match (&self.listeners.test, config.health) {
            (Some(test), true) => {
                let url = format!("{}{}", test.trim_end_matches('/'), config.health_path);
                health::until_healthy(self.exec, step, &url, self.phase)
                    .await
                    .map_err(|err| (RolledBackBy::HealthCheck, format!("{err:#}")))?;
                let passed = format!("{url} answers with this deploy's version");
                let exec = self.exec;
                exec.progress(Some(self.name), self.phase, StepState::Progress, passed);
            }
            (None, true) => self.exec.report.warn(format!(
                "{}: the new revision was not health-checked on the test listener: no test URL is known (`test_url` in {})",
                self.name,
                crate::config::FILE_NAME
            )),
            (_, false) => {}
        }
        let test = self.listeners.test.as_deref();
        smoke::run(self.exec, step, SmokeStage::Test, test, self.phase)
            .await
            .map_err(|why| (smoke_by(step, SmokeStage::Test), why))
    }

    /// Production traffic reached the new revision: the smoke test against production,
    /// once; a failure rolls the deployment back while the old revision still runs.
    async fn in_production(&mut self) -> Result<()> {
        self.seen.smoked_production = true;
        let step = &self.roll.unit;
        let production = self.listeners.production.as_deref();
        let Err(why) = smoke::run(
            self.exec,
            step,
            SmokeStage::Production,
            production,
            self.phase,
        )
        .await
        else {
            return Ok(());
        };
        self.seen.ours = Some((smoke_by(step, SmokeStage::Production), why.clone()));
        let exec = self.exec;
        let said = roll_back(exec.aws, self.arn).await;
        exec.progress(
            Some(self.name),
            self.phase,
            StepState::Progress,
            format!("{why}; {said}"),
        );
        Ok(())
    }

    /// ECS went back to the previous revision: recorded with why, as the roll's error.
    fn rolled_back(&self, deployment: &ecs::ServiceDeployment) -> anyhow::Error {
        let (by, why) = match &self.seen.ours {
            Some((by, why)) => (by.clone(), why.clone()),
            None => {
                let reason = deployment
                    .status_reason()
                    .unwrap_or("no reason given")
                    .to_owned();
                (cause(deployment), reason)
            }
        };
        self.exec
            .record(self.name, Fact::RolledBackBy { by: by.clone() });
        self.exec.record(
            self.name,
            Fact::Outcome {
                outcome: UnitOutcome::RolledBack,
            },
        );
        let production = if self.seen.reached_production {
            "production traffic went back to the previous revision"
        } else {
            "production never served it"
        };
        Error::RolledBack(format!(
            "{} of {} was rolled back by {by}: {why}; {production} (service deployment {})",
            self.phase,
            self.name,
            crate::text::short(self.arn)
        ))
        .into()
    }
}

/// The tool's PAUSE hook, when ECS waits at it.
fn awaiting_pause(
    deployment: &ecs::ServiceDeployment,
) -> Option<&ecs::DeploymentLifecycleHookDetail> {
    deployment.lifecycle_hook_details().iter().find(|h| {
        h.target_type() == Some(&ecs::DeploymentLifecycleHookTargetType::Pause)
            && h.status() == Some(&ecs::DeploymentLifecycleHookStatus::AwaitingAction)
    })
}

fn smoke_by(step: &ServiceStep, stage: SmokeStage) -> RolledBackBy {
    RolledBackBy::SmokeTest {
        command: smoke::command_of(step),
        stage,
    }
}

/// Why ECS rolled a deployment back that the tool did not: its alarms (by name), a pause
/// that timed out, the circuit breaker, or a person.
pub fn cause(deployment: &ecs::ServiceDeployment) -> RolledBackBy {
    let triggered = deployment
        .alarms()
        .map(|a| a.triggered_alarm_names().to_vec())
        .unwrap_or_default();
    if !triggered.is_empty() {
        return RolledBackBy::Alarm { alarms: triggered };
    }
    let timed_out = (deployment.lifecycle_hook_details().iter())
        .any(|h| h.status() == Some(&ecs::DeploymentLifecycleHookStatus::TimedOut));
    if timed_out {
        return RolledBackBy::HookTimeout;
    }
    let reason = deployment
        .status_reason()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if reason.contains("circuit breaker") {
        RolledBackBy::CircuitBreaker
    } else {
        RolledBackBy::User
    }
}

/// Why a rolling deployment ECS rolled back went back, from its service deployment
/// (`None` when ECS cannot say).
pub async fn cause_of(exec: &Executor<'_>, arn: &str) -> Option<RolledBackBy> {
    let described = (exec.aws.ecs.describe_service_deployments())
        .service_deployment_arns(arn)
        .send()
        .await
        .ok()?;
    described.service_deployments().first().map(cause)
}
