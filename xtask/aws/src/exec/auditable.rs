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
        let path = crate::process::path_with_first(&self.bin);
        // What `cargo auditable` hands its wrapper: the flags its `cargo metadata` repeats.
        let args = serde_json::json!({
            "offline": false,
            "locked": true,
            "frozen": false,
            "config": [config],
        });
        // Always set, so that it also overrides a `build.rustc-wrapper` of a Cargo config
        // file (which this cannot see): such a build goes without that wrapper, not fails.
        let script = bypass_script(rustc_wrapper(cargo).as_deref(), scratch)?;
        cargo
            .env("RUSTC_WRAPPER", script)
            .env("PATH", path)
            .env("RUSTC_WORKSPACE_WRAPPER", WRAPPER)
            .env("CARGO_AUDITABLE_ORIG_ARGS", args.to_string());
        Ok(())
    }
}

/// The `RUSTC_WRAPPER` `cargo` runs with: its own setting, else the inherited one (under
/// either of the names Cargo reads).
fn rustc_wrapper(cargo: &std::process::Command) -> Option<std::ffi::OsString> {
    let set = cargo.get_envs().find(|(name, _)| *name == "RUSTC_WRAPPER");
    match set {
        Some((_, value)) => value.map(ToOwned::to_owned),
        None => std::env::var_os("RUSTC_WRAPPER")
            .or_else(|| std::env::var_os("CARGO_BUILD_RUSTC_WRAPPER")),
    }
    .filter(|value| !value.is_empty())
}

/// A `RUSTC_WRAPPER` script in `scratch` that runs cargo-auditable's calls as they are
/// and every other rustc call through `outer` (as they are without one). Cargo leaves
/// `RUSTC_WRAPPER` out of its crate hashes, so the binaries are the ones a build without
/// `outer` makes.
fn bypass_script(outer: Option<&std::ffi::OsStr>, scratch: &Path) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut script = format!(
        "#!/bin/sh\n# Written by cargo xtask: see xtask/aws/src/exec/auditable.rs.\n\
         case \"$1\" in {WRAPPER}) exec \"$@\" ;; esac\nexec "
    )
    .into_bytes();
    if let Some(outer) = outer {
        // Single-quoted for sh, byte for byte: a `'` closes, is escaped, and reopens.
        script.push(b'\'');
        for &byte in outer.as_bytes() {
            match byte {
                b'\'' => script.extend_from_slice(br"'\''"),
                other => script.push(other),
            }
        }
        script.extend_from_slice(b"' ");
    }
    script.extend_from_slice(b"\"$@\"\n");
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    // Dot-named: no service's stage folder (a service name starts with a letter).
    let path = scratch.join(".rustc-wrapper");
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))?;
    Ok(path)
}

/// The `cargo install` of the pinned release into `root` (the benchmark times it too).
pub fn install_command(root: &Path) -> std::process::Command {
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
        .arg(root)
        .arg(WRAPPER)
        // Outside any workspace (its `.cargo/config.toml` is not the tool's), and in a
        // scratch target folder of Cargo's own, not the services' one.
        .current_dir(std::env::temp_dir())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .stdin(Stdio::null());
    cargo
}

/// Removes the folder at `path`, if there is one.
fn remove_folder(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `cargo install`s the pinned release into `root`, through a scratch root beside it
/// (what a killed install left there, and an old root without its binary, go first).
async fn install(root: &Path) -> Result<()> {
    let scratch = root.with_file_name(format!("{WRAPPER}-{CARGO_AUDITABLE}.partial"));
    remove_folder(&scratch)?;
    let mut cargo = tokio::process::Command::from(install_command(&scratch));
    cargo.kill_on_drop(true);
    let out = crate::process::output(cargo)
        .await
        .context("running cargo install")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`cargo install` failed (it needs crates.io): {}",
            crate::text::tail(&stderr, 3).replace('\n', "; ")
        );
    }
    remove_folder(root)?;
    std::fs::rename(&scratch, root)
        .with_context(|| format!("moving {} to {}", scratch.display(), root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs the script with `args` under sh (the oracle for its quoting); its stdout.
    fn run(script: &Path, args: &[&str]) -> String {
        let out = Command::new(script).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_bypass_script_runs_rustc_calls_through_the_outer_wrapper_quoted_and_its_own_past_it() {
        let dir = tempfile::tempdir().unwrap();
        // An outer wrapper at a path sh would split or unquote, if the script let it.
        let odd = dir.path().join("a b'c $HOME");
        std::fs::create_dir_all(&odd).unwrap();
        let outer = odd.join("wrapper");
        std::fs::write(&outer, "#!/bin/sh\necho \"outer: $*\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&outer, std::fs::Permissions::from_mode(0o755)).unwrap();
        // cargo-auditable stands in as a script of that name on the PATH.
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join(WRAPPER), "#!/bin/sh\necho \"auditable: $*\"\n").unwrap();
        std::fs::set_permissions(bin.join(WRAPPER), std::fs::Permissions::from_mode(0o755))
            .unwrap();

        let script = bypass_script(Some(outer.as_os_str()), &dir.path().join("s1")).unwrap();
        assert_eq!(run(&script, &["rustc", "-vV"]), "outer: rustc -vV\n");
        let on_path = Command::new(&script)
            .args([WRAPPER, "rustc", "--crate-name", "api"])
            .env("PATH", crate::process::path_with_first(&bin))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(on_path.stdout).unwrap(),
            "auditable: rustc --crate-name api\n"
        );

        // Without an outer wrapper, every call runs as it is.
        let plain = bypass_script(None, &dir.path().join("s2")).unwrap();
        assert_eq!(run(&plain, &["echo", "rustc", "-vV"]), "rustc -vV\n");
    }
}
