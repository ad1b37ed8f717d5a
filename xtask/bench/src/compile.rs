//! `cargo xtask bench compile`: the newcomer's first wait. A cold `cargo xtask --help` (the
//! exact command, from an empty target folder, Cargo's registry already downloaded) of the
//! commit `--base` and of the working tree, one after the other in this run, and optionally
//! a cold `cargo nextest run --workspace --no-run` of each (what CI compiles before its
//! first test). `--timings` writes Cargo's own HTML report beside each build.

use crate::cli::BenchCompileArgs;
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::time::{Duration, Instant};
use xtask_aws::context::Context;

pub fn run(ctx: &Context, args: &BenchCompileArgs) -> Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("xtask-bench-compile-")
        .tempdir()?;
    let base = scratch.path().join("base");
    let path = base
        .to_str()
        .context("the scratch folder's path is not UTF-8")?;
    super::git(
        &ctx.root,
        &["worktree", "add", "--detach", "--quiet", path, &args.base],
    )?;
    let result = measure(ctx, args, &base, scratch.path());
    // The worktree is registered in the repository: always remove it.
    super::git(&ctx.root, &["worktree", "remove", "--force", path])?;
    result
}

fn measure(ctx: &Context, args: &BenchCompileArgs, base: &Path, scratch: &Path) -> Result<()> {
    let mut commands: Vec<(&str, Vec<&str>)> =
        vec![("`cargo xtask --help`", vec!["xtask", "--help"])];
    if args.tests {
        commands.push((
            "`cargo nextest run --workspace --no-run`",
            vec!["nextest", "run", "--workspace", "--no-run"],
        ));
    }
    println!(
        "| cold build | base ({}) | this tree | this / base |",
        args.base
    );
    println!("|---|---|---|---|");
    for (index, (label, command)) in commands.iter().enumerate() {
        let mut times = Vec::new();
        for (name, root) in [("base", base), ("head", ctx.root.as_path())] {
            // A folder of its own per build: each one is cold.
            let target = scratch.join(format!("target-{name}-{index}"));
            eprintln!(
                "{label} in {} (target {})",
                root.display(),
                target.display()
            );
            times.push(cold(root, &target, command, args.timings)?);
        }
        println!(
            "| {label} | {:.0} s | {:.0} s | **{:.2}×** |",
            times[0].as_secs_f64(),
            times[1].as_secs_f64(),
            times[1].as_secs_f64() / times[0].as_secs_f64()
        );
    }
    Ok(())
}

/// One cargo command from an empty target folder; its wall time.
fn cold(root: &Path, target: &Path, command: &[&str], timings: bool) -> Result<Duration> {
    let mut cargo = xtask_aws::exec::docker::cargo_command();
    cargo.current_dir(root).env("CARGO_TARGET_DIR", target);
    // `--timings` is a flag of the build, before the binary's own arguments.
    match (timings, command) {
        (true, ["xtask", rest @ ..]) => cargo
            .args(["run", "--package", "xtask", "--timings", "--"])
            .args(rest),
        (true, _) => cargo.args(command).arg("--timings"),
        (false, _) => cargo.args(command),
    };
    let started = Instant::now();
    let status = cargo.status().context("running cargo")?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("cargo {} failed in {}", command.join(" "), root.display());
    }
    if timings {
        eprintln!("timings: {}", target.join("cargo-timings").display());
    }
    Ok(elapsed)
}
