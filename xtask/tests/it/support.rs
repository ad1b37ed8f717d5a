//! Test harness: real git repositories in temp dirs, seeded with this repository's own
//! example monorepo, and the real `xtask` binary run against them with `-C`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The monorepo that holds this xtask (the example system).
pub fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A git repository in a temp dir.
pub struct Repo {
    dir: tempfile::TempDir,
    git: git2::Repository,
}

impl Repo {
    /// An empty repository.
    pub fn empty() -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("xtask-it-")
            .tempdir()
            .unwrap();
        let git = git2::Repository::init(dir.path()).unwrap();
        git.set_head("refs/heads/main").unwrap();
        Repo { dir, git }
    }

    /// A repository whose first commit is a copy of the example monorepo (every file git
    /// would track in this checkout), committed.
    pub fn example() -> Repo {
        let repo = Repo::empty();
        let root = source_root();
        let listed = Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(&root)
            .output()
            .expect("git is installed (apt-get install git)");
        assert!(
            listed.status.success(),
            "git ls-files failed in {}",
            root.display()
        );
        for path in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
            let path = std::str::from_utf8(path).unwrap();
            let from = root.join(path);
            if from.is_file() {
                let to = repo.path().join(path);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&from, &to).unwrap();
            }
        }
        repo.commit("example monorepo");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    pub fn append(&self, path: &str, text: &str) {
        let content = self.read(path);
        self.write(path, &format!("{content}{text}"));
    }

    /// Replaces exactly one occurrence of `from` in `path`.
    pub fn replace(&self, path: &str, from: &str, to: &str) {
        let content = self.read(path);
        assert_eq!(
            content.matches(from).count(),
            1,
            "{from:?} must occur once in {path}"
        );
        self.write(path, &content.replace(from, to));
    }

    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.path().join(path)).unwrap();
    }

    pub fn rename(&self, from: &str, to: &str) {
        std::fs::rename(self.path().join(from), self.path().join(to)).unwrap();
    }

    /// Stages every change (deletions included) and commits; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let mut index = self.git.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.git.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = git2::Signature::now("Test", "test@example.com").unwrap();
        let parent = self.git.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.git
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .unwrap()
            .to_string()
    }

    /// HEAD's commit id.
    pub fn head(&self) -> String {
        self.git
            .head()
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .id()
            .to_string()
    }

    /// Points the reference `name` (`refs/remotes/origin/main`) at `commit`.
    pub fn git_ref(&self, name: &str, commit: &str) {
        let id = git2::Oid::from_str(commit).unwrap();
        self.git.reference(name, id, true, "test").unwrap();
    }

    /// A 4-digit prefix that two objects of the repository share (writing blobs until two
    /// do): a revision git cannot resolve to one object.
    pub fn ambiguous_prefix(&self) -> String {
        let odb = self.git.odb().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        odb.foreach(|id| {
            seen.insert(id.to_string());
            true
        })
        .unwrap();
        let mut prefixes = std::collections::BTreeSet::new();
        for id in &seen {
            if !prefixes.insert(id[..4].to_owned()) {
                return id[..4].to_owned();
            }
        }
        for n in 0.. {
            let id = self
                .git
                .blob(format!("filler {n}").as_bytes())
                .unwrap()
                .to_string();
            if !prefixes.insert(id[..4].to_owned()) {
                return id[..4].to_owned();
            }
        }
        unreachable!()
    }

    /// Checks out HEAD's commit detached from its branch.
    pub fn detach(&self) {
        let head = self.git.head().unwrap().peel_to_commit().unwrap().id();
        self.git.set_head_detached(head).unwrap();
    }

    pub fn tag(&self, name: &str, commit: &str) {
        let object = self.git.revparse_single(commit).unwrap();
        self.git.tag_lightweight(name, &object, false).unwrap();
    }

    /// Runs `xtask -C <repo> <args>`.
    pub fn xtask(&self, args: &[&str]) -> Output {
        xtask_in(self.path(), args)
    }

    /// Like [`Repo::xtask`], with extra environment variables.
    pub fn xtask_with_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = xtask_command(self.path(), args);
        command.envs(env.iter().copied());
        command.output().unwrap()
    }

    /// `plan --base <base> --head <head> --format json`, which must succeed.
    pub fn plan(&self, base: &str, head: &str) -> Value {
        let output = self.xtask(&["plan", "--base", base, "--head", head, "--format", "json"]);
        assert_success(&output);
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// Runs the xtask binary against `root`.
pub fn xtask_in(root: &Path, args: &[&str]) -> Output {
    xtask_command(root, args).output().unwrap()
}

pub fn xtask_command(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("-C")
        .arg(root)
        .args(args)
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("XTASK_CACHE");
    command
}

pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "xtask failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every unit of a JSON plan, services then apps.
pub fn units(plan: &Value) -> impl Iterator<Item = &Value> {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .chain(plan["apps"].as_array().unwrap())
}

/// Names of the units the plan deploys.
pub fn deploying(plan: &Value) -> BTreeSet<String> {
    units(plan)
        .filter(|u| u["action"] == "deploy")
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

/// One unit of a JSON plan by name.
pub fn unit<'p>(plan: &'p Value, name: &str) -> &'p Value {
    units(plan)
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no unit {name} in {plan:#}"))
}

/// The reason kinds of one unit.
pub fn reason_kinds(plan: &Value, name: &str) -> BTreeSet<String> {
    unit(plan, name)["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect()
}

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}
