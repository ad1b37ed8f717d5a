//! Subprocesses of the deploy path (docker, cargo, an app's build), run to completion with
//! their output captured for the error a person reads, and traced: with `-v` (or
//! `RUST_LOG=xtask=debug`) every command line, every line it printed and its exit status
//! show on stderr; silent otherwise.

use std::process::{Output, Stdio};
use tokio::process::Command;

/// The `tracing` target of subprocess lines, so `RUST_LOG=xtask::process=debug` shows
/// just them.
const TARGET: &str = "xtask::process";

/// Runs `command` with stdout and stderr captured, in a process group of its own that is
/// killed whole if the step is dropped (Ctrl-C, a timeout): killing the child alone left
/// what it started running (cargo's `rustc`s, a build's `node`).
pub async fn output(mut command: Command) -> std::io::Result<Output> {
    let line = command_line(&command);
    tracing::debug!(target: TARGET, "running {line}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let out = match command.spawn() {
        Ok(child) => {
            let group = Group(child.id());
            let out = child.wait_with_output().await;
            group.done();
            out
        }
        Err(err) => Err(err),
    };
    match &out {
        Ok(out) => trace_output(&line, out),
        Err(err) => tracing::debug!(target: TARGET, "{line} did not start: {err}"),
    }
    out
}

/// The process group of a running subprocess (its pid is the group's id), killed when
/// dropped before the subprocess ended.
struct Group(Option<u32>);

impl Group {
    /// The subprocess ended: nothing to kill.
    fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: a signal to a group this process created and has not reaped.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
    }
}

/// Every line `out` holds, then how the command ended.
pub fn trace_output(line: &str, out: &Output) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        for text in String::from_utf8_lossy(bytes).lines() {
            tracing::debug!(target: TARGET, "{stream}| {text}");
        }
    }
    tracing::debug!(target: TARGET, "{line}: {}", out.status);
}

/// The program and its arguments as one line; the environment is never shown (it may hold
/// a registry password or a token).
pub fn command_line(command: &Command) -> String {
    let std = command.as_std();
    let mut words = vec![std.get_program().to_string_lossy().into_owned()];
    words.extend(std.get_args().map(|a| a.to_string_lossy().into_owned()));
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// Whether `pid` exists and is not a zombie (a killed process whose parent, PID 1 in a
/// container, may never reap it).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(") ")
                .next()
                .and_then(|rest| rest.chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `PATH` with `dir` first: for a child that must find a tool the deploy chose before any
/// of the user's.
pub fn path_with_first(dir: &std::path::Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir.to_owned()).chain(std::env::split_paths(&path));
    std::env::join_paths(dirs).unwrap_or(path)
}
