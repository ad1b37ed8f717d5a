//! The plan file a fanned-out workflow's jobs share (see [`xtask_core::handoff`]): read and
//! checked against its SHA-256 before anything is read from AWS, compared with the run's
//! own plan once it is made, and written by the plan job (`--dry-run --save-plan`) with
//! the outputs its workflow step hands the other jobs (`--github-output`).

use crate::cli::DeployArgs;
use crate::deploy_plan::DeployPlan;
use crate::error::Error;
use crate::handoff::{digest, Handoff, VERSION};
use crate::model::Model;
use crate::render;
use anyhow::{Context as _, Result};
use std::io::Write as _;
use std::path::Path;

/// `--plan FILE`, read and checked: its SHA-256 is `--plan-sha256` when given, its version
/// this tool's. `None` without `--plan`.
pub fn load(args: &DeployArgs) -> Result<Option<Handoff>> {
    let Some(path) = &args.plan else {
        return Ok(None);
    };
    let bad = |why: String| Error::Usage(format!("--plan {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|err| {
        bad(format!(
            "cannot read it ({err}): download the plan job's artifact first"
        ))
    })?;
    if let Some(expected) = &args.plan_sha256 {
        let actual = digest(&bytes);
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(bad(format!(
                "its SHA-256 is {actual}, the plan job saved {}: not the file the plan job wrote; re-run the workflow",
                expected.trim()
            ))
            .into());
        }
    }
    let handoff: Handoff = serde_json::from_slice(&bytes).map_err(|err| {
        bad(format!(
            "not a saved plan ({err}); `deploy --dry-run --save-plan` writes one"
        ))
    })?;
    if handoff.version != VERSION {
        return Err(bad(format!(
            "a saved plan of version {}, this tool reads version {VERSION}: plan again with this tool",
            handoff.version
        ))
        .into());
    }
    Ok(Some(handoff))
}

/// Refuses the run when HEAD or the live state moved since the plan job saved `saved`: the
/// build jobs built for that plan, and this run would roll something else. A build job
/// (`images_only`) compares the services it builds only.
pub fn check(saved: &Handoff, plan: &DeployPlan, only: Option<&[String]>) -> Result<()> {
    let now = Handoff::of(plan, Vec::new());
    let moved = saved.moved(&now, only);
    if moved.is_empty() {
        return Ok(());
    }
    Err(Error::Check(format!(
        "the plan moved since the plan job saved it, nothing was changed: {}; run the workflow again for HEAD",
        moved.join("; ")
    ))
    .into())
}

/// Writes `--save-plan` (and `--github-output`), the images to build split into
/// `--shards` jobs; tells where and with which SHA-256.
pub fn save(args: &DeployArgs, plan: &DeployPlan, model: &Model) -> Result<String> {
    let Some(path) = &args.save_plan else {
        return Ok(String::new());
    };
    let mut handoff = Handoff::of(plan, Vec::new());
    let shards = usize::from(args.shards.unwrap_or(1));
    handoff.shards = crate::compare::shard_builds(model, &handoff.builds(), shards);
    let mut text = serde_json::to_string_pretty(&handoff)?;
    text.push('\n');
    std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    let sha256 = digest(text.as_bytes());
    if let Some(output) = &args.github_output {
        github_output(output, &handoff, &sha256, args.fan_out_above)?;
    }
    Ok(format!(
        "plan saved to {} (sha256 {sha256}): {} image(s) to build in {} shard(s)",
        path.display(),
        handoff.builds().len(),
        handoff.shards.len()
    ))
}

/// The plan job's step outputs, appended to GitHub's `$GITHUB_OUTPUT` file: `plan_sha256`,
/// `builds` (images to build), `fan_out` (`true` when more than `fan_out_above`: build jobs
/// per shard, then a final job), `matrix` (the shards, for `strategy.matrix`).
fn github_output(path: &Path, handoff: &Handoff, sha256: &str, fan_out_above: usize) -> Result<()> {
    let builds = handoff.builds().len();
    let matrix = render::github_matrix_shards(&handoff.shards);
    let lines = format!(
        "plan_sha256={sha256}\nbuilds={builds}\nfan_out={}\nmatrix={}",
        builds > fan_out_above,
        matrix.trim_end()
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("opening --github-output {}", path.display()))?;
    writeln!(file, "{lines}").with_context(|| format!("writing {}", path.display()))
}
