//! Command-line definitions. The doc comments are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Deploy tool of this monorepo: works out what changed, builds and ships only that.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    max_term_width = 100,
    // From the one exit enum, as the README's table is (a test holds both to it).
    after_help = crate::diag::Exit::help()
)]
pub struct Cli {
    /// Run against the monorepo rooted at DIR (holding deploy.toml) instead of this one.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Trace what the tool does on stderr: `-v` every AWS request, retry and request id
    /// and every subprocess line; `-vv` everything. `RUST_LOG` (a tracing filter) wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide, offline, which services and apps must deploy between two commits, and why.
    Plan(PlanArgs),
    /// Show every input of one service or app, its fingerprint, and what differs from a base.
    Explain(ExplainArgs),
    /// Build, push, migrate and roll what changed against what is live; health-check it.
    Deploy(DeployArgs),
    /// Put services and apps back on the images and releases of an earlier commit: no build.
    Rollback(RollbackArgs),
    /// The deploy ledger of an environment, newest first.
    History(HistoryArgs),
    /// The deploy lock of an environment: who holds it; break a stale one.
    #[command(subcommand)]
    Lock(LockCommand),
    /// Run every check CI runs: format, lints, tests, deploy.toml, file ownership.
    Check(CheckArgs),
    /// The embedded local stack: an AWS emulator with ECS rollouts, and a registry.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Benchmarks (see docs/benchmarks.md).
    #[command(subcommand)]
    Bench(xtask_bench::cli::BenchCommand),
}

impl Command {
    /// Commands that print what they read and change nothing.
    pub fn only_prints(&self) -> bool {
        matches!(
            self,
            Command::Plan(_) | Command::Explain(_) | Command::History(_)
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the stack (idempotent) and create the resources of every `local_stack`
    /// environment in deploy.toml.
    Up {
        /// How ECS tasks run: `containers` (each a container on the local Docker engine,
        /// health-checked, its crashes counted by the circuit breaker, with a PostgreSQL of
        /// the stack's own for services with migrations) or `modelled` (bookkeeping only).
        /// Default: the mode the stack last ran in; on a first start, containers when
        /// Docker and PostgreSQL are installed.
        #[arg(long, value_name = "MODE")]
        tasks: Option<xtask_local::TaskMode>,
    },
    /// Stop what `up` started.
    Down,
    /// Show what runs, where, and whether it answers; exit 1 when something is down.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Wipe the emulator's, the registry's and PostgreSQL's state, then create the
    /// resources again.
    Reset,
}

/// The two commits to compare.
#[derive(Debug, Args)]
pub struct Revisions {
    /// The commit to compare against (what is deployed): any git revision.
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The commit to deploy [default: HEAD, and uncommitted input changes are reported].
    #[arg(long, value_name = "REV")]
    pub head: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub revisions: Revisions,
    /// Output format: a table, the versioned JSON plan (docs/plan-json.md), or a GitHub
    /// Actions matrix of the services to deploy.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// With `--format github-matrix`: one matrix entry per shard of at most N, each a
    /// comma-separated list of services to build together (services sharing most of
    /// their crate closure stay in one shard; the shards' compile costs are balanced).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub shards: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    GithubMatrix,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The service or app to explain.
    pub unit: String,
    #[command(flatten)]
    pub revisions: Revisions,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What `deploy` and `rollback` share: where, what, how to wait, how to report.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Environment from deploy.toml [default: its `default_env`].
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Only these services and apps (comma-separated); nothing else is touched.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub services: Vec<String>,
    /// Print the plan and the pre-flight checks, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// AWS profile (else the default credential chain).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Leave the single-page apps alone.
    #[arg(long)]
    pub skip_spas: bool,
    /// Parallel image builds, pushes and app uploads (migrations, rolls and health checks
    /// all run at once: they wait on AWS, not on this machine).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Time limit of each waiting phase (migrations, each rollout, health checks).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// What to do when a rollout or health check fails: stop, or roll every service this
    /// run rolled back to its previous task definition.
    #[arg(long, value_enum, default_value_t = OnFailure::Stop)]
    pub on_failure: OnFailure,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").args(["changed", "all"]).multiple(false)))]
pub struct DeployArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Deploy the services whose fingerprint differs from what is live (the default).
    #[arg(long)]
    pub changed: bool,
    /// Deploy every service, changed or not (existing images are reused, never rebuilt).
    #[arg(long)]
    pub all: bool,
    /// Deploy even if inputs have uncommitted changes (they are not in the images).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Build and push images, then stop: no migration, no roll, no lock, no ledger record
    /// (build jobs of one deploy push their shards at once).
    #[arg(long, conflicts_with = "promote_from")]
    pub images_only: bool,
    /// Promote what ENV ran instead of building: each service's image is copied from
    /// ENV's registry by digest, as ENV ran it, and rolled here [default: deploy.toml's
    /// `promote_from` of the environment].
    #[arg(long, value_name = "ENV", conflicts_with = "build")]
    pub promote_from: Option<String>,
    /// The commit to promote [default: the one the source environment deployed last].
    /// Empty in the environment means the default (a workflow's optional input).
    #[arg(long, value_name = "REV", env = "XTASK_PROMOTE_SHA")]
    pub sha: Option<String>,
    /// Build from this checkout even though deploy.toml says this environment promotes
    /// (`promote_from`).
    #[arg(long)]
    pub build: bool,
    /// Build nothing: every image must be in ECR under its fingerprint already (the build
    /// jobs of a fanned-out workflow pushed them); a missing one fails pre-flight, naming
    /// the build job that should have pushed it.
    #[arg(long, conflicts_with_all = ["images_only", "build"])]
    pub no_build: bool,
    /// The plan the workflow's plan job saved (`--save-plan`): this run plans again and
    /// refuses if HEAD or the live state moved since.
    #[arg(long, value_name = "FILE", conflicts_with = "save_plan")]
    pub plan: Option<std::path::PathBuf>,
    /// The SHA-256 of the --plan file, as the plan job reported it (`plan_sha256`).
    #[arg(long, value_name = "HEX", requires = "plan")]
    pub plan_sha256: Option<String>,
    /// With --dry-run: save the plan for the jobs that carry it out (their --plan).
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub save_plan: Option<std::path::PathBuf>,
    /// With --save-plan: split the images to build into at most N build jobs (services
    /// sharing most of their crate closure stay together; compile costs balanced).
    #[arg(long, value_name = "N", env = "XTASK_SHARDS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub shards: Option<u16>,
    /// With --save-plan: append the plan job's outputs to FILE (GitHub's $GITHUB_OUTPUT):
    /// plan_sha256, builds, fan_out and matrix.
    #[arg(long, value_name = "FILE", requires = "save_plan")]
    pub github_output: Option<std::path::PathBuf>,
    /// With --github-output: fan_out=true when more than N images are to be built.
    #[arg(
        long,
        value_name = "N",
        env = "XTASK_FAN_OUT_ABOVE",
        default_value_t = 4
    )]
    pub fan_out_above: usize,
}

impl DeployArgs {
    /// `--sha`, unless empty (a workflow's input left blank).
    pub fn promote_sha(&self) -> Option<&str> {
        self.sha.as_deref().filter(|sha| !sha.is_empty())
    }

    /// The environment this deploy promotes from, if it promotes: `--promote-from`, else
    /// the environment's `promote_from` unless `--build`.
    pub fn promotes_from(&self, configured: Option<&str>) -> Option<String> {
        match (&self.promote_from, self.build) {
            (Some(env), _) => Some(env.clone()),
            // `--images-only` builds: it is what a build job runs, wherever it deploys.
            (None, true) => None,
            (None, false) if self.images_only => None,
            (None, false) => configured.map(str::to_owned),
        }
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").args(["sha", "previous"]).required(true)))]
pub struct RollbackArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The commit to go back to: any git revision (a short or full id, a tag, `HEAD~3`).
    #[arg(long, value_name = "REV")]
    pub sha: Option<String>,
    /// The last successful deploy before the live one, from the ledger.
    #[arg(long)]
    pub previous: bool,
    /// Go back even though migrations were applied after that commit (the old code then
    /// runs against the newer schema).
    #[arg(long, env = "XTASK_FORCE_SCHEMA")]
    pub force_schema: bool,
    /// Go back even to images the environment's `scan` gate refuses (an emergency): each
    /// finding is shown as a warning, and the override is recorded in the ledger.
    #[arg(long, env = "XTASK_ALLOW_VULNERABLE")]
    pub allow_vulnerable: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Environment from deploy.toml [default: its `default_env`].
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// AWS profile (else the default credential chain).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: EnvArgs,
    /// Records shown, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Who holds the lock, since when, until when; exit 4 when it is held.
    Status {
        #[command(flatten)]
        target: EnvArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Remove an expired lock; `--force` also breaks one that has not expired yet (its
    /// deploy died). The ledger records who broke it.
    Release {
        #[command(flatten)]
        target: EnvArgs,
        /// Break the lock even though it has not expired.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnFailure {
    Stop,
    Rollback,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip clippy, the workflow linters and the tests (for a pre-commit hook).
    #[arg(long)]
    pub fast: bool,
    /// Migrations that exist at this revision must not be edited or deleted [default: the
    /// merge base of HEAD and origin/main, when there is one].
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
}
