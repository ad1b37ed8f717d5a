//! The deploy's events and what people read of them: the executor sends [`Event`]s to a
//! [`Reporter`], whose one sink (see [`sink`]) renders them; the plan table, the summary
//! and its Markdown are rendered here, the same for every sink.

pub mod sink;

use crate::deploy_plan::{AppPlan, Command, DeployPlan, ImagePlan, ServicePlan};
use crate::outcome::{RunOutcome, UnitOutcome};
use crate::phase::Phase;
use crate::plan::Action;
use crate::render::{first_reason, table, trim_lines};
use crate::text::short;
use serde::Serialize;

/// Something that happened, in the order it happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A line of context (environment, account, what was found).
    Info {
        message: String,
    },
    Warning {
        message: String,
    },
    /// The plan, before anything is done.
    Plan {
        plan: DeployPlan,
    },
    /// A phase begins: its steps run in parallel.
    Phase {
        phase: Phase,
    },
    /// A step of a service (or of the whole deploy, `service: None`) moved on.
    Step {
        #[serde(skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        phase: Phase,
        state: StepState,
        message: String,
        /// How long the step took, on the event that ends it.
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds: Option<f64>,
    },
    /// A step learned something about a unit (its image, its task definition, ...): the
    /// summary is folded from these.
    Record {
        unit: String,
        #[serde(flatten)]
        fact: crate::exec::tally::Fact,
    },
    Summary(Summary),
}

impl Event {
    /// A step of `unit` (or of the whole deploy) moved on, untimed: not its end.
    pub fn step(
        unit: Option<&str>,
        phase: Phase,
        state: StepState,
        message: impl Into<String>,
    ) -> Event {
        Event::Step {
            service: unit.map(str::to_owned),
            phase,
            state,
            message: message.into(),
            seconds: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Started,
    Progress,
    Done,
    Failed,
}

/// The last thing a deploy says, also its ledger record's core and the webhook's content.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub outcome: RunOutcome,
    pub exit_code: u8,
    pub deploy_id: String,
    pub env: String,
    pub commit: String,
    pub duration_seconds: f64,
    pub services: Vec<ServiceSummary>,
    pub apps: Vec<AppSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Someone broke this run's lock while it ran (`lock release --force`, or a stale lock
    /// taken over): another deploy may have run beside it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lock_broken: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AppSummary {
    pub name: String,
    pub action: Action,
    pub fingerprint: String,
    pub outcome: UnitOutcome,
    /// What shipping moved; its `release` is the live one after this deploy.
    #[serde(flatten)]
    pub shipped: crate::spa::Shipped,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ServiceSummary {
    pub name: String,
    pub action: Action,
    pub fingerprint: String,
    pub image: Option<String>,
    pub task_definition: Option<String>,
    pub outcome: UnitOutcome,
    /// Whether its health check passed or nothing checked it, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::promotion::HealthCheck>,
    /// The ARN of its roll's ECS service deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment: Option<String>,
    /// Why ECS went back to the previous revision, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<crate::delivery::RolledBackBy>,
    /// The findings `rollback --allow-vulnerable` let through the scan gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_overridden: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Terminal,
    Plain,
    Github,
    Json,
}

impl Style {
    /// The style for this process: JSON when asked, GitHub's under Actions, spinners when
    /// progress goes to a terminal (stderr: stdout may be piped to a file meanwhile).
    pub fn detect(json: bool) -> Style {
        use std::io::IsTerminal as _;
        if json {
            Style::Json
        } else if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
            Style::Github
        } else if std::io::stderr().is_terminal() {
            Style::Terminal
        } else {
            Style::Plain
        }
    }
}

/// Where a deploy's events go: one sink, chosen by [`Style`], shared by every concurrent
/// step. The reporter only forwards; each sink decides what to show and where.
pub struct Reporter {
    sink: Box<dyn sink::Sink>,
    /// Where each phase's start also goes while someone listens (`tap_phases`).
    phases: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<Phase>>>,
}

impl Reporter {
    pub fn new(style: Style) -> Reporter {
        Reporter::with_sink(sink::for_style(style))
    }

    fn with_sink(sink: Box<dyn sink::Sink>) -> Reporter {
        Reporter {
            sink,
            phases: std::sync::Mutex::new(None),
        }
    }

    /// Every phase that begins from now on, until `untap_phases` (which ends the stream).
    pub fn tap_phases(&self) -> tokio::sync::mpsc::UnboundedReceiver<Phase> {
        let (send, receive) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut phases) = self.phases.lock() {
            *phases = Some(send);
        }
        receive
    }

    pub fn untap_phases(&self) {
        if let Ok(mut phases) = self.phases.lock() {
            *phases = None;
        }
    }

    /// A plain reporter that keeps what it prints instead (stdout's and stderr's lines in
    /// one string, in order).
    pub fn capturing() -> Reporter {
        Reporter::with_sink(Box::new(sink::Plain::captured()))
    }

    pub fn captured(&self) -> String {
        self.sink.captured().unwrap_or_default()
    }

    pub fn emit(&self, event: Event) {
        if let Event::Phase { phase } = event {
            if let Some(listener) = self.phases.lock().ok().as_ref().and_then(|p| p.as_ref()) {
                // A listener gone away is no reason to stop reporting.
                let _ = listener.send(phase);
            }
        }
        self.sink.event(&event);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.emit(Event::Info {
            message: message.into(),
        });
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning {
            message: message.into(),
        });
    }

    pub fn step(
        &self,
        service: Option<&str>,
        phase: Phase,
        state: StepState,
        message: impl Into<String>,
    ) {
        self.emit(Event::step(service, phase, state, message));
    }
}

pub(crate) fn line_of(event: &Event) -> String {
    match event {
        Event::Info { message } => message.clone(),
        Event::Warning { message } => format!("warning: {message}"),
        Event::Phase { phase } => format!("== {phase}"),
        Event::Step {
            service,
            phase,
            state,
            message,
            ..
        } => {
            let mark = match state {
                StepState::Started => "…",
                StepState::Progress => " ",
                StepState::Done => "✓",
                StepState::Failed => "✗",
            };
            let who = service.as_deref().unwrap_or("*");
            format!("{mark} {who:<12} {phase:<8} {message}")
        }
        Event::Plan { plan } => plan_text(plan),
        Event::Summary(summary) => summary_text(summary),
        Event::Record { unit, fact } => format!("{unit}: {fact}"),
    }
}

/// The deploy plan as a table: what deploys, where its image comes from, why.
pub fn plan_text(plan: &DeployPlan) -> String {
    let deploying = plan.deploying().count() + plan.apps_deploying().count();
    let unchanged = plan.services.len() + plan.apps.len() - deploying;
    let mut out = match plan.command {
        Command::Deploy { .. } if plan.promoted_from.is_some() => format!(
            "Promote {} from {} to {}: {deploying} to promote, {unchanged} already there\n\n",
            short(&plan.commit),
            plan.promoted_from.as_deref().unwrap_or_default(),
            plan.env,
        ),
        Command::Deploy { .. } => format!(
            "Deploy {} to {}: {deploying} to deploy, {unchanged} unchanged\n\n",
            short(&plan.commit),
            plan.env,
        ),
        Command::Rollback => format!(
            "Roll {} back to {}: {deploying} to roll back, {unchanged} already there\n\n",
            plan.env,
            short(&plan.commit),
        ),
    };
    let mut rows = table(&[
        "ACTION",
        "SERVICE",
        "FINGERPRINT",
        "LIVE",
        "IMAGE",
        "MIGRATE",
        "WHY",
    ]);
    for service in &plan.services {
        rows.add_row(service_row(plan, service));
    }
    for app in &plan.apps {
        rows.add_row(app_row(plan, app));
    }
    out.push_str(&trim_lines(&rows.to_string()));
    out
}

/// Why a unit the plan leaves alone is left alone: a promotion finds it already there.
fn skipped(plan: &DeployPlan) -> String {
    if plan.promoted_from.is_some() {
        "already there".to_owned()
    } else {
        "unchanged".to_owned()
    }
}

fn service_row(plan: &DeployPlan, service: &ServicePlan) -> Vec<String> {
    let why = first_reason(&service.unit.reasons);
    let (action, image, why) = match (&service.unit.action, &service.image) {
        (Action::Skip, _) => ("skip", "-", skipped(plan)),
        (
            Action::Deploy,
            Some(ImagePlan::Promote {
                from,
                deploy_id,
                digest,
                ..
            }),
        ) => (
            "DEPLOY",
            "promote",
            format!("{} from {from} ({deploy_id})", short(digest)),
        ),
        (Action::Deploy, None) if service.refused.is_some() => (
            "DEPLOY",
            "REFUSED",
            service
                .refused
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        (Action::Deploy, None) => ("DEPLOY", "MISSING", why),
        (Action::Deploy, Some(ImagePlan::Build)) => ("DEPLOY", "build", why),
        (Action::Deploy, Some(ImagePlan::Reuse { .. })) => ("DEPLOY", "reuse", why),
    };
    let live = service.unit.base_fingerprint.as_deref().map_or("?", short);
    let migrate = if service.migrate.is_some() {
        "yes"
    } else {
        "-"
    };
    [
        action,
        &service.unit.name,
        short(&service.unit.fingerprint),
        live,
        image,
        migrate,
        &why,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn app_row(plan: &DeployPlan, app: &AppPlan) -> Vec<String> {
    let (action, why) = match (app.unit.action, &app.refused, &app.promote) {
        (Action::Skip, ..) => ("skip", skipped(plan)),
        (Action::Deploy, Some(refused), _) => ("DEPLOY", refused.to_string()),
        (Action::Deploy, None, Some(promoted)) => (
            "DEPLOY",
            format!("release {} from {}", promoted.release.id, promoted.from),
        ),
        (Action::Deploy, None, None) => ("DEPLOY", first_reason(&app.unit.reasons)),
    };
    let source = match (plan.command, &app.activate) {
        (Command::Deploy { .. }, _) if app.refused.is_some() => "REFUSED".to_owned(),
        (Command::Deploy { .. }, _) if app.promote.is_some() => "promote".to_owned(),
        (Command::Deploy { .. }, _) => "app".to_owned(),
        (Command::Rollback, Some(release)) => format!("release {}", short(release)),
        (Command::Rollback, None) if app.unit.action == Action::Skip => "-".to_owned(),
        (Command::Rollback, None) => "MISSING".to_owned(),
    };
    let live = app.unit.base_fingerprint.as_deref().map_or("?", short);
    [
        action,
        &app.unit.name,
        short(&app.unit.fingerprint),
        live,
        &source,
        "-",
        &why,
    ]
    .map(str::to_owned)
    .to_vec()
}

pub fn summary_text(summary: &Summary) -> String {
    let mut out = if summary.outcome == RunOutcome::NothingToDeploy {
        format!(
            "\nNothing to deploy: every selected service of {} already runs what {} builds\n",
            summary.env,
            short(&summary.commit)
        )
    } else {
        format!(
            "\nDeploy {} of {} to {}: {} in {:.1}s (exit {})\n",
            summary.deploy_id,
            short(&summary.commit),
            summary.env,
            summary.outcome,
            summary.duration_seconds,
            summary.exit_code
        )
    };
    if !summary.services.is_empty() {
        out.push('\n');
        out.push_str(&services_table(&summary.services));
    }
    if !summary.apps.is_empty() {
        out.push_str("\n\n");
        out.push_str(&apps_table(&summary.apps));
    }
    if summary.lock_broken {
        out.push_str(&format!(
            "\nwarning: the deploy lock was broken while this deploy ran, so another deploy may have run beside it; see `cargo xtask history --env {}`",
            summary.env
        ));
    }
    if let Some(error) = &summary.error {
        out.push_str(&format!("\nerror: {error}"));
    }
    out
}

fn services_table(services: &[ServiceSummary]) -> String {
    let mut rows = table(&["SERVICE", "ACTION", "OUTCOME", "TASK DEFINITION", "IMAGE"]);
    for s in services {
        rows.add_row(vec![
            s.name.as_str(),
            s.action.name(),
            s.outcome.name(),
            s.task_definition
                .as_deref()
                .map_or("-", task_definition_name),
            s.image.as_deref().unwrap_or("-"),
        ]);
    }
    trim_lines(&rows.to_string())
}

fn apps_table(apps: &[AppSummary]) -> String {
    let mut rows = table(&[
        "APP",
        "ACTION",
        "OUTCOME",
        "RELEASE",
        "UPLOADED",
        "COPIED",
        "DELETED",
        "UNCHANGED",
        "INVALIDATED",
    ]);
    for a in apps {
        rows.add_row(vec![
            a.name.clone(),
            a.action.name().to_owned(),
            a.outcome.to_string(),
            a.shipped.release.clone().unwrap_or_else(|| "-".into()),
            a.shipped.uploaded.to_string(),
            a.shipped.copied.to_string(),
            a.shipped.deleted.to_string(),
            a.shipped.unchanged.to_string(),
            a.shipped.invalidated_paths.to_string(),
        ]);
    }
    trim_lines(&rows.to_string())
}

/// `family:revision` of a task definition ARN.
pub fn task_definition_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub fn markdown(summary: &Summary) -> String {
    let mut out = format!(
        "### Deploy to `{}`: {}\n\nCommit `{}`, deploy `{}`, {:.0}s.\n\n| service | action | outcome | task definition |\n|---|---|---|---|\n",
        summary.env,
        summary.outcome,
        short(&summary.commit),
        summary.deploy_id,
        summary.duration_seconds
    );
    for s in &summary.services {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            s.name,
            s.action.name(),
            s.outcome,
            s.task_definition
                .as_deref()
                .map_or("-", task_definition_name)
        ));
    }
    if !summary.apps.is_empty() {
        out.push_str("\n| app | outcome | release | uploaded | copied | deleted | invalidated paths |\n|---|---|---|---|---|---|---|\n");
        for a in &summary.apps {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                a.name,
                a.outcome,
                a.shipped.release.as_deref().unwrap_or("-"),
                a.shipped.uploaded,
                a.shipped.copied,
                a.shipped.deleted,
                a.shipped.invalidated_paths
            ));
        }
    }
    if let Some(error) = &summary.error {
        out.push_str(&format!("\n> {}\n", error.replace('\n', "\n> ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            outcome: RunOutcome::Failed,
            exit_code: 13,
            deploy_id: "d1".into(),
            env: "staging".into(),
            commit: "0123456789abcdef".into(),
            duration_seconds: 12.0,
            services: vec![ServiceSummary {
                name: "api".into(),
                action: Action::Deploy,
                fingerprint: "f".into(),
                image: Some("repo@sha256:1".into()),
                task_definition: Some("arn:aws:ecs:r:1:task-definition/acme-api:7".into()),
                outcome: UnitOutcome::RolledBack,
                health: None,
                service_deployment: None,
                rolled_back_by: None,
                scan_overridden: None,
            }],
            apps: Vec::new(),
            error: Some("rollout of api failed\nline 2".into()),
            lock_broken: false,
        }
    }

    #[test]
    fn plain_lines_carry_the_service_phase_and_message() {
        let reporter = Reporter::capturing();
        reporter.step(
            Some("api"),
            Phase::Roll,
            StepState::Failed,
            "circuit breaker",
        );
        reporter.emit(Event::Summary(summary()));
        let out = reporter.captured();
        assert!(
            out.contains("✗ api          roll     circuit breaker"),
            "{out}"
        );
        assert!(out.contains("acme-api:7"), "{out}");
        assert!(out.contains("error: rollout of api failed"), "{out}");
    }

    #[test]
    fn markdown_summary_has_a_row_per_service() {
        let md = markdown(&summary());
        assert!(
            md.contains("| api | deploy | rolled_back | acme-api:7 |"),
            "{md}"
        );
    }

    /// Each event kind once, each fact kind once: a new variant fails the match below
    /// until it is added here, and then the test until `docs/plan-json.md` names it.
    fn every_event() -> Vec<Event> {
        use crate::exec::tally::Fact;
        let step = |state| Event::Step {
            service: None,
            phase: Phase::Roll,
            state,
            message: String::new(),
            seconds: None,
        };
        let facts = [
            Fact::Binary { path: "/b".into() },
            Fact::Image {
                image: String::new(),
                digest: String::new(),
            },
            Fact::TaskDefinition { arn: String::new() },
            Fact::Rolled,
            Fact::AppBuilt {
                files: Vec::new().into(),
                count: 0,
            },
            Fact::Shipped {
                shipped: Default::default(),
            },
            Fact::Outcome {
                outcome: UnitOutcome::Deployed,
            },
            Fact::MigrationTask {
                task: "arn:aws:ecs:r:1:task/c/abc".into(),
            },
            Fact::MigrationStopped,
            Fact::Health {
                check: crate::promotion::HealthCheck::Passed,
            },
            Fact::ServiceDeployment {
                arn: String::new(),
                shifting: true,
            },
            Fact::Continued,
            Fact::RolledBackBy {
                by: crate::delivery::RolledBackBy::CircuitBreaker,
            },
            Fact::ScanOverridden {
                findings: Vec::new(),
            },
        ];
        for fact in &facts {
            match fact {
                Fact::Binary { .. }
                | Fact::Image { .. }
                | Fact::TaskDefinition { .. }
                | Fact::Rolled
                | Fact::MigrationTask { .. }
                | Fact::MigrationStopped
                | Fact::AppBuilt { .. }
                | Fact::Shipped { .. }
                | Fact::Outcome { .. }
                | Fact::Health { .. }
                | Fact::ServiceDeployment { .. }
                | Fact::Continued
                | Fact::RolledBackBy { .. }
                | Fact::ScanOverridden { .. } => {}
            }
        }
        let mut events = vec![
            Event::Info {
                message: String::new(),
            },
            Event::Warning {
                message: String::new(),
            },
            Event::Plan {
                plan: DeployPlan {
                    command: Command::Rollback,
                    env: String::new(),
                    commit: String::new(),
                    images_only: false,
                    promoted_from: None,
                    services: Vec::new(),
                    apps: Vec::new(),
                    phases: Vec::new(),
                },
            },
            Event::Phase { phase: Phase::Roll },
            step(StepState::Started),
            step(StepState::Progress),
            step(StepState::Done),
            step(StepState::Failed),
            Event::Summary(summary()),
        ];
        events.extend(facts.into_iter().map(|fact| Event::Record {
            unit: "api".into(),
            fact,
        }));
        for event in &events {
            match event {
                Event::Info { .. }
                | Event::Warning { .. }
                | Event::Plan { .. }
                | Event::Phase { .. }
                | Event::Step { .. }
                | Event::Record { .. }
                | Event::Summary(_) => {}
            }
        }
        events
    }

    /// Oracle: the documentation users read. Every name the stream can carry is in it.
    #[test]
    fn docs_plan_json_names_every_event_fact_state_phase_and_outcome() {
        let doc = include_str!("../../../../docs/plan-json.md");
        let mut names: Vec<String> = Vec::new();
        for event in every_event() {
            let value = serde_json::to_value(&event).unwrap();
            for key in ["event", "fact", "state"] {
                if let Some(name) = value[key].as_str() {
                    names.push(name.to_owned());
                }
            }
        }
        names.extend(Phase::ALL.iter().map(|p| p.name().to_owned()));
        names.extend(RunOutcome::WRITTEN.iter().map(|o| o.name().to_owned()));
        names.extend(UnitOutcome::WRITTEN.iter().map(|o| o.name().to_owned()));
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !doc.contains(&format!("`{name}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/plan-json.md does not name {missing:?}"
        );
    }
}
