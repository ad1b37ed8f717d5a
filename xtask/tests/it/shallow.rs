//! Fingerprints come from one commit's trees only: a depth-1 clone gives the same answer
//! as the full history, and a shallow clone holding just the two commits plans the same.

use crate::support::{assert_success, units, xtask_in, Repo};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A repository with three tagged commits that change different units.
fn history() -> Repo {
    let repo = Repo::example();
    repo.tag("a", "HEAD");
    repo.append("crates/common/src/lib.rs", "\n// b\n");
    repo.commit("b");
    repo.tag("b", "HEAD");
    repo.append("apps/portal/src/assets/app.js", "\n// c\n");
    bump(&repo);
    repo.commit("c");
    repo.tag("c", "HEAD");
    repo
}

fn bump(repo: &Repo) {
    repo.replace("Cargo.toml", "codegen-units = 4", "codegen-units = 8");
}

/// A depth-1 clone of `tag` in a new temp dir.
fn shallow_clone(repo: &Repo, tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    git(
        dir.path(),
        &[
            "clone", "--quiet", "--depth", "1", "--branch", tag, &url, "clone",
        ],
    );
    let clone = dir.path().join("clone");
    assert!(clone.join(".git/shallow").exists(), "the clone is shallow");
    dir
}

fn plan_json(root: &Path, base: &str, head: &str) -> serde_json::Value {
    let output = xtask_in(
        root,
        &["plan", "--base", base, "--head", head, "--format", "json"],
    );
    assert_success(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

fn fingerprints(plan: &serde_json::Value) -> Vec<(String, String)> {
    units(plan)
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_owned(),
                u["fingerprint"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_depth_one_clone_of_each_commit_gives_the_full_clones_fingerprints() {
    let repo = history();
    for tag in ["a", "b", "c"] {
        let dir = shallow_clone(&repo, tag);
        let clone = dir.path().join("clone");
        let shallow = plan_json(&clone, "HEAD", "HEAD");
        let full = plan_json(repo.path(), tag, tag);
        assert_eq!(fingerprints(&shallow), fingerprints(&full), "commit {tag}");
    }
}

#[test]
fn a_shallow_clone_with_only_the_two_commits_plans_like_the_full_clone() {
    let repo = history();
    let dir = shallow_clone(&repo, "c");
    let clone = dir.path().join("clone");
    // Like CI fetching the deployed commit: one more commit, still no history.
    git(
        &clone,
        &[
            "fetch",
            "--quiet",
            "--depth",
            "1",
            "origin",
            "refs/tags/a:refs/tags/a",
        ],
    );
    let shallow = plan_json(&clone, "a", "c");
    let full = plan_json(repo.path(), "a", "c");
    assert_eq!(shallow, full);
    assert_eq!(
        crate::support::deploying(&full),
        crate::support::set(&["api", "worker", "portal"])
    );
}

#[test]
fn a_base_missing_from_a_shallow_clone_says_how_to_fetch_it() {
    let repo = history();
    let dir = shallow_clone(&repo, "c");
    let output = xtask_in(&dir.path().join("clone"), &["plan", "--base", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(2));
    let err = crate::support::stderr(&output);
    assert!(
        err.contains("--base `HEAD~1` is not a known revision"),
        "{err}"
    );
    assert!(
        err.contains("this clone is shallow: `git fetch --depth 1 origin HEAD~1`"),
        "{err}"
    );
}
