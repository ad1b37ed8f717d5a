//! `cargo xtask`: parse, build the context, dispatch. The modules live in `lib.rs`.

use clap::Parser;
use std::process::ExitCode;
use xtask::cli::{Cli, Command};
use xtask::error::Error;
use xtask::{bench, check, compare, context, deploy, history, local, lock};

fn main() -> ExitCode {
    // Docker runs this executable as `docker-credential-xtask` (a link the deploy makes):
    // it answers with the registry login the deploy handed that `docker`, from memory.
    if xtask_aws::exec::credential_helper::invoked_as_helper() {
        return ExitCode::from(xtask_aws::exec::credential_helper::serve() as u8);
    }
    let cli = Cli::parse();
    if cli.command.only_prints() {
        quiet_on_a_closed_pipe();
    }
    trace(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

/// `history | head`: a reader that stops early ends the command quietly, as it does any
/// command-line tool, instead of a panic at the next write (Rust ignores SIGPIPE). Only
/// for commands that print and change nothing: a deploy must see a subprocess's closed
/// pipe as an error to report, not die of it.
fn quiet_on_a_closed_pipe() {
    // SAFETY: the default disposition of one signal, set before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// The command's exit code; what fails inside is converted to [`Error`] here, the edge.
fn run(cli: Cli) -> Result<ExitCode, Error> {
    let ctx = context::Context::new(cli.root.as_deref())?;
    let code = match &cli.command {
        Command::Plan(args) => compare::plan_command(&ctx, args).map(|()| ExitCode::SUCCESS),
        Command::Explain(args) => compare::explain_command(&ctx, args).map(|()| ExitCode::SUCCESS),
        Command::Deploy(args) => deploy::run(&ctx, args),
        Command::Rollback(args) => deploy::rollback(&ctx, args),
        Command::History(args) => history::run(&ctx, args).map(|()| ExitCode::SUCCESS),
        Command::Lock(command) => lock::run(&ctx, command),
        Command::Check(args) => check::run(&ctx, args),
        Command::Local(command) => local::run(&ctx, command),
        Command::Bench(command) => bench::run(&ctx, command).map(|()| ExitCode::SUCCESS),
    };
    Ok(code?)
}

/// Prints an error the way its kind asks and returns its exit code: an internal error with
/// its whole chain, any other as the message written for the user.
fn report(err: &Error) -> ExitCode {
    match err {
        Error::Internal(err) => eprintln!("error: {err:#}"),
        rendered => eprintln!("{}", with_error_prefix(&rendered.message())),
    }
    ExitCode::from(err.exit().code())
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
