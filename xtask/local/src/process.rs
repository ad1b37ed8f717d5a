//! Background processes of the local stack: started detached (in their own session, so a
//! Ctrl-C in the terminal does not reach them and they outlive the command), recognised by
//! pid *and* command line (a reused pid is never mistaken for ours), stopped by pid, and
//! waited for until they answer their health check.

use anyhow::{bail, Context as _, Result};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xtask_aws::process::alive;

/// Starts `command` detached with its output appended to `log`; returns its pid.
pub fn spawn_detached(mut command: Command, log: &Path) -> Result<u32> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent's state.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    Ok(child.id())
}

/// Whether `pid` is alive and its command line mentions `marker` (so it is ours).
pub fn is_running(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    alive(pid) && String::from_utf8_lossy(&cmdline).contains(marker)
}

/// Stops our process `pid`: SIGTERM, then SIGKILL after five seconds, and returns only
/// once it is gone (see [`stop_with`]).
pub fn stop(pid: u32, marker: &str) -> Result<()> {
    stop_with(pid, marker, libc::SIGTERM)
}

/// Stops our process `pid` with `signal` (PostgreSQL's fast shutdown is SIGINT; its
/// SIGTERM waits for clients), then SIGKILL after five seconds. Ownership is checked
/// before signalling; while a process exits its command line empties before it is gone,
/// so the wait looks at its state alone.
pub fn stop_with(pid: u32, marker: &str, signal: libc::c_int) -> Result<()> {
    if !is_running(pid, marker) {
        return Ok(());
    }
    let pid_t = i32::try_from(pid)?;
    for signal in [signal, libc::SIGKILL] {
        // SAFETY: plain syscalls on a pid we checked is ours.
        unsafe { libc::kill(pid_t, signal) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !alive(pid) {
            return Ok(());
        }
    }
    bail!("process {pid} did not stop after SIGKILL")
}

pub use xtask_aws::process::free_port;

pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Whether `url` answers 2xx within five seconds: an emulator busy with many deploys'
/// polls (every request is also checked against AWS's models) can take more than one to
/// answer, and is not down for that.
pub fn answers(url: &str) -> bool {
    xtask_aws::http::answers(url, Duration::from_secs(5))
}

/// Waits until `ready` says the process at `address` serves; fails early if it dies,
/// quoting its log.
pub fn wait_until(
    what: &str,
    address: &str,
    pid: u32,
    marker: &str,
    log: &Path,
    ready: impl Fn() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if ready() {
            return Ok(());
        }
        if !is_running(pid, marker) {
            bail!(
                "{what} exited while starting; the end of {}:\n{}",
                log.display(),
                log_tail(log, 20)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{what} did not answer on {address} within 60 s; the end of {}:\n{}",
                log.display(),
                log_tail(log, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    xtask_aws::text::tail(&std::fs::read_to_string(path).unwrap_or_default(), lines)
}
