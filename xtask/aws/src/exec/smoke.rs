//! A service's smoke test (`smoke` in deploy.toml): the team's own acceptance script, run
//! from the repository root with what it is to test in its environment, bounded by
//! `smoke_timeout`. Its exit status is the verdict; its last lines are the reason a person
//! reads when it fails.
//!
//! Environment: `XTASK_SMOKE_URL` (the base URL to test, when the tool knows one),
//! `XTASK_SMOKE_STAGE` (`test`: the test listener, before production traffic moved;
//! `production`: after), `XTASK_EXPECTED_VERSION` (the commit deployed),
//! `XTASK_EXPECTED_FINGERPRINT`, `XTASK_SERVICE` and `XTASK_ENV`.

use super::Executor;
use crate::delivery::SmokeStage;
use crate::deploy_plan::ServiceStep;
use crate::phase::Phase;
use crate::report::StepState;
use tokio::process::Command;

/// Lines of the smoke test's output a failure quotes.
const QUOTED_LINES: usize = 8;

/// Runs the service's smoke test against `url` at `stage`; `Err` says why it failed, with
/// its last output lines. A service with no smoke test passes.
pub async fn run(
    exec: &Executor<'_>,
    step: &ServiceStep,
    stage: SmokeStage,
    url: Option<&str>,
    phase: Phase,
) -> Result<(), String> {
    let delivery = &step.target.config.delivery;
    let Some(argv) = delivery.smoke.as_ref().map(|s| s.get_ref()) else {
        return Ok(());
    };
    let shown = command_of(step);
    exec.progress(
        Some(&step.service),
        phase,
        StepState::Progress,
        format!(
            "smoke test `{shown}` on the {} URL {}",
            stage.key(),
            url.unwrap_or("(none known)")
        ),
    );
    let command = command(exec, step, stage, url, argv);
    let limit = delivery.smoke_timeout();
    match tokio::time::timeout(limit, crate::process::output(command)).await {
        Err(_) => Err(format!(
            "smoke test `{shown}` did not finish within {} (smoke_timeout)",
            humantime::format_duration(limit)
        )),
        Ok(Err(err)) => Err(format!("smoke test `{shown}` did not start: {err}")),
        Ok(Ok(out)) => verdict(&out, &shown, stage),
    }
}

/// The smoke test's process: from the repository root, with what it tests in its
/// environment.
fn command(
    exec: &Executor<'_>,
    step: &ServiceStep,
    stage: SmokeStage,
    url: Option<&str>,
    argv: &[String],
) -> Command {
    let mut command = Command::new(program(exec, &argv[0]));
    command
        .args(&argv[1..])
        .current_dir(exec.root)
        .env("XTASK_SMOKE_STAGE", stage.key())
        .env("XTASK_EXPECTED_VERSION", &exec.plan.commit)
        .env("XTASK_EXPECTED_FINGERPRINT", &step.fingerprint)
        .env("XTASK_SERVICE", &step.service)
        .env("XTASK_ENV", &exec.plan.env);
    match url {
        Some(url) => command.env("XTASK_SMOKE_URL", url),
        None => command.env_remove("XTASK_SMOKE_URL"),
    };
    command
}

/// Passed on exit 0; otherwise how it ended and its last lines.
fn verdict(out: &std::process::Output, shown: &str, stage: SmokeStage) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(QUOTED_LINES)..].join("\n    ");
    let status =
        (out.status.code()).map_or_else(|| "was killed".to_owned(), |c| format!("exited {c}"));
    let quoted = if tail.is_empty() {
        String::new()
    } else {
        format!(":\n    {tail}")
    };
    Err(format!(
        "smoke test `{shown}` {status} on the {} URL{quoted}",
        stage.key()
    ))
}

/// The smoke test's command line, for people.
pub fn command_of(step: &ServiceStep) -> String {
    (step.target.config.delivery.smoke.as_ref())
        .map(|s| s.get_ref().join(" "))
        .unwrap_or_default()
}

/// A program named by a path inside the repository (`scripts/smoke.py`) runs from there;
/// a bare name (`python3`) is looked up on PATH.
fn program(exec: &Executor<'_>, name: &str) -> std::path::PathBuf {
    if name.contains('/') {
        exec.root.join(name)
    } else {
        name.into()
    }
}
