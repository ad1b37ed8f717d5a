//! The plan as a person and a script see it, pinned with insta. Commit ids and
//! fingerprints are redacted: they change with every edit of the example.

use crate::support::{assert_success, stdout, Repo};

/// A plan with every kind of line: crate, file, package, app and unchanged units.
fn varied_change() -> (Repo, String, String) {
    let repo = Repo::example();
    let base = repo.commit("base");
    repo.append("crates/common/src/lib.rs", "\n// shared\n");
    repo.append("services/api/src/main.rs", "\n// api\n");
    let lock = repo.read("Cargo.lock");
    repo.write(
        "Cargo.lock",
        &lock.replace(
            "name = \"fastrand\"\nversion = \"2.5.0\"",
            "name = \"fastrand\"\nversion = \"2.6.0\"",
        ),
    );
    repo.append(
        "apps/portal/src/assets/style.css",
        "\nmain { padding: 1rem; }\n",
    );
    let head = repo.commit("change");
    (repo, base, head)
}

fn redacted() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[fingerprint]");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[commit]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[short]");
    settings.add_filter(r"\b[0-9a-f]{7}\b", "[commit7]");
    settings
}

#[test]
fn plan_text() {
    let (repo, base, head) = varied_change();
    let output = repo.xtask(&["plan", "--base", &base, "--head", &head]);
    assert_success(&output);
    let text = stdout(&output);
    redacted().bind(|| insta::assert_snapshot!(text));
}

#[test]
fn plan_json() {
    let (repo, base, head) = varied_change();
    let output = repo.xtask(&["plan", "--base", &base, "--head", &head, "--format", "json"]);
    assert_success(&output);
    let text = stdout(&output);
    redacted().bind(|| insta::assert_snapshot!(text));
}

#[test]
fn explain_text() {
    let (repo, base, head) = varied_change();
    let output = repo.xtask(&["explain", "worker", "--base", &base, "--head", &head]);
    assert_success(&output);
    let text = stdout(&output);
    redacted().bind(|| insta::assert_snapshot!(text));
}
