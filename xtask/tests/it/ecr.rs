//! ECR as AWS documents it for the ways a deploy puts tags ("Image tag mutability" in the
//! ECR user guide): an immutable repository refuses to move a tag that exists, whether the
//! manifest comes by `docker push` (Docker prints `tag invalid`) or by `PutImage`
//! (`ImageTagAlreadyExistsException`). The stack's registry front enforces it for pushes.

use crate::deploy::{Images, Project};
use std::path::Path;
use std::process::Command;

/// The URI of the project's own repository for `service`, as ECR names it.
fn repository_uri(project: &Project, service: &str) -> String {
    let listed = project
        .rt
        .block_on(project.aws.ecr.describe_repositories().send())
        .unwrap();
    listed
        .repositories()
        .iter()
        .filter_map(|r| r.repository_uri())
        .find(|uri| uri.ends_with(&format!("/{}/{service}", project.name)))
        .unwrap_or_else(|| panic!("{service}'s repository of {}", project.name))
        .to_owned()
}

/// Builds a one-file image whose content is `content` and pushes it as `reference`,
/// logged in to the registry front as ECR asks.
fn push(reference: &str, content: &str) -> std::process::Output {
    let login = crate::stack::stack().ecr_login();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY file /file\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("file"), content).unwrap();
    docker(dir.path(), &["build", "-q", "-t", reference, "."]);
    Command::new("docker")
        .args(["push", reference])
        .env("DOCKER_CONFIG", login.path())
        .output()
        .unwrap()
}

fn docker(dir: &Path, args: &[&str]) {
    let out = Command::new("docker")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn docker_push_cannot_move_a_tag_of_an_immutable_repository() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    let uri = repository_uri(&project, "api");
    let first = push(&format!("{uri}:moving"), "a");
    assert!(first.status.success(), "{first:?}");
    let again = push(&format!("{uri}:moving"), "a");
    assert!(again.status.success(), "the same image again: {again:?}");
    let moved = push(&format!("{uri}:moving"), "b");
    assert!(!moved.status.success(), "an immutable tag moved");
    let stderr = String::from_utf8_lossy(&moved.stderr);
    assert!(
        stderr.contains("tag invalid") && stderr.contains("immutable"),
        "{stderr}"
    );
    let other = push(&format!("{uri}:other"), "b");
    assert!(other.status.success(), "{other:?}");
}

#[test]
fn the_commit_tag_follows_the_fingerprint_tag_and_one_an_earlier_run_left_is_kept() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    let uri = repository_uri(&project, "api");
    // An earlier run of this commit pushed its commit tag on another build, then died.
    let head = project.repo.head();
    let left = push(&format!("{uri}:git-{head}"), "an earlier build");
    assert!(left.status.success(), "{left:?}");
    let deployed = project.deploy(&["--changed"]);
    deployed.expect(0);
    let built = deployed
        .events
        .iter()
        .find(|e| {
            e["event"] == "step"
                && e["phase"] == "build"
                && e["state"] == "done"
                && e["service"] == "api"
        })
        .unwrap();
    assert!(
        built["message"]
            .as_str()
            .unwrap()
            .contains("its commit tag already names"),
        "{built}"
    );
    assert_eq!(deployed.service("api")["outcome"], "deployed");
}

#[test]
fn the_users_docker_context_and_credential_store_are_kept_and_the_login_stays_private() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    // The user's Docker setup: a context of their own in use, and a credential store that
    // is not installed here (the login must not go to it).
    let user = tempfile::tempdir().unwrap();
    let docker_as_user = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", user.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    docker_as_user(&[
        "context",
        "create",
        "it-engine",
        "--docker",
        "host=unix:///var/run/docker.sock",
    ]);
    docker_as_user(&["context", "use", "it-engine"]);
    let path = user.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["credsStore"] = "xtask-not-installed".into();
    std::fs::write(&path, config.to_string()).unwrap();

    let deployed = project
        .command(&["--changed", "--services", "api", "--format", "json"])
        .env("DOCKER_CONFIG", user.path())
        .output()
        .unwrap();
    crate::deploy::Deployed::from(deployed).expect(0);
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&after).unwrap(),
        config,
        "the user's config is untouched: {after}"
    );
}
