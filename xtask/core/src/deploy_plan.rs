//! The deploy plan: a pure value computed from the head commit's fingerprints and what is
//! live, before any side effect. For each service: deploy or skip and why, where its image
//! comes from, whether its migrations run; then the steps, phase by phase, that the
//! executor runs without deciding anything itself. A rollback is the same plan for an
//! earlier commit whose images and releases must already exist: nothing is built, no
//! migration runs, apps re-activate a kept release. A promotion is a deploy whose images
//! come from another environment's registry by digest (see [`crate::promotion`]): it
//! copies instead of building, and migrates and rolls as any deploy.

use crate::build_context::FINGERPRINT_ARG;
use crate::config::{App, Build, Names, Service};
use crate::fingerprint::UnitFingerprint;
use crate::live::{
    Image, InFlight, LiveApp, LiveService, Placement, Strategy, COMMIT_TAG, FINGERPRINT_TAG,
};
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::plan::{self, Action, Reason, UnitPlan};
use crate::promotion::{self, AppSourceFacts, PromotedRelease, Refusal, SourceFacts};
use crate::text::short;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Which services the user asked about.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--all`: deploy every selected service, changed or not.
    pub all: bool,
    /// `--services`: only these (validated against deploy.toml before planning).
    pub only: Option<BTreeSet<String>>,
}

impl Selection {
    pub fn includes(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(name))
    }
}

/// What is known of one service before planning.
pub struct Facts<'a> {
    pub head: &'a UnitFingerprint,
    /// Where it lives in the environment and how its image is made.
    pub target: &'a ServiceTarget,
    pub live: &'a LiveService,
    /// The image already pushed for the head fingerprint.
    pub existing: Option<&'a Image>,
    /// The head's migrations tree id, for a service with migrations.
    pub migrations: Option<&'a str>,
    /// The migrations tree id last applied.
    pub applied: Option<&'a str>,
    /// Why the live fingerprint differs, where the live commit explained it.
    pub explained: Option<&'a [Reason]>,
    /// The ledger's last record of this service: its deploy id, fingerprint and outcome.
    pub last: Option<&'a LastOutcome>,
    /// A promotion's: what the source environment ran of this service.
    pub source: Option<&'a SourceFacts>,
}

/// What the ledger's newest record that deployed a service says became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastOutcome {
    pub deploy_id: String,
    pub fingerprint: String,
    pub outcome: UnitOutcome,
}

/// What is known of one app before planning: what its bucket's manifest says is live.
pub struct AppFacts<'a> {
    pub head: &'a UnitFingerprint,
    /// Its deploy.toml entry and its bucket in the environment.
    pub target: &'a AppTarget,
    pub live: &'a LiveApp,
    /// For a rollback: the kept release the commit had, if one is known.
    pub release: Option<&'a str>,
    /// Why the live fingerprint differs, where the live commit explained it.
    pub explained: Option<&'a [Reason]>,
    /// A promotion's: the releases the source environment keeps of this app.
    pub source: Option<&'a AppSourceFacts>,
}

/// What the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Build what changed, migrate, roll, ship (`images_only`: build and push, then stop).
    Deploy { images_only: bool },
    /// Back to the images and releases an earlier commit had: never builds or migrates.
    Rollback,
}

impl Command {
    /// The command's name: in the plan's JSON, the lock and the ledger.
    pub fn name(self) -> &'static str {
        match self {
            Command::Deploy { .. } => "deploy",
            Command::Rollback => "rollback",
        }
    }
}

impl Serialize for Command {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployPlan {
    pub command: Command,
    pub env: String,
    pub commit: String,
    pub images_only: bool,
    /// A promotion's source environment: its images are copied, nothing is built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
    pub services: Vec<ServicePlan>,
    pub apps: Vec<AppPlan>,
    /// What the executor does, phase by phase, decided with the rest (see [`Step`]).
    #[serde(skip)]
    pub phases: Vec<Vec<Step>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppPlan {
    #[serde(flatten)]
    pub unit: UnitPlan,
    #[serde(skip)]
    pub target: AppTarget,
    pub live_release: Option<String>,
    pub live_commit: Option<String>,
    /// A rollback's kept release to make live again (`None` when it is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate: Option<String>,
    /// A promotion's: the source's release whose files ship instead of a build.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "release_id")]
    pub promote: Option<PromotedRelease>,
    /// Why a promotion cannot take this app (pre-flight refuses the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

/// A promoted release, in the plan's JSON: where from, which release.
fn release_id<S: serde::Serializer>(
    promoted: &Option<PromotedRelease>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = serializer.serialize_map(Some(2))?;
    if let Some(promoted) = promoted {
        map.serialize_entry("from", &promoted.from)?;
        map.serialize_entry("release", &promoted.release.id)?;
    }
    map.end()
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    #[serde(flatten)]
    pub unit: UnitPlan,
    #[serde(skip)]
    pub target: ServiceTarget,
    /// Where the image comes from; `None` when skipped.
    pub image: Option<ImagePlan>,
    /// The migrations tree to apply before rolling.
    pub migrate: Option<String>,
    /// Where its tasks run now, for its migration task.
    #[serde(skip)]
    pub placement: Placement,
    pub live_task_definition: Option<String>,
    pub live_commit: Option<String>,
    /// How ECS moves it to the new revision (deploy.toml's, which the roll sets); its bakes
    /// lengthen the roll.
    #[serde(skip)]
    pub strategy: Strategy,
    /// The unfinished rollout of this very version to wait for instead of rolling anew.
    #[serde(skip)]
    pub adopt: Option<InFlight>,
    /// Why a promotion cannot take this service (pre-flight refuses the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

impl ServicePlan {
    /// What every step of this service carries.
    fn step(&self) -> ServiceStep {
        ServiceStep {
            service: self.unit.name.clone(),
            target: self.target.clone(),
            fingerprint: self.unit.fingerprint.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ImagePlan {
    /// No image for this fingerprint yet.
    Build,
    /// Pushed before for this fingerprint: reused, tagged for this commit if it is not yet.
    Reuse { digest: String, tag_commit: bool },
    /// Copied by digest from the environment it is promoted from, as that one ran it.
    Promote {
        from: String,
        deploy_id: String,
        digest: String,
        /// The source repository's URI.
        #[serde(skip)]
        source_uri: String,
    },
}

/// Where one service lives in the environment and what its image is made from: resolved
/// once, before planning, from deploy.toml's names and the repository read from ECR, so
/// that no step looks anything up again.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    /// The service's deploy.toml entry (its Dockerfile, build arguments, platform, ...).
    pub config: Arc<Service>,
    /// The package of its own crate, for a Rust service.
    pub package: Option<String>,
    pub cluster: String,
    pub ecs_service: String,
    /// The ECR repository's name, and its URI (read from ECR, so a registry that is not
    /// `*.amazonaws.com`, as the local stack's, is named as it is).
    pub repository: String,
    pub repository_uri: String,
    /// The task family that runs its migrations.
    pub migration_family: String,
    /// `service_url` joined with the health path, where the environment has one.
    pub health_url: Option<String>,
    /// The test listener's base URL (`test_url`), where the environment has one.
    pub test_url: Option<String>,
    /// The CloudWatch alarms that roll its deployments back.
    pub alarms: Vec<String>,
    /// The environment's vulnerability gate, if it has one.
    pub scan: Option<Arc<crate::scan::ScanPolicy>>,
}

impl ServiceTarget {
    /// Resolves `service`'s names in the environment of `names`.
    /// `repository_uri` is what ECR reported; without one (the repository does not exist
    /// yet, which the pre-flight refuses) the URI ECR gives every repository.
    pub fn resolve(
        names: &Names<'_>,
        service: &Service,
        package: Option<String>,
        repository_uri: Option<String>,
    ) -> ServiceTarget {
        let repository = names.ecr_repository(service);
        let repository_uri = repository_uri.unwrap_or_else(|| {
            let (account, region) = (names.env.account_id.get_ref(), names.env.region.get_ref());
            format!("{account}.dkr.ecr.{region}.amazonaws.com/{repository}")
        });
        let health_url = names
            .service_url(service)
            .map(|base| format!("{}{}", base.trim_end_matches('/'), service.health_path));
        ServiceTarget {
            config: Arc::new(service.clone()),
            package,
            cluster: names.cluster(),
            ecs_service: names.ecs_service(service),
            repository,
            repository_uri,
            migration_family: names.migration_family(service),
            health_url,
            test_url: names.test_url(service),
            alarms: names.alarms(service),
            scan: names.env.scan.clone().map(Arc::new),
        }
    }

    /// The image `digest` of this service's repository, as a task definition names it.
    pub fn image_ref(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository_uri)
    }
}

/// One app's deploy.toml entry and its bucket in the environment.
#[derive(Debug, Clone)]
pub struct AppTarget {
    pub config: Arc<App>,
    pub bucket: String,
}

impl AppTarget {
    pub fn resolve(names: &Names<'_>, app: &App) -> AppTarget {
        AppTarget {
            config: Arc::new(app.clone()),
            bucket: names.bucket(app),
        }
    }
}

/// What kind of thing a step does: the phase it runs in and whether a dry run runs it
/// follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepKind {
    Compile,
    Build,
    Copy,
    BuildApp,
    FetchApp,
    Retag,
    Scan,
    Migrate,
    Roll,
    Health,
    Ship,
    Activate,
}

impl StepKind {
    /// The phase name people see.
    pub fn phase(self) -> Phase {
        match self {
            StepKind::Compile => Phase::Compile,
            // A copy pushes an image, as a build does: the same phase, the same bound.
            StepKind::Build | StepKind::BuildApp | StepKind::FetchApp | StepKind::Copy => {
                Phase::Build
            }
            StepKind::Retag => Phase::Retag,
            StepKind::Scan => Phase::Scan,
            StepKind::Migrate => Phase::Migrate,
            StepKind::Roll => Phase::Roll,
            StepKind::Health => Phase::Health,
            StepKind::Ship | StepKind::Activate => Phase::Ship,
        }
    }

    /// Whether `--dry-run` runs the step: an app's build is local, and shipping or
    /// activating an app shows what it would move and stops there. Every other step
    /// changes something remote and has nothing to show beyond the plan.
    pub fn previews(self) -> bool {
        matches!(
            self,
            StepKind::BuildApp | StepKind::FetchApp | StepKind::Ship | StepKind::Activate
        )
    }
}

/// One thing the executor does, carrying everything it needs: the executor decides
/// nothing and looks nothing up.
#[derive(Debug, Clone)]
pub enum Step {
    /// One `cargo build --release` per Rust service that needs an image, one target folder.
    Compile {
        binaries: Vec<HostBinary>,
    },
    /// Build and push one image.
    Build(ImageBuild),
    /// Copy one image from the environment it is promoted from.
    Copy(ImageCopy),
    /// Run an app's build command.
    BuildApp(AppStep),
    /// Read a promoted app's release from the source environment's bucket: its files, as
    /// that environment serves them, stand for a build.
    FetchApp {
        app: AppStep,
        promoted: PromotedRelease,
    },
    /// Tag an existing image for this commit (ECR `PutImage`).
    Retag(Retag),
    /// Judge the image's vulnerability scan by the environment's policy.
    Scan(ServiceStep),
    /// Run the service's migration task and wait for it.
    Migrate(Migration),
    /// New task definition revision, `UpdateService`, wait for this deployment.
    Roll(Rollout),
    Health(ServiceStep),
    /// Upload, activate and invalidate one app.
    Ship(AppStep),
    /// Make a kept release of an app live again (a rollback).
    Activate {
        app: AppStep,
        release: String,
    },
}

/// A Rust service's binary, compiled on the host for its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBinary {
    pub service: String,
    pub package: String,
    pub bin: String,
    /// Built with `cargo auditable` ([`CARGO_AUDITABLE`]): its dependency list embedded.
    pub auditable: bool,
}

/// The cargo-auditable release the host build installs and runs for `auditable` services.
/// It is in their fingerprints (the binary holds what it writes): a new release rebuilds.
pub const CARGO_AUDITABLE: &str = "0.7.7";

/// `docker build` of one service: its tags, build arguments and labels, decided here.
#[derive(Debug, Clone)]
pub struct ImageBuild {
    pub unit: ServiceStep,
    /// `uri:fp-<fingerprint>`: the one tag pushed (the push is read back by it).
    pub tag: String,
    /// `git-<commit>`, added to the pushed digest with `PutImage` afterwards. Never pushed:
    /// a run that died between two pushes would leave the commit tag on an image whose
    /// fingerprint tag is missing, and an immutable repository would refuse the next push.
    pub commit_tag: String,
    /// deploy.toml's build arguments and the fingerprint.
    pub build_args: BTreeMap<String, String>,
    /// The OCI revision, the fingerprint and the service name.
    pub labels: Vec<String>,
}

impl ImageBuild {
    /// `docker build`'s flags for a Dockerfile at `dockerfile`.
    pub fn flags(&self, dockerfile: &str) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        args.extend(["--tag".into(), self.tag.clone()]);
        for (key, value) in &self.build_args {
            args.extend(["--build-arg".into(), format!("{key}={value}")]);
        }
        for label in &self.labels {
            args.extend(["--label".into(), label.clone()]);
        }
        args.extend(["--file".into(), dockerfile.to_owned()]);
        if let Some(stage) = &self.unit.target.config.target {
            args.extend(["--target".into(), stage.clone()]);
        }
        args
    }
}

/// A promotion's copy of one image, registry to registry, by digest.
#[derive(Debug, Clone)]
pub struct ImageCopy {
    pub unit: ServiceStep,
    /// `source-uri@digest`: what the source environment ran.
    pub source: String,
    pub digest: String,
    pub from: String,
    /// `fp-<fingerprint>`: the tag the manifest is pushed under here.
    pub tag: String,
    /// `git-<commit>`, put with `PutImage` once the copy is read back (see
    /// [`ImageBuild::commit_tag`]).
    pub commit_tag: String,
}

/// `PutImage` of an existing image's manifest under this commit's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retag {
    pub service: String,
    pub repository: String,
    pub digest: String,
    pub tag: String,
}

/// One migration task of a service, from its migration family with this deploy's image.
#[derive(Debug, Clone)]
pub struct Migration {
    pub unit: ServiceStep,
    /// The migrations tree this applies (recorded as applied when the task exits 0).
    pub tree: String,
    /// Where the service's tasks run; the migration task runs there too.
    pub placement: Placement,
}

/// A service's roll: the live task definition copied with this deploy's image.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub unit: ServiceStep,
    /// The task definition the service runs now: copied, and what `--on-failure
    /// rollback` restores (for an adopted rollout, what ran before it).
    pub source_task_definition: Option<String>,
    /// A rollout of this version an earlier run started and did not see finish: waited
    /// for, not started again.
    pub adopt: Option<InFlight>,
    /// What ECS waits through before it completes the deployment (its strategy's bakes):
    /// the roll's wait gets that on top of `--timeout`.
    pub bakes: Duration,
}

/// The service a step is about: its name, where it runs, and the fingerprint this deploy
/// ships (what the image is tagged with and what the health answer must report). A health
/// check needs nothing more.
#[derive(Debug, Clone)]
pub struct ServiceStep {
    pub service: String,
    pub target: ServiceTarget,
    pub fingerprint: String,
}

/// An app step's app.
#[derive(Debug, Clone)]
pub struct AppStep {
    pub app: String,
    pub target: AppTarget,
    pub fingerprint: String,
}

impl Step {
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Compile { .. } => StepKind::Compile,
            Step::Build(_) => StepKind::Build,
            Step::Copy(_) => StepKind::Copy,
            Step::BuildApp(_) => StepKind::BuildApp,
            Step::FetchApp { .. } => StepKind::FetchApp,
            Step::Retag(_) => StepKind::Retag,
            Step::Scan(_) => StepKind::Scan,
            Step::Migrate(_) => StepKind::Migrate,
            Step::Roll(_) => StepKind::Roll,
            Step::Health(_) => StepKind::Health,
            Step::Ship(_) => StepKind::Ship,
            Step::Activate { .. } => StepKind::Activate,
        }
    }

    /// The service or app the step is about.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Step::Compile { .. } => None,
            Step::Retag(Retag { service, .. }) => Some(service),
            Step::Build(ImageBuild { unit, .. })
            | Step::Copy(ImageCopy { unit, .. })
            | Step::Migrate(Migration { unit, .. })
            | Step::Roll(Rollout { unit, .. })
            | Step::Scan(unit)
            | Step::Health(unit) => Some(&unit.service),
            Step::BuildApp(app)
            | Step::FetchApp { app, .. }
            | Step::Ship(app)
            | Step::Activate { app, .. } => Some(&app.app),
        }
    }

    pub fn previews(&self) -> bool {
        self.kind().previews()
    }

    pub fn phase(&self) -> Phase {
        self.kind().phase()
    }
}

/// Plans every selected service and app, from facts alone.
pub fn plan(
    env: &str,
    commit: &str,
    facts: &[Facts<'_>],
    apps: &[AppFacts<'_>],
    selection: &Selection,
    command: Command,
) -> DeployPlan {
    let selected = |name: &str| selection.includes(name);
    let (services, apps) = match command {
        Command::Deploy { .. } => (
            facts
                .iter()
                .filter(|f| selected(&f.head.unit.name))
                .map(|f| service_plan(commit, f, selection.all))
                .collect(),
            apps.iter()
                .filter(|f| selected(&f.head.unit.name))
                .map(|f| app_plan(f, selection.all))
                .collect(),
        ),
        Command::Rollback => (
            facts
                .iter()
                .filter(|f| selected(&f.head.unit.name))
                .map(|f| service_rollback(commit, f))
                .collect(),
            apps.iter()
                .filter(|f| selected(&f.head.unit.name))
                .map(|f| app_rollback(commit, f))
                .collect(),
        ),
    };
    let mut plan = DeployPlan {
        command,
        env: env.to_owned(),
        commit: commit.to_owned(),
        images_only: command == Command::Deploy { images_only: true },
        promoted_from: None,
        services,
        apps,
        phases: Vec::new(),
    };
    plan.phases = plan.steps();
    plan
}

/// A unit of a rollback: skipped when it already runs its target, else back to `commit`.
fn back_unless(
    already: bool,
    commit: &str,
    head: &UnitFingerprint,
    live: &Option<String>,
) -> UnitPlan {
    let reasons = if already {
        Vec::new()
    } else {
        vec![Reason::RollbackTo {
            commit: commit.to_owned(),
        }]
    };
    UnitPlan::new(head, live.clone(), reasons)
}

/// A service goes back unless it already runs the target image (same digest); with no
/// image for the commit it stays in the plan without one, for the pre-flight to list.
fn service_rollback(commit: &str, facts: &Facts<'_>) -> ServicePlan {
    let target = facts.existing;
    let already = target.is_some_and(|t| facts.live.digest.as_deref() == Some(&t.digest));
    let unit = back_unless(already, commit, facts.head, &facts.live.fingerprint);
    let image = (unit.action == Action::Deploy)
        .then(|| {
            target.map(|t| ImagePlan::Reuse {
                digest: t.digest.clone(),
                tag_commit: false,
            })
        })
        .flatten();
    ServicePlan {
        unit,
        target: facts.target.clone(),
        image,
        migrate: None,
        placement: facts.live.placement.clone(),
        live_task_definition: facts.live.task_definition.clone(),
        live_commit: facts.live.commit.clone(),
        strategy: facts.target.config.delivery.strategy(),
        adopt: None,
        refused: None,
    }
}

/// An app goes back unless the target release is already the live one.
fn app_rollback(commit: &str, facts: &AppFacts<'_>) -> AppPlan {
    let already = facts.release.is_some() && facts.release == facts.live.release.as_deref();
    let unit = back_unless(already, commit, facts.head, &facts.live.fingerprint);
    let activate = (unit.action == Action::Deploy)
        .then(|| facts.release.map(str::to_owned))
        .flatten();
    AppPlan {
        unit,
        target: facts.target.clone(),
        live_release: facts.live.release.clone(),
        live_commit: facts.live.commit.clone(),
        activate,
        promote: None,
        refused: None,
    }
}

/// Deploy or skip, and why: the head fingerprint against the live one. A difference the
/// live commit did not explain is just that, a difference.
fn decide(
    live: Option<&str>,
    explained: Option<&[Reason]>,
    unknown: Option<&str>,
    head: &UnitFingerprint,
    all: bool,
) -> UnitPlan {
    let mut reasons = match live {
        Some(fingerprint) if fingerprint == head.fingerprint => Vec::new(),
        Some(fingerprint) => explained.map_or_else(
            || {
                vec![Reason::LiveDiffers {
                    live: fingerprint.to_owned(),
                }]
            },
            <[Reason]>::to_vec,
        ),
        None => vec![Reason::LiveUnknown {
            why: unknown.unwrap_or("nothing deployed").to_owned(),
        }],
    };
    if reasons.is_empty() && all {
        reasons.push(Reason::Requested);
    }
    UnitPlan::new(head, live.map(str::to_owned), reasons)
}

fn app_plan(facts: &AppFacts<'_>, all: bool) -> AppPlan {
    let live = facts.live.fingerprint.as_deref();
    let mut unit = decide(live, facts.explained, None, facts.head, all);
    if facts.live.pending_invalidation > 0 {
        unit.reasons.push(Reason::InvalidationPending {
            paths: facts.live.pending_invalidation,
        });
        unit.action = Action::Deploy;
    }
    let (promote, refused) = match facts.source {
        Some(source) if unit.action == Action::Deploy => {
            match promotion::decide_app(source, &facts.head.fingerprint) {
                Ok(promoted) => (Some(promoted), None),
                Err(refusal) => (None, Some(refusal)),
            }
        }
        _ => (None, None),
    };
    AppPlan {
        unit,
        target: facts.target.clone(),
        live_release: facts.live.release.clone(),
        live_commit: facts.live.commit.clone(),
        activate: None,
        promote,
        refused,
    }
}

fn service_plan(commit: &str, facts: &Facts<'_>, all: bool) -> ServicePlan {
    let mut unit = decide(
        facts.live.fingerprint.as_deref(),
        facts.explained,
        facts.live.unknown.as_deref().or(Some("no image")),
        facts.head,
        all,
    );
    let (not_done, adopt) = not_done(facts);
    if let Some(reason) = not_done {
        unit.reasons.retain(|r| *r != Reason::Requested);
        unit.reasons.push(reason);
        unit.action = Action::Deploy;
    }
    let deploy = unit.action == Action::Deploy;
    let (image, refused) = match facts.source {
        Some(source) if deploy => promoted_image(commit, facts, source),
        _ => (deploy.then(|| built_image(commit, facts)), None),
    };
    let migrate = facts
        .migrations
        .filter(|tree| deploy && facts.applied != Some(*tree))
        .map(str::to_owned);
    ServicePlan {
        unit,
        target: facts.target.clone(),
        image,
        migrate,
        placement: facts.live.placement.clone(),
        live_task_definition: facts.live.task_definition.clone(),
        live_commit: facts.live.commit.clone(),
        strategy: facts.target.config.delivery.strategy(),
        adopt,
        refused,
    }
}

/// A deploy's image: the one pushed for the fingerprint (tagged for the commit if it is
/// not yet), else a build.
fn built_image(commit: &str, facts: &Facts<'_>) -> ImagePlan {
    let commit_tag = format!("{COMMIT_TAG}{commit}");
    match facts.existing {
        Some(found) => ImagePlan::Reuse {
            digest: found.digest.clone(),
            tag_commit: !found.tags.contains(&commit_tag),
        },
        None => ImagePlan::Build,
    }
}

/// A promotion's image: the source's digest, reused where this environment already has
/// it, else copied; or why it cannot be promoted. Never a build.
fn promoted_image(
    commit: &str,
    facts: &Facts<'_>,
    source: &SourceFacts,
) -> (Option<ImagePlan>, Option<Refusal>) {
    let promoted = match promotion::decide(source, &facts.head.fingerprint) {
        Ok(promoted) => promoted,
        Err(refusal) => return (None, Some(refusal)),
    };
    match facts.existing {
        Some(found) if found.digest == promoted.digest => (Some(built_image(commit, facts)), None),
        Some(found) => (
            None,
            Some(Refusal::TagTaken {
                digest: found.digest.clone(),
            }),
        ),
        None => (
            Some(ImagePlan::Promote {
                from: promoted.from,
                deploy_id: promoted.deploy_id,
                digest: promoted.digest,
                source_uri: promoted.source_uri,
            }),
            None,
        ),
    }
}

/// Why the head's version, though it is what runs, is not done, and the rollout to wait
/// for rather than start again: a rollout not finished (waited for where it may still
/// complete, rolled again where it failed), else a last deploy whose health check failed
/// or that was killed before its outcome was known. Health-checked either way.
fn not_done(facts: &Facts<'_>) -> (Option<Reason>, Option<InFlight>) {
    let runs_head = |fingerprint: &str| {
        fingerprint == facts.head.fingerprint
            && facts.live.fingerprint.as_deref() == Some(fingerprint)
    };
    if let Some(rollout) =
        (facts.live.in_flight.as_ref()).filter(|_| runs_head(&facts.head.fingerprint))
    {
        let reason = Reason::RolloutUnfinished {
            rollout: rollout.describe(),
        };
        return (
            Some(reason),
            rollout.may_complete().then(|| rollout.clone()),
        );
    }
    let last = facts.last.filter(|last| runs_head(&last.fingerprint));
    let reason = last.and_then(|last| {
        let deploy_id = last.deploy_id.clone();
        match last.outcome {
            UnitOutcome::Unhealthy => Some(Reason::LastUnhealthy { deploy_id }),
            UnitOutcome::Unknown => Some(Reason::LastUnchecked { deploy_id }),
            _ => None,
        }
    });
    (reason, None)
}

impl DeployPlan {
    pub fn deploying(&self) -> impl Iterator<Item = &ServicePlan> {
        self.services
            .iter()
            .filter(|s| s.unit.action == Action::Deploy)
    }

    pub fn service(&self, name: &str) -> Option<&ServicePlan> {
        self.services.iter().find(|s| s.unit.name == name)
    }

    pub fn apps_deploying(&self) -> impl Iterator<Item = &AppPlan> {
        self.apps.iter().filter(|a| a.unit.action == Action::Deploy)
    }

    pub fn app(&self, name: &str) -> Option<&AppPlan> {
        self.apps.iter().find(|a| a.unit.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.deploying().next().is_none() && self.apps_deploying().next().is_none()
    }

    /// What a rollback needs and does not have: each service without an image for the
    /// commit and each app without a kept release of it. Always empty for a deploy.
    pub fn missing(&self) -> Vec<String> {
        if self.command != Command::Rollback {
            return Vec::new();
        }
        let images = self
            .deploying()
            .filter(|s| s.image.is_none())
            .map(|s| {
                format!(
                    "service {}: no image of commit {} (fingerprint {}) in its repository or the ledger",
                    s.unit.name,
                    short(&self.commit),
                    short(&s.unit.fingerprint)
                )
            });
        let releases = self
            .apps_deploying()
            .filter(|a| a.activate.is_none())
            .map(|a| {
                format!(
                    "app {}: no kept release of commit {} (fingerprint {}) in its bucket's manifest",
                    a.unit.name,
                    short(&self.commit),
                    short(&a.unit.fingerprint)
                )
            });
        images.chain(releases).collect()
    }

    /// The steps, phase by phase: steps of one phase run in parallel; a phase starts when
    /// the one before it succeeded.
    fn steps(&self) -> Vec<Vec<Step>> {
        let mut images: Vec<Step> = self
            .deploying()
            .filter_map(|s| self.image_build(s).or_else(|| self.image_copy(s)))
            .collect();
        images.extend(
            self.apps_deploying()
                .filter(|a| a.activate.is_none())
                .map(|a| match &a.promote {
                    Some(promoted) => Step::FetchApp {
                        app: app_step(a),
                        promoted: promoted.clone(),
                    },
                    None => Step::BuildApp(app_step(a)),
                }),
        );
        images.extend(
            self.deploying()
                .filter_map(|s| self.retag(s))
                .map(Step::Retag),
        );
        let mut phases = vec![self.compile(), images];
        if !self.images_only {
            // Before anything migrates: a refused image must change nothing.
            phases.push(
                (self.deploying())
                    .filter(|s| s.target.scan.is_some())
                    .map(|s| Step::Scan(s.step()))
                    .collect(),
            );
            phases.push(self.deploying().filter_map(|s| self.migration(s)).collect());
            phases.push(
                self.deploying()
                    .map(|s| Step::Roll(self.rollout(s)))
                    .collect(),
            );
            phases.push(self.deploying().map(|s| Step::Health(s.step())).collect());
            phases.push(self.apps_deploying().map(ship_or_activate).collect());
        }
        phases.retain(|phase| !phase.is_empty());
        phases
    }

    /// The one compile step of every host-built service that needs an image (none when
    /// nothing is host-built), as a phase.
    fn compile(&self) -> Vec<Step> {
        let binaries: Vec<HostBinary> = self
            .deploying()
            .filter(|s| s.image == Some(ImagePlan::Build) && s.target.config.build == Build::Host)
            .filter_map(|s| {
                let package = s.target.package.clone()?;
                Some(HostBinary {
                    service: s.unit.name.clone(),
                    bin: s
                        .target
                        .config
                        .bin
                        .clone()
                        .unwrap_or_else(|| package.clone()),
                    package,
                    auditable: s.target.config.auditable(),
                })
            })
            .collect();
        if binaries.is_empty() {
            Vec::new()
        } else {
            vec![Step::Compile { binaries }]
        }
    }

    fn image_build(&self, s: &ServicePlan) -> Option<Step> {
        if s.image != Some(ImagePlan::Build) {
            return None;
        }
        let (name, fingerprint, uri) =
            (&s.unit.name, &s.unit.fingerprint, &s.target.repository_uri);
        let mut build_args = s.target.config.build_args.clone();
        build_args.insert(FINGERPRINT_ARG.into(), fingerprint.clone());
        Some(Step::Build(ImageBuild {
            unit: s.step(),
            tag: format!("{uri}:{FINGERPRINT_TAG}{fingerprint}"),
            commit_tag: format!("{COMMIT_TAG}{}", self.commit),
            build_args,
            labels: vec![
                format!("org.opencontainers.image.revision={}", self.commit),
                format!("dev.xtask.fingerprint={fingerprint}"),
                format!("dev.xtask.service={name}"),
            ],
        }))
    }

    fn image_copy(&self, s: &ServicePlan) -> Option<Step> {
        let Some(ImagePlan::Promote {
            from,
            digest,
            source_uri,
            ..
        }) = &s.image
        else {
            return None;
        };
        Some(Step::Copy(ImageCopy {
            unit: s.step(),
            source: format!("{source_uri}@{digest}"),
            digest: digest.clone(),
            from: from.clone(),
            tag: format!("{FINGERPRINT_TAG}{}", s.unit.fingerprint),
            commit_tag: format!("{COMMIT_TAG}{}", self.commit),
        }))
    }

    /// Each service and app a promotion cannot take, with why: pre-flight refuses them
    /// all at once.
    pub fn refused(&self) -> Vec<String> {
        let services = (self.services.iter())
            .filter_map(|s| Some(format!("service {}: {}", s.unit.name, s.refused.as_ref()?)));
        let apps = (self.apps.iter())
            .filter_map(|a| Some(format!("app {}: {}", a.unit.name, a.refused.as_ref()?)));
        services.chain(apps).collect()
    }

    fn retag(&self, s: &ServicePlan) -> Option<Retag> {
        match &s.image {
            Some(ImagePlan::Reuse {
                digest,
                tag_commit: true,
            }) => Some(Retag {
                service: s.unit.name.clone(),
                repository: s.target.repository.clone(),
                digest: digest.clone(),
                tag: format!("{COMMIT_TAG}{}", self.commit),
            }),
            _ => None,
        }
    }

    fn migration(&self, s: &ServicePlan) -> Option<Step> {
        Some(Step::Migrate(Migration {
            unit: s.step(),
            tree: s.migrate.clone()?,
            placement: s.placement.clone(),
        }))
    }

    fn rollout(&self, s: &ServicePlan) -> Rollout {
        let source = match &s.adopt {
            Some(adopted) => adopted.previous.clone(),
            None => s.live_task_definition.clone(),
        };
        Rollout {
            unit: s.step(),
            source_task_definition: source,
            adopt: s.adopt.clone(),
            bakes: s.strategy.bakes(),
        }
    }

    /// The roll of `service`, where the plan rolls it.
    pub fn rollout_of(&self, service: &str) -> Option<&Rollout> {
        self.phases.iter().flatten().find_map(|step| match step {
            Step::Roll(roll) if roll.unit.service == service => Some(roll),
            _ => None,
        })
    }

    /// What `--dry-run` runs: the same phases, only the steps that preview.
    pub fn preview_phases(&self) -> Vec<Vec<Step>> {
        let mut phases = self.phases.clone();
        for phase in &mut phases {
            phase.retain(Step::previews);
        }
        phases.retain(|phase| !phase.is_empty());
        phases
    }
}

fn app_step(a: &AppPlan) -> AppStep {
    AppStep {
        app: a.unit.name.clone(),
        target: a.target.clone(),
        fingerprint: a.unit.fingerprint.clone(),
    }
}

/// A deploy ships the app's new build; a rollback makes its kept release live again.
fn ship_or_activate(a: &AppPlan) -> Step {
    match &a.activate {
        Some(release) => Step::Activate {
            app: app_step(a),
            release: release.clone(),
        },
        None => Step::Ship(app_step(a)),
    }
}

/// The plan as the change engine's plan, for its text table.
pub fn as_change_plan(plan: &DeployPlan, live_label: &str) -> plan::Plan {
    plan::Plan {
        schema: plan::SCHEMA,
        base: live_label.to_owned(),
        head: plan.commit.clone(),
        services: plan.services.iter().map(|s| s.unit.clone()).collect(),
        apps: plan.apps.iter().map(|a| a.unit.clone()).collect(),
        removed: Vec::new(),
        dirty_inputs: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::inputs::UnitKind;
    use crate::testing::CONFIG;
    use std::sync::LazyLock;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    static TARGETS: LazyLock<(Vec<ServiceTarget>, AppTarget)> = LazyLock::new(|| {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let names = config.names("staging");
        let services = (config.services.iter())
            .map(|s| {
                let uri = Some(format!("registry.test/{}", s.name));
                ServiceTarget::resolve(&names, s, Some(s.name.clone()), uri)
            })
            .collect();
        (
            services,
            AppTarget::resolve(&names, config.app("admin").unwrap()),
        )
    });

    fn target(name: &str) -> &'static ServiceTarget {
        TARGETS.0.iter().find(|t| t.config.name == name).unwrap()
    }

    /// Each step as its kind and unit.
    fn shape(phases: &[Vec<Step>]) -> Vec<Vec<(StepKind, Option<&str>)>> {
        let step = |s| (Step::kind(s), Step::unit(s));
        (phases.iter())
            .map(|p| p.iter().map(step).collect())
            .collect()
    }

    fn unit(name: &str, fingerprint: &str) -> UnitFingerprint {
        crate::testing::unit(name, UnitKind::Service, fingerprint)
    }

    fn live(fingerprint: &str) -> LiveService {
        LiveService {
            exists: true,
            fingerprint: Some(fingerprint.into()),
            task_definition: Some("td:1".into()),
            ..LiveService::default()
        }
    }

    fn facts<'a>(head: &'a UnitFingerprint, live: &'a LiveService) -> Facts<'a> {
        Facts {
            head,
            target: target(&head.unit.name),
            live,
            existing: None,
            migrations: None,
            applied: None,
            explained: Some(&CHANGED),
            last: None,
            source: None,
        }
    }

    /// Every changed service's one reason.
    static CHANGED: std::sync::LazyLock<Vec<Reason>> =
        std::sync::LazyLock::new(|| vec![Reason::InputChanged { input: "x".into() }]);

    /// The plan of `facts` (no apps).
    fn plan_of(facts: &[Facts<'_>], selection: &Selection, images_only: bool) -> DeployPlan {
        let command = Command::Deploy { images_only };
        super::plan("staging", COMMIT, facts, &[], selection, command)
    }

    #[test]
    fn only_changed_services_deploy_and_each_phase_follows_the_last() {
        let (api, worker) = (unit("api", "new"), unit("worker", "same"));
        let (live_api, live_worker) = (live("old"), live("same"));
        let facts = [facts(&api, &live_api), facts(&worker, &live_worker)];
        let plan = plan_of(&facts, &Selection::default(), false);
        let deploying: Vec<&str> = plan.deploying().map(|s| s.unit.name.as_str()).collect();
        assert_eq!(deploying, ["api"]);
        let api = Some("api");
        assert_eq!(
            shape(&plan.phases),
            [
                vec![(StepKind::Compile, None)],
                vec![(StepKind::Build, api)],
                vec![(StepKind::Roll, api)],
                vec![(StepKind::Health, api)],
            ]
        );
    }

    #[test]
    fn each_step_carries_what_it_needs_resolved_for_the_environment() {
        let api = unit("api", "new");
        let live_api = live("old");
        let plan = plan_of(&[facts(&api, &live_api)], &Selection::default(), false);
        let steps: Vec<&Step> = plan.phases.iter().flatten().collect();
        let Step::Compile { binaries } = steps[0] else {
            panic!("{:?}", steps[0])
        };
        assert_eq!(binaries[0].package, "api");
        let Step::Build(build) = steps[1] else {
            panic!("{:?}", steps[1])
        };
        assert_eq!(build.tag, "registry.test/api:fp-new");
        assert_eq!(build.commit_tag, format!("git-{COMMIT}"));
        let flags = build.flags("Dockerfile").join(" ");
        assert!(flags.contains("--build-arg PROFILE=release"), "{flags}");
        assert!(flags.contains("--build-arg FINGERPRINT=new"), "{flags}");
        assert!(flags.contains(&format!(
            "--label org.opencontainers.image.revision={COMMIT}"
        )));
        let Step::Roll(roll) = steps[2] else {
            panic!("{:?}", steps[2])
        };
        assert_eq!(roll.source_task_definition.as_deref(), Some("td:1"));
        assert_eq!(roll.unit.target.cluster, "acme-staging");
        assert_eq!(roll.unit.target.ecs_service, "acme-staging-api");
        let Step::Health(health) = steps[3] else {
            panic!("{:?}", steps[3])
        };
        assert_eq!(
            health.target.health_url.as_deref(),
            Some("http://api.example/health")
        );
    }

    /// The head's version, left mid-rollout by a killed run: waited for while it may
    /// complete, rolled again once FAILED, health-checked either way; restoring goes back
    /// to what ran before it.
    #[test]
    fn an_unfinished_rollout_of_the_head_is_adopted_unless_it_failed() {
        let api = unit("api", "same");
        let mut live_api = live("same");
        let image = Image {
            digest: "sha256:1".into(),
            tags: vec![format!("git-{COMMIT}")],
        };
        live_api.in_flight = Some(InFlight {
            deployment: "ecs-svc/2".into(),
            task_definition: "td:2".into(),
            state: Some("IN_PROGRESS".into()),
            created_at_ms: 1,
            deployments: 2,
            previous: Some("td:1".into()),
        });
        let mut f = facts(&api, &live_api);
        f.existing = Some(&image);
        let plan = plan_of(&[f], &Selection::default(), false);
        let planned = plan.service("api").unwrap();
        assert_eq!(planned.unit.action, Action::Deploy);
        assert!(matches!(
            planned.unit.reasons[..],
            [Reason::RolloutUnfinished { .. }]
        ));
        let roll = plan.rollout_of("api").unwrap();
        assert_eq!(roll.adopt.as_ref().unwrap().deployment, "ecs-svc/2");
        assert_eq!(roll.source_task_definition.as_deref(), Some("td:1"));
        assert_eq!(
            shape(&plan.phases),
            [
                vec![(StepKind::Roll, Some("api"))],
                vec![(StepKind::Health, Some("api"))]
            ]
        );

        live_api.in_flight.as_mut().unwrap().state = Some("FAILED".into());
        let mut f = facts(&api, &live_api);
        f.existing = Some(&image);
        let plan = plan_of(&[f], &Selection::default(), false);
        let roll = plan.rollout_of("api").unwrap();
        assert!(roll.adopt.is_none(), "a failed rollout is rolled again");
        assert_eq!(roll.source_task_definition.as_deref(), Some("td:1"));
    }

    /// The head's version, rolled by a deploy whose health check of it failed: planned
    /// again. Another version's failure, or a passed check, is no reason.
    #[test]
    fn a_version_whose_health_check_failed_is_not_done() {
        let api = unit("api", "same");
        let live_api = live("same");
        let last = |fingerprint: &str, outcome| LastOutcome {
            deploy_id: "d1".into(),
            fingerprint: fingerprint.into(),
            outcome,
        };
        let plan_with = |last: &LastOutcome| {
            let mut f = facts(&api, &live_api);
            f.last = Some(last);
            plan_of(&[f], &Selection::default(), false)
        };
        let plan = plan_with(&last("same", UnitOutcome::Unhealthy));
        let planned = plan.service("api").unwrap();
        assert_eq!(
            planned.unit.reasons,
            [Reason::LastUnhealthy {
                deploy_id: "d1".into()
            }]
        );
        for other in [
            last("other", UnitOutcome::Unhealthy),
            last("same", UnitOutcome::Deployed),
        ] {
            let plan = plan_with(&other);
            assert_eq!(plan.service("api").unwrap().unit.action, Action::Skip);
        }
    }

    #[test]
    fn a_difference_nothing_explained_is_planned_as_just_that() {
        let api = unit("api", "new");
        let live_api = live("old");
        let mut f = facts(&api, &live_api);
        f.explained = None;
        let plan = plan_of(&[f], &Selection::default(), false);
        assert_eq!(
            plan.services[0].unit.reasons,
            [Reason::LiveDiffers { live: "old".into() }]
        );
    }

    #[test]
    fn an_existing_image_is_retagged_not_built() {
        let api = unit("api", "new");
        let live_api = live("old");
        let image = Image {
            digest: "sha256:1".into(),
            tags: vec!["fp-new".into()],
        };
        let mut f = facts(&api, &live_api);
        f.existing = Some(&image);
        let plan = plan_of(&[f], &Selection::default(), false);
        assert_eq!(
            plan.services[0].image,
            Some(ImagePlan::Reuse {
                digest: "sha256:1".into(),
                tag_commit: true
            })
        );
        assert_eq!(
            plan.phases[0].iter().map(Step::kind).collect::<Vec<_>>(),
            [StepKind::Retag]
        );
        let Step::Retag(retag) = &plan.phases[0][0] else {
            unreachable!()
        };
        assert_eq!(
            (retag.digest.as_str(), retag.tag.clone()),
            ("sha256:1", format!("git-{COMMIT}"))
        );
    }

    #[test]
    fn migrations_run_only_when_their_tree_differs_from_the_applied_one() {
        let api = unit("api", "new");
        let live_api = live("old");
        let mut f = facts(&api, &live_api);
        f.migrations = Some("tree2");
        f.applied = Some("tree1");
        let plan = plan_of(&[f], &Selection::default(), false);
        assert_eq!(plan.services[0].migrate.as_deref(), Some("tree2"));
        assert!(shape(&plan.phases).contains(&vec![(StepKind::Migrate, Some("api"))]));

        let mut f = facts(&api, &live_api);
        f.migrations = Some("tree1");
        f.applied = Some("tree1");
        let plan = plan_of(&[f], &Selection::default(), false);
        assert_eq!(plan.services[0].migrate, None);
    }

    #[test]
    fn unknown_live_deploys_with_that_reason_and_all_forces_the_rest() {
        let (api, worker) = (unit("api", "a"), unit("worker", "w"));
        let unknown = LiveService {
            exists: true,
            unknown: Some("image x:bootstrap is not in the registry".into()),
            ..LiveService::default()
        };
        let same = live("w");
        let all = Selection {
            all: true,
            only: None,
        };
        let facts = [facts(&api, &unknown), facts(&worker, &same)];
        let plan = plan_of(&facts, &all, false);
        assert!(matches!(
            plan.services[0].unit.reasons[0],
            Reason::LiveUnknown { .. }
        ));
        assert_eq!(plan.services[1].unit.reasons, vec![Reason::Requested]);
    }

    #[test]
    fn services_outside_the_selection_are_not_planned_and_images_only_stops_after_push() {
        let (api, worker) = (unit("api", "a"), unit("worker", "w"));
        let (live_api, live_worker) = (live("old"), live("old"));
        let only = Selection {
            all: false,
            only: Some(BTreeSet::from(["worker".to_owned()])),
        };
        let facts = [facts(&api, &live_api), facts(&worker, &live_worker)];
        let plan = plan_of(&facts, &only, true);
        assert_eq!(plan.services.len(), 1);
        assert_eq!(plan.services[0].unit.name, "worker");
        assert!((plan.phases.iter().flatten())
            .all(|s| matches!(s.kind(), StepKind::Compile | StepKind::Build)));
    }

    #[test]
    fn a_rollback_rolls_what_differs_lists_what_is_missing_and_never_builds_or_migrates() {
        let (api, worker, jobs) = (unit("api", "a"), unit("worker", "w"), unit("jobs", "j"));
        let mut live_api = live("b");
        live_api.digest = Some("sha256:new".into());
        let mut live_worker = live("w");
        live_worker.digest = Some("sha256:w".into());
        let live_jobs = live("k");
        let (target_api, target_worker) = (
            Image {
                digest: "sha256:old".into(),
                tags: vec![],
            },
            Image {
                digest: "sha256:w".into(),
                tags: vec![],
            },
        );
        let mut facts = [
            facts(&api, &live_api),
            facts(&worker, &live_worker),
            facts(&jobs, &live_jobs),
        ];
        facts[0].existing = Some(&target_api);
        facts[1].existing = Some(&target_worker);
        // Migrations are never run by a rollback, whatever differs.
        facts[0].migrations = Some("tree-a");
        let admin = unit("admin", "p");
        let live_admin = LiveApp {
            release: Some("r2".into()),
            ..LiveApp::default()
        };
        let apps = [AppFacts {
            head: &admin,
            target: &TARGETS.1,
            live: &live_admin,
            release: Some("r1"),
            explained: None,
            source: None,
        }];
        let plan = super::plan(
            "staging",
            COMMIT,
            &facts,
            &apps,
            &Selection::default(),
            Command::Rollback,
        );
        let rolled: Vec<&str> = plan.deploying().map(|s| s.unit.name.as_str()).collect();
        assert_eq!(rolled, ["api", "jobs"], "worker already runs its target");
        assert_eq!(plan.missing().len(), 1, "{:?}", plan.missing());
        assert!(plan.missing()[0].starts_with("service jobs"));
        assert_eq!(plan.app("admin").unwrap().activate.as_deref(), Some("r1"));
        let steps: Vec<StepKind> = plan.phases.iter().flatten().map(Step::kind).collect();
        assert!(steps.iter().all(|s| !matches!(
            s,
            StepKind::Compile
                | StepKind::Build
                | StepKind::Retag
                | StepKind::Migrate
                | StepKind::BuildApp
        )));
        assert!(steps.contains(&StepKind::Activate));
        assert_eq!(serde_json::to_value(&plan).unwrap()["command"], "rollback");
        // A dry run of it: only the activation, which shows the release it would make live.
        assert_eq!(
            shape(&plan.preview_phases()),
            [vec![(StepKind::Activate, Some("admin"))]]
        );
    }

    #[test]
    fn a_dry_run_keeps_only_steps_that_change_nothing_remote() {
        let api = unit("api", "new");
        let live_api = live("old");
        let plan = plan_of(&[facts(&api, &live_api)], &Selection::default(), false);
        assert!(!plan.phases.is_empty());
        assert!(
            plan.preview_phases().is_empty(),
            "a service's steps all change something remote"
        );
    }
}
