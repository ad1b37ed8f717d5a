//! Building and pushing images: one `cargo build --release` for every Rust service that
//! needs an image (they share one compilation), statically linked for `FROM scratch`, then
//! one image per service, tagged with its fingerprint and commit and labelled with both.
//! `docker buildx build --push` where buildx exists, else `docker build` and `docker push`.
//! The registry login reads ECR's token on stdin into a private Docker config that is
//! deleted with the deploy: no credential is left on disk or printed.

use super::Executor;
use crate::aws::AwsContext as _;
use crate::config::ServiceKind;
use crate::diag::{fail, Exit};
use crate::inputs::{rust_target_flags, RUST_TARGET};
use crate::live::{COMMIT_TAG, FINGERPRINT_TAG};
use anyhow::{Context as _, Result};
use backon::{ExponentialBuilder, Retryable as _};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;
use tokio::sync::OnceCell;

/// The Docker client as this deploy uses it.
pub struct Docker {
    /// A Docker config folder of this deploy's own (the registry login goes there).
    config: tempfile::TempDir,
    /// Scratch space for build contexts.
    contexts: tempfile::TempDir,
    buildx: OnceCell<bool>,
    login: OnceCell<()>,
}

impl Docker {
    pub fn new() -> Result<Docker> {
        Ok(Docker {
            config: tempfile::Builder::new().prefix("xtask-docker-").tempdir()?,
            contexts: tempfile::Builder::new().prefix("xtask-build-").tempdir()?,
            buildx: OnceCell::new(),
            login: OnceCell::new(),
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .env("DOCKER_CONFIG", self.config.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
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
            last_lines(&String::from_utf8_lossy(&out.stderr), 3)
        ))
    }
}

/// `cargo build --release` of every listed Rust service's package, at once.
pub async fn compile(exec: &Executor<'_>, services: &[String]) -> Result<String> {
    let started = Instant::now();
    let mut packages = BTreeMap::new();
    for name in services {
        let package = exec
            .own_crates
            .get(name)
            .cloned()
            .with_context(|| format!("service {name} has no crate"))?;
        let bin = exec
            .service(name)
            .bin
            .clone()
            .unwrap_or_else(|| package.clone());
        packages.insert(name.clone(), (package, bin));
    }
    let packages_of: Vec<&str> = packages.values().map(|(p, _)| p.as_str()).collect();
    let mut cargo = Command::from(cargo_build(exec.root, &packages_of));
    cargo.kill_on_drop(true);
    let out = output(cargo).await.context("running cargo build")?;
    if !out.status.success() {
        return Err(fail(
            Exit::Build,
            format!(
                "cargo build of {} failed:\n{}",
                services.join(", "),
                last_lines(&String::from_utf8_lossy(&out.stderr), 30)
            ),
        ));
    }
    let executables = executables(&String::from_utf8_lossy(&out.stdout));
    for (service, (_, bin)) in &packages {
        let path = executables.get(bin).with_context(|| {
            format!("cargo build produced no binary `{bin}` for service {service}")
        })?;
        exec.set(service, |r| r.binary = Some(path.clone()));
    }
    Ok(format!(
        "{} built in one compilation in {:.1}s",
        services.join(", "),
        started.elapsed().as_secs_f64()
    ))
}

/// The one host build of Rust services: release, locked, statically linked for `FROM
/// scratch` images, JSON messages on stdout (they name each binary). The deploy runs it, and
/// the build benchmark times it.
pub fn cargo_build(root: &std::path::Path, packages: &[&str]) -> std::process::Command {
    let mut cargo =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(root)
        .args(["build", "--release", "--locked", "--target", RUST_TARGET])
        .arg("--message-format=json-render-diagnostics")
        // Static glibc binaries run in `FROM scratch` images.
        .env(rust_target_flags().0, rust_target_flags().1)
        .stdin(Stdio::null());
    for package in packages {
        cargo.args(["--package", package]);
    }
    cargo
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
pub async fn build(exec: &Executor<'_>, name: &str) -> Result<String> {
    let started = Instant::now();
    let service = exec.service(name);
    let planned = exec.planned(name);
    let uri = exec.repository_uri(name).to_owned();
    let tags = [
        format!("{uri}:{FINGERPRINT_TAG}{}", planned.unit.fingerprint),
        format!("{uri}:{COMMIT_TAG}{}", exec.plan.commit),
    ];
    let (context, dockerfile) = match service.kind {
        ServiceKind::Rust => rust_context(exec, name)?,
        ServiceKind::Docker => (
            exec.root.join(service.path.get_ref()),
            exec.root.join(service.dockerfile.get_ref()),
        ),
    };
    login(exec).await?;
    let mut args: Vec<String> = Vec::new();
    for tag in &tags {
        args.extend(["--tag".into(), tag.clone()]);
    }
    let mut build_args = service.build_args.clone();
    build_args.insert("FINGERPRINT".into(), planned.unit.fingerprint.clone());
    for (key, value) in &build_args {
        args.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    for label in [
        format!("org.opencontainers.image.revision={}", exec.plan.commit),
        format!("dev.xtask.fingerprint={}", planned.unit.fingerprint),
        format!("dev.xtask.service={name}"),
    ] {
        args.extend(["--label".into(), label]);
    }
    args.extend(["--file".into(), dockerfile.display().to_string()]);
    let buildx = exec.docker.has_buildx().await;
    let mut command = exec.docker.command();
    if buildx {
        command
            .args(["buildx", "build", "--push", "--platform", &service.platform])
            .args(&args);
    } else {
        command.arg("build").args(&args);
    }
    command.arg(&context);
    let out = output(command).await.context("running docker build")?;
    if !out.status.success() {
        return Err(fail(
            Exit::Build,
            format!(
                "docker build of {name} failed:\n{}",
                last_lines(&String::from_utf8_lossy(&out.stderr), 20)
            ),
        ));
    }
    if !buildx {
        for tag in &tags {
            push(exec, tag).await?;
        }
    }
    let image = crate::live::image_for(
        exec.aws,
        &exec.names.ecr_repository(service),
        &planned.unit.fingerprint,
    )
    .await?
    .ok_or_else(|| {
        fail(
            Exit::Push,
            format!("{} is not in the registry after its push", tags[0]),
        )
    })?;
    exec.set(name, |r| {
        r.image = Some(exec.image_ref(name, &image.digest));
        r.digest = Some(image.digest.clone());
    });
    Ok(format!(
        "pushed {} in {:.1}s",
        short_digest(&image.digest),
        started.elapsed().as_secs_f64()
    ))
}

/// A build context holding only the binary and the Dockerfile: small and reproducible.
fn rust_context(exec: &Executor<'_>, name: &str) -> Result<(PathBuf, PathBuf)> {
    let service = exec.service(name);
    let binary = exec
        .result(name)
        .binary
        .with_context(|| format!("no binary for {name}: the compile step did not run"))?;
    let context = exec.docker.contexts.path().join(name);
    std::fs::create_dir_all(&context)?;
    let file_name = binary.file_name().context("binary path has a file name")?;
    std::fs::copy(&binary, context.join(file_name))
        .with_context(|| format!("copying {}", binary.display()))?;
    let dockerfile = context.join("Dockerfile");
    std::fs::copy(exec.root.join(service.dockerfile.get_ref()), &dockerfile)
        .with_context(|| format!("copying {}", service.dockerfile.get_ref()))?;
    Ok((context, dockerfile))
}

/// `docker push`, retried with backoff on what looks transient.
async fn push(exec: &Executor<'_>, tag: &str) -> Result<()> {
    let attempt = || async {
        let mut command = exec.docker.command();
        command.args(["push", tag]);
        let out = output(command).await.map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(last_lines(&String::from_utf8_lossy(&out.stderr), 5))
        }
    };
    attempt
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
        .await
        .map_err(|err| fail(Exit::Push, format!("docker push {tag} failed: {err}")))
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

/// Logs in to the registry once per deploy, the password on stdin.
async fn login(exec: &Executor<'_>) -> Result<()> {
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
            let (user, password) = decoded
                .split_once(':')
                .context("the ECR token is not user:password")?;
            let endpoint = data.proxy_endpoint().unwrap_or_default();
            let server = endpoint
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let mut command = exec.docker.command();
            command
                .args(["login", "--username", user, "--password-stdin", server])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command.spawn().context("running docker login")?;
            let mut stdin = child.stdin.take().expect("piped");
            stdin.write_all(password.as_bytes()).await?;
            drop(stdin);
            let out = child.wait_with_output().await?;
            if !out.status.success() {
                return Err(fail(
                    Exit::Push,
                    format!(
                        "docker login to {server} failed: {}",
                        last_lines(&String::from_utf8_lossy(&out.stderr), 3)
                    ),
                ));
            }
            Ok(())
        })
        .await
        .map(drop)
}

async fn output(mut command: Command) -> std::io::Result<std::process::Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.output().await
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
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
