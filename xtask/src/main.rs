//! `cargo xtask`: parse, build the context, dispatch. The modules live in `lib.rs`.

use clap::Parser;
use std::process::ExitCode;
use xtask::cli::{Cli, Command};
use xtask::{bench, check, compare, context, deploy, diag, history, local, lock};

fn main() -> ExitCode {
    let cli = Cli::parse();
    trace(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = context::Context::new(cli.root.as_deref())?;
    match &cli.command {
        Command::Plan(args) => compare::plan_command(&ctx, args)?,
        Command::Explain(args) => compare::explain_command(&ctx, args)?,
        Command::Deploy(args) => return deploy::run(&ctx, args),
        Command::Rollback(args) => return deploy::rollback(&ctx, args),
        Command::History(args) => history::run(&ctx, args)?,
        Command::Lock(command) => return lock::run(&ctx, command),
        Command::Check(args) => return check::run(&ctx, args),
        Command::Local(command) => return local::run(&ctx, command),
        Command::Bench(command) => bench::run(&ctx, command)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints an error the way its kind asks and returns its exit code.
fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(failure) = err.downcast_ref::<diag::Failure>() {
        eprintln!("{}", with_error_prefix(&failure.message));
        return ExitCode::from(failure.exit.code());
    }
    eprintln!("error: {err:#}");
    ExitCode::from(diag::Exit::Internal.code())
}

/// Rendered diagnostics already start with `error:`; plain messages get it here.
fn with_error_prefix(message: &str) -> String {
    if message.starts_with("error") {
        message.to_owned()
    } else {
        format!("error: {message}")
    }
}

/// The trace `-v` asks for, or `RUST_LOG`'s; nothing otherwise (the SDK's own warnings
/// included: the tool reports what failed itself).
fn trace(verbose: u8) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let ours = "xtask=debug,xtask_core=debug,xtask_git=debug";
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.trim().is_empty() => filter,
        _ => match verbose {
            0 => return,
            1 => format!("{ours},aws_config=debug,aws_smithy_runtime=debug,aws_sdk_ecs=debug,aws_sdk_ecr=debug,aws_sdk_s3=debug,aws_sdk_cloudfront=debug,aws_sdk_sts=debug"),
            _ => "trace".to_owned(),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
