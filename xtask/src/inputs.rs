//! What each service's and app's build reads, as paths and names (no content yet).
//!
//! This one description feeds both the fingerprint (which reads the content of each input
//! at a commit) and the ownership lint of `cargo xtask check` (which asks, for each tracked
//! file, whose input it is), so the two can never disagree.

use crate::config::{Config, ServiceKind};
use crate::diag::Diagnostic;
use crate::workspace::{Crate, Workspace};
use anyhow::Result;
use serde::Serialize;
use std::sync::Arc;

/// The profile the host build uses for every Rust service.
pub const RELEASE_PROFILE: &str = "release";

/// The target the host build compiles Rust services for: static binaries for `FROM scratch`.
pub const RUST_TARGET: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Service,
    App,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Service => "service",
            UnitKind::App => "app",
        }
    }
}

/// Everything one unit's build reads.
#[derive(Debug, Clone)]
pub struct UnitInputs {
    pub name: String,
    pub kind: UnitKind,
    /// The build recipe from `deploy.toml`, canonical JSON.
    pub recipe: String,
    /// The unit's folder, read whole (apps and non-Rust services).
    pub folder: Option<String>,
    /// The Rust service's own crate (by name).
    pub own_crate: Option<String>,
    /// The service's own crate and its workspace dependencies (Rust services).
    pub crates: Vec<Arc<Crate>>,
    /// External lockfile packages of the build (lockfile indexes), each with the index of
    /// the crate it enters through.
    pub packages: Vec<(usize, usize)>,
    /// Sections of the root `Cargo.toml` the build uses.
    pub settings: Vec<String>,
    /// The Dockerfile (services).
    pub dockerfile: Option<String>,
    /// Global input patterns (Rust services).
    pub globals: Vec<String>,
    /// The unit's extra input patterns.
    pub extras: Vec<String>,
}

/// Describes every unit of `config` against `workspace` (of the same commit). A Rust
/// service whose folder is not a crate is an error that points into `deploy.toml`.
pub fn describe(config: &Config, workspace: &Workspace) -> Result<Vec<UnitInputs>> {
    let mut units = Vec::new();
    let mut problems = Vec::new();
    for service in &config.services {
        let mut unit = UnitInputs {
            name: service.name.clone(),
            kind: UnitKind::Service,
            recipe: String::new(),
            folder: None,
            own_crate: None,
            crates: Vec::new(),
            packages: Vec::new(),
            settings: Vec::new(),
            dockerfile: Some(service.dockerfile.get_ref().clone()),
            globals: Vec::new(),
            extras: patterns(&service.inputs),
        };
        let recipe = match service.kind {
            ServiceKind::Rust => {
                let Some(own) = workspace.crate_at(service.path.get_ref()) else {
                    problems.push(
                        Diagnostic::at(
                            service.path.span(),
                            format!(
                                "service `{}` is a Rust service but `{}` is not a crate of the workspace",
                                service.name,
                                service.path.get_ref()
                            ),
                        )
                        .with_help("add the folder to `[workspace] members`, or set `kind = \"docker\"`"),
                    );
                    continue;
                };
                let closure = workspace.closure(own);
                let own = &workspace.crates[own];
                unit.own_crate = Some(own.name.clone());
                unit.crates = closure
                    .crates
                    .iter()
                    .map(|&i| Arc::clone(&workspace.crates[i]))
                    .collect();
                unit.packages = closure.packages;
                unit.settings = rust_settings(workspace);
                unit.globals = patterns(&config.inputs.global);
                serde_json::json!({
                    "kind": "rust",
                    "package": own.name,
                    "bin": service.bin.as_deref().unwrap_or(&own.name),
                    "profile": RELEASE_PROFILE,
                    "target": RUST_TARGET,
                    "static": true,
                    "platform": service.platform,
                    "build_args": service.build_args,
                    "dockerfile": service.dockerfile.get_ref(),
                })
            }
            ServiceKind::Docker => {
                unit.folder = Some(service.path.get_ref().clone());
                serde_json::json!({
                    "kind": "docker",
                    "platform": service.platform,
                    "build_args": service.build_args,
                    "dockerfile": service.dockerfile.get_ref(),
                })
            }
        };
        unit.recipe = recipe.to_string();
        units.push(unit);
    }
    for app in &config.apps {
        units.push(UnitInputs {
            name: app.name.clone(),
            kind: UnitKind::App,
            recipe: serde_json::json!({ "kind": "app", "build": app.build, "dist": app.dist })
                .to_string(),
            folder: Some(app.path.get_ref().clone()),
            own_crate: None,
            crates: Vec::new(),
            packages: Vec::new(),
            settings: Vec::new(),
            dockerfile: None,
            globals: Vec::new(),
            extras: patterns(&app.inputs),
        });
    }
    if problems.is_empty() {
        Ok(units)
    } else {
        Err(config.failure(&problems))
    }
}

/// Which repository paths belong to an input, to explain a change by its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    None,
    File(String),
    Dir {
        path: String,
        skipped: Vec<&'static str>,
    },
}

impl Scope {
    /// A crate's folder without its test-only folders.
    pub fn of_crate(krate: &Crate) -> Scope {
        Scope::Dir {
            path: krate.path.clone(),
            skipped: krate.skipped_dirs.clone(),
        }
    }

    pub fn contains(&self, path: &str) -> bool {
        match self {
            Scope::None => false,
            Scope::File(file) => file == path,
            Scope::Dir { path: dir, skipped } => {
                let Some(rest) = path
                    .strip_prefix(dir.as_str())
                    .and_then(|r| r.strip_prefix('/'))
                else {
                    return false;
                };
                keeps(skipped, rest)
            }
        }
    }
}

/// Whether `rest`, a path inside a folder input, is an input: not inside one of the
/// folder's `skipped` top-level folders (a file that merely has such a name is kept).
pub fn keeps(skipped: &[&str], rest: &str) -> bool {
    match rest.split_once('/') {
        Some((top, _)) => !skipped.contains(&top),
        None => true,
    }
}

fn patterns(globs: &[toml::Spanned<String>]) -> Vec<String> {
    globs.iter().map(|g| g.get_ref().clone()).collect()
}

/// Root `Cargo.toml` sections a release build of any member reads: the release profile and
/// every profile it inherits from, patches, replacements and the resolver.
fn rust_settings(workspace: &Workspace) -> Vec<String> {
    let mut wanted = Vec::new();
    let mut profile = RELEASE_PROFILE.to_owned();
    loop {
        let key = format!("profile.{profile}");
        let inherits = workspace
            .settings
            .get(&key)
            .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
            .and_then(|v| {
                v.get("inherits")
                    .and_then(|i| i.as_str().map(str::to_owned))
            });
        wanted.push(key);
        match inherits {
            Some(parent) if !wanted.contains(&format!("profile.{parent}")) => profile = parent,
            _ => break,
        }
    }
    wanted.extend(
        workspace
            .settings
            .keys()
            .filter(|k| k.starts_with("patch.") || *k == "replace" || *k == "resolver")
            .cloned(),
    );
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_scope_skips_test_folders_but_not_files_named_like_them() {
        let scope = Scope::Dir {
            path: "crates/a".into(),
            skipped: vec!["tests"],
        };
        assert!(scope.contains("crates/a/src/lib.rs"));
        assert!(!scope.contains("crates/a/tests/it.rs"));
        assert!(scope.contains("crates/a/tests"));
        assert!(!scope.contains("crates/ab/src/lib.rs"));
    }
}
