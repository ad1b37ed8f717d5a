//! Benchmarks (`cargo xtask bench ...`): generated inputs and whole-process runs, reported
//! as ratios against a baseline measured in the same run (the machines are shared and
//! noisy, so absolute times mean little). Results go in docs/benchmarks.md.

mod auditable;
mod build;
mod build_cache;
pub mod cli;
mod compile;
mod deploy;
pub mod features;
mod lint;
mod promote;
mod spa;
mod synth;

use crate::cli::{BenchCommand, BenchFeaturesArgs, BenchPlanArgs};
use anyhow::{bail, Context as _, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};
use xtask_aws::context::Context;

pub fn run(ctx: &Context, command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Plan(args) => plan(ctx, args),
        BenchCommand::Deploy(args) => deploy::run(ctx, args),
        BenchCommand::Build(args) => build::run(ctx, args),
        BenchCommand::Promote(args) => promote::run(ctx, args),
        BenchCommand::BuildCache(args) => build_cache::run(ctx, args),
        BenchCommand::Auditable(args) => auditable::run(ctx, args),
        BenchCommand::Compile(args) => compile::run(ctx, args),
        BenchCommand::Spa(args) => spa::run(ctx, args),
        BenchCommand::Features(args) => features_property(ctx, args),
        BenchCommand::Kill => kill_matrix(ctx),
        BenchCommand::Lint => lint::run(ctx),
    }
}

/// Runs the kill matrix tests (`crash::kill_matrix_*`, xtask/tests/it/crash.rs: a deploy,
/// an app's ship, a rollback) with every point instead of CI's sample: one killed run
/// per point, on the tests' local stack, so it shares their set-up
/// (`XTASK_TEST_DATABASE_URL` is not needed).
fn kill_matrix(ctx: &Context) -> Result<()> {
    let started = Instant::now();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["nextest", "run", "--package", "xtask", "--test", "it"])
        .args(["--no-capture", "-E", "test(/^crash::kill_matrix_/)"])
        .env("XTASK_KILL_MATRIX", "all")
        .current_dir(&ctx.root)
        .status()
        .context("running cargo nextest (cargo install cargo-nextest)")?;
    if !status.success() {
        bail!("the kill matrix failed: its output is above");
    }
    println!(
        "kill matrix: every point passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs the feature property in a fresh folder under `target/bench` and prints its tally.
fn features_property(ctx: &Context, args: &BenchFeaturesArgs) -> Result<()> {
    let dir = ctx
        .root
        .join(format!("target/bench/features-seed{}", args.seed));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let started = Instant::now();
    let report = features::run_property(&dir, args.cases, args.seed)?;
    println!(
        "{} edits accepted by Cargo, {} refused (invalid manifests), in {:.0}s ({})",
        report.accepted,
        report.refused,
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    println!("\n| per service and edit | count |\n|---|---|");
    for verdict in ["deploy", "unchanged", "extra", "missed"] {
        println!("| {verdict} | {} |", report.count(verdict));
    }
    for miss in &report.misses {
        println!(
            "\nmissed {} after `{}`:\n  {}",
            miss.service,
            miss.edit,
            miss.cargo_diff.join("\n  ")
        );
    }
    if !report.misses.is_empty() {
        bail!("{} missed deploys", report.misses.len());
    }
    Ok(())
}

/// One timed run of a whole process: wall time and peak resident memory.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    max_rss_kib: i64,
}

/// Runs `command` to completion with its output discarded, measuring it with `wait4`.
fn measure(command: &mut Command) -> Result<Sample> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let pid = i32::try_from(child.id())?;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; the pid is our own child, and
    // `child` is never waited on again (std does not reap on drop).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{command:?} failed (wait status {status})");
    }
    Ok(Sample {
        wall,
        max_rss_kib: usage.ru_maxrss,
    })
}

/// Median wall time and worst peak memory over `runs` runs, after one warm-up run.
fn repeat(runs: usize, mut make: impl FnMut() -> Command) -> Result<Sample> {
    measure(&mut make())?;
    let mut samples = (0..runs.max(1))
        .map(|_| measure(&mut make()))
        .collect::<Result<Vec<_>>>()?;
    samples.sort_by_key(|s| s.wall);
    Ok(Sample {
        wall: samples[samples.len() / 2].wall,
        max_rss_kib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
    })
}

/// A `git` in `dir` to time: the measured commands stay `std::process::Command`, whose
/// children's CPU and memory [`measure`] reads.
fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(dir);
    command
}

/// A shell in `dir` for the benchmarks' set-up commands.
fn shell(dir: &Path) -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(dir);
    Ok(sh)
}

/// `git <args>` in `dir`; a failure names the command (git's stderr is the user's).
fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let sh = shell(dir)?;
    Ok(cmd!(sh, "git {args...}").quiet().run()?)
}

/// What `git <args>` prints in `dir`, trimmed.
fn git_output(dir: &Path, args: &[&str]) -> Result<String> {
    let sh = shell(dir)?;
    Ok(cmd!(sh, "git {args...}").quiet().read()?.trim().to_owned())
}

/// Builds the release binary of this xtask and returns its path.
fn release_binary(ctx: &Context) -> Result<PathBuf> {
    eprintln!("building the release xtask");
    let sh = shell(&ctx.root)?;
    cmd!(sh, "cargo build --release --quiet --package xtask").run()?;
    Ok(ctx.root.join("target/release/xtask"))
}

/// The generated monorepo for `args`, generated on first use and reused after.
fn synthetic_repo(ctx: &Context, args: &BenchPlanArgs) -> Result<(PathBuf, synth::ServiceInputs)> {
    let shape = synth::Shape {
        services: args.services,
        crates: args.crates,
        files: args.files,
        commits: args.commits,
    };
    let dir = args.repo.clone().unwrap_or_else(|| {
        ctx.root.join(format!(
            "target/bench/monorepo-s{}-c{}-f{}-n{}",
            shape.services, shape.crates, shape.files, shape.commits
        ))
    });
    // Kept inside .git so it is never a tracked (or dirty) file of the monorepo.
    let inputs_file = dir.join(".git/bench-inputs.json");
    if !inputs_file.exists() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        eprintln!("generating {} (once)", dir.display());
        let started = Instant::now();
        let generated = synth::generate(&dir, shape)?;
        std::fs::write(&inputs_file, serde_json::to_string(&generated.services)?)?;
        eprintln!("generated in {:.1}s", started.elapsed().as_secs_f64());
    }
    let services = serde_json::from_str(&std::fs::read_to_string(&inputs_file)?)?;
    Ok((dir, services))
}

fn plan(ctx: &Context, args: &BenchPlanArgs) -> Result<()> {
    let (repo, services) = synthetic_repo(ctx, args)?;
    // The cache is timed on the binary `cargo xtask` runs (this one, in its profile).
    let this = std::env::current_exe()?;
    if args.cache_only {
        return cache_growth(&this, &repo, args);
    }
    // Users run the dev-profile binary `cargo xtask` builds (this one): it is what the
    // ratios are about. The release binary's figure stands beside it.
    let release = release_binary(ctx)?;
    let files = git_output(&repo, &["ls-files"])?.lines().count();
    let commits = git_output(&repo, &["rev-list", "--count", "main"])?;
    let first = git_output(&repo, &["rev-list", "--max-parents=0", "main"])?;
    println!(
        "monorepo: {} services, {} crates, {files} files, {commits} commits ({})\n",
        services.len(),
        args.crates,
        repo.display()
    );
    println!(
        "| compared | changed paths | `git diff --name-only` (floor) | `plan` cold | `plan` warm | \
         release `plan` cold | per-service `git diff --quiet` loop | cold / floor | warm / floor | \
         release cold / floor | loop / cold | peak RSS | deploy: plan / loop |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, base) in [
        ("HEAD~1..HEAD", "main~1"),
        ("HEAD~50..HEAD", "main~50"),
        ("first..HEAD", first.as_str()),
    ] {
        let base = git_output(&repo, &["rev-parse", base])?;
        let head = git_output(&repo, &["rev-parse", "main"])?;
        let pair = PlanPair {
            repo: &repo,
            base: &base,
            head: &head,
        };
        plan_row(label, &pair, &this, &release, &services, args.runs)?;
    }
    println!(
        "\nfloor and plan: median of {} runs after a warm-up; loop: one pass over every service. \
         `plan`: the dev-profile binary `cargo xtask` runs; release: `cargo build --release`.",
        args.runs
    );
    cache_growth(&this, &repo, args)
}

/// Two commits of the synthetic monorepo to plan between.
struct PlanPair<'a> {
    repo: &'a Path,
    base: &'a str,
    head: &'a str,
}

impl PlanPair<'_> {
    /// `xtask plan` of this pair, with the parse cache `on` or `off`.
    fn command(&self, xtask: &Path, cache: &str) -> Command {
        let mut c = Command::new(xtask);
        c.env("XTASK_CACHE", cache).arg("-C").arg(self.repo);
        c.args([
            "plan", "--base", self.base, "--head", self.head, "--format", "json",
        ]);
        c
    }
}

/// One row of the plan table: the floor, the dev binary cold and warm, the release binary
/// cold, and the naive loop, which must see every service `plan` deploys change.
fn plan_row(
    label: &str,
    pair: &PlanPair,
    dev: &Path,
    release: &Path,
    services: &synth::ServiceInputs,
    runs: usize,
) -> Result<()> {
    let (repo, base, head) = (pair.repo, pair.base, pair.head);
    let changed = git_output(repo, &["diff", "--name-only", base, head])?
        .lines()
        .count();
    let floor = repeat(runs, || {
        let mut c = git_command(repo);
        c.args(["diff", "--name-only", base, head]);
        c
    })?;
    // Cold: as on a fresh clone. Warm: the parse cache holds both commits' manifests
    // (the warm-up run fills it), as on a developer machine or a CI cache.
    let cold = repeat(runs, || pair.command(dev, "off"))?;
    let warm = repeat(runs, || pair.command(dev, "on"))?;
    let release_cold = repeat(runs, || pair.command(release, "off"))?;
    let loop_started = Instant::now();
    let loop_changed = diff_loop(repo, base, head, services)?;
    let looped = loop_started.elapsed();
    let plan_deploys = deploys(pair.command(dev, "off"))?;
    if !plan_deploys.is_subset(&loop_changed) {
        bail!("plan deploys a service whose paths did not change: {plan_deploys:?} vs {loop_changed:?}");
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "| {label} | {changed} | {} | {} | {} | {} | {} | {:.1}× | {:.1}× | {:.1}× | {:.0}× | {:.0} MiB | {} / {} |",
        ms(floor.wall),
        ms(cold.wall),
        ms(warm.wall),
        ms(release_cold.wall),
        ms(looped),
        ratio(cold.wall, floor.wall),
        ratio(warm.wall, floor.wall),
        ratio(release_cold.wall, floor.wall),
        ratio(looped, cold.wall),
        cold.max_rss_kib.max(warm.max_rss_kib) as f64 / 1024.0,
        plan_deploys.len(),
        loop_changed.len(),
    );
    Ok(())
}

/// `plan HEAD~1..HEAD` without the parse cache, with a cache holding just that pair, and
/// with one grown by `args.grow` plans of other commit pairs first (as on a CI runner that
/// keeps `.git/xtask` between runs): a cache must never cost more than it saves.
fn cache_growth(xtask: &Path, repo: &Path, args: &BenchPlanArgs) -> Result<()> {
    let cache_file = repo.join(".git/xtask/cache.json");
    let plan =
        |cache: &str, base: &str, head: &str| PlanPair { repo, base, head }.command(xtask, cache);
    let reset = || match std::fs::remove_file(&cache_file) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    };
    let size = || std::fs::metadata(&cache_file).map_or(0, |m| m.len());
    let off = repeat(args.runs, || plan("off", "main~1", "main"))?;
    reset()?;
    let fresh = repeat(args.runs, || plan("on", "main~1", "main"))?;
    let fresh_size = size();
    reset()?;
    let started = Instant::now();
    for i in 0..args.grow {
        let (base, head) = (format!("main~{}", i * 5 + 7), format!("main~{}", i * 5 + 2));
        measure(&mut plan("on", &base, &head))?;
    }
    let growing = started.elapsed();
    let grown = repeat(args.runs, || plan("on", "main~1", "main"))?;
    println!(
        "\nparse cache, `plan main~1..main` with {} (median of {} runs; grown: after {} plans \
         of other pairs, main~(5i+7)..main~(5i+2), in {:.0}s):\n",
        xtask.display(),
        args.runs,
        args.grow,
        growing.as_secs_f64()
    );
    println!("| cache | plan | / off | file |\n|---|---|---|---|");
    let ratio = |s: Sample| s.wall.as_secs_f64() / off.wall.as_secs_f64();
    println!("| off | {} | 1.00× | - |", ms(off.wall));
    println!(
        "| fresh (this pair) | {} | {:.2}× | {} KiB |",
        ms(fresh.wall),
        ratio(fresh),
        fresh_size / 1024
    );
    println!(
        "| grown | {} | {:.2}× | {} KiB |",
        ms(grown.wall),
        ratio(grown),
        size() / 1024
    );
    Ok(())
}

/// The naive way: one `git diff --quiet` per service over its input paths. Returns the
/// services whose paths changed.
fn diff_loop(
    repo: &Path,
    base: &str,
    head: &str,
    services: &[(String, Vec<String>)],
) -> Result<BTreeSet<String>> {
    let mut changed = BTreeSet::new();
    for (name, paths) in services {
        let status = git_command(repo)
            .args(["diff", "--quiet", base, head, "--"])
            .args(paths)
            .stdout(Stdio::null())
            .status()?;
        match status.code() {
            Some(0) => {}
            Some(1) => {
                changed.insert(name.clone());
            }
            _ => bail!("git diff --quiet failed for {name}"),
        }
    }
    Ok(changed)
}

/// The services a JSON plan deploys.
fn deploys(mut command: Command) -> Result<BTreeSet<String>> {
    let output = command.output()?;
    if !output.status.success() {
        bail!("plan failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(plan["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["action"] == "deploy")
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect())
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// One build job (`deploy --images-only --all` of the clone at `repo` to `env`) from an
/// empty `target` folder, as a fresh CI runner runs it, on the local stack at `stack`.
fn build_job(stack: &Path, repo: &Path, env: &str, target: &Path) -> Result<Sample> {
    if target.exists() {
        std::fs::remove_dir_all(target)?;
    }
    let mut deploy = Command::new(std::env::current_exe()?);
    deploy
        .arg("-C")
        .arg(repo)
        .args(["deploy", "--env", env, "--images-only"])
        .args(["--all", "--yes", "--format", "json"])
        .env("XTASK_LOCAL_STACK", stack)
        .env("CARGO_TARGET_DIR", target);
    measure(&mut deploy)
}

/// The median wall time of `taken`, in seconds.
fn median_secs(taken: &[Sample]) -> f64 {
    let mut secs: Vec<f64> = taken.iter().map(|s| s.wall.as_secs_f64()).collect();
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

/// A clone of HEAD in `dir` (replaced) for benchmarks that deploy the example services:
/// a project name of its own, each service's repository per project and environment
/// (`bench/{project}/{env}/{name}`, so every measured run moves every image, also when an
/// earlier benchmark left images on the same stack) with `service_lines`
/// besides, and `environments` (deploy.toml tables) appended; committed.
fn example_clone(ctx: &Context, dir: &Path, service_lines: &str, environments: &str) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let source = ctx.root.display().to_string();
    git(
        &ctx.root,
        &["clone", "--quiet", &source, &dir.display().to_string()],
    )?;
    let path = dir.join("deploy.toml");
    let mut toml = std::fs::read_to_string(&path)?.replacen(
        "project = \"acme\"",
        &format!("project = \"bench{:x}\"", fastrand::u32(..)),
        1,
    );
    for service in ["api", "worker"] {
        toml = toml.replacen(
            &format!("[services.{service}]\n"),
            &format!("[services.{service}]\necr_repository = \"bench/{{project}}/{{env}}/{{name}}\"\n{service_lines}"),
            1,
        );
    }
    toml.push_str(environments);
    std::fs::write(&path, toml)?;
    commit_all(dir, "bench environments")
}

/// Commits every change to tracked files of the clone at `dir`, as the benchmarks' author.
fn commit_all(dir: &Path, message: &str) -> Result<()> {
    let author = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"];
    git(dir, &[&author[..], &["commit", "-qam", message]].concat())
}
