//! The local stack through the AWS SDK for Rust: the ECS rollout model, RunTask, every
//! fault kind, ECR on the registry, and `local up` being idempotent. Each test works in a
//! cluster (or repository, or bucket) of its own on the shared stack.

use crate::stack::{
    container_stack, eventually, example_image, get_json, require_docker, stack, unique,
    xtask_local, Stack,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType, NetworkConfiguration,
    NetworkMode, Service, Task,
};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};
use xtask::aws::Clients;

/// An upper bound only: rollouts take a second or two, more on a loaded CI machine.
const ROLLOUT: Duration = Duration::from_secs(60);

/// A cluster of this test's own on the shared stack.
struct Cluster {
    rt: tokio::runtime::Runtime,
    stack: &'static Stack,
    aws: Clients,
    name: String,
    network: NetworkConfiguration,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster::on(stack())
    }

    fn on(stack: &'static Stack) -> Cluster {
        let rt = xtask::aws::runtime().unwrap();
        let aws = stack.clients(&rt);
        let name = unique("t");
        rt.block_on(aws.ecs.create_cluster().cluster_name(&name).send())
            .unwrap();
        let network = stack.network();
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(strings(&network["subnets"])))
            .set_security_groups(Some(strings(&network["security_groups"])))
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .unwrap();
        Cluster {
            rt,
            stack,
            aws,
            network: NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
            name,
        }
    }

    /// Registers a task definition running `image`; returns its ARN.
    fn register(&self, family: &str, image: &str, command: &[&str]) -> String {
        self.register_container(family, self.container(image, command).build())
    }

    fn container(
        &self,
        image: &str,
        command: &[&str],
    ) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
        let container = ContainerDefinition::builder()
            .name("app")
            .image(image)
            .essential(true);
        if command.is_empty() {
            container
        } else {
            container.set_command(Some(command.iter().map(|c| (*c).to_owned()).collect()))
        }
    }

    fn register_container(&self, family: &str, container: ContainerDefinition) -> String {
        let registered = self.rt.block_on(
            self.aws
                .ecs
                .register_task_definition()
                .family(format!("{}-{family}", self.name))
                .network_mode(NetworkMode::Awsvpc)
                .requires_compatibilities(Compatibility::Fargate)
                .cpu("256")
                .memory("512")
                .container_definitions(container)
                .send(),
        );
        registered
            .unwrap()
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_owned()
    }

    fn create_service(&self, name: &str, task_definition: &str, rollback: bool) {
        let breaker = DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(rollback)
            .build();
        let deployment = DeploymentConfiguration::builder()
            .deployment_circuit_breaker(breaker)
            .maximum_percent(200)
            .minimum_healthy_percent(100)
            .build();
        self.rt
            .block_on(
                self.aws
                    .ecs
                    .create_service()
                    .cluster(&self.name)
                    .service_name(name)
                    .task_definition(task_definition)
                    .desired_count(2)
                    .launch_type(LaunchType::Fargate)
                    .deployment_configuration(deployment)
                    .network_configuration(self.network.clone())
                    .send(),
            )
            .unwrap();
    }

    fn update(&self, service: &str, task_definition: &str) {
        self.rt
            .block_on(
                self.aws
                    .ecs
                    .update_service()
                    .cluster(&self.name)
                    .service(service)
                    .task_definition(task_definition)
                    .send(),
            )
            .unwrap();
    }

    fn service(&self, name: &str) -> Service {
        let described = self.rt.block_on(
            self.aws
                .ecs
                .describe_services()
                .cluster(&self.name)
                .services(name)
                .send(),
        );
        described.unwrap().services()[0].clone()
    }

    /// Polls the service until `done` holds.
    fn wait(&self, name: &str, what: &str, done: impl Fn(&Service) -> bool) -> Service {
        eventually(what, ROLLOUT, || {
            Some(self.service(name)).filter(|s| done(s))
        })
    }

    fn run_task(&self, task_definition: &str) -> String {
        let ran = self.rt.block_on(
            self.aws
                .ecs
                .run_task()
                .cluster(&self.name)
                .task_definition(task_definition)
                .launch_type(LaunchType::Fargate)
                .network_configuration(self.network.clone())
                .client_token(unique("token"))
                .send(),
        );
        ran.unwrap().tasks()[0].task_arn().unwrap().to_owned()
    }

    /// The stopped tasks of `service` that ran `task_definition`.
    fn stopped_tasks(&self, service: &str, task_definition: &str) -> Vec<Task> {
        let listed = self.rt.block_on(
            self.aws
                .ecs
                .list_tasks()
                .cluster(&self.name)
                .service_name(service)
                .desired_status("STOPPED".into())
                .send(),
        );
        listed
            .unwrap()
            .task_arns()
            .iter()
            .map(|arn| self.task(arn))
            .filter(|t| t.task_definition_arn() == Some(task_definition))
            .collect()
    }

    fn task(&self, arn: &str) -> Task {
        let described = self.rt.block_on(
            self.aws
                .ecs
                .describe_tasks()
                .cluster(&self.name)
                .tasks(arn)
                .send(),
        );
        described.unwrap().tasks()[0].clone()
    }

    /// The task's states, in the order first seen, until it stops.
    fn follow(&self, arn: &str) -> (Vec<String>, Task) {
        let mut seen: Vec<String> = Vec::new();
        let task = eventually("the task to stop", ROLLOUT, || {
            let task = self.task(arn);
            let status = task.last_status().unwrap_or_default().to_owned();
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            (status == "STOPPED").then_some(task)
        });
        (seen, task)
    }

    fn image(&self, tag: &str) -> String {
        format!("{}/{}/app:{tag}", self.stack.registry, self.name)
    }

    fn messages(service: &Service) -> Vec<String> {
        service
            .events()
            .iter()
            .map(|e| e.message().unwrap_or_default().to_owned())
            .collect()
    }
}

fn primary(service: &Service) -> &aws_sdk_ecs::types::Deployment {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .unwrap()
}

#[test]
fn a_new_task_definition_rolls_out_and_the_old_deployment_drains() {
    let cluster = Cluster::new();
    let v1 = cluster.register("api", &cluster.image("v1"), &[]);
    cluster.create_service("api", &v1, true);
    let settled = cluster.service("api");
    assert_eq!(settled.deployments().len(), 1);
    assert_eq!(
        primary(&settled).rollout_state().map(|s| s.as_str()),
        Some("COMPLETED")
    );

    let v2 = cluster.register("api", &cluster.image("v2"), &[]);
    cluster.update("api", &v2);
    let rolling = cluster.service("api");
    assert_eq!(
        rolling.deployments().len(),
        2,
        "a new PRIMARY and the old one, ACTIVE"
    );
    assert_eq!(primary(&rolling).task_definition(), Some(v2.as_str()));
    assert_eq!(
        primary(&rolling).rollout_state().map(|s| s.as_str()),
        Some("IN_PROGRESS")
    );
    assert!(rolling
        .deployments()
        .iter()
        .any(|d| d.status() == Some("ACTIVE") && d.task_definition() == Some(v1.as_str())));

    let done = cluster.wait("api", "the rollout to complete", |s| {
        primary(s).rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && s.deployments().len() == 1
    });
    assert_eq!(primary(&done).running_count(), 2);
    assert_eq!(done.task_definition(), Some(v2.as_str()));
    let events = Cluster::messages(&done);
    assert!(
        events[0].ends_with("has reached a steady state."),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.contains("has started 2 tasks")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("has stopped 2 running tasks")),
        "{events:#?}"
    );
}

/// A service on `v1` rolling out `v2`, whose image crash-loops; returns both ARNs.
fn crash_looping_rollout(rollback: bool) -> (Cluster, String, String) {
    let cluster = Cluster::new();
    let v1 = cluster.register("api", &cluster.image("v1"), &[]);
    cluster.create_service("api", &v1, rollback);
    let bad_image = cluster.image("crashes");
    cluster
        .stack
        .fault(json!({"kind": "crash_loop", "image": bad_image}));
    let v2 = cluster.register("api", &bad_image, &[]);
    cluster.update("api", &v2);
    (cluster, v1, v2)
}

#[test]
fn a_crash_loop_trips_the_circuit_breaker_which_rolls_back() {
    let (cluster, v1, v2) = crash_looping_rollout(true);

    let failed = cluster.wait("api", "the circuit breaker", |s| {
        s.deployments()
            .iter()
            .any(|d| d.rollout_state().map(|r| r.as_str()) == Some("FAILED"))
    });
    let broken = failed
        .deployments()
        .iter()
        .find(|d| d.task_definition() == Some(v2.as_str()))
        .unwrap();
    assert!(
        broken.failed_tasks() >= 3,
        "the breaker trips at 3 failed tasks for 2 desired"
    );
    assert!(broken
        .rollout_state_reason()
        .unwrap()
        .contains("circuit breaker"));

    let restored = cluster.wait("api", "the rollback to complete", |s| {
        primary(s).rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && s.deployments().len() == 1
    });
    assert_eq!(
        restored.task_definition(),
        Some(v1.as_str()),
        "back on the previous task definition"
    );
    let events = Cluster::messages(&restored);
    assert!(
        events
            .iter()
            .any(|e| e.contains("deployment failed: tasks failed to start.")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("rolling back to deployment")),
        "{events:#?}"
    );

    let crashed = cluster.stopped_tasks("api", &v2);
    assert!(crashed.len() >= 3);
    for task in crashed {
        assert_eq!(
            task.stopped_reason(),
            Some("Essential container in task exited")
        );
        assert_eq!(task.containers()[0].exit_code(), Some(1));
    }
}

#[test]
fn without_rollback_the_failed_deployment_stays_primary() {
    let (cluster, _, v2) = crash_looping_rollout(false);
    let failed = cluster.wait("api", "the circuit breaker", |s| {
        primary(s).rollout_state().map(|r| r.as_str()) == Some("FAILED")
    });
    assert_eq!(primary(&failed).task_definition(), Some(v2.as_str()));
}

#[test]
fn a_never_stable_rollout_stays_in_progress() {
    let cluster = Cluster::new();
    let v1 = cluster.register("api", &cluster.image("v1"), &[]);
    cluster.create_service("api", &v1, true);
    cluster
        .stack
        .fault(json!({"kind": "never_stable", "service": "api", "image": cluster.image("stuck")}));
    let v2 = cluster.register("api", &cluster.image("stuck"), &[]);
    cluster.update("api", &v2);
    std::thread::sleep(Duration::from_secs(3));
    let service = cluster.service("api");
    assert_eq!(
        primary(&service).rollout_state().map(|r| r.as_str()),
        Some("IN_PROGRESS")
    );
    assert!(primary(&service).running_count() < 2);
    assert_eq!(
        service.deployments().len(),
        2,
        "the old deployment keeps serving"
    );
}

#[test]
fn run_task_goes_from_provisioning_to_stopped_with_exit_codes() {
    let cluster = Cluster::new();
    let ok = cluster.register("migrate-ok", &cluster.image("v1"), &["migrate"]);
    let (states, task) = cluster.follow(&cluster.run_task(&ok));
    assert_eq!(
        states.first().map(String::as_str),
        Some("PROVISIONING"),
        "{states:?}"
    );
    assert!(states.contains(&"RUNNING".to_owned()), "{states:?}");
    assert_eq!(task.containers()[0].exit_code(), Some(0));
    assert_eq!(
        task.stopped_reason(),
        Some("Essential container in task exited")
    );

    let family = format!("{}-migrate-bad", cluster.name);
    cluster
        .stack
        .fault(json!({"kind": "exit_code", "family": family, "code": 3}));
    let bad = cluster.register("migrate-bad", &cluster.image("v1"), &["migrate"]);
    let (_, task) = cluster.follow(&cluster.run_task(&bad));
    assert_eq!(task.containers()[0].exit_code(), Some(3));
}

#[test]
fn a_task_can_stop_without_any_exit_code() {
    let cluster = Cluster::new();
    let family = format!("{}-lost", cluster.name);
    cluster
        .stack
        .fault(json!({"kind": "no_exit_code", "family": family}));
    let definition = cluster.register("lost", &cluster.image("v1"), &["migrate"]);
    let (_, task) = cluster.follow(&cluster.run_task(&definition));
    assert_eq!(task.containers()[0].exit_code(), None);
    assert_eq!(
        task.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart")
    );
}

/// A client that does not retry, to see each fault as the SDK receives it.
fn ecs_without_retries(stack: &Stack, rt: &tokio::runtime::Runtime) -> aws_sdk_ecs::Client {
    let config = rt.block_on(xtask::aws::local_config(&stack.endpoint, "us-east-1"));
    let ecs = aws_sdk_ecs::config::Builder::from(&config)
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ecs::Client::from_conf(ecs)
}

#[test]
// The test inspects the SDK's own (large) error values, as a caller would.
#[allow(clippy::result_large_err)]
fn throttling_and_server_errors_reach_the_sdk_as_aws_sends_them() {
    let cluster = Cluster::new();
    let ecs = ecs_without_retries(cluster.stack, &cluster.rt);
    let describe = || {
        cluster
            .rt
            .block_on(ecs.describe_clusters().clusters(&cluster.name).send())
    };
    cluster.stack.fault(json!({"kind": "throttle", "operation": "ecs:DescribeClusters", "count": 2, "match": cluster.name}));
    for _ in 0..2 {
        let err = describe().unwrap_err();
        let raw = err.raw_response().expect("an HTTP answer");
        assert_eq!(raw.status().as_u16(), 400);
        assert_eq!(
            aws_sdk_ecs::error::ProvideErrorMetadata::code(&err),
            Some("ThrottlingException")
        );
    }
    assert!(describe().is_ok(), "the fault is spent after two calls");

    cluster.stack.fault(
        json!({"kind": "server_error", "operation": "ecs:DescribeClusters", "match": cluster.name}),
    );
    let err = describe().unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 500);
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_server_exception()),
        "modelled as ECS's ServerException"
    );

    // With the SDK's standard retries, a throttled call succeeds on its own.
    cluster.stack.fault(json!({"kind": "throttle", "operation": "ecs:DescribeClusters", "count": 1, "match": cluster.name}));
    assert!(cluster
        .rt
        .block_on(
            cluster
                .aws
                .ecs
                .describe_clusters()
                .clusters(&cluster.name)
                .send()
        )
        .is_ok());
}

#[test]
fn any_error_code_can_be_injected_in_each_protocol() {
    let stack = stack();
    let rt = xtask::aws::runtime().unwrap();
    let aws = stack.clients(&rt);
    let bucket = unique("faults");
    rt.block_on(aws.s3.create_bucket().bucket(&bucket).send())
        .unwrap();
    stack.fault(json!({"kind": "throttle", "operation": "s3:PutObject", "count": 5, "match": "throttled body"}));
    let config = rt.block_on(xtask::aws::local_config(&stack.endpoint, "us-east-1"));
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    let put = rt.block_on(
        s3.put_object()
            .bucket(&bucket)
            .key("a")
            .body("throttled body".as_bytes().to_vec().into())
            .send(),
    );
    let err = put.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SlowDown")
    );
    assert!(rt
        .block_on(
            s3.put_object()
                .bucket(&bucket)
                .key("b")
                .body(b"fine".to_vec().into())
                .send()
        )
        .is_ok());

    let cloudfront = aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::config::Builder::from(&config)
            .retry_config(aws_sdk_cloudfront::config::retry::RetryConfig::disabled())
            .build(),
    );
    stack.fault(
        json!({"kind": "error", "operation": "cloudfront:ListDistributions", "status": 400,
                       "code": "TooManyInvalidationsInProgress", "message": "slow down"}),
    );
    let err = rt
        .block_on(cloudfront.list_distributions().send())
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudfront::error::ProvideErrorMetadata::code(&err),
        Some("TooManyInvalidationsInProgress")
    );
}

#[test]
fn latency_is_added_to_the_matching_calls_only() {
    let cluster = Cluster::new();
    let timed = |name: &str| {
        let started = Instant::now();
        cluster
            .rt
            .block_on(cluster.aws.ecs.describe_clusters().clusters(name).send())
            .unwrap();
        started.elapsed()
    };
    // A second of latency: far above what an unmatched call takes even on a loaded machine.
    cluster.stack.fault(json!({"kind": "latency", "operation": "ecs:DescribeClusters", "ms": 1000, "match": cluster.name}));
    assert!(timed(&cluster.name) >= Duration::from_millis(1000));
    assert!(timed("another-cluster") < Duration::from_millis(1000));
}

#[test]
fn a_malformed_fault_is_refused_with_the_reason() {
    let stack = stack();
    let refused = ureq::post(&format!("{}/_xtask/faults", stack.endpoint))
        .send(json!({"kind": "crash"}).to_string());
    let Err(ureq::Error::StatusCode(400)) = refused else {
        panic!("expected a 400, got {refused:?}");
    };
}

#[test]
fn ecr_images_are_the_registrys_images() {
    require_docker();
    let stack = stack();
    let rt = xtask::aws::runtime().unwrap();
    let aws = stack.clients(&rt);
    let name = unique("repo");
    let created = rt
        .block_on(aws.ecr.create_repository().repository_name(&name).send())
        .unwrap();
    let uri = created
        .repository()
        .unwrap()
        .repository_uri()
        .unwrap()
        .to_owned();
    // ECR's registry is the emulator's own address, in front of the registry.
    let front = stack.endpoint.trim_start_matches("http://");
    assert_eq!(
        uri,
        format!("{front}/{name}"),
        "the repository URI is the emulator's registry front"
    );

    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY id /id\n",
    )
    .unwrap();
    std::fs::write(context.path().join("id"), &name).unwrap();
    let image = format!("{uri}:fp1");
    let login = stack.ecr_login();
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", login.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    docker(&[
        "build",
        "-q",
        "-t",
        &image,
        context.path().to_str().unwrap(),
    ]);
    // The front refuses a push without ECR's login, as ECR does.
    let anonymous = std::process::Command::new("docker")
        .args(["push", "-q", &image])
        .env("DOCKER_CONFIG", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    docker(&["push", "-q", &image]);
    assert!(!anonymous.status.success(), "{anonymous:?}");
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("no basic auth credentials"),
        "{anonymous:?}"
    );

    let described = rt
        .block_on(aws.ecr.describe_images().repository_name(&name).send())
        .unwrap();
    let detail = &described.image_details()[0];
    assert_eq!(detail.image_tags(), ["fp1"]);
    let digest = detail.image_digest().unwrap().to_owned();

    // Re-tagging through the API puts a tag in the registry, for the same digest.
    let got = rt
        .block_on(
            aws.ecr
                .batch_get_image()
                .repository_name(&name)
                .image_ids(tag_id("fp1"))
                .send(),
        )
        .unwrap();
    let manifest = got.images()[0].image_manifest().unwrap().to_owned();
    rt.block_on(
        aws.ecr
            .put_image()
            .repository_name(&name)
            .image_manifest(&manifest)
            .image_tag("commit-1")
            .send(),
    )
    .unwrap();
    let tags = get_json(&format!("http://{}/v2/{name}/tags/list", stack.registry));
    let mut tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["commit-1", "fp1"]);
    let again = rt.block_on(
        aws.ecr
            .describe_images()
            .repository_name(&name)
            .image_ids(tag_id("commit-1"))
            .send(),
    );
    assert_eq!(
        again.unwrap().image_details()[0].image_digest(),
        Some(digest.as_str())
    );

    let missing = rt.block_on(
        aws.ecr
            .describe_images()
            .repository_name(&name)
            .image_ids(tag_id("nope"))
            .send(),
    );
    assert!(missing
        .unwrap_err()
        .as_service_error()
        .is_some_and(|e| e.is_image_not_found_exception()));
}

fn tag_id(tag: &str) -> aws_sdk_ecr::types::ImageIdentifier {
    aws_sdk_ecr::types::ImageIdentifier::builder()
        .image_tag(tag)
        .build()
}

#[test]
fn local_up_is_idempotent_and_status_reports_the_stack() {
    let stack = stack();
    let second = xtask_local(&stack.dir, &["up", "--tasks", "modelled"]);
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{text}\nstderr:\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        text.contains("exists  ecs service              acme-local-api"),
        "{text}"
    );
    assert!(
        !text.contains("created"),
        "a second up creates nothing:\n{text}"
    );

    let status = xtask_local(&stack.dir, &["status", "--format", "json"]);
    // Which process did not answer, if one did not.
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["aws_endpoint"], stack.endpoint);
    assert_eq!(status["registry"], stack.registry);
    assert_eq!(status["processes"]["aws_emulator"]["healthy"], true);
    assert_eq!(status["processes"]["registry"]["healthy"], true);

    // The bootstrapped service: desired 2, circuit breaker with rollback, rolling 100/200.
    let rt = xtask::aws::runtime().unwrap();
    let aws = stack.clients(&rt);
    let described = rt.block_on(
        aws.ecs
            .describe_services()
            .cluster("acme-local")
            .services("acme-local-api")
            .send(),
    );
    let service = described.unwrap().services()[0].clone();
    assert_eq!(service.desired_count(), 2);
    let config = service.deployment_configuration().unwrap();
    assert_eq!(
        (config.minimum_healthy_percent(), config.maximum_percent()),
        (Some(100), Some(200))
    );
    let breaker = config.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());
}

// ---- `local up --tasks containers`: tasks as real containers of the example api ----------

/// The example api's task definition on the container stack, reporting `version`.
fn api_definition(cluster: &Cluster, image: &str, version: &str, command: &[&str]) -> String {
    use aws_sdk_ecs::types::{KeyValuePair, PortMapping};
    let container = cluster
        .container(image, command)
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .environment(
            KeyValuePair::builder()
                .name("DEPLOY_VERSION")
                .value(version)
                .build(),
        )
        .build();
    cluster.register_container("api", container)
}

/// The containers this cluster runs, as `local status` lists them.
fn running(cluster: &Cluster) -> Vec<serde_json::Value> {
    let status = xtask_local(&cluster.stack.dir, &["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let tasks = status["tasks"].as_array().unwrap().clone();
    tasks
        .into_iter()
        .filter(|t| t["cluster"] == cluster.name)
        .collect()
}

#[test]
fn with_containers_a_rollout_waits_for_health_and_replaces_the_old_ones() {
    let cluster = Cluster::on(container_stack());
    let image = example_image(&cluster.stack.registry, &cluster.name, "v1", "api");
    let v1 = api_definition(&cluster, &image, "one", &[]);
    cluster.create_service("api", &v1, true);
    let v2 = api_definition(&cluster, &image, "two", &[]);
    cluster.update("api", &v2);
    cluster.wait("api", "the rollout to complete", |s| {
        primary(s).rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && s.deployments().len() == 1
    });
    let tasks = running(&cluster);
    assert_eq!(tasks.len(), 2, "the old containers are gone: {tasks:#?}");
    for task in tasks {
        let answer = get_json(task["health"].as_str().unwrap());
        assert_eq!(answer["status"], "ok");
        assert_eq!(
            answer["version"], "two",
            "from the task definition's environment"
        );
        assert_eq!(answer["fingerprint"], "v1", "from the image");
    }
}

#[test]
fn with_containers_an_exiting_container_fails_the_rollout_through_the_circuit_breaker() {
    let cluster = Cluster::on(container_stack());
    let image = example_image(&cluster.stack.registry, &cluster.name, "v1", "api");
    let v1 = api_definition(&cluster, &image, "one", &[]);
    cluster.create_service("api", &v1, true);
    // The api refuses an unknown command and exits 1: a real crash loop.
    let broken = api_definition(&cluster, &image, "two", &["no-such-command"]);
    cluster.update("api", &broken);
    let restored = cluster.wait("api", "the rollback to complete", |s| {
        s.task_definition() == Some(v1.as_str())
            && primary(s).rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && s.deployments().len() == 1
    });
    let events = Cluster::messages(&restored);
    assert!(
        events
            .iter()
            .any(|e| e.contains("deployment failed: tasks failed to start.")),
        "{events:#?}"
    );
    let crashed = cluster.stopped_tasks("api", &broken);
    assert!(crashed.len() >= 3, "{crashed:#?}");
    assert!(
        crashed
            .iter()
            .all(|t| t.containers()[0].exit_code() == Some(1)),
        "the container's own exit code"
    );
    assert_eq!(
        running(&cluster).len(),
        2,
        "the rolled-back service serves again"
    );
}

#[test]
fn with_containers_run_task_reports_the_containers_exit_code() {
    let cluster = Cluster::on(container_stack());
    let image = example_image(&cluster.stack.registry, &cluster.name, "v1", "api");
    // `api migrate` without DATABASE_URL exits 1.
    let migrate = api_definition(&cluster, &image, "one", &["migrate"]);
    let (states, task) = cluster.follow(&cluster.run_task(&migrate));
    assert!(states.contains(&"STOPPED".to_owned()), "{states:?}");
    assert_eq!(task.containers()[0].exit_code(), Some(1));
    assert_eq!(
        task.stopped_reason(),
        Some("Essential container in task exited")
    );

    let missing = api_definition(
        &cluster,
        &format!("{}/{}:missing", cluster.stack.registry, cluster.name),
        "one",
        &[],
    );
    let (_, task) = cluster.follow(&cluster.run_task(&missing));
    assert_eq!(
        task.containers()[0].exit_code(),
        None,
        "never started, so no exit code"
    );
    assert!(
        task.stopped_reason()
            .unwrap()
            .starts_with("CannotPullContainerError"),
        "{task:#?}"
    );
}

// ---- lifecycle: on stacks of their own, so the shared ones are never stopped -------------

/// `xtask local <args>` against the stack in `dir`, with only `path` as the PATH.
fn local_with_path(
    dir: &std::path::Path,
    path: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("-C")
        .arg(crate::support::source_root())
        .arg("local")
        .args(args)
        .env("XTASK_LOCAL_STACK", dir)
        .env("PATH", path)
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .unwrap()
}

#[test]
fn a_missing_part_fails_with_the_command_that_installs_it() {
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let no_registry = local_with_path(dir.path(), bin.path(), &["up"]);
    let err = String::from_utf8_lossy(&no_registry.stderr);
    assert_eq!(no_registry.status.code(), Some(2), "{err}");
    assert!(
        err.contains("install it with `sudo apt-get install -y docker-registry`"),
        "{err}"
    );

    // With the registry but no Python, the registry starts and the emulator cannot.
    let registry =
        xtask_local::which_registry().expect("the registry is installed on test machines");
    std::os::unix::fs::symlink(registry, bin.path().join("docker-registry")).unwrap();
    let no_python = local_with_path(dir.path(), bin.path(), &["up"]);
    let err = String::from_utf8_lossy(&no_python.stderr);
    assert_eq!(no_python.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "Python 3 is missing: install it with `sudo apt-get install -y python3 python3-venv`"
        ),
        "{err}"
    );
    assert!(local_with_path(dir.path(), bin.path(), &["down"])
        .status
        .success());
}

/// `psql` against the stack's PostgreSQL at `address` (`127.0.0.1:PORT`); oracle: the
/// server itself.
pub fn psql(address: &str, database: &str, sql: &str) -> std::process::Output {
    let (host, port) = address.split_once(':').unwrap();
    Command::new("psql")
        .args(["-h", host, "-p", port, "-U", "postgres", "-d", database])
        .args(["-X", "-q", "-t", "-A", "-c", sql])
        .env("PGPASSWORD", "local")
        .output()
        .expect("psql is installed (apt-get install postgresql-client)")
}

/// `local status --format json` of the stack in `dir`.
pub fn status(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&xtask_local(dir, &["status", "--format", "json"]).stdout).unwrap()
}

/// A first `up` with Docker and PostgreSQL installed (as on every test machine) runs tasks
/// as containers, with the stack's own PostgreSQL; reset wipes its databases too.
#[test]
fn reset_forgets_everything_and_down_stops_everything() {
    let dir = tempfile::Builder::new()
        .prefix("xtask-lifecycle-")
        .tempdir()
        .unwrap();
    require_docker();
    let up = xtask_local(dir.path(), &["up"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status: serde_json::Value =
        serde_json::from_slice(&xtask_local(dir.path(), &["status", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(status["task_mode"], "containers", "{status:#}");
    let postgres = status["postgres"]["address"].as_str().unwrap().to_owned();
    // The example's api has migrations: its database was created for it.
    let listed = psql(&postgres, "acme-local-api", "SELECT current_database()");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "acme-local-api",
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let made = psql(&postgres, "acme-local-api", "CREATE TABLE scratch (id int)");
    assert!(made.status.success(), "{made:?}");
    let endpoint = status["aws_endpoint"].as_str().unwrap().to_owned();
    let registry = status["registry"].as_str().unwrap().to_owned();
    let rt = xtask::aws::runtime().unwrap();
    let aws = rt.block_on(xtask::aws::Clients::local(&endpoint, "us-east-1"));
    rt.block_on(aws.ecs.create_cluster().cluster_name("scratch").send())
        .unwrap();
    require_docker();
    let image = example_image(&registry, "scratch/api", "v1", "api");

    let reset = xtask_local(dir.path(), &["reset"]);
    let text = String::from_utf8_lossy(&reset.stdout);
    assert!(reset.status.success(), "{text}");
    assert!(
        text.contains("created ecs cluster              acme-local"),
        "resources are created again:\n{text}"
    );
    let clusters = rt.block_on(aws.ecs.list_clusters().send()).unwrap();
    assert!(
        !clusters
            .cluster_arns()
            .iter()
            .any(|arn| arn.ends_with("/scratch")),
        "{clusters:?}"
    );
    let tags = ureq::get(&format!("http://{registry}/v2/scratch/api/tags/list")).call();
    assert!(tags.is_err(), "the registry forgot {image}");
    let address: serde_json::Value =
        serde_json::from_slice(&xtask_local(dir.path(), &["status", "--format", "json"]).stdout)
            .unwrap();
    let postgres = address["postgres"]["address"].as_str().unwrap();
    let gone = psql(postgres, "acme-local-api", "SELECT count(*) FROM scratch");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("does not exist"),
        "PostgreSQL forgot the table: {gone:?}"
    );

    let running: serde_json::Value =
        serde_json::from_slice(&xtask_local(dir.path(), &["status", "--format", "json"]).stdout)
            .unwrap();
    let down = xtask_local(dir.path(), &["down"]);
    assert!(down.status.success());
    let after = xtask_local(dir.path(), &["status", "--format", "json"]);
    assert_eq!(
        after.status.code(),
        Some(1),
        "status fails when the stack is down"
    );
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after["aws_endpoint"], serde_json::Value::Null);
    for process in ["aws_emulator", "registry", "postgres"] {
        let pid = running["processes"][process]["pid"].as_u64().unwrap();
        // Gone, or a zombie waiting for a parent that does not reap (PID 1 in a container).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('Z'));
        assert!(!alive, "{process} (pid {pid}) still runs: {stat}");
    }
}

/// Oracle: AWS's published API models (botocore's, pinned with moto) and boto3, a client
/// AWS wrote from them. The self-test sends, through boto3 with its own validation off,
/// requests of every kind the tool makes (they must pass) and requests AWS refuses (a bad
/// enum, a name too long, a bad bucket name, a missing member, a wrong type): each must be
/// refused with the code AWS answers it with.
#[test]
fn requests_aws_would_refuse_are_refused_as_aws_answers_them() {
    let stack = stack();
    let script = stack.dir.join("aws_spec_selftest.py");
    std::fs::write(
        &script,
        include_str!("../../local/src/aws_spec_selftest.py"),
    )
    .unwrap();
    let out = std::process::Command::new(stack.dir.join("venv/bin/python"))
        .arg(&script)
        .arg(&stack.endpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the stack's request validation disagrees with AWS's models:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same rules reach the AWS SDK for Rust, the tool's client, as AWS's error codes: an
/// ECS name with a dot (ECS names are letters, digits, `-` and `_`) and an S3 bucket name
/// with capitals (S3's bucket naming rules), both of which AWS refuses.
#[test]
fn the_rust_sdk_sees_aws_validation_errors() {
    let stack = stack();
    let rt = xtask::aws::runtime().unwrap();
    let aws = stack.clients(&rt);
    let bad_cluster = format!("{}.dotted", unique("cluster"));
    let refused = rt
        .block_on(aws.ecs.create_cluster().cluster_name(&bad_cluster).send())
        .unwrap_err();
    let code = refused.as_service_error().and_then(|e| e.meta().code());
    assert_eq!(code, Some("InvalidParameterException"), "{refused:?}");

    let bad_bucket = unique("Bucket-With-Capitals");
    let refused = rt
        .block_on(aws.s3.create_bucket().bucket(&bad_bucket).send())
        .unwrap_err();
    let code = refused.as_service_error().and_then(|e| e.meta().code());
    assert_eq!(code, Some("InvalidBucketName"), "{refused:?}");

    let spec = get_json(&format!("{}/_xtask/spec", stack.endpoint));
    let refused: Vec<String> = spec["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    for name in [&bad_cluster, &bad_bucket] {
        assert!(
            refused.iter().any(|m| m.contains(name.as_str())),
            "{name} is not among the recorded refusals: {refused:?}"
        );
    }
}
