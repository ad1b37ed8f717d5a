//! `cargo xtask plan` on real repositories: each scenario asserts exactly which units
//! deploy and the kind of reason.

use crate::support::{assert_success, deploying, reason_kinds, set, stderr, stdout, unit, Repo};

/// Commits the example, applies `change`, commits again, and plans between the two.
fn plan_after(change: impl FnOnce(&Repo)) -> (Repo, serde_json::Value) {
    let repo = Repo::example();
    let base = repo.commit("base");
    change(&repo);
    let head = repo.commit("change");
    let plan = repo.plan(&base, &head);
    (repo, plan)
}

/// Replaces the version and checksum of one lockfile package, as `cargo update -p` would.
fn bump_lock(repo: &Repo, name: &str, to: &str) {
    let lock = repo.read("Cargo.lock");
    let header = format!("name = \"{name}\"\nversion = \"");
    let start = lock
        .find(&header)
        .unwrap_or_else(|| panic!("{name} is in Cargo.lock"))
        + header.len();
    let end = start + lock[start..].find('"').unwrap();
    let checksum = lock[end..].find("checksum = \"").unwrap() + end + "checksum = \"".len();
    let mut bumped = format!("{}{to}{}", &lock[..start], &lock[end..checksum]);
    bumped.push_str(&"0".repeat(64));
    bumped.push_str(&lock[checksum + 64..]);
    repo.write("Cargo.lock", &bumped);
}

#[test]
fn an_edit_in_common_deploys_both_services() {
    let (_, plan) = plan_after(|r| {
        r.append(
            "crates/common/src/lib.rs",
            "\npub const VERSION_2: u8 = 2;\n",
        )
    });
    assert_eq!(deploying(&plan), set(&["api", "worker"]));
    for service in ["api", "worker"] {
        assert_eq!(reason_kinds(&plan, service), set(&["crate_changed"]));
        let reason = &unit(&plan, service)["reasons"][0];
        assert_eq!(reason["crate"], "common");
        assert_eq!(reason["paths"][0], "crates/common/src/lib.rs");
    }
}

#[test]
fn an_edit_in_jobs_deploys_only_worker() {
    let (_, plan) =
        plan_after(|r| r.append("crates/jobs/src/lib.rs", "\npub const LIMIT: u8 = 3;\n"));
    assert_eq!(deploying(&plan), set(&["worker"]));
    assert_eq!(reason_kinds(&plan, "worker"), set(&["crate_changed"]));
}

#[test]
fn a_lockfile_bump_of_a_package_only_api_uses_deploys_only_api() {
    let (_, plan) = plan_after(|r| bump_lock(r, "postgres", "0.19.99"));
    assert_eq!(deploying(&plan), set(&["api"]));
    let reason = &unit(&plan, "api")["reasons"][0];
    assert_eq!(reason["kind"], "package_changed");
    assert_eq!(reason["package"], "postgres");
    assert_eq!(reason["from"], "0.19.14");
    assert_eq!(reason["to"], "0.19.99");
    assert_eq!(reason["via"], "api");
    assert_eq!(reason["detail"], "`postgres` 0.19.14 → 0.19.99 via api");
}

#[test]
fn a_lockfile_bump_of_a_package_only_jobs_uses_deploys_only_worker() {
    let (_, plan) = plan_after(|r| bump_lock(r, "fastrand", "2.9.0"));
    assert_eq!(deploying(&plan), set(&["worker"]));
    assert_eq!(unit(&plan, "worker")["reasons"][0]["via"], "jobs");
}

#[test]
fn a_new_workspace_member_that_no_service_uses_deploys_nothing() {
    let (_, plan) = plan_after(|r| {
        r.write(
            "crates/newlib/Cargo.toml",
            "[package]\nname = \"newlib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        r.write("crates/newlib/src/lib.rs", "pub fn answer() -> u8 { 42 }\n");
        r.append(
            "Cargo.lock",
            "\n[[package]]\nname = \"newlib\"\nversion = \"0.1.0\"\n",
        );
    });
    assert_eq!(deploying(&plan), set(&[]));
}

#[test]
fn a_readme_edit_deploys_nothing() {
    let (_, plan) = plan_after(|r| r.append("README.md", "\nMore words.\n"));
    assert_eq!(deploying(&plan), set(&[]));
}

#[test]
fn a_global_input_edit_deploys_every_rust_service() {
    let (_, plan) =
        plan_after(|r| r.append(".cargo/config.toml", "\n[build]\nincremental = false\n"));
    assert_eq!(deploying(&plan), set(&["api", "worker"]));
    assert_eq!(reason_kinds(&plan, "api"), set(&["global_input_changed"]));
    assert_eq!(unit(&plan, "api")["reasons"][0]["change"], "modified");
}

#[test]
fn creating_a_declared_global_input_deploys_every_rust_service() {
    let (_, plan) =
        plan_after(|r| r.write("rust-toolchain.toml", "[toolchain]\nchannel = \"stable\"\n"));
    assert_eq!(deploying(&plan), set(&["api", "worker"]));
    let reason = &unit(&plan, "worker")["reasons"][0];
    assert_eq!(reason["path"], "rust-toolchain.toml");
    assert_eq!(reason["change"], "added");
}

#[test]
fn an_edit_under_an_app_deploys_only_that_app() {
    let (_, plan) =
        plan_after(|r| r.append("apps/admin/src/assets/app.js", "\nconsole.log('hi');\n"));
    assert_eq!(deploying(&plan), set(&["admin"]));
    let reason = &unit(&plan, "admin")["reasons"][0];
    assert_eq!(reason["kind"], "file_changed");
    assert_eq!(reason["path"], "apps/admin/src/assets/app.js");
}

#[test]
fn an_edit_of_an_apps_extra_input_deploys_every_app_that_declares_it() {
    let (_, plan) = plan_after(|r| r.append("apps/shared/build-spa.mjs", "\n// tweak\n"));
    assert_eq!(deploying(&plan), set(&["admin", "portal"]));
}

#[test]
fn a_dockerfile_edit_deploys_that_service() {
    let (_, plan) =
        plan_after(|r| r.replace("services/worker/Dockerfile", "EXPOSE 8081", "EXPOSE 9090"));
    assert_eq!(deploying(&plan), set(&["worker"]));
    assert_eq!(reason_kinds(&plan, "worker"), set(&["dockerfile_changed"]));
}

#[test]
fn a_dockerfile_outside_the_service_folder_is_an_input_of_its_own() {
    let repo = Repo::example();
    repo.write(
        "docker/worker.Dockerfile",
        &repo.read("services/worker/Dockerfile"),
    );
    repo.replace(
        "deploy.toml",
        "path = \"services/worker\"",
        "path = \"services/worker\"\ndockerfile = \"docker/worker.Dockerfile\"",
    );
    let base = repo.commit("shared docker folder");
    repo.append("docker/worker.Dockerfile", "LABEL team=jobs\n");
    let head = repo.commit("label");
    let plan = repo.plan(&base, &head);
    assert_eq!(deploying(&plan), set(&["worker"]));
    assert_eq!(reason_kinds(&plan, "worker"), set(&["dockerfile_changed"]));
}

#[test]
fn deleting_a_file_in_a_service_deploys_it() {
    let (_, plan) =
        plan_after(|r| r.remove("services/api/migrations/002_add_items_description.sql"));
    assert_eq!(deploying(&plan), set(&["api"]));
    let reason = &unit(&plan, "api")["reasons"][0];
    assert_eq!(reason["kind"], "file_changed");
    assert_eq!(reason["change"], "deleted");
    assert_eq!(
        reason["path"],
        "services/api/migrations/002_add_items_description.sql"
    );
}

#[test]
fn renaming_a_file_in_a_service_deploys_it() {
    let (_, plan) = plan_after(|r| {
        r.rename(
            "services/api/migrations/002_add_items_description.sql",
            "services/api/migrations/002_describe_items.sql",
        )
    });
    assert_eq!(deploying(&plan), set(&["api"]));
    let reason = &unit(&plan, "api")["reasons"][0];
    assert_eq!(reason["change"], "renamed");
    assert_eq!(
        reason["from"],
        "services/api/migrations/002_add_items_description.sql"
    );
    assert_eq!(
        reason["path"],
        "services/api/migrations/002_describe_items.sql"
    );
}

#[test]
fn a_dev_dependency_change_deploys_nothing() {
    let (_, plan) = plan_after(|r| {
        r.append(
            "services/api/Cargo.toml",
            "\n[dev-dependencies]\nserde_json = \"1\"\n",
        );
        r.write("services/api/tests/health.rs", "#[test]\nfn runs() {}\n");
    });
    assert_eq!(deploying(&plan), set(&[]));
}

#[test]
fn a_release_profile_change_deploys_every_rust_service() {
    let (_, plan) =
        plan_after(|r| r.replace("Cargo.toml", "codegen-units = 4", "codegen-units = 1"));
    assert_eq!(deploying(&plan), set(&["api", "worker"]));
    let reason = &unit(&plan, "worker")["reasons"][0];
    assert_eq!(reason["kind"], "cargo_setting_changed");
    assert_eq!(reason["section"], "profile.release");
}

#[test]
fn a_dev_profile_change_or_a_new_member_line_deploys_nothing() {
    let (_, plan) = plan_after(|r| {
        r.replace(
            "Cargo.toml",
            "[profile.dev]\ndebug = \"line-tables-only\"",
            "[profile.dev]\ndebug = 0",
        );
        r.replace("Cargo.toml", "\"crates/*\"]", "\"crates/*\", \"tools/*\"]");
    });
    assert_eq!(deploying(&plan), set(&[]));
}

#[test]
fn a_revert_gives_back_the_earlier_fingerprint_exactly() {
    let repo = Repo::example();
    let original = repo.read("crates/common/src/lib.rs");
    let first = repo.commit("first");
    repo.append("crates/common/src/lib.rs", "\npub fn extra() {}\n");
    let changed = repo.commit("change");
    repo.write("crates/common/src/lib.rs", &original);
    let reverted = repo.commit("revert");
    let across = repo.plan(&first, &reverted);
    assert_eq!(deploying(&across), set(&[]));
    for unit in crate::support::units(&across) {
        assert_eq!(unit["fingerprint"], unit["base_fingerprint"], "{unit:#}");
    }
    let forward = repo.plan(&first, &changed);
    assert_ne!(
        unit(&forward, "api")["fingerprint"],
        unit(&across, "api")["fingerprint"]
    );
}

#[test]
fn a_new_service_in_deploy_toml_deploys_with_reason_new() {
    let (_, plan) = plan_after(|r| {
        r.write(
            "services/edge/Dockerfile",
            "FROM scratch\nCOPY edge.conf /edge.conf\n",
        );
        r.write("services/edge/edge.conf", "listen 80;\n");
        r.append(
            "deploy.toml",
            "\n[services.edge]\npath = \"services/edge\"\nkind = \"docker\"\n",
        );
    });
    assert_eq!(deploying(&plan), set(&["edge"]));
    assert_eq!(reason_kinds(&plan, "edge"), set(&["new"]));
    assert!(unit(&plan, "edge")["base_fingerprint"].is_null());
}

#[test]
fn a_build_setting_in_deploy_toml_deploys_only_that_service() {
    let (_, plan) = plan_after(|r| {
        r.replace(
            "deploy.toml",
            "path = \"services/worker\"",
            "path = \"services/worker\"\nbuild_args = { MODE = \"fast\" }",
        )
    });
    assert_eq!(deploying(&plan), set(&["worker"]));
    assert_eq!(reason_kinds(&plan, "worker"), set(&["recipe_changed"]));
}

#[test]
fn turning_auditable_off_rebuilds_that_service_only() {
    // The binary holds what cargo-auditable embeds: without it, another image.
    let (_, plan) = plan_after(|r| {
        r.replace(
            "deploy.toml",
            "path = \"services/worker\"\nauditable = true\n",
            "path = \"services/worker\"\n",
        )
    });
    assert_eq!(deploying(&plan), set(&["worker"]));
    assert_eq!(reason_kinds(&plan, "worker"), set(&["recipe_changed"]));
}

#[test]
fn json_plan_follows_the_documented_contract() {
    let (repo, plan) = plan_after(|r| r.append("crates/jobs/src/lib.rs", "\n// jobs\n"));
    assert_eq!(plan["schema"], 1);
    assert_eq!(plan["head"].as_str().unwrap().len(), 40);
    assert_eq!(plan["base"].as_str().unwrap().len(), 40);
    let worker = unit(&plan, "worker");
    assert_eq!(worker["fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(worker["base_fingerprint"].as_str().unwrap().len(), 64);
    let reason = &worker["reasons"][0];
    assert!(
        reason["kind"].is_string() && reason["detail"].is_string(),
        "{reason:#}"
    );
    assert!(
        plan.get("dirty_inputs").is_none(),
        "--head given: the working tree is not consulted"
    );
    let _ = repo;
}

#[test]
fn github_matrix_lists_the_services_to_deploy() {
    let repo = Repo::example();
    let base = repo.commit("base");
    repo.append("crates/common/src/lib.rs", "\n// both\n");
    repo.append("apps/admin/src/assets/style.css", "\n/* app */\n");
    let head = repo.commit("change");
    let output = repo.xtask(&[
        "plan",
        "--base",
        &base,
        "--head",
        &head,
        "--format",
        "github-matrix",
    ]);
    assert_success(&output);
    let matrix: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let services: Vec<&str> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "worker"]);
    assert_eq!(
        matrix["include"][0]["fingerprint"].as_str().unwrap().len(),
        64
    );
}

/// `--shards N` splits the matrix into at most N build jobs, each a list of services:
/// api and worker share most of their crate closure (crates/common and what it locks), so
/// one job builds both, however many shards are allowed. Without the matrix format the
/// flag is a usage error.
#[test]
fn github_matrix_shards_keep_services_sharing_their_closure_in_one_job() {
    let repo = Repo::example();
    let base = repo.commit("base");
    repo.append("crates/common/src/lib.rs", "\n// both\n");
    let head = repo.commit("change");
    let args = [
        "plan",
        "--base",
        &base,
        "--head",
        &head,
        "--format",
        "github-matrix",
    ];
    let output = repo.xtask(&[&args[..], &["--shards", "3"]].concat());
    assert_success(&output);
    let matrix: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        matrix["include"],
        serde_json::json!([{"shard": 1, "services": "api,worker", "count": 2}]),
        "{matrix}"
    );
    let refused = repo.xtask(&["plan", "--base", &base, "--shards", "2"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("add `--format github-matrix`"),
        "{refused:?}"
    );
}

#[test]
fn text_plan_is_a_table_with_first_reason_and_count() {
    let repo = Repo::example();
    let base = repo.commit("base");
    repo.append("crates/common/src/lib.rs", "\n// one\n");
    repo.append("services/api/src/main.rs", "\n// two\n");
    let head = repo.commit("change");
    let output = repo.xtask(&["plan", "--base", &base, "--head", &head]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("2 to deploy, 2 unchanged"), "{text}");
    let api = text.lines().find(|l| l.contains(" api ")).unwrap();
    assert!(api.trim_start().starts_with("DEPLOY"), "{api}");
    assert!(
        api.contains("file `services/api/src/main.rs` modified (+1 more)"),
        "{api}"
    );
    let admin = text.lines().find(|l| l.contains(" admin ")).unwrap();
    assert!(
        admin.trim_start().starts_with("skip") && admin.contains("unchanged"),
        "{admin}"
    );
}

#[test]
fn uncommitted_input_changes_are_reported_never_mixed_in() {
    let repo = Repo::example();
    let base = repo.commit("base");
    let clean = repo.plan(&base, "HEAD");
    repo.append("services/api/src/main.rs", "\n// not committed\n");
    repo.append("README.md", "\nnot an input\n");
    let output = repo.xtask(&["plan", "--base", &base, "--format", "json"]);
    assert_success(&output);
    let dirty: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        dirty["dirty_inputs"],
        serde_json::json!([{"path": "services/api/src/main.rs", "units": ["api"]}])
    );
    assert_eq!(
        deploying(&dirty),
        set(&[]),
        "dirty files are not in the plan"
    );
    assert_eq!(
        unit(&dirty, "api")["fingerprint"],
        unit(&clean, "api")["fingerprint"]
    );
    let text = stdout(&repo.xtask(&["plan", "--base", &base]));
    assert!(
        text.contains("warning: 1 uncommitted input path(s) are not in this plan"),
        "{text}"
    );
    assert!(text.contains("services/api/src/main.rs (api)"), "{text}");
}

#[test]
fn explain_prints_the_manifest_and_what_differs() {
    let repo = Repo::example();
    let base = repo.commit("base");
    bump_lock(&repo, "serde_json", "1.0.999");
    let head = repo.commit("bump");
    let output = repo.xtask(&["explain", "worker", "--base", &base, "--head", &head]);
    assert_success(&output);
    let text = stdout(&output);
    for expected in [
        "worker (service) at",
        "crate jobs",
        "crate common",
        "package fastrand",
        "recipe: {",
        "\"dockerfile\":\"services/worker/Dockerfile\"",
        "global .cargo/config.toml",
        "cargo profile.release",
        "DEPLOY, because:",
        "`serde_json` ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('*'))
        .collect();
    assert_eq!(changed.len(), 1, "only serde_json differs: {changed:?}");
    assert!(changed[0].contains("package serde_json"), "{changed:?}");

    let json = repo.xtask(&[
        "explain", "worker", "--base", &base, "--head", &head, "--format", "json",
    ]);
    assert_success(&json);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["action"], "deploy");
    assert!(json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["input"] == "crate jobs"));
}

#[test]
fn explain_of_an_unknown_unit_lists_the_known_ones() {
    let repo = Repo::example();
    let output = repo.xtask(&["explain", "billing", "--base", "HEAD"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("`billing` is not a service or app")
            && err.contains("api, worker, admin, portal"),
        "{err}"
    );
}

#[test]
fn a_path_patch_makes_the_patched_folder_an_input_of_its_users() {
    let repo = Repo::example();
    let version = {
        let lock = repo.read("Cargo.lock");
        let header = "name = \"fastrand\"\nversion = \"";
        let start = lock.find(header).unwrap() + header.len();
        lock[start..start + lock[start..].find('"').unwrap()].to_owned()
    };
    repo.write(
        "vendor/fastrand/Cargo.toml",
        &format!("[package]\nname = \"fastrand\"\nversion = \"{version}\"\nedition = \"2021\"\n"),
    );
    repo.write(
        "vendor/fastrand/src/lib.rs",
        "pub fn u64(_: std::ops::RangeInclusive<u64>) -> u64 { 0 }\n",
    );
    repo.append(
        "Cargo.toml",
        "\n[patch.crates-io]\nfastrand = { path = \"vendor/fastrand\" }\n",
    );
    // Let cargo itself rewrite the lockfile for the patch, as a user's build would.
    let status = std::process::Command::new("cargo")
        .args(["metadata", "--format-version", "1"])
        .current_dir(repo.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo metadata updates the lockfile");
    assert!(!repo.read("Cargo.lock").contains(&format!(
        "name = \"fastrand\"\nversion = \"{version}\"\nsource"
    )));
    let base = repo.commit("vendor fastrand");
    repo.append("vendor/fastrand/src/lib.rs", "// tuned\n");
    let head = repo.commit("tune vendored fastrand");
    let plan = repo.plan(&base, &head);
    assert_eq!(deploying(&plan), set(&["worker"]));
    let reason = &unit(&plan, "worker")["reasons"][0];
    assert_eq!(reason["kind"], "crate_changed");
    assert_eq!(reason["crate"], "fastrand");
    assert_eq!(reason["paths"][0], "vendor/fastrand/src/lib.rs");
}

#[test]
fn a_missing_dockerfile_or_binary_is_a_warning_that_names_it() {
    let (repo, _) = plan_after(|r| {
        r.remove("services/worker/Dockerfile");
        r.replace(
            "deploy.toml",
            "[services.api]\n",
            "[services.api]\nbin = \"apiserver\"\n",
        );
    });
    let output = repo.xtask(&["plan", "--base", "HEAD~1", "--format", "json"]);
    assert_success(&output);
    let warnings = stderr(&output);
    let api_line = repo
        .read("deploy.toml")
        .lines()
        .position(|l| l == "[services.api]")
        .unwrap()
        + 1;
    assert!(
        warnings.contains(&format!(
            "warning: deploy.toml:{api_line}: [missing-binary] service `api`: crate `api` builds only api, not `apiserver`"
        )),
        "{warnings}"
    );
    assert!(
        warnings.contains("[missing-dockerfile] service `worker`: its Dockerfile `services/worker/Dockerfile` does not exist"),
        "{warnings}"
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        unit(&plan, "worker")["findings"][0]["kind"],
        "missing_dockerfile"
    );
    assert_eq!(unit(&plan, "api")["findings"][0]["kind"], "missing_binary");
    let check = repo.xtask(&["check", "--fast"]);
    assert_eq!(check.status.code(), Some(3), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("[missing-binary]"),
        "{}",
        stdout(&check)
    );
}
