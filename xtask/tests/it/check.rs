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
        text.contains(
            "[missing-dockerfile] service `worker`: its Dockerfile `services/worker/Dockerfile.prod` does not exist"
        ),
        "{text}"
    );
    assert!(text.contains("--> deploy.toml:"), "{text}");
}

#[test]
fn migrations_are_numbered_forward_only_and_free_of_unsafe_operations() {
    let repo = Repo::example();
    let base = repo.head();
    // The default base is the merge base with origin/main.
    repo.git_ref("refs/remotes/origin/main", &base);
    repo.append(
        "services/api/migrations/001_create_items.sql",
        "-- edited\n",
    );
    repo.remove("services/api/migrations/002_add_items_description.sql");
    repo.write(
        "services/api/migrations/004_add_sku.sql",
        "ALTER TABLE items ADD COLUMN sku TEXT NOT NULL;\n\n\
         -- xtask:allow(drop-column): nothing reads it since v2\n\
         ALTER TABLE items DROP COLUMN description;\n\
         CREATE INDEX items_sku ON items (sku);\n",
    );
    repo.write("services/api/migrations/4_oops.sql", "SELECT 1;\n");
    repo.commit("bad migrations");
    let output = repo.xtask(&["check", "--fast"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    for expected in [
        "services/api/migrations/001_create_items.sql: [migration-edited]",
        "services/api/migrations/002_add_items_description.sql: [migration-deleted]",
        "services/api/migrations: [migration-gap] migration 002 is missing",
        "services/api/migrations/4_oops.sql: [migration-name]",
        "services/api/migrations/004_add_sku.sql:1: [add-column-not-null]",
        "services/api/migrations/004_add_sku.sql:5: [create-index-not-concurrently]",
        "fix: use CREATE INDEX CONCURRENTLY",
        "migrations   FAILED",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("[drop-column]"),
        "allowed with a reason:\n{text}"
    );

    // An explicit base that is HEAD itself: nothing is new, nothing was edited.
    let output = repo.xtask(&["check", "--fast", "--base", "HEAD"]);
    let text = stdout(&output);
    assert!(!text.contains("[migration-edited]"), "{text}");
    assert!(!text.contains("[add-column-not-null]"), "{text}");
    assert!(
        text.contains("[migration-name]"),
        "names are always checked:\n{text}"
    );
}
