//! `cargo xtask bench build-cache`: what the shared compile cache (deploy.toml's
//! `build_cache`, sccache on S3) saves a build job. Each run builds and pushes this
//! monorepo's example services (`deploy --images-only --all`) from an empty target folder,
//! as a fresh CI runner does, three ways: without a cache (the baseline), with an empty
//! cache (what the first job pays to fill it), and with that cache warm (every later
//! job). Each way deploys to an environment with repositories of its own, so every image
//! really builds; the target folder is emptied between them but keeps its path, as a
//! runner's checkout does (sccache's keys hold the paths).

use super::{build_job, example_clone, median_secs, Sample};
use crate::cli::BenchBuildCacheArgs;
use anyhow::Result;
use std::path::{Path, PathBuf};
use xtask_aws::context::Context;
use xtask_local::Stack;

/// The three ways a build job compiles, in the order each run measures them.
const WAYS: [&str; 3] = ["nocache", "coldcache", "warmcache"];

pub fn run(ctx: &Context, args: &BenchBuildCacheArgs) -> Result<()> {
    let mut stack = Stack::open(ctx)?;
    stack.ensure_running()?;
    // Installed before anything is timed (the deploy would install it on first use).
    stack.sccache()?;
    let dir = ctx.root.join("target/bench/build-cache");
    let repo = clone(ctx, &dir, args.runs)?;
    let target = dir.join("target");
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); WAYS.len()];
    for run in 1..=args.runs {
        for (way, taken) in WAYS.iter().zip(samples.iter_mut()) {
            eprintln!(
                "run {run}/{}: {way}, from an empty target folder",
                args.runs
            );
            taken.push(build_job(
                &stack.dir,
                &repo,
                &format!("{way}{run}"),
                &target,
            )?);
        }
    }
    report(args.runs, &samples);
    Ok(())
}

/// A clone of HEAD with a project of its own and, per run, one environment per way: the
/// cold and warm ones share that run's new bucket.
fn clone(ctx: &Context, dir: &Path, runs: usize) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let mut environments = String::new();
    for run in 1..=runs {
        for way in WAYS {
            let cache = match way {
                "nocache" => String::new(),
                _ => format!("build_cache = \"{{project}}-build-cache-{run}\"\n"),
            };
            environments.push_str(&format!(
                "\n[environments.{way}{run}]\nlocal_stack = true\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n{cache}"
            ));
        }
    }
    let repo = dir.join("repo");
    example_clone(ctx, &repo, "", &environments)?;
    Ok(repo)
}

fn report(runs: usize, samples: &[Vec<Sample>]) {
    let [none, cold, warm] = [0, 1, 2].map(|i| median_secs(&samples[i]));
    println!(
        "build job of the example services (api, worker: compile, docker build, push) from an empty target folder, local stack, {runs} runs\n"
    );
    println!(
        "| no cache | empty cache (fills it) | warm cache | no cache / warm | empty / no cache |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {none:.1}s | {cold:.1}s | {warm:.1}s | {:.2}× | {:.2}× |",
        none / warm,
        cold / none
    );
}
