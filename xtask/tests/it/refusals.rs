//! Bad input, nothing changed: each test gives one bad input to a bootstrapped project on
//! the local stack and checks the exit code, that the error names what is wrong, and that
//! the emulator's state of the project (every object's bytes and headers in its buckets,
//! its ECR images, ECS services, deployments, task definitions and tasks, its CloudFront
//! distributions and invalidations) is byte-for-byte what it was before.

use crate::deploy::{Images, Project};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::process::Stdio;

impl Project {
    /// Everything the emulator holds for this project, as canonical JSON.
    fn aws_state(&self) -> String {
        let prefix = format!("{}-", self.name);
        let state = self.rt.block_on(async {
            let aws = &self.aws;
            let mut buckets = serde_json::Map::new();
            let listed = aws.s3.list_buckets().send().await.unwrap();
            for bucket in listed.buckets().iter().filter_map(|b| b.name()) {
                if !bucket.starts_with(&prefix) {
                    continue;
                }
                let mut objects = serde_json::Map::new();
                let keys = aws.s3.list_objects_v2().bucket(bucket).send().await.unwrap();
                for key in keys.contents().iter().filter_map(|o| o.key()) {
                    let got = aws.s3.get_object().bucket(bucket).key(key).send().await.unwrap();
                    let headers = json!({
                        "etag": got.e_tag(),
                        "content_type": got.content_type(),
                        "cache_control": got.cache_control(),
                    });
                    let bytes = got.body.collect().await.unwrap().into_bytes();
                    objects.insert(
                        key.to_owned(),
                        json!({ "sha256": xtask::workspace::hex(&Sha256::digest(&bytes)), "headers": headers }),
                    );
                }
                buckets.insert(bucket.to_owned(), Value::Object(objects));
            }
            let mut images = serde_json::Map::new();
            let repositories = aws.ecr.describe_repositories().send().await.unwrap();
            for repository in repositories.repositories() {
                let name = repository.repository_name().unwrap();
                if !name.starts_with(&format!("{}/", self.name)) {
                    continue;
                }
                let listed = aws.ecr.list_images().repository_name(name).send().await.unwrap();
                let mut ids: Vec<String> = listed
                    .image_ids()
                    .iter()
                    .map(|i| format!("{}:{}", i.image_digest().unwrap_or(""), i.image_tag().unwrap_or("")))
                    .collect();
                ids.sort();
                images.insert(name.to_owned(), json!(ids));
            }
            let described = aws
                .ecs
                .describe_services()
                .cluster(self.cluster())
                .services(self.ecs_service("api"))
                .services(self.ecs_service("worker"))
                .send()
                .await
                .unwrap();
            let services: Vec<Value> = described
                .services()
                .iter()
                .map(|s| {
                    json!({
                        "name": s.service_name(),
                        "task_definition": s.task_definition(),
                        "desired": s.desired_count(),
                        "deployments": s.deployments().iter().map(|d| json!({
                            "id": d.id(), "status": d.status(), "task_definition": d.task_definition(),
                            "rollout": d.rollout_state().map(|r| r.as_str().to_owned()),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let families = aws
                .ecs
                .list_task_definitions()
                .family_prefix(&prefix)
                .send()
                .await
                .unwrap();
            let tasks = aws.ecs.list_tasks().cluster(self.cluster()).send().await.unwrap();
            let stopped = aws
                .ecs
                .list_tasks()
                .cluster(self.cluster())
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
                .send()
                .await
                .unwrap();
            let mut distributions = Vec::new();
            let listed = aws.cloudfront.list_distributions().send().await.unwrap();
            for d in listed.distribution_list().map(|l| l.items()).unwrap_or_default() {
                if !d.comment().starts_with(&prefix) {
                    continue;
                }
                let invalidations = aws
                    .cloudfront
                    .list_invalidations()
                    .distribution_id(d.id())
                    .send()
                    .await
                    .unwrap();
                let ids: Vec<String> = invalidations
                    .invalidation_list()
                    .map(|l| l.items().iter().map(|i| i.id().to_owned()).collect())
                    .unwrap_or_default();
                distributions.push(json!({ "comment": d.comment(), "id": d.id(), "invalidations": ids }));
            }
            json!({
                "buckets": buckets,
                "images": images,
                "services": services,
                "task_definitions": families.task_definition_arns(),
                "tasks": [tasks.task_arns(), stopped.task_arns()],
                "distributions": distributions,
            })
        });
        serde_json::to_string_pretty(&state).unwrap()
    }
}

/// A bootstrapped project of its own: buckets, a cluster with two services, repositories,
/// distributions.
fn project() -> Project {
    let project = Project::new(Images::Own);
    project.bootstrap();
    project
}

/// Runs `cargo xtask <args>` (with `env` set) and checks the exit code, that stderr says
/// each of `expected`, and that the project's AWS state did not change.
fn refuses(project: &Project, args: &[&str], env: &[(&str, &str)], exit: i32, expected: &[&str]) {
    let before = project.aws_state();
    let mut command = project.xtask(args);
    command.stdin(Stdio::null());
    for (key, value) in env {
        // An empty value removes the variable: a run without it.
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // What people read is rendered for them: never an SDK error's Debug form.
    for dump in ["{ source:", "Some(\"", "(DispatchFailure", "ConnectorError"] {
        assert!(
            !stderr.contains(dump),
            "a Debug dump ({dump}) in:\n{stderr}"
        );
    }
    assert_eq!(
        output.status.code(),
        Some(exit),
        "`{}`: stdout:\n{}\nstderr:\n{stderr}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout)
    );
    for text in expected {
        assert!(stderr.contains(text), "missing {text:?} in:\n{stderr}");
    }
    let after = project.aws_state();
    assert!(
        before == after,
        "the emulator's state changed:\n{}",
        diff(&before, &after)
    );
}

fn diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .to_string()
}

/// Edits deploy.toml and commits it.
fn configure(project: &Project, from: &str, to: &str) {
    project.repo.replace("deploy.toml", from, to);
    project.repo.commit("edit deploy.toml");
}

fn line_of(project: &Project, text: &str) -> usize {
    project
        .repo
        .read("deploy.toml")
        .lines()
        .position(|l| l.contains(text))
        .unwrap()
        + 1
}

#[test]
fn a_malformed_deploy_toml() {
    let p = project();
    configure(&p, "[apps.portal]\n", "[apps.portal\n");
    let line = line_of(&p, "[apps.portal");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &[&format!("deploy.toml:{line}"), "expected `]`"],
    );
}

#[test]
fn an_environment_without_a_region() {
    let p = project();
    configure(
        &p,
        "account_id = \"111111111111\"\nregion = \"eu-west-1\"\n",
        "account_id = \"111111111111\"\n",
    );
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &["deploy.toml", "region"],
    );
}

#[test]
fn an_unknown_key_of_a_service() {
    let p = project();
    configure(&p, "port = 8081\n", "port = 8081\nhealthcheck = \"/up\"\n");
    let line = line_of(&p, "healthcheck");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &[
            &format!("deploy.toml:{line}"),
            "unknown field `healthcheck`",
        ],
    );
}

#[test]
fn an_account_id_that_is_not_12_digits() {
    let p = project();
    configure(&p, "account_id = \"111111111111\"", "account_id = \"1111\"");
    refuses(
        &p,
        &["rollback", "--previous"],
        &[],
        2,
        &["`account_id` must be 12 digits, found `1111`"],
    );
}

/// Names `deploy.toml` accepts and AWS does not: a service `worker-` (ECR's repository
/// pattern ends each part with a letter or digit) and an app whose bucket would pass S3's
/// 63 characters. Refused at their lines, exit 2, nothing changed, instead of the first
/// AWS call failing mid-deploy. Oracle: botocore's `RepositoryName` pattern and the S3
/// user guide's bucket naming rules.
#[test]
fn names_aws_would_refuse() {
    let p = project();
    configure(
        &p,
        "[services.worker]
",
        "[services.worker-]
",
    );
    let line = line_of(&p, "[services.worker-]");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &[
            &format!("deploy.toml:{line}"),
            "the ECR repository `",
            "/worker-` has part `worker-`",
        ],
    );
    configure(
        &p,
        "[services.worker-]
",
        "[services.worker]
",
    );
    let long = "portal-for-the-customers-of-the-whole-wide-world";
    configure(
        &p,
        "[apps.portal]
",
        &format!(
            "[apps.{long}]
"
        ),
    );
    let line = line_of(&p, long);
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &[
            &format!("deploy.toml:{line}"),
            "the app bucket `",
            "characters; S3 allows 3 to 63",
        ],
    );
}

/// An app folder reached through a symlink: a commit keeps the link's target text, not
/// the folder, so the fingerprint would cover the link and no edit under it would ever
/// deploy. Refused at the `path` line, exit 2, nothing changed: by `deploy` (which reads
/// the commit) and by `check` (which reads the working tree). Oracle: git itself, which
/// records the link as a blob of mode 120000 (`git ls-tree`).
#[test]
fn a_unit_folder_behind_a_symlink() {
    let p = project();
    p.repo.rename("apps/portal", "apps/portal-source");
    std::os::unix::fs::symlink("portal-source", p.repo.path().join("apps/portal")).unwrap();
    p.repo.commit("portal behind a symlink");
    let tree = std::process::Command::new("git")
        .args(["ls-tree", "HEAD", "apps/portal"])
        .current_dir(p.repo.path())
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.starts_with("120000 blob"), "git ls-tree: {tree}");
    let line = line_of(&p, "path = \"apps/portal\"");
    let expected = [
        &format!("deploy.toml:{line}") as &str,
        "`apps/portal` goes through the symlink `apps/portal` (to `portal-source`)",
        "name the folder itself",
    ];
    refuses(&p, &["deploy", "--changed"], &[], 2, &expected);
    // `check` reads the working tree (its symlink) and reports in its `deploy.toml` section.
    let checked = p.run(&["check", "--fast"]);
    assert_ne!(checked.code, 0, "{}", checked.all_output());
    let section = checked.stdout.split("--- infra ---").next().unwrap();
    for said in expected {
        assert!(section.contains(said), "{said:?} in:\n{section}");
    }
}

#[test]
fn a_name_that_is_both_a_service_and_an_app() {
    let p = project();
    configure(&p, "[apps.admin]\n", "[apps.worker]\n");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &["`worker` is both a service and an app"],
    );
}

#[test]
fn an_unknown_placeholder_in_a_name_template() {
    let p = project();
    configure(
        &p,
        "[services.worker]\n",
        "[services.worker]\necs_service = \"{project}-{stage}-{name}\"\n",
    );
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        2,
        &["unknown placeholder `{stage}`"],
    );
}

#[test]
fn a_binary_the_services_crate_does_not_build() {
    let p = project();
    configure(
        &p,
        "[services.api]\n",
        "[services.api]\nbin = \"apiserver\"\n",
    );
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        3,
        &[
            "pre-flight checks failed",
            "[missing-binary]",
            "not `apiserver`",
        ],
    );
}

#[test]
fn a_dockerfile_that_is_not_in_the_commit() {
    let p = project();
    p.repo.remove("services/worker/Dockerfile");
    p.repo.commit("no Dockerfile");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        3,
        &["[missing-dockerfile]", "services/worker/Dockerfile"],
    );
}

#[test]
fn an_unknown_environment() {
    let p = project();
    refuses(
        &p,
        &["deploy", "--env", "prod", "--changed"],
        &[],
        2,
        &["--env `prod` is not an environment", "production"],
    );
}

#[test]
fn an_unknown_environment_for_history_and_lock() {
    let p = project();
    refuses(&p, &["history", "--env", "qa"], &[], 2, &["--env `qa`"]);
    refuses(
        &p,
        &["lock", "release", "--env", "qa", "--force"],
        &[],
        2,
        &["--env `qa`"],
    );
}

#[test]
fn an_unknown_service() {
    let p = project();
    refuses(
        &p,
        &["deploy", "--services", "api,billing"],
        &[],
        2,
        &["--services names billing", "worker"],
    );
    refuses(
        &p,
        &["rollback", "--previous", "--services", "billing"],
        &[],
        2,
        &["billing"],
    );
}

#[test]
fn changed_and_all_together() {
    let p = project();
    refuses(
        &p,
        &["deploy", "--changed", "--all"],
        &[],
        2,
        &["--all", "cannot be used with"],
    );
}

#[test]
fn sha_and_previous_together_or_neither() {
    let p = project();
    refuses(
        &p,
        &["rollback", "--sha", "HEAD", "--previous"],
        &[],
        2,
        &["cannot be used with"],
    );
    refuses(&p, &["rollback"], &[], 2, &["--sha <REV>|--previous"]);
}

#[test]
fn a_zero_concurrency_or_a_bad_timeout() {
    let p = project();
    refuses(
        &p,
        &["deploy", "--concurrency", "0"],
        &[],
        2,
        &["--concurrency must be at least 1"],
    );
    refuses(&p, &["deploy", "--timeout", "soon"], &[], 2, &["--timeout"]);
    // Nothing could be watched: it would start rollouts and leave them.
    refuses(
        &p,
        &["deploy", "--timeout", "0s"],
        &[],
        2,
        &["--timeout 0s is under 1s"],
    );
}

#[test]
fn an_unknown_commit() {
    let p = project();
    refuses(
        &p,
        &["rollback", "--sha", "deadbeef"],
        &[],
        2,
        &["--sha `deadbeef` is not a known revision"],
    );
}

#[test]
fn an_ambiguous_commit() {
    let p = project();
    let prefix = p.repo.ambiguous_prefix();
    refuses(
        &p,
        &["rollback", "--sha", &prefix],
        &[],
        2,
        &[&format!("--sha `{prefix}` is ambiguous")],
    );
}

#[test]
fn a_commit_without_deploy_toml() {
    let p = project();
    let deploy_toml = p.repo.read("deploy.toml");
    p.repo.remove("deploy.toml");
    let before = p.repo.commit("the tool is gone");
    p.repo.tag("before-the-tool", &before);
    p.repo.write("deploy.toml", &deploy_toml);
    p.repo.commit("the tool is back");
    refuses(
        &p,
        &["rollback", "--sha", "before-the-tool"],
        &[],
        2,
        &["has no deploy.toml"],
    );
}

#[test]
fn a_commit_with_no_images() {
    let p = project();
    refuses(
        &p,
        &["rollback", "--sha", "HEAD", "--skip-spas"],
        &[],
        3,
        &[
            "service api: no image of commit",
            "service worker: no image of commit",
            "nothing was changed",
        ],
    );
}

#[test]
fn a_commit_with_no_kept_release() {
    let p = project();
    refuses(
        &p,
        &["rollback", "--sha", "HEAD", "--services", "portal"],
        &[],
        3,
        &["app portal: no kept release of commit"],
    );
}

#[test]
fn previous_with_an_empty_ledger() {
    let p = project();
    refuses(
        &p,
        &["rollback", "--previous"],
        &[],
        2,
        &["has no successful deploy before", "--sha"],
    );
}

#[test]
fn a_dirty_tree() {
    let p = project();
    p.repo
        .append("services/worker/src/main.rs", "\n// not committed\n");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        3,
        &[
            "uncommitted changes to inputs",
            "services/worker/src/main.rs (worker)",
        ],
    );
}

#[test]
fn an_uncommitted_deploy_toml() {
    let p = project();
    p.repo.append("deploy.toml", "\n# an edit\n");
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        3,
        &["deploy.toml has uncommitted changes"],
    );
}

#[test]
fn the_wrong_branch_and_a_detached_head() {
    let p = project();
    configure(
        &p,
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\n",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\nbranch = \"release\"\n",
    );
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        3,
        &["deploys only from branch `release`; HEAD is on branch"],
    );
    p.repo.detach();
    refuses(&p, &["deploy", "--changed"], &[], 3, &["HEAD is detached"]);
}

#[test]
fn no_docker() {
    let p = project();
    refuses(
        &p,
        &["deploy", "--changed"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        3,
        &["docker"],
    );
}

/// The project with one more environment, `remote`: an AWS account, not the local stack.
fn with_remote_environment(why: &str) -> Project {
    let p = project();
    p.repo.append(
        "deploy.toml",
        "\n[environments.remote]\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n",
    );
    p.repo.commit(why);
    p
}

#[test]
fn an_unreachable_endpoint() {
    let p = with_remote_environment("an environment out of reach");
    let env = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "000000000000"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    refuses(
        &p,
        &["deploy", "--env", "remote", "--changed", "--yes"],
        &env,
        3,
        &["127.0.0.1:9", "region us-east-1", "check the network"],
    );
}

/// Oracle: aws-config's default credential chain, which reports each provider it tried.
#[test]
fn no_credentials_says_what_was_tried_and_what_to_run() {
    let p = with_remote_environment("an environment with no credentials");
    let nowhere = p.repo.path().join("no-such-aws-file");
    let nowhere = nowhere.to_str().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_PROFILE", ""),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""),
        ("AWS_CONFIG_FILE", nowhere),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    refuses(
        &p,
        &["deploy", "--env", "remote", "--changed", "--yes"],
        &env,
        3,
        &[
            "no AWS credentials",
            "Environment: ",
            "WebIdentityToken: ",
            "aws sso login --profile",
            "AWS_PROFILE",
            "nothing was changed",
        ],
    );
}

#[test]
fn the_wrong_account() {
    let p = project();
    configure(
        &p,
        "account_id = \"000000000000\"",
        "account_id = \"123456789012\"",
    );
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        3,
        &["AWS account is 000000000000", "123456789012"],
    );
}

fn lock(expires_at: &str) -> Value {
    json!({
        "id": "dead-run", "holder": "alice@laptop", "commit": "0".repeat(40),
        "command": "deploy", "acquired_at": "2026-11-22T00:00:00Z", "expires_at": expires_at,
    })
}

#[test]
fn an_expired_lock() {
    let p = project();
    p.put_object("deploy.lock", &lock("2026-01-01T00:00:00Z"));
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        4,
        &[
            "alice@laptop",
            "STALE",
            "cargo xtask lock release --env local",
        ],
    );
    refuses(
        &p,
        &["rollback", "--previous"],
        &[],
        2,
        &["no successful deploy"],
    );
}

#[test]
fn a_held_lock() {
    let p = project();
    p.put_object("deploy.lock", &lock("2099-01-01T00:00:00Z"));
    refuses(
        &p,
        &["deploy", "--changed"],
        &[],
        4,
        &["held by alice@laptop"],
    );
    refuses(
        &p,
        &["lock", "release"],
        &[],
        4,
        &["has not expired", "--force"],
    );
}

#[test]
fn no_terminal_and_no_yes_for_an_aws_environment() {
    let p = project();
    p.add_shared_environment("");
    let env = p.aws_like_env();
    refuses(
        &p,
        &["deploy", "--env", "shared", "--changed", "--skip-spas"],
        &env,
        2,
        &["pass --yes"],
    );
}

#[test]
fn the_state_compared_sees_what_a_deploy_changes() {
    let p = project();
    let before = p.aws_state();
    assert!(
        before.contains(&p.cluster()) && before.contains("deploy-state"),
        "{before}"
    );
    p.deploy(&["--changed", "--services", "portal"]).expect(0);
    let after = p.aws_state();
    assert_ne!(
        before, after,
        "a deploy of an app changes its bucket and distribution"
    );
    assert!(
        diff(&before, &after).contains("index.html"),
        "{}",
        diff(&before, &after)
    );
}
