//! `.github/workflows` against the field's own linters: zizmor (security: actions pinned by
//! commit, no persisted credentials, least privilege, no template injection) and actionlint
//! (syntax, expressions, deprecated action runtimes; with shellcheck for `run:` scripts).
//! Both come from PyPI, pinned by hash in `linters.txt`, into a virtual environment made
//! on first use; a machine that cannot install them fails the check with the command to run.

use super::Outcome;
use crate::context::Context;
use crate::error::Error;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// The pinned requirements, written to the venv to install from.
const LINTERS: &str = include_str!("linters.txt");

/// Where the linters' virtual environment lives: `XTASK_LINT_VENV`, else the workspace's
/// `target/lint-venv`.
pub fn venv(root: &Path) -> PathBuf {
    std::env::var_os("XTASK_LINT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/lint-venv"))
}

pub fn check(ctx: &Context) -> Result<Outcome> {
    lint(&ctx.root, &venv(&ctx.root))
}

/// Runs both linters over `root`'s workflows; their own reports when they find anything.
pub fn lint(root: &Path, venv: &Path) -> Result<Outcome> {
    if !root.join(".github/workflows").is_dir() {
        return Ok(Outcome::Passed);
    }
    let bin = install(venv)?;
    let sh = Shell::new()?;
    sh.change_dir(root);
    // actionlint finds shellcheck on the PATH.
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let _path = sh.push_env("PATH", path);
    let (zizmor, actionlint) = (bin.join("zizmor"), bin.join("actionlint"));
    let mut reports = Vec::new();
    for (name, run) in [
        (
            "zizmor",
            cmd!(sh, "{zizmor} --offline --no-progress .github/workflows"),
        ),
        ("actionlint", cmd!(sh, "{actionlint}")),
    ] {
        let out = run.ignore_status().output()?;
        if !out.status.success() {
            reports.push(format!(
                "{name} ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(if reports.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(reports.join("\n"))
    })
}

/// The venv's `bin` with the pinned linters, installed unless these pins already are.
fn install(venv: &Path) -> Result<PathBuf> {
    let bin = venv.join("bin");
    let pins = venv.join("linters.txt");
    if std::fs::read_to_string(&pins).is_ok_and(|installed| installed == LINTERS) {
        return Ok(bin);
    }
    eprintln!(
        "installing the workflow linters into {} (once)",
        venv.display()
    );
    let sh = Shell::new()?;
    let missing = |what: &str| {
        Error::Usage(format!(
            "{what}: install Python 3 with its venv module (`sudo apt-get install -y python3-venv`)"
        ))
    };
    cmd!(sh, "python3 -m venv --clear {venv}")
        .quiet()
        .run()
        .map_err(|_| {
            missing("cannot make a Python virtual environment for zizmor and actionlint")
        })?;
    let wanted = venv.join("linters.wanted.txt");
    std::fs::write(&wanted, LINTERS)?;
    let pip = bin.join("pip");
    cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check --require-hashes --no-deps -r {wanted}"
    )
    .run()
    .with_context(|| {
        format!(
            "pip could not install the workflow linters pinned in xtask/src/check/linters.txt (is PyPI reachable? the hashes are of Linux x86_64 wheels); install zizmor and actionlint yourself into {}",
            venv.display()
        )
    })?;
    std::fs::write(&pins, LINTERS)?;
    Ok(bin)
}
