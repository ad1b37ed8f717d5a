//! The migrations gate: the service's migration task family gets a revision with the new
//! image, one task runs it (`RunTask` where the service's tasks run: its network, launch
//! type or capacity provider strategy and platform version; `migrations.command` as the
//! container's override; a client token, so a retried request never starts two), and the
//! service's container must stop with exit code 0. Sidecars are shown, not judged: ECS
//! stops them (137/143) when the migration exits. A missing exit code is a failure. A task
//! that outlives the timeout is stopped; one a killed deploy left running is waited for
//! before another starts. Success is recorded in the state bucket; no
//! service rolls unless every migration succeeded.

use super::pace::{Pace, Polled};
use super::tally::{Fact, Tally};
use super::Executor;
use crate::aws::AwsContext as _;
use crate::config::RunnerTimeout;
use crate::deploy_plan::Migration;
use crate::error::Error;
use crate::exec::ecs::{describe_stopped, register_copy, Revision};
use crate::live;
use crate::phase::Phase;
use crate::report::{task_definition_name, StepState};
use crate::state::{self, AppliedMigrations};
use crate::text::short;
use anyhow::{Context as _, Result};
use aws_sdk_ecs::types as ecs;
use std::time::Instant;

pub async fn run(exec: &Executor<'_>, migration: &Migration, earlier: &Tally) -> Result<String> {
    let started = Instant::now();
    let name = migration.unit.service.as_str();
    let image = earlier.image(name)?.to_owned();
    let fail_with = |err: anyhow::Error| Error::Migration(format!("migrations of {name}: {err:#}"));
    await_earlier(exec, migration).await?;
    let (definition, task) = launch(exec, migration, &image).await.map_err(fail_with)?;
    let stopped = wait_stopped(exec, migration, &task).await;
    exec.record(name, Fact::MigrationStopped);
    let stopped = match stopped {
        Ok(stopped) => stopped,
        Err(err) => return Err(stop_after(exec, migration, &task, err).await),
    };
    if let Err(why) = check_exit_codes(&definition, name, &stopped) {
        let container = live::container_of(&definition, name)?
            .name()
            .unwrap_or(name);
        let logs = crate::logs::report(exec.aws, &definition, container, &task).await;
        return Err(Error::Migration(format!("migrations of {name} failed: {why}{logs}")).into());
    }
    let applied = AppliedMigrations {
        tree: migration.tree.clone(),
        commit: exec.plan.commit.clone(),
        image,
        task: task.clone(),
        applied_at: crate::time::Timestamp::now(),
    };
    state::write_json(
        exec.aws,
        &exec.names.state_bucket(),
        &state::migrations_key(name),
        &applied,
    )
    .await?;
    Ok(format!(
        "task {} exited 0 in {:.1}s",
        short(&task),
        started.elapsed().as_secs_f64()
    ))
}

/// Registers the family's revision with `image` and starts its task: the family's live
/// definition (to judge the exit codes by) and the task's ARN.
async fn launch(
    exec: &Executor<'_>,
    migration: &Migration,
    image: &str,
) -> Result<(ecs::TaskDefinition, String)> {
    let name = migration.unit.service.as_str();
    let (definition, tags) =
        live::template(exec.aws, &migration.unit.target.migration_family).await?;
    let copy = Revision {
        service: name,
        fingerprint: &migration.unit.fingerprint,
        image,
        tags: &tags,
    };
    let arn = register_copy(exec, &definition, &copy).await?;
    // The container `migrations.command` overrides: the one running the service's image.
    let container = live::container_of(&definition, name)?
        .name()
        .unwrap_or(name)
        .to_owned();
    let task = start(exec, migration, &arn, &container).await?;
    exec.record(name, Fact::MigrationTask { task: task.clone() });
    exec.progress(
        Some(name),
        Phase::Migrate,
        StepState::Progress,
        format!(
            "task {} of {} started",
            short(&task),
            task_definition_name(&arn)
        ),
    );
    Ok((definition, task))
}

/// Waits, within `--timeout`, for migration tasks of the family that still run: a deploy
/// killed without warning (SIGKILL, a lost CI runner) leaves its migration running, and a
/// second one beside it would race it over the same schema. Not stopped: it may be half
/// way through a migration only it knows how to finish. Still running at the timeout, the
/// deploy fails before it changes anything, saying how to stop it.
async fn await_earlier(exec: &Executor<'_>, migration: &Migration) -> Result<()> {
    let (name, cluster) = (
        migration.unit.service.as_str(),
        &migration.unit.target.cluster,
    );
    let family = &migration.unit.target.migration_family;
    let started = Instant::now();
    let mut told = false;
    let mut pace = Pace::new(exec.options.poll);
    loop {
        // Family alone (ListTasks' default desired status is RUNNING): `startedBy` must be
        // the only filter when given (the API reference).
        let sent = (exec.aws.ecs.list_tasks())
            .cluster(cluster)
            .family(family)
            .send()
            .await;
        let what = || format!("listing running tasks of {family}");
        let running = match crate::aws::polled(sent, what)? {
            Ok(listed) => listed.task_arns().to_vec(),
            Err(why) => {
                exec.progress(Some(name), Phase::Migrate, StepState::Progress, why);
                pace.sleep(Polled::NotYet).await;
                continue;
            }
        };
        let Some(task) = running.first() else {
            return Ok(());
        };
        if !told {
            exec.progress(
                Some(name),
                Phase::Migrate,
                StepState::Progress,
                format!(
                    "migration task {} of an earlier deploy is still running: waiting for it to stop",
                    short(task)
                ),
            );
            told = true;
        }
        if started.elapsed() >= exec.options.timeout {
            return Err(Error::Timeout(format!(
                "migrations of {name}: migration task {} of an earlier deploy is still running \
                 after {}: a second migration must not run beside it; wait for it, or stop it \
                 with `aws ecs stop-task --cluster {cluster} --task {task}`, then deploy again",
                short(task),
                humantime::format_duration(exec.options.timeout)
            ))
            .into());
        }
        pace.sleep(Polled::Answer).await;
    }
}

/// Starts the one migration task; returns its ARN.
async fn start(
    exec: &Executor<'_>,
    migration: &Migration,
    task_definition: &str,
    container: &str,
) -> Result<String> {
    let (name, placement) = (migration.unit.service.as_str(), &migration.placement);
    let network = (placement.network.as_ref())
        .map(live::network_configuration)
        .transpose()?;
    let strategy = live::capacity_provider_strategy(placement)?;
    // ECS refuses a launch type beside a capacity provider strategy.
    let launch_type = (placement.launch_type.as_deref())
        .filter(|_| strategy.is_none())
        .map(ecs::LaunchType::from);
    let run = exec
        .aws
        .ecs
        .run_task()
        .cluster(&migration.unit.target.cluster)
        .task_definition(task_definition)
        .count(1)
        .started_by("xtask-migrate")
        .client_token(client_token(exec.deploy_id, name))
        .set_launch_type(launch_type)
        .set_capacity_provider_strategy(strategy)
        .set_platform_version(placement.platform_version.clone())
        .set_network_configuration(network)
        .set_overrides(command_override(migration, container))
        .send()
        .await
        .aws_context(|| format!("running the migration task of {name}"))?;
    if let Some(failure) = run.failures().first() {
        anyhow::bail!(
            "RunTask refused: {} ({})",
            failure.reason().unwrap_or("no reason"),
            failure.detail().unwrap_or_default()
        );
    }
    run.tasks()
        .first()
        .and_then(|t| t.task_arn())
        .map(str::to_owned)
        .context("RunTask started no task")
}

/// `migrations.command` for the service's container: the family Terraform declares runs
/// what it was registered with, which need not be the command deploy.toml names; and the
/// runner's timeouts from deploy.toml, which the lint counts on.
fn command_override(migration: &Migration, container: &str) -> Option<ecs::TaskOverride> {
    let migrations = migration.unit.target.config.migrations.as_ref()?;
    let timeouts: Vec<_> = (RunnerTimeout::ALL.into_iter())
        .filter_map(|timeout| {
            let ms = migrations.timeout_ms(timeout)?;
            let pair = ecs::KeyValuePair::builder().name(timeout.env());
            Some(pair.value(format!("{ms}ms")).build())
        })
        .collect();
    let container = ecs::ContainerOverride::builder()
        .name(container)
        .set_command(Some(migrations.command.clone()))
        .set_environment((!timeouts.is_empty()).then_some(timeouts))
        .build();
    Some(
        ecs::TaskOverride::builder()
            .container_overrides(container)
            .build(),
    )
}

/// A token of at most 64 characters (ECS's limit), the same for a retry of this deploy's
/// request and different for every service: a hash, since two long service names may share
/// the first 64 characters of `{deploy_id}-{service}`.
fn client_token(deploy_id: &str, service: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{deploy_id}/{service}"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("xtask-{}", &hex[..40])
}

/// A wait that ended without the task stopping (timeout, an error): stop the task, so no
/// migration runs on unwatched while the lock is released and the next deploy starts
/// another. The original failure is what is reported, with what became of the task.
async fn stop_after(
    exec: &Executor<'_>,
    migration: &Migration,
    task: &str,
    failure: anyhow::Error,
) -> anyhow::Error {
    let why = "the deploy stopped waiting for this migration";
    let what = stop(exec.aws, &migration.unit.target.cluster, task, why).await;
    let message = format!("{failure:#}; {what}");
    Error::from(failure).with_message(message).into()
}

/// Stops a migration task; says what became of it, for a report.
pub async fn stop(aws: &crate::aws::Clients, cluster: &str, task: &str, why: &str) -> String {
    let stopped = (aws.ecs.stop_task())
        .cluster(cluster)
        .task(task)
        .reason(format!("xtask: {why}"))
        .send()
        .await
        .aws_context(|| format!("stopping migration task {}", short(task)));
    match stopped {
        Ok(_) => format!("migration task {} was stopped", short(task)),
        Err(err) => format!("{err:#}: stop it before the next deploy"),
    }
}

async fn wait_stopped(exec: &Executor<'_>, migration: &Migration, task: &str) -> Result<ecs::Task> {
    let name = migration.unit.service.as_str();
    let started = Instant::now();
    let mut last = String::new();
    let mut pace = Pace::new(exec.options.poll);
    loop {
        let Some(found) = describe(exec, migration, task, started.elapsed()).await? else {
            if started.elapsed() >= exec.options.timeout {
                return Err(Error::Timeout(format!(
                    "migration task {} of {name} could not be read within {}",
                    short(task),
                    humantime::format_duration(exec.options.timeout)
                ))
                .into());
            }
            pace.sleep(Polled::NotYet).await;
            continue;
        };
        let status = found.last_status().unwrap_or("?").to_owned();
        if status == "STOPPED" {
            return Ok(found);
        }
        if status != last {
            exec.progress(
                Some(name),
                Phase::Migrate,
                StepState::Progress,
                status.clone(),
            );
            last = status;
        }
        if started.elapsed() >= exec.options.timeout {
            return Err(Error::Timeout(format!(
                    "migration task {} of {name} did not stop within {} (last status {last}); it may still be running",
                    short(task),
                    humantime::format_duration(exec.options.timeout)
                )).into());
        }
        pace.sleep(Polled::Answer).await;
    }
}

/// The migration task, or `None` while it cannot be read yet: right after `RunTask`,
/// `DescribeTasks` may answer MISSING (its reads are eventually consistent), and a
/// transient error loses one poll. MISSING past the grace period means the task is gone.
async fn describe(
    exec: &Executor<'_>,
    migration: &Migration,
    task: &str,
    waited: std::time::Duration,
) -> Result<Option<ecs::Task>> {
    let what = || format!("describing migration task {}", short(task));
    let sent = (exec.aws.ecs.describe_tasks())
        .cluster(&migration.unit.target.cluster)
        .tasks(task)
        .send()
        .await;
    let described = match crate::aws::polled(sent, what)? {
        Ok(described) => described,
        Err(why) => {
            let name = migration.unit.service.as_str();
            exec.progress(Some(name), Phase::Migrate, StepState::Progress, why);
            return Ok(None);
        }
    };
    if let Some(found) = described.tasks().first() {
        return Ok(Some(found.clone()));
    }
    let reason = (described.failures().first())
        .and_then(|f| f.reason())
        .unwrap_or("not listed")
        .to_owned();
    if waited < super::ecs::VISIBILITY_GRACE {
        return Ok(None);
    }
    anyhow::bail!(
        "migration task {} is gone ({reason} for {}s after it started)",
        short(task),
        waited.as_secs()
    )
}

/// The service's container stopped with exit code 0. Other containers (a log router, a
/// proxy) are stopped by ECS when it exits, with 137 or 143: shown, not judged.
fn check_exit_codes(
    definition: &ecs::TaskDefinition,
    service: &str,
    task: &ecs::Task,
) -> Result<(), String> {
    let judged = live::container_of(definition, service)
        .map_err(|err| format!("{err:#}"))?
        .name();
    let exit = (task.containers().iter())
        .find(|c| c.name() == judged)
        .and_then(|c| c.exit_code());
    if exit == Some(0) {
        Ok(())
    } else {
        Err(describe_stopped(task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(codes: &[Option<i32>]) -> ecs::Task {
        ecs::Task::builder()
            .task_arn("arn:aws:ecs:r:1:task/c/abc")
            .stopped_reason("Essential container in task exited")
            .set_containers(Some(
                codes
                    .iter()
                    .map(|code| {
                        ecs::Container::builder()
                            .name("api")
                            .set_exit_code(*code)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    fn definition() -> ecs::TaskDefinition {
        let container = |name: &str| ecs::ContainerDefinition::builder().name(name).build();
        ecs::TaskDefinition::builder()
            .container_definitions(container("log-router"))
            .container_definitions(container("api"))
            .build()
    }

    #[test]
    fn a_missing_exit_code_is_a_failure() {
        let definition = definition();
        assert!(check_exit_codes(&definition, "api", &task(&[Some(0)])).is_ok());
        let err = check_exit_codes(&definition, "api", &task(&[None])).unwrap_err();
        assert!(err.contains("api no exit code"), "{err}");
        let err = check_exit_codes(&definition, "api", &task(&[Some(3)])).unwrap_err();
        assert!(err.contains("api exit 3"), "{err}");
        assert!(check_exit_codes(&definition, "api", &task(&[])).is_err());
    }

    #[test]
    fn client_tokens_fit_ecs_limit_and_differ_for_long_names() {
        let deploy = "x".repeat(80);
        let (a, b) = ("a".repeat(70) + "-api", "a".repeat(70) + "-worker");
        assert!(client_token(&deploy, &a).len() <= 64);
        assert_ne!(client_token(&deploy, &a), client_token(&deploy, &b));
        assert_eq!(client_token(&deploy, &a), client_token(&deploy, &a));
    }
}
