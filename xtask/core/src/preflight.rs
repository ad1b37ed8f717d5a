//! Pre-flight's pure half: the plan, what planning read and what pre-flight read in; every
//! problem out, each with what to do about it, reported together. The binary gathers the
//! [`Facts`] (git, the lock, buckets, Docker); nothing here reads anything.
//! Each rule is tested below without AWS, git or Docker.

use crate::config::{Config, Names, FILE_NAME};
use crate::contract::LiveCode;
use crate::deploy_plan::{DeployPlan, Step};
use crate::error::Error;
use crate::live::{Controller, LiveService, Repository};
use crate::plan::DirtyInput;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What the rules hold the facts to: the environment in deploy.toml and the run's flags.
pub struct Rules<'a> {
    pub config: &'a Config,
    pub names: Names<'a>,
    /// `--timeout`: what each phase of the plan may take, at worst.
    pub timeout: Duration,
    /// `--on-failure rollback`: a restore phase may follow.
    pub restore: bool,
    /// A deploy refuses units with findings; a rollback goes back to what ran before.
    pub findings_block: bool,
    /// A rollback: what to say when the schema is ahead of the commit rolled back to.
    pub schema: Option<SchemaPolicy>,
    /// `--no-build`: every image must exist already (the build jobs pushed them).
    pub builds: Builds<'a>,
}

/// Whether the run may build images.
#[derive(Debug, Clone, Copy)]
pub enum Builds<'a> {
    Allowed,
    /// `--no-build`, with the plan the build jobs worked from when there is one (it says
    /// which job should have built a missing image).
    Forbidden {
        handoff: Option<&'a crate::handoff::Handoff>,
    },
}

/// A rollback onto a schema newer than its code: refused, or warned with `--force-schema`;
/// a promotion of a commit older than the schema: refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaPolicy {
    Refuse,
    Force,
    RefusePromotion,
}

/// What pre-flight read, beyond what planning read.
pub struct Facts {
    /// The account the credentials belong to (STS).
    pub account: String,
    /// HEAD's branch; `None` when detached.
    pub branch: Option<String>,
    /// Uncommitted changes; `None` when they are allowed (`--allow-dirty`, a rollback).
    pub dirty: Option<Dirty>,
    pub lock: LockState,
    /// Each app the plan ships, by name.
    pub apps: BTreeMap<String, AppTarget>,
    /// The Docker engine's version, or why it does not answer; `None` when nothing is built.
    pub docker: Option<Result<String, String>>,
    /// A rollback's services whose applied migrations are ahead of its commit, with why.
    pub schema_ahead: Vec<(String, String)>,
    /// What the deploy's migrations drop or rename, and where live code uses it.
    pub live_code: Vec<LiveCode>,
    pub credentials: CredentialLife,
}

/// How long the run's AWS credentials keep working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialLife {
    /// Long-lived keys, or renewed by their provider before they expire.
    Renewed,
    /// Temporary and not renewable (exported as variables): they stop working after this.
    ExpiresIn(Duration),
    /// Temporary, expiry not known: why, as a warning.
    Unknown(String),
}

/// Uncommitted changes that a deploy of HEAD would not include.
#[derive(Debug, Default)]
pub struct Dirty {
    pub config: bool,
    pub inputs: Vec<DirtyInput>,
}

/// The environment's deploy lock, as read from the state bucket.
pub enum LockState {
    Free,
    /// `holder` says who, since when and until when; `stale` when that time has passed.
    Held {
        holder: String,
        stale: bool,
    },
    Unreadable {
        bucket: String,
        why: String,
    },
}

/// What planning read that the rules look at again: each planned service's repository and
/// its live ECS service.
#[derive(Clone, Copy)]
pub struct Planned<'a> {
    pub repositories: &'a BTreeMap<String, Repository>,
    pub services: &'a BTreeMap<String, LiveService>,
}

/// Where an app ships to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppTarget {
    Ready,
    NoBucket {
        bucket: String,
    },
    /// S3 answered, but not with the bucket: `why` says what (forbidden, another region).
    BucketRefused {
        bucket: String,
        why: String,
    },
    NoDistribution {
        bucket: String,
    },
    /// More than one distribution has the bucket's name as its comment.
    Distributions {
        bucket: String,
        ids: Vec<String>,
    },
}

/// One reason the run must not start. Each says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    WrongAccount {
        account: String,
        env: String,
        expected: String,
    },
    WrongBranch {
        env: String,
        branch: String,
        head: Option<String>,
    },
    DirtyConfig,
    DirtyInputs(Vec<String>),
    LockHeld {
        env: String,
        holder: String,
        stale: bool,
    },
    StateBucket {
        bucket: String,
        why: String,
    },
    Finding {
        unit: String,
        finding: String,
    },
    NoRepository {
        unit: String,
        repository: String,
    },
    NoService {
        unit: String,
        service: String,
        cluster: String,
    },
    /// The image is built for another CPU than the task definition runs on.
    Platform {
        unit: String,
        platform: String,
        runs: String,
    },
    /// deploy.toml's strategy shifts traffic, and the service has nowhere to shift it.
    Unroutable {
        unit: String,
        service: String,
        strategy: crate::delivery::StrategyKind,
        missing: Vec<&'static str>,
    },
    /// The service's deployment controller refuses how this tool deploys.
    Controller {
        unit: String,
        service: String,
        controller: Controller,
    },
    NoBucket {
        app: String,
        bucket: String,
    },
    NoDistribution {
        app: String,
        bucket: String,
    },
    NoDocker(String),
    /// A rollback target (image or release) that is nowhere to be found.
    Missing(String),
    /// `--no-build`, and no image has the service's fingerprint: its build job did not
    /// push one (`shard`: the job's number and services, from the saved plan).
    NotBuilt {
        unit: String,
        fingerprint: String,
        shard: Option<(usize, Vec<String>)>,
    },
    SchemaAhead {
        message: String,
    },
    /// A migration drops or renames what live code still uses (expand, then contract).
    LiveCodeUses(LiveCode),
    /// The live commit of a service sharing the database is not in this clone.
    LiveCodeUnsearched(LiveCode),
    /// The credentials expire before the deploy could end.
    CredentialsExpire {
        left: Duration,
        worst_case: Duration,
        phases: usize,
        /// The longest roll's ECS bakes, counted once per roll (and restore).
        bakes: Duration,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::WrongAccount { account, env, expected } => write!(
                f,
                "AWS account is {account}, but environment {env} is account {expected} ({FILE_NAME}); check your credentials or --profile"
            ),
            Problem::WrongBranch { env, branch, head } => write!(
                f,
                "environment {env} deploys only from branch `{branch}`; HEAD is {}",
                head.as_ref().map_or("detached".into(), |b| format!("on branch `{b}`"))
            ),
            Problem::DirtyConfig => write!(
                f,
                "{FILE_NAME} has uncommitted changes: a deploy reads HEAD's (commit it, or pass --allow-dirty)"
            ),
            Problem::DirtyInputs(paths) => write!(
                f,
                "uncommitted changes to inputs (commit them, or pass --allow-dirty): {}",
                paths.join(", ")
            ),
            Problem::LockHeld { env, holder, stale } => {
                write!(f, "the deploy lock of {env} is {holder}")?;
                if *stale {
                    write!(
                        f,
                        "; if that run is dead, `cargo xtask lock release --env {env}` removes it"
                    )?;
                }
                Ok(())
            }
            Problem::StateBucket { bucket, why } => write!(f, "state bucket {bucket}: {why}"),
            Problem::Finding { unit, finding } => write!(f, "{unit}: {finding}"),
            Problem::NoRepository { unit, repository } => {
                write!(f, "ECR repository {repository} of {unit} does not exist")
            }
            Problem::NoService { unit, service, cluster } => write!(
                f,
                "ECS service {service} of {unit} does not exist in cluster {cluster}"
            ),
            Problem::Platform { unit, platform, runs } => write!(
                f,
                "{unit} is built for {platform}, but its task definition runs on {runs}: set `platform` in {FILE_NAME}, or the task definition's runtimePlatform, to the same operating system and CPU"
            ),
            Problem::Unroutable { unit, service, strategy, missing } => write!(
                f,
                "{unit} deploys `strategy = \"{strategy}\"` ({FILE_NAME}), but ECS service {service} lacks {}: give it a load balancer with two target groups, a production and a test listener and the ECS infrastructure role (infra/terraform/load_balancer.tf), or deploy it rolling",
                missing.join(", ")
            ),
            Problem::Controller { unit, service, controller } => write!(
                f,
                "ECS service {service} of {unit} has the {} deployment controller: {}",
                controller.name(),
                controller.refusal().unwrap_or_default()
            ),
            Problem::NoBucket { app, bucket } => {
                write!(f, "S3 bucket {bucket} of app {app} does not exist")
            }
            Problem::NoDistribution { app, bucket } => write!(
                f,
                "no CloudFront distribution serves app {app} (none has the comment `{bucket}`)"
            ),
            Problem::NoDocker(why) | Problem::Missing(why) => f.write_str(why),
            Problem::NotBuilt { unit, fingerprint, shard } => {
                write!(f, "--no-build: no image of {unit} has its fingerprint {} in ECR; ", crate::text::short(fingerprint))?;
                match shard {
                    Some((n, services)) => write!(
                        f,
                        "shard {n}'s build job ({}) did not push it: re-run that job, then this one",
                        services.join(", ")
                    ),
                    None => f.write_str(
                        "the saved plan gives it to no build job: plan again (the plan job), or deploy without --no-build",
                    ),
                }
            }
            Problem::SchemaAhead { message } => f.write_str(message),
            Problem::LiveCodeUses(found) => {
                let shown: Vec<String> = found.uses.iter().take(10).map(ToString::to_string).collect();
                let more = found.uses.len().saturating_sub(shown.len());
                write!(
                    f,
                    "{}:{} {} while the code running now still uses it: {}{}; deploy the code that stops using it first, and the migration after that deploy (expand, then contract), or say why it is safe above the statement: `-- xtask:allow(live-code): <reason>`",
                    found.file,
                    found.line,
                    found.what,
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                )
            }
            Problem::LiveCodeUnsearched(found) => {
                let missing: Vec<String> = (found.unsearched.iter())
                    .map(|(service, commit)| format!("{service} runs {}", crate::text::short(commit)))
                    .collect();
                write!(
                    f,
                    "{}:{} {}, and the live code that might use it is not in this clone ({}): fetch it (`git fetch origin <commit>`, or a clone with more history: actions/checkout's fetch-depth: 0) and deploy again",
                    found.file,
                    found.line,
                    found.what,
                    missing.join(", ")
                )
            }
            Problem::CredentialsExpire { left, worst_case, phases, bakes } => write!(
                f,
                "the AWS credentials expire in {}, and this deploy may take {} ({phases} phases of --timeout{}): assume the role for longer (configure-aws-credentials' role-duration-seconds, up to the role's max_session_duration) or lower --timeout",
                humantime::format_duration(Duration::from_secs(left.as_secs())),
                humantime::format_duration(*worst_case),
                if bakes.is_zero() {
                    String::new()
                } else {
                    format!(", and ECS's bakes of {} per roll", humantime::format_duration(*bakes))
                }
            ),
        }
    }
}

/// What [`verify`] found: problems stop the run; warnings are shown and it goes on.
#[derive(Debug, Default)]
pub struct Verdict {
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
}

impl Verdict {
    /// How the run ends when it cannot start: a held lock alone is its own exit code, so
    /// that a CI job can wait and retry; anything else is a failed check.
    pub fn error(&self) -> Option<Error> {
        match self.problems.as_slice() {
            [] => None,
            [Problem::LockHeld { .. }] => Some(Error::LockHeld(self.message())),
            _ => Some(Error::Check(self.message())),
        }
    }

    /// The one message that lists every problem.
    pub fn message(&self) -> String {
        let mut message = String::from("pre-flight checks failed, nothing was changed:");
        for problem in &self.problems {
            message.push_str(&format!("\n  - {problem}"));
        }
        message
    }
}

/// Every rule, over the plan and what was read. Pure.
pub fn verify(plan: &DeployPlan, read: Planned<'_>, facts: &Facts, rules: &Rules<'_>) -> Verdict {
    let mut verdict = Verdict::default();
    verdict.problems.extend(identity(facts, rules));
    verdict.problems.extend(worktree(facts));
    // Build jobs push images without the lock (a deploy holding it changes nothing they do).
    if !plan.images_only {
        verdict.problems.extend(lock(facts, rules));
    }
    verdict.problems.extend(services(plan, read, rules));
    verdict.problems.extend(apps(facts));
    if let Some(Err(why)) = &facts.docker {
        verdict.problems.push(Problem::NoDocker(why.clone()));
    }
    verdict
        .problems
        .extend(plan.missing().into_iter().map(Problem::Missing));
    verdict
        .problems
        .extend(plan.refused().into_iter().map(Problem::Missing));
    verdict.problems.extend(unbuilt(plan, rules.builds));
    schema(plan, facts, rules, &mut verdict);
    live_code(facts, &mut verdict);
    credentials(plan, facts, rules, &mut verdict);
    verdict
}

/// Under `--no-build`, each service the plan would build: its image is not there.
fn unbuilt(plan: &DeployPlan, builds: Builds<'_>) -> Vec<Problem> {
    let Builds::Forbidden { handoff } = builds else {
        return Vec::new();
    };
    (plan.deploying())
        .filter(|s| s.image == Some(crate::deploy_plan::ImagePlan::Build))
        .map(|s| Problem::NotBuilt {
            unit: s.unit.name.clone(),
            fingerprint: s.unit.fingerprint.clone(),
            shard: handoff
                .and_then(|h| h.shard_of(&s.unit.name))
                .map(|(n, services)| (n, services.to_vec())),
        })
        .collect()
}

/// What the live task definition runs on (`runtimePlatform`), when an image built for
/// `platform` could not run there: another CPU, or another operating system.
fn platform_mismatch(platform: &str, live: &LiveService) -> Option<String> {
    let built = crate::live::cpu_architecture(platform);
    let cpu = (live.cpu_architecture.as_ref()).filter(|r| built.is_some_and(|b| b != *r));
    let os = (live.os_family.as_ref()).filter(|f| !crate::live::runs_on_os_family(platform, f));
    match (os, cpu) {
        (None, None) => None,
        (os, cpu) => Some(
            [os, cpu]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// Temporary credentials that nothing renews must outlive the deploy's worst case: each
/// phase of the plan that may take `--timeout` taking it, a restore after them, and ECS's
/// bakes in the roll and the restore (services roll at once: the longest counts).
/// Otherwise the lock release and the ledger fail with ExpiredToken and the lock stays.
fn credentials(plan: &DeployPlan, facts: &Facts, rules: &Rules<'_>, verdict: &mut Verdict) {
    let long = (plan.phases.iter())
        .filter(|steps| {
            steps
                .first()
                .is_some_and(|s| s.phase().may_take_the_timeout())
        })
        .count();
    let phases = long + usize::from(rules.restore);
    let bakes = (plan.phases.iter().flatten())
        .filter_map(|step| match step {
            Step::Roll(roll) => Some(roll.bakes),
            _ => None,
        })
        .max()
        .unwrap_or_default();
    let rolls = 1 + u32::from(rules.restore);
    let worst_case = rules.timeout * u32::try_from(phases).unwrap_or(u32::MAX) + bakes * rolls;
    match &facts.credentials {
        CredentialLife::Renewed => {}
        CredentialLife::Unknown(why) => verdict.warnings.push(why.clone()),
        CredentialLife::ExpiresIn(left) if *left < worst_case => {
            verdict.problems.push(Problem::CredentialsExpire {
                left: *left,
                worst_case,
                phases,
                bakes,
            })
        }
        CredentialLife::ExpiresIn(_) => {}
    }
}

/// The credentials are the environment's account, and HEAD is on its branch.
fn identity(facts: &Facts, rules: &Rules<'_>) -> Vec<Problem> {
    let env = rules.names.env;
    let mut problems = Vec::new();
    if &facts.account != env.account_id.get_ref() {
        problems.push(Problem::WrongAccount {
            account: facts.account.clone(),
            env: rules.names.env_name.to_owned(),
            expected: env.account_id.get_ref().clone(),
        });
    }
    if let Some(branch) = &env.branch {
        if facts.branch.as_ref() != Some(branch.get_ref()) {
            problems.push(Problem::WrongBranch {
                env: rules.names.env_name.to_owned(),
                branch: branch.get_ref().clone(),
                head: facts.branch.clone(),
            });
        }
    }
    problems
}

/// What a deploy of HEAD would leave out: uncommitted deploy.toml and inputs.
fn worktree(facts: &Facts) -> Vec<Problem> {
    let Some(dirty) = &facts.dirty else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if dirty.config {
        problems.push(Problem::DirtyConfig);
    }
    if !dirty.inputs.is_empty() {
        let paths = dirty.inputs.iter().take(10);
        let paths = paths.map(|d| format!("{} ({})", d.path, d.units.join(", ")));
        problems.push(Problem::DirtyInputs(paths.collect()));
    }
    problems
}

fn lock(facts: &Facts, rules: &Rules<'_>) -> Option<Problem> {
    match &facts.lock {
        LockState::Free => None,
        LockState::Held { holder, stale } => Some(Problem::LockHeld {
            env: rules.names.env_name.to_owned(),
            holder: holder.clone(),
            stale: *stale,
        }),
        LockState::Unreadable { bucket, why } => Some(Problem::StateBucket {
            bucket: bucket.clone(),
            why: why.clone(),
        }),
    }
}

/// Each service the plan deploys has no findings (a deploy), a repository, and (unless
/// only images are pushed) an ECS service to roll.
fn services(plan: &DeployPlan, read: Planned<'_>, rules: &Rules<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for planned in plan.deploying() {
        let unit = &planned.unit.name;
        if rules.findings_block {
            problems.extend(planned.unit.findings.iter().map(|f| Problem::Finding {
                unit: unit.clone(),
                finding: f.to_string(),
            }));
        }
        let repository = &read.repositories[unit];
        if repository.uri.is_none() {
            problems.push(Problem::NoRepository {
                unit: unit.clone(),
                repository: repository.name.clone(),
            });
        }
        if plan.images_only {
            continue;
        }
        let service = rules
            .config
            .service(unit)
            .expect("planned services are in deploy.toml");
        let live = &read.services[unit];
        if !live.exists {
            problems.push(Problem::NoService {
                unit: unit.clone(),
                service: rules.names.ecs_service(service),
                cluster: rules.names.cluster(),
            });
            continue;
        }
        if let Some(runs) = platform_mismatch(&service.platform, live) {
            problems.push(Problem::Platform {
                unit: unit.clone(),
                platform: service.platform.clone(),
                runs,
            });
        }
        let strategy = planned.target.config.delivery.kind();
        let missing = live.routing.missing();
        if strategy.shifts_traffic() && !missing.is_empty() {
            // Before any migration runs: ECS would refuse the roll after it.
            problems.push(Problem::Unroutable {
                unit: unit.clone(),
                service: rules.names.ecs_service(service),
                strategy,
                missing,
            });
        }
        if live.controller.refusal().is_some() {
            // Before any migration runs: the roll after it could not happen.
            problems.push(Problem::Controller {
                unit: unit.clone(),
                service: rules.names.ecs_service(service),
                controller: live.controller.clone(),
            });
        }
    }
    problems
}

fn apps(facts: &Facts) -> Vec<Problem> {
    let problem = |(app, target): (&String, &AppTarget)| {
        match target {
        AppTarget::Ready => None,
        AppTarget::NoBucket { bucket } => Some(Problem::NoBucket {
            app: app.clone(),
            bucket: bucket.clone(),
        }),
        AppTarget::NoDistribution { bucket } => Some(Problem::NoDistribution {
            app: app.clone(),
            bucket: bucket.clone(),
        }),
        AppTarget::BucketRefused { bucket, why } => Some(Problem::Missing(format!(
            "S3 bucket {bucket} of app {app}: {why}"
        ))),
        AppTarget::Distributions { bucket, ids } => Some(Problem::Missing(format!(
            "CloudFront distributions {} all have the comment `{bucket}`: the tool cannot tell which serves app {app}; leave it on one",
            ids.join(" and ")
        ))),
    }
    };
    facts.apps.iter().filter_map(problem).collect()
}

/// A rollback onto a schema that is ahead of its code: refused unless forced, then warned.
fn schema(plan: &DeployPlan, facts: &Facts, rules: &Rules<'_>, verdict: &mut Verdict) {
    let Some(policy) = rules.schema else {
        return;
    };
    for (service, why) in &facts.schema_ahead {
        let message = format!(
            "{service}: migrations were applied after {}: {why}; its old code will run against the newer schema",
            crate::text::short(&plan.commit)
        );
        match policy {
            SchemaPolicy::Force => verdict.warnings.push(format!("{message} (--force-schema)")),
            SchemaPolicy::Refuse => verdict.problems.push(Problem::SchemaAhead {
                message: format!("{message}: pass --force-schema to go on"),
            }),
            SchemaPolicy::RefusePromotion => verdict.problems.push(Problem::SchemaAhead {
                message: format!("{message}: promote a newer commit with --sha"),
            }),
        }
    }
}

/// A migration may take away only what no live code uses, unless its file says why that
/// is safe; live code that could not be searched is a problem too (a guard that silently
/// passes is none).
fn live_code(facts: &Facts, verdict: &mut Verdict) {
    for found in &facts.live_code {
        if !found.unsearched.is_empty() {
            verdict
                .problems
                .push(Problem::LiveCodeUnsearched(found.clone()));
        }
        match (&found.allowed, found.uses.is_empty()) {
            (_, true) => {}
            (Some(reason), false) => verdict.warnings.push(format!(
                "{}:{} {} while live code uses it ({}): allowed: {reason}",
                found.file, found.line, found.what, found.uses[0]
            )),
            (None, false) => verdict.problems.push(Problem::LiveCodeUses(found.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy_plan::{self, AppFacts, Command, Selection};
    use crate::diag::Exit;
    use crate::fingerprint::UnitFingerprint;
    use crate::inputs::UnitKind;
    use crate::live::LiveApp;
    use crate::testing::CONFIG;

    fn unit(name: &str, kind: UnitKind) -> UnitFingerprint {
        crate::testing::unit(name, kind, "new")
    }

    /// What planning read: the service exists, and so does its repository.
    struct Read {
        repositories: BTreeMap<String, Repository>,
        services: BTreeMap<String, LiveService>,
    }

    impl Read {
        fn view(&self) -> Planned<'_> {
            Planned {
                repositories: &self.repositories,
                services: &self.services,
            }
        }
    }

    /// A load balancer block with everything a blue/green deployment needs.
    fn routable() -> crate::live::Routing {
        crate::live::Routing {
            target_group: true,
            alternate_target_group: true,
            production_listener_rule: true,
            test_listener_rule: true,
            infrastructure_role: true,
        }
    }

    #[test]
    fn a_strategy_that_shifts_traffic_needs_the_services_load_balancer_and_test_listener() {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let (plan, mut read) = planned_with(
            Command::Deploy { images_only: false },
            "strategy = \"canary\"",
        );
        let service = read.services.get_mut("api").unwrap();
        service.routing.test_listener_rule = false;
        service.routing.infrastructure_role = false;
        let verdict = verify(&plan, read.view(), &clean(), &staging(&config));
        let message = verdict.message();
        assert!(
            message.contains("api deploys `strategy = \"canary\"`")
                && message.contains("testListenerRule, advancedConfiguration.roleArn"),
            "{message}"
        );
    }

    /// The plan that deploys `api` and ships `admin` (or rolls both back), and what was
    /// read before planning.
    fn planned(command: Command) -> (DeployPlan, Read) {
        planned_with(command, "")
    }

    /// The plan of a service whose `[services.api]` has `delivery` besides (its strategy).
    fn planned_with(command: Command, delivery: &str) -> (DeployPlan, Read) {
        let (api, admin) = (unit("api", UnitKind::Service), unit("admin", UnitKind::App));
        let live = LiveService {
            exists: true,
            fingerprint: Some("old".into()),
            routing: routable(),
            ..LiveService::default()
        };
        let live_app = LiveApp::default();
        let text = CONFIG.replace("[services.api]\n", &format!("[services.api]\n{delivery}\n"));
        let config = crate::config::Config::parse("deploy.toml", &text).unwrap();
        let names = config.names("staging");
        let service = config.service("api").unwrap();
        let target = deploy_plan::ServiceTarget::resolve(&names, service, None, None);
        let app_target = deploy_plan::AppTarget::resolve(&names, config.app("admin").unwrap());
        let facts = [deploy_plan::Facts {
            head: &api,
            target: &target,
            live: &live,
            existing: None,
            migrations: None,
            applied: None,
            explained: None,
            last: None,
            source: None,
        }];
        let apps = [AppFacts {
            head: &admin,
            target: &app_target,
            live: &live_app,
            release: None,
            explained: None,
            source: None,
        }];
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let plan = deploy_plan::plan(
            "staging",
            commit,
            &facts,
            &apps,
            &Selection::default(),
            command,
        );
        let repository = Repository {
            name: "acme-staging-api".into(),
            uri: Some("1.dkr.ecr/acme-staging-api".into()),
        };
        let read = Read {
            repositories: BTreeMap::from([("api".into(), repository)]),
            services: BTreeMap::from([("api".into(), live)]),
        };
        (plan, read)
    }

    /// A deploy's rules in staging.
    fn staging(config: &Config) -> Rules<'_> {
        Rules {
            config,
            names: config.names("staging"),
            findings_block: true,
            schema: None,
            timeout: Duration::from_secs(15 * 60),
            restore: false,
            builds: Builds::Allowed,
        }
    }

    /// Facts with nothing wrong.
    fn clean() -> Facts {
        Facts {
            account: "111111111111".into(),
            branch: Some("main".into()),
            dirty: Some(Dirty::default()),
            lock: LockState::Free,
            apps: BTreeMap::from([("admin".into(), AppTarget::Ready)]),
            docker: Some(Ok("20.10".into())),
            schema_ahead: Vec::new(),
            live_code: Vec::new(),
            credentials: CredentialLife::Renewed,
        }
    }

    fn verdict_of(command: Command, facts: &Facts, schema: Option<SchemaPolicy>) -> Verdict {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let rules = Rules {
            findings_block: command != Command::Rollback,
            schema,
            ..staging(&config)
        };
        let (plan, read) = planned(command);
        verify(&plan, read.view(), facts, &rules)
    }

    fn deploy(facts: &Facts) -> Verdict {
        verdict_of(Command::Deploy { images_only: false }, facts, None)
    }

    fn lock_held(stale: bool) -> LockState {
        LockState::Held {
            holder: "held by ci since 2026-01-01T00:00:00Z (deploy of commit 0123456789ab)".into(),
            stale,
        }
    }

    /// `--no-build`: a service the plan would build is refused, naming the build job that
    /// should have pushed its image; without a saved plan, no job is named.
    #[test]
    fn no_build_names_the_shard_whose_image_is_missing() {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let (plan, read) = planned(Command::Deploy { images_only: false });
        let api = plan.service("api").unwrap();
        assert_eq!(api.image, Some(crate::deploy_plan::ImagePlan::Build));
        let mut handoff =
            crate::handoff::Handoff::of(&plan, vec![vec!["api".into(), "worker".into()]]);
        let verdict = |handoff: Option<&crate::handoff::Handoff>| {
            let rules = Rules {
                builds: Builds::Forbidden { handoff },
                ..staging(&config)
            };
            verify(&plan, read.view(), &clean(), &rules).message()
        };
        let named = verdict(Some(&handoff));
        assert!(
            named.contains("no image of api has its fingerprint")
                && named.contains("shard 1's build job (api, worker) did not push it"),
            "{named}"
        );
        handoff.shards.clear();
        assert!(verdict(Some(&handoff)).contains("gives it to no build job"));
        assert!(verdict(None).contains("gives it to no build job"));
        assert_eq!(
            deploy(&clean()).problems,
            [],
            "building is allowed by default"
        );
    }

    #[test]
    fn clean_facts_pass() {
        let verdict = deploy(&clean());
        assert_eq!(verdict.problems, []);
        assert!(verdict.error().is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let facts = Facts {
            account: "222222222222".into(),
            branch: None,
            dirty: Some(Dirty {
                config: true,
                inputs: vec![DirtyInput {
                    path: "services/api/src/main.rs".into(),
                    units: vec!["api".into()],
                }],
            }),
            docker: Some(Err("the Docker engine is not running".into())),
            ..clean()
        };
        let verdict = deploy(&facts);
        let message = verdict.message();
        assert_eq!(verdict.problems.len(), 5, "{message}");
        assert_eq!(verdict.error().map(|e| e.exit()), Some(Exit::CheckFailed));
        for needle in [
            "AWS account is 222222222222, but environment staging is account 111111111111",
            "deploys only from branch `main`; HEAD is detached",
            "deploy.toml has uncommitted changes",
            "services/api/src/main.rs (api)",
            "the Docker engine is not running",
        ] {
            assert!(message.contains(needle), "{needle} in {message}");
        }
    }

    #[test]
    fn allowed_dirt_and_no_build_are_not_checked() {
        let facts = Facts {
            dirty: None,
            docker: None,
            ..clean()
        };
        assert_eq!(deploy(&facts).problems, []);
    }

    #[test]
    fn a_held_lock_alone_has_its_own_exit_and_a_stale_one_says_how_to_break_it() {
        let held = Facts {
            lock: lock_held(false),
            ..clean()
        };
        let verdict = deploy(&held);
        assert_eq!(verdict.error().map(|e| e.exit()), Some(Exit::LockHeld));
        assert!(!verdict.message().contains("lock release"));

        let stale = Facts {
            lock: lock_held(true),
            ..clean()
        };
        let message = deploy(&stale).message();
        assert!(
            message.contains("`cargo xtask lock release --env staging`"),
            "{message}"
        );

        let and_more = Facts {
            account: "222222222222".into(),
            ..held
        };
        assert_eq!(
            deploy(&and_more).error().map(|e| e.exit()),
            Some(Exit::CheckFailed)
        );
    }

    #[test]
    fn an_unreadable_state_bucket_is_a_problem_not_a_free_lock() {
        let facts = Facts {
            lock: LockState::Unreadable {
                bucket: "acme-staging-state".into(),
                why: "AccessDenied".into(),
            },
            ..clean()
        };
        let verdict = deploy(&facts);
        assert_eq!(verdict.error().map(|e| e.exit()), Some(Exit::CheckFailed));
        assert!(verdict
            .message()
            .contains("state bucket acme-staging-state: AccessDenied"));
    }

    #[test]
    fn targets_that_do_not_exist_are_named() {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let rules = staging(&config);
        let (plan, mut read) = planned(Command::Deploy { images_only: false });
        read.repositories.get_mut("api").unwrap().uri = None;
        read.services.get_mut("api").unwrap().exists = false;
        let facts = Facts {
            apps: BTreeMap::from([(
                "admin".into(),
                AppTarget::NoDistribution {
                    bucket: "acme-staging-admin".into(),
                },
            )]),
            ..clean()
        };
        let problems = verify(&plan, read.view(), &facts, &rules).problems;
        assert_eq!(
            problems,
            [
                Problem::NoRepository {
                    unit: "api".into(),
                    repository: "acme-staging-api".into()
                },
                Problem::NoService {
                    unit: "api".into(),
                    service: "acme-staging-api".into(),
                    cluster: "acme-staging".into()
                },
                Problem::NoDistribution {
                    app: "admin".into(),
                    bucket: "acme-staging-admin".into()
                },
            ]
        );
        // Pushing images needs the repository, not the service.
        let (plan, _) = planned(Command::Deploy { images_only: true });
        let problems = verify(&plan, read.view(), &facts, &rules).problems;
        assert!(!problems
            .iter()
            .any(|p| matches!(p, Problem::NoService { .. })));
    }

    #[test]
    fn credentials_that_expire_before_the_worst_case_are_refused() {
        let with = |credentials| Facts {
            credentials,
            ..clean()
        };
        let (plan, _) = planned(Command::Deploy { images_only: false });
        let long = (plan.phases.iter())
            .filter(|p| p[0].phase().may_take_the_timeout())
            .count();
        assert!(
            long >= 3 && long < plan.phases.len(),
            "{long} of {}",
            plan.phases.len()
        );
        let worst = Duration::from_secs(15 * 60) * u32::try_from(long).unwrap();
        let short = deploy(&with(CredentialLife::ExpiresIn(
            worst - Duration::from_secs(60),
        )));
        assert!(
            matches!(short.problems[..], [Problem::CredentialsExpire { .. }]),
            "{:?}",
            short.problems
        );
        assert!(
            short.message().contains("role-duration-seconds"),
            "{}",
            short.message()
        );
        let long = deploy(&with(CredentialLife::ExpiresIn(
            worst + Duration::from_secs(60),
        )));
        assert!(long.problems.is_empty(), "{:?}", long.problems);
        let unknown = deploy(&with(CredentialLife::Unknown("no expiry known".into())));
        assert!(unknown.problems.is_empty());
        assert_eq!(unknown.warnings, ["no expiry known"]);
    }

    #[test]
    fn ecs_bakes_count_once_per_roll_in_the_credentials_worst_case() {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let hour = Duration::from_secs(3600);
        let blue_green = "strategy = \"blue_green\"\nbake = \"1h\"";
        let (plan, read) = planned_with(Command::Deploy { images_only: false }, blue_green);
        let long = (plan.phases.iter())
            .filter(|p| p[0].phase().may_take_the_timeout())
            .count();
        let phases = Duration::from_secs(15 * 60) * u32::try_from(long).unwrap();
        let verdict = |left: Duration, restore: bool| {
            let facts = Facts {
                credentials: CredentialLife::ExpiresIn(left),
                ..clean()
            };
            let rules = Rules {
                restore,
                ..staging(&config)
            };
            verify(&plan, read.view(), &facts, &rules)
        };
        // Enough for the phases alone, not for the bake.
        let short = verdict(phases + hour / 2, false);
        assert!(
            short.message().contains("and ECS's bakes of 1h per roll"),
            "{}",
            short.message()
        );
        assert!(verdict(phases + hour + Duration::from_secs(60), false)
            .problems
            .is_empty());
        // A restore is a second roll through the same bakes, and a phase of its own.
        let restore = phases + Duration::from_secs(15 * 60) + 2 * hour;
        assert!(!verdict(restore - Duration::from_secs(60), true)
            .problems
            .is_empty());
        assert!(verdict(restore + Duration::from_secs(60), true)
            .problems
            .is_empty());
    }

    #[test]
    fn live_code_using_a_dropped_column_is_refused_unless_allowed_and_unsearched_code_too() {
        let found = |allowed: Option<&str>, uses: usize, unsearched: bool| LiveCode {
            service: "api".into(),
            file: "services/api/migrations/004_drop.sql".into(),
            line: 2,
            what: "drops column items.name".into(),
            allowed: allowed.map(str::to_owned),
            uses: (0..uses)
                .map(|i| crate::contract::Use {
                    service: "worker".into(),
                    commit: "0123456789abcdef0123".into(),
                    path: "services/worker/src/main.rs".into(),
                    line: 10 + i,
                })
                .collect(),
            unsearched: if unsearched {
                vec![("worker".into(), "fedcba9876543210".into())]
            } else {
                Vec::new()
            },
        };
        let verdict = |live_code: Vec<LiveCode>| {
            deploy(&Facts {
                live_code,
                ..clean()
            })
        };
        let used = verdict(vec![found(None, 12, false)]);
        assert!(
            used.message().contains(
                "004_drop.sql:2 drops column items.name while the code running now still uses it: services/worker/src/main.rs:10 (worker at 0123456789ab)"
            ) && used.message().contains("and 2 more"),
            "{}",
            used.message()
        );
        let allowed = verdict(vec![found(Some("read-only replica code"), 1, false)]);
        assert!(allowed.problems.is_empty(), "{:?}", allowed.problems);
        assert!(allowed.warnings[0].contains("allowed: read-only replica code"));
        assert!(verdict(vec![found(None, 0, false)]).problems.is_empty());
        let unsearched = verdict(vec![found(Some("reason"), 0, true)]);
        assert!(
            unsearched.message().contains("worker runs fedcba987654")
                && unsearched.message().contains("fetch-depth: 0"),
            "{}",
            unsearched.message()
        );
    }

    #[test]
    fn an_image_for_another_cpu_than_the_task_definition_is_refused() {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let rules = staging(&config);
        let (plan, mut read) = planned(Command::Deploy { images_only: false });
        // The problems when the live task definition's runtimePlatform says `cpu` and `os`.
        let mut runs_on = |cpu: &str, os: &str| {
            let live = read.services.get_mut("api").unwrap();
            live.cpu_architecture = Some(cpu.into());
            live.os_family = Some(os.into());
            verify(&plan, read.view(), &clean(), &rules).problems
        };
        let refused = |runs: &str| {
            [Problem::Platform {
                unit: "api".into(),
                platform: "linux/amd64".into(),
                runs: runs.into(),
            }]
        };
        assert_eq!(runs_on("ARM64", "LINUX"), refused("ARM64"));
        assert_eq!(runs_on("X86_64", "LINUX"), []);
        // A Linux image on a Windows task definition (the API's operatingSystemFamily).
        assert_eq!(
            runs_on("X86_64", "WINDOWS_SERVER_2022_CORE"),
            refused("WINDOWS_SERVER_2022_CORE")
        );
    }

    #[test]
    fn services_another_controller_deploys_are_refused_before_anything_runs() {
        let config = Config::parse("deploy.toml", CONFIG).unwrap();
        let rules = staging(&config);
        let (plan, mut read) = planned(Command::Deploy { images_only: false });
        read.services.get_mut("api").unwrap().controller = Controller::CodeDeploy;
        let verdict = verify(&plan, read.view(), &clean(), &rules);
        assert_eq!(
            verdict.problems,
            [Problem::Controller {
                unit: "api".into(),
                service: "acme-staging-api".into(),
                controller: Controller::CodeDeploy,
            }]
        );
        assert!(verdict
            .message()
            .contains("CODE_DEPLOY deployment controller"));
        // Pushing images does not touch the service.
        let (plan, _) = planned(Command::Deploy { images_only: true });
        assert!(verify(&plan, read.view(), &clean(), &rules)
            .problems
            .is_empty());
    }

    #[test]
    fn a_schema_ahead_of_a_rollback_is_refused_unless_forced() {
        let facts = Facts {
            schema_ahead: vec![("api".into(), "002_add_sku.sql".into())],
            ..clean()
        };
        let refused = verdict_of(Command::Rollback, &facts, Some(SchemaPolicy::Refuse));
        let message = refused.message();
        assert!(
            message.contains("api: migrations were applied after 0123456789ab: 002_add_sku.sql")
        );
        assert!(
            message.contains("pass --force-schema to go on"),
            "{message}"
        );

        let forced = verdict_of(Command::Rollback, &facts, Some(SchemaPolicy::Force));
        assert!(!forced
            .problems
            .iter()
            .any(|p| matches!(p, Problem::SchemaAhead { .. })));
        assert_eq!(forced.warnings.len(), 1);
        assert!(forced.warnings[0].ends_with("(--force-schema)"));
    }
}
