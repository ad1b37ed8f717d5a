//! `deploy.toml` against `infra/terraform`: for every AWS environment of deploy.toml, its
//! `environments/<env>.tfvars` names the same account and region, and the locals of
//! `names.tf` (evaluated with that file's variables) give exactly the names the tool looks
//! up: cluster, state bucket, ECS services, ECR repositories, migration families, app
//! buckets, and each service's strategy (a blue/green, canary or linear one gets the load
//! balancer). A difference would make a deploy fail its pre-flight check in that account.
//! And one owner for what each deploy sets: the ECS services ignore changes to the task
//! definition, the deployment configuration and the alarms, which an apply would revert.

use super::{Finding, Outcome};
use crate::config::{Config, FILE_NAME};
use crate::context::Context;
use anyhow::{Context as _, Result};
use hcl::eval::{Context as EvalContext, Evaluate as _};
use hcl::{Body, Map, Value};
use std::path::Path;

pub const DIR: &str = "infra/terraform";
const NAMES: &str = "infra/terraform/names.tf";

/// What each deploy sets on an ECS service, which Terraform must leave alone.
const TOOL_OWNED: [&str; 3] = ["task_definition", "deployment_configuration", "alarms"];

/// The `.tf` files of `infra/terraform`, parsed.
pub struct Terraform {
    /// `(path from the root, text, body)`, by path.
    pub files: Vec<(String, String, Body)>,
}

impl Terraform {
    /// `None` when the monorepo has no `infra/terraform`.
    pub fn load(root: &Path) -> Result<Option<Terraform>> {
        let dir = root.join(DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tf") {
                let name = format!("{DIR}/{}", path.file_name().unwrap().to_string_lossy());
                let text = std::fs::read_to_string(&path)?;
                let body = hcl::parse(&text).with_context(|| format!("{name} is not valid HCL"))?;
                files.push((name, text, body));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(Terraform { files }))
    }

    /// Every block `kind "label" ... {}` of every file.
    pub fn blocks<'t>(&'t self, kind: &'t str) -> impl Iterator<Item = &'t hcl::Block> + 't {
        self.files
            .iter()
            .flat_map(|(_, _, body)| body.blocks())
            .filter(move |b| b.identifier() == kind)
    }

    /// The variables of one `.tfvars` file over the `variable` blocks' defaults.
    pub fn variables(&self, tfvars: &str) -> Result<Map<String, Value>> {
        let mut vars = Map::new();
        for block in self.blocks("variable") {
            let name = block.labels().first().map(|l| l.as_str().to_owned());
            let default = block.body().attributes().find(|a| a.key() == "default");
            if let (Some(name), Some(default)) = (name, default) {
                vars.insert(name, evaluate(default.expr(), &EvalContext::new())?);
            }
        }
        for attribute in hcl::parse(tfvars)?.attributes() {
            vars.insert(
                attribute.key().to_owned(),
                evaluate(attribute.expr(), &EvalContext::new())?,
            );
        }
        Ok(vars)
    }

    /// Every local, evaluated with `vars` (locals may use each other, in any order).
    pub fn locals(&self, vars: &Map<String, Value>) -> Result<Map<String, Value>> {
        let pending: Vec<&hcl::Attribute> = self
            .blocks("locals")
            .flat_map(|b| b.body().attributes())
            .collect();
        let mut locals = Map::new();
        let mut pending = pending;
        while !pending.is_empty() {
            let mut ctx = EvalContext::new();
            ctx.declare_var("var", Value::Object(vars.clone()));
            ctx.declare_var("local", Value::Object(locals.clone()));
            let before = pending.len();
            let mut waiting = Vec::new();
            let mut last_error = None;
            for attribute in pending {
                match evaluate(attribute.expr(), &ctx) {
                    Ok(value) => {
                        locals.insert(attribute.key().to_owned(), value);
                    }
                    Err(err) => {
                        last_error = Some(err);
                        waiting.push(attribute);
                    }
                }
            }
            if waiting.len() == before {
                let names: Vec<&str> = waiting.iter().map(|a| a.key()).collect();
                return Err(last_error
                    .expect("a local failed")
                    .context(format!("evaluating locals {}", names.join(", "))));
            }
            pending = waiting;
        }
        Ok(locals)
    }
}

fn evaluate(expr: &hcl::Expression, ctx: &EvalContext) -> Result<Value> {
    expr.evaluate(ctx)
        .map_err(|errors| anyhow::anyhow!("{errors}"))
}

pub fn check(ctx: &Context) -> Result<Outcome> {
    let Ok(config) = Config::parse(
        FILE_NAME,
        &std::fs::read_to_string(ctx.root.join(FILE_NAME)).unwrap_or_default(),
    ) else {
        return Ok(Outcome::Failed(
            "skipped: deploy.toml does not load (see its check)".into(),
        ));
    };
    let terraform = match Terraform::load(&ctx.root) {
        Ok(Some(terraform)) => terraform,
        Ok(None) => return Ok(Outcome::Passed),
        Err(err) => return Ok(Outcome::Failed(format!("error: {err:#}"))),
    };
    Ok(Outcome::Findings(compare(&ctx.root, &config, &terraform)?))
}

/// Every difference between deploy.toml's AWS environments and the Terraform's names.
pub fn compare(root: &Path, config: &Config, terraform: &Terraform) -> Result<Vec<Finding>> {
    let names_text = terraform
        .files
        .iter()
        .find(|(path, _, _)| path == NAMES)
        .map(|(_, text, _)| text.as_str())
        .unwrap_or("");
    let mut findings = ownership(terraform);
    for (env, environment) in config.environments.iter().filter(|(_, e)| !e.local_stack) {
        let tfvars_path = format!("{DIR}/environments/{env}.tfvars");
        let Ok(tfvars) = std::fs::read_to_string(root.join(&tfvars_path)) else {
            findings.push(finding(
                &tfvars_path,
                None,
                "infra-environment",
                format!("environment {env} of deploy.toml has no tfvars file here"),
            ));
            continue;
        };
        let vars = terraform.variables(&tfvars)?;
        let (from_env, from_account) = promote_from(config, env);
        let wanted = [
            ("environment", Value::from(env.as_str())),
            (
                "account_id",
                environment.account_id.get_ref().as_str().into(),
            ),
            ("region", environment.region.get_ref().as_str().into()),
            // The accounts a promotion reads from and is read by: their policies.
            ("promote_from_environment", from_env.into()),
            ("promote_from_account_id", from_account.into()),
            (
                "promoted_by_account_ids",
                promoted_by_accounts(config, env).into(),
            ),
        ];
        for (var, value) in wanted {
            let found = vars.get(var);
            if found != Some(&value) {
                findings.push(finding(
                    &tfvars_path,
                    line_of(&tfvars, var),
                    "infra-environment",
                    format!(
                        "`{var}` is {} here but `{}` in deploy.toml",
                        found.map_or("missing".into(), |f| format!("`{}`", shown(f))),
                        shown(&value)
                    ),
                ));
            }
        }
        let locals = terraform.locals(&vars)?;
        for (local, expected) in expected_names(config, env) {
            let found = locals.get(local).map(plain);
            if found.as_ref() != Some(&expected) {
                findings.push(finding(
                    NAMES,
                    line_of(names_text, local),
                    "infra-name",
                    format!(
                        "environment {env}: `local.{local}` is {} but deploy.toml says {}",
                        found.map_or("missing".into(), |f| f.to_string()),
                        expected
                    ),
                ));
            }
        }
    }
    Ok(findings)
}

/// Every `aws_ecs_service` must ignore changes to what the tool sets on each deploy
/// ([`TOOL_OWNED`]): otherwise the next apply reverts the task definition, the strategy,
/// the bakes, the alarms and the tool's PAUSE hook.
fn ownership(terraform: &Terraform) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (path, text, body) in &terraform.files {
        let services = (body.blocks())
            .filter(|b| b.identifier() == "resource")
            .filter(|b| {
                b.labels()
                    .first()
                    .is_some_and(|l| l.as_str() == "aws_ecs_service")
            });
        for service in services {
            let ignored = ignored_changes(service.body());
            let missing: Vec<&str> = (TOOL_OWNED.iter().copied())
                .filter(|field| !ignored.iter().any(|i| i == field))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let name = service.labels().get(1).map_or("?", |l| l.as_str());
            findings.push(finding(
                path,
                line_of(text, "ignore_changes").or_else(|| line_of_block(text, name)),
                "infra-ownership",
                format!(
                    "aws_ecs_service.{name} does not ignore changes to {}: `cargo xtask deploy` sets them from {FILE_NAME} on each deploy, and the next apply would revert them (add them to lifecycle.ignore_changes)",
                    missing.join(", ")
                ),
            ));
        }
    }
    findings
}

/// The names in a resource's `lifecycle { ignore_changes = [...] }`.
fn ignored_changes(body: &Body) -> Vec<String> {
    (body.blocks())
        .filter(|b| b.identifier() == "lifecycle")
        .flat_map(|b| b.body().attributes())
        .filter(|a| a.key() == "ignore_changes")
        .flat_map(|a| match a.expr() {
            hcl::Expression::Array(items) => items.clone(),
            _ => Vec::new(),
        })
        .filter_map(|item| match item {
            hcl::Expression::Variable(name) => Some(name.as_str().to_owned()),
            hcl::Expression::Traversal(traversal) => match &traversal.expr {
                hcl::Expression::Variable(name) => Some(name.as_str().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The line of `resource "..." "<name>"`, 1-based.
fn line_of_block(text: &str, name: &str) -> Option<usize> {
    let label = format!("\"{name}\"");
    (text
        .lines()
        .position(|line| line.starts_with("resource") && line.contains(&label)))
    .map(|i| i + 1)
}

/// The environment `env` promotes from and its account (`""` twice: it builds).
fn promote_from(config: &Config, env: &str) -> (String, String) {
    (config.environments[env].promote_from.as_ref())
        .and_then(|from| Some((from.get_ref(), config.environments.get(from.get_ref())?)))
        .map_or_else(Default::default, |(from, source)| {
            (from.clone(), source.account_id.get_ref().clone())
        })
}

/// The accounts of the AWS environments that promote from `env`, sorted.
fn promoted_by_accounts(config: &Config, env: &str) -> Vec<String> {
    let mut accounts: Vec<String> = (config.environments.values())
        .filter(|e| !e.local_stack && e.promote_from.as_ref().is_some_and(|f| f.get_ref() == env))
        .map(|e| e.account_id.get_ref().clone())
        .collect();
    accounts.sort();
    accounts.dedup();
    accounts
}

/// What each local of `names.tf` must be in `env`, from deploy.toml.
fn expected_names(config: &Config, env: &str) -> Vec<(&'static str, serde_json::Value)> {
    let names = config.names(env);
    let map = |pairs: Vec<(String, String)>| {
        serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        )
    };
    let services = |name: &dyn Fn(&crate::config::Service) -> String, migrations_only: bool| {
        map(config
            .services
            .iter()
            .filter(|s| !migrations_only || s.migrations.is_some())
            .map(|s| (s.name.clone(), name(s)))
            .collect())
    };
    let cache = names
        .build_cache()
        .map(|bucket| ("build_cache_bucket", bucket.into()));
    let mut expected = vec![
        ("cluster_name", names.cluster().into()),
        (
            "strategies",
            services(&|s| s.delivery.kind().key().to_owned(), false),
        ),
        ("state_bucket", names.state_bucket().into()),
        ("ecs_services", services(&|s| names.ecs_service(s), false)),
        (
            "ecr_repositories",
            services(&|s| names.ecr_repository(s), false),
        ),
        (
            "migration_families",
            services(&|s| names.migration_family(s), true),
        ),
        (
            "app_buckets",
            map(config
                .apps
                .iter()
                .map(|a| (a.name.clone(), names.bucket(a)))
                .collect()),
        ),
    ];
    // Only where deploy.toml names one: an environment that promotes builds nothing.
    expected.extend(cache);
    expected
}

/// An HCL value as JSON, for comparing and printing.
/// A tfvars value as written: a string without its quotes.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn plain(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// The line that assigns `key` (`key = ...`), 1-based.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

fn finding(file: &str, line: Option<usize>, rule: &'static str, message: String) -> Finding {
    Finding {
        file: file.to_owned(),
        line,
        rule,
        message,
    }
}
