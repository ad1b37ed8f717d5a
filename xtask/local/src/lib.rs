//! The embedded local stack behind `cargo xtask local up | down | status | reset`, so the
//! whole tool can be tried, and tested, with no AWS account. See docs/local-stack.md.
//!
//! Processes on 127.0.0.1, started detached and recorded in `state.json` in the stack's
//! folder (`target/local-stack`, or `$XTASK_LOCAL_STACK`): the moto server with the plugin
//! in `moto_plugin.py` (ECS rollouts, ECR on the registry, fault injection), the CNCF
//! registry and, when tasks run as containers, a PostgreSQL of its own (`postgres.rs`).
//! `up` then creates the resources of every `local_stack` environment.

mod bootstrap;
mod install;
mod postgres;
mod process;

pub use bootstrap::{Network, Resource};
pub use install::{sccache_of_user, which, SCCACHE_VERSION};

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
use std::collections::BTreeMap;
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

/// The plugin's load balancer: a production and a test listener per shifting service.
const BALANCER: &str = include_str!("balancer.py");

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
    /// The registry behind each account's ECR, by account.
    #[serde(default)]
    registries: BTreeMap<String, Process>,
    /// The port the emulator fronts each further account's registry on (the first
    /// account's front is the emulator's own port), by account.
    #[serde(default)]
    fronts: BTreeMap<String, u16>,
    /// The stack's PostgreSQL, when tasks run as containers.
    #[serde(default)]
    postgres: Process,
    /// SHA-256 of the plugin the running emulator was started with: a newer tool restarts it.
    plugin: String,
    /// How tasks run; `None` until the first start chose.
    #[serde(default)]
    tasks: Option<TaskMode>,
}

/// How the stack runs ECS tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskMode {
    /// Tasks are bookkeeping: rollouts, health and exits are modelled (fast; the tests'
    /// default).
    Modelled,
    /// Every task is a container on the local Docker engine, health-checked over HTTP,
    /// with the stack's PostgreSQL for services with migrations.
    Containers,
}

impl std::str::FromStr for TaskMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "modelled" => Ok(TaskMode::Modelled),
            "containers" => Ok(TaskMode::Containers),
            other => Err(format!(
                "`{other}` is not a task mode: modelled or containers"
            )),
        }
    }
}

impl TaskMode {
    /// A first start's choice: real containers when Docker answers and PostgreSQL's
    /// binaries are installed, so a newcomer's first deploy runs and checks the services;
    /// otherwise the model, with the reason.
    fn detect() -> (TaskMode, Option<String>) {
        let docker = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .is_ok_and(|out| out.status.success());
        if !docker {
            return (
                TaskMode::Modelled,
                Some("Docker does not answer `docker info`".into()),
            );
        }
        if postgres::bindir().is_none() {
            return (
                TaskMode::Modelled,
                Some(
                    "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
                        .into(),
                ),
            );
        }
        (TaskMode::Containers, None)
    }
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

    /// `127.0.0.1:PORT` of the running registry of the default account.
    pub fn registry(&self) -> Option<String> {
        self.registry_of(aws::LOCAL_ACCOUNT)
    }

    /// `127.0.0.1:PORT` of the running registry of `account`.
    pub fn registry_of(&self, account: &str) -> Option<String> {
        let process = self.registry_process(account);
        self.running(process)
            .then(|| format!("127.0.0.1:{}", process.port))
    }

    /// Where `account`'s registry keeps its images.
    fn registry_data(&self, account: &str) -> PathBuf {
        self.dir.join("registry").join(account).join("data")
    }

    fn registry_process(&self, account: &str) -> Process {
        self.state
            .registries
            .get(account)
            .copied()
            .unwrap_or_default()
    }

    /// Whether each process answers its health check now (`None`: not running).
    pub fn probe(&self) -> Probe {
        let answers = |process: Process, url: fn(u16) -> String| {
            self.running(process)
                .then(|| process::answers(&url(process.port)))
        };
        let postgres = (self.state.tasks == Some(TaskMode::Containers)).then(|| {
            self.running(self.state.postgres).then(|| {
                postgres::Server::new(&self.dir)
                    .is_ok_and(|server| server.ready(self.state.postgres.port))
            })
        });
        let registries: Vec<Option<bool>> = (aws::LOCAL_ACCOUNTS.iter())
            .map(|account| answers(self.registry_process(account), registry_health))
            .collect();
        Probe {
            moto: answers(self.state.moto, moto_health),
            registry: registries
                .iter()
                .try_fold(true, |all, r| r.map(|ok| all && ok)),
            postgres,
        }
    }

    /// Starts whatever is not running (idempotent), restarting the emulator when the
    /// registry moved, the plugin changed or the task mode did. `mode` `None` keeps the
    /// mode the stack last ran in (or, on a first start, detects one); returns the reason
    /// a detected mode is the model, to be told.
    pub fn start(&mut self, mode: Option<TaskMode>) -> Result<Option<String>> {
        let _lock = self.lock()?;
        // What another process may have started while this one waited for the lock.
        self.state = read_state(&self.dir);
        let (mode, why) = match mode.or(self.state.tasks) {
            Some(mode) => (mode, None),
            None => TaskMode::detect(),
        };
        let mut registry_moved = false;
        for account in aws::LOCAL_ACCOUNTS {
            registry_moved |= self.start_registry(account)?;
        }
        match mode {
            TaskMode::Containers => self.start_postgres()?,
            TaskMode::Modelled => self.stop_postgres()?,
        }
        let plugin = xtask_aws::workspace::hex(
            &Sha256::new()
                .chain_update(PLUGIN)
                .chain_update(SPEC)
                .finalize(),
        );
        let changed =
            registry_moved || self.state.plugin != plugin || self.state.tasks != Some(mode);
        if self.running(self.state.moto) && changed {
            self.stop_process(self.state.moto)?;
            self.remove_containers()?;
        }
        if !self.running(self.state.moto) {
            self.state.tasks = Some(mode);
            self.start_moto()?;
            self.state.plugin = plugin;
        }
        self.save()?;
        Ok(why)
    }

    /// Starts the stack's PostgreSQL unless it runs (creating its cluster the first time).
    fn start_postgres(&mut self) -> Result<()> {
        if self.running(self.state.postgres) {
            return Ok(());
        }
        let server = postgres::Server::new(&self.dir)?;
        let bridge = postgres::Bridge::inspect()?;
        server.init(&bridge)?;
        let port = self.port_for(self.state.postgres.port)?;
        let log = self.dir.join("postgres.log");
        let pid = server.spawn(port, &bridge, &log)?;
        self.state.postgres = Process {
            pid: Some(pid),
            port,
        };
        self.save()?;
        process::wait_until(
            "PostgreSQL",
            &format!("127.0.0.1:{port}"),
            pid,
            &self.marker,
            &log,
            || server.ready(port),
        )
    }

    /// Stops the stack's PostgreSQL (a fast shutdown: its clients are the stack's tasks).
    fn stop_postgres(&mut self) -> Result<()> {
        if let Some(pid) = self.state.postgres.pid {
            process::stop_with(pid, &self.marker, libc::SIGINT)?;
        }
        self.state.postgres.pid = None;
        Ok(())
    }

    /// `127.0.0.1:PORT` of the running PostgreSQL.
    pub fn postgres(&self) -> Option<String> {
        self.running(self.state.postgres)
            .then(|| format!("127.0.0.1:{}", self.state.postgres.port))
    }

    /// Starts `account`'s registry unless it runs; returns whether it now listens on a
    /// new port.
    fn start_registry(&mut self, account: &str) -> Result<bool> {
        let previous = self.registry_process(account);
        if self.running(previous) {
            return Ok(false);
        }
        let binary = install::registry_binary()?;
        let port = self.port_for(previous.port)?;
        let data = self.registry_data(account);
        std::fs::create_dir_all(&data)?;
        let config = self.dir.join("registry").join(account).join("config.yml");
        std::fs::write(&config, registry_config(&data, port))?;
        let log = self.dir.join(format!("registry-{account}.log"));
        let mut command = Command::new(binary);
        command.arg("serve").arg(&config);
        let pid = process::spawn_detached(command, &log)?;
        let moved = port != previous.port;
        self.state.registries.insert(
            account.to_owned(),
            Process {
                pid: Some(pid),
                port,
            },
        );
        self.save()?;
        let url = registry_health(port);
        process::wait_until("the registry", &url, pid, &self.marker, &log, || {
            process::answers(&url)
        })?;
        Ok(moved)
    }

    fn start_moto(&mut self) -> Result<()> {
        let python = install::moto_python(&self.dir)?;
        let plugin = self.dir.join("moto_plugin.py");
        std::fs::write(&plugin, PLUGIN)?;
        std::fs::write(self.dir.join("aws_spec.py"), SPEC)?;
        std::fs::write(self.dir.join("balancer.py"), BALANCER)?;
        let port = self.port_for(self.state.moto.port)?;
        let log = self.dir.join("moto.log");
        let mut command = Command::new(python);
        command.arg(&plugin).args(["--port", &port.to_string()]);
        for (index, account) in aws::LOCAL_ACCOUNTS.iter().enumerate() {
            let registry = format!("127.0.0.1:{}", self.registry_process(account).port);
            let front = if index == 0 {
                String::new()
            } else {
                let previous = self.state.fronts.get(*account).copied().unwrap_or(0);
                let front = self.port_for(previous)?;
                self.state.fronts.insert((*account).to_owned(), front);
                format!("@{front}")
            };
            command.args(["--account", &format!("{account}={registry}{front}")]);
        }
        command
            .env_remove("MOTO_ACCOUNT_ID")
            .env("XTASK_BOTOCORE_VERSION", install::BOTOCORE_VERSION)
            .env("XTASK_STACK", &self.marker)
            .env(
                "XTASK_RUN_CONTAINERS",
                if self.runs_containers() { "1" } else { "0" },
            )
            .current_dir(&self.dir);
        let pid = process::spawn_detached(command, &log)?;
        self.state.moto = Process {
            pid: Some(pid),
            port,
        };
        self.save()?;
        let url = moto_health(port);
        process::wait_until(
            "the AWS emulator (moto)",
            &url,
            pid,
            &self.marker,
            &log,
            || process::answers(&url),
        )
    }

    /// The port a process had, when it is still free, else a new free one.
    fn port_for(&self, previous: u16) -> Result<u16> {
        if previous != 0 && process::port_is_free(previous) {
            Ok(previous)
        } else {
            Ok(process::free_port()?)
        }
    }

    fn stop_process(&self, process: Process) -> Result<()> {
        match process.pid {
            Some(pid) => process::stop(pid, &self.marker),
            None => Ok(()),
        }
    }

    /// Stops every process and the task containers; ports are kept for the next start.
    pub fn stop(&mut self) -> Result<()> {
        self.stop_process(self.state.moto)?;
        self.remove_containers()?;
        for registry in self.state.registries.values_mut() {
            if let Some(pid) = registry.pid.take() {
                process::stop(pid, &self.marker)?;
            }
        }
        self.stop_postgres()?;
        self.state.moto.pid = None;
        self.save()
    }

    /// Forgets every resource, image and database: the emulator restarts empty, the
    /// registry's storage and PostgreSQL's cluster are deleted.
    pub fn reset(&mut self) -> Result<()> {
        self.stop()?;
        for account in aws::LOCAL_ACCOUNTS {
            let data = self.registry_data(account);
            if data.exists() {
                std::fs::remove_dir_all(&data)
                    .with_context(|| format!("deleting {}", data.display()))?;
            }
        }
        if postgres::bindir().is_some() {
            postgres::Server::new(&self.dir)?.wipe()?;
        }
        self.start(self.state.tasks).map(drop)
    }

    /// Removes the task containers of this stack (labelled with its folder), if any ran.
    fn remove_containers(&self) -> Result<()> {
        if !self.runs_containers() || install::which("docker").is_none() {
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

    /// Starts the stack (in the mode it last ran in, or the one a first start detects)
    /// unless it answers. `None` when it ran; else what was started, for the user.
    pub fn ensure_running(&mut self) -> Result<Option<String>> {
        if self.is_healthy() {
            return Ok(None);
        }
        let why = self.start(None)?;
        let how = match (self.state.tasks, why) {
            (Some(TaskMode::Containers), _) => {
                "tasks run as containers, with a PostgreSQL of the stack's own".to_owned()
            }
            (_, Some(why)) => format!("tasks are modelled, not run: {why}"),
            _ => "tasks are modelled, not run (`local up --tasks containers` runs them)".to_owned(),
        };
        Ok(Some(format!(
            "started the local stack in {} ({how})",
            self.dir.display()
        )))
    }

    /// Both processes run and answer.
    pub fn is_healthy(&self) -> bool {
        self.probe().healthy()
    }

    /// Whether tasks run as containers (`up --tasks containers`).
    pub fn runs_containers(&self) -> bool {
        self.state.tasks == Some(TaskMode::Containers)
    }

    /// Seconds of AWS's clock per real second in the running emulator (its
    /// `XTASK_TIME_SCALE`: bakes, hook timeouts and invalidations run that much faster);
    /// 1 when it does not say.
    pub fn time_scale(&self) -> f64 {
        let Some(endpoint) = self.endpoint() else {
            return 1.0;
        };
        xtask_aws::http::get_text(&format!("{endpoint}/_xtask/health"))
            .ok()
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|health| health["time_scale"].as_f64())
            .filter(|scale| *scale > 0.0)
            .unwrap_or(1.0)
    }

    /// sccache for an environment's compile cache (installed into the stack's venv when
    /// it is not on the PATH).
    pub fn sccache(&self) -> Result<PathBuf> {
        install::sccache(&self.dir)
    }

    /// Tasks running as containers, with their URLs (`up --tasks containers`).
    pub fn tasks(&self) -> Vec<serde_json::Value> {
        self.listed("tasks")
    }

    /// The production and test listeners of the services deployed blue/green, canary or
    /// linear: `cluster`, `service`, `production_url`, `test_url`.
    pub fn balancers(&self) -> Vec<serde_json::Value> {
        self.listed("balancers")
    }

    /// The list `GET /_xtask/<what>` answers under `what` (empty when nothing answers).
    fn listed(&self, what: &str) -> Vec<serde_json::Value> {
        let Some(endpoint) = self.endpoint() else {
            return Vec::new();
        };
        xtask_aws::http::get_text(&format!("{endpoint}/_xtask/{what}"))
            .ok()
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v[what].as_array().cloned())
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
        let names = config.names(env);
        let account = local_account(config, env);
        let registry = self
            .registry_of(&account)
            .with_context(|| format!("the local registry of account {account} is not running"))?;
        let region = names.env.region.get_ref().clone();
        let network = self.network(&region, &account)?;
        let database_port = self.databases(config, env)?;
        aws::runtime()?.block_on(async {
            let clients = Clients::local_in(&endpoint, &region, &account).await;
            bootstrap::Bootstrap {
                config,
                names,
                aws: &clients,
                network: &network,
                registry: &registry,
                endpoint: &endpoint,
                account: &account,
                database_port,
                grants: promoted_by(config, env),
            }
            .run()
            .await
        })
    }

    /// With containers, a database per service with migrations on the stack's PostgreSQL,
    /// named after its ECS service (so projects and environments sharing the stack do not
    /// share a schema); returns the server's port.
    fn databases(&self, config: &Config, env: &str) -> Result<Option<u16>> {
        if !self.runs_containers() {
            return Ok(None);
        }
        self.postgres()
            .context("the local stack's PostgreSQL is not running (`cargo xtask local up`)")?;
        let (server, port) = (postgres::Server::new(&self.dir)?, self.state.postgres.port);
        let names = config.names(env);
        for service in config.services.iter().filter(|s| s.migrations.is_some()) {
            server.create_database(port, &names.ecs_service(service))?;
        }
        Ok(Some(port))
    }

    /// The subnets and security group awsvpc tasks use in `region` of `account` (the
    /// default VPC).
    pub fn network(&self, region: &str, account: &str) -> Result<Network> {
        let endpoint = self.endpoint().context("the local stack is not running")?;
        let url = format!("{endpoint}/_xtask/network?region={region}&account={account}");
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
            "accounts": aws::LOCAL_ACCOUNTS.iter().map(|account| serde_json::json!({
                "account_id": account,
                "registry": self.registry_of(account),
                "front": self.front_of(account),
            })).collect::<Vec<_>>(),
            "moto_version": install::MOTO_VERSION,
            "run_containers": self.runs_containers(),
            "task_mode": self.state.tasks,
            "tasks": self.tasks(),
            "balancers": self.balancers(),
            "postgres": self.postgres().map(|address| serde_json::json!({
                "address": address,
                "user": "postgres",
                "password": postgres::PASSWORD,
            })),
            "processes": {
                "aws_emulator": process(self.state.moto, probe.moto, "moto.log"),
                "registry": process(self.registry_process(aws::LOCAL_ACCOUNT), probe.registry, "registry-000000000000.log"),
                "postgres": process(self.state.postgres, probe.postgres.flatten(), "postgres.log"),
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
        for account in aws::LOCAL_ACCOUNTS {
            out.push_str(&line(
                &format!("registry {}", &account[account.len() - 4..]),
                self.registry_process(account),
                self.registry_of(account),
                probe.registry,
            ));
        }
        if let Some(healthy) = probe.postgres {
            out.push_str(&line(
                "postgresql",
                self.state.postgres,
                self.postgres(),
                healthy,
            ));
        }
        out.push_str(&format!(
            "  {:<13} {}\n",
            "tasks",
            match self.state.tasks {
                Some(TaskMode::Containers) =>
                    "run as containers (`local up --tasks modelled` only models them)",
                Some(TaskMode::Modelled) =>
                    "modelled, not run (`local up --tasks containers` runs them)",
                None => "not chosen yet",
            }
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
        if let Some(address) = self.postgres() {
            out.push_str(&format!(
                "\nPostgreSQL: psql postgres://postgres:{}@{address}/<ecs service> (a database per service with migrations)\n",
                postgres::PASSWORD
            ));
        }
        if let Some(endpoint) = endpoint {
            out.push_str(&format!(
                "\nAWS CLI and SDKs: AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=local\n(the access key is the account: {} are the stack's accounts)\n",
                aws::LOCAL_ACCOUNT,
                aws::LOCAL_ACCOUNTS.join(" and ")
            ));
        }
        out
    }
}

/// What a health probe of the stack's processes found: `None` when not running; for
/// PostgreSQL, the outer `None` when the stack has none (tasks modelled).
pub struct Probe {
    moto: Option<bool>,
    registry: Option<bool>,
    postgres: Option<Option<bool>>,
}

impl Probe {
    pub fn healthy(&self) -> bool {
        self.moto == Some(true)
            && self.registry == Some(true)
            && self.postgres.is_none_or(|pg| pg == Some(true))
    }
}

impl Stack {
    /// `127.0.0.1:PORT` where the emulator fronts `account`'s registry, as its ECR
    /// repository URIs name it.
    pub fn front_of(&self, account: &str) -> Option<String> {
        let port = if account == aws::LOCAL_ACCOUNT {
            self.state.moto.port
        } else {
            *self.state.fronts.get(account)?
        };
        self.endpoint().map(|_| format!("127.0.0.1:{port}"))
    }
}

/// The stack account of a `local_stack` environment: its `account_id` when the stack has
/// that account, else the default one, whose credentials pre-flight then finds are not
/// the account deploy.toml names (exit 3), as AWS credentials for another account would be.
pub fn local_account(config: &Config, env: &str) -> String {
    let account = config.environments[env].account_id.get_ref();
    if aws::LOCAL_ACCOUNTS.contains(&account.as_str()) {
        account.clone()
    } else {
        aws::LOCAL_ACCOUNT.to_owned()
    }
}

/// The accounts of the other local environments that promote from `env`: each may read its
/// ledger, images and app files, as Terraform's policies let production read staging's.
fn promoted_by(config: &Config, env: &str) -> Vec<String> {
    (config.environments.values())
        .filter(|e| e.local_stack && e.promote_from.as_ref().is_some_and(|f| f.get_ref() == env))
        .map(|e| e.account_id.get_ref().clone())
        .filter(|account| account != config.environments[env].account_id.get_ref())
        .collect()
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
