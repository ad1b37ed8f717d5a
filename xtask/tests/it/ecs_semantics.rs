//! What ECS does that a convenient model would not, each made a behaviour of the local stack
//! and met by a deploy: reads that lag behind writes, a circuit breaker that does not roll
//! back, RunTask's launch type when none is given, sidecars that ECS stops when the
//! migration exits, a migration family whose command is not deploy.toml's, and a migration
//! that never ends. The oracle for each is the ECS API reference's description of it;
//! docs/local-stack.md lists them.

use crate::deploy::{remove_fault, Images, Project};
use aws_sdk_ecs::types as ecs;

type RegisterBuilder =
    aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use serde_json::json;

impl Project {
    /// `UpdateService` of api with what `change` sets, as a person or Terraform would.
    fn update_api(
        &self,
        change: impl FnOnce(
            aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder,
        )
            -> aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder,
    ) {
        let update = (self.aws.ecs.update_service())
            .cluster(self.cluster())
            .service(self.ecs_service("api"));
        self.rt.block_on(change(update).send()).unwrap();
    }

    /// A new migration for `api`, committed: the next deploy runs the migration task.
    fn add_migration(&self, name: &str) {
        self.repo.write(
            &format!("services/api/migrations/{name}.sql"),
            "ALTER TABLE items ADD COLUMN note TEXT;\n",
        );
        self.repo.commit(&format!("migration {name}"));
    }

    /// The running tasks of api's migration family (ListTasks' default desired status).
    fn running_migrations(&self) -> Vec<String> {
        let listed = (self.aws.ecs.list_tasks())
            .cluster(self.cluster())
            .family(format!("{}-migrate", self.ecs_service("api")))
            .send();
        self.rt.block_on(listed).unwrap().task_arns().to_vec()
    }

    /// Registers a revision of api's migration family made by `edit` from the newest one.
    fn edit_migration_family(&self, edit: impl FnOnce(&mut Vec<ecs::ContainerDefinition>)) {
        self.register_edited(
            &format!("{}-migrate", self.ecs_service("api")),
            edit,
            Vec::new(),
        );
    }

    /// Registers, in the family of `from` (a family or a revision), a copy of it with
    /// `edit` made to its containers and with `tags`, as Terraform would; its ARN.
    fn register_edited(
        &self,
        from: &str,
        edit: impl FnOnce(&mut Vec<ecs::ContainerDefinition>),
        tags: Vec<ecs::Tag>,
    ) -> String {
        self.register_edited_with(from, edit, |register| {
            register.set_tags((!tags.is_empty()).then_some(tags))
        })
    }

    /// [`Self::register_edited`], with `finish` setting whatever else the revision has.
    fn register_edited_with(
        &self,
        from: &str,
        edit: impl FnOnce(&mut Vec<ecs::ContainerDefinition>),
        finish: impl FnOnce(RegisterBuilder) -> RegisterBuilder,
    ) -> String {
        let described = (self.aws.ecs.describe_task_definition()).task_definition(from);
        let described = self.rt.block_on(described.send()).unwrap();
        let live = described.task_definition().unwrap();
        let mut containers = live.container_definitions().to_vec();
        edit(&mut containers);
        let register = (self.aws.ecs.register_task_definition())
            .family(live.family().unwrap())
            .set_container_definitions(Some(containers))
            .set_requires_compatibilities(Some(live.requires_compatibilities().to_vec()))
            .set_network_mode(live.network_mode().cloned())
            .set_cpu(live.cpu().map(str::to_owned))
            .set_memory(live.memory().map(str::to_owned));
        let registered = self.rt.block_on(finish(register).send()).unwrap();
        let definition = registered.task_definition().unwrap();
        definition.task_definition_arn().unwrap().to_owned()
    }

    /// The digest of the image `deployed` pushed for `service`, read from ECR by its tag.
    fn image_digest(&self, deployed: &crate::deploy::Deployed, service: &str) -> String {
        let plan = &deployed
            .events
            .iter()
            .find(|e| e["event"] == "plan")
            .unwrap()["plan"];
        let unit = plan["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .unwrap();
        let tag = format!("fp-{}", unit["fingerprint"].as_str().unwrap());
        let image = aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_tag(tag)
            .build();
        let found = self
            .rt
            .block_on(
                self.aws
                    .ecr
                    .describe_images()
                    .repository_name(format!("it/{service}"))
                    .image_ids(image)
                    .send(),
            )
            .unwrap();
        found.image_details()[0].image_digest().unwrap().to_owned()
    }

    /// The newest stopped migration task of api.
    fn last_migration_task(&self) -> ecs::Task {
        let listed = self
            .rt
            .block_on(
                self.aws
                    .ecs
                    .list_tasks()
                    .cluster(self.cluster())
                    .started_by("xtask-migrate")
                    .desired_status(ecs::DesiredStatus::Stopped)
                    .send(),
            )
            .unwrap();
        let described = self
            .rt
            .block_on(
                self.aws
                    .ecs
                    .describe_tasks()
                    .cluster(self.cluster())
                    .set_tasks(Some(listed.task_arns().to_vec()))
                    .send(),
            )
            .unwrap();
        let mut tasks = described.tasks().to_vec();
        tasks.sort_by_key(|t| t.created_at().map(|c| c.as_secs_f64() as i64));
        tasks.pop().expect("a migration task")
    }
}

#[test]
fn reads_that_lag_behind_writes_are_waited_for_not_taken_for_failures() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.add_migration("003_note");
    project.change("services/api/src/main.rs");
    // For 2 s after UpdateService, DescribeServices shows the service as it was (the old
    // deployment PRIMARY and COMPLETED); for 2 s after RunTask, DescribeTasks answers MISSING.
    let fault = project.stack.fault(json!({
        "kind": "stale_reads", "cluster": project.cluster(), "seconds": 2,
    }));
    let deployed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    deployed.expect(0);
    assert_eq!(deployed.service("api")["outcome"], "deployed");
    let all = deployed.all_output();
    assert!(all.contains("not visible yet"), "{all}");
}

#[test]
fn a_failed_rollout_ecs_did_not_roll_back_is_failed_and_on_failure_rollback_restores_it() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let api = project.task_definition("api");
    // The circuit breaker stops the deployment but leaves it in place (`rollback = false`).
    let breaker = ecs::DeploymentCircuitBreaker::builder()
        .enable(true)
        .rollback(false)
        .build();
    let configuration = ecs::DeploymentConfiguration::builder()
        .deployment_circuit_breaker(breaker)
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build();
    project.update_api(|update| update.deployment_configuration(configuration));

    project.change("services/api/src/main.rs");
    // Only the new image crash-loops (the one restored runs): push it first to know it.
    let pushed = project.deploy(&["--changed", "--images-only"]);
    pushed.expect(0);
    let digest = project.image_digest(&pushed, "api");
    let fault = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("api"), "image": digest,
    }));
    let failed = project.deploy(&["--changed", "--on-failure", "rollback"]);
    remove_fault(project.stack, &fault);
    failed.expect(13);
    // ECS put nothing back: the tool did, and says so.
    assert_eq!(
        failed.service("api")["outcome"],
        "restored",
        "{}",
        failed.all_output()
    );
    assert_eq!(project.task_definition("api"), api);
}

#[test]
fn the_migration_task_runs_where_the_service_runs_and_is_judged_by_its_own_container() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    // The service moves to a capacity provider strategy (no launch type any more) on a
    // cluster without a default one: a RunTask with neither would be an EC2 task, which
    // the Fargate-only family refuses.
    let spot = ecs::CapacityProviderStrategyItem::builder()
        .capacity_provider("FARGATE_SPOT")
        .weight(1)
        .build()
        .unwrap();
    project.update_api(|update| {
        update
            .capacity_provider_strategy(spot)
            .platform_version("1.4.0")
            .force_new_deployment(true)
    });
    // Terraform's family: a log router sidecar first, and a command that is not
    // deploy.toml's `migrations.command` (it would exit 3).
    project.edit_migration_family(|containers| {
        for container in containers.iter_mut() {
            container.command = Some(vec!["terraform-command".into()]);
        }
        let sidecar = ecs::ContainerDefinition::builder()
            .name("log-router")
            .image(containers[0].image().unwrap_or_default())
            .essential(true)
            .docker_labels("xtask.sidecar", "true")
            .build();
        containers.insert(0, sidecar);
        // And a metrics agent after it, marked as nothing: ECS stops it too.
        let agent = ecs::ContainerDefinition::builder()
            .name("metrics")
            .image(containers[1].image().unwrap_or_default())
            .essential(false)
            .build();
        containers.push(agent);
    });
    let fault = project.stack.fault(json!({
        "kind": "exit_code", "code": 3, "command": "terraform-command",
        "family": format!("{}-migrate", project.ecs_service("api")),
    }));
    project.add_migration("003_note");
    let deployed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    deployed.expect(0);
    let task = project.last_migration_task();
    assert_eq!(task.platform_version(), Some("1.4.0"), "{task:?}");
    // deploy.toml's runner timeouts reach the task, as RunTask's container override.
    let overridden: Vec<(&str, &str)> = (task.overrides().into_iter())
        .flat_map(|o| o.container_overrides())
        .flat_map(|c| c.environment())
        .map(|kv| {
            (
                kv.name().unwrap_or_default(),
                kv.value().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        overridden,
        [
            ("MIGRATION_LOCK_TIMEOUT", "5000ms"),
            ("MIGRATION_STATEMENT_TIMEOUT", "600000ms")
        ],
        "{task:?}"
    );
    let exits: Vec<(String, Option<i32>)> = task
        .containers()
        .iter()
        .map(|c| (c.name().unwrap_or_default().to_owned(), c.exit_code()))
        .collect();
    // Each container has its own exit code: the migration's own, and ECS's SIGTERM for
    // every other once it ended.
    for expected in [("api", 0), ("log-router", 143), ("metrics", 143)] {
        assert!(
            exits.contains(&(expected.0.to_owned(), Some(expected.1))),
            "{expected:?} in {exits:?}"
        );
    }
}

#[test]
fn a_migration_that_outlives_the_timeout_is_stopped_not_left_running() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let fault = project.stack.fault(json!({
        "kind": "runs_forever", "family": format!("{}-migrate", project.ecs_service("api")),
    }));
    project.add_migration("003_note");
    let timed_out = project.deploy(&["--changed", "--timeout", "3s"]);
    remove_fault(project.stack, &fault);
    timed_out.expect(14);
    let all = timed_out.all_output();
    assert!(all.contains("was stopped"), "{all}");
    let task = project.last_migration_task();
    assert_eq!(task.desired_status(), Some("STOPPED"), "{task:?}");
    assert!(
        task.stopped_reason().unwrap_or_default().contains("xtask"),
        "{task:?}"
    );
}

#[test]
fn a_service_another_controller_deploys_is_refused_before_its_migration_runs() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let controller = ecs::DeploymentController::builder()
        .r#type(ecs::DeploymentControllerType::CodeDeploy)
        .build()
        .unwrap();
    project.update_api(|update| update.deployment_controller(controller));
    let migrations = project.migration_tasks();
    project.add_migration("003_note");
    let refused = project.deploy(&["--changed"]);
    refused.expect(3);
    let all = refused.all_output();
    assert!(all.contains("CODE_DEPLOY deployment controller"), "{all}");
    assert_eq!(project.migration_tasks(), migrations, "no migration ran");
}

#[test]
fn a_new_revision_carries_the_live_ones_tags_which_a_tag_policy_requires() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    // The team tags its task definitions; its organisation denies untagged ones.
    let live = project.task_definition("api");
    // And turns on fault injection for its game days, which a copy must keep too.
    let team = ecs::Tag::builder().key("team").value("payments").build();
    let tagged = project.register_edited_with(
        &live,
        |_| {},
        |register| register.tags(team).enable_fault_injection(true),
    );
    project.update_api(|update| update.task_definition(&tagged));
    let policy = project.stack.fault(json!({
        "kind": "tag_policy", "keys": ["team"], "family": project.ecs_service("api"),
    }));
    project.change("services/api/src/main.rs");
    let deployed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &policy);
    deployed.expect(0);
    let tags = project
        .rt
        .block_on(
            project
                .aws
                .ecs
                .describe_task_definition()
                .task_definition(project.task_definition("api"))
                .include(ecs::TaskDefinitionField::Tags)
                .send(),
        )
        .unwrap()
        .tags()
        .to_vec();
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("payments")),
        "{tags:?}"
    );
    let copied = (project.aws.ecs.describe_task_definition())
        .task_definition(project.task_definition("api"));
    let copied = project.rt.block_on(copied.send()).unwrap();
    assert_eq!(
        copied.task_definition().unwrap().enable_fault_injection(),
        Some(true),
        "the deploy's revision keeps fault injection on: {copied:?}"
    );
}

#[test]
fn what_terraform_adds_to_the_task_definition_reaches_the_service_on_the_next_deploy() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    // Terraform registers a new revision of the family (a variable added), and leaves the
    // service alone: it ignores the service's task definition, which the tool owns.
    let live = project.task_definition("api");
    let flag = ecs::KeyValuePair::builder()
        .name("FEATURE_FLAG")
        .value("on")
        .build();
    let add_flag = |containers: &mut Vec<ecs::ContainerDefinition>| {
        containers[0]
            .environment
            .get_or_insert_with(Vec::new)
            .push(flag);
    };
    project.register_edited(&live, add_flag, Vec::new());
    let has_flag = |arn: &str| {
        let described = project
            .rt
            .block_on(
                project
                    .aws
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .send(),
            )
            .unwrap();
        described.task_definition().unwrap().container_definitions()[0]
            .environment()
            .iter()
            .any(|kv| kv.name() == Some("FEATURE_FLAG") && kv.value() == Some("on"))
    };
    // Twice: the second deploy's newest revision is the tool's own, whose template is
    // Terraform's.
    for file in ["services/api/src/main.rs", "crates/common/src/lib.rs"] {
        project.change(file);
        project.deploy(&["--changed"]).expect(0);
        let rolled = project.task_definition("api");
        assert_ne!(rolled, live);
        assert!(
            has_flag(&rolled),
            "{file}: {rolled} lost Terraform's variable"
        );
    }
}

#[test]
fn a_failed_roll_reports_its_stopped_tasks_whatever_page_ecs_lists_them_on() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("services/api/src/main.rs");
    // ListTasks in pages of 2, oldest first: the first page holds the tasks the first
    // deploy replaced, not the ones that just crashed.
    let pages = project.stack.fault(json!({
        "kind": "page_size", "size": 2, "cluster": project.cluster(),
    }));
    let crash = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("api"),
    }));
    let failed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &crash);
    remove_fault(project.stack, &pages);
    failed.expect(13);
    let all = failed.all_output();
    assert!(all.contains("stopped tasks:"), "{all}");
    assert!(all.contains("Essential container in task exited"), "{all}");
}

/// The `awslogs` configuration infra/terraform/ecs.tf gives a family's containers.
fn awslogs(group: &str, prefix: &str) -> ecs::LogConfiguration {
    ecs::LogConfiguration::builder()
        .log_driver(ecs::LogDriver::Awslogs)
        .options("awslogs-group", group)
        .options("awslogs-region", "us-east-1")
        .options("awslogs-stream-prefix", prefix)
        .build()
        .unwrap()
}

#[test]
fn a_crashed_service_task_shows_the_last_lines_it_logged() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    // Terraform registers the service's family with awslogs: the template of the next roll.
    let group = format!("/ecs/{}", project.name);
    project.register_edited(
        &project.task_definition("api"),
        |containers| {
            for container in containers.iter_mut() {
                container.log_configuration = Some(awslogs(&group, "api"));
            }
        },
        Vec::new(),
    );
    project.change("services/api/src/main.rs");
    let fault = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("api"),
    }));
    let failed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    failed.expect(13);
    let all = failed.all_output();
    assert!(all.contains("last lines of api's log"), "{all}");
    assert!(all.contains("api exited with code 1"), "{all}");
}

#[test]
fn a_failed_migration_shows_the_last_lines_it_logged() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    // Terraform's family logs to CloudWatch, as infra/terraform/ecs.tf declares it.
    let group = format!("/ecs/{}", project.name);
    project.edit_migration_family(|containers| {
        for container in containers.iter_mut() {
            container.log_configuration = Some(awslogs(&group, "migrate"));
        }
    });
    let fault = project.stack.fault(json!({
        "kind": "exit_code", "code": 3,
        "family": format!("{}-migrate", project.ecs_service("api")),
        "logs": ["applying 003_note", "ERROR: column \"note\" of relation \"items\" already exists"],
    }));
    project.add_migration("003_note");
    let failed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    failed.expect(12);
    let all = failed.all_output();
    assert!(all.contains("last lines of api's log"), "{all}");
    assert!(
        all.contains(r#"ERROR: column \"note\" of relation \"items\" already exists"#)
            || all.contains(r#"ERROR: column "note" of relation "items" already exists"#),
        "{all}"
    );
}

#[test]
fn health_is_skipped_on_purpose_without_ingress_or_tasks_and_a_warning_otherwise() {
    let project = Project::new(Images::Shared);
    // The worker has no ingress; api names a URL of its own, where nothing answers.
    project.repo.replace(
        "deploy.toml",
        "[services.worker]\n",
        "[services.worker]\nhealth = false\n",
    );
    project.repo.replace(
        "deploy.toml",
        "[services.api]\n",
        "[services.api]\nurl = \"http://127.0.0.1:9/{name}\"\n",
    );
    project.repo.commit("health settings");
    project.bootstrap();
    // api is scaled to zero: nothing runs to answer.
    project.update_api(|update| update.desired_count(0));
    let deployed = project.deploy(&["--changed", "--timeout", "5s"]);
    deployed.expect(0);
    let health = |service: &str| -> String {
        let step = deployed.events.iter().find(|e| {
            e["event"] == "step"
                && e["phase"] == "health"
                && e["state"] == "done"
                && e["service"] == service
        });
        step.map(|s| s["message"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(
        health("api").contains("desired count is 0"),
        "{}",
        health("api")
    );
    assert!(
        health("worker").contains("health = false"),
        "{}",
        health("worker")
    );
    assert!(
        !deployed.all_output().contains("was not checked"),
        "deliberate skips are no warnings"
    );

    // Without either reason, a service the stack cannot reach is a warning, not a pass.
    project.repo.replace("deploy.toml", "health = false\n", "");
    project.repo.commit("the worker is checked again");
    project.change("services/worker/src/main.rs");
    let warned = project.deploy(&["--changed"]);
    warned.expect(0);
    let warning = warned
        .events
        .iter()
        .find(|e| e["event"] == "warning")
        .map(|e| e["message"].to_string())
        .unwrap_or_default();
    assert!(
        warning.contains("health of worker was not checked"),
        "{warning}"
    );
}

#[test]
fn ctrl_c_during_a_migration_stops_its_task() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let fault = project.stack.fault(json!({
        "kind": "runs_forever", "family": format!("{}-migrate", project.ecs_service("api")),
    }));
    project.add_migration("003_note");
    let child = project.spawn(&["--changed"]);
    let pid = child.id() as i32;
    let task = crate::stack::eventually(
        "the migration task to run",
        std::time::Duration::from_secs(600),
        || project.running_migrations().first().cloned(),
    );
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let interrupted = crate::deploy::Deployed::from(child.wait_with_output().unwrap());
    remove_fault(project.stack, &fault);
    interrupted.expect(130);
    assert!(
        interrupted.all_output().contains("was stopped"),
        "{}",
        interrupted.all_output()
    );
    let described = project
        .rt
        .block_on(
            project
                .aws
                .ecs
                .describe_tasks()
                .cluster(project.cluster())
                .tasks(&task)
                .send(),
        )
        .unwrap();
    let stopped = &described.tasks()[0];
    assert_eq!(stopped.desired_status(), Some("STOPPED"));
    assert!(
        stopped
            .stopped_reason()
            .unwrap_or_default()
            .contains("interrupted"),
        "{stopped:?}"
    );
}

#[test]
fn behind_a_classic_load_balancer_the_roll_is_judged_by_its_service_deployment() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    // Behind a Classic Load Balancer ECS reports no rolloutState (DescribeServices' API
    // reference); ListServiceDeployments still tells how a deployment went.
    let classic = ecs::LoadBalancer::builder()
        .load_balancer_name("classic")
        .container_name("api")
        .container_port(8080)
        .build();
    project.update_api(|update| update.load_balancers(classic));
    project.change("services/api/src/main.rs");
    let deployed = project.deploy(&["--changed", "--timeout", "30s"]);
    deployed.expect(0);
    assert_eq!(deployed.service("api")["outcome"], "deployed");

    // A crash loop the circuit breaker rolls back is reported as such.
    project.change("services/api/src/main.rs");
    let crash = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("api"),
    }));
    let failed = project.deploy(&["--changed", "--timeout", "30s"]);
    remove_fault(project.stack, &crash);
    failed.expect(13);
    assert_eq!(
        failed.service("api")["outcome"],
        "rolled_back",
        "{}",
        failed.all_output()
    );
}

/// A deploy killed without warning (SIGKILL: a lost CI runner) leaves its migration task
/// running, and nothing stops it. The next deploy must not start a second migration beside
/// it: it waits (within `--timeout`), and fails before changing anything, naming the task
/// and how to stop it, when it still runs. Oracle: the ECS API reference (ListTasks by
/// family lists the tasks whose desired status is RUNNING; `startedBy` must be its only
/// filter, so the family is the one used).
#[test]
fn a_migration_a_killed_deploy_left_running_is_waited_for_not_raced() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let fault = project.stack.fault(json!({
        "kind": "runs_forever", "family": format!("{}-migrate", project.ecs_service("api")),
    }));
    project.add_migration("003_note");
    let mut killed = project.spawn(&["--changed"]);
    let orphan = crate::stack::eventually(
        "the migration task to run",
        std::time::Duration::from_secs(600),
        || project.running_migrations().first().cloned(),
    );
    killed.kill().unwrap();
    killed.wait().unwrap();
    // The dead deploy's lock, broken as its owner would after checking it is dead.
    project.run(&["lock", "release", "--force"]).expect(0);
    let short = &orphan.rsplit('/').next().unwrap()[..12];

    let refused = project.deploy(&["--changed", "--timeout", "3s"]);
    refused.expect(14);
    let said = refused.all_output();
    assert!(
        said.contains(&format!("migration task {short}")) && said.contains("aws ecs stop-task"),
        "{said}"
    );
    assert_eq!(
        project.running_migrations(),
        std::slice::from_ref(&orphan),
        "the earlier task was left alone and no second one started"
    );
    assert!(
        project.keys("deploy.lock").is_empty(),
        "the lock is released"
    );

    // Waited for while it runs; once it ends, this deploy runs its own migration.
    let waiting = project.spawn(&["--changed"]);
    crate::stack::eventually(
        "the deploy to take the lock",
        std::time::Duration::from_secs(600),
        || (project.keys("deploy.lock").len() == 1).then_some(()),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(project.running_migrations(), std::slice::from_ref(&orphan));
    remove_fault(project.stack, &fault);
    let done = crate::deploy::Deployed::from(waiting.wait_with_output().unwrap());
    done.expect(0);
    assert!(
        done.all_output()
            .contains("of an earlier deploy is still running: waiting for it to stop"),
        "{}",
        done.all_output()
    );
    assert_eq!(
        project.migration_tasks(),
        3,
        "the first deploy's, the orphan and this deploy's own, one after the other"
    );
}

/// A poll throttled past the SDK's retries (`AWS_MAX_ATTEMPTS=1`: none) is one poll lost,
/// not the roll: the watch backs off and polls again, as ECS's throttling guidance asks.
#[test]
fn a_roll_poll_throttled_past_the_sdks_retries_is_a_poll_lost_not_the_roll() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("services/api/src/main.rs");
    // A window: for 4 s after UpdateService the new deployment is not visible yet.
    let stale = project.stack.fault(json!({
        "kind": "stale_reads", "cluster": project.cluster(), "seconds": 4,
    }));
    let family = project.ecs_service("api");
    let revisions = || {
        let listed = (project.aws.ecs.list_task_definitions()).family_prefix(&family);
        let listed = project.rt.block_on(listed.send()).unwrap();
        listed.task_definition_arns().len()
    };
    let before = revisions();
    let deploy = project
        .command(&["--changed", "--services", "api", "--format", "json"])
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the roll's revision is registered, its polls are throttled three times.
    crate::stack::eventually(
        "the roll's revision",
        std::time::Duration::from_secs(300),
        || (revisions() > before).then_some(()),
    );
    project.stack.fault(json!({
        "kind": "throttle", "operation": "ecs:DescribeServices", "count": 3, "match": family,
    }));
    let out = deploy.wait_with_output().unwrap();
    remove_fault(project.stack, &stale);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("polling again"), "{all}");
}
