//! `cargo xtask history`: an environment's ledger, newest first: when, what, who, which
//! commit, what changed, how it ended and how long it took. A run still going says
//! `started`, one killed without warning `abandoned`, each with the phase it reached.

use crate::cli::{Format, HistoryArgs};
use crate::context::Context;
use crate::ledger::{self, Entry};
use crate::render::{table, trim_lines};
use crate::session::Session;
use crate::state;
use crate::text::short;
use anyhow::Result;

pub fn run(ctx: &Context, args: &HistoryArgs) -> Result<()> {
    let session = Session::open(ctx, &args.target)?;
    let bucket = session.names().state_bucket();
    let entries = session.rt.block_on(async {
        let keys = match ledger::keys(&session.aws, &bucket).await {
            Err(err) if err.is::<state::NoBucket>() => Vec::new(),
            keys => keys?,
        };
        let newest = &keys[..keys.len().min(args.limit)];
        ledger::read_classified(&session.aws, &bucket, newest).await
    })?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Text => print!("{}", text(&session.env, &entries)),
    }
    Ok(())
}

/// The ledger as a table, one row per record.
pub fn text(env: &str, entries: &[Entry]) -> String {
    if entries.is_empty() {
        return format!("The ledger of {env} is empty: nothing was deployed there yet.\n");
    }
    let mut rows = table(&[
        "WHEN", "COMMAND", "COMMIT", "WHO", "CHANGED", "OUTCOME", "DURATION",
    ]);
    for entry in entries {
        let changed = match &entry.broken_lock {
            Some(lock) => format!("broke the lock of {} ({})", lock.holder, lock.id),
            None => match entry.changed() {
                names if names.is_empty() => "-".to_owned(),
                names => names.join(", "),
            },
        };
        rows.add_row(vec![
            entry.started_at.to_string(),
            match &entry.promoted_from {
                Some(from) => format!("promote from {from}"),
                None => entry.command.clone(),
            },
            short(&entry.commit).to_owned(),
            entry.who.clone(),
            changed,
            match (entry.reached, entry.lock_broken) {
                // How far a run still going, or killed, got.
                (Some(phase), _) => format!("{} (in {phase})", entry.outcome),
                (None, true) => format!("{} (its lock broken)", entry.outcome),
                (None, false) => entry.outcome.to_string(),
            },
            format!("{:.0}s", entry.duration_seconds),
        ]);
    }
    format!(
        "History of {env}, newest first\n\n{}\n",
        trim_lines(&rows.to_string())
    )
}
