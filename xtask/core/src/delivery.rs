//! How a service's new version reaches its users: deploy.toml's `strategy` (rolling,
//! blue/green, canary, linear), its bakes, the CloudWatch alarms that roll it back and the
//! smoke tests the tool runs against the new version before production traffic reaches it,
//! and against production after. Validated here, and turned into the ECS
//! `deploymentConfiguration` the tool sets on each roll ([`Delivery::shift`]): the tool owns
//! those fields, Terraform ignores them (`cargo xtask check` verifies the pairing).
//!
//! The tool is the deployment's lifecycle hook: a `PAUSE` hook at
//! [`Stage::PostTestTrafficShift`], where the new revision has all the test listener's
//! traffic and none of production's (the API reference's `lifecycleStages`), with a timeout
//! that rolls back, so that a tool that died does not leave a service paused on double
//! capacity.

use crate::diag::Diagnostic;
use crate::live::Strategy;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use toml::Spanned;

/// How ECS moves a service to a new revision (`deploymentConfiguration.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// Tasks replaced in batches; no test listener, no traffic shift.
    #[default]
    Rolling,
    /// The new revision beside the old, all production traffic at once, the old kept for
    /// the bake.
    BlueGreen,
    /// A share of production traffic first, the rest after the canary's bake.
    Canary,
    /// Production traffic in equal steps, a bake after each.
    Linear,
}

impl StrategyKind {
    /// As ECS names it.
    pub fn ecs_name(self) -> &'static str {
        match self {
            StrategyKind::Rolling => "ROLLING",
            StrategyKind::BlueGreen => "BLUE_GREEN",
            StrategyKind::Canary => "CANARY",
            StrategyKind::Linear => "LINEAR",
        }
    }

    /// As deploy.toml writes it.
    pub fn key(self) -> &'static str {
        match self {
            StrategyKind::Rolling => "rolling",
            StrategyKind::BlueGreen => "blue_green",
            StrategyKind::Canary => "canary",
            StrategyKind::Linear => "linear",
        }
    }

    /// Whether it runs two revisions behind a load balancer's production and test
    /// listeners (everything but rolling).
    pub fn shifts_traffic(self) -> bool {
        self != StrategyKind::Rolling
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// `canary = { percent = 10, bake = "5m" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub percent: Option<Spanned<f64>>,
    pub bake: Option<Spanned<String>>,
}

/// `linear = { step_percent = 25, bake = "2m" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    pub step_percent: Option<Spanned<f64>>,
    pub bake: Option<Spanned<String>>,
}

/// A service's delivery keys, as written in `[services.NAME]`.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub strategy: Option<Spanned<StrategyKind>>,
    /// Both revisions kept after production traffic moved (whole minutes).
    pub bake: Option<Spanned<String>>,
    pub canary: Option<Spanned<Canary>>,
    pub linear: Option<Spanned<Linear>>,
    /// CloudWatch alarms (templates) that roll a deployment back, any strategy.
    pub alarms: Vec<Spanned<String>>,
    /// The smoke test: an argument list run from the repository root, with the URL to test
    /// and the expected version in its environment (see [`SmokeStage`]).
    pub smoke: Option<Spanned<Vec<String>>>,
    pub smoke_timeout: Option<Spanned<String>>,
}

/// The API reference's defaults and limits, in minutes and percent.
const DEFAULT_BAKE: Duration = Duration::from_secs(5 * 60);
const CANARY_DEFAULT: (f64, u64) = (5.0, 10);
const LINEAR_DEFAULT: (f64, u64) = (10.0, 6);
const MAX_BAKE_MINUTES: u64 = 1440;
const DEFAULT_SMOKE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const MAX_SMOKE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// ECS's longest lifecycle hook timeout (`DeploymentLifecycleHookDuration`): 14 days.
const MAX_HOOK_MINUTES: u64 = 20_160;

impl Delivery {
    pub fn kind(&self) -> StrategyKind {
        self.strategy
            .as_ref()
            .map(|s| *s.get_ref())
            .unwrap_or_default()
    }

    /// The bake after production traffic moved: none for rolling, 5 minutes unless set.
    pub fn bake(&self) -> Duration {
        match (&self.bake, self.kind().shifts_traffic()) {
            (_, false) => Duration::ZERO,
            (Some(written), true) => minutes(written).unwrap_or_default(),
            (None, true) => DEFAULT_BAKE,
        }
    }

    /// The canary's percent and bake (ECS's defaults: 5 % for 10 minutes).
    pub fn canary(&self) -> (f64, Duration) {
        let canary = self.canary.as_ref().map(Spanned::get_ref);
        let percent = canary
            .and_then(|c| c.percent.as_ref())
            .map(|p| *p.get_ref());
        let bake = canary.and_then(|c| c.bake.as_ref()).and_then(minutes);
        (
            percent.unwrap_or(CANARY_DEFAULT.0),
            bake.unwrap_or(Duration::from_secs(CANARY_DEFAULT.1 * 60)),
        )
    }

    /// Linear's step percent and the bake after each step (ECS's defaults: 10 % every 6
    /// minutes).
    pub fn linear(&self) -> (f64, Duration) {
        let linear = self.linear.as_ref().map(Spanned::get_ref);
        let step = linear
            .and_then(|l| l.step_percent.as_ref())
            .map(|p| *p.get_ref());
        let bake = linear.and_then(|l| l.bake.as_ref()).and_then(minutes);
        (
            step.unwrap_or(LINEAR_DEFAULT.0),
            bake.unwrap_or(Duration::from_secs(LINEAR_DEFAULT.1 * 60)),
        )
    }

    /// How long one run of the smoke test may take.
    pub fn smoke_timeout(&self) -> Duration {
        (self.smoke_timeout.as_ref())
            .and_then(|t| humantime::parse_duration(t.get_ref()).ok())
            .unwrap_or(DEFAULT_SMOKE_TIMEOUT)
    }

    /// The strategy with its durations, as the plan counts its bakes.
    pub fn strategy(&self) -> Strategy {
        let bake = self.bake();
        match self.kind() {
            StrategyKind::Rolling => Strategy::Rolling,
            StrategyKind::BlueGreen => Strategy::BlueGreen { bake },
            StrategyKind::Canary => Strategy::Canary {
                canary_bake: self.canary().1,
                bake,
            },
            StrategyKind::Linear => {
                let (step, step_bake) = self.linear();
                Strategy::Linear {
                    steps: (100.0 / step).ceil().clamp(1.0, 100.0) as u32,
                    step_bake,
                    bake,
                }
            }
        }
    }

    /// What the tool sets on the ECS service for a roll: `alarms` are the expanded names;
    /// `checks` is how long the tool's checks at the pause may take (the health check's
    /// and the smoke test's timeouts), which the hook's timeout must outlast.
    pub fn shift(&self, alarms: Vec<String>, checks: Duration) -> Shift {
        let kind = self.kind();
        let whole = |d: Duration| i32::try_from(d.as_secs() / 60).unwrap_or(i32::MAX);
        Shift {
            strategy: kind,
            bake_minutes: kind.shifts_traffic().then(|| whole(self.bake())),
            canary: (kind == StrategyKind::Canary).then(|| {
                let (percent, bake) = self.canary();
                (percent, whole(bake))
            }),
            linear: (kind == StrategyKind::Linear).then(|| {
                let (step, bake) = self.linear();
                (step, whole(bake))
            }),
            alarms,
            pause: kind.shifts_traffic().then(|| Pause {
                stage: Stage::PostTestTrafficShift,
                timeout_minutes: hook_timeout(checks),
            }),
        }
    }

    /// Every problem of meaning in the service's delivery keys.
    pub fn validate(&self, service: &str, problems: &mut Vec<Diagnostic>) {
        let kind = self.kind();
        if let Some(bake) = &self.bake {
            if !kind.shifts_traffic() {
                problems.push(needs_strategy(
                    bake.span(),
                    "bake",
                    service,
                    "blue_green, canary or linear",
                ));
            }
            check_minutes(bake, "bake", problems);
        }
        if let Some(canary) = &self.canary {
            if kind != StrategyKind::Canary {
                problems.push(needs_strategy(canary.span(), "canary", service, "canary"));
            }
            let canary = canary.get_ref();
            check_percent(canary.percent.as_ref(), "canary.percent", 0.1, problems);
            if let Some(bake) = &canary.bake {
                check_minutes(bake, "canary.bake", problems);
            }
        }
        if let Some(linear) = &self.linear {
            if kind != StrategyKind::Linear {
                problems.push(needs_strategy(linear.span(), "linear", service, "linear"));
            }
            let linear = linear.get_ref();
            check_percent(
                linear.step_percent.as_ref(),
                "linear.step_percent",
                3.0,
                problems,
            );
            if let Some(bake) = &linear.bake {
                check_minutes(bake, "linear.bake", problems);
            }
        }
        if let Some(smoke) = &self.smoke {
            if smoke
                .get_ref()
                .first()
                .is_none_or(|program| program.trim().is_empty())
            {
                problems.push(
                    Diagnostic::at(smoke.span(), "`smoke` names no program to run").with_help(
                        "write it as an argument list: `smoke = [\"scripts/smoke.py\"]`",
                    ),
                );
            }
        }
        if let Some(timeout) = &self.smoke_timeout {
            let ok = humantime::parse_duration(timeout.get_ref())
                .is_ok_and(|d| d >= Duration::from_secs(1) && d <= MAX_SMOKE_TIMEOUT);
            if !ok {
                problems.push(Diagnostic::at(
                    timeout.span(),
                    format!(
                        "`smoke_timeout = \"{}\"` is not a duration of 1s to 1h",
                        timeout.get_ref()
                    ),
                ));
            }
        }
        for alarm in &self.alarms {
            let name = alarm.get_ref();
            if name.trim().is_empty() || name.len() > 255 {
                problems.push(Diagnostic::at(
                    alarm.span(),
                    "an alarm name is 1 to 255 characters (CloudWatch's AlarmName)",
                ));
            }
        }
    }
}

/// How many minutes ECS waits at the pause before it rolls back on its own: the checks'
/// time and five minutes more (a slow poll, a retried call), at least one minute.
pub fn hook_timeout(checks: Duration) -> i32 {
    let minutes = checks.as_secs().div_ceil(60) + 5;
    i32::try_from(minutes.clamp(1, MAX_HOOK_MINUTES)).unwrap_or(i32::MAX)
}

fn needs_strategy(
    span: std::ops::Range<usize>,
    key: &str,
    service: &str,
    strategies: &str,
) -> Diagnostic {
    Diagnostic::at(
        span,
        format!("`{key}` of service `{service}` applies only to strategy {strategies}"),
    )
    .with_help("set `strategy`, or remove the key")
}

/// A written duration in whole minutes, if it is one.
fn minutes(written: &Spanned<String>) -> Option<Duration> {
    let parsed = humantime::parse_duration(written.get_ref()).ok()?;
    (parsed.as_secs() % 60 == 0 && parsed.subsec_nanos() == 0).then_some(parsed)
}

fn check_minutes(written: &Spanned<String>, key: &str, problems: &mut Vec<Diagnostic>) {
    let ok = minutes(written).is_some_and(|d| d.as_secs() / 60 <= MAX_BAKE_MINUTES);
    if !ok {
        problems.push(
            Diagnostic::at(
                written.span(),
                format!(
                    "`{key} = \"{}\"` is not whole minutes from 0m to 24h",
                    written.get_ref()
                ),
            )
            .with_help("ECS counts bakes in whole minutes: `5m`, `1h`"),
        );
    }
}

/// A traffic percent: `least` to 100, in steps of 0.1 (the API reference's valid values).
fn check_percent(
    written: Option<&Spanned<f64>>,
    key: &str,
    least: f64,
    problems: &mut Vec<Diagnostic>,
) {
    let Some(written) = written else { return };
    let value = *written.get_ref();
    let tenths = value * 10.0;
    if !(least..=100.0).contains(&value) || (tenths - tenths.round()).abs() > 1e-6 {
        problems.push(Diagnostic::at(
            written.span(),
            format!("`{key} = {value}` is not a percent from {least} to 100 in steps of 0.1"),
        ));
    }
}

/// The deployment configuration the tool sets on the ECS service for one roll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shift {
    pub strategy: StrategyKind,
    /// `bakeTimeInMinutes`, for the strategies that shift traffic.
    pub bake_minutes: Option<i32>,
    /// `canaryConfiguration`: percent, bake minutes.
    pub canary: Option<(f64, i32)>,
    /// `linearConfiguration`: step percent, bake minutes.
    pub linear: Option<(f64, i32)>,
    /// CloudWatch alarm names; rollback on, whenever there is one.
    pub alarms: Vec<String>,
    /// The tool's PAUSE hook, for the strategies that shift traffic.
    pub pause: Option<Pause>,
}

/// A `PAUSE` lifecycle hook: ECS waits at `stage` for `ContinueServiceDeployment`, and
/// rolls back after `timeout_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub stage: Stage,
    pub timeout_minutes: i32,
}

/// A service deployment's lifecycle stage (`ServiceDeploymentLifecycleStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    ReconcileService,
    PreScaleUp,
    ScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
    BakeTime,
    CleanUp,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::ReconcileService,
        Stage::PreScaleUp,
        Stage::ScaleUp,
        Stage::PostScaleUp,
        Stage::TestTrafficShift,
        Stage::PostTestTrafficShift,
        Stage::ProductionTrafficShift,
        Stage::PostProductionTrafficShift,
        Stage::BakeTime,
        Stage::CleanUp,
    ];

    pub fn ecs_name(self) -> &'static str {
        match self {
            Stage::ReconcileService => "RECONCILE_SERVICE",
            Stage::PreScaleUp => "PRE_SCALE_UP",
            Stage::ScaleUp => "SCALE_UP",
            Stage::PostScaleUp => "POST_SCALE_UP",
            Stage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            Stage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            Stage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            Stage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
            Stage::BakeTime => "BAKE_TIME",
            Stage::CleanUp => "CLEAN_UP",
        }
    }

    pub fn from_ecs(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.ecs_name() == name)
    }

    /// Whether production traffic may already reach the new revision.
    pub fn in_production(self) -> bool {
        self >= Stage::ProductionTrafficShift
    }

    /// What the stage means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::ReconcileService => "reconciling revisions",
            Stage::PreScaleUp => "before the new revision starts",
            Stage::ScaleUp => "starting the new revision's tasks",
            Stage::PostScaleUp => "new revision running, no traffic yet",
            Stage::TestTrafficShift => "moving the test listener to the new revision",
            Stage::PostTestTrafficShift => {
                "test listener on the new revision, production on the old"
            }
            Stage::ProductionTrafficShift => "moving production traffic to the new revision",
            Stage::PostProductionTrafficShift => "production traffic on the new revision",
            Stage::BakeTime => "baking: both revisions kept",
            Stage::CleanUp => "stopping the old revision",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ecs_name())
    }
}

/// Where a smoke test runs: on the test listener before production traffic moves, or on
/// production after it moved (its `XTASK_SMOKE_STAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmokeStage {
    Test,
    Production,
}

impl SmokeStage {
    pub fn key(self) -> &'static str {
        match self {
            SmokeStage::Test => "test",
            SmokeStage::Production => "production",
        }
    }
}

/// Why a deployment went back to the previous revision: the summary's and the ledger's
/// typed reason beside the `rolled_back` outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RolledBackBy {
    /// ECS's deployment circuit breaker: the new tasks kept failing.
    CircuitBreaker,
    /// CloudWatch alarms went into ALARM during the deployment.
    Alarm { alarms: Vec<String> },
    /// The tool's smoke test failed (its command, where it ran).
    SmokeTest { command: String, stage: SmokeStage },
    /// The tool's health check of the new revision on the test listener failed.
    HealthCheck,
    /// Nothing resolved the tool's pause in time: ECS rolled back on its own.
    HookTimeout,
    /// Someone (Ctrl-C on this deploy, or a person through the API) rolled it back.
    User,
    /// A reason this version does not know (a newer tool wrote it).
    #[serde(other)]
    Unknown,
}

impl fmt::Display for RolledBackBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RolledBackBy::CircuitBreaker => f.write_str("ECS's circuit breaker"),
            RolledBackBy::Alarm { alarms } => write!(f, "alarm {}", alarms.join(", ")),
            RolledBackBy::SmokeTest { command, stage } => {
                write!(f, "smoke test `{command}` on the {} URL", stage.key())
            }
            RolledBackBy::HealthCheck => f.write_str("the health check on the test listener"),
            RolledBackBy::HookTimeout => f.write_str("the pause's timeout"),
            RolledBackBy::User => f.write_str("a person"),
            RolledBackBy::Unknown => f.write_str("an unknown reason"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spanned<T>(value: T) -> Spanned<T> {
        Spanned::new(0..1, value)
    }

    fn delivery(kind: StrategyKind) -> Delivery {
        Delivery {
            strategy: Some(spanned(kind)),
            ..Delivery::default()
        }
    }

    #[test]
    fn shifting_strategies_bake_five_minutes_and_pause_after_test_traffic() {
        let shift = delivery(StrategyKind::BlueGreen).shift(vec![], Duration::from_secs(600));
        assert_eq!(shift.bake_minutes, Some(5));
        let pause = shift.pause.expect("a pause");
        assert_eq!(pause.stage, Stage::PostTestTrafficShift);
        // Ten minutes of checks, five to spare.
        assert_eq!(pause.timeout_minutes, 15);
        let rolling = delivery(StrategyKind::Rolling).shift(vec!["a".into()], Duration::ZERO);
        assert_eq!((rolling.bake_minutes, rolling.pause), (None, None));
        assert_eq!(rolling.alarms, ["a"]);
    }

    #[test]
    fn canary_and_linear_take_ecs_defaults_and_count_their_bakes() {
        let canary = delivery(StrategyKind::Canary);
        assert_eq!(canary.canary(), (5.0, Duration::from_secs(600)));
        assert_eq!(
            canary.strategy().bakes(),
            Duration::from_secs(600 + 300),
            "the canary's bake and the bake after"
        );
        let linear = delivery(StrategyKind::Linear);
        // 10 steps, a 6-minute bake after each but the last, then the 5-minute bake.
        assert_eq!(
            linear.strategy().bakes(),
            Duration::from_secs(9 * 360 + 300)
        );
    }

    #[test]
    fn keys_of_another_strategy_and_bad_values_are_refused() {
        let mut written = delivery(StrategyKind::Rolling);
        written.bake = Some(spanned("90s".into()));
        written.canary = Some(spanned(Canary {
            percent: Some(spanned(0.05)),
            bake: None,
        }));
        written.smoke = Some(spanned(vec![]));
        let mut problems = Vec::new();
        written.validate("api", &mut problems);
        let messages: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        let all = messages.join("\n");
        assert!(
            all.contains("`bake` of service `api` applies only to strategy"),
            "{all}"
        );
        assert!(
            all.contains("`bake = \"90s\"` is not whole minutes"),
            "{all}"
        );
        assert!(
            all.contains("`canary` of service `api` applies only to strategy canary"),
            "{all}"
        );
        assert!(all.contains("`canary.percent = 0.05`"), "{all}");
        assert!(all.contains("`smoke` names no program"), "{all}");
    }

    #[test]
    fn stages_round_trip_and_order() {
        for stage in Stage::ALL {
            assert_eq!(Stage::from_ecs(stage.ecs_name()), Some(stage));
        }
        assert!(!Stage::PostTestTrafficShift.in_production());
        assert!(Stage::BakeTime.in_production());
    }

    #[test]
    fn a_rollback_reason_reads_back_and_an_unknown_one_is_not_fatal() {
        let by = RolledBackBy::Alarm {
            alarms: vec!["acme-5xx".into()],
        };
        let json = serde_json::to_string(&by).unwrap();
        assert_eq!(json, r#"{"by":"alarm","alarms":["acme-5xx"]}"#);
        assert_eq!(serde_json::from_str::<RolledBackBy>(&json).unwrap(), by);
        let newer: RolledBackBy = serde_json::from_str(r#"{"by":"quantum"}"#).unwrap();
        assert_eq!(newer, RolledBackBy::Unknown);
    }
}
