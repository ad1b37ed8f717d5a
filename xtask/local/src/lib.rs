//! The embedded local stack behind `cargo xtask local up | down | status | reset`, so the
//! whole tool can be tried, and tested, with no AWS account. See docs/local-stack.md.
//!
//! Two processes on 127.0.0.1, started detached and recorded in `state.json` in the stack's
//! folder (`target/local-stack`, or `$XTASK_LOCAL_STACK`): the moto server with the plugin
//! in `moto_plugin.py` (ECS rollouts, ECR on the registry, fault injection), and the CNCF
//! registry. `up` then creates the resources of every `local_stack` environment.

mod bootstrap;
mod install;
mod process;

pub use bootstrap::{Network, Resource};

/// Python 3 on the PATH, if installed.
pub fn which_python() -> Option<PathBuf> {
    install::which("python3")
}

/// The registry binary on the PATH, if installed.
pub fn which_registry() -> Option<PathBuf> {
    install::which("docker-registry").or_else(|| install::which("registry"))
}

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use xshell::{cmd, Shell};
use xtask_aws::aws::{self, Clients};
use xtask_aws::config::{Config, FILE_NAME};
use xtask_aws::context::Context;

/// The plugin the emulator runs, shipped inside the tool.
const PLUGIN: &str = include_str!("moto_plugin.py");

/// The plugin's request validator: every request checked against AWS's published API
/// models (botocore's) and the naming rules AWS documents, refused as AWS would.
const SPEC: &str = include_str!("aws_spec.py");

/// Environment variable that moves the stack's folder (tests share one stack this way).
pub const DIR_VAR: &str = "XTASK_LOCAL_STACK";

/// What `state.json` records of one process.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Process {
    pid: Option<u32>,
    port: u16,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    moto: Process,
    registry: Process,
    /// SHA-256 of the plugin the running emulator was started with: a newer tool restarts it.
    plugin: String,
    /// Whether tasks run as containers (`up --run-containers`).
    run_containers: bool,
}

/// The local stack of one folder.
pub struct Stack {
    pub dir: PathBuf,
    /// The folder as a string: every process of this stack has it on its command line.
    marker: String,
    state: State,
}

impl Stack {
    pub fn open(ctx: &Context) -> Result<Stack> {
        let dir = std::env::var_os(DIR_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| ctx.root.join("target/local-stack"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let state = read_state(&dir);
        Ok(Stack {
            marker: dir.display().to_string(),
            dir,
            state,
        })
    }

    /// Writes the state whole or not at all (a temporary file renamed over it): every
    /// deploy reads it, and a half-written file would read as "nothing runs", making that
    /// deploy start a second registry and emulator beside the running ones.
    fn save(&self) -> Result<()> {
        let path = self.dir.join("state.json");
        let partial = self.dir.join(format!("state.json.{}", std::process::id()));
        std::fs::write(&partial, serde_json::to_vec_pretty(&self.state)?)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("replacing {}", path.display()))
    }

    /// An exclusive lock on the stack's folder, held while processes are started or
    /// stopped: deploys and `local up` running at once must not each start their own.
    fn lock(&self) -> Result<std::fs::File> {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::File::create(self.dir.join("stack.lock"))?;
        // SAFETY: flock on a file we hold open; released when it is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("locking the local stack's folder");
        }
        Ok(file)
    }

    fn running(&self, process: Process) -> bool {
        process
            .pid
            .is_some_and(|pid| process::is_running(pid, &self.marker))
    }

    /// `http://127.0.0.1:PORT` of the running emulator.
    pub fn endpoint(&self) -> Option<String> {
        self.running(self.state.moto)
            .then(|| format!("http://127.0.0.1:{}", self.state.moto.port))
    }

    /// `127.0.0.1:PORT` of the running registry.
    pub fn registry(&self) -> Option<String> {
        self.running(self.state.registry)
            .then(|| format!("127.0.0.1:{}", self.state.registry.port))
    }

    /// Whether each process answers its health check now (`None`: not running).
    pub fn probe(&self) -> Probe {
        let answers = |process: Process, url: fn(u16) -> String| {
            self.running(process)
                .then(|| process::answers(&url(process.port)))
        };
        Probe {
            moto: answers(self.state.moto, moto_health),
            registry: answers(self.state.registry, registry_health),
        }
    }

    /// Starts whatever is not running (idempotent), restarting the emulator when the
    /// registry moved, the plugin changed or the task mode did.
    pub fn start(&mut self, run_containers: bool) -> Result<()> {
        let _lock = self.lock()?;
        // What another process may have started while this one waited for the lock.
        self.state = read_state(&self.dir);
        let registry_moved = self.start_registry()?;
        let plugin = xtask_aws::workspace::hex(
            &Sha256::new()
                .chain_update(PLUGIN)
                .chain_update(SPEC)
                .finalize(),
        );
        let changed = registry_moved
            || self.state.plugin != plugin
            || self.state.run_containers != run_containers;
        if self.running(self.state.moto) && changed {
            self.stop_process(self.state.moto)?;
            self.remove_containers()?;
        }
        if !self.running(self.state.moto) {
            self.state.run_containers = run_containers;
            self.start_moto()?;
            self.state.plugin = plugin;
        }
        self.save()
    }

    /// Starts the registry unless it runs; returns whether it now listens on a new port.
    fn start_registry(&mut self) -> Result<bool> {
        if self.running(self.state.registry) {
            return Ok(false);
        }
        let binary = install::registry_binary()?;
        let port = self.port_for(self.state.registry.port)?;
        let data = self.dir.join("registry/data");
        std::fs::create_dir_all(&data)?;
        let config = self.dir.join("registry/config.yml");
        std::fs::write(&config, registry_config(&data, port))?;
        let log = self.dir.join("registry.log");
        let mut command = Command::new(binary);
        command.arg("serve").arg(&config);
        let pid = process::spawn_detached(command, &log)?;
        let moved = port != self.state.registry.port;
        self.state.registry = Process {
            pid: Some(pid),
            port,
        };
        self.save()?;
        process::wait_healthy(
            "the registry",
            &registry_health(port),
            pid,
            &self.marker,
            &log,
        )?;
        Ok(moved)
    }

    fn start_moto(&mut self) -> Result<()> {
        let python = install::moto_python(&self.dir)?;
        let plugin = self.dir.join("moto_plugin.py");
        std::fs::write(&plugin, PLUGIN)?;
        std::fs::write(self.dir.join("aws_spec.py"), SPEC)?;
        let port = self.port_for(self.state.moto.port)?;
        let log = self.dir.join("moto.log");
        let mut command = Command::new(python);
        command
            .arg(&plugin)
            .args([
                "--port",
                &port.to_string(),
                "--registry",
                &format!("127.0.0.1:{}", self.state.registry.port),
            ])
            .env("MOTO_ACCOUNT_ID", aws::LOCAL_ACCOUNT)
            .env("XTASK_BOTOCORE_VERSION", install::BOTOCORE_VERSION)
            .env("XTASK_STACK", &self.marker)
            .env(
                "XTASK_RUN_CONTAINERS",
                if self.state.run_containers { "1" } else { "0" },
            )
            .current_dir(&self.dir);
        let pid = process::spawn_detached(command, &log)?;
        self.state.moto = Process {
            pid: Some(pid),
            port,
        };
        self.save()?;
        let health = moto_health(port);
        process::wait_healthy("the AWS emulator (moto)", &health, pid, &self.marker, &log)
    }

    /// The port a process had, when it is still free, else a new free one.
    fn port_for(&self, previous: u16) -> Result<u16> {
        if previous != 0 && process::port_is_free(previous) {
            Ok(previous)
        } else {
            process::free_port()
        }
    }

    fn stop_process(&self, process: Process) -> Result<()> {
        match process.pid {
            Some(pid) => process::stop(pid, &self.marker),
            None => Ok(()),
        }
    }

    /// Stops both processes and the task containers; ports are kept for the next start.
    pub fn stop(&mut self) -> Result<()> {
        self.stop_process(self.state.moto)?;
        self.remove_containers()?;
        self.stop_process(self.state.registry)?;
        self.state.moto.pid = None;
        self.state.registry.pid = None;
        self.save()
    }

    /// Forgets every resource and image: the emulator restarts empty, the registry's
    /// storage is deleted.
    pub fn reset(&mut self) -> Result<()> {
        self.stop()?;
        let data = self.dir.join("registry/data");
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("deleting {}", data.display()))?;
        }
        self.start(self.state.run_containers)
    }

    /// Removes the task containers of this stack (labelled with its folder), if any ran.
    fn remove_containers(&self) -> Result<()> {
        if !self.state.run_containers || install::which("docker").is_none() {
            return Ok(());
        }
        let label = format!("label=xtask.stack={}", self.marker);
        let sh = Shell::new()?;
        let listed = cmd!(sh, "docker ps -aq --filter {label}").quiet().read()?;
        let ids: Vec<&str> = listed.split_whitespace().collect();
        if !ids.is_empty() {
            cmd!(sh, "docker rm -f {ids...}")
                .quiet()
                .ignore_stdout()
                .run()?;
        }
        Ok(())
    }

    /// Starts the stack (in the mode it last ran in) unless it answers; says whether it had
    /// to.
    pub fn ensure_running(&mut self) -> Result<bool> {
        if self.is_healthy() {
            return Ok(false);
        }
        self.start(self.state.run_containers)?;
        Ok(true)
    }

    /// Both processes run and answer.
    pub fn is_healthy(&self) -> bool {
        self.probe().healthy()
    }

    /// Whether tasks run as containers (`up --run-containers`).
    pub fn runs_containers(&self) -> bool {
        self.state.run_containers
    }

    /// Tasks running as containers, with their URLs (`up --run-containers`).
    pub fn tasks(&self) -> Vec<serde_json::Value> {
        let Some(endpoint) = self.endpoint() else {
            return Vec::new();
        };
        xtask_aws::http::get_text(&format!("{endpoint}/_xtask/tasks"))
            .ok()
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["tasks"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Creates the resources of every `local_stack` environment of the working tree's
    /// deploy.toml, printing each.
    pub fn bootstrap_all(&self, ctx: &Context) -> Result<()> {
        let text = std::fs::read_to_string(ctx.root.join(FILE_NAME))?;
        let config = Config::parse(FILE_NAME, &text)?;
        for name in config
            .environments
            .iter()
            .filter(|(_, e)| e.local_stack)
            .map(|(name, _)| name)
        {
            println!("environment {name}:");
            for resource in self.bootstrap(&config, name)? {
                println!("  {resource}");
            }
        }
        Ok(())
    }

    /// Creates the resources of environment `env` (idempotent).
    pub fn bootstrap(&self, config: &Config, env: &str) -> Result<Vec<Resource>> {
        let endpoint = self.endpoint().context("the local stack is not running")?;
        let registry = self
            .registry()
            .context("the local registry is not running")?;
        let names = config.names(env);
        let region = names.env.region.get_ref().clone();
        let network = self.network(&region)?;
        aws::runtime()?.block_on(async {
            let clients = Clients::local(&endpoint, &region).await;
            bootstrap::Bootstrap {
                config,
                names,
                aws: &clients,
                network: &network,
                registry: &registry,
            }
            .run()
            .await
        })
    }

    /// The subnets and security group awsvpc tasks use in `region` (the default VPC).
    pub fn network(&self, region: &str) -> Result<Network> {
        let endpoint = self.endpoint().context("the local stack is not running")?;
        let url = format!("{endpoint}/_xtask/network?region={region}");
        let body = xtask_aws::http::get_text(&url)?;
        Ok(serde_json::from_str(&body)?)
    }

    pub fn status_json(&self, probe: &Probe) -> serde_json::Value {
        let process = |p: Process, healthy: Option<bool>, log: &str| {
            serde_json::json!({
                "pid": p.pid,
                "port": p.port,
                "running": healthy.is_some(),
                "healthy": healthy == Some(true),
                "log": self.dir.join(log),
            })
        };
        serde_json::json!({
            "state_dir": self.dir,
            "aws_endpoint": self.endpoint(),
            "registry": self.registry(),
            "account_id": aws::LOCAL_ACCOUNT,
            "moto_version": install::MOTO_VERSION,
            "run_containers": self.state.run_containers,
            "tasks": self.tasks(),
            "processes": {
                "aws_emulator": process(self.state.moto, probe.moto, "moto.log"),
                "registry": process(self.state.registry, probe.registry, "registry.log"),
            },
        })
    }

    /// A few lines for people: what runs where, and how to talk to it.
    pub fn describe(&self) -> String {
        self.describe_probed(&self.probe())
    }

    pub fn describe_probed(&self, probe: &Probe) -> String {
        let line = |what: &str, p: Process, address: Option<String>, healthy: Option<bool>| {
            match address {
                Some(address) => {
                    let state = if healthy == Some(true) {
                        "healthy"
                    } else {
                        "NOT ANSWERING"
                    };
                    format!(
                        "  {what:<13} {address:<26} pid {:<8} {state}\n",
                        p.pid.unwrap_or_default()
                    )
                }
                None => format!("  {what:<13} {:<26} stopped\n", "-"),
            }
        };
        let endpoint = self.endpoint();
        let mut out = format!("local stack in {}\n", self.dir.display());
        out.push_str(&line(
            "aws emulator",
            self.state.moto,
            endpoint.clone(),
            probe.moto,
        ));
        out.push_str(&line(
            "registry",
            self.state.registry,
            self.registry(),
            probe.registry,
        ));
        for (index, task) in self.tasks().iter().enumerate() {
            if index == 0 {
                out.push_str("\ntasks running as containers:\n");
            }
            let (cluster, group) = (
                task["cluster"].as_str().unwrap_or_default(),
                task["group"].as_str().unwrap_or_default(),
            );
            let url = task["url"].as_str().unwrap_or("(no port)");
            out.push_str(&format!("  {cluster:<28} {group:<32} {url}\n"));
        }
        if let Some(endpoint) = endpoint {
            out.push_str(&format!(
                "\nAWS CLI and SDKs: AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=local\n",
                aws::LOCAL_ACCOUNT
            ));
        }
        out
    }
}

/// What a health probe of the stack's two processes found: `None` when not running.
pub struct Probe {
    moto: Option<bool>,
    registry: Option<bool>,
}

impl Probe {
    pub fn healthy(&self) -> bool {
        self.moto == Some(true) && self.registry == Some(true)
    }
}

/// The saved state of the stack's processes; none when there is no (readable) file.
fn read_state(dir: &Path) -> State {
    std::fs::read(dir.join("state.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn moto_health(port: u16) -> String {
    format!("http://127.0.0.1:{port}/_xtask/health")
}

fn registry_health(port: u16) -> String {
    format!("http://127.0.0.1:{port}/v2/")
}

/// The registry's configuration: its own storage, deletes allowed (ECR's BatchDeleteImage).
fn registry_config(data: &Path, port: u16) -> String {
    format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        data.display()
    )
}
