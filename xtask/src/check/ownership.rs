//! Every tracked file is an input of some service or app, a global input, or matched by an
//! `ignore` glob of `deploy.toml`: nothing can silently never deploy. A crate's test
//! folders count as the crate's: they never deploy, on purpose.

use super::{Finding, Outcome};
use crate::context::Context;
use crate::git::Repo;
use crate::owners::{ignore_set, Owners, Reach};
use anyhow::Result;

pub const RULE: &str = "unowned-file";

pub fn check(ctx: &Context) -> Result<Outcome> {
    let (config, _workspace, units) = match super::config::load(ctx) {
        Ok(loaded) => loaded,
        // The deploy.toml check reports why; one report is enough.
        Err(_) => {
            return Ok(Outcome::Failed(
                "skipped: deploy.toml does not load (see its check)".into(),
            ))
        }
    };
    let owners = Owners::new(&units, Reach::Folders)?;
    let ignored = ignore_set(&config)?;
    let findings = Repo::open(&ctx.root)?
        .tracked_paths()?
        .into_iter()
        .filter(|path| !ignored.is_match(path) && owners.of(path).is_empty())
        .map(|path| Finding {
            file: path,
            line: None,
            rule: RULE,
            message:
                "not an input of any service or app, and not matched by `[inputs] ignore` in deploy.toml"
                    .into(),
        })
        .collect();
    Ok(Outcome::Findings(findings))
}
