//! `cargo xtask bench deploy`: is a deploy of many services parallel? A generated monorepo
//! of N services (non-Rust, `FROM scratch`, so building is not what is measured) is
//! deployed to the local stack through the real-AWS code path (`AWS_ENDPOINT_URL`) with a
//! latency injected into every AWS call. The baseline, measured in the same run, is the
//! slowest of a few single-service deploys; the figure is the whole deploy's wall time
//! against it. Every deploy goes to fresh environments, so every service really rolls.

use super::{git, measure, Sample};
use crate::cli::BenchDeployArgs;
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use xtask_aws::config::Config;
use xtask_aws::context::Context;
use xtask_local::Stack;

pub fn run(ctx: &Context, args: &BenchDeployArgs) -> Result<()> {
    let mut stack = Stack::open(ctx)?;
    stack.ensure_running()?;
    let endpoint = stack
        .endpoint()
        .context("the local stack has no endpoint")?;
    let project = format!("bench{:x}", fastrand::u32(..));
    let repo = generate(ctx, &project, args)?;
    let config = Config::parse(
        "deploy.toml",
        &std::fs::read_to_string(repo.join("deploy.toml"))?,
    )?;
    eprintln!(
        "creating {} environments' resources",
        config.environments.len()
    );
    for env in config.environments.keys() {
        stack.bootstrap(&config, env)?;
    }
    let deploy = |env: &str, extra: &[&str]| {
        let mut command = Command::new(std::env::current_exe().expect("the running xtask"));
        command
            .arg("-C")
            .arg(&repo)
            .args(["deploy", "--env", env, "--all", "--yes", "--format", "json"])
            .args(extra)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", xtask_aws::aws::LOCAL_ACCOUNT)
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE");
        command
    };
    eprintln!("warm-up: building and pushing {} images", args.services);
    measure(&mut deploy("warm", &[]))?;
    let faults = Faults::inject(&endpoint, args.latency_ms)?;
    let mut singles = Vec::new();
    for run in 1..=args.singles {
        let service = service_name((run * 7) % args.services);
        eprintln!("single-service deploy {run}/{} ({service})", args.singles);
        singles.push(measure(&mut deploy(
            &format!("single{run}"),
            &["--services", &service],
        ))?);
    }
    let mut wholes = Vec::new();
    for run in 1..=args.runs {
        eprintln!("{}-service deploy {run}/{}", args.services, args.runs);
        wholes.push(measure(&mut deploy(&format!("all{run}"), &[]))?);
    }
    drop(faults);
    report(args, &singles, &wholes);
    Ok(())
}

fn service_name(index: usize) -> String {
    format!("s{index:02}")
}

/// A monorepo of `args.services` Docker services and one environment per measured deploy.
fn generate(ctx: &Context, project: &str, args: &BenchDeployArgs) -> Result<PathBuf> {
    let dir = ctx
        .root
        .join(format!("target/bench/deploy-{}", args.services));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let mut toml = format!("project = \"{project}\"\ndefault_env = \"warm\"\n");
    let envs = std::iter::once("warm".to_owned())
        .chain((1..=args.singles).map(|i| format!("single{i}")))
        .chain((1..=args.runs).map(|i| format!("all{i}")));
    for env in envs {
        toml.push_str(&format!(
            "\n[environments.{env}]\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n"
        ));
    }
    for index in 0..args.services {
        let name = service_name(index);
        toml.push_str(&format!(
            "\n[services.{name}]\npath = \"services/{name}\"\nkind = \"docker\"\necr_repository = \"bench/{{name}}\"\n"
        ));
        let folder = dir.join("services").join(&name);
        std::fs::create_dir_all(&folder)?;
        std::fs::write(
            folder.join("Dockerfile"),
            "FROM scratch\nCOPY hello.txt /\n",
        )?;
        std::fs::write(folder.join("hello.txt"), format!("service {name}\n"))?;
    }
    std::fs::write(dir.join("deploy.toml"), toml)?;
    git(&dir, &["init", "-q", "-b", "main"])?;
    git(&dir, &["add", "-A"])?;
    git(
        &dir,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-q",
            "-m",
            "generated",
        ],
    )?;
    Ok(dir)
}

/// Latency faults on every AWS service the deploy calls, removed on drop.
struct Faults {
    endpoint: String,
    ids: Vec<String>,
}

impl Faults {
    fn inject(endpoint: &str, ms: u64) -> Result<Faults> {
        let mut faults = Faults {
            endpoint: endpoint.to_owned(),
            ids: Vec::new(),
        };
        for operation in ["ecs:*", "ecr:*", "s3:*", "sts:*"] {
            let body = serde_json::json!({"kind": "latency", "ms": ms, "operation": operation});
            let answer = xtask_aws::http::post_json(&format!("{endpoint}/_xtask/faults"), &body)?;
            let added: serde_json::Value = serde_json::from_str(&answer)?;
            faults
                .ids
                .push(added["id"].as_str().context("a fault id")?.to_owned());
        }
        Ok(faults)
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        for id in &self.ids {
            let url = format!("{}/_xtask/faults/{id}", self.endpoint);
            if let Ok(agent) = xtask_aws::http::agent(std::time::Duration::from_secs(30)) {
                let _ = agent.delete(&url).call();
            }
        }
    }
}

fn report(args: &BenchDeployArgs, singles: &[Sample], wholes: &[Sample]) {
    let secs = |d: Duration| d.as_secs_f64();
    let slowest = singles.iter().map(|s| secs(s.wall)).fold(0.0, f64::max);
    let mut whole: Vec<f64> = wholes.iter().map(|s| secs(s.wall)).collect();
    whole.sort_by(f64::total_cmp);
    let median = whole[whole.len() / 2];
    let list = |v: &[Sample]| {
        v.iter()
            .map(|s| format!("{:.2}s", secs(s.wall)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "deploy of {} services, {} ms injected on every AWS call\n",
        args.services, args.latency_ms
    );
    println!("| single-service deploys | slowest | {}-service deploys | median | median / slowest single |", args.services);
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {slowest:.2}s | {} | {median:.2}s | {:.2}× |",
        list(singles),
        list(wholes),
        median / slowest
    );
}
