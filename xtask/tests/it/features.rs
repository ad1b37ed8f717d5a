//! A fingerprint changes whenever Cargo's own resolution of the service changes. The
//! oracle is Cargo: `cargo tree -p <service> -e normal,build,features --target <the build
//! target>` (packages, versions, sources and enabled features, for that service's build
//! alone), run after each manifest edit, committed with the lockfile Cargo wrote.

use crate::support::{assert_success, stdout, Repo};
use std::collections::BTreeMap;
use xtask::bench::features::{self, Observation, Verdict};

/// A bounded sample of the property `cargo xtask bench features` runs in full: random
/// edits of workspace entries, member entries, features, default features, target tables,
/// renames, optional dependencies and the features that enable them.
#[test]
fn random_manifest_edits_never_change_cargos_view_without_the_fingerprint() {
    for seed in [7, 8] {
        let dir = tempfile::tempdir().unwrap();
        let report = features::run_property(&dir.path().join("ws"), 40, seed).unwrap();
        let misses: Vec<String> = report
            .misses
            .iter()
            .map(|m| {
                format!(
                    "{} after `{}`:\n  {}",
                    m.service,
                    m.edit,
                    m.cargo_diff.join("\n  ")
                )
            })
            .collect();
        assert!(
            misses.is_empty(),
            "seed {seed}: missed deploys:\n{}",
            misses.join("\n")
        );
        // Not vacuous: Cargo accepted most edits, and many of them changed its view.
        assert!(report.accepted >= 30, "seed {seed}: {report:?}");
        assert!(report.count("deploy") >= 10, "seed {seed}: {report:?}");
    }
}

/// Edits the example monorepo's manifests one after another, checking each against Cargo.
struct Example {
    repo: Repo,
    last: Observation,
}

impl Example {
    fn new() -> Example {
        let repo = Repo::example();
        let last = observe(&repo, "baseline");
        Example { repo, last }
    }

    /// Commits the edit and returns each service's verdict against the previous commit.
    fn step(&mut self, what: &str) -> BTreeMap<String, Verdict> {
        let now = observe(&self.repo, what);
        let verdicts = features::compare(&self.last, &now);
        for (service, verdict) in &verdicts {
            assert_ne!(
                *verdict,
                Verdict::Missed,
                "{what}: cargo's view of {service} changed, its fingerprint did not:\n{}",
                features::cargo_diff(&self.last, &now, service).join("\n")
            );
        }
        self.last = now;
        verdicts
    }
}

fn observe(repo: &Repo, what: &str) -> Observation {
    features::observe(repo.path(), &["api", "worker"], what)
        .unwrap()
        .unwrap_or_else(|refusal| panic!("{what}: cargo refused the manifests: {refusal}"))
}

fn verdicts(api: Verdict, worker: Verdict) -> BTreeMap<String, Verdict> {
    BTreeMap::from([("api".to_owned(), api), ("worker".to_owned(), worker)])
}

#[test]
fn the_examples_inherited_features_and_target_tables_follow_cargo() {
    use Verdict::{Deploy, Unchanged};
    let mut example = Example::new();
    example.repo.append(
        "Cargo.toml",
        "\n[workspace.dependencies]\nserde = { version = \"1.0.229\", features = [\"derive\"] }\n",
    );
    example.repo.replace(
        "crates/common/Cargo.toml",
        "serde = { version = \"1.0.229\", features = [\"derive\"] }",
        "serde = { workspace = true, features = [\"rc\"] }",
    );
    // Cargo adds the member's `rc` to the entry's `derive`: both services change.
    assert_eq!(
        example.step("common inherits serde, adds rc"),
        verdicts(Deploy, Deploy)
    );
    let explained = example
        .repo
        .xtask(&["explain", "worker", "--base", "HEAD~1"]);
    assert_success(&explained);
    assert!(
        stdout(&explained).contains(
            "crate common: inherits `serde` from [workspace.dependencies]: features derive (workspace) + rc (own)"
        ),
        "{}",
        stdout(&explained)
    );
    // The case: a feature added to the workspace entry reaches every member that
    // inherits it, local features or not.
    example.repo.replace(
        "Cargo.toml",
        "features = [\"derive\"]",
        "features = [\"derive\", \"alloc\"]",
    );
    assert_eq!(
        example.step("the workspace entry adds alloc"),
        verdicts(Deploy, Deploy)
    );
    // A Windows-only table is nothing to a Linux build: no redeploy.
    example.repo.append(
        "services/api/Cargo.toml",
        "\n[target.'cfg(windows)'.dependencies]\nserde_json = { version = \"1.0.154\", features = [\"float_roundtrip\"] }\n",
    );
    assert_eq!(
        example.step("api: a Windows-only feature"),
        verdicts(Unchanged, Unchanged)
    );
    example
        .repo
        .replace("services/api/Cargo.toml", "cfg(windows)", "cfg(unix)");
    assert_eq!(
        example.step("api: the same on unix"),
        verdicts(Deploy, Unchanged)
    );
}
