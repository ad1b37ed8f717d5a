//! Health checks after a rollout: each service's health URL must answer 200 and, where the
//! JSON body reports a `version` or `fingerprint`, the commit and fingerprint just deployed.
//! Retried until the phase's timeout, so a service that needs a moment to warm up passes.

use super::{Executor, HealthTargets};
use crate::deploy_plan::ServiceStep;
use crate::error::Error;
use crate::phase::Phase;
use crate::promotion::HealthCheck;
use crate::report::StepState;
use anyhow::Result;
use std::time::{Duration, Instant};

/// The service's health check; a failed one is recorded as the service's outcome
/// (`unhealthy`: it runs, but is not done), for the summary, the ledger and the next plan.
/// Whether it passed or nothing checked it goes in the ledger too: a promotion takes only
/// what passed.
pub async fn check(exec: &Executor<'_>, check: &ServiceStep) -> Result<String> {
    let checked = check_service(exec, check).await;
    match &checked {
        Ok(Checked::Passed(_)) => record(exec, check, HealthCheck::Passed),
        Ok(Checked::NotChecked(_)) => record(exec, check, HealthCheck::NotChecked),
        Err(err) => {
            if let Some(Error::Health(_)) = err.downcast_ref() {
                let outcome = crate::outcome::UnitOutcome::Unhealthy;
                exec.record(&check.service, super::tally::Fact::Outcome { outcome });
            }
        }
    }
    checked.map(Checked::into_line)
}

fn record(exec: &Executor<'_>, check: &ServiceStep, health: HealthCheck) {
    exec.record(&check.service, super::tally::Fact::Health { check: health });
}

/// How a health check ended well: passed, or nothing to check (said why).
enum Checked {
    Passed(String),
    NotChecked(String),
}

impl Checked {
    fn into_line(self) -> String {
        match self {
            Checked::Passed(line) => line,
            Checked::NotChecked(why) => format!("not checked: {why}"),
        }
    }
}

async fn check_service(exec: &Executor<'_>, check: &ServiceStep) -> Result<Checked> {
    let name = check.service.as_str();
    if !check.target.config.health {
        return Ok(Checked::NotChecked(
            "`health = false` in deploy.toml".into(),
        ));
    }
    if desired_count(exec, check).await? == Some(0) {
        return Ok(Checked::NotChecked(
            "its desired count is 0, nothing runs".into(),
        ));
    }
    let urls = match urls(exec, check).await? {
        Targets::Urls(urls) => urls,
        // Not a pass: said as a warning, so that nobody reads it as one.
        Targets::NotChecked(why) => {
            exec.report
                .warn(format!("health of {name} was not checked: {why}"));
            return Ok(Checked::NotChecked(why));
        }
    };
    if urls.is_empty() {
        return Err(Error::Health(format!("health of {name}: no running task to check")).into());
    }
    let expected = Expected {
        version: exec.plan.commit.clone(),
        fingerprint: check.fingerprint.clone(),
    };
    let started = Instant::now();
    for url in &urls {
        until_it_passes(exec, name, url, &expected, started, Phase::Health).await?;
    }
    smoke_in_production(exec, check).await?;
    Ok(Checked::Passed(format!(
        "{} answered 200 with this deploy's version",
        urls.len()
    )))
}

/// A rolling service's smoke test, against production once it is healthy (a shifting
/// one's ran during its bake, where a failure could still roll it back): a failure is the
/// health check's, for `--on-failure rollback` to act on.
async fn smoke_in_production(exec: &Executor<'_>, check: &ServiceStep) -> Result<()> {
    let delivery = &check.target.config.delivery;
    if delivery.smoke.is_none() || delivery.kind().shifts_traffic() {
        return Ok(());
    }
    let production = super::shift::listeners(exec, check).await?.production;
    let stage = crate::delivery::SmokeStage::Production;
    super::smoke::run(exec, check, stage, production.as_deref(), Phase::Health)
        .await
        .map_err(|why| Error::Health(format!("{}: {why}", check.service)).into())
}

/// Probes `url` until it answers 200 with this deploy's version and fingerprint; the
/// phase's timeout ends it (a health error).
pub async fn until_healthy(
    exec: &Executor<'_>,
    step: &ServiceStep,
    url: &str,
    phase: Phase,
) -> Result<()> {
    let expected = Expected {
        version: exec.plan.commit.clone(),
        fingerprint: step.fingerprint.clone(),
    };
    until_it_passes(exec, &step.service, url, &expected, Instant::now(), phase).await
}

/// The service's desired count, as ECS has it now (`None` when ECS does not say).
async fn desired_count(exec: &Executor<'_>, check: &ServiceStep) -> Result<Option<i32>> {
    use crate::aws::AwsContext as _;
    let target = &check.target;
    let described = (exec.aws.ecs.describe_services())
        .cluster(&target.cluster)
        .services(&target.ecs_service)
        .send()
        .await
        .aws_context(|| format!("describing service {}", target.ecs_service))?;
    Ok(described.services().first().map(|s| s.desired_count()))
}

/// Where a service's health is checked, or why it is not.
enum Targets {
    Urls(Vec<String>),
    NotChecked(String),
}

async fn urls(exec: &Executor<'_>, check: &ServiceStep) -> Result<Targets> {
    let target = &check.target;
    // A service that names its own URL is checked there, on any stack.
    if let (Some(_), Some(url)) = (&target.config.url, &target.health_url) {
        return Ok(Targets::Urls(vec![url.clone()]));
    }
    Ok(match &exec.options.health {
        HealthTargets::Unavailable { why } => Targets::NotChecked(why.clone()),
        HealthTargets::ServiceUrl => match &target.health_url {
            Some(url) => Targets::Urls(vec![url.clone()]),
            None => Targets::NotChecked(
                "neither the environment's service_url nor the service's url says where it answers"
                    .into(),
            ),
        },
        HealthTargets::LocalTasks { endpoint } => Targets::Urls(
            local_task_urls(endpoint, &target.cluster, &target.ecs_service)
                .await?
                .into_iter()
                .map(|url| format!("{url}{}", target.config.health_path))
                .collect(),
        ),
    })
}

/// Probes `url` until it passes, reporting each new reason it does not; the phase's
/// timeout (counted from `started`, for all of the service's URLs) ends it.
async fn until_it_passes(
    exec: &Executor<'_>,
    name: &str,
    url: &str,
    expected: &Expected,
    started: Instant,
    phase: Phase,
) -> Result<()> {
    let mut last = String::new();
    loop {
        match probe(url, expected).await {
            Ok(()) => return Ok(()),
            Err(why) if why != last => {
                let line = format!("{url}: {why}");
                exec.progress(Some(name), phase, StepState::Progress, line);
                last = why;
            }
            Err(_) => {}
        }
        if started.elapsed() >= exec.options.timeout {
            return Err(Error::Health(format!(
                "health of {name}: {url} did not pass within {}: {last}",
                humantime::format_duration(exec.options.timeout)
            ))
            .into());
        }
        tokio::time::sleep(exec.options.poll.max(Duration::from_millis(500))).await;
    }
}

struct Expected {
    version: String,
    fingerprint: String,
}

/// One GET; `Err` says what was wrong.
async fn probe(url: &str, expected: &Expected) -> Result<(), String> {
    let url = url.to_owned();
    let got = tokio::task::spawn_blocking(move || {
        let agent = crate::http::agent(Duration::from_secs(5)).map_err(|e| format!("{e:#}"))?;
        let mut response = agent
            .get(&url)
            .call()
            .map_err(|err| match crate::http::hint(&err) {
                Some(hint) => format!("{err}: {hint}"),
                None => err.to_string(),
            })?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Ok::<_, String>((status, body))
    })
    .await
    .map_err(|e| e.to_string())??;
    judge(got.0, &got.1, expected)
}

fn judge(status: u16, body: &str, expected: &Expected) -> Result<(), String> {
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Ok(());
    };
    for (field, want) in [
        ("version", &expected.version),
        ("fingerprint", &expected.fingerprint),
    ] {
        if let Some(found) = json[field].as_str() {
            if found != want {
                return Err(format!("reports {field} {found}, expected {want}"));
            }
        }
    }
    Ok(())
}

/// URLs of the service's task containers on the local stack.
async fn local_task_urls(endpoint: &str, cluster: &str, service: &str) -> Result<Vec<String>> {
    let url = format!("{endpoint}/_xtask/tasks");
    let body = tokio::task::spawn_blocking(move || crate::http::get_text(&url)).await??;
    let listed: serde_json::Value = serde_json::from_str(&body)?;
    let group = format!("service:{service}");
    Ok(listed["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["cluster"] == cluster && t["group"] == group.as_str())
        .filter_map(|t| t["url"].as_str().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Expected {
        Expected {
            version: "abc".into(),
            fingerprint: "f1".into(),
        }
    }

    #[test]
    fn status_version_and_fingerprint_must_match() {
        assert!(judge(
            200,
            r#"{"status":"ok","version":"abc","fingerprint":"f1"}"#,
            &expected()
        )
        .is_ok());
        assert!(judge(200, "ok", &expected()).is_ok());
        assert_eq!(judge(503, "", &expected()), Err("HTTP 503".into()));
        let err = judge(200, r#"{"version":"old"}"#, &expected()).unwrap_err();
        assert!(err.contains("version old"), "{err}");
    }
}
