//! Benchmarks: generated inputs and timed whole-process runs (see docs/benchmarks.md).

use crate::cli::BenchCommand;
use crate::context::Context;
use anyhow::Result;

pub fn run(_ctx: &Context, command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Plan(_) => anyhow::bail!("not written yet"),
    }
}
