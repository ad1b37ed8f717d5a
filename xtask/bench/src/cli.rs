//! The benchmarks' command line: `cargo xtask bench <name>`, embedded in the tool's own.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time `plan` on a generated monorepo against `git diff` and a per-service diff loop.
    Plan(BenchPlanArgs),
    /// Time a deploy of many services against single-service deploys, on the local stack
    /// with latency injected into every AWS call.
    Deploy(BenchDeployArgs),
    /// Time the deploy's one shared build of N Rust services against N separate builds.
    Build(BenchBuildArgs),
    /// Time promoting the example services to another account against rebuilding them
    /// there (cold, as on a fresh runner), on the local stack.
    Promote(BenchPromoteArgs),
    /// Time a build job's compile from an empty target folder with the shared compile
    /// cache warm against no cache (and against filling an empty one), on the local stack.
    BuildCache(BenchBuildCacheArgs),
    /// Time a build job of the example services with `auditable = true` (cargo-auditable)
    /// against without, and measure the binaries and the tool's install.
    Auditable(BenchAuditableArgs),
    /// Time shipping an app against `aws s3 sync` on the local stack.
    Spa(BenchSpaArgs),
    /// Check random manifest edits against Cargo's own resolution: every change of what
    /// `cargo tree` reports for a service must change its fingerprint.
    Features(BenchFeaturesArgs),
    /// Time a cold `cargo xtask --help` (and, with --tests, the test build) of a base
    /// revision against this tree, each from an empty target folder.
    Compile(BenchCompileArgs),
    /// The whole kill matrix: a deploy, an app's ship and a rollback, each SIGKILLed at
    /// every (phase, event kind) it emits and followed by the crash-only invariants (CI
    /// runs a fixed sample of it).
    Kill,
    /// The migration lint against squawk on the lint's corpus: unsafe files caught, safe
    /// files flagged, time.
    Lint,
}

#[derive(Debug, Args)]
pub struct BenchCompileArgs {
    /// The revision to compare against (built from a temporary git worktree).
    #[arg(long, default_value = "HEAD")]
    pub base: String,
    /// Also time a cold `cargo nextest run --workspace --no-run`.
    #[arg(long)]
    pub tests: bool,
    /// Pass `--timings` to each build (Cargo's HTML report, path printed on stderr).
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct BenchFeaturesArgs {
    /// Random edits to make (each one a commit checked with `cargo tree`).
    #[arg(long, default_value_t = 500)]
    pub cases: usize,
    /// Seed of the edits; the same seed makes the same edits.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BenchSpaArgs {
    /// Files in the generated dist.
    #[arg(long, default_value_t = 2_000)]
    pub files: usize,
    /// Parallel transfers of the tool (the awscli's default is 10).
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct BenchDeployArgs {
    /// Services in the generated monorepo.
    #[arg(long, default_value_t = 20)]
    pub services: usize,
    /// Milliseconds added to every AWS call.
    #[arg(long, default_value_t = 100)]
    pub latency_ms: u64,
    /// Whole deploys timed (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Single-service deploys timed (the slowest is the baseline).
    #[arg(long, default_value_t = 3)]
    pub singles: usize,
}

#[derive(Debug, Args)]
pub struct BenchPromoteArgs {
    /// Rebuilds and promotions timed each (the medians are reported).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct BenchBuildCacheArgs {
    /// Times each way is measured (the medians are reported).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct BenchAuditableArgs {
    /// Times each way is measured (the medians are reported).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct BenchBuildArgs {
    /// Rust services in the generated workspace.
    #[arg(long, default_value_t = 5)]
    pub services: usize,
    /// Times each comparison runs (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct BenchPlanArgs {
    /// Services in the generated monorepo.
    #[arg(long, default_value_t = 300)]
    pub services: usize,
    /// Library crates in the generated monorepo.
    #[arg(long, default_value_t = 300)]
    pub crates: usize,
    /// Tracked files in the generated monorepo.
    #[arg(long, default_value_t = 50_000)]
    pub files: usize,
    /// Commits in the generated history.
    #[arg(long, default_value_t = 3_000)]
    pub commits: usize,
    /// Timed runs of each fast command (the median is reported).
    #[arg(long, default_value_t = 15)]
    pub runs: usize,
    /// Where to generate the monorepo [default: target/bench/monorepo-<sizes>].
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Plans of other commit pairs that grow the parse cache before the grown-cache timing.
    #[arg(long, default_value_t = 200)]
    pub grow: usize,
    /// Only the parse-cache table (no release build, no comparison with git).
    #[arg(long)]
    pub cache_only: bool,
}
