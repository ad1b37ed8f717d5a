//! The crate graph read from a commit agrees with `cargo metadata` on the same files.

use crate::support::Repo;
use std::collections::{BTreeMap, BTreeSet};
use xtask::cache::Cache;
use xtask::git::Repo as GitRepo;
use xtask::workspace::{DepKind, Workspace};

/// What one package's build reads: workspace crates, and external `(name, version)`s.
type Closure = (BTreeSet<String>, BTreeSet<(String, String)>);

/// The closure of each package per cargo metadata: normal and build edges only.
fn cargo_closures(
    root: &std::path::Path,
    roots: &[&str],
    locked: bool,
) -> BTreeMap<String, Closure> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(root)
        .other_options(if locked {
            vec!["--locked".into()]
        } else {
            Vec::new()
        })
        .exec()
        .expect("cargo metadata runs (needs crates.io or a warm cargo cache)");
    let resolve = metadata.resolve.as_ref().unwrap();
    let nodes: BTreeMap<_, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let package = |id| metadata.packages.iter().find(|p| &p.id == id).unwrap();
    let members: BTreeSet<_> = metadata.workspace_members.iter().collect();
    let mut out = BTreeMap::new();
    for name in roots {
        let start = &metadata
            .packages
            .iter()
            .find(|p| p.name.as_str() == *name)
            .unwrap()
            .id;
        let (mut crates, mut externals) = (BTreeSet::new(), BTreeSet::new());
        let mut pending = vec![start];
        let mut seen = BTreeSet::new();
        while let Some(id) = pending.pop() {
            if !seen.insert(id) {
                continue;
            }
            let p = package(id);
            if members.contains(id) {
                crates.insert(p.name.to_string());
            } else {
                externals.insert((p.name.to_string(), p.version.to_string()));
            }
            for dep in &nodes[id].deps {
                let build_edge = dep
                    .dep_kinds
                    .iter()
                    .any(|k| k.kind != cargo_metadata::DependencyKind::Development);
                if build_edge {
                    pending.push(&dep.pkg);
                }
            }
        }
        out.insert((*name).to_owned(), (crates, externals));
    }
    out
}

/// Compares the graph read from the repository's HEAD commit with cargo's.
fn assert_agrees(repo: &Repo, locked: bool) {
    let expected = cargo_closures(repo.path(), &["api", "worker"], locked);
    let git = GitRepo::open(repo.path()).unwrap();
    let head = git.resolve("HEAD", "test").unwrap();
    let snapshot = git.snapshot(&head).unwrap();
    let workspace = Workspace::load(&snapshot, &mut Cache::in_memory()).unwrap();
    let lock = workspace.lock.as_ref().unwrap();
    for (name, (crates, externals)) in expected {
        let closure = workspace.closure(workspace.crate_named(&name).unwrap());
        let names: BTreeSet<String> = closure
            .crates
            .iter()
            .map(|&i| workspace.crates[i].name.clone())
            .collect();
        assert_eq!(names, crates, "workspace crates of {name}");
        let package = |&(i, _): &(usize, usize)| {
            (
                lock.packages[i].name.clone(),
                lock.packages[i].version.clone(),
            )
        };
        let ours: BTreeSet<(String, String)> = closure.packages.iter().map(package).collect();
        let missing: Vec<_> = externals.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&externals).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: missing {missing:?}, extra {extra:?}"
        );
    }
}

#[test]
fn crate_graph_from_a_commit_agrees_with_cargo_metadata() {
    assert_agrees(&Repo::example(), true);
}

#[test]
fn dev_dependencies_in_the_lockfile_stay_out_of_the_graph() {
    let repo = Repo::example();
    repo.append(
        "crates/common/Cargo.toml",
        "\n[dev-dependencies]\ntempfile = \"3\"\n",
    );
    // Let cargo itself record the new edge in Cargo.lock, then commit both.
    cargo_closures(repo.path(), &["api"], false);
    assert!(
        repo.read("Cargo.lock").contains("\"tempfile\""),
        "cargo recorded the dev-dependency"
    );
    repo.commit("common: tempfile for tests");
    assert_agrees(&repo, true);
    let git = GitRepo::open(repo.path()).unwrap();
    let snapshot = git.snapshot(&git.resolve("HEAD", "test").unwrap()).unwrap();
    let workspace = Workspace::load(&snapshot, &mut Cache::in_memory()).unwrap();
    let common = &workspace.crates[workspace.crate_named("common").unwrap()];
    assert!(common
        .deps
        .iter()
        .any(|d| d.package == "tempfile" && d.kind == DepKind::Dev));
}

/// The layering of the tool's own crates, with cargo as the oracle: the core decides and
/// links no runtime, no AWS SDK and no libgit2; the git reader adds libgit2 only; the fuzz
/// targets link the core alone.
#[test]
fn the_core_links_no_runtime_no_sdk_and_no_libgit2() {
    let root = crate::support::source_root();
    let closures = cargo_closures(&root, &["xtask-core", "xtask-git"], true);
    let forbidden = |name: &str| {
        name == "tokio" || name.starts_with("aws-") || name == "git2" || name == "libgit2-sys"
    };
    let names = |crate_name: &str| -> BTreeSet<String> {
        closures[crate_name]
            .1
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    };
    let core: Vec<String> = names("xtask-core")
        .into_iter()
        .filter(|n| forbidden(n))
        .collect();
    assert!(core.is_empty(), "xtask-core links {core:?}");
    assert_eq!(
        closures["xtask-core"].0,
        BTreeSet::from(["xtask-core".to_owned()])
    );
    let git: Vec<String> = names("xtask-git")
        .into_iter()
        .filter(|n| forbidden(n))
        .collect();
    assert_eq!(
        git,
        ["git2", "libgit2-sys"],
        "xtask-git links libgit2 and nothing else of those"
    );

    let fuzz: toml::Table = std::fs::read_to_string(root.join("fuzz/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deps: BTreeSet<&str> = fuzz["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        deps,
        BTreeSet::from(["libfuzzer-sys", "xtask-core", "xtask-sql"])
    );
    // The lint is pure too: libpg_query, no runtime, SDK or libgit2.
    let sql = cargo_closures(&root, &["xtask-sql"], true);
    let linked: Vec<&String> = (sql["xtask-sql"].1.iter())
        .map(|(n, _)| n)
        .filter(|n| forbidden(n))
        .collect();
    assert!(linked.is_empty(), "xtask-sql links {linked:?}");
}
