//! Runs killed without warning (SIGKILL: a lost CI runner, an OOM kill, a closed laptop):
//! the next run, `history` and `rollback --previous` see what the killed one left. The
//! oracle is the state in the local stack's S3 and ECS, read through the AWS SDK: the
//! ledger record the killed run wrote before it died, and the lock it held.

use crate::deploy::{remove_fault, Images, Project};
use serde_json::json;
use std::time::Duration;

/// A deploy writes its ledger record when it takes the lock (`started`, with its plan)
/// and rewrites it as each phase begins; killed in the roll, it leaves that record. While
/// its lock stands it is `started`; once the lock is gone, `history` calls it `abandoned`
/// with the phase it reached, and `rollback --previous` goes back before it, to the last
/// good deploy of another commit (without the record it went two deploys back).
#[test]
fn a_deploy_killed_in_the_roll_is_in_the_ledger_as_abandoned_with_the_phase_it_reached() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.change("crates/common/src/lib.rs");
    project.deploy(&["--changed"]).expect(0);
    let good = project.repo.head();
    project.change("services/worker/src/main.rs");
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": format!("{}-*", project.name),
    }));
    let mut killed = project.spawn(&["--changed"]);
    let key = crate::stack::eventually(
        "the deploy's record to say it reached the roll",
        Duration::from_secs(600),
        || {
            let keys = project.keys("ledger/");
            keys.into_iter()
                .find(|k| project.object(k)["reached"] == "roll")
        },
    );
    killed.kill().unwrap();
    killed.wait().unwrap();
    remove_fault(project.stack, &fault);
    let record = project.object(&key);
    assert_eq!(record["outcome"], "started", "{record:#}");
    assert_eq!(record["plan"]["commit"], project.repo.head(), "{record:#}");

    let history = project.history();
    assert_eq!(history.len(), 3, "{history:#?}");
    assert_eq!(
        history[0]["outcome"], "started",
        "its lock still stands: it may be running"
    );
    project.run(&["lock", "release", "--force"]).expect(0);
    let history = project.history();
    let abandoned = history
        .iter()
        .find(|e| e["id"] == record["id"])
        .unwrap_or_else(|| panic!("{history:#?}"));
    assert_eq!(abandoned["outcome"], "abandoned", "{abandoned:#}");
    assert_eq!(abandoned["reached"], "roll", "{abandoned:#}");
    let text = project.run(&["history"]);
    assert!(
        text.stdout.contains("abandoned (in roll)"),
        "{}",
        text.stdout
    );

    let previous = project.rollback(&["--previous", "--dry-run"]);
    previous.expect(0);
    let said = previous.all_output();
    assert!(
        said.contains("abandoned") && said.contains(&format!("going back to {}", &good[..12])),
        "{said}"
    );
}

/// Killed in the roll, a deploy leaves ECS rolling a version nobody health-checked. The
/// next `deploy --changed` must not call it unchanged (its fingerprint is the head's): the
/// plan says `rollout_unfinished`, and the deploy waits for that very rollout (no new
/// task definition), health-checks it and records it deployed. Oracle: the ECS API
/// reference's Deployment (`status` PRIMARY/ACTIVE, `rolloutState`), as the stack models
/// it, read back through the SDK.
#[test]
fn a_rollout_a_killed_deploy_left_is_waited_for_and_checked_not_called_unchanged() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let before = project.task_definition("worker");
    project.change("crates/jobs/src/lib.rs");
    let fault = project.stack.fault(json!({
        "kind": "never_stable", "service": project.ecs_service("worker"),
    }));
    let mut killed = project.spawn(&["--changed"]);
    let rolling = crate::stack::eventually(
        "the killed deploy to have rolled worker",
        Duration::from_secs(600),
        || {
            let now = project.task_definition("worker");
            (now != before).then_some(now)
        },
    );
    killed.kill().unwrap();
    killed.wait().unwrap();
    project.run(&["lock", "release", "--force"]).expect(0);

    let planned = project.deploy(&["--changed", "--dry-run"]);
    planned.expect(0);
    let plan = &planned
        .events
        .iter()
        .find(|e| e["event"] == "plan")
        .unwrap()["plan"];
    let worker = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "worker")
        .unwrap();
    assert_eq!(worker["action"], "deploy", "{worker:#}");
    assert_eq!(
        worker["reasons"][0]["kind"], "rollout_unfinished",
        "{worker:#}"
    );

    let waiting = project.spawn(&["--changed"]);
    std::thread::sleep(Duration::from_secs(3));
    remove_fault(project.stack, &fault);
    let done = crate::deploy::Deployed::from(waiting.wait_with_output().unwrap());
    done.expect(0);
    assert!(
        done.all_output()
            .contains("waiting for the rollout an earlier run started"),
        "{}",
        done.all_output()
    );
    assert_eq!(
        project.task_definition("worker"),
        rolling,
        "the rollout was waited for, not started again"
    );
    assert_eq!(done.service("worker")["outcome"], "deployed");
}
