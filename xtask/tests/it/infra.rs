//! `infra/terraform`, parsed as HCL: its names are deploy.toml's (checked by `cargo xtask
//! check`, and a difference is reported with its line), and it has what safe deploys and
//! rollbacks rely on: immutable tags, a lifecycle that keeps at least 20 deploys, circuit
//! breakers, the tool owning task definitions, a versioned state bucket, origin access
//! control, and a deploy role allowed exactly the calls the tool makes.

use crate::support::{source_root, stdout, Repo};
use hcl::{Block, Body, Expression};
use std::collections::BTreeSet;
use xtask::check::infra::Terraform;

fn terraform() -> Terraform {
    Terraform::load(&source_root())
        .unwrap()
        .expect("infra/terraform")
}

/// The body of `kind "type" "name"`.
fn resource<'t>(tf: &'t Terraform, kind: &'t str, labels: &[&str]) -> &'t Body {
    tf.blocks(kind)
        .find(|b| {
            b.labels()
                .iter()
                .map(|l| l.as_str())
                .eq(labels.iter().copied())
        })
        .unwrap_or_else(|| panic!("no {kind} {labels:?}"))
        .body()
}

fn attribute<'b>(body: &'b Body, key: &str) -> &'b Expression {
    body.attributes()
        .find(|a| a.key() == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .expr()
}

fn block<'b>(body: &'b Body, kind: &str) -> &'b Block {
    body.blocks()
        .find(|b| b.identifier() == kind)
        .unwrap_or_else(|| panic!("no {kind} block"))
}

fn text(expr: &Expression) -> String {
    hcl::format::to_string(expr).unwrap()
}

#[test]
fn its_names_are_deploy_toml_names_and_a_difference_is_reported_with_its_line() {
    let repo = Repo::example();
    let clean = repo.xtask(&["check", "--fast"]);
    assert!(
        stdout(&clean).contains("infra        ok"),
        "{}",
        stdout(&clean)
    );

    repo.replace("infra/terraform/names.tf", "-deploy-state\"", "-state\"");
    repo.replace(
        "infra/terraform/environments/production.tfvars",
        "222222222222",
        "333333333333",
    );
    // Production promotes from staging: its policies must name staging's account.
    repo.replace(
        "infra/terraform/environments/production.tfvars",
        "promote_from_account_id  = \"111111111111\"",
        "promote_from_account_id  = \"444444444444\"",
    );
    repo.remove("infra/terraform/environments/staging.tfvars");
    repo.commit("drift");
    let output = repo.xtask(&["check", "--fast"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    for expected in [
        "infra/terraform/names.tf:17: [infra-name] environment production: `local.state_bucket` is \"acme-production-state\" but deploy.toml says \"acme-production-deploy-state\"",
        "infra/terraform/environments/production.tfvars:2: [infra-environment] `account_id` is `333333333333` here but `222222222222`",
        "infra/terraform/environments/staging.tfvars: [infra-environment] environment staging of deploy.toml has no tfvars file",
        "infra/terraform/environments/production.tfvars:10: [infra-environment] `promote_from_account_id` is `444444444444` here but `111111111111` in deploy.toml",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn images_are_immutable_and_kept_for_at_least_20_deploys() {
    let tf = terraform();
    let repository = resource(&tf, "resource", &["aws_ecr_repository", "service"]);
    assert_eq!(
        text(attribute(repository, "image_tag_mutability")),
        "\"IMMUTABLE\""
    );
    let policy = text(attribute(
        resource(&tf, "resource", &["aws_ecr_lifecycle_policy", "service"]),
        "policy",
    ));
    assert!(policy.contains("countNumber = var.keep_images"), "{policy}");
    let keep = resource(&tf, "variable", &["keep_images"]);
    let validation = text(attribute(block(keep, "validation").body(), "condition"));
    assert_eq!(validation, "var.keep_images >= 20");
    for env in ["staging", "production"] {
        let vars = tf
            .variables(
                &std::fs::read_to_string(
                    source_root().join(format!("infra/terraform/environments/{env}.tfvars")),
                )
                .unwrap(),
            )
            .unwrap();
        assert!(vars["keep_images"].as_u64().unwrap() >= 20, "{env}");
    }
}

#[test]
fn services_roll_safely_and_the_tool_owns_their_task_definitions() {
    let tf = terraform();
    let service = resource(&tf, "resource", &["aws_ecs_service", "service"]);
    assert_eq!(
        text(attribute(service, "deployment_minimum_healthy_percent")),
        "100"
    );
    assert_eq!(
        text(attribute(service, "deployment_maximum_percent")),
        "200"
    );
    let breaker = block(service, "deployment_circuit_breaker").body();
    assert_eq!(text(attribute(breaker, "enable")), "true");
    assert_eq!(text(attribute(breaker, "rollback")), "true");
    let ignored = text(attribute(
        block(service, "lifecycle").body(),
        "ignore_changes",
    ));
    // Each deploy sets the strategy, bakes, alarms and PAUSE hook: an apply must not
    // revert them (`check` insists: see below).
    for owned in ["task_definition", "deployment_configuration", "alarms"] {
        assert!(ignored.contains(owned), "{owned} in {ignored}");
    }
    let migrate = resource(&tf, "resource", &["aws_ecs_task_definition", "migrate"]);
    assert_eq!(
        text(attribute(migrate, "for_each")),
        "local.migration_families"
    );
}

/// A service deploy.toml deploys blue/green, canary or linear gets what ECS needs to shift
/// its traffic (the developer guide's "Application Load Balancer resources for
/// blue/green deployments"): two target groups, a production and a test listener rule
/// whose weights ECS owns, and the infrastructure role; `check` reports a strategy that
/// differs from deploy.toml's and a service that would let an apply revert what the tool
/// sets.
#[test]
fn shifting_services_get_listeners_and_target_groups_and_check_pairs_them_with_deploy_toml() {
    let tf = terraform();
    let service = resource(&tf, "resource", &["aws_ecs_service", "service"]);
    let dynamic = (service.blocks())
        .find(|b| b.identifier() == "dynamic" && b.labels()[0].as_str() == "load_balancer")
        .expect("a dynamic load_balancer block");
    let advanced = block(
        block(dynamic.body(), "content").body(),
        "advanced_configuration",
    )
    .body();
    for key in [
        "alternate_target_group_arn",
        "production_listener_rule",
        "test_listener_rule",
        "role_arn",
    ] {
        attribute(advanced, key);
    }
    // Each shifting service has a rule on the production and on the test listener.
    let rule = resource(&tf, "resource", &["aws_lb_listener_rule", "service"]);
    let each = text(attribute(rule, "for_each"));
    assert!(
        each.contains("setproduct(keys(local.shifting), [\"production\", \"test\"])"),
        "{each}"
    );
    let ignored = text(attribute(block(rule, "lifecycle").body(), "ignore_changes"));
    assert!(
        ignored.contains("action"),
        "ECS owns the weights: {ignored}"
    );
    let role = resource(
        &tf,
        "resource",
        &["aws_iam_role_policy_attachment", "ecs_infrastructure"],
    );
    assert!(text(attribute(role, "policy_arn"))
        .contains("AmazonECSInfrastructureRolePolicyForLoadBalancers"));

    let repo = Repo::example();
    repo.replace(
        "deploy.toml",
        "strategy = \"rolling\"",
        "strategy = \"blue_green\"",
    );
    repo.replace(
        "infra/terraform/ecs.tf",
        "ignore_changes = [task_definition, desired_count, deployment_configuration, alarms]",
        "ignore_changes = [task_definition, desired_count]",
    );
    repo.commit("drift");
    let output = repo.xtask(&["check", "--fast"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    for expected in [
        "[infra-name] environment staging: `local.strategies` is {\"api\":\"rolling\",\"worker\":\"rolling\"} but deploy.toml says {\"api\":\"blue_green\",\"worker\":\"rolling\"}",
        "[infra-ownership] aws_ecs_service.service does not ignore changes to deployment_configuration, alarms",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn state_is_versioned_and_apps_are_private_behind_origin_access_control() {
    let tf = terraform();
    let versioning = resource(&tf, "resource", &["aws_s3_bucket_versioning", "state"]);
    let status = attribute(
        block(versioning, "versioning_configuration").body(),
        "status",
    );
    assert_eq!(text(status), "\"Enabled\"");
    let distribution = resource(&tf, "resource", &["aws_cloudfront_distribution", "app"]);
    // The tool finds an app's distribution by its comment: the bucket's name.
    assert_eq!(text(attribute(distribution, "comment")), "each.value");
    let origin = block(distribution, "origin").body();
    assert!(text(attribute(origin, "origin_access_control_id")).contains("origin_access_control"));
    let public = resource(
        &tf,
        "resource",
        &["aws_s3_bucket_public_access_block", "app"],
    );
    assert_eq!(text(attribute(public, "block_public_policy")), "true");
}

/// The compile cache's bucket (build_cache.tf) is private, its entries expire, and the
/// deploy role may read and write exactly the prefix the tool's sccache writes under.
#[test]
fn the_build_cache_is_private_expires_its_entries_and_the_deploy_role_uses_its_prefix() {
    let tf = terraform();
    let prefix = xtask::exec::build_cache::KEY_PREFIX;
    let lifecycle = resource(
        &tf,
        "resource",
        &["aws_s3_bucket_lifecycle_configuration", "build_cache"],
    );
    let rule = block(lifecycle, "rule").body();
    assert_eq!(
        text(attribute(block(rule, "filter").body(), "prefix")),
        format!("\"{prefix}\"")
    );
    assert_eq!(
        text(attribute(block(rule, "expiration").body(), "days")),
        "var.build_cache_days"
    );
    let public = resource(
        &tf,
        "resource",
        &["aws_s3_bucket_public_access_block", "build_cache"],
    );
    assert_eq!(text(attribute(public, "restrict_public_buckets")), "true");
    let policy = resource(&tf, "data", &["aws_iam_policy_document", "deploy"]);
    let cache = statements(policy)
        .find(|s| text(attribute(s, "sid")) == "\"BuildCache\"")
        .expect("the deploy role's BuildCache statement");
    assert!(
        text(attribute(cache, "resources")).contains(&format!("/{prefix}*")),
        "{}",
        text(attribute(cache, "resources"))
    );
}

/// The IAM actions each AWS SDK call of the tool needs.
fn iam_actions(call: &str) -> &'static [&'static str] {
    match call {
        "cloudfront:create_invalidation" => &["cloudfront:CreateInvalidation"],
        "cloudfront:list_distributions" => &["cloudfront:ListDistributions"],
        "ecr:batch_get_image" => &["ecr:BatchGetImage"],
        "ecr:describe_images" => &["ecr:DescribeImages"],
        // The vulnerability gate; enhanced findings are Inspector's.
        "ecr:describe_image_scan_findings" => {
            &["ecr:DescribeImageScanFindings", "inspector2:ListFindings"]
        }
        "ecr:describe_repositories" => &["ecr:DescribeRepositories"],
        "ecr:get_authorization_token" => &["ecr:GetAuthorizationToken"],
        "ecr:put_image" => &["ecr:PutImage"],
        "ecs:describe_services" => &["ecs:DescribeServices"],
        "ecs:describe_task_definition" => &["ecs:DescribeTaskDefinition"],
        "ecs:describe_tasks" => &["ecs:DescribeTasks"],
        "ecs:list_tasks" => &["ecs:ListTasks"],
        // Where a deployment has no rolloutState (behind a Classic Load Balancer).
        "ecs:list_service_deployments" => &["ecs:ListServiceDeployments"],
        // A blue/green, canary or linear roll: followed, resolved at the pause, stopped.
        "ecs:describe_service_deployments" => &["ecs:DescribeServiceDeployments"],
        "ecs:continue_service_deployment" => &["ecs:ContinueServiceDeployment"],
        "ecs:stop_service_deployment" => &["ecs:StopServiceDeployment"],
        // Task definitions name the execution role: registering and running pass it.
        // A copy carries the live definition's tags: tagging on create needs TagResource.
        "ecs:register_task_definition" => {
            &["ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"]
        }
        "ecs:run_task" => &["ecs:RunTask", "iam:PassRole"],
        "ecs:update_service" => &["ecs:UpdateService"],
        // A migration task still running at the timeout is stopped.
        "ecs:stop_task" => &["ecs:StopTask"],
        "s3:copy_object" => &["s3:GetObject", "s3:PutObject"],
        "s3:delete_object" => &["s3:DeleteObject"],
        "s3:get_object" => &["s3:GetObject"],
        "s3:head_bucket" | "s3:list_objects_v2" => &["s3:ListBucket"],
        "s3:put_object" => &["s3:PutObject"],
        // Needs no permission.
        "sts:get_caller_identity" => &[],
        // The S3 client's own configuration (a client for a bucket's region), not a call.
        "s3:config" => &[],
        "logs:get_log_events" => &["logs:GetLogEvents"],
        other => panic!("the tool calls {other}: add the IAM actions it needs here and to infra/terraform/oidc.tf"),
    }
}

/// `service:operation` of every SDK call in the tool's deploy code: the commands and the
/// AWS layer (the local stack's crate and the benchmarks' are not run with the deploy role).
fn sdk_calls() -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    let mut pending = vec![
        source_root().join("xtask/src"),
        source_root().join("xtask/aws/src"),
    ];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let code: String = std::fs::read_to_string(&path)
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            // The one call signed by hand (xtask/aws/src/logs.rs), by its JSON target.
            if code.contains("\"Logs_20140328.GetLogEvents\"") {
                calls.insert("logs:get_log_events".to_owned());
            }
            for service in ["ecs", "ecr", "s3", "cloudfront", "sts"] {
                for (at, _) in code.match_indices(&format!(".{service}.")) {
                    let rest = &code[at + service.len() + 2..];
                    let op: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if rest[op.len()..].starts_with("()") && !op.is_empty() {
                        calls.insert(format!("{service}:{op}"));
                    }
                }
            }
        }
    }
    calls
}

#[test]
fn the_deploy_role_allows_exactly_the_calls_the_tool_makes() {
    let calls = sdk_calls();
    assert!(calls.contains("ecs:update_service"), "{calls:?}");
    let mut needed: BTreeSet<String> = calls
        .iter()
        .flat_map(|c| iam_actions(c).iter().map(|a| a.to_string()))
        .collect();
    // `docker push` to ECR, with the token from GetAuthorizationToken; a promotion's copy
    // (exec/copy.rs) pulls the source's blobs the same way.
    needed.extend(
        [
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:GetDownloadUrlForLayer",
        ]
        .map(String::from),
    );
    let tf = terraform();
    let policy = resource(&tf, "data", &["aws_iam_policy_document", "deploy"]);
    let allowed: BTreeSet<String> = statements(policy)
        .flat_map(|s| match attribute(s, "actions") {
            Expression::Array(items) => items
                .iter()
                .map(|i| match i {
                    Expression::String(s) => s.clone(),
                    other => panic!("not a string: {other:?}"),
                })
                .collect::<Vec<_>>(),
            other => panic!("actions is not a list: {other:?}"),
        })
        .collect();
    assert_eq!(allowed, needed, "infra/terraform/oidc.tf's deploy policy");
    // Only this repository's workflows, in this environment, may assume it.
    let trust = text(attribute(
        block(
            resource(&tf, "data", &["aws_iam_policy_document", "deploy_trust"]),
            "statement",
        )
        .body(),
        "actions",
    ));
    assert!(trust.contains("sts:AssumeRoleWithWebIdentity"), "{trust}");
}

/// The statements of a policy document: its `statement` blocks and the content of its
/// `dynamic "statement"` ones (a promotion's, present where the environment promotes).
fn statements(policy: &Body) -> impl Iterator<Item = &Body> {
    policy.blocks().filter_map(|b| match b.identifier() {
        "statement" => Some(b.body()),
        "dynamic"
            if b.labels()
                .first()
                .is_some_and(|l| l.as_str() == "statement") =>
        {
            Some(
                b.body()
                    .blocks()
                    .find(|c| c.identifier() == "content")
                    .expect("a dynamic statement has content")
                    .body(),
            )
        }
        _ => None,
    })
}

/// Every role a task definition names (its execution role and its task role) is one the
/// deploy role may pass, since each revision the tool registers names them again; and
/// only to ECS's tasks (IAM's `iam:PassedToService` condition key).
#[test]
fn the_deploy_role_may_pass_every_role_a_task_definition_names_to_ecs_tasks_only() {
    let tf = terraform();
    let mut named = BTreeSet::new();
    for family in ["service", "migrate"] {
        let body = resource(&tf, "resource", &["aws_ecs_task_definition", family]);
        for key in ["execution_role_arn", "task_role_arn"] {
            let role = text(attribute(body, key));
            // `aws_iam_role.NAME.arn` or `aws_iam_role.NAME[each.key].arn`: the resource.
            let name = role
                .trim_start_matches("aws_iam_role.")
                .split(['.', '['])
                .next()
                .unwrap()
                .to_owned();
            named.insert(name);
        }
    }
    assert_eq!(
        named,
        BTreeSet::from(["task".to_owned(), "task_execution".to_owned()])
    );
    let policy = resource(&tf, "data", &["aws_iam_policy_document", "deploy"]);
    let pass = policy
        .blocks()
        .filter(|b| b.identifier() == "statement")
        .find(|b| text(attribute(b.body(), "sid")) == "\"PassTaskRoles\"")
        .expect("a PassTaskRoles statement");
    let resources = text(attribute(pass.body(), "resources"));
    for name in &named {
        let single = format!("aws_iam_role.{name}.arn");
        let each = format!("in aws_iam_role.{name} :");
        assert!(
            resources.contains(&single) || resources.contains(&each),
            "role {name} is not passable: {resources}"
        );
    }
    let condition = text(&Expression::from(
        block(pass.body(), "condition").body().clone(),
    ));
    assert!(
        condition.contains("iam:PassedToService") && condition.contains("ecs-tasks.amazonaws.com"),
        "{condition}"
    );
}
