//! What a service's Dockerfile copies is an input: `plan` on real repositories whose
//! Dockerfiles copy files beside the binary, and the build context checked against the
//! real Docker engine's own reading of `.dockerignore` (the oracle: the files a
//! `COPY . /ctx/` puts in an image, by `docker export`).

use crate::builds::{docker, export};
use crate::stack::require_docker;
use crate::support::{assert_success, deploying, reason_kinds, set, stderr, stdout, unit, Repo};
use std::collections::BTreeSet;
use std::process::Command;
use xtask::build_context::Context;
use xtask::git::Worktree;

/// The example, with worker's context at the root (its Dockerfile copies `config/`, whose
/// `.txt` files the root `.dockerignore` drops) and api's Dockerfile copying a file from
/// its crate's `tests/` folder (no input of the crate).
fn copying_example() -> Repo {
    let repo = Repo::example();
    repo.replace(
        "deploy.toml",
        "[services.worker]\n",
        "[services.worker]\ncontext = \".\"\n",
    );
    repo.replace(
        "deploy.toml",
        "    \"scripts/**\",\n",
        "    \"scripts/**\",\n    \"config/*.txt\",\n    \".dockerignore\",\n",
    );
    repo.write("config/worker.toml", "queue = \"jobs\"\n");
    repo.write("config/notes.txt", "not shipped\n");
    repo.write(".dockerignore", "target\n**/*.txt\n");
    repo.append("services/worker/Dockerfile", "COPY config/ /etc/worker/\n");
    repo.write("services/api/tests/fixtures/seed.json", "{}\n");
    repo.append(
        "services/api/Dockerfile",
        "COPY tests/fixtures/seed.json /seed.json\n",
    );
    repo
}

#[test]
fn a_file_the_dockerfile_copies_redeploys_its_service_and_an_ignored_one_does_not() {
    let repo = copying_example();
    let base = repo.commit("base");
    let check = repo.xtask(&["check", "--fast"]);
    assert_success(&check);

    repo.write("config/worker.toml", "queue = \"other\"\n");
    let head = repo.commit("config");
    let plan = repo.plan(&base, &head);
    assert_eq!(deploying(&plan), set(&["worker"]), "{plan:#}");
    assert_eq!(
        reason_kinds(&plan, "worker"),
        set(&["context_file_changed"])
    );
    assert_eq!(
        unit(&plan, "worker")["reasons"][0]["path"],
        "config/worker.toml"
    );

    repo.write("config/notes.txt", "still not shipped\n");
    let ignored = repo.commit("notes");
    assert!(deploying(&repo.plan(&head, &ignored)).is_empty());

    repo.write("services/api/tests/fixtures/seed.json", "{\"seed\": 1}\n");
    let fixture = repo.commit("fixture");
    let plan = repo.plan(&ignored, &fixture);
    assert_eq!(deploying(&plan), set(&["api"]), "{plan:#}");
    assert_eq!(
        unit(&plan, "api")["reasons"][0]["path"],
        "services/api/tests/fixtures/seed.json"
    );

    // A test file the Dockerfile does not copy stays no input of api.
    repo.write("services/api/tests/fixtures/other.json", "{}\n");
    let other = repo.commit("other fixture");
    assert!(deploying(&repo.plan(&fixture, &other)).is_empty());
}

#[test]
fn what_the_dockerfile_cannot_account_for_is_a_warning_on_its_line() {
    let repo = copying_example();
    let base = repo.commit("base");
    repo.append(
        "services/worker/Dockerfile",
        "ADD https://example.com/tool.tgz /opt/\nCOPY config/missing.toml /etc/\n",
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM rust:1.80 AS build\nCOPY . .\nRUN cargo build --release -p worker\n\
         FROM scratch\nCOPY --from=build /target/release/api /api\n",
    );
    repo.replace(
        "deploy.toml",
        "[services.api]\n",
        "[services.api]\nbuild = \"image\"\ntarget = \"runtime\"\n",
    );
    // The Dockerfile compiles it: `auditable`, a setting of the host build, goes.
    repo.replace(
        "deploy.toml",
        "auditable = true\nport = 8080\n",
        "port = 8080\n",
    );
    let head = repo.commit("unaccountable");
    let output = repo.xtask(&["plan", "--base", &base, "--head", &head, "--format", "json"]);
    assert_success(&output);
    let warnings = stderr(&output);
    let worker_lines = repo.read("services/worker/Dockerfile").lines().count();
    for expected in [
        format!("services/worker/Dockerfile:{}: [remote-source] service `worker`", worker_lines - 1),
        format!("services/worker/Dockerfile:{worker_lines}: [missing-source] service `worker`"),
        "services/api/Dockerfile:1: [unknown-target] service `api`: the Dockerfile has no stage `runtime` (its stages: build, 1)".to_owned(),
    ] {
        assert!(warnings.contains(&expected), "{expected}\n{warnings}");
    }
    repo.replace("deploy.toml", "target = \"runtime\"\n", "");
    let head = repo.commit("no target");
    let output = repo.xtask(&["plan", "--base", &base, "--head", &head, "--format", "json"]);
    let warnings = stderr(&output);
    for expected in [
        "services/api/Dockerfile:3: [uncovered-build] service `api`: RUN cargo builds `worker`",
        "services/api/Dockerfile:3: [unlocked-build] service `api`",
    ] {
        assert!(warnings.contains(expected), "{expected}\n{warnings}");
    }
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let kinds: BTreeSet<&str> = unit(&plan, "api")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["uncovered_build", "unlocked_build"]));
    let check = repo.xtask(&["check", "--fast"]);
    assert_eq!(check.status.code(), Some(3), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("[remote-source]"),
        "{}",
        stdout(&check)
    );
}

/// An in-image build (`build = "image"`) is fingerprinted by its crates, not by every file
/// its `COPY . .` sends: another crate's edit leaves it alone, its own crate's does not.
#[test]
fn an_image_build_is_fingerprinted_by_its_crates_and_what_else_it_copies() {
    let repo = Repo::example();
    repo.write(
        "services/worker/Dockerfile",
        "FROM rust:1.80 AS build\nWORKDIR /src\nCOPY . .\nRUN cargo build --release --locked -p worker\n\
         FROM scratch AS runtime\nCOPY --from=build /src/target/release/worker /worker\n\
         ENTRYPOINT [\"/worker\"]\n",
    );
    repo.replace(
        "deploy.toml",
        "[services.worker]\n",
        "[services.worker]\nbuild = \"image\"\ntarget = \"runtime\"\n",
    );
    // The Dockerfile compiles it: `auditable`, a setting of the host build, goes.
    repo.replace(
        "deploy.toml",
        "auditable = true\nport = 8081\n",
        "port = 8081\n",
    );
    repo.write(".dockerignore", "target\n");
    let base = repo.commit("base");
    let plan = |head: &str| repo.plan(&base, head);
    repo.append("services/api/src/main.rs", "\n// api only\n");
    assert_eq!(deploying(&plan(&repo.commit("api"))), set(&["api"]));
    repo.append("crates/jobs/src/lib.rs", "\n// jobs\n");
    let jobs = plan(&repo.commit("jobs"));
    assert!(deploying(&jobs).contains("worker"), "{jobs:#}");
    // Outside every crate, what `COPY . .` sends is an input.
    repo.write("docs/notes.txt", "sent by COPY . .\n");
    let sent = plan(&repo.commit("docs"));
    assert!(
        reason_kinds(&sent, "worker").contains("context_file_changed"),
        "{sent:#}"
    );
}

/// The files of a context folder as the tool computes them, against the files Docker's
/// own `.dockerignore` reading lets `COPY . /ctx/` put in an image.
#[test]
fn the_context_is_what_docker_sends_after_dockerignore() {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "README.md",
        "CHANGES.md",
        "docs/guide.md",
        "docs/draft-1.txt",
        "docs/keep/draft-2.txt",
        "abc.txt",
        "a/abc.txt",
        "x.bin",
        "z.bin",
        "target/release/api",
        "logs/app.log",
        "deep/er/still.log",
        "lead/slash.txt",
        "sub/keep.txt",
        "sub/drop.txt",
        "nested/a/b/deep/file",
        "nested/deep/file",
        "nested/a/shallow",
        "space name.txt",
        "Dockerfile",
    ];
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file).unwrap();
    }
    std::fs::write(
        dir.path().join(".dockerignore"),
        "# Docker's rules, as its documentation gives them\n*.md\n!README.md\n**/*.log\ntarget\n\
         docs/*/draft*\na?c.txt\n[xy].bin\n/lead/slash.txt\nnested/**/deep\nsub/\n!sub/keep.txt\n\
         ./space name.txt\nDockerfile\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /ctx/\n",
    )
    .unwrap();
    let tag = format!("xtask-it-dockerignore:{}", std::process::id());
    let built = Command::new("docker")
        .args(["build", "--quiet", "--tag", &tag, "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let export = export(&tag);
    docker(&["rmi", &tag]);
    let root = export.path().join("ctx");
    let worktree = Worktree::new(&root);
    let docker_sent: BTreeSet<String> = xtask::git::walk_files(&worktree, "")
        .unwrap()
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    let context_tree = Worktree::new(dir.path());
    let ours = Context::read(&context_tree, "").unwrap();
    let sources = [xtask::dockerfile::ContextSource {
        path: String::new(),
        excludes: Vec::new(),
        line: 2,
        instruction: "COPY",
    }];
    let taken = ours.take(&sources).unwrap();
    assert_eq!(
        taken.files, docker_sent,
        "the tool's context is not Docker's"
    );
    // The rules did something: they are no test of nothing.
    assert!(docker_sent.contains("README.md") && docker_sent.contains("sub/keep.txt"));
    assert!(docker_sent.len() < files.len());
}
