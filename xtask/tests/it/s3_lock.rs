//! The deploy lock against S3's documented semantics for conditional requests (the S3 user
//! guide, "Conditional writes" and "Conditional deletes"): `412` when the condition fails,
//! `409 ConditionalRequestConflict` when another conditional write to the key is in flight
//! ("retry the request"), `If-Match` on an ETag for renewals and deletes; and staleness by
//! S3's own clock, since the holder's and the reader's clocks may disagree.

use crate::deploy::{remove_fault, Images, Project};
use serde_json::{json, Value};
use std::io::Read as _;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn a_conflicting_conditional_write_is_retried_not_taken_for_a_failure() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    // The lock's PutObject (it alone names the commit before anything else is written)
    // meets two 409s, as when another writer's conditional request is in flight.
    let fault = project.stack.fault(json!({
        "kind": "error", "operation": "s3:PutObject", "code": "ConditionalRequestConflict",
        "status": 409, "count": 2, "match": project.repo.head(),
    }));
    let deployed = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    deployed.expect(0);
    assert!(
        project.keys("deploy.lock").is_empty(),
        "released at the end"
    );
}

#[test]
fn a_running_deploy_renews_its_lock_and_leaves_a_lock_someone_else_took_alone() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("services/api/src/main.rs");
    // The roll never settles, so the deploy runs until its timeout.
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": project.ecs_service("api"),
    }));
    let mut child = project
        .command(&["--changed", "--format", "json", "--timeout", "20s"])
        .env("XTASK_LOCK_TTL", "2s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let renewed = crate::stack::eventually("a renewal", Duration::from_secs(180), || {
        let lock = project
            .keys("deploy.lock")
            .first()
            .map(|_| project.object("deploy.lock"));
        lock.filter(|l| l["renewed_at"].is_string())
    });
    assert_eq!(renewed["ttl_seconds"], 2, "{renewed}");

    // Someone breaks it and takes it: the deploy must neither renew nor delete theirs.
    let theirs = json!({
        "id": "someone-else", "holder": "bob@ci", "commit": "1".repeat(40),
        "command": "deploy", "acquired_at": "2026-12-01T00:00:00Z",
        "expires_at": "2099-01-01T00:00:00Z",
    });
    project.put_object("deploy.lock", &theirs);
    let status = child.wait().unwrap();
    remove_fault(project.stack, &fault);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(14), "{stdout}");
    assert!(stdout.contains("broken by someone else"), "{stdout}");
    assert_eq!(
        project.object("deploy.lock"),
        theirs,
        "their lock is left alone"
    );
}

#[test]
fn a_lock_not_renewed_within_its_ttl_is_stale_by_s3s_clock_whatever_it_says() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    // Its holder's clock says it expires in 2099; S3's says it was last written too long ago.
    let held = json!({
        "id": "dead-run", "holder": "carol@runner", "commit": "0".repeat(40),
        "command": "deploy", "acquired_at": "2026-12-01T00:00:00Z",
        "expires_at": "2099-01-01T00:00:00Z", "ttl_seconds": 1,
    });
    project.put_object("deploy.lock", &held);
    std::thread::sleep(Duration::from_millis(2100));
    let status = project.run(&["lock", "status", "--format", "json"]);
    status.expect(4);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["stale"], true, "{status}");
    project.run(&["lock", "release"]).expect(0);
    assert!(project.keys("deploy.lock").is_empty());
}
