//! `cargo xtask deploy` end to end: real git repositories, real `cargo build` and
//! `docker build`/`push` into the local registry, the local stack's ECS, ECR and S3. Each
//! test deploys a project of its own (its own cluster, services, buckets); images go to
//! repositories shared by the tests (`it/<service>`) unless a test needs its own, so an
//! image built once is reused, as between environments.

use crate::stack::{
    container_stack, eventually, require_docker, stack, unique, Stack, STEP_SECONDS, TIME_SCALE,
};
use crate::support::{xtask_command, Repo};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;
use xtask::aws::Clients;

/// A deployable copy of the example monorepo on the shared stack.
pub struct Project {
    pub repo: Repo,
    pub name: String,
    pub stack: &'static Stack,
    pub rt: tokio::runtime::Runtime,
    pub aws: Clients,
}

/// Where images go: shared by tests (reused across them) or this project's own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Images {
    Shared,
    Own,
}

impl Project {
    pub fn new(images: Images) -> Project {
        Project::on(stack(), images)
    }

    pub fn on(stack: &'static Stack, images: Images) -> Project {
        require_docker();
        let repo = Repo::example();
        let name = unique("p");
        repo.replace(
            "deploy.toml",
            "project = \"acme\"",
            &format!("project = \"{name}\""),
        );
        if images == Images::Shared {
            for service in ["api", "worker"] {
                repo.replace(
                    "deploy.toml",
                    &format!("[services.{service}]\n"),
                    &format!("[services.{service}]\necr_repository = \"it/{{name}}\"\n"),
                );
            }
        }
        repo.commit("a project of this test's own");
        let rt = xtask::aws::runtime().unwrap();
        let aws = stack.clients(&rt);
        Project {
            repo,
            name,
            stack,
            rt,
            aws,
        }
    }

    /// Appends a comment to `path` and commits it: a change to that file's units.
    pub fn change(&self, path: &str) {
        self.repo.append(path, "\n// changed by a test\n");
        self.repo.commit(&format!("change {path}"));
    }

    pub fn command(&self, args: &[&str]) -> std::process::Command {
        self.xtask(&[&["deploy"], args].concat())
    }

    /// `cargo xtask <args>` on this project's stack.
    pub fn xtask(&self, args: &[&str]) -> std::process::Command {
        self.xtask_at(self.repo.path(), args)
    }

    /// `cargo xtask <args>` on this project's stack, from another clone at `root`.
    pub fn xtask_at(&self, root: &std::path::Path, args: &[&str]) -> std::process::Command {
        let mut command = xtask_command(root, args);
        command
            .env("XTASK_LOCAL_STACK", &self.stack.dir)
            .env("XTASK_STEP_SECONDS", STEP_SECONDS)
            .env("XTASK_TIME_SCALE", TIME_SCALE)
            // One build folder for every test: dependencies compile once.
            .env("CARGO_TARGET_DIR", target_dir())
            .env_remove("GITHUB_ACTIONS");
        command
    }

    /// `deploy <args> --format json`, waited for.
    pub fn deploy(&self, args: &[&str]) -> Deployed {
        let output = self
            .command(&[args, &["--format", "json"]].concat())
            .output()
            .unwrap();
        Deployed::from(output)
    }

    /// Adds environment `shared` to deploy.toml (with `extra` lines) and commits it: not
    /// the local stack, so reached like AWS (through [`Project::aws_like_env`]), and
    /// naming the local environment's cluster, state bucket and services.
    pub fn add_shared_environment(&self, extra: &str) {
        self.repo.append(
            "deploy.toml",
            &format!("\n[environments.shared]\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n{extra}cluster = \"{{project}}-local\"\nstate_bucket = \"{{project}}-local-deploy-state\"\n"),
        );
        for service in ["api", "worker"] {
            self.repo.replace(
                "deploy.toml",
                &format!("[services.{service}]\n"),
                &format!("[services.{service}]\necs_service = \"{{project}}-local-{{name}}\"\n"),
            );
        }
        self.repo.commit("a shared environment");
    }

    /// The standard credential chain and `AWS_ENDPOINT_URL`, pointed at the local stack.
    pub fn aws_like_env(&self) -> [(&str, &str); 4] {
        [
            ("AWS_ENDPOINT_URL", self.stack.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "000000000000"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
    }

    /// `cargo xtask <args>` (any command, as given), waited for.
    pub fn run(&self, args: &[&str]) -> Deployed {
        Deployed::from(self.xtask(args).output().unwrap())
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(&[args, &["--format", "json"]].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn ecs_service(&self, service: &str) -> String {
        format!("{}-local-{service}", self.name)
    }

    pub fn cluster(&self) -> String {
        format!("{}-local", self.name)
    }

    pub fn bucket(&self) -> String {
        format!("{}-local-deploy-state", self.name)
    }

    /// Creates the project's resources on the stack (a dry run does, and changes nothing
    /// else).
    pub fn bootstrap(&self) {
        self.deploy(&["--changed", "--dry-run"]).expect(0);
    }

    /// The service's current task definition ARN (empty before the service exists).
    pub fn task_definition(&self, service: &str) -> String {
        let out = self
            .rt
            .block_on(
                self.aws
                    .ecs
                    .describe_services()
                    .cluster(self.cluster())
                    .services(self.ecs_service(service))
                    .send(),
            )
            .unwrap();
        out.services()
            .first()
            .and_then(|s| s.task_definition())
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until a deploy started in the background holds the lock and has rolled
    /// worker to its second task definition.
    pub fn wait_until_rolling(&self) {
        eventually(
            "the deploy to hold the lock and roll",
            Duration::from_secs(600),
            || {
                let rolling = self.keys("deploy.lock").len() == 1
                    && self.task_definition("worker").ends_with(":2");
                rolling.then_some(())
            },
        );
    }

    /// The state bucket's keys under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        // Before the first deploy creates the bucket, it holds nothing.
        let Ok(out) = self.rt.block_on(
            self.aws
                .s3
                .list_objects_v2()
                .bucket(self.bucket())
                .prefix(prefix)
                .send(),
        ) else {
            return Vec::new();
        };
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    pub fn object(&self, key: &str) -> Value {
        let out = self
            .rt
            .block_on(
                self.aws
                    .s3
                    .get_object()
                    .bucket(self.bucket())
                    .key(key)
                    .send(),
            )
            .unwrap();
        let bytes = self.rt.block_on(out.body.collect()).unwrap().into_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    pub fn put_object(&self, key: &str, value: &Value) {
        self.rt
            .block_on(
                self.aws
                    .s3
                    .put_object()
                    .bucket(self.bucket())
                    .key(key)
                    .body(value.to_string().into_bytes().into())
                    .send(),
            )
            .unwrap();
    }

    pub fn ledger(&self) -> Vec<Value> {
        self.keys("ledger/")
            .iter()
            .map(|k| self.object(k))
            .collect()
    }

    /// `service` as the ledger's newest record keeps it.
    pub fn last_recorded(&self, service: &str) -> Value {
        let ledger = self.ledger();
        let services = ledger.last().expect("a ledger record")["services"].clone();
        (services.as_array().unwrap().iter())
            .find(|s| s["name"] == service)
            .unwrap_or_else(|| panic!("no {service} in {services}"))
            .clone()
    }

    /// Stopped tasks RunTask started in the migration family.
    pub fn migration_tasks(&self) -> usize {
        let out = self
            .rt
            .block_on(
                self.aws
                    .ecs
                    .list_tasks()
                    .cluster(self.cluster())
                    .started_by("xtask-migrate")
                    .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
                    .send(),
            )
            .unwrap();
        out.task_arns().len()
    }
}

pub fn target_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("static")
}

/// A finished deploy: its exit code, JSON events and stderr.
pub struct Deployed {
    pub code: i32,
    pub events: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Deployed {
    fn from(output: Output) -> Deployed {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let events = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Deployed {
            code: output.status.code().unwrap_or(-1),
            events,
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Deployed {
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "deploy exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn summary(&self) -> &Value {
        let last = self.events.last().expect("a summary line");
        assert_eq!(last["event"], "summary", "{}", self.stdout);
        last
    }

    pub fn service(&self, name: &str) -> &Value {
        self.summary()["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {}", self.stdout))
    }

    /// `(service, phase)` of each step that finished, in order.
    pub fn done(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter(|e| e["event"] == "step" && e["state"] == "done")
            .map(|e| {
                (
                    e["service"].as_str().unwrap_or("*").to_owned(),
                    e["phase"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn phases_of(&self, service: &str) -> Vec<String> {
        self.done()
            .into_iter()
            .filter(|(s, _)| s == service)
            .map(|(_, p)| p)
            .collect()
    }

    pub fn app(&self, name: &str) -> &Value {
        self.summary()["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no app {name} in {}", self.stdout))
    }

    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

#[test]
fn first_deploy_builds_and_rolls_everything_and_a_second_deploys_nothing() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    let before = project.task_definition("api");
    let first = project.deploy(&["--changed"]);
    first.expect(0);
    assert_eq!(first.summary()["outcome"], "success");
    for service in ["api", "worker"] {
        let summary = first.service(service);
        assert_eq!(summary["outcome"], "deployed", "{}", first.stdout);
        assert_eq!(summary["task_definition"], project.task_definition(service));
        assert!(summary["image"].as_str().unwrap().contains("@sha256:"));
        assert!(first.phases_of(service).contains(&"build".to_owned()));
    }
    assert_ne!(project.task_definition("api"), before);
    // Migrations ran once, before any roll.
    assert_eq!(project.migration_tasks(), 1);
    let done = first.done();
    let migrated = done
        .iter()
        .position(|(s, p)| s == "api" && p == "migrate")
        .unwrap();
    let first_roll = done.iter().position(|(_, p)| p == "roll").unwrap();
    assert!(migrated < first_roll, "{done:?}");
    // The ledger has the deploy, the lock is gone.
    let ledger = project.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["outcome"], "success");
    assert!(ledger[0]["digests"]["api"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(project.keys("deploy.lock").is_empty());

    let second = project.deploy(&["--changed"]);
    second.expect(0);
    assert_eq!(second.summary()["outcome"], "nothing_to_deploy");
    assert_eq!(project.migration_tasks(), 1);
    assert_eq!(project.ledger().len(), 1);
}

#[test]
fn a_common_edit_rolls_its_dependents_and_a_worker_edit_rolls_only_the_worker() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);

    project.change("crates/common/src/lib.rs");
    let both = project.deploy(&["--changed"]);
    both.expect(0);
    assert_eq!(both.service("api")["action"], "deploy");
    assert_eq!(both.service("worker")["action"], "deploy");

    let api = project.task_definition("api");
    project.change("services/worker/src/main.rs");
    let worker = project.deploy(&["--changed"]);
    worker.expect(0);
    assert_eq!(worker.service("api")["action"], "skip", "{}", worker.stdout);
    assert_eq!(worker.service("worker")["outcome"], "deployed");
    assert_eq!(
        project.task_definition("api"),
        api,
        "api keeps its task definition"
    );
    // The plan said why, with the file.
    let plan = &worker.events.iter().find(|e| e["event"] == "plan").unwrap()["plan"];
    let reasons = plan["services"][1]["reasons"].to_string();
    assert!(reasons.contains("services/worker/src/main.rs"), "{reasons}");
}

#[test]
fn an_image_that_exists_for_the_fingerprint_is_retagged_not_rebuilt() {
    let first = Project::new(Images::Shared);
    first.deploy(&["--changed"]).expect(0);
    // Same sources, another environment: the images exist.
    let second = Project::new(Images::Shared);
    let deployed = second.deploy(&["--changed"]);
    deployed.expect(0);
    for service in ["api", "worker"] {
        let phases = deployed.phases_of(service);
        assert!(
            !phases.contains(&"build".to_owned()),
            "{service}: {phases:?}"
        );
        assert!(
            phases.contains(&"retag".to_owned()),
            "{service}: {phases:?}"
        );
        assert_eq!(deployed.service(service)["outcome"], "deployed");
    }
    assert!(!deployed.stdout.contains("\"phase\":\"compile\""));
}

#[test]
fn a_new_migration_runs_before_any_roll_and_a_failed_one_rolls_nothing() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    assert_eq!(project.migration_tasks(), 1);
    let (api, worker) = (
        project.task_definition("api"),
        project.task_definition("worker"),
    );

    project.repo.write(
        "services/api/migrations/003_add_items_sku.sql",
        "ALTER TABLE items ADD COLUMN sku TEXT;\n",
    );
    project.change("services/worker/src/main.rs");
    let fault = project.stack.fault(json!({
        "kind": "exit_code", "code": 3, "family": format!("{}-migrate", project.ecs_service("api")),
    }));
    let failed = project.deploy(&["--changed"]);
    failed.expect(12);
    assert!(failed.all_output().contains("exit 3"), "{}", failed.stderr);
    assert_eq!(project.task_definition("api"), api, "nothing rolled");
    assert_eq!(project.task_definition("worker"), worker, "nothing rolled");
    assert_eq!(failed.service("api")["outcome"], "failed");
    assert_eq!(failed.service("worker")["outcome"], "not_started");
    assert!(
        project.keys("deploy.lock").is_empty(),
        "the lock was released"
    );
    remove_fault(project.stack, &fault);

    let fixed = project.deploy(&["--changed"]);
    fixed.expect(0);
    let done = fixed.done();
    let migrated = done
        .iter()
        .position(|(s, p)| s == "api" && p == "migrate")
        .unwrap();
    let first_roll = done.iter().position(|(_, p)| p == "roll").unwrap();
    assert!(migrated < first_roll, "{done:?}");
    assert_eq!(project.migration_tasks(), 3);
    let ledger: Vec<String> = project
        .ledger()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ledger, ["success", "failed", "success"]);
}

#[test]
fn a_crash_loop_exits_13_with_the_stopped_reason_and_on_failure_rollback_restores_the_rest() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let (api, worker) = (
        project.task_definition("api"),
        project.task_definition("worker"),
    );

    project.change("crates/common/src/lib.rs");
    let fault = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("api"),
    }));
    let failed = project.deploy(&["--changed", "--on-failure", "rollback"]);
    failed.expect(13);
    remove_fault(project.stack, &fault);
    assert!(
        failed
            .all_output()
            .contains("Essential container in task exited"),
        "{}",
        failed.stderr
    );
    assert!(failed.all_output().contains("exit 1"), "{}", failed.stderr);
    // stdout is NDJSON; the reason is also one line on stderr, for a CI step keeping it.
    let said = failed.stderr.lines().find(|l| l.starts_with("error: "));
    assert!(
        said.is_some_and(|l| l.contains("circuit breaker")),
        "{}",
        failed.stderr
    );
    assert!(
        failed.all_output().contains("circuit breaker"),
        "{}",
        failed.stderr
    );
    // The circuit breaker put api back; the tool put worker back.
    assert_eq!(project.task_definition("api"), api);
    assert_eq!(project.task_definition("worker"), worker);
    assert_eq!(failed.service("api")["outcome"], "rolled_back");
    assert_eq!(failed.service("worker")["outcome"], "restored");
}

/// Another run's lock on the project's environment, valid until 2099; what was written.
fn hold_lock(project: &Project) -> Value {
    let held = json!({
        "id": "someone-else", "holder": "alice@laptop", "commit": "0".repeat(40),
        "command": "deploy", "acquired_at": "2026-11-22T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z",
    });
    project.put_object("deploy.lock", &held);
    held
}

/// Build jobs (`--images-only`, a shard each) push while a deploy holds the lock: they
/// take none, leave it as it is, and write no ledger record (what runs did not change).
#[test]
fn images_only_pushes_while_another_run_holds_the_lock_and_records_nothing() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let held = hold_lock(&project);
    let pushed = project.deploy(&["--changed", "--images-only", "--services", "worker"]);
    pushed.expect(0);
    assert_eq!(pushed.service("worker")["outcome"], "pushed");
    assert_eq!(project.object("deploy.lock"), held, "the lock is untouched");
    assert!(project.ledger().is_empty(), "no ledger record");
}

#[test]
fn a_held_lock_exits_4_and_two_deploys_started_together_let_exactly_one_through() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let held = hold_lock(&project);
    let before = project.task_definition("api");
    let refused = project.deploy(&["--changed"]);
    refused.expect(4);
    assert!(
        refused.stderr.contains("alice@laptop"),
        "{}",
        refused.stderr
    );
    assert_eq!(project.task_definition("api"), before);
    assert_eq!(project.object("deploy.lock"), held, "the lock is untouched");
    assert!(project.ledger().is_empty());
    let mut stale = held.clone();
    stale["expires_at"] = json!("2026-01-01T00:00:00Z");
    project.put_object("deploy.lock", &stale);
    let refused = project.deploy(&["--changed"]);
    refused.expect(4);
    assert!(refused.stderr.contains("STALE"), "{}", refused.stderr);
    assert_eq!(
        project.object("deploy.lock"),
        stale,
        "a stale lock is reported, not broken"
    );
    project
        .rt
        .block_on(
            project
                .aws
                .s3
                .delete_object()
                .bucket(project.bucket())
                .key("deploy.lock")
                .send(),
        )
        .unwrap();

    // Slow rolls keep the winner holding the lock while the other tries.
    let fault = project.stack.fault(json!({
        "kind": "latency", "ms": 3000, "operation": "ecs:UpdateService", "match": project.cluster(),
    }));
    let (one, two) = (project.spawn(&["--changed"]), project.spawn(&["--changed"]));
    let results = [one, two].map(|child| Deployed::from(child.wait_with_output().unwrap()));
    remove_fault(project.stack, &fault);
    let mut codes: Vec<i32> = results.iter().map(|r| r.code).collect();
    codes.sort();
    assert_eq!(
        codes,
        [0, 4],
        "{}\n---\n{}",
        results[0].all_output(),
        results[1].all_output()
    );
    assert_eq!(project.ledger().len(), 1);
}

#[test]
fn sigint_during_the_wait_releases_the_lock_and_the_ledger_says_interrupted() {
    let project = Project::new(Images::Shared);
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": format!("{}-*", project.name),
    }));
    let child = project.spawn(&["--changed"]);
    let pid = child.id() as i32;
    project.wait_until_rolling();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let deployed = Deployed::from(child.wait_with_output().unwrap());
    remove_fault(project.stack, &fault);
    deployed.expect(130);
    assert_eq!(deployed.summary()["outcome"], "interrupted");
    assert!(
        project.keys("deploy.lock").is_empty(),
        "the lock was released"
    );
    let ledger = project.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["outcome"], "interrupted");
}

/// Someone breaks the lock (`lock release --force`) while a deploy rolls. The deploy's
/// heartbeat (every tenth of `XTASK_LOCK_TTL`) finds its lock gone; the deploy goes on
/// (stopping half-way would leave a half-rolled environment) and, when it ends, its
/// summary, its text and its ledger record say another deploy may have run beside it.
#[test]
fn a_lock_broken_while_the_deploy_ran_is_in_its_summary() {
    let project = Project::new(Images::Shared);
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": format!("{}-*", project.name),
    }));
    let child = project
        .command(&["--changed", "--format", "json"])
        // Beats every 3 s: often enough to see the break, rare enough that `lock release`
        // (read, then delete If-Match) does not race a renewal.
        .env("XTASK_LOCK_TTL", "30s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    project.wait_until_rolling();
    // `lock release` reads the lock, then deletes it If-Match that read: a renewal between
    // the two makes it refuse (exit 4, nothing released), and a person runs it again.
    let released = (0..5)
        .map(|_| project.run(&["lock", "release", "--force"]))
        .find(|run| run.code != 4 || !run.stderr.contains("changed while it was being released"))
        .expect("lock release succeeds once no renewal races it");
    released.expect(0);
    // The next beat finds the lock gone.
    std::thread::sleep(Duration::from_secs(4));
    remove_fault(project.stack, &fault);
    let deployed = Deployed::from(child.wait_with_output().unwrap());
    deployed.expect(0);
    assert_eq!(deployed.summary()["lock_broken"], true);
    assert!(
        project.keys("deploy.lock").is_empty(),
        "nobody took the lock: nothing to release, nothing left"
    );
    let ledger = project.ledger();
    let record = (ledger.iter())
        .find(|r| r["command"] == "deploy")
        .expect("the deploy's record");
    assert_eq!(record["lock_broken"], true, "{record}");
    let history = project.run(&["history"]);
    history.expect(0);
    assert!(
        history.stdout.contains("success (its lock broken)"),
        "{}",
        history.all_output()
    );
}

#[test]
fn a_non_rust_service_builds_from_its_dockerfile_alone_and_dirty_inputs_block_a_deploy() {
    let project = Project::new(Images::Own);
    project.repo.write(
        "services/edge/Dockerfile",
        // COPY first: the legacy builder records the engine's platform on a scratch image's
        // ARG and ENV steps, which a COPY after them then refuses for arm64 (the deploy's
        // error says so; see `platform_hint`).
        "FROM scratch\nCOPY index.html /srv/\nARG FINGERPRINT\nENV DEPLOY_FINGERPRINT=$FINGERPRINT\n",
    );
    project
        .repo
        .write("services/edge/index.html", "<h1>edge</h1>\n");
    project.repo.append(
        "deploy.toml",
        "\n[services.edge]\npath = \"services/edge\"\nkind = \"docker\"\nport = 8082\nplatform = \"linux/arm64\"\n",
    );
    project.repo.commit("a non-Rust service");
    let deployed = project.deploy(&["--changed", "--services", "edge"]);
    deployed.expect(0);
    assert_eq!(deployed.service("edge")["outcome"], "deployed");
    assert!(
        !deployed.stdout.contains("\"phase\":\"compile\""),
        "no cargo build"
    );
    let labels = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{json .Config.Labels}}"])
        .arg(deployed.service("edge")["image"].as_str().unwrap())
        .output()
        .unwrap();
    let labels: Value = serde_json::from_slice(&labels.stdout).unwrap_or_default();
    assert_eq!(
        labels["dev.xtask.fingerprint"],
        deployed.service("edge")["fingerprint"],
        "{labels}"
    );
    // The legacy builder got `--platform`: Docker records it in the image's config
    // (the host is amd64; without the flag the image would say so).
    let platform = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}"])
        .arg(deployed.service("edge")["image"].as_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&platform.stdout).trim(),
        "linux/arm64"
    );

    project
        .repo
        .append("services/edge/index.html", "<p>not committed</p>\n");
    project
        .repo
        .replace("deploy.toml", "port = 8082", "port = 8083");
    let refused = project.deploy(&["--changed"]);
    refused.expect(3);
    assert!(
        refused.stderr.contains("services/edge/index.html (edge)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("deploy.toml has uncommitted changes"),
        "{}",
        refused.stderr
    );
    project
        .deploy(&["--changed", "--allow-dirty", "--dry-run"])
        .expect(0);
}

#[test]
fn a_rollout_that_never_settles_times_out_with_14() {
    let project = Project::new(Images::Shared);
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": project.ecs_service("worker"),
    }));
    let timed_out = project.deploy(&["--changed", "--timeout", "3s"]);
    remove_fault(project.stack, &fault);
    timed_out.expect(14);
    let error = timed_out.summary()["error"].as_str().unwrap();
    assert!(error.contains("did not complete within 3s"), "{error}");
    assert_eq!(timed_out.service("api")["outcome"], "deployed");
    assert!(project.keys("deploy.lock").is_empty());
}

#[test]
fn an_account_mismatch_exits_3_before_any_write() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    project.repo.replace(
        "deploy.toml",
        "account_id = \"000000000000\"",
        "account_id = \"123456789012\"",
    );
    project.repo.commit("wrong account");
    let before = project.task_definition("api");
    let refused = project.deploy(&["--changed"]);
    refused.expect(3);
    assert!(
        refused.stderr.contains("123456789012"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("000000000000"),
        "{}",
        refused.stderr
    );
    assert_eq!(project.task_definition("api"), before);
    assert!(
        project.keys("").is_empty(),
        "nothing written to the state bucket"
    );
    let images = project
        .rt
        .block_on(
            project
                .aws
                .ecr
                .list_images()
                .repository_name(format!("{}/api", project.name))
                .send(),
        )
        .unwrap();
    assert!(images.image_ids().is_empty(), "nothing pushed");
}

#[test]
fn throttled_calls_are_retried_and_the_deploy_succeeds() {
    let project = Project::new(Images::Shared);
    let faults: Vec<String> = [
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:RegisterTaskDefinition",
    ]
    .iter()
    .map(|operation| {
        project.stack.fault(json!({
            "kind": "throttle", "operation": operation, "count": 2, "match": project.name,
        }))
    })
    .collect();
    let deployed = project.deploy(&["--changed"]);
    // Each fault was used up: the deploy really met every throttle.
    let left: Vec<&String> = faults
        .iter()
        .filter(|id| !fault_is_used_up(project.stack, id))
        .collect();
    for fault in &faults {
        remove_fault(project.stack, fault);
    }
    assert!(left.is_empty(), "faults never hit: {left:?}");
    deployed.expect(0);
    assert_eq!(deployed.service("api")["outcome"], "deployed");
}

/// Oracle: AWS's documented error shape (code, message, `x-amzn-RequestId`), which the
/// local stack's fault answers with exactly as AWS does for a denied call.
#[test]
fn a_refusal_names_its_code_request_id_and_fix_and_v_traces_every_answer() {
    let project = Project::new(Images::Shared);
    let fault = project.stack.fault(json!({
        "kind": "error", "operation": "ecs:UpdateService", "match": project.name,
        "status": 400, "code": "AccessDeniedException",
        "message": "User is not authorized to perform: ecs:UpdateService",
    }));
    let refused = project.deploy(&["--changed", "-v"]);
    remove_fault(project.stack, &fault);
    refused.expect(13);
    let error = refused.summary()["error"].as_str().unwrap().to_owned();
    let api = error
        .lines()
        .find(|l| l.contains("AccessDeniedException"))
        .unwrap_or(&error);
    assert!(api.contains("request id "), "{error}");
    assert!(api.contains("compare its IAM policy"), "{error}");
    assert!(!error.contains("ErrorMetadata"), "no Debug dump: {error}");
    // `-v`: each of AWS's answers with its request id, on stderr; stdout stays NDJSON.
    assert!(refused.stderr.contains("answered"), "{}", refused.stderr);
    assert!(refused.stderr.contains("request_id="), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("UpdateService"),
        "{}",
        refused.stderr
    );
}

#[test]
fn without_v_nothing_is_traced() {
    let project = Project::new(Images::Shared);
    let deployed = project.deploy(&["--changed", "--dry-run"]);
    deployed.expect(0);
    assert!(!deployed.stderr.contains("answered"), "{}", deployed.stderr);
    assert!(!deployed.stderr.contains("xtask::"), "{}", deployed.stderr);
}

#[test]
fn secrets_in_the_environment_never_reach_the_output_and_the_webhook_gets_the_result() {
    let project = Project::new(Images::Shared);
    let hook = Hook::start();
    project.repo.replace(
        "deploy.toml",
        "local_stack = true\naccount_id = \"000000000000\"\n",
        "local_stack = true\naccount_id = \"000000000000\"\nwebhook_env = \"IT_DEPLOY_WEBHOOK\"\n",
    );
    project.repo.commit("notify");
    let secret_url = format!("{}/hooks/T000-secret-token-9f8e7d", hook.url);
    let output = project
        .command(&["--changed", "--format", "json"])
        .env("IT_DEPLOY_WEBHOOK", &secret_url)
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-very-secret-key")
        .env(
            "DATABASE_URL",
            "postgres://app:hunter2-db-password@10.0.0.1/app",
        )
        .output()
        .unwrap();
    let deployed = Deployed::from(output);
    deployed.expect(0);
    let all = deployed.all_output();
    for secret in [
        "secret-token-9f8e7d",
        "very-secret-key",
        "hunter2-db-password",
    ] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
    let posted = hook.received();
    assert_eq!(posted["deploy"]["outcome"], "success");
    assert!(
        posted["text"].as_str().unwrap().contains("api: deployed"),
        "{posted}"
    );
}

#[test]
fn health_checks_probe_the_real_containers_and_a_failing_one_exits_15() {
    let project = Project::on(container_stack(), Images::Shared);
    // Tasks really run here, and so does api's migration: against the stack's own
    // PostgreSQL (oracle: the server), through the DATABASE_URL the stack gave its family.
    let deployed = project.deploy(&["--changed"]);
    deployed.expect(0);
    let migrated = deployed
        .events
        .iter()
        .find(|e| e["event"] == "step" && e["phase"] == "migrate" && e["state"] == "done")
        .unwrap();
    assert!(
        migrated["message"].as_str().unwrap().contains("exited 0"),
        "{migrated}"
    );
    let status = crate::local::status(&project.stack.dir);
    let applied = crate::local::psql(
        status["postgres"]["address"].as_str().unwrap(),
        &project.ecs_service("api"),
        "SELECT count(*) FROM schema_migrations",
    );
    assert_eq!(
        String::from_utf8_lossy(&applied.stdout).trim(),
        std::fs::read_dir(crate::support::source_root().join("services/api/migrations"))
            .unwrap()
            .count()
            .to_string(),
        "every migration applied: {applied:?}"
    );
    // Where the services answer, said to people after the summary (not in NDJSON, which
    // ends with the summary).
    let again = project.command(&["--changed"]).output().unwrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("api runs on the local stack at http://127.0.0.1:"),
        "the URLs are printed: {said}"
    );
    assert!(!deployed.stdout.contains("runs on the local stack"));
    let health = deployed
        .events
        .iter()
        .find(|e| {
            e["event"] == "step"
                && e["phase"] == "health"
                && e["state"] == "done"
                && e["service"] == "api"
        })
        .unwrap();
    assert!(
        health["message"].as_str().unwrap().contains("answered 200"),
        "{health}"
    );

    project.repo.replace(
        "deploy.toml",
        "health_path = \"/health\"",
        "health_path = \"/nope\"",
    );
    project.repo.commit("a path nothing serves");
    let failed = project.deploy(&["--all", "--timeout", "20s"]);
    failed.expect(15);
    assert!(
        failed.all_output().contains("HTTP 404"),
        "{}",
        failed.stderr
    );
    // Rolled but unhealthy is not deployed, and the next plan knows it.
    assert_eq!(failed.service("api")["outcome"], "unhealthy");
    let next = project.deploy(&["--changed", "--dry-run"]);
    next.expect(0);
    let plan = &next.events.iter().find(|e| e["event"] == "plan").unwrap()["plan"];
    let api = &plan["services"][0];
    assert_eq!(api["name"], "api");
    assert_eq!(api["action"], "deploy", "{api:#}");
    assert_eq!(api["reasons"][0]["kind"], "last_unhealthy", "{api:#}");
    assert_eq!(
        plan["services"][1]["action"], "skip",
        "worker passed: {plan:#}"
    );
}

#[test]
fn dry_run_services_and_images_only_change_only_what_they_say() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("crates/common/src/lib.rs");
    let (api, worker) = (
        project.task_definition("api"),
        project.task_definition("worker"),
    );

    let dry = project.deploy(&["--changed", "--dry-run"]);
    dry.expect(0);
    let plan = &dry.events.iter().find(|e| e["event"] == "plan").unwrap()["plan"];
    assert_eq!(plan["services"][0]["action"], "deploy");
    assert_eq!(plan["services"][1]["action"], "deploy");
    assert_eq!(project.task_definition("api"), api);
    assert_eq!(project.task_definition("worker"), worker);
    assert_eq!(
        project.ledger().len(),
        1,
        "a dry run writes no ledger record"
    );

    let only = project.deploy(&["--changed", "--services", "worker"]);
    only.expect(0);
    assert_eq!(only.summary()["services"].as_array().unwrap().len(), 1);
    assert_eq!(project.task_definition("api"), api, "api was not selected");
    assert_ne!(project.task_definition("worker"), worker);

    let images = project.deploy(&["--changed", "--images-only"]);
    images.expect(0);
    assert_eq!(images.service("api")["outcome"], "pushed");
    assert!(images.service("api")["image"]
        .as_str()
        .unwrap()
        .contains("@sha256:"));
    assert_eq!(
        project.task_definition("api"),
        api,
        "--images-only rolls nothing"
    );
    assert!(!images.stdout.contains("\"phase\":\"roll\""));
}

/// Progress and diagnostics on stderr, the result on stdout: `deploy > out.txt` keeps the
/// plan and the summary, and nothing but them.
#[test]
fn progress_goes_to_stderr_and_the_plan_and_summary_to_stdout() {
    let project = Project::new(Images::Shared);
    let deployed = project.run(&["deploy", "--changed"]);
    deployed.expect(0);
    let (out, err) = (&deployed.stdout, &deployed.stderr);
    assert!(out.contains(" to deploy, 0 unchanged"), "the plan:\n{out}");
    assert!(out.contains(": success in "), "the summary:\n{out}");
    assert!(out.contains("TASK DEFINITION"), "the summary table:\n{out}");
    for progress in ["== roll", "✓ api", "✓ worker", "deploying "] {
        assert!(!out.contains(progress), "{progress} on stdout:\n{out}");
        assert!(err.contains(progress), "{progress} not on stderr:\n{err}");
    }
}

#[test]
fn under_github_actions_the_log_has_groups_an_error_annotation_and_a_step_summary() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("crates/common/src/lib.rs");
    let fault = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("api"),
    }));
    let summary_file = tempfile::NamedTempFile::new().unwrap();
    let output = project
        .command(&["--changed"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary_file.path())
        .output()
        .unwrap();
    remove_fault(project.stack, &fault);
    let deployed = Deployed::from(output);
    deployed.expect(13);
    for expected in [
        "::group::roll",
        "::endgroup::",
        "::error title=api roll failed::",
    ] {
        assert!(
            deployed.stdout.contains(expected),
            "{expected}:\n{}",
            deployed.stdout
        );
    }
    let markdown = std::fs::read_to_string(summary_file.path()).unwrap();
    assert!(
        markdown.contains("### Deploy to `local`: failed"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| api | deploy | rolled_back |"),
        "{markdown}"
    );
}

#[test]
fn an_aws_environment_needs_yes_without_a_terminal_and_deploys_only_from_its_branch() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    // An environment that is not the local stack, reached like AWS through the standard
    // credential chain and `AWS_ENDPOINT_URL`, naming the local environment's resources.
    project.add_shared_environment("branch = \"main\"\n");
    let deploy = |args: &[&str]| {
        let mut command = project
            .command(&[&["--env", "shared", "--changed", "--format", "json"], args].concat());
        for (key, value) in project.aws_like_env() {
            command.env(key, value);
        }
        Deployed::from(
            command
                .env_remove("AWS_PROFILE")
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    };
    let before = project.task_definition("api");
    // Its app buckets do not exist: reading their manifests is not an error, the
    // pre-flight check says what is missing.
    let no_buckets = deploy(&["--yes"]);
    no_buckets.expect(3);
    assert!(
        no_buckets.stderr.contains(&format!(
            "S3 bucket {}-shared-admin of app admin does not exist",
            project.name
        )),
        "{}",
        no_buckets.stderr
    );
    let refused = deploy(&["--skip-spas"]);
    refused.expect(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(project.task_definition("api"), before);

    deploy(&["--skip-spas", "--yes"]).expect(0);
    assert_ne!(project.task_definition("api"), before);

    project.change("services/worker/src/main.rs");
    project.repo.detach();
    let detached = deploy(&["--skip-spas", "--yes"]);
    detached.expect(3);
    assert!(
        detached
            .stderr
            .contains("deploys only from branch `main`; HEAD is detached"),
        "{}",
        detached.stderr
    );
}

#[test]
fn without_docker_the_preflight_check_refuses_and_nothing_changes() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    let before = project.task_definition("api");
    let empty = tempfile::tempdir().unwrap();
    let output = project
        .command(&["--changed"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let refused = Deployed::from(output);
    refused.expect(3);
    assert!(
        refused.stderr.contains("docker is not installed"),
        "{}",
        refused.stderr
    );
    assert_eq!(project.task_definition("api"), before);
    assert!(project.keys("").is_empty());
}

/// Whether a counted fault has been hit as many times as it was given.
pub fn fault_is_used_up(stack: &Stack, id: &str) -> bool {
    let listed = crate::stack::get_json(&format!("{}/_xtask/faults", stack.endpoint));
    !listed["faults"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == id)
}

pub fn remove_fault(stack: &Stack, id: &str) {
    ureq::delete(&format!("{}/_xtask/faults/{id}", stack.endpoint))
        .call()
        .unwrap();
}

/// A webhook receiver on 127.0.0.1: keeps the first JSON body posted to it.
struct Hook {
    url: String,
    body: std::sync::mpsc::Receiver<String>,
}

impl Hook {
    fn start() -> Hook {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (send, body) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut bytes = vec![0; length];
            reader.read_exact(&mut bytes).unwrap();
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .unwrap();
            send.send(String::from_utf8(bytes).unwrap()).unwrap();
        });
        Hook { url, body }
    }

    fn received(&self) -> Value {
        let body = self
            .body
            .recv_timeout(Duration::from_secs(10))
            .expect("a webhook post");
        serde_json::from_str(&body).unwrap()
    }
}
