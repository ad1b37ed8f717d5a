//! Blue/green, canary and linear deployments (issue 18), end to end on the local stack:
//! the tool sets deploy.toml's strategy, bakes, alarms and its PAUSE lifecycle hook on the
//! ECS service, checks the new revision on the test listener while ECS waits at the hook,
//! and reports typed outcomes. The oracles: the ECS API reference's service deployment
//! lifecycle (stages, `PAUSE` hooks, `ContinueServiceDeployment`, `StopServiceDeployment`,
//! `DeploymentAlarms`), each request checked by the stack against botocore's ECS model;
//! and, with containers, real HTTP through the stack's production and test listeners to
//! the real task containers.

use crate::deploy::{remove_fault, Deployed, Images, Project};
use crate::stack::{container_stack, eventually};
use aws_sdk_ecs::types as ecs;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Project {
    /// Replaces api's `strategy = "rolling"` (and its smoke test) with `lines`, commits.
    fn deliver_api(&self, lines: &str) {
        self.repo.replace(
            "deploy.toml",
            "strategy = \"rolling\"\nsmoke = [\"scripts/smoke.py\"]\n",
            &format!("{lines}\n"),
        );
        self.repo.commit("api's delivery");
    }

    /// api's newest service deployment, described (None before it has one).
    fn api_service_deployment(&self) -> Option<ecs::ServiceDeployment> {
        let listed = self
            .rt
            .block_on(
                (self.aws.ecs.list_service_deployments())
                    .cluster(self.cluster())
                    .service(self.ecs_service("api"))
                    .send(),
            )
            .unwrap();
        let at = |d: &ecs::ServiceDeploymentBrief| d.created_at().map_or(0.0, |t| t.as_secs_f64());
        let newest =
            (listed.service_deployments().iter()).max_by(|a, b| at(a).total_cmp(&at(b)))?;
        let described = self
            .rt
            .block_on(
                (self.aws.ecs.describe_service_deployments())
                    .service_deployment_arns(newest.service_deployment_arn().unwrap())
                    .send(),
            )
            .unwrap();
        described.service_deployments().first().cloned()
    }

    /// Waits until api's newest service deployment satisfies `ready`.
    fn wait_for_api(&self, what: &str, ready: impl Fn(&ecs::ServiceDeployment) -> bool) {
        eventually(what, Duration::from_secs(600), || {
            self.api_service_deployment().filter(|d| ready(d)).map(drop)
        });
    }

    /// The deployment configuration ECS has for api now.
    fn api_configuration(&self) -> ecs::DeploymentConfiguration {
        let out = self
            .rt
            .block_on(
                (self.aws.ecs.describe_services())
                    .cluster(self.cluster())
                    .services(self.ecs_service("api"))
                    .send(),
            )
            .unwrap();
        out.services()[0]
            .deployment_configuration()
            .unwrap()
            .clone()
    }
}

fn stage_of(deployment: &ecs::ServiceDeployment) -> &str {
    deployment.lifecycle_stage().map_or("", |s| s.as_str())
}

fn paused(deployment: &ecs::ServiceDeployment) -> bool {
    deployment
        .lifecycle_hook_details()
        .iter()
        .any(|h| h.status() == Some(&ecs::DeploymentLifecycleHookStatus::AwaitingAction))
}

fn interrupt(child: &std::process::Child) {
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
}

/// A blue/green roll: the tool sets the strategy, the bake and its PAUSE hook (ECS's
/// `lifecycleHooks`, at POST_TEST_TRAFFIC_SHIFT, timing out to ROLLBACK), resolves the
/// pause, and waits through the bake beyond `--timeout`; the summary and the ledger carry
/// the service deployment's ARN.
#[test]
fn a_blue_green_roll_sets_its_configuration_passes_its_pause_and_bakes_beyond_the_timeout() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.deliver_api("strategy = \"blue_green\"\nbake = \"1m\"\nsmoke = [\"true\"]");
    project.change("services/api/src/main.rs");
    let started = Instant::now();
    let deployed = project.deploy(&["--changed", "--services", "api", "--timeout", "4s"]);
    let took = started.elapsed();
    deployed.expect(0);
    // It waited through the bake: longer than --timeout, as the stack's minute is 5 s.
    assert!(took >= Duration::from_secs(5), "{took:?}");
    let all = deployed.all_output();
    for shown in [
        "POST_TEST_TRAFFIC_SHIFT",
        "checks passed on the test listener",
        "BAKE_TIME",
        "1m left",
    ] {
        assert!(all.contains(shown), "{shown} in {all}");
    }
    let configuration = project.api_configuration();
    assert_eq!(
        configuration.strategy(),
        Some(&ecs::DeploymentStrategy::BlueGreen)
    );
    assert_eq!(configuration.bake_time_in_minutes(), Some(1));
    let hook = &configuration.lifecycle_hooks()[0];
    assert_eq!(
        hook.target_type(),
        Some(&ecs::DeploymentLifecycleHookTargetType::Pause)
    );
    assert_eq!(
        hook.lifecycle_stages(),
        [ecs::DeploymentLifecycleHookStage::PostTestTrafficShift]
    );
    let timeout = hook.timeout_configuration().unwrap();
    assert_eq!(
        timeout.action(),
        Some(&ecs::DeploymentLifecycleHookAction::Rollback)
    );
    assert!(timeout.timeout_in_minutes().unwrap() >= 6, "{timeout:?}");
    // The configuration was the tool's from deploy.toml: the circuit breaker it kept.
    assert!(configuration.deployment_circuit_breaker().is_some());
    let arn = deployed.service("api")["service_deployment"]
        .as_str()
        .unwrap()
        .to_owned();
    let deployment = project.api_service_deployment().unwrap();
    assert_eq!(deployment.service_deployment_arn(), Some(arn.as_str()));
    assert_eq!(
        deployment.status(),
        Some(&ecs::ServiceDeploymentStatus::Successful)
    );
    let recorded = project.last_recorded("api");
    assert_eq!(recorded["service_deployment"], arn.as_str());
}

/// A smoke test that fails on the test listener: the tool rolls the deployment back at
/// its pause (ContinueServiceDeployment with ROLLBACK), production never got any of the
/// new revision's traffic, the service runs what it ran, and the exit is 13 naming the
/// test and quoting what it printed.
#[test]
fn a_smoke_test_failing_at_the_pause_rolls_back_before_production_and_exits_13() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let before = project.task_definition("api");
    project.deliver_api(
        "strategy = \"blue_green\"\nbake = \"1m\"\nsmoke = [\"sh\", \"-c\", \"echo GET /items answered 500 >&2; exit 3\"]",
    );
    project.change("services/api/src/main.rs");
    let failed = project.deploy(&["--changed"]);
    failed.expect(13);
    let api = failed.service("api");
    assert_eq!(api["outcome"], "rolled_back", "{}", failed.all_output());
    assert_eq!(api["rolled_back_by"]["by"], "smoke_test");
    assert_eq!(api["rolled_back_by"]["stage"], "test");
    let error = failed.summary()["error"].as_str().unwrap();
    assert!(
        error.contains("rolled back by smoke test `sh -c echo GET /items answered 500")
            && error.contains("exited 3")
            && error.contains("GET /items answered 500")
            && error.contains("production never served it"),
        "{error}"
    );
    let deployment = project.api_service_deployment().unwrap();
    assert_eq!(
        deployment.status(),
        Some(&ecs::ServiceDeploymentStatus::RollbackSuccessful)
    );
    let revision = deployment.target_service_revision().unwrap();
    assert_eq!(revision.requested_production_traffic_weight(), Some(0.0));
    assert_eq!(project.task_definition("api"), before);
}

/// A canary whose alarm goes into ALARM while it bakes with a share of production: ECS
/// rolls it back (`DeploymentAlarms.rollback`), and the outcome names the alarm.
#[test]
fn a_canary_rolled_back_by_an_alarm_during_its_bake_names_the_alarm() {
    let project = Project::on(container_stack(), Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let before = project.task_definition("api");
    let alarm = format!("{}-api-5xx", project.name);
    project.stack.set_alarm(&alarm, "OK");
    project.deliver_api(
        "strategy = \"canary\"\ncanary = { percent = 10, bake = \"10m\" }\nalarms = [\"{project}-{name}-5xx\"]",
    );
    project.change("services/api/src/main.rs");
    let child = project.spawn(&["--changed"]);
    project.wait_for_api("the canary to take 10% of production", |d| {
        stage_of(d) == "PRODUCTION_TRAFFIC_SHIFT"
            && d.target_service_revision()
                .and_then(|r| r.requested_production_traffic_weight())
                == Some(10.0)
    });
    project.stack.set_alarm(&alarm, "ALARM");
    let failed = Deployed::from(child.wait_with_output().unwrap());
    project.stack.set_alarm(&alarm, "OK");
    failed.expect(13);
    let api = failed.service("api");
    assert_eq!(
        api["rolled_back_by"],
        json!({"by": "alarm", "alarms": [alarm]})
    );
    let error = failed.summary()["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("rolled back by alarm {alarm}"))
            && error.contains("production traffic went back to the previous revision"),
        "{error}"
    );
    assert_eq!(project.task_definition("api"), before);
}

/// Alarms apply to a rolling service too: one in ALARM during the rollout rolls it back,
/// named in the outcome (from the service deployment's `triggeredAlarmNames`).
#[test]
fn a_rolling_deployment_rolled_back_by_its_alarm_says_which() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let alarm = format!("{}-api-errors", project.name);
    project.stack.set_alarm(&alarm, "OK");
    project.deliver_api("strategy = \"rolling\"\nalarms = [\"{project}-api-errors\"]");
    project.change("services/api/src/main.rs");
    // The rollout never settles, so the alarm finds it in progress.
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": project.ecs_service("api"),
    }));
    let child = project.spawn(&["--changed", "--services", "api"]);
    project.wait_for_api("the rolling deployment to start", |d| {
        d.status() == Some(&ecs::ServiceDeploymentStatus::InProgress)
    });
    project.stack.set_alarm(&alarm, "ALARM");
    let failed = Deployed::from(child.wait_with_output().unwrap());
    project.stack.set_alarm(&alarm, "OK");
    remove_fault(project.stack, &fault);
    failed.expect(13);
    let api = failed.service("api");
    assert_eq!(api["outcome"], "rolled_back", "{}", failed.all_output());
    assert_eq!(
        api["rolled_back_by"],
        json!({"by": "alarm", "alarms": [alarm]})
    );
}

/// Ctrl-C while the deployment waits at the tool's pause: the tool rolls it back through
/// the API (StopServiceDeployment), not leaving it paused on double capacity until the
/// hook times out; the lock is released and the ledger says interrupted.
#[test]
fn ctrl_c_while_paused_rolls_the_deployment_back_through_the_api() {
    let project = Project::on(container_stack(), Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let before = project.task_definition("api");
    project.deliver_api(
        "strategy = \"blue_green\"\nsmoke = [\"sleep\", \"300\"]\nsmoke_timeout = \"10m\"",
    );
    project.change("services/api/src/main.rs");
    let child = project.spawn(&["--changed", "--services", "api"]);
    project.wait_for_api("the deployment to pause for the tool's checks", paused);
    interrupt(&child);
    let interrupted = Deployed::from(child.wait_with_output().unwrap());
    interrupted.expect(130);
    assert!(
        interrupted
            .all_output()
            .contains("rolling back (StopServiceDeployment)"),
        "{}",
        interrupted.all_output()
    );
    project.wait_for_api("the rollback to end", |d| {
        d.status() == Some(&ecs::ServiceDeploymentStatus::RollbackSuccessful)
    });
    assert!(!paused(&project.api_service_deployment().unwrap()));
    assert_eq!(project.task_definition("api"), before);
    assert!(
        project.keys("deploy.lock").is_empty(),
        "the lock was released"
    );
    assert_eq!(project.ledger().last().unwrap()["outcome"], "interrupted");
}

/// A deploy that dies while ECS waits at its pause (SIGKILL: no Ctrl-C handler runs)
/// does not leave the service paused on double capacity: the hook's timeout, which the
/// tool set from its checks' time (here 6 minutes of AWS's clock: 30 s on the stack),
/// rolls it back, and the hook says TIMED_OUT.
#[test]
fn a_deploy_killed_at_the_pause_is_rolled_back_by_the_hooks_timeout() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let before = project.task_definition("api");
    project.deliver_api(
        "strategy = \"blue_green\"\nsmoke = [\"sleep\", \"300\"]\nsmoke_timeout = \"1s\"",
    );
    project.change("services/api/src/main.rs");
    let mut child = project.spawn(&["--changed", "--services", "api", "--timeout", "10s"]);
    project.wait_for_api("the deployment to pause for the tool's checks", paused);
    child.kill().unwrap();
    child.wait().unwrap();
    let hook = &project
        .api_service_deployment()
        .unwrap()
        .lifecycle_hook_details()[0]
        .clone();
    let expires = hook.expires_at().unwrap().as_secs_f64() - hook_created(&project);
    assert!(
        (5.0 * 60.0..=7.0 * 60.0).contains(&expires),
        "the hook expires 6 minutes (AWS's) after the pause: {expires}s"
    );
    project.wait_for_api("the hook's timeout to roll it back", |d| {
        d.status() == Some(&ecs::ServiceDeploymentStatus::RollbackSuccessful)
    });
    let deployment = project.api_service_deployment().unwrap();
    assert_eq!(
        deployment.lifecycle_hook_details()[0].status(),
        Some(&ecs::DeploymentLifecycleHookStatus::TimedOut)
    );
    assert_eq!(project.task_definition("api"), before);
}

/// When api's newest service deployment was created (ECS's clock), in epoch seconds.
fn hook_created(project: &Project) -> f64 {
    let deployment = project.api_service_deployment().unwrap();
    deployment.created_at().unwrap().as_secs_f64()
}

/// What the version-answering health endpoint behind `url` reports, or why it did not.
fn version_at(url: &str) -> String {
    match ureq::get(&format!("{url}/health")).call() {
        Ok(mut response) => {
            let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap())
                .unwrap_or_default();
            body["version"].as_str().unwrap_or("?").to_owned()
        }
        Err(err) => format!("error: {err}"),
    }
}

/// api's production and test listeners on the stack's load balancer.
fn listeners(project: &Project) -> (String, String) {
    let listed = crate::stack::get_json(&format!("{}/_xtask/balancers", project.stack.endpoint));
    let found = (listed["balancers"].as_array().unwrap().iter())
        .find(|b| b["service"] == project.ecs_service("api").as_str())
        .unwrap_or_else(|| panic!("no listeners for api in {listed}"));
    let url = |key: &str| found[key].as_str().unwrap().to_owned();
    (url("production_url"), url("test_url"))
}

/// With real containers behind the stack's listeners: the smoke test sees the new version
/// on the test listener while production still serves the old; production serves the new
/// one after the switch. Then a version whose smoke test fails never reaches production.
#[test]
fn blue_green_on_real_containers_moves_production_only_after_the_checks_on_green() {
    let project = Project::on(container_stack(), Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let v1 = project.repo.head();
    // The smoke test records what each listener served when it ran.
    let seen = project.repo.path().join("seen.txt");
    let observe = format!(
        "v=$(python3 -c \"import json,urllib.request,sys; print(json.load(urllib.request.urlopen(sys.argv[1] + '/health'))['version'])\" \"$PRODUCTION\"); \
         echo \"$XTASK_SMOKE_STAGE $XTASK_EXPECTED_VERSION production=$v\" >> {}; scripts/smoke.py",
        seen.display()
    );
    project.deliver_api(&format!(
        "strategy = \"blue_green\"\nbake = \"1m\"\nsmoke = [\"sh\", \"-c\", {}]",
        toml_string(&observe)
    ));
    project.bootstrap();
    let (production, test) = listeners(&project);
    assert_eq!(version_at(&production), v1, "production serves v1 before");
    project.change("services/api/src/main.rs");
    let v2 = project.repo.head();
    let deployed = Deployed::from(
        project
            .command(&["--changed", "--format", "json"])
            .env("PRODUCTION", &production)
            .output()
            .unwrap(),
    );
    deployed.expect(0);
    let lines = std::fs::read_to_string(&seen).unwrap();
    assert!(
        lines.contains(&format!("test {v2} production={v1}")),
        "on the test listener, production still served v1: {lines}"
    );
    assert!(
        lines.contains(&format!("production {v2} production={v2}")),
        "after the switch, production served v2: {lines}"
    );
    assert_eq!(version_at(&production), v2);
    assert_eq!(version_at(&test), v2);

    // v3's smoke test fails on green: production never serves it.
    project.deliver_api_again("echo green answered 500 >&2; exit 1");
    project.change("services/api/src/main.rs");
    let failed = project.deploy(&["--changed"]);
    failed.expect(13);
    assert_eq!(failed.service("api")["rolled_back_by"]["by"], "smoke_test");
    assert_eq!(version_at(&production), v2, "production still serves v2");
}

impl Project {
    /// Replaces api's smoke command (a whole `smoke = [...]` line) with `sh -c <script>`.
    fn deliver_api_again(&self, script: &str) {
        let text = std::fs::read_to_string(self.repo.path().join("deploy.toml")).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("smoke = "))
            .unwrap()
            .to_owned();
        self.repo.replace(
            "deploy.toml",
            &line,
            &format!("smoke = [\"sh\", \"-c\", {}]", toml_string(script)),
        );
        self.repo.commit("a failing smoke test");
    }
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
