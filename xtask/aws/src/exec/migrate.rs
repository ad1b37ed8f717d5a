//! The migrations gate: the service's migration task family gets a revision with the new
//! image, one task runs it (`RunTask` with the service's network configuration and a client
//! token, so a retried request never starts two), and every essential container must stop
//! with exit code 0. A missing exit code is a failure. Success is recorded in the state
//! bucket; no service rolls unless every migration succeeded.

use super::tally::Tally;
use super::Executor;
use crate::aws::AwsContext as _;
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
    let family = &migration.unit.target.migration_family;
    let image = earlier.image(name)?.to_owned();
    let fail_with = |err: anyhow::Error| Error::Migration(format!("migrations of {name}: {err:#}"));
    let definition = live::task_definition(exec.aws, family)
        .await
        .map_err(fail_with)?;
    let copy = Revision {
        service: name,
        fingerprint: &migration.unit.fingerprint,
        image: &image,
    };
    let arn = register_copy(exec, &definition, &copy)
        .await
        .map_err(fail_with)?;
    let task = start(exec, migration, &arn).await.map_err(fail_with)?;
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
    let stopped = wait_stopped(exec, migration, &task).await?;
    check_exit_codes(&definition, &stopped)
        .map_err(|why| Error::Migration(format!("migrations of {name} failed: {why}")))?;
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

/// Starts the one migration task; returns its ARN.
async fn start(
    exec: &Executor<'_>,
    migration: &Migration,
    task_definition: &str,
) -> Result<String> {
    let (name, placement) = (migration.unit.service.as_str(), &migration.placement);
    let network = (placement.network.as_ref())
        .map(live::network_configuration)
        .transpose()?;
    let run = exec
        .aws
        .ecs
        .run_task()
        .cluster(&migration.unit.target.cluster)
        .task_definition(task_definition)
        .count(1)
        .started_by("xtask-migrate")
        .client_token(client_token(exec.deploy_id, name))
        .set_launch_type(placement.launch_type.as_deref().map(ecs::LaunchType::from))
        .set_network_configuration(network)
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

/// At most 64 ASCII characters, the same for a retry of this deploy's request.
fn client_token(deploy_id: &str, service: &str) -> String {
    let token = format!("{deploy_id}-{service}");
    token.chars().take(64).collect()
}

async fn wait_stopped(exec: &Executor<'_>, migration: &Migration, task: &str) -> Result<ecs::Task> {
    let name = migration.unit.service.as_str();
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let described = exec
            .aws
            .ecs
            .describe_tasks()
            .cluster(&migration.unit.target.cluster)
            .tasks(task)
            .send()
            .await
            .aws_context(|| format!("describing migration task {task}"))?;
        let found = described
            .tasks()
            .first()
            .cloned()
            .with_context(|| format!("migration task {task} is gone"))?;
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
        tokio::time::sleep(exec.options.poll).await;
    }
}

/// Every essential container stopped with exit code 0.
fn check_exit_codes(definition: &ecs::TaskDefinition, task: &ecs::Task) -> Result<(), String> {
    let essential = |name: Option<&str>| {
        definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == name)
            .is_none_or(|c| c.essential().unwrap_or(true))
    };
    let ok = !task.containers().is_empty()
        && task
            .containers()
            .iter()
            .filter(|c| essential(c.name()))
            .all(|c| c.exit_code() == Some(0));
    if ok {
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

    #[test]
    fn a_missing_exit_code_is_a_failure() {
        let definition = ecs::TaskDefinition::builder().build();
        assert!(check_exit_codes(&definition, &task(&[Some(0)])).is_ok());
        let err = check_exit_codes(&definition, &task(&[None])).unwrap_err();
        assert!(err.contains("api no exit code"), "{err}");
        let err = check_exit_codes(&definition, &task(&[Some(3)])).unwrap_err();
        assert!(err.contains("api exit 3"), "{err}");
        assert!(check_exit_codes(&definition, &task(&[])).is_err());
    }

    #[test]
    fn client_tokens_fit_ecs_limit() {
        assert!(client_token(&"x".repeat(80), "api").len() <= 64);
    }
}
