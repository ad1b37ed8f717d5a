//! `cargo xtask check --fast` on real repositories: deploy.toml validation, the ownership
//! lint and formatting, every failure reported together.

use crate::support::{stdout, Repo};

#[test]
fn the_example_monorepo_passes() {
    let repo = Repo::example();
    let output = repo.xtask(&["check", "--fast"]);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        crate::support::stderr(&output)
    );
    assert!(text.contains("all checks passed"), "{text}");
    assert!(text.contains("clippy       skipped (--fast)"), "{text}");
}

#[test]
fn unowned_files_are_listed_and_every_failing_check_is_reported() {
    let repo = Repo::example();
    repo.write("notes.txt", "todo\n");
    repo.write(
        "crates/orphan/Cargo.toml",
        "[package]\nname = \"orphan\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    repo.write("crates/orphan/src/lib.rs", "pub fn unused() {}\n");
    repo.write(
        "services/api/tests/style.rs",
        "fn   badly_formatted( ) {}\n",
    );
    repo.commit("mess");
    let output = repo.xtask(&["check", "--fast"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    for expected in [
        "notes.txt: [unowned-file]",
        "crates/orphan/Cargo.toml: [unowned-file]",
        "crates/orphan/src/lib.rs: [unowned-file]",
        "ownership    FAILED",
        "fmt          FAILED",
        "2 check(s) failed: ownership, fmt",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Files of a service's tests folder are the service's, even though not build inputs.
    assert!(
        !text.contains("services/api/tests/style.rs: [unowned-file]"),
        "{text}"
    );
}

#[test]
fn deploy_toml_problems_point_at_their_lines() {
    let repo = Repo::example();
    repo.replace(
        "deploy.toml",
        "path = \"apps/portal\"",
        "path = \"apps/portl\"",
    );
    repo.replace(
        "deploy.toml",
        "port = 8081\n",
        "port = 8081\ndockerfile = \"services/worker/Dockerfile.prod\"\n",
    );
    let output = repo.xtask(&["check", "--fast"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.contains("the app's folder `apps/portl` does not exist"),
        "{text}"
    );
    assert!(
        text.contains("the service's Dockerfile `services/worker/Dockerfile.prod` does not exist"),
        "{text}"
    );
    assert!(text.contains("--> deploy.toml:"), "{text}");
}
