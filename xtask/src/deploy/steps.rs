//! The deploy plan: a pure value computed from the head commit's fingerprints and what is
//! live, before any side effect. For each service: deploy or skip and why, where its image
//! comes from, whether its migrations run; then the steps, phase by phase, that the
//! executor runs without deciding anything itself. A rollback is the same plan for an
//! earlier commit whose images and releases must already exist: nothing is built, no
//! migration runs, apps re-activate a kept release.

use crate::config::Build;
use crate::fingerprint::UnitFingerprint;
use crate::live::{Image, LiveService, COMMIT_TAG};
use crate::phase::Phase;
use crate::plan::{self, Action, Reason, UnitPlan};
use crate::text::short;
use serde::Serialize;
use std::collections::BTreeSet;

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
    /// Where its binary is compiled: host-built services share the compile step.
    pub build: Build,
    pub live: &'a LiveService,
    /// The image already pushed for the head fingerprint.
    pub existing: Option<&'a Image>,
    /// The head's migrations tree id, for a service with migrations.
    pub migrations: Option<&'a str>,
    /// The migrations tree id last applied.
    pub applied: Option<&'a str>,
    /// Why the live fingerprint differs, where the live commit explained it.
    pub explained: Option<&'a [Reason]>,
}

/// What is known of one app before planning: what its bucket's manifest says is live.
pub struct AppFacts<'a> {
    pub head: &'a UnitFingerprint,
    pub live: &'a LiveApp,
    /// For a rollback: the kept release the commit had, if one is known.
    pub release: Option<&'a str>,
    /// Why the live fingerprint differs, where the live commit explained it.
    pub explained: Option<&'a [Reason]>,
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

/// The live release of an app, from its bucket's manifest.
#[derive(Debug, Clone, Default)]
pub struct LiveApp {
    pub fingerprint: Option<String>,
    pub commit: Option<String>,
    pub release: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployPlan {
    pub command: Command,
    pub env: String,
    pub commit: String,
    pub images_only: bool,
    pub services: Vec<ServicePlan>,
    pub apps: Vec<AppPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppPlan {
    #[serde(flatten)]
    pub unit: UnitPlan,
    pub live_release: Option<String>,
    pub live_commit: Option<String>,
    /// A rollback's kept release to make live again (`None` when it is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    #[serde(flatten)]
    pub unit: UnitPlan,
    #[serde(skip)]
    pub build: Build,
    /// Where the image comes from; `None` when skipped.
    pub image: Option<ImagePlan>,
    /// The migrations tree to apply before rolling.
    pub migrate: Option<String>,
    pub live_task_definition: Option<String>,
    pub live_commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ImagePlan {
    /// No image for this fingerprint yet.
    Build,
    /// Pushed before for this fingerprint: reused, tagged for this commit if it is not yet.
    Reuse { digest: String, tag_commit: bool },
}

/// One thing the executor does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// One `cargo build --release` of every Rust service that needs an image.
    Compile {
        services: Vec<String>,
    },
    /// Build and push one image.
    Build {
        service: String,
    },
    /// Run an app's build command.
    BuildApp {
        app: String,
    },
    /// Tag an existing image for this commit (ECR `PutImage`).
    Retag {
        service: String,
    },
    /// Run the service's migration task and wait for it.
    Migrate {
        service: String,
    },
    /// New task definition revision, `UpdateService`, wait for this deployment.
    Roll {
        service: String,
    },
    Health {
        service: String,
    },
    /// Upload, activate and invalidate one app.
    Ship {
        app: String,
    },
    /// Make a kept release of an app live again (a rollback).
    Activate {
        app: String,
    },
}

impl Step {
    /// The service or app the step is about.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Step::Compile { .. } => None,
            Step::Build { service }
            | Step::Retag { service }
            | Step::Migrate { service }
            | Step::Roll { service }
            | Step::Health { service } => Some(service),
            Step::BuildApp { app } | Step::Ship { app } | Step::Activate { app } => Some(app),
        }
    }

    /// Whether `--dry-run` runs the step: an app's build is local, and shipping or
    /// activating an app shows what it would move and stops there. Every other step
    /// changes something remote and has nothing to show beyond the plan.
    pub fn previews(&self) -> bool {
        matches!(
            self,
            Step::BuildApp { .. } | Step::Ship { .. } | Step::Activate { .. }
        )
    }

    /// The phase name people see.
    pub fn phase(&self) -> Phase {
        match self {
            Step::Compile { .. } => Phase::Compile,
            Step::Build { .. } | Step::BuildApp { .. } => Phase::Build,
            Step::Retag { .. } => Phase::Retag,
            Step::Migrate { .. } => Phase::Migrate,
            Step::Roll { .. } => Phase::Roll,
            Step::Health { .. } => Phase::Health,
            Step::Ship { .. } | Step::Activate { .. } => Phase::Ship,
        }
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
    DeployPlan {
        command,
        env: env.to_owned(),
        commit: commit.to_owned(),
        images_only: command == Command::Deploy { images_only: true },
        services,
        apps,
    }
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
        build: facts.build,
        image,
        migrate: None,
        live_task_definition: facts.live.task_definition.clone(),
        live_commit: facts.live.commit.clone(),
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
        live_release: facts.live.release.clone(),
        live_commit: facts.live.commit.clone(),
        activate,
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
    AppPlan {
        unit: decide(live, facts.explained, None, facts.head, all),
        live_release: facts.live.release.clone(),
        live_commit: facts.live.commit.clone(),
        activate: None,
    }
}

fn service_plan(commit: &str, facts: &Facts<'_>, all: bool) -> ServicePlan {
    let unit = decide(
        facts.live.fingerprint.as_deref(),
        facts.explained,
        facts.live.unknown.as_deref().or(Some("no image")),
        facts.head,
        all,
    );
    let deploy = unit.action == Action::Deploy;
    let commit_tag = format!("{COMMIT_TAG}{commit}");
    let image = deploy.then(|| match facts.existing {
        Some(found) => ImagePlan::Reuse {
            digest: found.digest.clone(),
            tag_commit: !found.tags.contains(&commit_tag),
        },
        None => ImagePlan::Build,
    });
    let migrate = facts
        .migrations
        .filter(|tree| deploy && facts.applied != Some(*tree))
        .map(str::to_owned);
    ServicePlan {
        unit,
        build: facts.build,
        image,
        migrate,
        live_task_definition: facts.live.task_definition.clone(),
        live_commit: facts.live.commit.clone(),
    }
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
    pub fn phases(&self) -> Vec<Vec<Step>> {
        let named = |keep: &dyn Fn(&ServicePlan) -> bool, make: fn(String) -> Step| {
            self.deploying()
                .filter(|s| keep(s))
                .map(|s| make(s.unit.name.clone()))
                .collect::<Vec<_>>()
        };
        let builds = |s: &ServicePlan| s.image == Some(ImagePlan::Build);
        let compile: Vec<String> = self
            .deploying()
            .filter(|s| builds(s) && s.build == Build::Host)
            .map(|s| s.unit.name.clone())
            .collect();
        let mut images = named(&builds, |service| Step::Build { service });
        images.extend(
            self.apps_deploying()
                .filter(|a| a.activate.is_none())
                .map(|a| Step::BuildApp {
                    app: a.unit.name.clone(),
                }),
        );
        images.extend(named(
            &|s| {
                matches!(
                    s.image,
                    Some(ImagePlan::Reuse {
                        tag_commit: true,
                        ..
                    })
                )
            },
            |service| Step::Retag { service },
        ));
        let mut phases = vec![];
        if !compile.is_empty() {
            phases.push(vec![Step::Compile { services: compile }]);
        }
        phases.push(images);
        if !self.images_only {
            phases.push(named(&|s| s.migrate.is_some(), |service| Step::Migrate {
                service,
            }));
            phases.push(named(&|_| true, |service| Step::Roll { service }));
            phases.push(named(&|_| true, |service| Step::Health { service }));
            phases.push(
                self.apps_deploying()
                    .map(|a| match a.activate {
                        Some(_) => Step::Activate {
                            app: a.unit.name.clone(),
                        },
                        None => Step::Ship {
                            app: a.unit.name.clone(),
                        },
                    })
                    .collect(),
            );
        }
        phases.retain(|phase| !phase.is_empty());
        phases
    }

    /// What `--dry-run` runs: the same phases, only the steps that preview.
    pub fn preview_phases(&self) -> Vec<Vec<Step>> {
        let mut phases = self.phases();
        for phase in &mut phases {
            phase.retain(Step::previews);
        }
        phases.retain(|phase| !phase.is_empty());
        phases
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
    use crate::inputs::{Unit, UnitKind};

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn unit(name: &str, fingerprint: &str) -> UnitFingerprint {
        let unit = Unit {
            name: name.into(),
            kind: UnitKind::Service,
            own_crate: Some(name.into()),
            dockerfile: None,
        };
        UnitFingerprint::bare(unit, fingerprint.into())
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
            build: Build::Host,
            live,
            existing: None,
            migrations: None,
            applied: None,
            explained: Some(&CHANGED),
        }
    }

    /// Every changed service's one reason.
    static CHANGED: std::sync::LazyLock<Vec<Reason>> =
        std::sync::LazyLock::new(|| vec![Reason::InputChanged { input: "x".into() }]);

    /// The plan of `facts` (no apps).
    fn plan_of(facts: &[Facts<'_>], selection: &Selection, images_only: bool) -> DeployPlan {
        let command = Command::Deploy { images_only };
        super::plan("e", COMMIT, facts, &[], selection, command)
    }

    #[test]
    fn only_changed_services_deploy_and_each_phase_follows_the_last() {
        let (api, worker) = (unit("api", "new"), unit("worker", "same"));
        let (live_api, live_worker) = (live("old"), live("same"));
        let facts = [facts(&api, &live_api), facts(&worker, &live_worker)];
        let plan = plan_of(&facts, &Selection::default(), false);
        let deploying: Vec<&str> = plan.deploying().map(|s| s.unit.name.as_str()).collect();
        assert_eq!(deploying, ["api"]);
        let service = || "api".to_owned();
        assert_eq!(
            plan.phases(),
            vec![
                vec![Step::Compile {
                    services: vec![service()]
                }],
                vec![Step::Build { service: service() }],
                vec![Step::Roll { service: service() }],
                vec![Step::Health { service: service() }],
            ]
        );
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
            plan.phases()[0],
            vec![Step::Retag {
                service: "api".into()
            }]
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
        assert!(plan.phases().contains(&vec![Step::Migrate {
            service: "api".into()
        }]));

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
        let phases = plan.phases();
        assert!(phases
            .iter()
            .flatten()
            .all(|s| matches!(s, Step::Compile { .. } | Step::Build { .. })));
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
        let portal = unit("portal", "p");
        let live_portal = LiveApp {
            release: Some("r2".into()),
            ..LiveApp::default()
        };
        let apps = [AppFacts {
            head: &portal,
            live: &live_portal,
            release: Some("r1"),
            explained: None,
        }];
        let plan = super::plan(
            "e",
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
        assert_eq!(plan.app("portal").unwrap().activate.as_deref(), Some("r1"));
        let steps: Vec<Step> = plan.phases().into_iter().flatten().collect();
        assert!(steps.iter().all(|s| !matches!(
            s,
            Step::Compile { .. }
                | Step::Build { .. }
                | Step::Retag { .. }
                | Step::Migrate { .. }
                | Step::BuildApp { .. }
        )));
        assert!(steps.contains(&Step::Activate {
            app: "portal".into()
        }));
        assert_eq!(serde_json::to_value(&plan).unwrap()["command"], "rollback");
        // A dry run of it: only the activation, which shows the release it would make live.
        assert_eq!(
            plan.preview_phases(),
            [vec![Step::Activate {
                app: "portal".into()
            }]]
        );
    }

    #[test]
    fn a_dry_run_keeps_only_steps_that_change_nothing_remote() {
        let api = unit("api", "new");
        let live_api = live("old");
        let plan = plan_of(&[facts(&api, &live_api)], &Selection::default(), false);
        assert!(!plan.phases().is_empty());
        assert!(
            plan.preview_phases().is_empty(),
            "a service's steps all change something remote"
        );
    }
}
