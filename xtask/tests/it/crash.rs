//! Runs killed without warning (SIGKILL: a lost CI runner, an OOM kill, a closed laptop):
//! the next run, `history` and `rollback --previous` see what the killed one left. The
//! oracle is the state in the local stack's S3 and ECS, read through the AWS SDK: the
//! ledger record the killed run wrote before it died, and the lock it held; and what it
//! left on disk, read from the temporary folder.

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
    let pid = killed.id();
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
    // It had pushed (so logged in to the registry): its private folders stay behind, but
    // no credential is in them (the login lived in memory only).
    let left = folders_of(pid);
    assert_eq!(left.len(), 2, "its Docker and build folders: {left:?}");
    let secret = registry_secret(&project);
    for folder in &left {
        for file in walk(folder) {
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            assert!(
                !text.contains(&secret),
                "{} holds the registry login",
                file.display()
            );
        }
    }
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
    assert!(
        folders_of(pid).is_empty(),
        "the next run swept the dead run's folders"
    );
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

/// The private folders (`xtask-docker-<pid>-*`, `xtask-build-<pid>-*`) run `pid` made.
fn folders_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefixes = [
        format!("xtask-docker-{pid}-"),
        format!("xtask-build-{pid}-"),
    ];
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            prefixes.iter().any(|p| name.starts_with(p.as_str()))
        })
        .map(|e| e.path())
        .collect()
}

/// Every file under `dir`, links not followed (the Docker folder links the user's).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(walk(&entry.path()));
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
    found
}

/// The registry password GetAuthorizationToken gives (what a `docker login` would store).
fn registry_secret(project: &Project) -> String {
    project.stack.ecr_credentials().1
}

/// Ctrl-C during the compile ends cargo and everything it started: killing cargo alone
/// left its `rustc`s compiling on. Oracle: the kernel's process table (`/proc`).
#[test]
fn ctrl_c_in_the_compile_leaves_no_compiler_running() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    let (deploying, compilers) = deploy_caught_compiling(&project);
    let root = deploying.id();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(root as i32, libc::SIGINT) }, 0);
    let interrupted = crate::deploy::Deployed::from(deploying.wait_with_output().unwrap());
    interrupted.expect(130);
    // At once: a compiler left running would still be at it (a release build of a
    // service's binary takes seconds); a killed one is gone, or a zombie.
    let running: Vec<u32> = (compilers.iter().copied())
        .filter(|pid| alive(*pid) && is_service_rustc(*pid))
        .collect();
    assert_eq!(running, Vec::<u32>::new(), "rustc still running");
}

/// A deploy of a change every service's build reads (this test's own, so no image of it
/// exists), caught while a `rustc` of its compile runs: the deploy and those compilers. A
/// deploy that ends before one is seen (its compile too quick for the polling, or the
/// deploy failed) is tried again with another change, up to three times, and its output
/// is shown if every try missed.
fn deploy_caught_compiling(project: &Project) -> (std::process::Child, Vec<u32>) {
    let mut missed = Vec::new();
    for _ in 0..3 {
        project.repo.append(
            "crates/common/src/lib.rs",
            &format!("\n// {}\n", crate::stack::unique("compile")),
        );
        project.repo.commit("a change only this test makes");
        let mut deploying = project.spawn(&["--changed"]);
        let root = deploying.id();
        let caught = crate::stack::eventually(
            "a rustc of this deploy's compile, or its end",
            Duration::from_secs(600),
            || {
                let found: Vec<u32> = processes()
                    .into_iter()
                    .filter(|&pid| is_service_rustc(pid) && descends_from(pid, root))
                    .collect();
                if !found.is_empty() {
                    return Some(Some(found));
                }
                deploying.try_wait().unwrap().map(|_| None)
            },
        );
        match caught {
            Some(compilers) => return (deploying, compilers),
            None => missed.push(
                crate::deploy::Deployed::from(deploying.wait_with_output().unwrap()).all_output(),
            ),
        }
    }
    panic!(
        "no try caught a rustc of the deploy's compile:\n{}",
        missed.join("\n---\n")
    );
}

fn processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// A `rustc` compiling a service's binary (api or worker): the longest of the compile.
fn is_service_rustc(pid: u32) -> bool {
    let line = command_of(pid);
    line.contains("rustc")
        && (line.contains("--crate-name\0api\0") || line.contains("--crate-name\0worker\0"))
}

fn command_of(pid: u32) -> String {
    let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&line).into_owned()
}

/// The parent of `pid` and its state letter, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((fields.next()?.parse().ok()?, state))
}

fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z' && state != 'X')
}

fn descends_from(mut pid: u32, root: u32) -> bool {
    while pid > 1 {
        if pid == root {
            return true;
        }
        match stat(pid) {
            Some((parent, _)) => pid = parent,
            None => return false,
        }
    }
    false
}

/// A kill point: the phase an event belongs to and the event's kind (`phase` when the
/// phase begins, `started`/`progress`/`done`/`failed` for a step).
type Point = (String, String);

/// The kill point of one NDJSON event, if it is in a phase.
fn point_of(event: &serde_json::Value) -> Option<Point> {
    let phase = event["phase"].as_str()?.to_owned();
    let kind = match event["event"].as_str()? {
        "step" => event["state"].as_str()?.to_owned(),
        other => other.to_owned(),
    };
    Some((phase, kind))
}

/// Runs `cargo xtask <args> --format json` and SIGKILLs it on the first event at `point`;
/// returns its pid, and whether it was reached (else the run ended on its own).
fn kill_at(project: &Project, args: &[&str], point: &Point) -> (u32, bool) {
    use std::io::BufRead as _;
    let mut child = project
        .xtask(&[args, &["--format", "json"]].concat())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let mut reached = false;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if point_of(&event).as_ref() == Some(point) {
            child.kill().unwrap();
            reached = true;
            break;
        }
    }
    child.wait().unwrap();
    (pid, reached)
}

/// What one kill matrix kills: a kind of run, made ready again before each kill, and
/// what must hold after the next run converges.
struct Scenario {
    /// Readies the environment and the repository for one killed run (`label` makes its
    /// commit unique); returns the run's `cargo xtask` arguments.
    prepare: fn(&Project, &str) -> Vec<&'static str>,
    /// The `cargo xtask` arguments that finish what the killed run meant to do.
    converge: fn(&Project) -> Vec<&'static str>,
    /// Checked after the converging run: the environment is what the run meant.
    converged: fn(&Project, &Point),
    /// The points CI runs (`cargo xtask bench kill` runs every one).
    sample: &'static [(&'static str, &'static str)],
    /// `rollback --previous` must still target the last good deploy of another commit
    /// (a deploy of a new commit; after a rollback "previous" means something else).
    previous_is_last_good: bool,
}

/// The kill matrix: a run SIGKILLed at each distinct (phase, event kind) it emits, one
/// run per point, then the invariants a killed run must leave true:
/// - the next run reports what it left: its lock held (exit 4), then, broken by hand as
///   an operator would, its record `abandoned`, with a phase it had reached;
/// - one more run converges (the scenario says what it runs and checks);
/// - `rollback --previous` goes back to the last good deploy of another commit;
/// - no file the killed run left holds the registry login.
///
/// The reference run (not killed) gives the points. CI runs each scenario's fixed
/// sample; `cargo xtask bench kill` (`XTASK_KILL_MATRIX=all`) runs every point.
fn kill_matrix(project: &Project, scenario: &Scenario) {
    let points: Vec<Point> = {
        let args = (scenario.prepare)(project, "reference");
        let reference = project.run(&[&args[..], &["--format", "json"]].concat());
        reference.expect(0);
        let mut seen = Vec::new();
        for point in reference.events.iter().filter_map(point_of) {
            if !seen.contains(&point) {
                seen.push(point);
            }
        }
        seen
    };
    let all = std::env::var("XTASK_KILL_MATRIX").as_deref() == Ok("all");
    let sample: Vec<&Point> = (points.iter())
        .filter(|(phase, kind)| all || (scenario.sample).contains(&(phase.as_str(), kind.as_str())))
        .collect();
    assert!(
        sample.len() >= scenario.sample.len(),
        "the reference run's points: {points:?}"
    );
    let secret = registry_secret(project);
    let mut report = Vec::new();
    for point in sample {
        // What `--previous` must go back to: the last good deploy, of another commit than
        // the one about to be killed.
        let good = (project.history().iter())
            .find(|e| e["command"] == "deploy" && e["outcome"] == "success")
            .map(|e| e["commit"].as_str().unwrap().to_owned())
            .unwrap();
        let args = (scenario.prepare)(project, &format!("{point:?}"));
        let (pid, reached) = kill_at(project, &args, point);
        assert!(reached, "{point:?} was not reached");
        left_abandoned(project, args[0], point);
        project.run(&(scenario.converge)(project)).expect(0);
        (scenario.converged)(project, point);
        if scenario.previous_is_last_good {
            let previous = project.rollback(&["--previous", "--dry-run"]);
            previous.expect(0);
            assert!(
                (previous.all_output()).contains(&format!("going back to {}", &good[..12])),
                "{point:?}: {}",
                previous.all_output()
            );
        }
        for file in folders_of(pid).iter().flat_map(|f| walk(f)) {
            let text = std::fs::read(&file).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&text).contains(&secret),
                "{point:?}: {} holds the registry login",
                file.display()
            );
        }
        report.push(format!("{}/{}", point.0, point.1));
    }
    eprintln!("kill points passed: {}", report.join(", "));
}

/// The killed run's lock stands (exit 4); broken by hand, its record is `abandoned` at a
/// phase it had reached: this one, or an earlier one (none before the first) when the
/// kill came before the record's rewrite (it trails the events by one S3 write).
fn left_abandoned(project: &Project, command: &str, point: &Point) {
    let status = project.run(&["lock", "status"]);
    assert_eq!(
        status.code, 4,
        "{point:?}: its lock stands: {}",
        status.stdout
    );
    project.run(&["lock", "release", "--force"]).expect(0);
    let history = project.history();
    // The newest of its command (the newest record is the broken lock's).
    let newest = history.iter().find(|e| e["command"] == command).unwrap();
    assert_eq!(newest["outcome"], "abandoned", "{point:?}: {newest:#}");
    let order = [
        "compile", "build", "retag", "migrate", "roll", "health", "ship",
    ];
    let rank = |phase: &str| order.iter().position(|p| *p == phase);
    let reached = newest["reached"].as_str().and_then(rank);
    assert!(reached <= rank(&point.0), "{point:?}: {newest:#}");
}

/// The services and apps a dry run's plan would still deploy (any action but `skip`).
fn still_to_do(dry_run: &crate::deploy::Deployed) -> Vec<serde_json::Value> {
    let plan = &dry_run
        .events
        .iter()
        .find(|e| e["event"] == "plan")
        .unwrap()["plan"];
    (plan["services"].as_array().unwrap().iter())
        .chain(plan["apps"].as_array().unwrap())
        .filter(|u| u["action"] != "skip")
        .cloned()
        .collect()
}

/// After the converging run, a dry run plans nothing: every service and app runs the
/// head's fingerprint, and each app's live page names only assets its bucket has.
fn nothing_left(project: &Project, point: &Point) {
    let after = project.deploy(&["--changed", "--dry-run"]);
    after.expect(0);
    let left = still_to_do(&after);
    assert!(left.is_empty(), "{point:?}: not converged: {left:#?}");
    for app in ["admin", "portal"] {
        app_consistent(project, app, point);
    }
}

/// The app's live `index.html` names only assets its bucket serves.
fn app_consistent(project: &Project, app: &str, point: &Point) {
    let page = project.served(app, "index.html").unwrap().body;
    for (start, _) in page.match_indices("\"/assets/") {
        let rest = &page[start + 2..];
        let asset = &rest[..rest.find('"').unwrap()];
        assert!(
            project.served(app, asset).is_some(),
            "{point:?}: {app}'s live page names {asset}, which its bucket lacks"
        );
    }
}

/// A deploy of a commit whose fingerprints already have images (a README edit): retag,
/// roll, health and the apps' ship. The CI sample: in the roll, and in the apps' ship.
#[test]
fn kill_matrix_deploy() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    kill_matrix(
        &project,
        &Scenario {
            prepare: |project, label| {
                project.repo.append("README.md", &format!("\n{label}\n"));
                project.repo.commit("a commit to kill a deploy of");
                vec!["deploy", "--all"]
            },
            converge: |_| vec!["deploy", "--changed"],
            converged: nothing_left,
            sample: &[("roll", "progress"), ("ship", "started")],
            previous_is_last_good: true,
        },
    );
}

/// A deploy of one app alone (`--services portal`), its page edited: build, then the
/// ship's upload, activation and invalidation. The CI sample: the ship done, its record
/// and lock not yet written.
#[test]
fn kill_matrix_app_ship() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    kill_matrix(
        &project,
        &Scenario {
            prepare: |project, label| {
                let line = format!("\n<!-- {label} -->\n");
                project.repo.append("apps/portal/src/index.html", &line);
                project.repo.commit("a commit to kill an app's ship of");
                vec!["deploy", "--changed", "--services", "portal"]
            },
            converge: |_| vec!["deploy", "--changed", "--services", "portal"],
            converged: nothing_left,
            sample: &[("ship", "done")],
            previous_is_last_good: true,
        },
    );
}

/// A rollback to the first commit from a second one that changed a shared crate and an
/// app: retag-free rolls of both services back to the first images, and the app's
/// earlier release activated again. Converged: a second `rollback --sha` of the same
/// commit finishes, and the services run the first commit's images and the app its
/// release. Before each kill the environment goes forward to the second commit again.
/// The CI sample: in the roll.
#[test]
fn kill_matrix_rollback() {
    let project = Project::new(Images::Shared);
    project.deploy(&["--changed"]).expect(0);
    project.repo.tag("first", "HEAD");
    project.change("crates/common/src/lib.rs");
    project.change("apps/portal/src/assets/app.js");
    project.deploy(&["--changed"]).expect(0);
    kill_matrix(
        &project,
        &Scenario {
            prepare: |project, _| {
                project.deploy(&["--changed"]).expect(0);
                vec!["rollback", "--sha", "first"]
            },
            converge: |_| vec!["rollback", "--sha", "first"],
            converged: |project, point| {
                let again = project.rollback(&["--sha", "first", "--dry-run"]);
                again.expect(0);
                let left = still_to_do(&again);
                assert!(left.is_empty(), "{point:?}: not back at `first`: {left:#?}");
                app_consistent(project, "portal", point);
            },
            sample: &[("roll", "started")],
            previous_is_last_good: false,
        },
    );
}
