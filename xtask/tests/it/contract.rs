//! Expand, then contract, end to end on the local stack: a migration that drops a column
//! the live code of the service still reads is refused before anything changes, naming
//! the file and line of that code, from a full clone and from a depth-1 clone (which must
//! fetch the live commit); once a deploy has replaced that code, the same migration goes
//! through. The oracle for "reads" is the SQL in the live commit's source.

use crate::deploy::{Images, Project};

/// A query file the api ships (as sqlx or a query builder keeps them): it reads
/// `items.name`. Not Rust, so adding and removing it costs no compile.
const QUERY: &str = "services/api/queries/list_items.sql";
const READS_NAME: &str =
    "-- The item list.\nSELECT id,\n       name\n  FROM items\n ORDER BY id;\n";

const DROP: &str = "services/api/migrations/004_drop_name.sql";
const DROP_NAME: &str = "-- xtask:allow(drop-column): the code stopped reading it\n\
                         ALTER TABLE items DROP COLUMN name;\n";

#[test]
fn a_migration_dropping_a_column_live_code_reads_is_refused_until_that_code_is_gone() {
    let project = Project::new(Images::Shared);
    project.repo.write(QUERY, READS_NAME);
    project.repo.commit("api lists items by name");
    project.deploy(&["--changed"]).expect(0);
    let live = project.task_definition("api");

    // One commit stops reading the column and drops it: the old code still runs while
    // the migration does, so it is refused, with where the old code reads it.
    project.repo.remove(QUERY);
    project.repo.write(DROP, DROP_NAME);
    project.repo.commit("drop items.name in one step");
    let refused = project.deploy(&["--changed"]);
    refused.expect(3);
    let expected = [
        "services/api/migrations/004_drop_name.sql:2 drops column items.name",
        "services/api/queries/list_items.sql:2 (api at ",
    ];
    let said = refused.all_output();
    assert!(expected.iter().all(|e| said.contains(e)), "{said}");
    assert_eq!(project.task_definition("api"), live, "nothing rolled");

    // A CI job's clone is shallow (actions/checkout's default depth 1): the live commit
    // is not in it, so the check fetches it from `origin` by its id, as GitHub serves any
    // reachable commit, and finds the same use.
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    let url = format!("file://{}", project.repo.path().display());
    let cloned = std::process::Command::new("git")
        .args(["clone", "--quiet", "--depth", "1", &url])
        .arg(&clone)
        .output()
        .unwrap();
    assert!(cloned.status.success(), "{cloned:?}");
    let shallow = project
        .xtask_at(&clone, &["deploy", "--changed", "--format", "json"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&shallow.stdout),
        String::from_utf8_lossy(&shallow.stderr)
    );
    assert_eq!(shallow.status.code(), Some(3), "{said}");
    assert!(expected.iter().all(|e| said.contains(e)), "{said}");

    // Expand/contract: the code change ships alone first, then the migration.
    project.repo.remove(DROP);
    project.repo.commit("stop reading items.name");
    project.deploy(&["--changed"]).expect(0);
    project.repo.write(DROP, DROP_NAME);
    project.repo.commit("drop items.name");
    let dropped = project.deploy(&["--changed"]);
    dropped.expect(0);
    assert_eq!(dropped.service("api")["outcome"], "deployed");
}
