//! `cargo xtask deploy`: fingerprints of HEAD against what is live → a plan (pure) →
//! every pre-flight check at once → confirmation → the lock → the executor → the ledger,
//! the lock released on every path (Ctrl-C included), the summary and the webhook.
//! `cargo xtask rollback` runs the same way for an earlier commit (`rollback.rs` finds
//! what that commit had); a promotion (`--promote-from`, or the environment's
//! `promote_from`) for the commit another environment ran, its images copied from there
//! (`promote.rs` reads what that environment ran).

mod contract;
pub mod explain;
mod handoff;
mod notify;
mod preflight;
mod promote;
pub mod rollback;

use crate::aws::{self, Clients};
use crate::cli::{DeployArgs, Format, OnFailure, RollbackArgs, RunArgs};
use crate::config::{Config, Names};
use crate::context::Context;
use crate::deploy_plan::{
    self, AppFacts, AppTarget, Command, DeployPlan, Facts, Selection, ServiceTarget,
};
use crate::diag::Exit;
use crate::error::Error;
use crate::exec::tally::Tally;
use crate::exec::{self, docker, Executor, HealthTargets, Options};
use crate::git::{Commit, Repo, Source as _};
use crate::ledger;
use crate::live::{self, Image, LiveApp, LiveService, Repository};
use crate::model::{Loader, Model};
use crate::outcome::{RunOutcome, UnitOutcome};
use crate::phase::Phase;
use crate::plan;
use crate::report::{AppSummary, Event, Reporter, ServiceSummary, Style, Summary};
use crate::spa::Shipped;
use crate::state::{self, AppliedMigrations, Lock};
use crate::time::Timestamp;
use anyhow::{Context as _, Result};
use futures_util::future::join_all;
use preflight::SchemaPolicy;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;
use xtask_local::Stack;

/// `cargo xtask deploy`.
pub fn run(ctx: &Context, args: &DeployArgs) -> Result<ExitCode> {
    start(ctx, &args.run, Mode::Deploy(args))
}

/// `cargo xtask rollback`.
pub fn rollback(ctx: &Context, args: &RollbackArgs) -> Result<ExitCode> {
    start(ctx, &args.run, Mode::Rollback(args))
}

/// What this run is.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Deploy(&'a DeployArgs),
    Rollback(&'a RollbackArgs),
}

fn start(ctx: &Context, run: &RunArgs, mode: Mode<'_>) -> Result<ExitCode> {
    let repo = Repo::open(&ctx.root)?;
    let head = repo.resolve("HEAD", "HEAD")?;
    let mut loader = Loader::new(&repo);
    let model = loader.load(&head, true)?;
    let config = model
        .config
        .clone()
        .expect("loaded with a required deploy.toml");
    let env = environment_name(&config, run.env.as_deref())?;
    let (promote_from, saved) = validate(&repo, &config, &env, run, mode)?;
    let report = Reporter::new(Style::detect(run.format == Format::Json));
    let target = Target::open(ctx, &config, &env, &report)?;
    let environment = &config.environments[&env];
    let rt = aws::runtime()?;
    let clients = rt.block_on(target.clients(environment.region.get_ref(), run.profile.as_deref()));
    let names = config.names(&env);
    let caller = rt.block_on(Caller::ask(&clients, &env))?;
    let source = match &promote_from {
        Some(from) => Some(rt.block_on(target.source(&config, from, run.profile.as_deref()))?),
        None => None,
    };
    // A rollback deploys an earlier commit: its fingerprints name the images to go back
    // to; a promotion the commit the source ran.
    let (commit, model) = match (mode, &source) {
        (Mode::Deploy(args), Some(source)) => {
            load_at(&mut loader, source.commit(&repo, args.promote_sha())?)?
        }
        (Mode::Deploy(_), None) => (head, model),
        (Mode::Rollback(args), _) => load_at(
            &mut loader,
            rt.block_on(rollback::commit(&repo, &clients, &names, args, &report))?,
        )?,
    };
    let shows_urls = target.shows_urls(run.format);
    let deploy = Deploy {
        ctx,
        run,
        mode,
        repo: &repo,
        head: &commit,
        model: &model,
        config: &config,
        names,
        aws: &clients,
        report: &report,
        target,
        local: environment.local_stack,
        caller,
        promotion: source.as_ref(),
        handoff: saved.as_ref(),
    };
    let code = rt.block_on(deploy.run(&mut loader))?;
    loader.finish();
    if shows_urls {
        local_urls(ctx, &config, &env, &report);
    }
    Ok(ExitCode::from(code.code()))
}

/// Where each service of the environment answers, when the local stack runs its tasks as
/// containers: a newcomer's first deploy ends with something to open.
fn local_urls(ctx: &Context, config: &Config, env: &str, report: &Reporter) {
    let Ok(stack) = Stack::open(ctx) else {
        return;
    };
    let (names, tasks, balancers) = (config.names(env), stack.tasks(), stack.balancers());
    for service in &config.services {
        let group = format!("service:{}", names.ecs_service(service));
        let listeners = (balancers.iter()).find(|b| {
            b["cluster"] == names.cluster().as_str()
                && b["service"] == names.ecs_service(service).as_str()
        });
        if let Some(listeners) = listeners {
            report.info(format!(
                "{} behind the local load balancer: production {}, test {}",
                service.name,
                listeners["production_url"].as_str().unwrap_or("?"),
                listeners["test_url"].as_str().unwrap_or("?")
            ));
        }
        let urls: Vec<&str> = tasks
            .iter()
            .filter(|t| t["cluster"] == names.cluster().as_str() && t["group"] == group.as_str())
            .filter_map(|t| t["url"].as_str())
            .collect();
        if !urls.is_empty() {
            report.info(format!(
                "{} runs on the local stack at {}",
                service.name,
                urls.join(", ")
            ));
        }
    }
}

/// `--env`, else deploy.toml's `default_env`; an unknown one is a usage error.
pub fn environment_name(config: &Config, env: Option<&str>) -> Result<String> {
    let env = env.unwrap_or(&config.default_env);
    if !config.environments.contains_key(env) {
        return Err(Error::Usage(format!(
            "--env `{env}` is not an environment of deploy.toml; known: {}",
            config.environment_names().join(", ")
        ))
        .into());
    }
    Ok(env.to_owned())
}

/// What must hold before anything is read from AWS: the flags, the TLS roots (health
/// checks and the webhook need them after the deploy changed things: read now), a
/// rollback's commit and a saved plan; returns the environment a deploy promotes from and
/// the plan (`--plan`).
fn validate(
    repo: &Repo,
    config: &Config,
    env: &str,
    run: &RunArgs,
    mode: Mode<'_>,
) -> Result<(Option<String>, Option<crate::handoff::Handoff>)> {
    validate_args(config, run)?;
    crate::http::tls().map_err(|err| Error::Usage(format!("{err:#}")))?;
    let saved = match mode {
        Mode::Rollback(args) => {
            rollback::validate(repo, args)?;
            None
        }
        Mode::Deploy(args) => handoff::load(args)?,
    };
    Ok((promotion_source(config, env, mode)?, saved))
}

/// `commit` with its model.
fn load_at(loader: &mut Loader<'_>, commit: Commit) -> Result<(Commit, Model)> {
    let model = loader.load(&commit, true)?;
    Ok((commit, model))
}

/// The environment a deploy promotes from (none for a rollback), checked against
/// deploy.toml before anything is read.
fn promotion_source(config: &Config, env: &str, mode: Mode<'_>) -> Result<Option<String>> {
    let Mode::Deploy(args) = mode else {
        return Ok(None);
    };
    let configured = (config.environments[env].promote_from.as_ref()).map(|f| f.get_ref().as_str());
    let from = args.promotes_from(configured);
    match &from {
        Some(from) if from == env || !config.environments.contains_key(from) => {
            Err(Error::Usage(format!(
                "--promote-from `{from}` must name another environment of deploy.toml; known: {}",
                config.environment_names().join(", ")
            ))
            .into())
        }
        None if args.promote_sha().is_some() => Err(Error::Usage(
            "--sha names the commit to promote: it needs --promote-from ENV, or `promote_from` on the environment in deploy.toml".into(),
        )
        .into()),
        _ => Ok(from),
    }
}

/// Flags that cannot be right, before anything is read from AWS.
fn validate_args(config: &Config, args: &RunArgs) -> Result<()> {
    let unknown: Vec<&str> = args
        .services
        .iter()
        .filter(|s| config.service(s).is_none() && config.app(s).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config
            .services
            .iter()
            .map(|s| s.name.as_str())
            .chain(config.apps.iter().map(|a| a.name.as_str()))
            .collect();
        return Err(Error::Usage(format!(
            "--services names {} not in deploy.toml; services and apps: {}",
            unknown.join(", "),
            known.join(", ")
        ))
        .into());
    }
    if args.concurrency == 0 {
        return Err(Error::Usage("--concurrency must be at least 1".into()).into());
    }
    // Under a second nothing can be watched: the deploy would start rollouts and leave.
    if args.timeout < std::time::Duration::from_secs(1) {
        return Err(Error::Usage(format!(
            "--timeout {} is under 1s: each wait (a rollout, a migration, health) gets the whole timeout; give it at least 1s (e.g. 30m)",
            humantime::format_duration(args.timeout)
        ))
        .into());
    }
    Ok(())
}

/// Where the environment's AWS is.
pub struct Target {
    /// The local stack's endpoint, for a `local_stack` environment.
    endpoint: Option<String>,
    /// The environment's account: on the local stack, its access key.
    account: String,
    health: HealthTargets,
    /// Seconds of AWS's clock per real second: the local stack's time scale, else 1.
    time_scale: f64,
    /// The environment's compile cache, when it names one and sccache is there.
    build_cache: Option<exec::BuildCache>,
}

impl Target {
    /// The local stack (started and bootstrapped) for a `local_stack` environment, else AWS.
    pub fn open(ctx: &Context, config: &Config, env: &str, report: &Reporter) -> Result<Target> {
        if config.environments[env].local_stack {
            Target::local(ctx, config, env, report)
        } else {
            let sccache = || {
                xtask_local::sccache_of_user().ok_or_else(|| "sccache is not installed".to_owned())
            };
            Ok(Target {
                endpoint: None,
                account: config.environments[env].account_id.get_ref().clone(),
                health: HealthTargets::ServiceUrl,
                time_scale: 1.0,
                build_cache: build_cache(config, env, sccache),
            })
        }
    }

    /// The local stack, started if it is not running, with this environment's resources.
    fn local(ctx: &Context, config: &Config, env: &str, report: &Reporter) -> Result<Target> {
        let mut stack = Stack::open(ctx)?;
        if let Some(started) = stack.ensure_running()? {
            report.info(started);
        }
        for resource in stack.bootstrap(config, env)? {
            if resource.created {
                report.info(format!("local stack: {resource}"));
            }
        }
        let endpoint = stack
            .endpoint()
            .context("the local stack has no endpoint")?;
        // An environment that names its services' URLs is checked there, as on AWS (a
        // proxy or a TLS endpoint in front of the tasks); else at the tasks themselves.
        let health = if config.environments[env].service_url.is_some() {
            HealthTargets::ServiceUrl
        } else if stack.runs_containers() {
            HealthTargets::LocalTasks {
                endpoint: endpoint.clone(),
            }
        } else {
            HealthTargets::Unavailable {
                why: "the local stack models tasks without running them (`cargo xtask local up --tasks containers` runs them)".into(),
            }
        };
        let sccache = || stack.sccache().map_err(|err| format!("{err:#}"));
        Ok(Target {
            endpoint: Some(endpoint),
            account: xtask_local::local_account(config, env),
            health,
            time_scale: stack.time_scale(),
            build_cache: build_cache(config, env, sccache),
        })
    }

    /// Whether the run ends with the local tasks' URLs: for people, where tasks run as
    /// containers (the NDJSON stream ends with the summary: JSON gets none after it).
    fn shows_urls(&self, format: Format) -> bool {
        matches!(self.health, HealthTargets::LocalTasks { .. }) && format != Format::Json
    }

    /// The environment a promotion reads, with this environment's credentials in its
    /// region: the source's resource policies let them read.
    async fn source<'c>(
        &self,
        config: &'c Config,
        from: &str,
        profile: Option<&str>,
    ) -> Result<promote::Source<'c>> {
        let region = config.environments[from].region.get_ref();
        promote::Source::open(config, from, self.clients(region, profile).await).await
    }

    pub async fn clients(&self, region: &str, profile: Option<&str>) -> Clients {
        match &self.endpoint {
            Some(endpoint) => Clients::local_in(endpoint, region, &self.account).await,
            None => Clients::for_aws(region, profile).await,
        }
    }
}

/// The environment's compile cache (deploy.toml's `build_cache`) with the sccache that
/// uses it, looked for (or installed) only when there is one, or why there is none (a
/// warning if a build would have used it).
fn build_cache(
    config: &Config,
    env: &str,
    sccache: impl FnOnce() -> Result<std::path::PathBuf, String>,
) -> Option<exec::BuildCache> {
    let bucket = config.names(env).build_cache()?;
    Some(exec::BuildCache {
        sccache: sccache(),
        bucket,
    })
}

/// One deploy or rollback, from the loaded commit to the exit code.
struct Deploy<'a> {
    ctx: &'a Context,
    run: &'a RunArgs,
    mode: Mode<'a>,
    repo: &'a Repo,
    /// The commit deployed: HEAD, or the one a rollback goes back to.
    head: &'a Commit,
    model: &'a Model,
    config: &'a Config,
    names: Names<'a>,
    aws: &'a Clients,
    report: &'a Reporter,
    /// Where the environment's AWS is: health targets, time scale, compile cache.
    target: Target,
    local: bool,
    caller: Caller,
    /// A promotion's source environment, with what it ran.
    promotion: Option<&'a promote::Source<'a>>,
    /// `--plan`: what the workflow's plan job decided (see `handoff.rs`).
    handoff: Option<&'a crate::handoff::Handoff>,
}

/// Whom the credentials belong to.
pub struct Caller {
    pub account: String,
    pub arn: String,
}

impl Caller {
    /// The first AWS call of a run, tried twice only: an unreachable endpoint or missing
    /// credentials stop the run here, at once, before anything else is read.
    pub async fn ask(aws: &Clients, env: &str) -> Result<Caller> {
        let retry = aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(2);
        let asked = aws
            .sts
            .get_caller_identity()
            .customize()
            .config_override(aws_sdk_sts::config::Builder::default().retry_config(retry))
            .send()
            .await;
        match asked {
            Ok(identity) => Ok(Caller {
                account: identity.account().unwrap_or_default().to_owned(),
                arn: identity.arn().unwrap_or("unknown caller").to_owned(),
            }),
            Err(err) => {
                let why = aws::missing_credentials(&err).unwrap_or_else(|| {
                    let mut why = aws::describe("asking STS who the credentials are", &err);
                    if matches!(err, aws_sdk_sts::error::SdkError::DispatchFailure(_)) {
                        why.push_str(&format!(
                            " ({}): check the network, AWS_ENDPOINT_URL and the region",
                            Self::endpoint(aws)
                        ));
                    }
                    why
                });
                Err(Error::Check(format!(
                    "cannot reach AWS for environment {env}: {why}; nothing was changed"
                ))
                .into())
            }
        }
    }
}

impl Caller {
    /// Where STS was asked: the configured endpoint, else the region's own.
    fn endpoint(aws: &Clients) -> String {
        let region = aws.region.as_deref().unwrap_or("no region");
        let endpoint =
            (aws.endpoint.clone()).unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        format!("endpoint {endpoint}, region {region}")
    }
}

/// What was read of one service.
struct ServiceFound {
    repository: Repository,
    live: LiveService,
    existing: Option<Image>,
    applied: Option<AppliedMigrations>,
}

/// Each service's and app's names in the environment.
struct Targets {
    services: BTreeMap<String, ServiceTarget>,
    apps: BTreeMap<String, AppTarget>,
}

/// Everything read from AWS before planning, per service.
struct Gathered {
    /// The live release of each app to consider, from its bucket's manifest.
    apps: BTreeMap<String, LiveApp>,
    repositories: BTreeMap<String, Repository>,
    live: BTreeMap<String, LiveService>,
    existing: BTreeMap<String, Image>,
    applied: BTreeMap<String, AppliedMigrations>,
    /// A rollback's release to re-activate, per app.
    releases: BTreeMap<String, String>,
    /// Why each changed unit's live version differs (a deploy's only).
    explanations: explain::Explanations,
    /// What the ledger last recorded of each service (a deploy's only).
    last: BTreeMap<String, deploy_plan::LastOutcome>,
    /// A promotion's: what the source ran of each service.
    sources: BTreeMap<String, crate::promotion::SourceFacts>,
    /// A promotion's: the releases the source keeps of each app.
    app_sources: BTreeMap<String, crate::promotion::AppSourceFacts>,
}

impl Deploy<'_> {
    async fn run(&self, loader: &mut Loader<'_>) -> Result<Exit> {
        let started_at = Timestamp::now();
        let clock = Instant::now();
        self.announce();
        let gathered = self.gather(loader).await?;
        let plan = self.plan(&gathered)?;
        self.report.emit(Event::Plan { plan: plan.clone() });
        if let Some(saved) = self.handoff {
            let only = plan.images_only.then_some(self.run.services.as_slice());
            handoff::check(saved, &plan, only)?;
        }
        self.preflight(&plan, &gathered, loader).await?;
        if self.run.dry_run {
            return self.dry_run(&plan).await;
        }
        if plan.is_empty() {
            self.finish_without_changes(&plan, clock);
            return Ok(Exit::Success);
        }
        self.confirm(&plan)?;
        if plan.images_only {
            return Ok(self.push_images(&plan, started_at, clock).await);
        }
        let who = who(&self.caller.arn);
        let id = deploy_id(started_at, &self.head.sha());
        let bucket = self.names.state_bucket();
        let held = self.lock(&bucket, &id, &who, &plan).await?;
        let started = Started {
            bucket: &bucket,
            id: &id,
            who: &who,
            at: started_at,
            plan: &plan,
            summary: Outcome::started_summary(&plan, &id, clock),
        };
        let phases = self.report.tap_phases();
        started.write(self, None).await;
        let outcome = {
            // The record follows each phase until the run's events end; the lock is
            // renewed for as long as the deploy runs, however long that is.
            let execute = async {
                let outcome = self.execute(&plan, &id).await;
                self.report.untap_phases();
                outcome
            };
            let work = std::pin::pin!(futures_util::future::join(
                execute,
                started.follow(self, phases)
            ));
            let heartbeat = std::pin::pin!(self.heartbeat(&bucket, &held));
            match futures_util::future::select(work, heartbeat).await {
                futures_util::future::Either::Left(((outcome, ()), _)) => outcome,
                futures_util::future::Either::Right((never, _)) => match never {},
            }
        };
        let summary = outcome.summary(&plan, &id, clock);
        self.finish(&bucket, &held, started_at, &who, &plan, &outcome, &summary)
            .await;
        Ok(outcome.exit())
    }

    /// The run's first line: what, where, as whom.
    fn announce(&self) {
        let env = self.names.env_name;
        let environment = self.names.env;
        let doing = match (self.mode, self.promotion) {
            (Mode::Deploy(_), Some(source)) => format!(
                "promoting {} from {} ({}) to {env}",
                self.head.short(),
                source.env,
                source.provenance(self.head)
            ),
            (Mode::Deploy(_), None) => format!("deploying {} to {env}", self.head.short()),
            (Mode::Rollback(_), _) => format!("rolling {env} back to {}", self.head.short()),
        };
        self.report.info(format!(
            "{doing} (account {}, region {}, cluster {})",
            environment.account_id.get_ref(),
            environment.region.get_ref(),
            self.names.cluster()
        ));
    }

    /// `--images-only`: builds and pushes, and nothing else. No lock: an image is named by
    /// its fingerprint and pushed under immutable tags, the same whoever pushes it, so
    /// build jobs of one deploy (one shard each) push at once. No ledger record: what the
    /// environment runs did not change (the final job's deploy records the run).
    async fn push_images(&self, plan: &DeployPlan, started_at: Timestamp, clock: Instant) -> Exit {
        let id = deploy_id(started_at, &self.head.sha());
        let outcome = self.execute(plan, &id).await;
        let summary = outcome.summary(plan, &id, clock);
        self.report.emit(Event::Summary(summary));
        outcome.exit()
    }

    /// The same executor, running only the steps that preview (apps' builds and what
    /// shipping would move); no lock: nothing remote changes.
    async fn dry_run(&self, plan: &DeployPlan) -> Result<Exit> {
        let previewed = self.execute(plan, "(dry-run)").await;
        if let Some(error) = previewed.error {
            return Err(error.into());
        }
        if let Mode::Deploy(args) = self.mode {
            let saved = handoff::save(args, plan, self.model)?;
            if !saved.is_empty() {
                self.report.info(saved);
            }
        }
        self.report
            .info("dry run: pre-flight checks passed; nothing was changed");
        Ok(Exit::Success)
    }

    /// Takes the environment's deploy lock, or says who holds it (nothing changed yet).
    async fn lock(&self, bucket: &str, id: &str, who: &str, plan: &DeployPlan) -> Result<Held> {
        let lock = Lock::new(id, who, &self.head.sha(), plan.command.name());
        match state::acquire(self.aws, bucket, &lock).await? {
            state::Acquired::Taken(etag) => Ok(Held {
                lock,
                etag: std::sync::Mutex::new(Some(etag)),
            }),
            state::Acquired::Held(holder) => Err(Error::LockHeld(format!(
                "the deploy lock of {} is {}; nothing was changed",
                self.names.env_name,
                holder.map_or("held (and released since: try again)".into(), |l| l
                    .describe())
            ))
            .into()),
        }
    }

    /// Reads what runs, the image for each head fingerprint, applied migrations, and the
    /// commits that explain what changed since.
    async fn gather(&self, loader: &mut Loader<'_>) -> Result<Gathered> {
        let bucket = self.names.state_bucket();
        let known = match self.mode {
            Mode::Rollback(_) => rollback::known(self.aws, &bucket, &self.head.sha()).await?,
            Mode::Deploy(_) => rollback::Known::default(),
        };
        self.report_newer();
        let read = self
            .services()
            .map(|service| self.read_service(service, &known, &bucket));
        let (apps, releases) = self.gather_apps(&known).await?;
        let mut gathered = Gathered {
            apps,
            releases,
            repositories: BTreeMap::new(),
            live: BTreeMap::new(),
            existing: BTreeMap::new(),
            applied: BTreeMap::new(),
            explanations: explain::Explanations::default(),
            last: match self.mode {
                Mode::Deploy(_) => ledger::last_outcomes(self.aws, &bucket)
                    .await
                    .map(Some)
                    .or_else(missing_bucket_is_nothing)?
                    .unwrap_or_default(),
                Mode::Rollback(_) => BTreeMap::new(),
            },
            sources: match self.promotion {
                Some(source) => {
                    let services: Vec<&crate::config::Service> = self.services().collect();
                    let commit = self.head.sha();
                    (source.facts(&services, self.model, &commit, self.soak())).await?
                }
                None => BTreeMap::new(),
            },
            app_sources: match self.promotion {
                Some(source) => {
                    let apps: Vec<&crate::config::App> = self.apps().collect();
                    source.app_facts(&apps, self.soak()).await?
                }
                None => BTreeMap::new(),
            },
        };
        for found in join_all(read).await {
            let (name, found) = found?;
            gathered.repositories.insert(name.clone(), found.repository);
            gathered.live.insert(name.clone(), found.live);
            if let Some(image) = found.existing {
                gathered.existing.insert(name.clone(), image);
            }
            if let Some(applied) = found.applied {
                gathered.applied.insert(name, applied);
            }
        }
        if matches!(self.mode, Mode::Deploy(_)) {
            gathered.explanations = self.explain(&gathered, loader);
        }
        Ok(gathered)
    }

    /// Selected units that today's deploy.toml has and the commit deployed does not.
    fn report_newer(&self) {
        let newer: Vec<&str> = (self.config.services.iter().map(|s| &s.name))
            .chain(self.config.apps.iter().map(|a| &a.name))
            .filter(|name| self.selected(name) && !self.exists_at_commit(name))
            .map(String::as_str)
            .collect();
        if !newer.is_empty() {
            self.report.info(format!(
                "left alone: {} (not in deploy.toml at {})",
                newer.join(", "),
                self.head.short()
            ));
        }
    }

    /// One service's repository, what runs, the image for its fingerprint (a rollback's:
    /// the one its ledger recorded) and its applied migrations.
    async fn read_service(
        &self,
        service: &crate::config::Service,
        known: &rollback::Known,
        bucket: &str,
    ) -> Result<(String, ServiceFound)> {
        let repository = live::repository(self.aws, &self.names.ecr_repository(service)).await?;
        let live = live::service(self.aws, &self.names, service, &repository).await?;
        let fingerprint = &self
            .model
            .prints
            .get(&service.name)
            .context("every service has a fingerprint")?
            .fingerprint;
        let existing = match (&repository.uri, self.mode) {
            (None, _) => None,
            (Some(_), Mode::Deploy(_)) => {
                live::image_for(self.aws, &repository.name, fingerprint).await?
            }
            (Some(_), Mode::Rollback(_)) => {
                let recorded = known.digests.get(&service.name).map(String::as_str);
                rollback::image(self.aws, &repository.name, recorded, fingerprint).await?
            }
        };
        let applied = match service.migrations {
            Some(_) => live::applied_migrations(self.aws, bucket, &service.name)
                .await
                .or_else(missing_bucket_is_nothing)?,
            None => None,
        };
        let found = ServiceFound {
            repository,
            live,
            existing,
            applied,
        };
        Ok((service.name.clone(), found))
    }

    /// The reasons of every unit whose live commit explains its change; a live commit
    /// that cannot be read is reported here, once.
    fn explain(&self, gathered: &Gathered, loader: &mut Loader<'_>) -> explain::Explanations {
        let services = gathered.live.iter().map(|(name, live)| explain::LiveUnit {
            name,
            fingerprint: live.fingerprint.as_deref(),
            commit: live.commit.as_deref(),
        });
        let apps = gathered.apps.iter().map(|(name, live)| explain::LiveUnit {
            name,
            fingerprint: live.fingerprint.as_deref(),
            commit: live.commit.as_deref(),
        });
        let explanations = explain::gather(self.repo, loader, self.model, services.chain(apps));
        for unexplained in &explanations.unexplained {
            if unexplained.is_warning() {
                self.report.warn(unexplained.to_string());
            } else {
                self.report.info(unexplained.to_string());
            }
        }
        explanations
    }

    /// Whether `--services` (or its absence) selects `name`.
    fn selected(&self, name: &str) -> bool {
        self.run.services.is_empty() || self.run.services.iter().any(|s| s == name)
    }

    /// A unit of today's deploy.toml that the commit deployed did not have is left alone.
    fn exists_at_commit(&self, name: &str) -> bool {
        self.model.prints.get(name).is_some()
    }

    fn images_only(&self) -> bool {
        matches!(self.mode, Mode::Deploy(args) if args.images_only)
    }

    fn command(&self) -> Command {
        match self.mode {
            Mode::Deploy(args) => Command::Deploy {
                images_only: args.images_only,
            },
            Mode::Rollback(_) => Command::Rollback,
        }
    }

    /// This environment's `min_soak`, from now.
    fn soak(&self) -> crate::promotion::Soak {
        crate::promotion::Soak {
            min: self.names.env.min_soak(),
            now: Timestamp::now(),
        }
    }

    /// Services this run considers: those `--services` selects that the commit has.
    fn services(&self) -> impl Iterator<Item = &crate::config::Service> {
        (self.config.services.iter())
            .filter(|s| self.selected(&s.name) && self.exists_at_commit(&s.name))
    }

    /// Apps this run considers: none with `--skip-spas` or `--images-only`.
    fn apps(&self) -> impl Iterator<Item = &crate::config::App> {
        let ship = !self.run.skip_spas && !self.images_only();
        self.config
            .apps
            .iter()
            .filter(move |a| ship && self.selected(&a.name) && self.exists_at_commit(&a.name))
    }

    /// What each app runs, from its bucket's manifest; for a rollback, also the kept
    /// release the commit had.
    async fn gather_apps(
        &self,
        known: &rollback::Known,
    ) -> Result<(BTreeMap<String, LiveApp>, BTreeMap<String, String>)> {
        let read = self.apps().map(|app| async move {
            let bucket = self.names.bucket(app);
            let aws = self.aws.for_bucket(&bucket).await;
            let manifest: Option<crate::spa::manifest::Manifest> =
                state::read_json(&aws, &bucket, &crate::spa::manifest::key(&app.name))
                    .await
                    .or_else(missing_bucket_is_nothing)?;
            let active = manifest.as_ref().and_then(|m| m.active());
            let live = LiveApp {
                fingerprint: active.map(|r| r.fingerprint.clone()),
                commit: active.map(|r| r.commit.clone()),
                release: active.map(|r| r.id.clone()),
                pending_invalidation: manifest
                    .as_ref()
                    .map_or(0, |m| m.pending_invalidation.len()),
            };
            let release = match (self.mode, &manifest) {
                (Mode::Rollback(_), Some(manifest)) => rollback::release(
                    manifest,
                    known.releases.get(&app.name).map(String::as_str),
                    &self.head.sha(),
                    &self
                        .model
                        .prints
                        .get(&app.name)
                        .expect("selected")
                        .fingerprint,
                ),
                _ => None,
            };
            anyhow::Ok((app.name.clone(), live, release))
        });
        let mut lives = BTreeMap::new();
        let mut releases = BTreeMap::new();
        for read in join_all(read).await {
            let (name, live, release) = read?;
            if let Some(release) = release {
                releases.insert(name.clone(), release);
            }
            lives.insert(name, live);
        }
        Ok((lives, releases))
    }

    /// Each service's migrations folder at the commit, as a git tree id.
    fn migration_trees(&self) -> Result<BTreeMap<String, String>> {
        let snapshot = self.repo.snapshot(self.head)?;
        let mut trees = BTreeMap::new();
        for service in &self.config.services {
            if let Some(migrations) = &service.migrations {
                let dir = crate::config::join(service.path.get_ref(), migrations.dir.get_ref());
                if let Some(id) = snapshot.object_id(&dir)? {
                    trees.insert(service.name.clone(), id.to_string());
                }
            }
        }
        Ok(trees)
    }

    fn plan(&self, gathered: &Gathered) -> Result<DeployPlan> {
        let trees = self.migration_trees()?;
        let targets = self.targets(gathered);
        let facts: Vec<Facts<'_>> = self
            .model
            .prints
            .units
            .iter()
            .filter_map(|unit| {
                let service = self.config.service(&unit.unit.name)?;
                let live = gathered.live.get(&service.name)?;
                Some(Facts {
                    head: unit,
                    target: targets.services.get(&service.name)?,
                    live,
                    existing: gathered.existing.get(&service.name),
                    migrations: trees.get(&service.name).map(String::as_str),
                    applied: gathered.applied.get(&service.name).map(|a| a.tree.as_str()),
                    explained: gathered.explanations.of(&service.name),
                    last: gathered.last.get(&service.name),
                    source: gathered.sources.get(&service.name),
                })
            })
            .collect();
        let selection = Selection {
            all: matches!(self.mode, Mode::Deploy(args) if args.all),
            only: (!self.run.services.is_empty())
                .then(|| self.run.services.iter().cloned().collect()),
        };
        let apps: Vec<AppFacts<'_>> = self
            .model
            .prints
            .units
            .iter()
            .filter_map(|unit| {
                Some(AppFacts {
                    head: unit,
                    target: targets.apps.get(&unit.unit.name)?,
                    live: gathered.apps.get(&unit.unit.name)?,
                    release: gathered.releases.get(&unit.unit.name).map(String::as_str),
                    explained: gathered.explanations.of(&unit.unit.name),
                    source: gathered.app_sources.get(&unit.unit.name),
                })
            })
            .collect();
        let mut plan = deploy_plan::plan(
            self.names.env_name,
            &self.head.sha(),
            &facts,
            &apps,
            &selection,
            self.command(),
        );
        plan.promoted_from = self.promotion.map(|source| source.env.clone());
        Ok(plan)
    }

    /// Where each service and app lives in the environment, for the plan's steps.
    fn targets(&self, gathered: &Gathered) -> Targets {
        // The planned units, as the facts are: each service's own crate is its unit's.
        let services = (self.model.prints.units.iter())
            .filter_map(|unit| {
                let service = self.config.service(&unit.unit.name)?;
                let uri = gathered.repositories.get(&service.name)?.uri.clone();
                let package = unit.unit.own_crate.clone();
                let target = ServiceTarget::resolve(&self.names, service, package, uri);
                Some((service.name.clone(), target))
            })
            .collect();
        let apps = (self.config.apps.iter())
            .map(|app| (app.name.clone(), AppTarget::resolve(&self.names, app)))
            .collect();
        Targets { services, apps }
    }

    /// Every check before any action: facts read, then the pure rules; all failures are
    /// reported together, and warnings go on.
    async fn preflight(
        &self,
        plan: &DeployPlan,
        gathered: &Gathered,
        loader: &mut Loader<'_>,
    ) -> Result<()> {
        let live = contract::Live {
            repo: self.repo,
            config: self.config,
            head: self.head,
            services: &gathered.live,
            applied: &gathered.applied,
        };
        let live_code = contract::gather(&live, loader, plan)?;
        let rules = preflight::Rules {
            config: self.config,
            names: self.config.names(self.names.env_name),
            findings_block: matches!(self.mode, Mode::Deploy(_)),
            schema: match self.mode {
                Mode::Rollback(args) if args.force_schema => Some(SchemaPolicy::Force),
                Mode::Rollback(_) => Some(SchemaPolicy::Refuse),
                Mode::Deploy(_) if self.promotion.is_some() => Some(SchemaPolicy::RefusePromotion),
                Mode::Deploy(_) => None,
            },
            timeout: self.run.timeout,
            restore: self.run.on_failure == OnFailure::Rollback,
            builds: match self.mode {
                Mode::Deploy(args) if args.no_build => preflight::Builds::Forbidden {
                    handoff: self.handoff,
                },
                _ => preflight::Builds::Allowed,
            },
        };
        let reader = preflight::Reader {
            aws: self.aws,
            repo: self.repo,
            model: self.model,
            rules: &rules,
            account: &self.caller.account,
            // A promotion builds nothing from this checkout: its edits do not matter.
            check_dirty: matches!(self.mode, Mode::Deploy(args) if !args.allow_dirty)
                && self.promotion.is_none(),
            rollback_to: (matches!(self.mode, Mode::Rollback(_)) || self.promotion.is_some())
                .then_some(self.head),
        };
        let mut facts = reader.gather(plan, gathered).await?;
        facts.live_code = live_code;
        let planned = preflight::Planned {
            repositories: &gathered.repositories,
            services: &gathered.live,
        };
        let verdict = preflight::verify(plan, planned, &facts, &rules);
        for warning in &verdict.warnings {
            self.report.warn(warning.clone());
        }
        match verdict.error() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Production asks for the environment's name; others for a yes; no terminal, no
    /// question: `--yes` is required. The local stack is never asked about.
    fn confirm(&self, plan: &DeployPlan) -> Result<()> {
        use std::io::{BufRead as _, IsTerminal as _, Write as _};
        if self.run.yes || self.local {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "no terminal to confirm on: pass --yes to deploy without a question".into(),
            )
            .into());
        }
        let env = self.names.env_name;
        let count = plan.deploying().count() + plan.apps_deploying().count();
        let what = match plan.command {
            Command::Deploy { .. } => format!("Deploy {count} services and apps to {env}"),
            Command::Rollback => format!(
                "Roll {count} services and apps of {env} back to {}",
                self.head.short()
            ),
        };
        let question = if self.names.env.confirm {
            format!(
                "{what} (account {})? Type `{env}` to go on: ",
                self.names.env.account_id.get_ref()
            )
        } else {
            format!("{what}? [y/N] ")
        };
        eprint!("{question}");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        let answer = answer.trim();
        let yes = if self.names.env.confirm {
            answer == env
        } else {
            matches!(answer, "y" | "Y" | "yes")
        };
        if yes {
            Ok(())
        } else {
            Err(Error::Check("not confirmed: nothing was changed".into()).into())
        }
    }

    /// Runs the plan, racing Ctrl-C: an interrupt stops waiting, and the caller still
    /// writes the ledger and releases the lock.
    async fn execute(&self, plan: &DeployPlan, id: &str) -> Outcome {
        let docker = match docker::Docker::new() {
            Ok(docker) => docker,
            Err(err) => return Outcome::failed(err.into(), Tally::default()),
        };
        let executor = self.executor(plan, id, docker);
        let result = tokio::select! {
            result = executor.run() => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        };
        let tally = executor.tally();
        if result.is_none() {
            self.stop_migrations(&tally).await;
            self.roll_back_paused(&tally).await;
        }
        Outcome::ended(result, tally)
    }

    /// Interrupted: shifting deployments this deploy started and did not check at their
    /// pause go back through the API (`StopServiceDeployment`), never left paused on
    /// double capacity until the pause times out. Those past it continue in ECS.
    async fn roll_back_paused(&self, tally: &Tally) {
        for (service, arn) in tally.unresolved_shifts() {
            let what = exec::shift::roll_back(self.aws, arn).await;
            self.report.warn(format!("{service}: {what}"));
        }
    }

    /// Interrupted: migration tasks still running are stopped, so that none goes on
    /// unwatched after the lock is released and the next deploy starts another.
    async fn stop_migrations(&self, tally: &Tally) {
        let cluster = self.names.cluster();
        for (service, task) in tally.migrating() {
            let what =
                exec::migrate::stop(self.aws, &cluster, task, "the deploy was interrupted").await;
            self.report.warn(format!("{service}: {what}"));
        }
    }

    /// The executor of `plan`.
    fn executor<'e>(
        &'e self,
        plan: &'e DeployPlan,
        id: &'e str,
        docker: docker::Docker,
    ) -> Executor<'e> {
        Executor {
            aws: self.aws,
            names: &self.names,
            plan,
            report: self.report,
            root: &self.ctx.root,
            deploy_id: id,
            options: Options {
                concurrency: self.run.concurrency,
                timeout: self.run.timeout,
                poll: exec::ecs::poll_interval(self.local),
                rollback_on_failure: self.run.on_failure == OnFailure::Rollback,
                health: self.target.health.clone(),
                dry_run: self.run.dry_run,
                time_scale: self.target.time_scale,
                allow_vulnerable: matches!(self.mode, Mode::Rollback(args) if args.allow_vulnerable),
                build_cache: self.target.build_cache.clone(),
            },
            docker,
            tally: Default::default(),
        }
    }

    /// Renews the lock every heartbeat, with `If-Match` on our last write; never returns. A
    /// lock someone broke (the renewal refused) is reported once and left to them; a failed
    /// renewal is reported and tried again at the next beat.
    async fn heartbeat(&self, bucket: &str, held: &Held) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(state::heartbeat()).await;
            let Some(etag) = held.etag() else { continue };
            match state::renew(self.aws, bucket, &held.lock, &etag).await {
                Ok(Some(etag)) => *held.etag.lock().expect("not poisoned") = Some(etag),
                Ok(None) => {
                    *held.etag.lock().expect("not poisoned") = None;
                    self.report.warn(format!(
                        "the deploy lock of {} was broken by someone else while this deploy ran: another deploy may start",
                        self.names.env_name
                    ));
                }
                Err(err) => self.report.warn(format!(
                    "renewing the deploy lock failed, retrying: {err:#}"
                )),
            }
        }
    }

    /// The ledger, the lock, the webhook, the summary: each failure reported, none fatal.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        bucket: &str,
        held: &Held,
        started_at: Timestamp,
        who: &str,
        plan: &DeployPlan,
        outcome: &Outcome,
        summary: &Summary,
    ) {
        // The heartbeat found the lock taken from us: the record and the summary say so.
        let mut summary = Summary {
            lock_broken: held.etag().is_none(),
            ..summary.clone()
        };
        let record = ledger::Record {
            id: &held.lock.id,
            command: plan.command.name(),
            who,
            started_at,
            finished_at: Timestamp::now(),
            summary: &summary,
            plan,
            digests: outcome
                .tally
                .units
                .iter()
                .filter_map(|(n, r)| Some((n.as_str(), r.digest.as_deref()?)))
                .collect(),
            steps: &outcome.tally.timings,
            reached: None,
            promoted_from: plan.promoted_from.as_deref(),
        };
        if let Err(err) = ledger::write(self.aws, bucket, started_at, &record).await {
            self.report
                .warn(format!("the ledger record was not written: {err:#}"));
        }
        match held.etag() {
            // Broken by someone else: it is theirs now, not ours to delete.
            None => {}
            Some(etag) => match state::release(self.aws, bucket, &etag).await {
                Ok(true) => {}
                // Broken since the last heartbeat: the summary says so.
                Ok(false) => summary.lock_broken = true,
                Err(err) => self.report.warn(format!(
                    "the deploy lock was NOT released ({err:#}); release it with `cargo xtask lock release --env {}`",
                    plan.env
                )),
            },
        }
        if let Some(var) = &self.names.env.webhook_env {
            if let Err(why) = notify::post(var.get_ref(), &summary).await {
                self.report
                    .warn(format!("the deploy notification was not sent: {why}"));
            }
        }
        self.report.emit(Event::Summary(summary));
    }

    fn finish_without_changes(&self, plan: &DeployPlan, clock: Instant) {
        let outcome = Outcome {
            outcome: RunOutcome::NothingToDeploy,
            error: None,
            tally: Tally::default(),
        };
        let summary = outcome.summary(plan, "-", clock);
        self.report.emit(Event::Summary(summary));
    }
}

/// How the execution ended, and what happened to each service.
struct Outcome {
    outcome: RunOutcome,
    error: Option<Error>,
    /// What the executor's events added up to.
    tally: Tally,
}

impl Outcome {
    fn failed(error: Error, tally: Tally) -> Outcome {
        Outcome {
            outcome: RunOutcome::Failed,
            error: Some(error),
            tally,
        }
    }

    /// How the executor's run ended (`None`: interrupted), with what its events added up to.
    fn ended(result: Option<Result<(), Error>>, tally: Tally) -> Outcome {
        match result {
            Some(Ok(())) => Outcome {
                outcome: RunOutcome::Success,
                error: None,
                tally,
            },
            Some(Err(err)) => Outcome::failed(err, tally),
            None => {
                let rolling: Vec<&str> = tally.rolling().collect();
                let mut message = "interrupted".to_owned();
                if !rolling.is_empty() {
                    message.push_str(&format!(
                        "; rollouts already started continue in ECS: {}",
                        rolling.join(", ")
                    ));
                }
                Outcome {
                    outcome: RunOutcome::Interrupted,
                    error: Some(Error::Interrupted(message)),
                    tally,
                }
            }
        }
    }

    /// The exit code: success unless something failed (the error's kind says which).
    fn exit(&self) -> Exit {
        self.error.as_ref().map_or(Exit::Success, Error::exit)
    }

    /// The summary a run's `started` record carries: the plan's units, the fate of each it
    /// deploys unknown until the run ends.
    fn started_summary(plan: &DeployPlan, id: &str, clock: Instant) -> Summary {
        let started = Outcome {
            outcome: RunOutcome::Started,
            error: None,
            tally: Tally::default(),
        };
        let mut summary = started.summary(plan, id, clock);
        for service in summary
            .services
            .iter_mut()
            .filter(|s| s.action == plan::Action::Deploy)
        {
            service.outcome = UnitOutcome::Unknown;
        }
        for app in summary
            .apps
            .iter_mut()
            .filter(|a| a.action == plan::Action::Deploy)
        {
            app.outcome = UnitOutcome::Unknown;
        }
        summary
    }

    /// The summary folded from the tally: each planned unit with what happened to it.
    fn summary(&self, plan: &DeployPlan, id: &str, clock: Instant) -> Summary {
        Summary {
            services: plan
                .services
                .iter()
                .map(|s| self.service(plan, s))
                .collect(),
            apps: plan.apps.iter().map(|a| self.app(a)).collect(),
            outcome: self.outcome,
            exit_code: self.exit().code(),
            deploy_id: id.to_owned(),
            env: plan.env.clone(),
            commit: plan.commit.clone(),
            duration_seconds: clock.elapsed().as_secs_f64(),
            error: self.error.as_ref().map(Error::message),
            lock_broken: false,
        }
    }

    fn service(&self, plan: &DeployPlan, planned: &deploy_plan::ServicePlan) -> ServiceSummary {
        let result = self.unit(&planned.unit.name);
        let done = if plan.images_only {
            UnitOutcome::Pushed
        } else {
            UnitOutcome::Deployed
        };
        let deploying = planned.image.is_some();
        ServiceSummary {
            name: planned.unit.name.clone(),
            action: planned.unit.action,
            fingerprint: planned.unit.fingerprint.clone(),
            image: result.image.clone(),
            task_definition: result
                .task_definition
                .clone()
                .or_else(|| planned.live_task_definition.clone()),
            outcome: unit_outcome(deploying, result.outcome, self.exit(), done),
            health: result.health,
            service_deployment: result.service_deployment.clone().map(|(arn, _)| arn),
            rolled_back_by: result.rolled_back_by.clone(),
            scan_overridden: result.scan_overridden.clone(),
        }
    }

    fn app(&self, planned: &deploy_plan::AppPlan) -> AppSummary {
        let result = self.unit(&planned.unit.name);
        let deploying = planned.unit.action == plan::Action::Deploy;
        let shipped = result.shipped.clone().unwrap_or_default();
        AppSummary {
            name: planned.unit.name.clone(),
            action: planned.unit.action,
            fingerprint: planned.unit.fingerprint.clone(),
            outcome: unit_outcome(
                deploying,
                result.outcome,
                self.exit(),
                UnitOutcome::Deployed,
            ),
            shipped: Shipped {
                release: shipped
                    .release
                    .clone()
                    .or_else(|| planned.live_release.clone()),
                ..shipped
            },
        }
    }

    /// What is known of one unit (nothing, for one the deploy never reached).
    fn unit(&self, name: &str) -> exec::tally::UnitResult {
        self.tally.unit(name).cloned().unwrap_or_default()
    }
}

/// Reading live state, a missing bucket means nothing was deployed there: the pre-flight
/// check reports the bucket itself. Any other failure stops the deploy.
fn missing_bucket_is_nothing<T>(err: anyhow::Error) -> Result<Option<T>> {
    if err.is::<state::NoBucket>() {
        Ok(None)
    } else {
        Err(err)
    }
}

/// A unit's outcome for the summary: what its steps recorded, else what the deploy's end
/// says of a unit that never got that far.
fn unit_outcome(
    deploying: bool,
    recorded: Option<UnitOutcome>,
    exit: Exit,
    done: UnitOutcome,
) -> UnitOutcome {
    match (deploying, recorded) {
        (false, _) => UnitOutcome::Unchanged,
        (true, Some(recorded)) => recorded,
        (true, None) if exit == Exit::Interrupted => UnitOutcome::Interrupted,
        (true, None) if exit == Exit::Success => done,
        (true, None) => UnitOutcome::NotStarted,
    }
}

/// A run's `started` ledger record, written when it takes the lock and rewritten as each
/// phase begins, so that a run killed at any instant (SIGKILL, a lost CI runner) leaves a
/// record of what it meant to do and how far it got; the final record replaces it.
struct Started<'a> {
    bucket: &'a str,
    id: &'a str,
    who: &'a str,
    at: Timestamp,
    plan: &'a DeployPlan,
    summary: Summary,
}

impl Started<'_> {
    async fn write(&self, deploy: &Deploy<'_>, reached: Option<Phase>) {
        let record = ledger::Record {
            id: self.id,
            command: self.plan.command.name(),
            who: self.who,
            started_at: self.at,
            finished_at: self.at,
            summary: &self.summary,
            plan: self.plan,
            digests: BTreeMap::new(),
            steps: &[],
            reached,
            promoted_from: self.plan.promoted_from.as_deref(),
        };
        if let Err(err) = ledger::write(deploy.aws, self.bucket, self.at, &record).await {
            deploy.report.warn(format!(
                "the ledger's record of this run's start was not written: {err:#}"
            ));
        }
    }

    /// Rewrites the record as each phase begins, in order, until the phases end: every
    /// write is done before the final record is written.
    async fn follow(
        &self,
        deploy: &Deploy<'_>,
        mut phases: tokio::sync::mpsc::UnboundedReceiver<Phase>,
    ) {
        while let Some(phase) = phases.recv().await {
            self.write(deploy, Some(phase)).await;
        }
    }
}

/// Who deploys, for the lock and the ledger: the AWS principal, and the person or CI actor.
pub fn who(arn: &str) -> String {
    let person = std::env::var("GITHUB_ACTOR")
        .map(|actor| format!("github:{actor}"))
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if host.is_empty() {
        format!("{person} ({arn})")
    } else {
        format!("{person}@{host} ({arn})")
    }
}

/// `20261122T101500Z-1a2b3c4d-x7k2`: sortable, names the commit, unique.
fn deploy_id(at: Timestamp, commit: &str) -> String {
    let stamp = at.compact();
    let suffix: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(4)
        .collect::<String>()
        .to_lowercase();
    format!("{stamp}-{}-{suffix}", &commit[..8.min(commit.len())])
}

/// The deploy lock this run holds: its record, and the ETag of our last write of it
/// (`None` once someone broke it).
struct Held {
    lock: Lock,
    etag: std::sync::Mutex<Option<String>>,
}

impl Held {
    fn etag(&self) -> Option<String> {
        self.etag.lock().expect("not poisoned").clone()
    }
}
