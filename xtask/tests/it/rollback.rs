//! `cargo xtask rollback`, `history` and `lock` end to end on the local stack: back to any
//! deployed commit with no build, `--previous` after a failed deploy, refusals that change
//! nothing (a missing image, migrations that moved on), and the ledger telling all of it.

use crate::deploy::{remove_fault, Deployed, Images, Project};
use serde_json::{json, Value};

impl Project {
    /// The image (`uri@digest`) the service's task definition runs.
    fn running_image(&self, service: &str) -> String {
        let arn = self.task_definition(service);
        let out = self
            .rt
            .block_on(
                self.aws
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .send(),
            )
            .unwrap();
        let definition = out.task_definition().unwrap();
        definition.container_definitions()[0]
            .image()
            .unwrap()
            .to_owned()
    }

    fn images(&self) -> Vec<String> {
        ["api", "worker"].map(|s| self.running_image(s)).to_vec()
    }

    /// The release the app's manifest says is live.
    fn active_release(&self, app: &str) -> String {
        let manifest = self.served(app, &xtask::spa::manifest::key(app)).unwrap();
        let manifest: Value = serde_json::from_str(&manifest.body).unwrap();
        manifest["active"].as_str().unwrap().to_owned()
    }

    pub(crate) fn rollback(&self, args: &[&str]) -> Deployed {
        self.run(&[&["rollback"], args, &["--format", "json"]].concat())
    }

    pub(crate) fn history(&self) -> Vec<Value> {
        let out = self.run(&["history", "--format", "json"]);
        out.expect(0);
        serde_json::from_str::<Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
            .as_array()
            .unwrap()
            .clone()
    }
}

fn phases(run: &Deployed) -> Vec<String> {
    run.done().into_iter().map(|(_, phase)| phase).collect()
}

#[test]
fn rollback_to_a_commit_puts_back_its_images_and_releases_with_no_build() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let a = project.repo.head();
    let (images_a, portal_a) = (project.images(), project.active_release("portal"));

    project.change("crates/common/src/lib.rs");
    project.change("apps/portal/src/assets/app.js");
    project.deploy(&["--changed"]).expect(0);
    let b = project.repo.head();
    assert_ne!(project.images(), images_a);
    assert_ne!(project.active_release("portal"), portal_a);
    let page_b = project.served("portal", "index.html").unwrap().body;
    let portal_b = project.active_release("portal");

    let dry = project.rollback(&["--sha", &a[..10], "--dry-run"]);
    dry.expect(0);
    assert!(
        dry.stdout.contains("would make kept release"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        project.active_release("portal"),
        portal_b,
        "a dry run changes nothing"
    );
    assert_ne!(project.images(), images_a);

    let back = project.rollback(&["--sha", &a[..10]]);
    back.expect(0);
    assert_eq!(project.images(), images_a, "every service runs A's image");
    assert_eq!(project.active_release("portal"), portal_a);
    assert_ne!(project.served("portal", "index.html").unwrap().body, page_b);
    let done = phases(&back);
    for never in ["compile", "build", "retag", "migrate"] {
        assert!(!done.contains(&never.to_owned()), "{never} ran: {done:?}");
    }
    assert_eq!(back.app("admin")["action"], "skip", "admin did not change");
    assert_eq!(back.service("api")["outcome"], "deployed");

    // Already there: a second rollback changes nothing.
    let again = project.rollback(&["--sha", &a]);
    again.expect(0);
    assert_eq!(again.summary()["outcome"], "nothing_to_deploy");

    // Forward again by deploying HEAD: its images exist, no service is built (an app
    // always builds from source, then uploads nothing it stored before).
    let forward = project.deploy(&["--changed"]);
    forward.expect(0);
    for service in ["api", "worker"] {
        let done = forward.phases_of(service);
        assert!(!done.contains(&"build".to_owned()), "{service}: {done:?}");
    }
    assert_eq!(forward.app("portal")["uploaded"], 0);

    let history = project.history();
    let rows: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|e| {
            (
                e["command"].as_str().unwrap(),
                e["commit"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("deploy", b.as_str(), "success"),
            ("rollback", a.as_str(), "success"),
            ("deploy", b.as_str(), "success"),
            ("deploy", a.as_str(), "success"),
        ],
        "newest first"
    );
    let text = project.run(&["history"]);
    text.expect(0);
    assert!(text.stdout.contains("rollback"), "{}", text.stdout);
    assert!(text.stdout.contains(&a[..12]), "{}", text.stdout);
}

#[test]
fn previous_after_a_failed_deploy_goes_back_to_the_last_good_one() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("services/worker/src/main.rs");
    project.deploy(&["--changed"]).expect(0);
    let b = project.repo.head();
    let images_b = project.images();

    project.change("crates/common/src/lib.rs");
    let fault = project.stack.fault(json!({
        "kind": "crash_loop", "service": project.ecs_service("worker"),
    }));
    project.deploy(&["--changed"]).expect(13);
    remove_fault(project.stack, &fault);
    assert_ne!(
        project.images(),
        images_b,
        "api runs the failed deploy's image"
    );

    let back = project.rollback(&["--previous"]);
    back.expect(0);
    assert!(
        back.all_output().contains(&b[..12]),
        "{}",
        back.all_output()
    );
    assert_eq!(project.images(), images_b);
    assert_eq!(back.service("api")["action"], "deploy");
    assert_eq!(
        back.service("worker")["action"],
        "skip",
        "the breaker put it back"
    );
}

#[test]
fn a_missing_image_refuses_the_rollback_with_the_list_and_changes_nothing() {
    let project = Project::new(Images::Own);
    project.deploy(&["--changed", "--skip-spas"]).expect(0);
    let a = project.repo.head();
    project.change("crates/common/src/lib.rs");
    project.deploy(&["--changed", "--skip-spas"]).expect(0);
    let images_b = project.images();
    // A's images are gone (expired by a lifecycle rule, say).
    for service in ["api", "worker"] {
        let tag = format!("git-{a}");
        project
            .rt
            .block_on(
                project
                    .aws
                    .ecr
                    .batch_delete_image()
                    .repository_name(format!("{}/{service}", project.name))
                    .image_ids(
                        aws_sdk_ecr::types::ImageIdentifier::builder()
                            .image_tag(tag)
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
    }
    let ledger = project.keys("ledger/");
    let refused = project.rollback(&["--sha", &a, "--skip-spas"]);
    refused.expect(3);
    for service in ["api", "worker"] {
        assert!(
            refused
                .stderr
                .contains(&format!("service {service}: no image of commit")),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(project.images(), images_b);
    assert_eq!(project.keys("ledger/"), ledger, "no ledger record");
    assert!(project.keys("deploy.lock").is_empty());
}

#[test]
fn migrations_applied_after_the_commit_need_force_schema() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed", "--skip-spas"]).expect(0);
    let a = project.repo.head();
    let images_a = project.images();
    project.repo.write(
        "services/api/migrations/003_add_items_sku.sql",
        "ALTER TABLE items ADD COLUMN sku TEXT;\n",
    );
    project.repo.commit("a migration");
    project.deploy(&["--changed", "--skip-spas"]).expect(0);

    let refused = project.rollback(&["--sha", &a, "--skip-spas"]);
    refused.expect(3);
    assert!(
        refused.stderr.contains("003_add_items_sku.sql")
            && refused.stderr.contains("--force-schema"),
        "{}",
        refused.stderr
    );
    assert_ne!(project.images(), images_a);

    let forced = project.rollback(&["--sha", &a, "--skip-spas", "--force-schema"]);
    forced.expect(0);
    assert!(forced.all_output().contains("003_add_items_sku.sql"));
    assert_eq!(project.images(), images_a);
}

#[test]
fn lock_status_and_release_show_and_break_a_lock_and_the_ledger_says_who() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let free = project.run(&["lock", "status"]);
    free.expect(0);
    assert!(free.stdout.contains("free"), "{}", free.stdout);

    let held = json!({
        "id": "dead-run", "holder": "alice@laptop", "commit": "0".repeat(40),
        "command": "deploy", "acquired_at": "2026-11-22T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z",
    });
    project.put_object("deploy.lock", &held);
    let status = project.run(&["lock", "status"]);
    status.expect(4);
    assert!(status.stdout.contains("alice@laptop"), "{}", status.stdout);
    let refused = project.run(&["lock", "release"]);
    refused.expect(4);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(
        project.object("deploy.lock"),
        held,
        "untouched without --force"
    );

    let forced = project.run(&["lock", "release", "--force"]);
    forced.expect(0);
    assert!(project.keys("deploy.lock").is_empty());
    let history = project.history();
    assert_eq!(history[0]["command"], "lock-release");
    assert_eq!(history[0]["broken_lock"]["holder"], "alice@laptop");
    assert!(
        history[0]["who"].as_str().unwrap().contains("arn:aws"),
        "{}",
        history[0]
    );

    // An expired one goes without --force.
    let mut stale = held.clone();
    stale["expires_at"] = json!("2026-01-01T00:00:00Z");
    project.put_object("deploy.lock", &stale);
    project.run(&["lock", "release"]).expect(0);
    assert!(project.keys("deploy.lock").is_empty());
}

#[test]
fn a_unit_the_commit_did_not_have_is_left_alone() {
    let project = Project::new(Images::Shared);
    let with_admin = project.repo.read("deploy.toml");
    let start = with_admin.find("[apps.admin]").unwrap();
    let end = with_admin.find("[apps.portal]").unwrap();
    let without = format!("{}{}", &with_admin[..start], &with_admin[end..]);
    project.repo.write("deploy.toml", &without);
    let a = project.repo.commit("no admin app yet");
    project.deploy(&["--changed"]).expect(0);
    project.repo.write("deploy.toml", &with_admin);
    project.repo.commit("the admin app");
    project.deploy(&["--changed"]).expect(0);
    let admin = project.active_release("admin");

    let back = project.rollback(&["--sha", &a]);
    back.expect(0);
    assert!(
        back.all_output()
            .contains("left alone: admin (not in deploy.toml at"),
        "{}",
        back.all_output()
    );
    assert_eq!(project.active_release("admin"), admin);
}
