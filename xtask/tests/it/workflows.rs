//! The GitHub workflows in `.github/workflows`: every `cargo xtask` command line in them
//! parses with the real CLI, and each workflow does what the README promises (checks on
//! every push and pull request, staging after CI passed on main, production by hand behind
//! an environment, AWS credentials from OIDC only); and zizmor and actionlint, the field's
//! own workflow linters, find nothing in them and do find an action pinned by a tag.

use crate::support::source_root;
use clap::Parser as _;
use xtask::cli::{Cli, Command};
use yaml_rust2::{Yaml, YamlLoader};

fn workflow(name: &str) -> Yaml {
    let path = source_root().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .remove(0)
}

/// Every `run:` script of every job's steps.
fn scripts(workflow: &Yaml) -> Vec<String> {
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    jobs.values()
        .flat_map(|job| job["steps"].as_vec().cloned().unwrap_or_default())
        .filter_map(|step| step["run"].as_str().map(str::to_owned))
        .collect()
}

/// Each `cargo xtask …` command of a script, parsed by the real CLI. A `${{ … }}`
/// expression stands for one word.
fn commands(workflow: &Yaml) -> Vec<(String, Cli)> {
    let mut parsed = Vec::new();
    for script in scripts(workflow) {
        for line in script.replace("\\\n", " ").lines() {
            let Some(at) = line.find("cargo xtask") else {
                continue;
            };
            let line = line[at..].trim().to_owned();
            let mut words = shlex::split(&expressions_as_words(&line))
                .unwrap_or_else(|| panic!("cannot split `{line}`"));
            words.drain(..2);
            let cli = Cli::try_parse_from(std::iter::once("cargo xtask".to_owned()).chain(words))
                .unwrap_or_else(|e| panic!("`{line}` does not parse:\n{e}"));
            parsed.push((line, cli));
        }
    }
    parsed
}

fn expressions_as_words(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        out.push_str("EXPRESSION");
        let end = rest[start..].find("}}").expect("closed expression");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn text(name: &str) -> String {
    std::fs::read_to_string(source_root().join(".github/workflows").join(name)).unwrap()
}

#[test]
fn ci_runs_the_checks_on_every_push_and_pull_request() {
    let ci = workflow("ci.yml");
    assert!(!ci["on"]["push"].is_badvalue() && !ci["on"]["pull_request"].is_badvalue());
    let commands = commands(&ci);
    assert!(
        commands
            .iter()
            .any(|(_, cli)| matches!(&cli.command, Command::Check(args) if !args.fast)),
        "{:?}",
        commands.iter().map(|(l, _)| l).collect::<Vec<_>>()
    );
}

#[test]
fn deploy_goes_to_staging_on_main_and_to_production_by_hand_with_oidc() {
    let deploy = workflow("deploy.yml");
    // Staging only after CI passed on main, never in parallel with it.
    let after_ci = &deploy["on"]["workflow_run"];
    assert_eq!(after_ci["workflows"][0].as_str(), Some("ci"));
    assert_eq!(after_ci["branches"][0].as_str(), Some("main"));
    assert!(deploy["jobs"]["staging-plan"]["if"]
        .as_str()
        .unwrap()
        .contains("conclusion == 'success'"));
    for job in ["deploy", "build", "release"] {
        let needs = &deploy["jobs"][job]["needs"];
        let needs: Vec<&str> = (needs
            .as_vec()
            .map(|v| v.iter().filter_map(Yaml::as_str).collect()))
        .unwrap_or_else(|| needs.as_str().into_iter().collect());
        assert!(needs.contains(&"staging-plan"), "{job} runs after the plan");
    }
    let choices = &deploy["on"]["workflow_dispatch"]["inputs"]["environment"]["options"];
    assert!(choices
        .as_vec()
        .unwrap()
        .contains(&Yaml::String("production".into())));
    assert_eq!(
        deploy["jobs"]["deploy"]["permissions"]["id-token"].as_str(),
        Some("write")
    );
    let job = &deploy["jobs"]["deploy"];
    // The job runs in a GitHub environment: production's required reviewers gate it.
    assert!(job["environment"].as_str().unwrap().contains("staging"));
    let commands = commands(&deploy);
    let deploys: Vec<_> = commands
        .iter()
        .filter_map(|(_, cli)| match &cli.command {
            Command::Deploy(args) => Some(args),
            _ => None,
        })
        .collect();
    assert!(deploys
        .iter()
        .any(|a| a.changed && a.run.yes && !a.run.dry_run));
    assert!(
        deploys.iter().all(|a| a.run.env.is_some()),
        "always names --env"
    );
}

#[test]
fn production_is_a_promotion_whose_plan_is_shown_before_its_approval() {
    let deploy = workflow("deploy.yml");
    let (plan, promote) = (&deploy["jobs"]["plan"], &deploy["jobs"]["promote"]);
    // The plan runs without the environment (no approval yet), with the read-only role.
    assert!(plan["environment"].is_badvalue(), "{plan:?}");
    let role = |job: &Yaml| {
        (job["steps"].as_vec().unwrap().iter())
            .find_map(|s| s["with"]["role-to-assume"].as_str().map(str::to_owned))
            .unwrap()
    };
    assert!(role(plan).contains("PLAN_ROLE"), "{}", role(plan));
    // The promotion waits for the plan, then for production's reviewers.
    assert_eq!(promote["needs"].as_str(), Some("plan"));
    assert_eq!(promote["environment"].as_str(), Some("production"));
    assert!(role(promote).contains("AWS_DEPLOY_ROLE_ARN"));
    let config = xtask::config::Config::parse(
        "deploy.toml",
        &std::fs::read_to_string(source_root().join("deploy.toml")).unwrap(),
    )
    .unwrap();
    let configured = config.environments["production"]
        .promote_from
        .as_ref()
        .map(|f| f.get_ref().as_str());
    for (job, dry_run) in [(plan, true), (promote, false)] {
        let steps = job["steps"].as_vec().unwrap();
        let step = steps.iter().find(|s| s["run"].as_str().is_some()).unwrap();
        let line = step["run"].as_str().unwrap();
        let (_, cli) = commands(&workflow("deploy.yml"))
            .into_iter()
            .find(|(l, _)| l == line)
            .unwrap();
        let Command::Deploy(args) = cli.command else {
            panic!("{line}")
        };
        assert_eq!(args.run.dry_run, dry_run, "{line}");
        assert_eq!(args.run.env.as_deref(), Some("production"));
        // It promotes (deploy.toml's promote_from), of the commit the input names, if any.
        assert_eq!(args.promotes_from(configured).as_deref(), Some("staging"));
        assert_eq!(
            step["env"]["XTASK_PROMOTE_SHA"].as_str(),
            Some("${{ inputs.sha }}")
        );
    }
    assert_eq!(
        deploy["on"]["workflow_dispatch"]["inputs"]["sha"]["required"].as_bool(),
        Some(false)
    );
}

#[test]
fn rollback_takes_a_commit_input() {
    let rollback = workflow("rollback.yml");
    let inputs = &rollback["on"]["workflow_dispatch"]["inputs"];
    assert_eq!(inputs["sha"]["required"].as_bool(), Some(true));
    let commands = commands(&rollback);
    assert!(commands.iter().any(|(_, cli)| matches!(
        &cli.command,
        Command::Rollback(args) if args.sha.is_some() && args.run.yes
    )));
}

#[test]
fn no_workflow_holds_long_lived_aws_keys_and_every_environment_exists() {
    let config = xtask::config::Config::parse(
        "deploy.toml",
        &std::fs::read_to_string(source_root().join("deploy.toml")).unwrap(),
    )
    .unwrap();
    for name in ["ci.yml", "deploy.yml", "rollback.yml"] {
        let text = text(name);
        for secret in [
            "aws-access-key-id",
            "AWS_SECRET_ACCESS_KEY",
            "aws-secret-access-key",
        ] {
            assert!(!text.contains(secret), "{name} uses {secret}");
        }
        let flow = workflow(name);
        if let Some(options) =
            flow["on"]["workflow_dispatch"]["inputs"]["environment"]["options"].as_vec()
        {
            for env in options {
                let env = env.as_str().unwrap();
                assert!(config.environments.contains_key(env), "{name}: {env}");
            }
        }
    }
}

#[test]
fn credentials_last_as_long_as_the_role_allows_and_the_tool_knows_when_they_expire() {
    let max_session = std::fs::read_to_string(source_root().join("infra/terraform/oidc.tf"))
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("max_session_duration"))
        .and_then(|l| l.trim_start_matches([' ', '=']).trim().parse::<i64>().ok())
        .expect("the deploy role's max_session_duration");
    for name in ["deploy.yml", "rollback.yml"] {
        let flow = workflow(name);
        let steps = flow["jobs"].as_hash().unwrap().values().next().unwrap()["steps"]
            .as_vec()
            .unwrap()
            .clone();
        let login = steps
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.contains("configure-aws-credentials"))
            })
            .unwrap();
        assert_eq!(
            login["with"]["role-duration-seconds"].as_i64(),
            Some(max_session),
            "{name}"
        );
        let id = login["id"].as_str().expect("the login step has an id");
        for step in steps
            .iter()
            .filter(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo xtask")))
        {
            assert_eq!(
                step["env"]["AWS_CREDENTIAL_EXPIRATION"].as_str(),
                Some(format!("${{{{ steps.{id}.outputs.aws-expiration }}}}").as_str()),
                "{name}: {:?}",
                step["name"]
            );
        }
    }
}

#[test]
fn force_schema_comes_from_the_environment_as_the_rollback_workflow_sets_it() {
    let parse = |value: &str| {
        // SAFETY: this test alone reads XTASK_FORCE_SCHEMA, and the parse is in-process.
        unsafe { std::env::set_var("XTASK_FORCE_SCHEMA", value) };
        let cli = Cli::try_parse_from(["cargo xtask", "rollback", "--sha", "HEAD"]).unwrap();
        unsafe { std::env::remove_var("XTASK_FORCE_SCHEMA") };
        match cli.command {
            Command::Rollback(args) => args.force_schema,
            _ => unreachable!(),
        }
    };
    assert!(parse("true"));
    assert!(!parse("false"));
}

#[test]
fn zizmor_and_actionlint_pass_the_workflows_and_catch_an_action_pinned_by_tag() {
    use xtask::check::{workflows, Outcome};
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lint-venv");
    let repo = crate::support::Repo::example();
    let outcome = workflows::lint(repo.path(), &venv).unwrap();
    if let Outcome::Failed(report) = &outcome {
        panic!("the workflows have findings:\n{report}");
    }
    let ci = repo.read(".github/workflows/ci.yml");
    let pinned = ci
        .lines()
        .find_map(|l| l.trim().strip_prefix("- uses: actions/checkout@"))
        .expect("ci.yml checks out the repository")
        .to_owned();
    repo.replace(
        ".github/workflows/ci.yml",
        &format!("actions/checkout@{pinned}"),
        "actions/checkout@v4",
    );
    let Outcome::Failed(report) = workflows::lint(repo.path(), &venv).unwrap() else {
        panic!("an action pinned by a movable tag passed");
    };
    assert!(report.contains("unpinned-uses"), "{report}");
    assert!(report.contains("node20"), "{report}");
}
