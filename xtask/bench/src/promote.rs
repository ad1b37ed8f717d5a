//! `cargo xtask bench promote`: what promoting this monorepo's services to production costs
//! against the rebuild a production deploy did before promotion existed, in one run. A
//! clone of this repository's HEAD deploys its example services (Rust, built on the host)
//! to `local`, in the local stack's first account; then, into the second account, each
//! measured run either rebuilds them (`deploy --build`: a cold `cargo build --release`, as
//! on a fresh CI runner, then docker build and push) or promotes them (`deploy`: one
//! registry-to-registry copy each), into a fresh environment with repositories of its own,
//! so every image really moves. Apps are left out (`--skip-spas`): a promotion copies images.

use super::{example_clone, measure, Sample};
use crate::cli::BenchPromoteArgs;
use anyhow::Result;
use std::path::PathBuf;
use std::process::Command;
use xtask_aws::aws::LOCAL_ACCOUNTS;
use xtask_aws::context::Context;
use xtask_local::Stack;

pub fn run(ctx: &Context, args: &BenchPromoteArgs) -> Result<()> {
    let mut stack = Stack::open(ctx)?;
    stack.ensure_running()?;
    let repo = clone(ctx, args)?;
    let deploy = |env: &str, extra: &[&str]| {
        let mut command = Command::new(std::env::current_exe().expect("the running xtask"));
        command
            .arg("-C")
            .arg(&repo)
            .args(["deploy", "--env", env, "--all", "--skip-spas", "--yes"])
            .args(["--format", "json"])
            .args(extra)
            .env("XTASK_LOCAL_STACK", &stack.dir);
        command
    };
    eprintln!("local: building and deploying the example services");
    measure(&mut deploy("local", &[]))?;
    let (mut rebuilds, mut promotions) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        eprintln!("run {run}/{}: rebuild in production, cold", args.runs);
        let cold = tempfile::tempdir()?;
        let mut rebuild = deploy(&format!("rebuild{run}"), &["--build"]);
        rebuild.env("CARGO_TARGET_DIR", cold.path());
        rebuilds.push(measure(&mut rebuild)?);
        eprintln!("run {run}/{}: promotion to production", args.runs);
        promotions.push(measure(&mut deploy(&format!("promote{run}"), &[]))?);
    }
    report(args, &rebuilds, &promotions);
    Ok(())
}

/// A clone of HEAD with a project name of its own and, in the second account, one
/// production-like environment per measured run, promoting from `local`.
fn clone(ctx: &Context, args: &BenchPromoteArgs) -> Result<PathBuf> {
    let dir = ctx.root.join("target/bench/promote");
    let mut environments = String::new();
    for run in 1..=args.runs {
        for env in [format!("rebuild{run}"), format!("promote{run}")] {
            environments.push_str(&format!(
                "\n[environments.{env}]\nlocal_stack = true\naccount_id = \"{}\"\nregion = \"us-east-1\"\npromote_from = \"local\"\n",
                LOCAL_ACCOUNTS[1]
            ));
        }
    }
    // The modelled stack checks no health, so what `local` ran is promotable only so.
    example_clone(ctx, &dir, "promote_unchecked = true\n", &environments)?;
    Ok(dir)
}

fn report(args: &BenchPromoteArgs, rebuilds: &[Sample], promotions: &[Sample]) {
    let median = |samples: &[Sample]| {
        let mut secs: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
        secs.sort_by(f64::total_cmp);
        secs[secs.len() / 2]
    };
    let list = |samples: &[Sample]| {
        (samples.iter())
            .map(|s| format!("{:.1}s", s.wall.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (rebuild, promotion) = (median(rebuilds), median(promotions));
    println!(
        "production deploy of the example services (api, worker), local stack, two accounts, {} runs\n",
        args.runs
    );
    println!(
        "| rebuilds (`deploy --build`) | median | promotions | median | rebuild / promotion |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {rebuild:.1}s | {} | {promotion:.1}s | {:.2}× |",
        list(rebuilds),
        list(promotions),
        rebuild / promotion
    );
}
