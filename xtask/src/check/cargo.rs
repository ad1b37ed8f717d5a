//! The cargo checks: formatting, clippy with warnings denied, and the tests (nextest when
//! installed). Their output streams through so CI logs show it.

use super::Outcome;
use crate::context::Context;
use anyhow::{Context as _, Result};
use std::process::Command;

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
    Command::new("cargo")
        .args(["nextest", "--version"])
        .current_dir(&ctx.root)
        .output()
        .is_ok_and(|out| out.status.success())
}

fn cargo(ctx: &Context, args: &[&str]) -> Result<Outcome> {
    let status = Command::new("cargo")
        .args(args)
        .current_dir(&ctx.root)
        .status()
        .with_context(|| format!("running `cargo {}`", args.join(" ")))?;
    Ok(if status.success() {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "`cargo {}` failed ({status}); its output is above",
            args.join(" ")
        ))
    })
}
