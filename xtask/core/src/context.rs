//! Where the tool runs: the monorepo root, from `-C`, from `cargo xtask`, or from the
//! current directory.

use crate::config;
use crate::error::Error;
use anyhow::Result;
use std::path::{Path, PathBuf};

pub struct Context {
    /// The monorepo root: holds `deploy.toml` and is the git working directory.
    pub root: PathBuf,
}

impl Context {
    pub fn new(root: Option<&Path>) -> Result<Context> {
        let root = match root {
            Some(dir) => dir.to_path_buf(),
            None => default_root()?,
        };
        if !root.join(config::FILE_NAME).is_file() {
            return Err(Error::Usage(format!(
                "{} has no {}: run from a monorepo root or pass -C <dir>",
                root.display(),
                config::FILE_NAME
            ))
            .into());
        }
        Ok(Context { root })
    }
}

/// `cargo xtask` runs this binary with `CARGO_MANIFEST_DIR` set to `<root>/xtask`; run
/// directly, the nearest ancestor of the current directory holding `deploy.toml`.
fn default_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        if let Some(parent) = Path::new(&dir).parent() {
            if parent.join(config::FILE_NAME).is_file() {
                return Ok(parent.to_path_buf());
            }
        }
    }
    let cwd = std::env::current_dir()?;
    cwd.ancestors()
        .find(|dir| dir.join(config::FILE_NAME).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::Usage(format!(
                "no {} in {} or above it: run from a monorepo root or pass -C <dir>",
                config::FILE_NAME,
                cwd.display()
            ))
            .into()
        })
}
