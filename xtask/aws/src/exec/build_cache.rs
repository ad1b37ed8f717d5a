//! The shared compile cache: when the environment names a `build_cache` bucket, the host
//! build runs rustc through sccache (`RUSTC_WRAPPER`), whose S3 backend reads and writes
//! compiled crates there, so each CI runner compiles only what no runner compiled before.
//!
//! Each build starts a sccache server of its own on a free port, configured for this
//! environment's bucket, region and endpoint, with the deploy's own credentials (a server
//! another build started would write to its bucket); the statistics come from that server
//! (`--show-stats`), which is stopped after the build. The cache only ever speeds a build
//! up: a server that does not start is a warning, and the build runs without it.
//!
//! sccache's keys hold the build's working folder and flags, and the build's flags hold the
//! target folder (`--remap-path-prefix`): runners share entries when they check out to the
//! same path, as CI runners do.

use crate::aws::Clients;
use crate::text::tail;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Where cache entries go in the bucket.
pub const KEY_PREFIX: &str = "sccache/";

/// A running sccache server for one build.
pub struct CompileCache {
    sccache: PathBuf,
    port: u16,
    bucket: String,
}

/// What the server did: compilations answered from the cache and compiled anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} hits, {} misses", self.hits, self.misses)
    }
}

impl CompileCache {
    /// Starts `sccache`'s server for `bucket`, or says why the build goes without it.
    pub async fn start(
        sccache: &Path,
        bucket: &str,
        aws: &Clients,
    ) -> Result<CompileCache, String> {
        let port = crate::process::free_port()
            .map_err(|err| format!("no free port for sccache: {err}"))?;
        let cache = CompileCache {
            sccache: sccache.to_owned(),
            port,
            bucket: bucket.to_owned(),
        };
        let mut start = cache.command();
        start.arg("--start-server");
        for (name, value) in server_env(bucket, aws).await {
            start.env(name, value);
        }
        let out = start
            .output()
            .await
            .map_err(|err| format!("cannot run {}: {err}", sccache.display()))?;
        if !out.status.success() {
            return Err(format!(
                "sccache did not start with bucket {bucket}: {}",
                tail(&String::from_utf8_lossy(&out.stderr), 3)
            ));
        }
        Ok(cache)
    }

    /// `sccache` with this server's port and nothing of the user's sccache settings.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.sccache);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SCCACHE_") {
                command.env_remove(name);
            }
        }
        command
            .env("SCCACHE_SERVER_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Makes a `cargo build` compile through this server.
    pub fn wrap(&self, cargo: &mut std::process::Command) {
        cargo
            .env("RUSTC_WRAPPER", &self.sccache)
            .env("SCCACHE_SERVER_PORT", self.port.to_string());
    }

    /// The server's counts so far.
    pub async fn stats(&self) -> Result<Stats> {
        let mut show = self.command();
        show.args(["--show-stats", "--stats-format", "json"]);
        let out = show
            .output()
            .await
            .context("running sccache --show-stats")?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("sccache --show-stats for bucket {}", self.bucket))?;
        let count = |key: &str| -> u64 {
            (json["stats"][key]["counts"].as_object())
                .map(|counts| counts.values().filter_map(serde_json::Value::as_u64).sum())
                .unwrap_or(0)
        };
        Ok(Stats {
            hits: count("cache_hits"),
            misses: count("cache_misses"),
        })
    }

    /// Stops the server (best effort: an idle one stops by itself after 10 minutes).
    pub async fn stop(self) {
        let mut stop = self.command();
        stop.arg("--stop-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status().await;
    }
}

/// The server's configuration: S3 in the environment's region (through the endpoint the
/// deploy uses, when it is not AWS's), and the deploy's credentials.
async fn server_env(bucket: &str, aws: &Clients) -> Vec<(&'static str, String)> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let mut env = vec![
        ("SCCACHE_BUCKET", bucket.to_owned()),
        ("SCCACHE_S3_KEY_PREFIX", KEY_PREFIX.to_owned()),
    ];
    if let Some(region) = &aws.region {
        env.push(("SCCACHE_REGION", region.clone()));
    }
    if let Some(endpoint) = &aws.endpoint {
        env.push(("SCCACHE_ENDPOINT", endpoint.clone()));
        let tls = endpoint.starts_with("https://");
        env.push(("SCCACHE_S3_USE_SSL", tls.to_string()));
    }
    let credentials = match &aws.credentials {
        Some(provider) => provider.provide_credentials().await.ok(),
        None => None,
    };
    if let Some(credentials) = credentials {
        env.push(("AWS_ACCESS_KEY_ID", credentials.access_key_id().to_owned()));
        env.push((
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key().to_owned(),
        ));
        if let Some(token) = credentials.session_token() {
            env.push(("AWS_SESSION_TOKEN", token.to_owned()));
        }
    }
    env
}
