//! `cargo auditable` for the host build of `auditable = true` services: each binary carries
//! its dependency list (crates and versions, zlib-compressed JSON in a `.dep-v0` section),
//! which Trivy, Grype, OSV-Scanner and Syft read (cargo-auditable's README lists them).
//! Without it a `FROM scratch` image holds nothing a scanner recognises. Amazon Inspector
//! scans Rust packages in ECR images, but its documentation does not say it reads this
//! section: the first findings of an auditable image are the evidence.
//!
//! The pinned release ([`CARGO_AUDITABLE`]) is installed once per Cargo home under
//! `xtask/` (`cargo install --locked`, about 20 s), never taken from `PATH`: its output is in
//! the image, so its version is in the fingerprint.
//!
//! It runs as Cargo's `RUSTC_WORKSPACE_WRAPPER`, set here rather than by `cargo auditable`
//! itself: that sets the wrapper to its own absolute path, and Cargo hashes the wrapper into
//! the workspace crates' metadata, so the binary would depend on where the tool was
//! installed. Set by name, found on `PATH`, the same commit gives the same binary on every
//! machine (the reproducibility test in `builds.rs`).

use crate::deploy_plan::CARGO_AUDITABLE;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The wrapper's name, as Cargo runs it (found on `PATH`).
const WRAPPER: &str = "cargo-auditable";

/// An installed cargo-auditable.
pub struct Auditable {
    /// The folder holding the `cargo-auditable` binary (put first on the build's `PATH`).
    bin: PathBuf,
}

impl Auditable {
    /// The pinned cargo-auditable under `cargo_home`, installed first if missing. Concurrent
    /// deploys wait for one install (a file lock); an install that died leaves no binary
    /// behind (it is built into a scratch root and renamed into place).
    pub async fn installed(cargo_home: &Path) -> Result<Auditable> {
        let tools = cargo_home.join("xtask");
        let root = tools.join(format!("{WRAPPER}-{CARGO_AUDITABLE}"));
        let auditable = Auditable {
            bin: root.join("bin"),
        };
        if auditable.binary().is_file() {
            return Ok(auditable);
        }
        std::fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
        let _lock = super::hold_lock(&tools.join(format!("{WRAPPER}.lock"))).await?;
        if !auditable.binary().is_file() {
            install(&root).await?;
        }
        Ok(auditable)
    }

    fn binary(&self) -> PathBuf {
        self.bin.join(WRAPPER)
    }

    /// Makes `cargo` (a `cargo build` with `--locked` and the `--config` value `config`)
    /// embed each binary's dependency list, as `cargo auditable build` would. A
    /// `RUSTC_WRAPPER` it already has (the compile cache's sccache, or the user's) stays
    /// for every crate but the workspace's: sccache takes only rustc or clippy-driver for a
    /// compiler and fails the build on the wrapper, so a script written in `scratch` hands
    /// the wrapper's calls past it (workspace crates change with each commit anyway).
    pub fn wrap(
        &self,
        cargo: &mut std::process::Command,
        config: &str,
        scratch: &Path,
    ) -> Result<()> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(self.bin.clone()).chain(std::env::split_paths(&path)),
        )
        .context("joining PATH")?;
        // What `cargo auditable` hands its wrapper: the flags its `cargo metadata` repeats.
        let args = serde_json::json!({
            "offline": false,
            "locked": true,
            "frozen": false,
            "config": [config],
        });
        if let Some(outer) = rustc_wrapper(cargo) {
            let script = bypass_script(&outer, scratch)?;
            cargo.env("RUSTC_WRAPPER", script);
        }
        cargo
            .env("PATH", path)
            .env("RUSTC_WORKSPACE_WRAPPER", WRAPPER)
            .env("CARGO_AUDITABLE_ORIG_ARGS", args.to_string());
        Ok(())
    }
}

/// The `RUSTC_WRAPPER` `cargo` runs with: its own setting, else the inherited one.
fn rustc_wrapper(cargo: &std::process::Command) -> Option<std::ffi::OsString> {
    let set = cargo.get_envs().find(|(name, _)| *name == "RUSTC_WRAPPER");
    match set {
        Some((_, value)) => value.map(ToOwned::to_owned),
        None => std::env::var_os("RUSTC_WRAPPER"),
    }
    .filter(|value| !value.is_empty())
}

/// A `RUSTC_WRAPPER` script in `scratch` that runs cargo-auditable's calls as they are
/// and every other rustc call through `outer`. Cargo leaves `RUSTC_WRAPPER` out of its
/// crate hashes, so the binaries are the ones a build without `outer` makes.
fn bypass_script(outer: &std::ffi::OsStr, scratch: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let quoted = format!("'{}'", outer.to_string_lossy().replace('\'', r"'\''"));
    let script = format!(
        "#!/bin/sh\n# Written by cargo xtask: see xtask/aws/src/exec/auditable.rs.\n\
         case \"$1\" in {WRAPPER}) exec \"$@\" ;; esac\nexec {quoted} \"$@\"\n"
    );
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let path = scratch.join("rustc-wrapper");
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))?;
    Ok(path)
}

/// `cargo install`s the pinned release into `root`, through a scratch root beside it.
async fn install(root: &Path) -> Result<()> {
    let scratch = root.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    let mut cargo = super::docker::cargo_command();
    cargo
        .args([
            "install",
            "--locked",
            "--quiet",
            "--version",
            CARGO_AUDITABLE,
        ])
        .arg("--root")
        .arg(&scratch)
        .arg(WRAPPER)
        // Outside the workspace (its `.cargo/config.toml` is not the tool's), and in a
        // scratch target folder of Cargo's own, not the services' one.
        .current_dir(scratch.parent().unwrap_or(Path::new("/")))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WRAPPER")
        .stdin(Stdio::null());
    let mut cargo = tokio::process::Command::from(cargo);
    cargo.kill_on_drop(true);
    let out = crate::process::output(cargo)
        .await
        .context("running cargo install")?;
    if !out.status.success() {
        bail!(
            "`cargo install` failed (it needs crates.io): {}",
            crate::text::tail(&String::from_utf8_lossy(&out.stderr), 10)
        );
    }
    std::fs::rename(&scratch, root)
        .with_context(|| format!("moving {} to {}", scratch.display(), root.display()))
}
