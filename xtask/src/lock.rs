//! `cargo xtask lock status|release`: who holds an environment's deploy lock, and breaking
//! one whose deploy died. An expired lock is released as asked; one that has not expired
//! needs `--force`. Breaking a lock writes a ledger record naming who broke it.

use crate::cli::{Format, LockCommand};
use crate::context::Context;
use crate::deploy::{who, Caller};
use crate::diag::Exit;
use crate::error::Error;
use crate::ledger;
use crate::session::Session;
use crate::state;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(ctx: &Context, command: &LockCommand) -> Result<ExitCode> {
    match command {
        LockCommand::Status { target, format } => status(&Session::open(ctx, target)?, *format),
        LockCommand::Release { target, force } => release(&Session::open(ctx, target)?, *force),
    }
}

/// Exit 0 when the lock is free, 4 when it is held.
fn status(session: &Session, format: Format) -> Result<ExitCode> {
    let bucket = session.names().state_bucket();
    let lock = session
        .rt
        .block_on(state::current_lock(&session.aws, &bucket))?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "env": session.env,
                "held": lock.is_some(),
                "stale": lock.as_ref().map(state::HeldLock::is_stale),
                "lock": lock.as_ref().map(|held| &held.lock),
            })
        ),
        Format::Text => match &lock {
            Some(lock) => println!("the deploy lock of {} is {}", session.env, lock.describe()),
            None => println!("the deploy lock of {} is free", session.env),
        },
    }
    Ok(ExitCode::from(if lock.is_some() {
        Exit::LockHeld.code()
    } else {
        Exit::Success.code()
    }))
}

fn release(session: &Session, force: bool) -> Result<ExitCode> {
    let env = &session.env;
    let bucket = session.names().state_bucket();
    session.rt.block_on(async {
        let Some(lock) = state::current_lock(&session.aws, &bucket).await? else {
            println!("the deploy lock of {env} is free: nothing to release");
            return Ok(ExitCode::SUCCESS);
        };
        if !lock.is_stale() && !force {
            return Err(Error::LockHeld(format!(
                    "the deploy lock of {env} is {}; it has not expired: if that run is dead, pass --force",
                    lock.describe()
                )).into());
        }
        let breaker = who(&Caller::ask(&session.aws, env).await?.arn);
        // Only the version just read: a lock renewed or retaken meanwhile is left alone.
        let etag = lock.etag.as_deref().unwrap_or("*");
        if !state::release(&session.aws, &bucket, etag).await? {
            return Err(Error::LockHeld(format!(
                "the deploy lock of {env} changed while it was being released (renewed or retaken): nothing was released; look again with `cargo xtask lock status --env {env}`"
            ))
            .into());
        }
        ledger::write_lock_broken(&session.aws, &bucket, env, &breaker, &lock.lock).await?;
        println!(
            "released the deploy lock of {env} (it was {}); the ledger records that {breaker} broke it",
            lock.describe()
        );
        Ok(ExitCode::SUCCESS)
    })
}
