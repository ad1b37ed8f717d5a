//! `cargo xtask bench auditable`: what `auditable = true` (the binary's dependency list
//! embedded by cargo-auditable, for the image scanners) costs. A build job of the example
//! services (`deploy --images-only --all`) from an empty target folder, as a fresh CI runner
//! runs it, with both services auditable and with neither (the baseline), each from a clone
//! of its own; then the binaries' sizes, and the once-per-machine install of the tool.

use super::{build_job, commit_all, example_clone, measure, median_secs, Sample};
use crate::cli::BenchAuditableArgs;
use anyhow::Result;
use std::path::Path;
use xtask_aws::context::Context;
use xtask_aws::deploy_plan::CARGO_AUDITABLE;
use xtask_aws::exec::auditable::{install_command, Auditable};
use xtask_local::Stack;

/// The two ways a build job compiles, in the order each run measures them.
const WAYS: [&str; 2] = ["plain", "auditable"];

pub fn run(ctx: &Context, args: &BenchAuditableArgs) -> Result<()> {
    let mut stack = Stack::open(ctx)?;
    stack.ensure_running()?;
    let dir = ctx.root.join("target/bench/auditable");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    eprintln!("installing cargo-auditable {CARGO_AUDITABLE} into a scratch root");
    std::fs::create_dir_all(&dir)?;
    let install = measure(&mut install_command(&dir.join("install")))?;
    // And where the deploys find it, so no timed build job installs it.
    let cargo_home = xtask_aws::exec::docker::cargo_home()?;
    xtask_aws::aws::runtime()?.block_on(Auditable::installed(&cargo_home))?;
    let mut environments = String::new();
    for run in 1..=args.runs {
        for way in WAYS {
            environments.push_str(&format!(
                "\n[environments.{way}{run}]\nlocal_stack = true\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n"
            ));
        }
    }
    for way in WAYS {
        example_clone(ctx, &dir.join(way), "", &environments)?;
    }
    strip_auditable(&dir.join("plain"))?;
    let target = dir.join("target");
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); WAYS.len()];
    let mut sizes = [0u64; WAYS.len()];
    for run in 1..=args.runs {
        for (index, way) in WAYS.iter().enumerate() {
            eprintln!(
                "run {run}/{}: {way}, from an empty target folder",
                args.runs
            );
            let repo = dir.join(way);
            samples[index].push(build_job(
                &stack.dir,
                &repo,
                &format!("{way}{run}"),
                &target,
            )?);
            let api = target.join(format!("{}/release/api", xtask_aws::inputs::RUST_TARGET));
            sizes[index] = std::fs::metadata(&api)?.len();
        }
    }
    report(args.runs, &samples, sizes, install.wall.as_secs_f64());
    Ok(())
}

/// The clone at `repo` with no service auditable, committed.
fn strip_auditable(repo: &Path) -> Result<()> {
    let path = repo.join("deploy.toml");
    let toml = std::fs::read_to_string(&path)?.replace("auditable = true\n", "");
    std::fs::write(&path, toml)?;
    commit_all(repo, "no auditable services")
}

fn report(runs: usize, samples: &[Vec<Sample>], sizes: [u64; 2], install: f64) {
    let [plain, auditable] = [0, 1].map(|i| median_secs(&samples[i]));
    println!(
        "build job of the example services (api, worker: compile, docker build, push) from an empty target folder, local stack, {runs} runs\n"
    );
    println!("| plain | auditable | auditable / plain | api binary, plain | api binary, auditable | install (once per machine) |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {plain:.1}s | {auditable:.1}s | {:.2}× | {} KiB | {} KiB (+{} KiB) | {install:.1}s |",
        auditable / plain,
        sizes[0] / 1024,
        sizes[1] / 1024,
        sizes[1].saturating_sub(sizes[0]) / 1024
    );
}
