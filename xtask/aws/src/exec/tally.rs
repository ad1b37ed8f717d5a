//! What a deploy's steps learned, folded from the events they send: the one record later
//! phases read (the image a roll uses, the files an app ships), `--on-failure rollback`
//! reads (what was rolled) and the summary, ledger and webhook report. Steps never share
//! mutable state: they send [`Fact`]s, and the executor hands each phase a snapshot of
//! the fold of every phase before it.

use crate::delivery::RolledBackBy;
use crate::deploy_plan::{DeployPlan, ImagePlan};
use crate::outcome::UnitOutcome;
use crate::phase::Phase;
use crate::promotion::HealthCheck;
use crate::report::{Event, StepState};
use crate::spa::files::LocalFile;
use crate::spa::Shipped;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// One thing a step learned about a unit, in the order it learned it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum Fact {
    /// The host build wrote the service's binary.
    Binary {
        path: PathBuf,
    },
    /// The service's image is in its repository.
    Image {
        image: String,
        digest: String,
    },
    /// The task definition revision this deploy registered for the service.
    TaskDefinition {
        arn: String,
    },
    /// `UpdateService` was sent: `--on-failure rollback` must restore the service.
    Rolled,
    /// The migration task `RunTask` started: an interrupted deploy stops it.
    MigrationTask {
        task: String,
    },
    /// The migration task is stopped (it ended, or the deploy stopped it).
    MigrationStopped,
    /// What an app's build wrote (the files themselves are not serialised: too many).
    AppBuilt {
        #[serde(skip)]
        files: Arc<[LocalFile]>,
        count: usize,
    },
    Shipped {
        shipped: Shipped,
    },
    /// How the unit ended, when a step decides it (a failed step otherwise decides it).
    Outcome {
        outcome: UnitOutcome,
    },
    /// Its health check passed, or nothing checked it.
    Health {
        check: HealthCheck,
    },
    /// The ECS service deployment of its roll; `shifting` when it moves traffic between
    /// two revisions and waits at the tool's pause.
    ServiceDeployment {
        arn: String,
        shifting: bool,
    },
    /// The tool's checks at the pause passed and it told ECS to continue: production
    /// traffic may move from here on.
    Continued,
    /// Why ECS went back to the previous revision.
    RolledBackBy {
        by: RolledBackBy,
    },
    /// `rollback --allow-vulnerable` rolled an image the scan gate refuses: what it let
    /// through.
    ScanOverridden {
        findings: Vec<String>,
    },
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fact::Binary { path } => write!(f, "binary {}", path.display()),
            Fact::Image { image, .. } => write!(f, "image {image}"),
            Fact::TaskDefinition { arn } => {
                write!(
                    f,
                    "task definition {}",
                    crate::report::task_definition_name(arn)
                )
            }
            Fact::Rolled => f.write_str("rollout started"),
            Fact::MigrationTask { task } => {
                write!(f, "migration task {}", crate::text::short(task))
            }
            Fact::MigrationStopped => f.write_str("migration task stopped"),
            Fact::AppBuilt { count, .. } => write!(f, "{count} files built"),
            Fact::Shipped { shipped } => f.write_str(&crate::exec::spa::describe(shipped)),
            Fact::Outcome { outcome } => write!(f, "outcome {outcome}"),
            Fact::Health { check } => write!(f, "health {check:?}"),
            Fact::ServiceDeployment { arn, .. } => {
                write!(f, "service deployment {}", crate::text::short(arn))
            }
            Fact::Continued => f.write_str("continued past the pause"),
            Fact::RolledBackBy { by } => write!(f, "rolled back by {by}"),
            Fact::ScanOverridden { findings } => {
                write!(f, "scan gate overridden ({} findings)", findings.len())
            }
        }
    }
}

/// What happened to one service or app.
#[derive(Debug, Clone, Default)]
pub struct UnitResult {
    /// `uri@digest`, once known.
    pub image: Option<String>,
    pub digest: Option<String>,
    pub task_definition: Option<String>,
    pub binary: Option<PathBuf>,
    pub rolled: bool,
    /// The migration task running for it, until it is seen stopped.
    pub migration_task: Option<String>,
    /// Shared, not copied: each phase's snapshot of the tally holds the app's bytes once.
    pub files: Arc<[LocalFile]>,
    pub shipped: Option<Shipped>,
    pub outcome: Option<UnitOutcome>,
    /// Whether its health check passed or nothing checked it (a promotion asks).
    pub health: Option<HealthCheck>,
    /// Its roll's ECS service deployment, and whether it shifts traffic.
    pub service_deployment: Option<(String, bool)>,
    /// The tool let its shifting deployment continue past the pause.
    pub continued: bool,
    pub rolled_back_by: Option<RolledBackBy>,
    /// What `rollback --allow-vulnerable` let through the scan gate.
    pub scan_overridden: Option<Vec<String>>,
}

/// How long one step took, and whether it succeeded (the ledger keeps them).
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub phase: Phase,
    pub seconds: f64,
    pub ok: bool,
}

/// The fold of a deploy's events.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub units: BTreeMap<String, UnitResult>,
    /// Every step's duration, in the order they ended.
    pub timings: Vec<Timing>,
}

impl Tally {
    /// What the plan already knows: the digest of each image it reuses, named in its
    /// repository.
    pub fn seeded(plan: &DeployPlan) -> Tally {
        let mut tally = Tally::default();
        for planned in plan.deploying() {
            if let Some(ImagePlan::Reuse { digest, .. }) = &planned.image {
                let name = &planned.unit.name;
                let image = planned.target.image_ref(digest);
                let digest = digest.clone();
                tally.learn(name, Fact::Image { image, digest });
            }
        }
        tally
    }

    /// Folds one event in; events that say nothing about units change nothing.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Record { unit, fact } => self.learn(unit, fact.clone()),
            Event::Step {
                service,
                phase,
                state,
                seconds: Some(seconds),
                ..
            } => {
                let ok = *state == StepState::Done;
                if let (false, Some(unit)) = (ok, service) {
                    let outcome = &mut self.unit_mut(unit).outcome;
                    *outcome = outcome.or(Some(UnitOutcome::Failed));
                }
                self.timings.push(Timing {
                    service: service.clone(),
                    phase: *phase,
                    seconds: *seconds,
                    ok,
                });
            }
            _ => {}
        }
    }

    fn learn(&mut self, unit: &str, fact: Fact) {
        let result = self.unit_mut(unit);
        match fact {
            Fact::Binary { path } => result.binary = Some(path),
            Fact::Image { image, digest } => {
                result.image = Some(image);
                result.digest = Some(digest);
            }
            Fact::TaskDefinition { arn } => result.task_definition = Some(arn),
            Fact::Rolled => result.rolled = true,
            Fact::MigrationTask { task } => result.migration_task = Some(task),
            Fact::MigrationStopped => result.migration_task = None,
            Fact::AppBuilt { files, .. } => result.files = files,
            Fact::Shipped { shipped } => result.shipped = Some(shipped),
            Fact::Outcome { outcome } => result.outcome = Some(outcome),
            Fact::Health { check } => result.health = Some(check),
            Fact::ServiceDeployment { arn, shifting } => {
                result.service_deployment = Some((arn, shifting));
            }
            Fact::Continued => result.continued = true,
            Fact::RolledBackBy { by } => result.rolled_back_by = Some(by),
            Fact::ScanOverridden { findings } => result.scan_overridden = Some(findings),
        }
    }

    fn unit_mut(&mut self, unit: &str) -> &mut UnitResult {
        self.units.entry(unit.to_owned()).or_default()
    }

    /// What is known of `unit`, if anything.
    pub fn unit(&self, unit: &str) -> Option<&UnitResult> {
        self.units.get(unit)
    }

    /// The image a later step uses: known once the images phase succeeded.
    pub fn image(&self, service: &str) -> anyhow::Result<&str> {
        self.unit(service)
            .and_then(|r| r.image.as_deref())
            .ok_or_else(|| anyhow::anyhow!("no image for {service}: the images phase did not run"))
    }

    /// Migration tasks this deploy started that were not seen stopped: (service, task).
    pub fn migrating(&self) -> impl Iterator<Item = (&str, &str)> {
        (self.units.iter())
            .filter_map(|(name, r)| Some((name.as_str(), r.migration_task.as_deref()?)))
    }

    /// Shifting deployments this deploy started that have not passed its pause and have no
    /// outcome: an interrupted deploy rolls them back rather than leave them paused.
    pub fn unresolved_shifts(&self) -> impl Iterator<Item = (&str, &str)> {
        (self.units.iter()).filter_map(|(name, r)| match &r.service_deployment {
            Some((arn, true)) if !r.continued && r.outcome.is_none() => {
                Some((name.as_str(), arn.as_str()))
            }
            _ => None,
        })
    }

    /// Services whose rollout this deploy started and that have no outcome yet.
    pub fn rolling(&self) -> impl Iterator<Item = &str> {
        self.units
            .iter()
            .filter(|(_, r)| r.rolled && r.outcome.is_none())
            .map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(unit: &str, phase: Phase, state: StepState, seconds: Option<f64>) -> Event {
        Event::Step {
            service: Some(unit.into()),
            phase,
            state,
            message: String::new(),
            seconds,
        }
    }

    fn record(unit: &str, fact: Fact) -> Event {
        Event::Record {
            unit: unit.into(),
            fact,
        }
    }

    fn fold(events: &[Event]) -> Tally {
        let mut tally = Tally::default();
        for event in events {
            tally.apply(event);
        }
        tally
    }

    #[test]
    fn a_failed_step_fails_its_unit_unless_a_step_decided_otherwise() {
        let tally = fold(&[
            record("api", Fact::Rolled),
            record(
                "api",
                Fact::Outcome {
                    outcome: UnitOutcome::RolledBack,
                },
            ),
            step("api", Phase::Roll, StepState::Failed, Some(3.0)),
            step("worker", Phase::Roll, StepState::Failed, Some(1.0)),
        ]);
        let outcome = |unit| tally.unit(unit).and_then(|r| r.outcome);
        assert_eq!(outcome("api"), Some(UnitOutcome::RolledBack));
        assert_eq!(outcome("worker"), Some(UnitOutcome::Failed));
        assert_eq!(tally.timings.len(), 2);
        assert!(tally.timings.iter().all(|t| !t.ok));
    }

    #[test]
    fn progress_is_not_a_timing_and_decides_nothing() {
        let tally = fold(&[
            step("api", Phase::Roll, StepState::Started, None),
            step("api", Phase::Roll, StepState::Failed, None),
        ]);
        assert!(tally.timings.is_empty());
        assert!(tally.unit("api").is_none());
    }

    #[test]
    fn a_started_rollout_without_an_outcome_is_still_rolling() {
        let tally = fold(&[
            record("api", Fact::Rolled),
            record("worker", Fact::Rolled),
            record(
                "worker",
                Fact::Outcome {
                    outcome: UnitOutcome::Deployed,
                },
            ),
        ]);
        assert_eq!(tally.rolling().collect::<Vec<_>>(), ["api"]);
        assert!(tally.image("api").is_err());
    }

    #[test]
    fn records_serialise_flat_with_their_fact_named() {
        let event = record(
            "api",
            Fact::Image {
                image: "repo@sha256:1".into(),
                digest: "sha256:1".into(),
            },
        );
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event":"record","unit":"api","fact":"image","image":"repo@sha256:1","digest":"sha256:1"}"#
        );
    }
}
