//! Expand, then contract, end to end on the local stack: a migration that drops a column
//! the live code of the service still reads is refused before anything changes, naming
//! the file and line of that code; once a deploy has replaced that code, the same
//! migration goes through. The oracle for "reads" is the SQL in the live commit's source.

use crate::deploy::{Images, Project};

/// A query of `items.name` the api's code holds as a string, as a handler would.
const READS_NAME: &str =
    "\n#[allow(dead_code)]\nconst LIST: &str = \"SELECT id, name FROM items ORDER BY id\";\n";

const DROP_NAME: &str = "-- xtask:allow(drop-column): the code stopped reading it\n\
                         ALTER TABLE items DROP COLUMN name;\n";

#[test]
fn a_migration_dropping_a_column_live_code_reads_is_refused_until_that_code_is_gone() {
    let project = Project::new(Images::Shared);
    project.repo.append("services/api/src/main.rs", READS_NAME);
    project.repo.commit("api lists items by name");
    project.deploy(&["--changed"]).expect(0);
    let live = project.task_definition("api");
    let main = project.repo.read("services/api/src/main.rs");
    let line = main
        .lines()
        .position(|l| l.contains("SELECT id, name"))
        .unwrap()
        + 1;

    // One commit stops reading the column and drops it: the old code still runs while
    // the migration does, so it is refused, with where the old code reads it.
    project
        .repo
        .write("services/api/src/main.rs", &main.replace(READS_NAME, ""));
    project
        .repo
        .write("services/api/migrations/004_drop_name.sql", DROP_NAME);
    project.repo.commit("drop items.name in one step");
    let refused = project.deploy(&["--changed"]);
    refused.expect(3);
    let said = refused.all_output();
    assert!(
        said.contains("services/api/migrations/004_drop_name.sql:2 drops column items.name")
            && said.contains(&format!("services/api/src/main.rs:{line} (api at ")),
        "{said}"
    );
    assert_eq!(project.task_definition("api"), live, "nothing rolled");

    // Expand/contract: the code change ships alone first, then the migration.
    project
        .repo
        .remove("services/api/migrations/004_drop_name.sql");
    project.repo.commit("stop reading items.name");
    project.deploy(&["--changed"]).expect(0);
    project
        .repo
        .write("services/api/migrations/004_drop_name.sql", DROP_NAME);
    project.repo.commit("drop items.name");
    let dropped = project.deploy(&["--changed"]);
    dropped.expect(0);
    assert_eq!(dropped.service("api")["outcome"], "deployed");
}

/// A CI job's clone is shallow (actions/checkout's default depth 1): the live commit is
/// not in it, so the check fetches it from `origin` by its id, as GitHub serves any
/// reachable commit, and still finds the old code's query.
#[test]
fn the_live_commit_a_shallow_clone_lacks_is_fetched_and_searched() {
    let project = Project::new(Images::Shared);
    project.repo.append("services/api/src/main.rs", READS_NAME);
    project.repo.commit("api lists items by name");
    project.deploy(&["--changed"]).expect(0);
    let main = project.repo.read("services/api/src/main.rs");
    project
        .repo
        .write("services/api/src/main.rs", &main.replace(READS_NAME, ""));
    project
        .repo
        .write("services/api/migrations/004_drop_name.sql", DROP_NAME);
    project.repo.commit("drop items.name in one step");
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    let url = format!("file://{}", project.repo.path().display());
    let cloned = std::process::Command::new("git")
        .args(["clone", "--quiet", "--depth", "1", &url])
        .arg(&clone)
        .output()
        .unwrap();
    assert!(cloned.status.success(), "{cloned:?}");
    let output = project
        .xtask_at(&clone, &["deploy", "--changed", "--format", "json"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(3), "{said}");
    assert!(
        said.contains("drops column items.name while the code running now still uses it")
            && said.contains("services/api/src/main.rs:"),
        "{said}"
    );
}
