//! The parse cache in `.git/xtask/` only ever saves work: a warm run plans exactly like a
//! run without it, and a damaged file is ignored.

use crate::support::{assert_success, Repo};

fn plan_json(repo: &Repo, base: &str, head: &str, cache: &str) -> serde_json::Value {
    let args = ["plan", "--base", base, "--head", head, "--format", "json"];
    let output = repo.xtask_with_env(&[("XTASK_CACHE", cache)], &args);
    assert_success(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_warm_cache_plans_exactly_like_no_cache() {
    let repo = Repo::example();
    let a = repo.commit("a");
    repo.append("crates/common/src/lib.rs", "\n// b\n");
    repo.replace(
        "crates/jobs/Cargo.toml",
        "[dependencies]\n",
        "[dependencies]\nserde_json = \"1\"\n",
    );
    let b = repo.commit("b");
    // Inherited values are part of every crate's cache key: this must reach both services.
    repo.replace("Cargo.toml", "edition = \"2021\"", "edition = \"2024\"");
    let c = repo.commit("c");
    for (base, head) in [(&a, &b), (&b, &c), (&a, &c)] {
        let fresh = plan_json(&repo, base, head, "off");
        let filling = plan_json(&repo, base, head, "on");
        let warm = plan_json(&repo, base, head, "on");
        assert_eq!(filling, fresh, "{base}..{head} while filling the cache");
        assert_eq!(warm, fresh, "{base}..{head} from a warm cache");
    }
    assert!(repo.path().join(".git/xtask/cache.json").is_file());
    let inherited = plan_json(&repo, &b, &c, "on");
    assert_eq!(
        crate::support::deploying(&inherited),
        crate::support::set(&["api", "worker"])
    );
}

#[test]
fn a_damaged_cache_file_is_ignored() {
    let repo = Repo::example();
    let base = repo.commit("base");
    repo.append("crates/jobs/src/lib.rs", "\n// change\n");
    let head = repo.commit("change");
    let fresh = plan_json(&repo, &base, &head, "off");
    std::fs::create_dir_all(repo.path().join(".git/xtask")).unwrap();
    std::fs::write(
        repo.path().join(".git/xtask/cache.json"),
        "{\"format\": \"1-0.1.0\", \"crates\": [garbage",
    )
    .unwrap();
    assert_eq!(plan_json(&repo, &base, &head, "on"), fresh);
    assert_eq!(
        plan_json(&repo, &base, &head, "on"),
        fresh,
        "and the rewritten file is good"
    );
}

#[test]
fn the_cache_stays_the_size_of_one_workspace_however_many_commits_are_planned() {
    let repo = Repo::example();
    let mut commits = vec![repo.commit("start")];
    for i in 0..12 {
        // A new tree for two crates and a new lockfile each time.
        repo.append("crates/common/src/lib.rs", &format!("\n// {i}\n"));
        repo.append("services/worker/src/main.rs", &format!("\n// {i}\n"));
        repo.append("Cargo.lock", &format!("\n# {i}\n"));
        commits.push(repo.commit(&format!("change {i}")));
    }
    for pair in commits.windows(2) {
        plan_json(&repo, &pair[0], &pair[1], "on");
    }
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join(".git/xtask/cache.json")).unwrap())
            .unwrap();
    let crates = file["crates"].as_object().unwrap().len();
    let locks = file["locks"].as_object().unwrap().len();
    // The workspace has 12 crates (the xtask's eight too) and each plan reads two versions
    // of two of them: 14 used, and a quarter more kept (17); without a bound, 36.
    assert!(crates <= 17, "{crates} crates kept");
    assert!(locks <= 4, "{locks} lockfiles kept");
}
