//! The shared compile cache (deploy.toml's `build_cache`) when it cannot be used. Its use
//! (sccache's own statistics, the entries in S3) is tested where build jobs share it, in
//! fanout.rs; the counts are read here.

use crate::deploy::{Images, Project};

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

/// A cache that cannot be used is a warning, never a failed build: an sccache that is not
/// there (XTASK_SCCACHE naming nothing), and the build goes on without it. (Hits and
/// misses, and the entries in the bucket, are fanout.rs's: its build jobs use the cache.)
#[test]
fn a_compile_cache_that_cannot_start_is_a_warning_and_a_plain_build() {
    let project = Project::new(Images::Own);
    project.repo.replace(
        "deploy.toml",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\n",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\nbuild_cache = \"{project}-{env}-build-cache\"\n",
    );
    project.repo.commit("a compile cache");
    let without = crate::deploy::Deployed::from(
        project
            .command(&["--images-only", "--services", "worker", "--format", "json"])
            .env("XTASK_SCCACHE", "/nonexistent/sccache")
            .output()
            .unwrap(),
    );
    without.expect(0);
    assert!(
        without
            .all_output()
            .contains("building without the shared compile cache"),
        "{}",
        without.all_output()
    );
    assert!(!compile_message(&without).contains("build cache:"));
}
