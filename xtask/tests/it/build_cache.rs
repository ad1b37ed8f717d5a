//! The shared compile cache (deploy.toml's `build_cache`): the host build compiles through
//! sccache, whose S3 backend is the local stack's S3. Oracles: sccache's own statistics
//! (`--show-stats`, which the compile step reports) and S3's listing of the bucket.

use crate::deploy::{Images, Project};
use std::path::PathBuf;

/// The compile step's message of a deploy's JSON events.
fn compile_message(deployed: &crate::deploy::Deployed) -> String {
    (deployed.events.iter())
        .find(|e| e["event"] == "step" && e["phase"] == "compile" && e["state"] == "done")
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no compile step: {}", deployed.all_output()))
        .to_owned()
}

/// `(hits, misses)` from "build cache: N hits, M misses".
pub fn counts(message: &str) -> (u64, u64) {
    let at = message
        .find("build cache: ")
        .unwrap_or_else(|| panic!("no build cache statistics: {message}"));
    let words: Vec<&str> = message[at..].split_whitespace().collect();
    (words[2].parse().unwrap(), words[4].parse().unwrap())
}

/// A build from an empty target folder (a new runner, same paths) gets its crates from
/// the cache a build before it filled; the entries are in the environment's bucket. A
/// cache that cannot be used is a warning, never a failed build.
#[test]
fn a_clean_build_after_a_warm_one_takes_its_crates_from_the_shared_cache() {
    let project = Project::new(Images::Own);
    project.repo.replace(
        "deploy.toml",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\n",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\nbuild_cache = \"{project}-{env}-build-cache\"\n",
    );
    project.repo.commit("a compile cache");
    // A target folder of this project's own, emptied between builds as a new runner's is.
    let target: PathBuf = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("build-cache")
        .join(&project.name);
    let build = |extra: &[(&str, &str)]| {
        let mut command =
            project.command(&["--images-only", "--services", "worker", "--format", "json"]);
        command.env("CARGO_TARGET_DIR", &target);
        for (name, value) in extra {
            command.env(name, value);
        }
        let deployed = crate::deploy::Deployed::from(command.output().unwrap());
        deployed.expect(0);
        deployed
    };

    let cold = build(&[]);
    let (hits, misses) = counts(&compile_message(&cold));
    assert!(misses > 0 && hits == 0, "{}", compile_message(&cold));
    let bucket = format!("{}-local-build-cache", project.name);
    let stored = project
        .rt
        .block_on(
            project
                .aws
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix("sccache/")
                .send(),
        )
        .unwrap();
    assert!(
        stored.key_count().unwrap_or(0) > 0,
        "sccache wrote nothing to {bucket}"
    );

    std::fs::remove_dir_all(&target).unwrap();
    project.change("services/worker/src/main.rs");
    let warm = build(&[]);
    let (hits, misses) = counts(&compile_message(&warm));
    assert!(
        hits >= 10 && misses == 0,
        "every crate of the cold build came from the cache: {}",
        compile_message(&warm)
    );

    // An sccache that is not there: said, and the build goes on without it.
    project.change("services/worker/src/main.rs");
    let without = build(&[("XTASK_SCCACHE", "/nonexistent/sccache")]);
    assert!(
        without
            .all_output()
            .contains("building without the shared compile cache"),
        "{}",
        without.all_output()
    );
    assert!(!compile_message(&without).contains("build cache:"));
    std::fs::remove_dir_all(&target).unwrap();
}
