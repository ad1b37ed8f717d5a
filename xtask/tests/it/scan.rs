//! The vulnerability gate (issue 19), end to end on the local stack: an environment's
//! `scan` policy judges each image's ECR scan before anything migrates or rolls. The stack
//! answers `DescribeImageScanFindings` in Amazon Inspector's enhanced-finding shape (the
//! oracle: botocore's ECR model, against which the stack checks requests, and ECR's user
//! guide on enhanced scanning), with the findings, status and delay a `scan` fault sets.

use crate::deploy::{remove_fault, Images, Project};
use serde_json::json;

/// `local`'s account and region lines: unique in deploy.toml (local-prod has another).
const LOCAL: &str = "account_id = \"000000000000\"\nregion = \"us-east-1\"\n";

impl Project {
    /// Sets (or replaces) `local`'s `scan = { policy }` and commits.
    fn gate(&self, policy: &str) {
        let text = std::fs::read_to_string(self.repo.path().join("deploy.toml")).unwrap();
        let line = format!("scan = {{ {policy} }}\n");
        // local's own line, right after its region (staging and production have theirs).
        let after = &text[text.find(LOCAL).unwrap() + LOCAL.len()..];
        match after.lines().next().filter(|l| l.starts_with("scan = ")) {
            Some(old) => self.repo.replace(
                "deploy.toml",
                &format!("{LOCAL}{old}\n"),
                &format!("{LOCAL}{line}"),
            ),
            None => self
                .repo
                .replace("deploy.toml", LOCAL, &format!("{LOCAL}{line}")),
        }
        self.repo.commit("the vulnerability gate");
    }

    /// A `scan` fault on this project's api repository (`fields` merged in); its id.
    fn scan_fault(&self, fields: serde_json::Value) -> String {
        let mut fault = json!({"kind": "scan", "repository": format!("{}/api", self.name)});
        fault
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.stack.fault(fault)
    }
}

fn openssl() -> serde_json::Value {
    json!({"id": "CVE-2026-0001", "severity": "CRITICAL", "package": "openssl",
           "version": "0.10.55", "fixed_in": "0.10.66"})
}

/// A critical finding: exit 17, the finding with its package and fix version, nothing
/// migrated or rolled; findings below the threshold are not a reason.
#[test]
fn an_image_with_a_critical_finding_does_not_roll_and_the_output_names_the_fix() {
    let project = Project::new(Images::Own);
    project.deploy(&["--changed"]).expect(0);
    let (api, worker) = (
        project.task_definition("api"),
        project.task_definition("worker"),
    );
    project.gate("fail_on = \"CRITICAL\"");
    let medium = json!({"id": "GHSA-2026-0002", "severity": "MEDIUM", "package": "time",
                        "version": "0.1.45", "fixed_in": "0.2.23"});
    let fault = project.scan_fault(json!({"findings": [openssl(), medium]}));
    project.change("crates/common/src/lib.rs");
    let refused = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    refused.expect(17);
    let error = refused.summary()["error"].as_str().unwrap();
    assert!(
        error.contains("CRITICAL CVE-2026-0001 in openssl 0.10.55 (fixed in 0.10.66)"),
        "{error}"
    );
    assert!(
        !error.contains("GHSA-2026-0002"),
        "below the threshold: {error}"
    );
    // Nothing rolled, worker (scanned clean) included: the gate is a phase of its own.
    assert_eq!(project.task_definition("api"), api);
    assert_eq!(project.task_definition("worker"), worker);
    assert!(!refused.phases_of("worker").contains(&"roll".to_owned()));
}

/// An allowance until a day not passed lets the finding through, said as a warning with
/// its reason; once its day passed, the same finding refuses the roll and says so.
#[test]
fn an_allowed_finding_rolls_until_its_allowance_expires() {
    let project = Project::new(Images::Own);
    project.gate(
        "fail_on = \"HIGH\", allow = [{ id = \"CVE-2026-0001\", reason = \"unreachable: no TLS here\", until = \"2999-12-31\" }]",
    );
    let fault = project.scan_fault(json!({"findings": [openssl()]}));
    let allowed = project.deploy(&["--changed"]);
    allowed.expect(0);
    assert!(
        allowed
            .all_output()
            .contains("allowed: unreachable: no TLS here"),
        "{}",
        allowed.all_output()
    );
    project.gate(
        "fail_on = \"HIGH\", allow = [{ id = \"CVE-2026-0001\", reason = \"unreachable\", until = \"2020-01-31\" }]",
    );
    project.change("services/api/src/main.rs");
    let expired = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    expired.expect(17);
    let error = expired.summary()["error"].as_str().unwrap();
    assert!(
        error.contains("its allowance ended on 2020-01-31"),
        "{error}"
    );
}

/// A scan that is not clean is not a pass: an unsupported image (unless the policy allows
/// it), a failed scan, and a scan that never completes within `wait` all refuse; one that
/// completes within `wait` is waited for.
#[test]
fn unsupported_failed_and_unfinished_scans_refuse_and_a_slow_one_is_waited_for() {
    let project = Project::new(Images::Own);
    project.gate("fail_on = \"CRITICAL\", wait = \"2s\"");
    let cases = [
        (
            json!({"status": "UNSUPPORTED_IMAGE", "description": "no package list"}),
            "UNSUPPORTED_IMAGE: no package list",
        ),
        (
            json!({"status": "FAILED", "description": "scanner error"}),
            "the scan ended FAILED: scanner error",
        ),
        (
            json!({"status": "IN_PROGRESS"}),
            "is still IN_PROGRESS after 2s (scan.wait)",
        ),
    ];
    for (fields, said) in cases {
        let fault = project.scan_fault(fields);
        let refused = project.deploy(&["--changed"]);
        remove_fault(project.stack, &fault);
        refused.expect(17);
        let error = refused.summary()["error"].as_str().unwrap();
        assert!(error.contains(said), "{said} in {error}");
    }
    project.gate("fail_on = \"CRITICAL\", wait = \"2s\", unsupported = \"allow\"");
    let fault = project
        .scan_fault(json!({"status": "UNSUPPORTED_IMAGE", "description": "no package list"}));
    let warned = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    warned.expect(0);
    assert!(
        warned
            .all_output()
            .contains("rolled unscanned (UNSUPPORTED_IMAGE: no package list)"),
        "{}",
        warned.all_output()
    );
    project.gate("fail_on = \"CRITICAL\", wait = \"30s\"");
    project.change("services/api/src/main.rs");
    let fault = project.scan_fault(json!({"pending_seconds": 3}));
    let waited = project.deploy(&["--changed"]);
    remove_fault(project.stack, &fault);
    waited.expect(0);
    assert!(
        waited.all_output().contains("scan IN_PROGRESS: waiting"),
        "{}",
        waited.all_output()
    );
}

/// An emergency rollback to an image the gate refuses (a CVE published since it last
/// ran): refused without the override, with nothing changed; `--allow-vulnerable` rolls
/// it, warns with each finding, and the summary and the ledger keep what it let through.
#[test]
fn a_rollback_to_a_vulnerable_image_needs_allow_vulnerable_and_the_ledger_records_it() {
    let project = Project::new(Images::Own);
    let first_deploy = project.deploy(&["--changed"]);
    first_deploy.expect(0);
    let first = project.repo.head();
    let image = first_deploy.service("api")["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let digest = image.rsplit_once('@').unwrap().1.to_owned();
    project.change("services/api/src/main.rs");
    project.deploy(&["--changed"]).expect(0);
    let live = project.task_definition("api");
    project.gate("fail_on = \"CRITICAL\"");
    let fault = project.scan_fault(json!({"image": digest, "findings": [openssl()]}));
    let refused = project.rollback(&["--sha", &first, "--skip-spas"]);
    refused.expect(17);
    assert_eq!(project.task_definition("api"), live, "nothing rolled");
    let forced = project.rollback(&["--sha", &first, "--skip-spas", "--allow-vulnerable"]);
    remove_fault(project.stack, &fault);
    forced.expect(0);
    assert!(
        forced
            .all_output()
            .contains("rolled anyway: --allow-vulnerable"),
        "{}",
        forced.all_output()
    );
    let overridden = forced.service("api")["scan_overridden"].to_string();
    assert!(
        overridden.contains("CRITICAL CVE-2026-0001 in openssl"),
        "{overridden}"
    );
    let recorded = project.last_recorded("api");
    assert_eq!(recorded["scan_overridden"].to_string(), overridden);
}
