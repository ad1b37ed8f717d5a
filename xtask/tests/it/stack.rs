//! The shared local stack of a test run: started once (the first test to need it takes a
//! file lock and runs `xtask local up`; the others find it running), kept in
//! `target/tmp/local-stack`. Each test works in resources named for itself only. A missing
//! part (Python, the registry, Docker) fails the test with the command that installs it.

use crate::support::source_root;
use serde_json::Value;
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use xtask::aws::Clients;

/// Seconds per step of the ECS model for tests: rollouts take about a second.
pub const STEP_SECONDS: &str = "0.25";

/// The stack's time scale for tests (seconds of AWS's clock per real second): a minute of
/// an ECS bake, a lifecycle hook's timeout or a CloudFront invalidation takes 5 s. A bake of
/// one minute then outlasts a short `--timeout`, and nothing waits a real minute.
pub const TIME_SCALE: &str = "12";

pub struct Stack {
    pub dir: PathBuf,
    pub endpoint: String,
    pub registry: String,
}

/// The stack of this test run, started on first use (tasks modelled, not run).
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| start("local-stack", &["up", "--tasks", "modelled"]))
}

/// A second stack whose tasks run as containers, with its own PostgreSQL
/// (`local up --tasks containers`).
pub fn container_stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        require_docker();
        start("local-stack-containers", &["up", "--tasks", "containers"])
    })
}

fn start(folder: &str, up_args: &[&str]) -> Stack {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join("harness.lock")).unwrap();
    // SAFETY: flock on a file we hold open; released when `lock` is dropped.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let up = xtask_local(&dir, up_args);
    assert!(
        up.status.success(),
        "`xtask local up` failed (the message says what to install):\n{}\n{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let status = xtask_local(&dir, &["status", "--format", "json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    drop(lock);
    Stack {
        dir,
        endpoint: status["aws_endpoint"].as_str().unwrap().to_owned(),
        registry: status["registry"].as_str().unwrap().to_owned(),
    }
}

/// The example `service`'s image, built as a deploy builds it (a static binary copied into
/// the service's FROM-scratch Dockerfile) and pushed to `registry` as `repository:tag`.
pub fn example_image(registry: &str, repository: &str, tag: &str, service: &str) -> String {
    // The deploy's own host build, over the tests' shared target folder: it holds the
    // folder's lock until the binary is copied out of it.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static");
    let context = tempfile::tempdir().unwrap();
    let build = xtask::exec::docker::HostBuild::new(&source_root(), Some(&target)).unwrap();
    let binary = xtask::deploy_plan::HostBinary {
        service: service.into(),
        package: service.into(),
        bin: service.into(),
        auditable: false,
    };
    let stage = tempfile::tempdir().unwrap();
    let built = xtask::aws::runtime()
        .unwrap()
        .block_on(build.compile(&[binary], stage.path(), None))
        .unwrap_or_else(|err| panic!("building {service}: {err:#}"));
    std::fs::copy(&built[service], context.path().join(service)).unwrap();
    std::fs::copy(
        source_root().join(format!("services/{service}/Dockerfile")),
        context.path().join("Dockerfile"),
    )
    .unwrap();
    let image = format!("{registry}/{repository}:{tag}");
    for args in [
        vec![
            "build",
            "-q",
            "--build-arg",
            &format!("FINGERPRINT={tag}"),
            "-t",
            &image,
            context.path().to_str().unwrap(),
        ],
        vec!["push", "-q", &image],
    ] {
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    image
}

/// `xtask -C <this repository> local <args>` against the stack in `dir`.
pub fn xtask_local(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("-C")
        .arg(source_root())
        .arg("local")
        .args(args)
        .env("XTASK_LOCAL_STACK", dir)
        .env("XTASK_STEP_SECONDS", STEP_SECONDS)
        .env("XTASK_TIME_SCALE", TIME_SCALE)
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("the xtask binary runs")
}

/// A name no other test uses: `prefix-<random>`.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{:x}{:x}", std::process::id(), nanos)
}

/// Docker must answer: tests that build images need it.
pub fn require_docker() {
    let answered = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    assert!(
        answered.is_ok_and(|o| o.status.success()),
        "Docker is missing or not running: install it (`sudo apt-get install -y docker.io`) and start the daemon"
    );
}

impl Stack {
    /// Clients for this stack (the SDK's standard retries).
    pub fn clients(&self, rt: &tokio::runtime::Runtime) -> Clients {
        rt.block_on(Clients::local(&self.endpoint, "us-east-1"))
    }

    /// The user and password of ECR's GetAuthorizationToken (what `docker login` takes).
    pub fn ecr_credentials(&self) -> (String, String) {
        let rt = xtask::aws::runtime().unwrap();
        ecr_credentials_of(&rt, &self.clients(&rt))
    }

    /// A Docker config folder logged in to the registry front as a person would log in to
    /// ECR: `docker login --username AWS --password-stdin` with GetAuthorizationToken's
    /// password. The front refuses a push without it, as ECR does.
    pub fn ecr_login(&self) -> tempfile::TempDir {
        use std::io::Write as _;
        let (user, password) = self.ecr_credentials();
        let (user, password) = (user.as_str(), password.as_str());
        let config = tempfile::tempdir().unwrap();
        let front = self.endpoint.trim_start_matches("http://");
        let mut login = Command::new("docker")
            .args(["login", "--username", user, "--password-stdin", front])
            .env("DOCKER_CONFIG", config.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        login
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = login.wait_with_output().unwrap();
        assert!(out.status.success(), "docker login: {out:?}");
        config
    }

    /// Adds a fault (see docs/local-stack.md); returns its id.
    pub fn fault(&self, fault: Value) -> String {
        let body = ureq::post(&format!("{}/_xtask/faults", self.endpoint))
            .send(fault.to_string())
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let added: Value = serde_json::from_str(&body).unwrap();
        added["id"].as_str().unwrap().to_owned()
    }

    /// Creates CloudWatch alarm `name` if it does not exist and sets its state (`OK`,
    /// `ALARM`), as a metric crossing its threshold would.
    pub fn set_alarm(&self, name: &str, state: &str) {
        let wanted = serde_json::json!({"name": name, "state": state, "region": "us-east-1"});
        ureq::post(&format!("{}/_xtask/alarms", self.endpoint))
            .send(wanted.to_string())
            .unwrap();
    }

    pub fn network(&self) -> Value {
        get_json(&format!(
            "{}/_xtask/network?region=us-east-1",
            self.endpoint
        ))
    }
}

/// The user and password of the ECR login of `aws`'s account (GetAuthorizationToken).
pub fn ecr_credentials_of(rt: &tokio::runtime::Runtime, aws: &Clients) -> (String, String) {
    use base64::Engine as _;
    let token = rt
        .block_on(aws.ecr.get_authorization_token().send())
        .unwrap();
    let data = &token.authorization_data()[0];
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token().unwrap())
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (user, password) = decoded.split_once(':').unwrap();
    (user.to_owned(), password.to_owned())
}

/// `GET url`, which must answer JSON.
pub fn get_json(url: &str) -> Value {
    let body = ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
