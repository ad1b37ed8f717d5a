//! `deploy.toml`: the model of environments, services and apps, and its validation.
//!
//! Parsing rejects unknown keys; validation then checks meaning (names, templates, globs,
//! paths) and reports every problem at once, each pointing at its line and column.
//! Values that later stages check against a git tree (paths, Dockerfiles) keep their span,
//! so those errors can point into `deploy.toml` too.

use crate::aws_names;
pub use crate::delivery::{Canary, Delivery, Linear, StrategyKind};
use crate::diag::{self, Diagnostic};
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// The file name at the root of every monorepo this tool deploys.
pub const FILE_NAME: &str = "deploy.toml";

/// A parsed and validated `deploy.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the text came from, for messages: `deploy.toml` or `deploy.toml at 1a2b3c4`.
    pub origin: String,
    pub source: Arc<str>,
    pub project: String,
    pub default_env: String,
    pub inputs: Inputs,
    pub environments: BTreeMap<String, Environment>,
    pub services: Vec<Service>,
    pub apps: Vec<App>,
}

/// Inputs shared by many units, and files that belong to none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Paths or globs that every Rust service's build reads (toolchain, cargo config).
    #[serde(default)]
    pub global: Vec<Spanned<String>>,
    /// Tracked files that are no unit's input on purpose (docs, CI, infra, the tool itself).
    #[serde(default)]
    pub ignore: Vec<Spanned<String>>,
}

/// One deploy target (an AWS account and region).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub account_id: Spanned<String>,
    pub region: Spanned<String>,
    /// Deploys to this environment are only allowed from this branch.
    pub branch: Option<Spanned<String>>,
    /// Ask the user to type the environment's name before deploying.
    #[serde(default)]
    pub confirm: bool,
    /// This environment is the embedded local stack (`cargo xtask local`): its endpoint and
    /// credentials come from the stack, not from the AWS configuration.
    #[serde(default)]
    pub local_stack: bool,
    pub cluster: Option<Spanned<String>>,
    pub state_bucket: Option<Spanned<String>>,
    /// Base URL of each service after a deploy, a template with `{name}` (the service):
    /// its `health_path` is checked there. Local stacks find their tasks' URLs themselves.
    pub service_url: Option<Spanned<String>>,
    /// Base URL of each service's test listener (a template like `service_url`): where a
    /// blue/green, canary or linear deployment's new revision is checked before production
    /// traffic reaches it. The local stack's load balancer says its own.
    pub test_url: Option<Spanned<String>>,
    /// Name of the environment variable that holds a Slack-compatible webhook URL, posted
    /// to at the end of each deploy. The URL is a secret: it never goes in this file.
    pub webhook_env: Option<Spanned<String>>,
    /// The environment this one promotes from: `deploy` here copies what that one ran
    /// successfully (images by digest) instead of building; a build needs `--build`.
    pub promote_from: Option<Spanned<String>>,
    /// How long a version must have run in the source environment before it may be
    /// promoted here (humantime, `24h`); none: at once.
    pub min_soak: Option<Spanned<String>>,
    /// The vulnerability gate: no image with a finding at or above `fail_on` rolls here.
    pub scan: Option<crate::scan::ScanPolicy>,
    /// The S3 bucket (a template) of the shared compile cache: the host build runs rustc
    /// through sccache, which reads and writes compiled crates there, so build jobs on
    /// other runners reuse them.
    pub build_cache: Option<Spanned<String>>,
}

impl Environment {
    /// `min_soak` as a duration (zero when unset; validation refuses what does not parse).
    pub fn min_soak(&self) -> Duration {
        self.min_soak
            .as_ref()
            .and_then(|s| humantime::parse_duration(s.get_ref()).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// A workspace crate whose binary the host builds; the image copies it.
    Rust,
    /// Anything else: the image builds from its Dockerfile alone; inputs are globs.
    Docker,
}

/// Where a Rust service's binary is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Build {
    /// By the tool on the host (one `cargo build` per service); the image copies it.
    Host,
    /// By the Dockerfile (cargo-chef style, often with a `target` stage); no host build.
    Image,
}

/// An ECS service built into a Docker image.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub name_span: Range<usize>,
    pub kind: ServiceKind,
    /// The service's folder, relative to the repository root.
    pub path: Spanned<String>,
    /// Binary name (Rust services); defaults to the package name.
    pub bin: Option<String>,
    pub dockerfile: Spanned<String>,
    /// Where a Rust service's binary is compiled (`Image` for every Docker service).
    pub build: Build,
    /// `build` as written, to check it against `kind`.
    build_written: Option<Spanned<Build>>,
    /// `auditable` as written (see [`Service::auditable`]).
    auditable: Option<Spanned<bool>>,
    /// The Dockerfile stage to build (`docker build --target`); `None`: the last.
    pub target: Option<String>,
    /// The build context folder, relative to the repository root (`""`: the root).
    /// Defaults to the service's folder, or the root for `build = "image"`.
    pub context: Spanned<String>,
    pub build_args: BTreeMap<String, String>,
    pub platform: String,
    pub inputs: Vec<Spanned<String>>,
    pub port: u16,
    pub health_path: String,
    /// Whether the service answers health checks at all (`health = false`: a worker with
    /// no ingress); a deliberate skip, not a warning.
    pub health: bool,
    /// A service with `health = false` may still be promoted (nothing checked it in the
    /// source environment: someone says it is fine).
    pub promote_unchecked: bool,
    /// The service's own base URL, a template like the environment's `service_url` (which
    /// it overrides): its `health_path` is checked there.
    pub url: Option<Spanned<String>>,
    pub ecs_service: Spanned<String>,
    pub ecr_repository: Spanned<String>,
    pub migrations: Option<Migrations>,
    /// The database the service's code uses, when it shares one whose migrations another
    /// service runs (`database = "api"`): that service's migrations must not drop what this
    /// service's live code still reads. A service with migrations uses its own by default.
    pub database: Option<Spanned<String>>,
    /// How a new version reaches its users: strategy, bakes, alarms, smoke test.
    pub delivery: Delivery,
    /// The service's own test listener URL, overriding the environment's `test_url`.
    pub test_url: Option<Spanned<String>>,
}

impl Service {
    /// Whether the host build embeds this service's dependency list (`auditable = true`,
    /// cargo-auditable), so that scanners (Trivy, Grype, OSV-Scanner) see the crates of a
    /// `FROM scratch` image. Opt-in: a machine's first such build installs the tool.
    pub fn auditable(&self) -> bool {
        self.build == Build::Host && self.auditable.as_ref().is_some_and(|a| *a.get_ref())
    }

    /// The database this service's code uses, by name (see [`Service::database`]).
    pub fn database_name(&self) -> Option<&str> {
        match (&self.database, &self.migrations) {
            (Some(named), _) => Some(named.get_ref()),
            (None, Some(_)) => Some(&self.name),
            (None, None) => None,
        }
    }
}

/// A service's schema migrations, run as a one-shot task before it rolls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migrations {
    /// Folder of `NNN_description.sql` files, relative to the service's folder.
    pub dir: Spanned<String>,
    /// Command (arguments to the image's entrypoint) that applies them.
    pub command: Vec<String>,
    /// The `lock_timeout` the runner sets on each migration (a duration: `5s`), given to
    /// the migration task as `MIGRATION_LOCK_TIMEOUT`; the lint then does not ask each file
    /// to set one.
    #[serde(default)]
    pub lock_timeout: Option<Spanned<String>>,
    /// The `statement_timeout` the runner sets on each statement (`MIGRATION_STATEMENT_TIMEOUT`):
    /// a bound on one statement, above the longest backfill or index build the files hold.
    #[serde(default)]
    pub statement_timeout: Option<Spanned<String>>,
}

/// A PostgreSQL timeout the runner sets from deploy.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerTimeout {
    Lock,
    Statement,
}

impl RunnerTimeout {
    pub const ALL: [RunnerTimeout; 2] = [RunnerTimeout::Lock, RunnerTimeout::Statement];

    /// Its key in `[services.*.migrations]`.
    pub fn key(self) -> &'static str {
        match self {
            RunnerTimeout::Lock => "lock_timeout",
            RunnerTimeout::Statement => "statement_timeout",
        }
    }

    /// The variable the migration task reads it from.
    pub fn env(self) -> &'static str {
        match self {
            RunnerTimeout::Lock => "MIGRATION_LOCK_TIMEOUT",
            RunnerTimeout::Statement => "MIGRATION_STATEMENT_TIMEOUT",
        }
    }

    /// The longest it may be, in milliseconds: a lock wait of an hour would block traffic
    /// for that long; a statement may build an index for most of a day. 0 turns either off.
    fn max_ms(self) -> u64 {
        match self {
            RunnerTimeout::Lock => 3_600_000,
            RunnerTimeout::Statement => 86_400_000,
        }
    }
}

impl Migrations {
    /// The written value of `timeout`, if deploy.toml sets it.
    pub fn timeout(&self, timeout: RunnerTimeout) -> Option<&Spanned<String>> {
        match timeout {
            RunnerTimeout::Lock => self.lock_timeout.as_ref(),
            RunnerTimeout::Statement => self.statement_timeout.as_ref(),
        }
    }

    /// `timeout` in milliseconds, as PostgreSQL's setting takes it.
    pub fn timeout_ms(&self, timeout: RunnerTimeout) -> Option<u128> {
        let written = self.timeout(timeout)?;
        humantime::parse_duration(written.get_ref())
            .ok()
            .map(|d| d.as_millis())
    }
}

/// A single-page app built to static files and served from S3 behind CloudFront.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub name_span: Range<usize>,
    pub path: Spanned<String>,
    /// Build command, run in the app's folder (an argument list, no shell).
    pub build: Vec<String>,
    /// Output folder, relative to the app's folder.
    pub dist: String,
    pub inputs: Vec<Spanned<String>>,
    pub bucket: Spanned<String>,
    /// `Cache-Control` of non-hashed, non-HTML files by glob (relative to `dist`).
    pub cache_control: BTreeMap<String, String>,
    /// Retention: a file no longer used is deleted only when none of the last
    /// `keep_releases` releases used it and it was retired `keep_days` days ago or more,
    /// `max_deletes` at most per deploy.
    pub keep_releases: usize,
    pub keep_days: u64,
    pub max_deletes: usize,
}

// ---- raw shapes, as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    project: Spanned<String>,
    default_env: Spanned<String>,
    #[serde(default)]
    inputs: Inputs,
    environments: BTreeMap<Spanned<String>, Environment>,
    #[serde(default)]
    services: BTreeMap<Spanned<String>, RawService>,
    #[serde(default)]
    apps: BTreeMap<Spanned<String>, RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    path: Spanned<String>,
    #[serde(default = "default_kind")]
    kind: ServiceKind,
    bin: Option<String>,
    dockerfile: Option<Spanned<String>>,
    build: Option<Spanned<Build>>,
    auditable: Option<Spanned<bool>>,
    target: Option<String>,
    context: Option<Spanned<String>>,
    #[serde(default)]
    build_args: BTreeMap<String, String>,
    #[serde(default = "default_platform")]
    platform: String,
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default = "default_health_path")]
    health_path: String,
    #[serde(default = "default_health")]
    health: bool,
    #[serde(default)]
    promote_unchecked: bool,
    url: Option<Spanned<String>>,
    ecs_service: Option<Spanned<String>>,
    ecr_repository: Option<Spanned<String>>,
    migrations: Option<Migrations>,
    database: Option<Spanned<String>>,
    strategy: Option<Spanned<StrategyKind>>,
    bake: Option<Spanned<String>>,
    canary: Option<Spanned<Canary>>,
    linear: Option<Spanned<Linear>>,
    #[serde(default)]
    alarms: Vec<Spanned<String>>,
    smoke: Option<Spanned<Vec<String>>>,
    smoke_timeout: Option<Spanned<String>>,
    test_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    path: Spanned<String>,
    build: Vec<String>,
    #[serde(default = "default_dist")]
    dist: String,
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
    bucket: Option<Spanned<String>>,
    #[serde(default)]
    cache_control: BTreeMap<String, String>,
    #[serde(default = "default_keep_releases")]
    keep_releases: usize,
    #[serde(default = "default_keep_days")]
    keep_days: u64,
    #[serde(default = "default_max_deletes")]
    max_deletes: usize,
}

fn default_kind() -> ServiceKind {
    ServiceKind::Rust
}
fn default_platform() -> String {
    "linux/amd64".to_owned()
}
fn default_port() -> u16 {
    8080
}
fn default_health() -> bool {
    true
}
fn default_health_path() -> String {
    "/health".to_owned()
}
fn default_dist() -> String {
    "dist".to_owned()
}
fn default_keep_releases() -> usize {
    3
}
fn default_keep_days() -> u64 {
    7
}
fn default_max_deletes() -> usize {
    200
}

/// Placeholders a template value may use.
const TEMPLATE_VARS: &[&str] = &["project", "env", "name", "region", "account_id"];

impl Config {
    /// The services whose code uses the database `service`'s migrations change: itself,
    /// and every service that names its database.
    pub fn sharing<'c>(&'c self, service: &'c Service) -> impl Iterator<Item = &'c Service> + 'c {
        let database = service.database_name();
        (self.services.iter()).filter(move |s| {
            s.name == service.name || (database.is_some() && s.database_name() == database)
        })
    }

    /// Parses and validates `source`; `origin` names it in messages.
    pub fn parse(origin: &str, source: &str) -> anyhow::Result<Config> {
        let source: Arc<str> = Arc::from(source);
        let raw: RawConfig = toml::from_str(&source).map_err(|err| {
            let diagnostic = Diagnostic {
                span: err.span(),
                message: err.message().to_owned(),
                help: None,
            };
            config_failure(origin, &source, &[diagnostic])
        })?;
        let config = Config::from_raw(origin, Arc::clone(&source), raw);
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(config_failure(origin, &source, &problems))
        }
    }

    fn from_raw(origin: &str, source: Arc<str>, raw: RawConfig) -> Config {
        let services = raw
            .services
            .into_iter()
            .map(|(name, s)| {
                let span = name.span();
                let name = name.into_inner();
                let dockerfile = s.dockerfile.unwrap_or_else(|| {
                    Spanned::new(s.path.span(), join(s.path.get_ref(), "Dockerfile"))
                });
                let build = match (s.kind, s.build.as_ref().map(Spanned::get_ref)) {
                    (ServiceKind::Docker, _) | (_, Some(Build::Image)) => Build::Image,
                    _ => Build::Host,
                };
                let context = match s.context {
                    // `.` is the repository root; any other value is checked as a path.
                    Some(context) if context.get_ref() == "." => {
                        Spanned::new(context.span(), String::new())
                    }
                    Some(context) => context,
                    None if build == Build::Image && s.kind == ServiceKind::Rust => {
                        Spanned::new(s.path.span(), String::new())
                    }
                    None => s.path.clone(),
                };
                Service {
                    ecs_service: template_or(s.ecs_service, &span, "{project}-{env}-{name}"),
                    ecr_repository: template_or(s.ecr_repository, &span, "{project}/{name}"),
                    name,
                    name_span: span,
                    kind: s.kind,
                    path: s.path,
                    bin: s.bin,
                    dockerfile,
                    build,
                    build_written: s.build,
                    auditable: s.auditable,
                    target: s.target,
                    context,
                    build_args: s.build_args,
                    platform: s.platform,
                    inputs: s.inputs,
                    port: s.port,
                    health_path: s.health_path,
                    health: s.health,
                    promote_unchecked: s.promote_unchecked,
                    url: s.url,
                    migrations: s.migrations,
                    database: s.database,
                    delivery: Delivery {
                        strategy: s.strategy,
                        bake: s.bake,
                        canary: s.canary,
                        linear: s.linear,
                        alarms: s.alarms,
                        smoke: s.smoke,
                        smoke_timeout: s.smoke_timeout,
                    },
                    test_url: s.test_url,
                }
            })
            .collect();
        let apps = raw
            .apps
            .into_iter()
            .map(|(name, a)| {
                let span = name.span();
                App {
                    bucket: template_or(a.bucket, &span, "{project}-{env}-{name}"),
                    name: name.into_inner(),
                    name_span: span,
                    path: a.path,
                    build: a.build,
                    dist: a.dist,
                    inputs: a.inputs,
                    cache_control: a.cache_control,
                    keep_releases: a.keep_releases,
                    keep_days: a.keep_days,
                    max_deletes: a.max_deletes,
                }
            })
            .collect();
        Config {
            origin: origin.to_owned(),
            source,
            project: raw.project.into_inner(),
            default_env: raw.default_env.get_ref().clone(),
            inputs: raw.inputs,
            environments: raw
                .environments
                .into_iter()
                .map(|(name, env)| (name.into_inner(), env))
                .collect(),
            services,
            apps,
        }
    }

    /// Every problem of meaning, in file order.
    fn validate(&self) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        self.validate_environments(&mut problems);
        self.validate_units(&mut problems);
        for glob in self.inputs.global.iter().chain(&self.inputs.ignore) {
            check_glob(glob, &mut problems);
        }
        // Names expand from valid templates only: otherwise each would repeat their error.
        if problems.is_empty() {
            self.validate_aws_names(&mut problems);
        }
        problems.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        problems.dedup_by(|a, b| a.span == b.span && a.message == b.message);
        problems
    }

    /// Every name each environment expands to, against the rules of the AWS service that
    /// takes it: reported at the template (or the name it defaults from), with the
    /// environment, before anything calls AWS.
    fn validate_aws_names(&self, problems: &mut Vec<Diagnostic>) {
        let project = self.span_of_key("project");
        for env_name in self.environments.keys() {
            let names = self.names(env_name);
            let env = names.env;
            let mut check =
                |span: Range<usize>, what: &str, name: String, rule: fn(&str) -> Option<String>| {
                    if let Some(why) = rule(&name) {
                        problems.push(Diagnostic::at(
                            span,
                            format!("in environment `{env_name}`, the {what} `{name}` {why}"),
                        ));
                    }
                };
            let span_or =
                |t: &Option<Spanned<String>>| t.as_ref().map_or(project.clone(), |t| t.span());
            check(
                span_or(&env.cluster),
                "ECS cluster",
                names.cluster(),
                aws_names::ecs,
            );
            check(
                span_or(&env.state_bucket),
                "state bucket",
                names.state_bucket(),
                aws_names::s3_bucket,
            );
            for service in &self.services {
                let ecs_span = service.ecs_service.span();
                check(
                    ecs_span.clone(),
                    "ECS service",
                    names.ecs_service(service),
                    aws_names::ecs,
                );
                if service.migrations.is_some() {
                    check(
                        ecs_span,
                        "migration task family",
                        names.migration_family(service),
                        aws_names::ecs,
                    );
                }
                check(
                    service.ecr_repository.span(),
                    "ECR repository",
                    names.ecr_repository(service),
                    aws_names::ecr,
                );
            }
            for app in &self.apps {
                check(
                    app.bucket.span(),
                    "app bucket",
                    names.bucket(app),
                    aws_names::s3_bucket,
                );
            }
        }
    }

    fn validate_environments(&self, problems: &mut Vec<Diagnostic>) {
        if !self.environments.contains_key(&self.default_env) {
            problems.push(
                Diagnostic::at(
                    self.span_of_key("default_env"),
                    format!(
                        "`default_env` names `{}`, which is not an environment",
                        self.default_env
                    ),
                )
                .with_help(format!(
                    "expected one of: {}",
                    self.environment_names().join(", ")
                )),
            );
        }
        for env in self.environments.values() {
            let id = env.account_id.get_ref();
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(Diagnostic::at(
                    env.account_id.span(),
                    format!("`account_id` must be 12 digits, found `{id}`"),
                ));
            }
            let region = env.region.get_ref();
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                problems.push(Diagnostic::at(
                    env.region.span(),
                    format!("`region` must look like `eu-west-1`, found `{region}`"),
                ));
            }
            for template in [
                &env.cluster,
                &env.state_bucket,
                &env.service_url,
                &env.test_url,
                &env.build_cache,
            ]
            .into_iter()
            .flatten()
            {
                check_template(template, problems);
            }
            self.check_promotion(env, problems);
            if let Some(scan) = &env.scan {
                scan.validate(problems);
            }
        }
    }

    /// `promote_from` names another environment; `min_soak` is a duration.
    fn check_promotion(&self, env: &Environment, problems: &mut Vec<Diagnostic>) {
        if let Some(from) = &env.promote_from {
            let source = self.environments.get(from.get_ref());
            let to_itself = source.is_some_and(|s| std::ptr::eq(s, env));
            if source.is_none() || to_itself {
                problems.push(
                    Diagnostic::at(
                        from.span(),
                        format!(
                            "`promote_from = \"{}\"` must name another environment",
                            from.get_ref()
                        ),
                    )
                    .with_help(format!(
                        "environments: {}",
                        self.environment_names().join(", ")
                    )),
                );
            }
        }
        if let Some(soak) = &env.min_soak {
            if humantime::parse_duration(soak.get_ref()).is_err() {
                problems.push(
                    Diagnostic::at(
                        soak.span(),
                        format!("`min_soak = \"{}\"` is not a duration", soak.get_ref()),
                    )
                    .with_help("write it in humantime: `24h`, `90m`, `2days`"),
                );
            }
        }
    }

    fn validate_units(&self, problems: &mut Vec<Diagnostic>) {
        let mut seen: BTreeMap<&str, &Range<usize>> = BTreeMap::new();
        let units = self
            .services
            .iter()
            .map(|s| (&s.name, &s.name_span, &s.path, &s.inputs))
            .chain(
                self.apps
                    .iter()
                    .map(|a| (&a.name, &a.name_span, &a.path, &a.inputs)),
            );
        for (name, span, path, inputs) in units {
            if !is_valid_name(name) {
                problems.push(Diagnostic::at(
                    span.clone(),
                    format!("`{name}` is not a valid name: use lowercase letters, digits and `-`, starting with a letter"),
                ));
            }
            if let Some(first) = seen.insert(name, span) {
                let (line, _) = diag::line_col(&self.source, first.start);
                problems.push(Diagnostic::at(
                    span.clone(),
                    format!("`{name}` is both a service and an app (first defined on line {line}); names must be unique"),
                ));
            }
            check_relative_path(path, problems);
            for glob in inputs {
                check_glob(glob, problems);
            }
        }
        for service in &self.services {
            check_relative_path(&service.dockerfile, problems);
            if !service.context.get_ref().is_empty() {
                check_relative_path(&service.context, problems);
            }
            check_service_build(service, problems);
            for template in [&service.ecs_service, &service.ecr_repository] {
                check_template(template, problems);
            }
            for template in (service.url.iter())
                .chain(&service.test_url)
                .chain(&service.delivery.alarms)
            {
                check_template(template, problems);
            }
            service.delivery.validate(&service.name, problems);
            if let Some(migrations) = &service.migrations {
                check_relative_path(&migrations.dir, problems);
                for timeout in RunnerTimeout::ALL {
                    check_timeout(migrations, timeout, problems);
                }
            }
        }
        for app in &self.apps {
            check_template(&app.bucket, problems);
            for glob in app.cache_control.keys() {
                if let Err(err) = globset::Glob::new(glob) {
                    problems.push(Diagnostic::at(
                        app.path.span(),
                        format!(
                            "app `{}`: `cache_control` glob `{glob}` is not valid: {err}",
                            app.name
                        ),
                    ));
                }
            }
            if app.build.is_empty() {
                problems.push(Diagnostic::at(
                    app.path.span(),
                    format!("app `{}` has an empty `build` command", app.name),
                ));
            }
        }
    }

    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }

    /// Span of a top-level `key = ...` line, for messages about values without their own span.
    fn span_of_key(&self, key: &str) -> Range<usize> {
        let mut offset = 0;
        for line in self.source.split_inclusive('\n') {
            if line.trim_start().starts_with(key) {
                return offset..offset + line.trim_end().len();
            }
            offset += line.len();
        }
        0..0
    }

    /// Turns diagnostics about this file into the usage failure that reports them.
    pub fn failure(&self, diagnostics: &[Diagnostic]) -> anyhow::Error {
        config_failure(&self.origin, &self.source, diagnostics)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The AWS names of environment `env` (which must exist), templates expanded.
    pub fn names<'c>(&'c self, env: &'c str) -> Names<'c> {
        Names {
            config: self,
            env_name: env,
            env: &self.environments[env],
        }
    }
}

/// Resource names in one environment: every template of `deploy.toml`, expanded.
pub struct Names<'c> {
    config: &'c Config,
    pub env_name: &'c str,
    pub env: &'c Environment,
}

impl Names<'_> {
    fn expand(&self, template: Option<&Spanned<String>>, default: &str, name: &str) -> String {
        let template = template.map_or(default, |t| t.get_ref().as_str());
        expand(
            template,
            &TemplateVars {
                project: &self.config.project,
                env: self.env_name,
                name,
                region: self.env.region.get_ref(),
                account_id: self.env.account_id.get_ref(),
            },
        )
    }

    pub fn cluster(&self) -> String {
        self.expand(self.env.cluster.as_ref(), "{project}-{env}", "")
    }

    pub fn state_bucket(&self) -> String {
        self.expand(
            self.env.state_bucket.as_ref(),
            "{project}-{env}-deploy-state",
            "",
        )
    }

    /// The shared compile cache's bucket, when the environment names one.
    pub fn build_cache(&self) -> Option<String> {
        let bucket = self.env.build_cache.as_ref()?;
        Some(self.expand(Some(bucket), "", ""))
    }

    pub fn ecs_service(&self, service: &Service) -> String {
        self.expand(Some(&service.ecs_service), "", &service.name)
    }

    pub fn ecr_repository(&self, service: &Service) -> String {
        self.expand(Some(&service.ecr_repository), "", &service.name)
    }

    /// The task family that runs a service's migrations.
    pub fn migration_family(&self, service: &Service) -> String {
        format!("{}-migrate", self.ecs_service(service))
    }

    pub fn bucket(&self, app: &App) -> String {
        self.expand(Some(&app.bucket), "", &app.name)
    }

    /// Where a service's health path is served, when the environment says.
    pub fn service_url(&self, service: &Service) -> Option<String> {
        let url = service.url.as_ref().or(self.env.service_url.as_ref())?;
        Some(self.expand(Some(url), "", &service.name))
    }

    /// Where a service's test listener answers, when the environment says.
    pub fn test_url(&self, service: &Service) -> Option<String> {
        let url = (service.test_url.as_ref()).or(self.env.test_url.as_ref())?;
        Some(self.expand(Some(url), "", &service.name))
    }

    /// The CloudWatch alarms that roll a service's deployments back, expanded.
    pub fn alarms(&self, service: &Service) -> Vec<String> {
        (service.delivery.alarms.iter())
            .map(|alarm| self.expand(Some(alarm), "", &service.name))
            .collect()
    }
}

fn config_failure(origin: &str, source: &str, diagnostics: &[Diagnostic]) -> anyhow::Error {
    Error::Usage(
        diag::render(origin, source, diagnostics)
            .trim_end()
            .to_owned(),
    )
    .into()
}

fn template_or(
    value: Option<Spanned<String>>,
    span: &Range<usize>,
    default: &str,
) -> Spanned<String> {
    value.unwrap_or_else(|| Spanned::new(span.clone(), default.to_owned()))
}

fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A timeout PostgreSQL takes: a duration of 1 ms up to the timeout's maximum (0 would turn
/// it off).
fn check_timeout(migrations: &Migrations, timeout: RunnerTimeout, problems: &mut Vec<Diagnostic>) {
    let Some(written) = migrations.timeout(timeout) else {
        return;
    };
    let ok = migrations
        .timeout_ms(timeout)
        .is_some_and(|ms| (1..=u128::from(timeout.max_ms())).contains(&ms));
    if !ok {
        let max = humantime::format_duration(Duration::from_millis(timeout.max_ms()));
        problems.push(
            Diagnostic::at(
                written.span(),
                format!(
                    "`{} = \"{}\"` is not a duration of 1ms to {max}",
                    timeout.key(),
                    written.get_ref()
                ),
            )
            .with_help("write it as PostgreSQL's setting would be, in humantime: `5s`, `500ms`"),
        );
    }
}

/// Where a service's build runs, against what else it says: a Docker service never
/// builds on the host, and `auditable` (a host build setting) needs the host build.
fn check_service_build(service: &Service, problems: &mut Vec<Diagnostic>) {
    if let (ServiceKind::Docker, Some(written)) = (service.kind, &service.build_written) {
        if *written.get_ref() == Build::Host {
            problems.push(
                Diagnostic::at(
                    written.span(),
                    format!("service `{}` is `kind = \"docker\"`: it builds in its image, not on the host", service.name),
                )
                .with_help("remove `build`, or make it a Rust service"),
            );
        }
    }
    let auditable = service.auditable.as_ref().filter(|a| *a.get_ref());
    if let (Some(auditable), Build::Image) = (auditable, service.build) {
        problems.push(
            Diagnostic::at(
                auditable.span(),
                format!("service `{}` builds in its image: `auditable` applies to the tool's host build only", service.name),
            )
            .with_help("remove `auditable`, and run `cargo auditable build` in the Dockerfile"),
        );
    }
}

fn check_relative_path(path: &Spanned<String>, problems: &mut Vec<Diagnostic>) {
    let value = path.get_ref();
    let bad = value.is_empty()
        || value.starts_with('/')
        || value.contains('\\')
        || value
            .split('/')
            .any(|part| part == ".." || part == "." || part.is_empty());
    if bad {
        problems.push(
            Diagnostic::at(
                path.span(),
                format!("`{value}` is not a clean relative path"),
            )
            .with_help(
                "paths are relative to the repository root, `/`-separated, without `.` or `..`",
            ),
        );
    }
}

fn check_glob(glob: &Spanned<String>, problems: &mut Vec<Diagnostic>) {
    if let Err(err) = globset::Glob::new(glob.get_ref()) {
        problems.push(Diagnostic::at(
            glob.span(),
            format!("invalid glob: {}", err.kind()),
        ));
    }
}

fn check_template(template: &Spanned<String>, problems: &mut Vec<Diagnostic>) {
    if let Err(message) = placeholders(template.get_ref()) {
        problems.push(
            Diagnostic::at(template.span(), message)
                .with_help(format!("placeholders are {}", template_var_list())),
        );
    }
}

/// The `{placeholder}` names in a template, or why it is malformed.
fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{template}`"))?;
        let name = &after[..close];
        if !TEMPLATE_VARS.contains(&name) {
            return Err(format!("unknown placeholder `{{{name}}}` in `{template}`"));
        }
        names.push(name);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unmatched `}}` in `{template}`"));
    }
    Ok(names)
}

/// Values for a template's placeholders.
pub struct TemplateVars<'a> {
    pub project: &'a str,
    pub env: &'a str,
    pub name: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
}

/// Expands a template validated at parse time.
pub fn expand(template: &str, vars: &TemplateVars<'_>) -> String {
    let mut out = template.to_owned();
    for (key, value) in [
        ("{project}", vars.project),
        ("{env}", vars.env),
        ("{name}", vars.name),
        ("{region}", vars.region),
        ("{account_id}", vars.account_id),
    ] {
        out = out.replace(key, value);
    }
    out
}

fn template_var_list() -> String {
    let vars: Vec<String> = TEMPLATE_VARS.iter().map(|v| format!("`{{{v}}}`")).collect();
    vars.join(", ")
}

/// `a/b` from `a` and `b`, with an empty `a` meaning the root.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
project = "acme"
default_env = "local"

[environments.local]
account_id = "000000000000"
region = "us-east-1"

[services.api]
path = "services/api"

[apps.admin]
path = "apps/admin"
build = ["node", "build.mjs"]
"#;

    fn error_of(source: &str) -> String {
        Config::parse("deploy.toml", source)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = Config::parse("deploy.toml", MINIMAL).unwrap();
        let api = config.service("api").unwrap();
        assert_eq!(api.kind, ServiceKind::Rust);
        assert_eq!(api.dockerfile.get_ref(), "services/api/Dockerfile");
        assert_eq!(api.ecs_service.get_ref(), "{project}-{env}-{name}");
        let vars = TemplateVars {
            project: "acme",
            env: "staging",
            name: "api",
            region: "eu-west-1",
            account_id: "1",
        };
        assert_eq!(expand(api.ecs_service.get_ref(), &vars), "acme-staging-api");
        assert_eq!(config.app("admin").unwrap().dist, "dist");
    }

    #[test]
    fn unknown_key_names_line_and_expected_keys() {
        let source = MINIMAL.replace(
            "path = \"services/api\"",
            "path = \"services/api\"\npaht = \"x\"",
        );
        let message = error_of(&source);
        assert!(message.contains("deploy.toml:11:1"), "{message}");
        assert!(message.contains("unknown field `paht`"), "{message}");
        assert!(message.contains("`path`"), "{message}");
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let source = MINIMAL
            .replace("default_env = \"local\"", "default_env = \"prod\"")
            .replace("\"000000000000\"", "\"12\"")
            .replace(
                "path = \"apps/admin\"",
                "path = \"../admin\"\nbucket = \"{proj}-x\"",
            );
        let message = error_of(&source);
        for expected in [
            "`default_env` names `prod`",
            "`account_id` must be 12 digits",
            "`../admin` is not a clean relative path",
            "unknown placeholder `{proj}`",
        ] {
            assert!(
                message.contains(expected),
                "missing {expected:?} in:\n{message}"
            );
        }
        assert!(message.contains("deploy.toml:3:1"), "{message}");
    }

    #[test]
    fn auditable_is_for_host_builds_and_refused_where_the_image_builds() {
        let with = |keys: &str| {
            MINIMAL.replace(
                "path = \"services/api\"",
                &format!("path = \"services/api\"\n{keys}"),
            )
        };
        let host = Config::parse("deploy.toml", &with("auditable = true")).unwrap();
        assert!(host.service("api").unwrap().auditable());
        assert!(!Config::parse("deploy.toml", MINIMAL)
            .unwrap()
            .service("api")
            .unwrap()
            .auditable());
        let message = error_of(&with("build = \"image\"\nauditable = true"));
        assert!(message.contains("deploy.toml:12:13"), "{message}");
        assert!(
            message.contains("service `api` builds in its image: `auditable` applies to the tool's host build only"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_names_across_services_and_apps_are_refused() {
        let source = format!("{MINIMAL}\n[apps.api]\npath = \"apps/api\"\nbuild = [\"make\"]\n");
        let message = error_of(&source);
        assert!(
            message.contains("`api` is both a service and an app"),
            "{message}"
        );
    }

    #[test]
    fn runner_timeouts_are_durations_postgresql_takes_named_at_their_line() {
        let with = |lock: &str, statement: &str| {
            MINIMAL.replace(
                "path = \"services/api\"",
                &format!(
                    "path = \"services/api\"\nmigrations = {{ dir = \"m\", command = [\"migrate\"], \
                     lock_timeout = \"{lock}\", statement_timeout = \"{statement}\" }}"
                ),
            )
        };
        let config = Config::parse("deploy.toml", &with("5s", "2h")).unwrap();
        let migrations = config.service("api").unwrap().migrations.clone().unwrap();
        assert_eq!(migrations.timeout_ms(RunnerTimeout::Lock), Some(5_000));
        assert_eq!(
            migrations.timeout_ms(RunnerTimeout::Statement),
            Some(7_200_000)
        );
        let message = error_of(&with("2h", "0s"));
        for expected in [
            "deploy.toml:11:",
            "`lock_timeout = \"2h\"` is not a duration of 1ms to 1h",
            "`statement_timeout = \"0s\"` is not a duration of 1ms to 1day",
        ] {
            assert!(
                message.contains(expected),
                "missing {expected:?} in:\n{message}"
            );
        }
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let message = error_of("project = \"acme\"\ndefault_env = \n");
        assert!(message.contains("deploy.toml:2"), "{message}");
    }
}
