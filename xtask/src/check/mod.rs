//! `cargo xtask check`: every check CI runs, each reported, all run even when one fails.
//!
//! One file per check. A check returns its findings; this module times it, prints one
//! status line per check, the findings of the failed ones, and exits non-zero if any failed.

mod cargo;
mod config;
pub mod infra;
pub mod migrations;
mod ownership;
pub mod workflows;

use crate::cli::CheckArgs;
use crate::context::Context;
use crate::diag::Exit;
use anyhow::Result;
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// One problem a check found, with a place and a rule id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: Option<usize>,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: [{}] {}", self.file, self.rule, self.message),
            None => write!(f, "{}: [{}] {}", self.file, self.rule, self.message),
        }
    }
}

/// What a check reports: nothing, findings, or a pre-rendered report (compiler output
/// was already streamed; config diagnostics come rendered with snippets).
pub enum Outcome {
    Passed,
    Findings(Vec<Finding>),
    Failed(String),
}

type CheckFn = fn(&Context, &CheckArgs) -> Result<Outcome>;

/// Every check in the order it runs; `slow` ones (compiling, or installing their tools on
/// first use) are skipped by `--fast`.
const CHECKS: &[(&str, bool, CheckFn)] = &[
    ("deploy.toml", false, |ctx, _| config::check(ctx)),
    ("migrations", false, migrations::check),
    ("infra", false, |ctx, _| infra::check(ctx)),
    ("ownership", false, |ctx, _| ownership::check(ctx)),
    ("fmt", false, |ctx, _| cargo::fmt(ctx)),
    ("workflows", true, |ctx, _| workflows::check(ctx)),
    ("clippy", true, |ctx, _| cargo::clippy(ctx)),
    ("test", true, |ctx, _| cargo::test(ctx)),
];

pub fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let mut failed = Vec::new();
    let mut summary = Vec::new();
    for &(name, slow, check) in CHECKS {
        if slow && args.fast {
            summary.push(format!("{name:<12} skipped (--fast)"));
            continue;
        }
        eprintln!("==> check {name}");
        let started = Instant::now();
        let outcome =
            check(ctx, args).unwrap_or_else(|err| Outcome::Failed(format!("error: {err:#}")));
        let took = started.elapsed();
        match outcome {
            Outcome::Passed => summary.push(format!("{name:<12} ok      {}", seconds(took))),
            Outcome::Findings(findings) if findings.is_empty() => {
                summary.push(format!("{name:<12} ok      {}", seconds(took)));
            }
            Outcome::Findings(findings) => {
                let report: Vec<String> = findings.iter().map(ToString::to_string).collect();
                summary.push(format!(
                    "{name:<12} FAILED  {} ({} finding(s))",
                    seconds(took),
                    findings.len()
                ));
                failed.push((name, report.join("\n")));
            }
            Outcome::Failed(report) => {
                summary.push(format!("{name:<12} FAILED  {}", seconds(took)));
                failed.push((name, report));
            }
        }
    }
    for (name, report) in &failed {
        println!("\n--- {name} ---\n{}", report.trim_end());
    }
    println!("\n{}", summary.join("\n"));
    if failed.is_empty() {
        println!("\nall checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        let names: Vec<&str> = failed.iter().map(|(name, _)| *name).collect();
        println!("\n{} check(s) failed: {}", failed.len(), names.join(", "));
        Ok(ExitCode::from(Exit::CheckFailed.code()))
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
