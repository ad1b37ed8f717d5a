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
