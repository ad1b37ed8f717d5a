//! Bad input gets a clear error naming the file, line or flag, exit code 2, and no output
//! on stdout that a script could mistake for a plan.

use crate::support::{stderr, Repo};

fn fails_with(repo: &Repo, args: &[&str], expected: &[&str]) {
    let output = repo.xtask(args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{err}");
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    for text in expected {
        assert!(err.contains(text), "missing {text:?} in:\n{err}");
    }
}

#[test]
fn plan_on_a_malformed_deploy_toml_names_file_line_and_problem() {
    let repo = Repo::example();
    let base = repo.commit("base");
    repo.replace("deploy.toml", "[apps.portal]\n", "[apps.portal\n");
    let head = repo.commit("broken");
    fails_with(
        &repo,
        &["plan", "--base", &base, "--head", &head],
        &[
            "deploy.toml at commit",
            "is not valid",
            "--> deploy.toml:",
            "unclosed table, expected `]`",
        ],
    );
}

#[test]
fn an_unknown_key_in_deploy_toml_lists_the_expected_ones() {
    let repo = Repo::example();
    repo.replace(
        "deploy.toml",
        "port = 8081\n",
        "port = 8081\nhealthcheck = \"/up\"\n",
    );
    repo.commit("typo");
    let line = repo
        .read("deploy.toml")
        .lines()
        .position(|l| l.starts_with("healthcheck"))
        .unwrap()
        + 1;
    fails_with(
        &repo,
        &["plan", "--base", "HEAD"],
        &[
            &format!("deploy.toml:{line}:1"),
            "unknown field `healthcheck`",
            "`health_path`",
        ],
    );
}

#[test]
fn a_rust_service_whose_folder_is_not_a_crate_points_at_its_path() {
    let repo = Repo::example();
    repo.append(
        "deploy.toml",
        "\n[services.ghost]\npath = \"services/ghost\"\n",
    );
    repo.commit("ghost");
    let line = repo
        .read("deploy.toml")
        .lines()
        .position(|l| l == "path = \"services/ghost\"")
        .unwrap()
        + 1;
    fails_with(
        &repo,
        &["plan", "--base", "HEAD"],
        &[
            &format!("deploy.toml:{line}:8"),
            "`services/ghost` is not a crate of the workspace",
            "kind = \"docker\"",
        ],
    );
}

#[test]
fn an_unknown_base_revision_names_the_flag() {
    let repo = Repo::example();
    fails_with(
        &repo,
        &["plan", "--base", "no-such-branch"],
        &["--base `no-such-branch` is not a known revision"],
    );
    fails_with(
        &repo,
        &["plan", "--base", "HEAD", "--head", "HEAD~5"],
        &["--head `HEAD~5` is not a known revision"],
    );
}

#[test]
fn a_root_without_deploy_toml_says_so() {
    let repo = Repo::empty();
    fails_with(
        &repo,
        &["plan", "--base", "HEAD"],
        &["has no deploy.toml", "-C <dir>"],
    );
}

#[test]
fn a_head_commit_without_deploy_toml_is_refused() {
    let repo = Repo::example();
    repo.remove("deploy.toml");
    repo.commit("drop config");
    // Keep a working-tree copy so the root is found; the commit itself has none.
    repo.write("deploy.toml", "");
    fails_with(
        &repo,
        &["plan", "--base", "HEAD"],
        &["has no deploy.toml at the repository root"],
    );
}

#[test]
fn a_malformed_crate_manifest_names_file_line_and_commit() {
    let repo = Repo::example();
    repo.append("crates/jobs/Cargo.toml", "\n[dependencies\n");
    let head = repo.commit("broken manifest");
    let output = repo.xtask(&["plan", "--base", "HEAD", "--head", &head]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("crates/jobs/Cargo.toml:"), "{err}");
    assert!(
        err.contains(&format!("(at {})", &head[..xtask::text::SHORT])),
        "{err}"
    );
}

#[test]
fn conflicting_or_unknown_flags_are_usage_errors() {
    let repo = Repo::example();
    fails_with(
        &repo,
        &["plan", "--base", "HEAD", "--format", "yaml"],
        &["invalid value 'yaml'", "--format"],
    );
    fails_with(&repo, &["plan"], &["--base <REV>"]);
}

#[test]
fn a_repository_with_no_commits_says_so() {
    let repo = crate::support::Repo::empty();
    // A monorepo being set up: its deploy.toml written, nothing committed yet.
    repo.write(
        "deploy.toml",
        &std::fs::read_to_string(crate::support::source_root().join("deploy.toml")).unwrap(),
    );
    fails_with(
        &repo,
        &["plan", "--base", "HEAD"],
        &["`HEAD` names nothing: this repository has no commits yet"],
    );
}

/// `xtask plan --format json | head -c 1`: a reader that is gone ends the command as it
/// ends any command-line tool (SIGPIPE), never with Rust's panic and backtrace.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let repo = Repo::example();
    let mut child =
        crate::support::xtask_command(repo.path(), &["plan", "--base", "HEAD", "--format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    // The reader leaves before the first byte is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {err}",
        out.status
    );
}
