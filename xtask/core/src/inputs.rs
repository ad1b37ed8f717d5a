//! What each service's and app's build reads, as paths and names (no content yet).
//!
//! This one description feeds both the fingerprint (which reads the content of each input
//! at a commit) and the ownership lint of `cargo xtask check` (which asks, for each tracked
//! file, whose input it is), so the two can never disagree.

use crate::build_context;
use crate::config::{App, Build, Config, Service, ServiceKind};
use crate::diag::Diagnostic;
use crate::dockerfile::{CargoBuild, ProblemKind};
use crate::source::{Change, ChangeSet, EntryKind, Source};
use crate::workspace::{Crate, Workspace};
use anyhow::Result;
use serde::Serialize;
use std::sync::Arc;

/// The profile the host build uses for every Rust service.
pub const RELEASE_PROFILE: &str = "release";

/// The target the host build compiles Rust services for: static binaries for `FROM scratch`.
pub const RUST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The flags the host build compiles [`RUST_TARGET`] with that change what it compiles:
/// static glibc, for `FROM scratch` images (its `cfg(target_feature = "crt-static")` too).
pub const RUST_TARGET_FLAGS: &[&str] = &["-C", "target-feature=+crt-static"];

/// A `--config` argument that gives Cargo `flags` for [`RUST_TARGET`] only (build scripts
/// and proc macros build for the host without them), as a TOML array, so a flag may hold
/// spaces.
pub fn target_rustflags_config(flags: &[String]) -> String {
    let array = toml::Value::Array(flags.iter().cloned().map(toml::Value::String).collect());
    format!("target.{RUST_TARGET}.rustflags={array}")
}

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

/// A unit's identity, and the facts that shape how its changes are explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub kind: UnitKind,
    /// A Rust service's own crate: its changes are reported file by file.
    pub own_crate: Option<String>,
    /// A service's Dockerfile: its changes are reported as such.
    pub dockerfile: Option<String>,
}

/// Something about a unit's build this tool cannot account for, or that cannot work:
/// `plan` warns, `check` fails, `deploy` refuses to deploy the unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The file and line it is about.
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The service's Dockerfile is not in the commit.
    MissingDockerfile,
    /// The service's crate builds no binary of the name the image copies.
    MissingBinary,
    /// The Dockerfile does not parse.
    DockerfileSyntax,
    /// The service's `target` stage is not in its Dockerfile.
    UnknownTarget,
    /// `ADD` of a URL or git repository without `--checksum`.
    RemoteSource,
    /// A source uses a variable without a value the tool knows.
    UnresolvedSource,
    /// A source names nothing in the build context (or only what `.dockerignore` drops).
    MissingSource,
    /// A `RUN cargo build` builds packages outside the service's crates, or the whole
    /// workspace (whose features Cargo unifies).
    UncoveredBuild,
    /// A `RUN cargo build` without `--locked`: it may resolve other versions than the
    /// lockfile the fingerprint reads.
    UnlockedBuild,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MissingDockerfile => "missing-dockerfile",
            FindingKind::MissingBinary => "missing-binary",
            FindingKind::DockerfileSyntax => "dockerfile-syntax",
            FindingKind::UnknownTarget => "unknown-target",
            FindingKind::RemoteSource => "remote-source",
            FindingKind::UnresolvedSource => "unresolved-source",
            FindingKind::MissingSource => "missing-source",
            FindingKind::UncoveredBuild => "uncovered-build",
            FindingKind::UnlockedBuild => "unlocked-build",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}",
            self.file,
            self.line,
            self.kind.as_str(),
            self.message
        )
    }
}

/// Everything one unit's build reads.
#[derive(Debug, Clone)]
pub struct UnitInputs {
    pub unit: Unit,
    /// What of the build this description cannot account for (see [`Finding`]).
    pub findings: Vec<Finding>,
    /// The build recipe from `deploy.toml`, canonical JSON.
    pub recipe: String,
    /// The unit's folder, read whole (apps and non-Rust services).
    pub folder: Option<String>,
    /// The service's own crate and its workspace dependencies (Rust services).
    pub crates: Vec<Arc<Crate>>,
    /// External lockfile packages of the build (lockfile indexes), each with the index of
    /// the crate it enters through.
    pub packages: Vec<(usize, usize)>,
    /// Sections of the root `Cargo.toml` the build uses.
    pub settings: Vec<String>,
    /// Global input patterns (Rust services).
    pub globals: Vec<String>,
    /// The unit's extra input patterns.
    pub extras: Vec<String>,
    /// Files the Dockerfile copies from the build context that no other input covers.
    pub context: Vec<String>,
}

/// Describes every unit of `config` against `workspace` and `source` (of the same commit).
/// A Rust service whose folder is not a crate is an error that points into `deploy.toml`.
pub fn describe(
    config: &Config,
    workspace: &Workspace,
    source: &dyn Source,
) -> Result<Vec<UnitInputs>> {
    let mut units = Vec::new();
    let mut problems = Vec::new();
    for service in &config.services {
        match service_inputs(config, workspace, service) {
            Ok(mut unit) => {
                unit.findings = service_findings(config, workspace, service, source)?;
                dockerfile_inputs(workspace, service, &mut unit, source)?;
                units.push(unit);
            }
            Err(problem) => problems.push(problem),
        }
    }
    units.extend(config.apps.iter().map(app_inputs));
    problems.extend(symlinked_folders(config, source)?);
    if problems.is_empty() {
        Ok(units)
    } else {
        Err(config.failure(&problems))
    }
}

/// A unit folder (or migrations folder) reached through a symlink, at its `deploy.toml`
/// line: git keeps the link's target text, not the folder's files, so the fingerprint
/// would cover the link and an edit under the folder would never deploy.
fn symlinked_folders(config: &Config, source: &dyn Source) -> Result<Vec<Diagnostic>> {
    let mut folders: Vec<(&toml::Spanned<String>, String)> = Vec::new();
    for service in &config.services {
        folders.push((&service.path, service.path.get_ref().clone()));
        if let Some(migrations) = &service.migrations {
            let dir = crate::config::join(service.path.get_ref(), migrations.dir.get_ref());
            folders.push((&migrations.dir, dir));
        }
    }
    folders.extend(
        config
            .apps
            .iter()
            .map(|a| (&a.path, a.path.get_ref().clone())),
    );
    let mut problems = Vec::new();
    for (span, folder) in folders {
        if let Some((link, target)) = source.symlink_on(&folder)? {
            problems.push(Diagnostic::at(
                span.span(),
                format!(
                    "`{folder}` goes through the symlink `{link}` (to `{target}`) at {}: a \
                     commit keeps the link, not the folder, so no edit under it would ever \
                     deploy; name the folder itself",
                    source.label()
                ),
            ));
        }
    }
    Ok(problems)
}

impl UnitInputs {
    /// The unit's folder inputs: its own folder, or its crates' folders.
    pub fn folders(&self) -> impl Iterator<Item = Scope> + '_ {
        let own = self.folder.iter().map(|path| Scope::Dir {
            path: path.clone(),
            skipped: Vec::new(),
        });
        own.chain(self.crates.iter().map(|krate| Scope::of_crate(krate)))
    }

    fn new(unit: Unit, recipe: serde_json::Value, extras: &[toml::Spanned<String>]) -> UnitInputs {
        UnitInputs {
            unit,
            findings: Vec::new(),
            recipe: recipe.to_string(),
            folder: None,
            crates: Vec::new(),
            packages: Vec::new(),
            settings: Vec::new(),
            globals: Vec::new(),
            extras: patterns(extras),
            context: Vec::new(),
        }
    }
}

fn service_inputs(
    config: &Config,
    workspace: &Workspace,
    service: &Service,
) -> Result<UnitInputs, Diagnostic> {
    let dockerfile = service.dockerfile.get_ref();
    let unit = Unit {
        name: service.name.clone(),
        kind: UnitKind::Service,
        own_crate: None,
        dockerfile: Some(dockerfile.clone()),
    };
    if service.kind == ServiceKind::Docker {
        let recipe = serde_json::json!({
            "kind": "docker",
            "platform": service.platform,
            "build_args": service.build_args,
            "dockerfile": dockerfile,
        });
        let mut inputs = UnitInputs::new(unit, image_recipe(recipe, service), &service.inputs);
        inputs.folder = Some(service.path.get_ref().clone());
        return Ok(inputs);
    }
    let Some(own) = workspace.crate_at(service.path.get_ref()) else {
        let message = format!(
            "service `{}` is a Rust service but `{}` is not a crate of the workspace",
            service.name,
            service.path.get_ref()
        );
        return Err(Diagnostic::at(service.path.span(), message)
            .with_help("add the folder to `[workspace] members`, or set `kind = \"docker\"`"));
    };
    let closure = workspace.closure(own);
    let own = &workspace.crates[own];
    let recipe = serde_json::json!({
        "kind": "rust",
        "package": own.name,
        "bin": service.bin.as_deref().unwrap_or(&own.name),
        "profile": RELEASE_PROFILE,
        "target": RUST_TARGET,
        "static": true,
        "platform": service.platform,
        "build_args": service.build_args,
        "dockerfile": dockerfile,
    });
    let mut inputs = UnitInputs::new(
        Unit {
            own_crate: Some(own.name.clone()),
            ..unit
        },
        image_recipe(recipe, service),
        &service.inputs,
    );
    inputs.crates = closure
        .crates
        .iter()
        .map(|&i| Arc::clone(&workspace.crates[i]))
        .collect();
    inputs.packages = closure.packages;
    inputs.settings = rust_settings(workspace);
    inputs.globals = patterns(&config.inputs.global);
    Ok(inputs)
}

/// The recipe with how the image is built, where that is not the default: keys are added
/// only when set, so services that use none keep their fingerprints.
fn image_recipe(mut recipe: serde_json::Value, service: &Service) -> serde_json::Value {
    if service.kind == ServiceKind::Rust && service.build == Build::Image {
        recipe["build"] = serde_json::json!("image");
    }
    if service.auditable() {
        recipe["auditable"] = serde_json::json!(crate::deploy_plan::CARGO_AUDITABLE);
    }
    if let Some(stage) = &service.target {
        recipe["stage"] = serde_json::json!(stage);
    }
    if service.context.get_ref() != service.path.get_ref() {
        recipe["context"] = serde_json::json!(service.context.get_ref());
    }
    recipe
}

/// What cannot work in a service's build at this commit: a missing Dockerfile, a binary
/// its crate does not build.
fn service_findings(
    config: &Config,
    workspace: &Workspace,
    service: &Service,
    source: &dyn Source,
) -> Result<Vec<Finding>> {
    let line_of =
        |span: std::ops::Range<usize>| crate::diag::line_col(&config.source, span.start).0;
    let file = crate::config::FILE_NAME.to_owned();
    let mut findings = Vec::new();
    let dockerfile = &service.dockerfile;
    if source.kind(dockerfile.get_ref())? != Some(EntryKind::File) {
        findings.push(Finding {
            kind: FindingKind::MissingDockerfile,
            file: file.clone(),
            line: line_of(dockerfile.span()),
            message: format!(
                "service `{}`: its Dockerfile `{}` does not exist at {}",
                service.name,
                dockerfile.get_ref(),
                source.label()
            ),
        });
    }
    let own = workspace
        .crate_at(service.path.get_ref())
        .map(|i| &workspace.crates[i]);
    if let (ServiceKind::Rust, Some(own)) = (service.kind, own) {
        let bin = service.bin.as_deref().unwrap_or(&own.name);
        if !own.bins.iter().any(|b| b == bin) {
            let builds = if own.bins.is_empty() {
                "no binary".to_owned()
            } else {
                format!("only {}", own.bins.join(", "))
            };
            findings.push(Finding {
                kind: FindingKind::MissingBinary,
                file,
                line: line_of(service.name_span.clone()),
                message: format!(
                    "service `{}`: crate `{}` builds {builds}, not `{bin}` (set `bin`, or add the binary)",
                    service.name, own.name
                ),
            });
        }
    }
    Ok(findings)
}

/// What the service's Dockerfile takes from its build context at `source`: the files no
/// other input covers become inputs of their own, and what cannot be accounted for (see
/// [`FindingKind`]) becomes findings on the Dockerfile's lines.
fn dockerfile_inputs(
    workspace: &Workspace,
    service: &Service,
    unit: &mut UnitInputs,
    source: &dyn Source,
) -> Result<()> {
    let own = workspace
        .crate_at(service.path.get_ref())
        .map(|i| &workspace.crates[i]);
    let rust = service.kind == ServiceKind::Rust;
    let binary = match (rust, service.build, own) {
        (true, Build::Host, Some(own)) => Some(service.bin.as_deref().unwrap_or(&own.name)),
        _ => None,
    };
    let Some(context) = build_context::of_service(service, binary, source)? else {
        return Ok(());
    };
    let file = service.dockerfile.get_ref();
    let finding = |kind, line, message: String| Finding {
        kind,
        file: file.clone(),
        line,
        message: format!("service `{}`: {message}", service.name),
    };
    for problem in &context.reading.problems {
        let kind = match problem.kind {
            ProblemKind::Syntax => FindingKind::DockerfileSyntax,
            ProblemKind::UnknownTarget => FindingKind::UnknownTarget,
            ProblemKind::RemoteSource => FindingKind::RemoteSource,
            ProblemKind::Unresolved => FindingKind::UnresolvedSource,
        };
        unit.findings
            .push(finding(kind, problem.line, problem.message.clone()));
    }
    for missing in &context.missing {
        let message = format!(
            "{} {} names nothing in the build context `{}` (not in the commit, or left out by its .dockerignore)",
            missing.instruction,
            if missing.path.is_empty() { "." } else { &missing.path },
            if context.dir.is_empty() { "." } else { &context.dir },
        );
        unit.findings
            .push(finding(FindingKind::MissingSource, missing.line, message));
    }
    if rust {
        let closure: Vec<&Crate> = unit.crates.iter().map(AsRef::as_ref).collect();
        for (kind, line, message) in
            cargo_findings(&context.reading.cargo, &closure, own.map(AsRef::as_ref))
        {
            unit.findings.push(finding(kind, line, message));
        }
    }
    let in_build = rust && service.build == Build::Image;
    let covered = |path: &str| {
        path == file
            || unit.folders().any(|scope| scope.contains(path))
            || unit.globals.iter().chain(&unit.extras).any(|p| p == path)
            // An in-image build's crates, manifests and lockfile are inputs already as
            // the closure, settings and packages; other crates' files build nothing of it.
            || (in_build
                && (path == "Cargo.toml"
                    || path == "Cargo.lock"
                    || workspace.crates.iter().any(|c| {
                        path.strip_prefix(c.path.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                    })))
    };
    unit.context = context
        .used
        .iter()
        .map(|path| context.repo_path(path))
        .filter(|path| !covered(path))
        .collect();
    Ok(())
}

/// What the Dockerfile's `cargo build`s compile that the fingerprint does not cover.
fn cargo_findings(
    builds: &[CargoBuild],
    closure: &[&Crate],
    own: Option<&Crate>,
) -> Vec<(FindingKind, usize, String)> {
    let own = own.map_or("<package>", |c| c.name.as_str());
    let mut findings = Vec::new();
    for build in builds {
        if build.whole_workspace {
            findings.push((
                FindingKind::UncoveredBuild,
                build.line,
                format!("RUN cargo build without -p builds every default member at once, and Cargo unifies their features: the binary depends on crates outside the service's (add -p {own})"),
            ));
        }
        for package in &build.packages {
            let known = match package.strip_prefix("path:") {
                Some(path) => {
                    let path = crate::dockerfile::clean(path);
                    closure.iter().any(|c| c.path == path)
                }
                None => closure.iter().any(|c| &c.name == package),
            };
            if !known {
                let package = package.strip_prefix("path:").unwrap_or(package);
                findings.push((
                    FindingKind::UncoveredBuild,
                    build.line,
                    format!("RUN cargo builds `{package}`, which is not one of the service's crates: what it builds is no input of the fingerprint (build only -p {own})"),
                ));
            }
        }
        if !build.locked {
            findings.push((
                FindingKind::UnlockedBuild,
                build.line,
                "RUN cargo without --locked may resolve other versions than the Cargo.lock the fingerprint reads (add --locked)".to_owned(),
            ));
        }
    }
    findings
}

fn app_inputs(app: &App) -> UnitInputs {
    let unit = Unit {
        name: app.name.clone(),
        kind: UnitKind::App,
        own_crate: None,
        dockerfile: None,
    };
    let mut recipe = serde_json::json!({ "kind": "app", "build": app.build, "dist": app.dist });
    // Headers are part of what ships; added only when set, so other recipes keep their ids.
    if !app.cache_control.is_empty() {
        recipe["cache_control"] = serde_json::json!(app.cache_control);
    }
    let mut inputs = UnitInputs::new(unit, recipe, &app.inputs);
    inputs.folder = Some(app.path.get_ref().clone());
    inputs
}

/// Which repository paths belong to an input, to explain a change by its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    None,
    File(String),
    Dir { path: String, skipped: Vec<String> },
}

impl Scope {
    /// A crate's folder without its test-only folders.
    pub fn of_crate(krate: &Crate) -> Scope {
        Scope::Dir {
            path: krate.path.clone(),
            skipped: krate.skipped_dirs.clone(),
        }
    }

    /// Whether `path` belongs to this scope.
    pub fn contains(&self, path: &str) -> bool {
        match self {
            Scope::None => false,
            Scope::File(file) => file == path,
            Scope::Dir { path: dir, skipped } => path
                .strip_prefix(dir.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| keeps(skipped, rest)),
        }
    }

    /// The changes that touch this scope.
    pub fn changes<'c>(&self, changes: &'c ChangeSet) -> Vec<&'c Change> {
        match self {
            Scope::None => Vec::new(),
            Scope::File(file) => changes.under(file, |_| false),
            Scope::Dir { path, skipped } => changes.under(path, |rest| keeps(skipped, rest)),
        }
    }
}

/// Whether `rest`, a path inside a folder input, is an input: not inside one of the
/// folder's `skipped` top-level folders (a file that merely has such a name is kept).
pub fn keeps(skipped: &[String], rest: &str) -> bool {
    match rest.split_once('/') {
        Some((top, _)) => !skipped.iter().any(|s| s == top),
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
        use crate::source::ChangeKind;
        let scope = Scope::Dir {
            path: "crates/a".into(),
            skipped: vec!["tests".into()],
        };
        let change = |path: &str, old_path: Option<&str>| Change {
            path: path.into(),
            old_path: old_path.map(Into::into),
            kind: if old_path.is_some() {
                ChangeKind::Renamed
            } else {
                ChangeKind::Modified
            },
        };
        let changes = ChangeSet::new(vec![
            change("crates/a/src/lib.rs", None),
            change("crates/a/tests/it.rs", None),
            change("crates/a/tests", None),
            change("crates/ab/src/lib.rs", None),
            change("crates/a.rs", None),
            change("docs/moved.md", Some("crates/a/README.md")),
        ]);
        let found: Vec<&str> = scope
            .changes(&changes)
            .iter()
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(
            found,
            ["crates/a/src/lib.rs", "crates/a/tests", "docs/moved.md"]
        );
        let file = Scope::File("crates/a.rs".into());
        assert_eq!(file.changes(&changes).len(), 1);
    }
}
