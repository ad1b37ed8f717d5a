//! `cargo xtask bench lint`: the migration lint against squawk, the established PostgreSQL
//! migration linter, on the lint's corpus (`xtask/sql/tests/corpus/`, whose verdicts the
//! corpus test checks on a real PostgreSQL): unsafe files caught and safe files flagged by
//! each, squawk counted twice (every rule; and without its blanket rules, the timeout and
//! type-preference ones that fire on nearly any file), and the time each takes.

use anyhow::{bail, Context as _, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use xtask_aws::context::Context;
use xtask_sql::corpus::{self, Case};

/// The squawk release measured (PyPI's `squawk-cli`), so that reruns compare alike.
const SQUAWK: &str = "squawk-cli==2.70.0";

/// squawk's rules that are not about a statement's locks or effects: timeouts it asks of
/// every file, and type preferences.
const BLANKET: [&str; 10] = [
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
];

pub fn run(ctx: &Context) -> Result<()> {
    let cases = corpus::cases(&ctx.root.join("xtask/sql/tests/corpus"));
    let clock = Instant::now();
    let ours: Vec<bool> = cases.iter().map(flagged_by_us).collect::<Result<_>>()?;
    let our_time = clock.elapsed();
    let squawk = install_squawk(&ctx.root)?;
    let clock = Instant::now();
    let rules = squawk_rules(&squawk, &cases, &ctx.root.join("target/bench/lint"))?;
    let squawk_time = clock.elapsed();
    let all: Vec<bool> = cases.iter().map(|c| !rules[&c.name].is_empty()).collect();
    let locking: Vec<bool> = (cases.iter())
        .map(|c| {
            rules[&c.name]
                .iter()
                .any(|r| !BLANKET.contains(&r.as_str()))
        })
        .collect();
    println!(
        "corpus: {} files ({} unsafe, {} safe)",
        cases.len(),
        count(&cases, |c| !c.is_safe()),
        count(&cases, Case::is_safe)
    );
    println!(
        "{:<34} {:>14} {:>12}",
        "linter", "unsafe caught", "safe flagged"
    );
    for (name, verdicts) in [
        ("xtask-sql", &ours),
        ("squawk, all rules", &all),
        ("squawk, without blanket rules", &locking),
    ] {
        let (caught, flagged) = tally(&cases, verdicts);
        println!("{name:<34} {caught:>14} {flagged:>12}");
    }
    println!(
        "time: xtask-sql {:.2}s, squawk {:.2}s (one process over every file)",
        our_time.as_secs_f64(),
        squawk_time.as_secs_f64()
    );
    Ok(())
}

fn count(cases: &[Case], keep: impl Fn(&Case) -> bool) -> usize {
    cases.iter().filter(|c| keep(c)).count()
}

/// `(caught, flagged)` as "n/N (p %)".
fn tally(cases: &[Case], flagged: &[bool]) -> (String, String) {
    let share = |safe: bool| {
        let of: Vec<bool> = (cases.iter().zip(flagged))
            .filter(|(c, _)| c.is_safe() == safe)
            .map(|(_, f)| *f)
            .collect();
        let n = of.iter().filter(|f| **f).count();
        format!(
            "{n}/{} ({:.0} %)",
            of.len(),
            100.0 * n as f64 / of.len().max(1) as f64
        )
    };
    (share(false), share(true))
}

/// Whether the lint finds anything in the case.
fn flagged_by_us(case: &Case) -> Result<bool> {
    let found = case
        .lint()
        .map_err(|e| anyhow::anyhow!("{}: {e}", case.name))?;
    Ok(!found.is_empty())
}

/// squawk in a virtual environment of its own under `target/bench`.
fn install_squawk(root: &Path) -> Result<std::path::PathBuf> {
    let venv = root.join("target/bench/squawk-venv");
    let squawk = venv.join("bin/squawk");
    if squawk.exists() {
        return Ok(squawk);
    }
    let made = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        bail!(
            "python3 -m venv {} failed (apt-get install python3-venv)",
            venv.display()
        );
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", SQUAWK])
        .status()
        .context("running pip")?;
    if !installed.success() {
        bail!("pip install {SQUAWK} failed: PyPI must be reachable");
    }
    Ok(squawk)
}

/// Each case's migration in a file of its own, squawk over them all in one run: the rules
/// it reports per case.
fn squawk_rules(
    squawk: &Path,
    cases: &[Case],
    dir: &Path,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for case in cases {
        let file = dir.join(format!("{}.sql", case.name));
        std::fs::write(&file, &case.migration)?;
        files.push(file);
    }
    // squawk exits non-zero when it finds anything: its JSON on stdout is the answer.
    let output = Command::new(squawk)
        .args([
            "--reporter",
            "json",
            "--pg-version",
            "15",
            "--assume-in-transaction",
        ])
        .args(&files)
        .output()
        .context("running squawk")?;
    let found: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("squawk's JSON: {}", String::from_utf8_lossy(&output.stderr)))?;
    let mut rules: BTreeMap<String, BTreeSet<String>> = cases
        .iter()
        .map(|c| (c.name.clone(), BTreeSet::new()))
        .collect();
    for finding in found {
        let file = Path::new(finding["file"].as_str().unwrap_or_default());
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let rule = finding["rule_name"].as_str().unwrap_or_default().to_owned();
        rules.entry(name).or_default().insert(rule);
    }
    Ok(rules)
}
