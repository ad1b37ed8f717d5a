//! The cargo checks: formatting, clippy with warnings denied, and the tests (nextest when
//! installed). Their output streams through so CI logs show it.

use super::Outcome;
use crate::context::Context;
use anyhow::Result;
use xshell::{cmd, Shell};

pub fn fmt(ctx: &Context) -> Result<Outcome> {
    cargo(ctx, &["fmt", "--all", "--", "--check"])
}

pub fn clippy(ctx: &Context) -> Result<Outcome> {
    cargo(
        ctx,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )
}

pub fn test(ctx: &Context) -> Result<Outcome> {
    if has_nextest(ctx) {
        cargo(
            ctx,
            &[
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ],
        )
    } else {
        cargo(ctx, &["test", "--workspace", "--locked", "--no-fail-fast"])
    }
}

fn has_nextest(ctx: &Context) -> bool {
    shell(ctx).is_ok_and(|sh| {
        let probe = cmd!(sh, "cargo nextest --version").quiet().ignore_stdout();
        probe.ignore_stderr().run().is_ok()
    })
}

/// `cargo <args>` at the root, its output streamed; a failure is the check's finding.
fn cargo(ctx: &Context, args: &[&str]) -> Result<Outcome> {
    let sh = shell(ctx)?;
    // As the deploy's own builds: no `cargo run` variables, or build scripts rerun.
    let mut command = cmd!(sh, "cargo {args...}");
    for name in crate::exec::docker::run_vars() {
        command = command.env_remove(name);
    }
    Ok(match command.run() {
        Ok(()) => Outcome::Passed,
        Err(err) => Outcome::Failed(format!("{err}; its output is above")),
    })
}

fn shell(ctx: &Context) -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(&ctx.root);
    Ok(sh)
}
