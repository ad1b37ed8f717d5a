//! Why a deploy's units changed since what runs, worked out from the live commits before
//! planning: explained from a commit in this clone, reported (not silently dropped) when a
//! commit is missing or cannot be read. Real git repositories; the planner's loader.

use crate::support::Repo;
use xtask::deploy::explain::{self, LiveUnit, Why};
use xtask::git::Repo as GitRepo;
use xtask::model::Loader;

/// The example at a first commit, then a change to `crates/common`: the first commit's
/// sha and api's fingerprint there, and the repository at the second.
fn changed_common() -> (Repo, String, String) {
    let repo = Repo::example();
    let first = repo.commit("first");
    let fingerprint = fingerprint_at(&repo, &first, "api");
    repo.append("crates/common/src/lib.rs", "\n// changed\n");
    repo.commit("common changed");
    (repo, first, fingerprint)
}

fn fingerprint_at(repo: &Repo, commit: &str, unit: &str) -> String {
    let git = GitRepo::open(repo.path()).unwrap();
    let mut loader = Loader::new(&git);
    let model = loader
        .load(&git.resolve(commit, "test").unwrap(), true)
        .unwrap();
    model.prints.get(unit).unwrap().fingerprint.clone()
}

fn explain_at_head(repo: &Repo, lives: &[LiveUnit<'_>]) -> explain::Explanations {
    let git = GitRepo::open(repo.path()).unwrap();
    let mut loader = Loader::new(&git);
    let head = loader
        .load(&git.resolve("HEAD", "test").unwrap(), true)
        .unwrap();
    let lives = lives.iter().map(|l| LiveUnit {
        name: l.name,
        fingerprint: l.fingerprint,
        commit: l.commit,
    });
    explain::gather(&git, &mut loader, &head, lives)
}

#[test]
fn a_live_commit_in_the_clone_explains_what_changed() {
    let (repo, first, fingerprint) = changed_common();
    let live = LiveUnit {
        name: "api",
        fingerprint: Some(&fingerprint),
        commit: Some(&first),
    };
    let explanations = explain_at_head(&repo, &[live]);
    let reasons: Vec<String> = explanations
        .of("api")
        .expect("api is explained")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(reasons.iter().any(|r| r.contains("common")), "{reasons:?}");
    assert!(explanations.unexplained.is_empty());
}

#[test]
fn a_live_commit_missing_from_the_clone_is_reported_once_not_a_warning() {
    let (repo, _, fingerprint) = changed_common();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let lives = [
        LiveUnit {
            name: "api",
            fingerprint: Some(&fingerprint),
            commit: Some(missing),
        },
        LiveUnit {
            name: "worker",
            fingerprint: Some("another"),
            commit: Some(missing),
        },
    ];
    let explanations = explain_at_head(&repo, &lives);
    assert_eq!(explanations.of("api"), None);
    let [unexplained] = explanations.unexplained.as_slice() else {
        panic!("one report per commit: {:?}", explanations.unexplained);
    };
    assert!(matches!(unexplained.why, Why::NotInClone));
    assert!(!unexplained.is_warning());
    assert_eq!(unexplained.units, ["api", "worker"]);
    let message = unexplained.to_string();
    assert!(
        message.contains(&format!("`git fetch origin {missing}`")),
        "{message}"
    );
}

#[test]
fn a_live_commit_that_cannot_be_read_is_a_warning_with_why() {
    let repo = Repo::example();
    repo.replace(
        "deploy.toml",
        "[services.api]",
        "[services.api]\nnot_a_key = 1",
    );
    let broken = repo.commit("a broken deploy.toml");
    repo.replace(
        "deploy.toml",
        "[services.api]\nnot_a_key = 1",
        "[services.api]",
    );
    repo.commit("fixed");
    let live = LiveUnit {
        name: "api",
        fingerprint: Some("old"),
        commit: Some(&broken),
    };
    let explanations = explain_at_head(&repo, &[live]);
    let [unexplained] = explanations.unexplained.as_slice() else {
        panic!("{:?}", explanations.unexplained);
    };
    assert!(unexplained.is_warning());
    let message = unexplained.to_string();
    assert!(
        message.contains("could not be compared with HEAD"),
        "{message}"
    );
    assert!(message.contains("not_a_key"), "{message}");
}

#[test]
fn a_reused_image_older_than_its_commit_is_not_explained_by_that_commit() {
    let (repo, first, _) = changed_common();
    // The live image's fingerprint is not the one its commit builds: an older image was
    // reused, so that commit's manifest says nothing about what runs.
    let live = LiveUnit {
        name: "api",
        fingerprint: Some("an-older-fingerprint"),
        commit: Some(&first),
    };
    let explanations = explain_at_head(&repo, &[live]);
    assert_eq!(explanations.of("api"), None);
    assert!(explanations.unexplained.is_empty());
}
