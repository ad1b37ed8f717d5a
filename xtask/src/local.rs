//! `cargo xtask local up | down | status | reset`: the command over the local stack
//! (`xtask-local`).

use crate::cli::{Format, LocalCommand};
use crate::context::Context;
use anyhow::Result;
use std::process::ExitCode;
use xtask_local::Stack;

pub fn run(ctx: &Context, command: &LocalCommand) -> Result<ExitCode> {
    let mut stack = Stack::open(ctx)?;
    match command {
        LocalCommand::Up { tasks } => {
            if let Some(why) = stack.start(*tasks)? {
                eprintln!("tasks are modelled, not run: {why}");
            }
            stack.bootstrap_all(ctx)?;
            print!("{}", stack.describe());
        }
        LocalCommand::Down => {
            stack.stop()?;
            println!("local stack stopped ({})", stack.dir.display());
        }
        LocalCommand::Status { format } => {
            let probe = stack.probe();
            match format {
                Format::Text => print!("{}", stack.describe_probed(&probe)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&stack.status_json(&probe))?
                ),
            }
            return Ok(if probe.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        LocalCommand::Reset => {
            stack.reset()?;
            stack.bootstrap_all(ctx)?;
            print!("{}", stack.describe());
        }
    }
    Ok(ExitCode::SUCCESS)
}
