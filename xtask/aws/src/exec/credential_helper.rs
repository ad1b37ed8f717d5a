//! The deploy's registry login, held by the running process alone. Docker asks a
//! credential helper (`docker-credential-<name> get`, the server on stdin, a JSON answer
//! on stdout: Docker's credential-helpers protocol) whenever it needs a login; the deploy
//! names itself as the helper for the registry's host in its private Docker config and
//! gives each `docker` it runs the login in that process's environment. Nothing is written
//! to disk, so a run killed at any instant leaves no token behind (a `docker login` wrote
//! ECR's 12-hour token into `config.json`, which a SIGKILL left in /tmp).

use anyhow::{Context as _, Result};
use std::io::{Read as _, Write as _};
use std::path::Path;

/// The helper's name: Docker runs `docker-credential-xtask`.
pub const NAME: &str = "xtask";

/// The executable name Docker looks for on the PATH.
pub const EXECUTABLE: &str = "docker-credential-xtask";

/// The variables that carry the login from the deploy, through `docker`, to the helper.
pub const SERVER_VAR: &str = "XTASK_REGISTRY_SERVER";
pub const USERNAME_VAR: &str = "XTASK_REGISTRY_USERNAME";
pub const SECRET_VAR: &str = "XTASK_REGISTRY_SECRET";

/// Whether this process was started as the helper (by its executable's name).
pub fn invoked_as_helper() -> bool {
    std::env::args_os()
        .next()
        .and_then(|arg0| Path::new(&arg0).file_name().map(|n| n == EXECUTABLE))
        .unwrap_or(false)
}

/// Answers one request of Docker's credential-helpers protocol from the environment;
/// the exit code. `store` and `erase` change nothing: the login is not ours to keep.
pub fn serve() -> i32 {
    let action = std::env::args().nth(1).unwrap_or_default();
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        return 1;
    }
    let answer = match action.as_str() {
        "get" => get(input.trim()),
        "store" | "erase" => Ok(String::new()),
        "list" => Ok(list()),
        _ => Err(format!("unknown action `{action}`")),
    };
    match answer {
        Ok(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            0
        }
        Err(message) => {
            // Docker reads the reason from stdout (the protocol's helper client does).
            let _ = std::io::stdout().write_all(message.as_bytes());
            1
        }
    }
}

fn host(server: &str) -> &str {
    server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
}

fn get(server: &str) -> Result<String, String> {
    let var = |name| std::env::var(name).ok();
    match (var(SERVER_VAR), var(USERNAME_VAR), var(SECRET_VAR)) {
        (Some(ours), Some(username), Some(secret)) if host(&ours) == host(server) => {
            Ok(serde_json::json!({
                "ServerURL": server,
                "Username": username,
                "Secret": secret,
            })
            .to_string())
        }
        // The protocol's words for "no login here": Docker then goes on without one.
        _ => Err("credentials not found in native keychain".into()),
    }
}

fn list() -> String {
    let mut found = serde_json::Map::new();
    if let (Ok(server), Ok(username)) = (std::env::var(SERVER_VAR), std::env::var(USERNAME_VAR)) {
        found.insert(server, username.into());
    }
    serde_json::Value::Object(found).to_string()
}

/// Puts the helper where `docker` run with `bin` first on its PATH finds it: a link to
/// this very executable.
pub fn install(bin: &Path) -> Result<()> {
    let me = std::env::current_exe().context("finding the tool's own executable")?;
    std::fs::create_dir_all(bin)?;
    std::os::unix::fs::symlink(&me, bin.join(EXECUTABLE))
        .with_context(|| format!("linking {EXECUTABLE} into {}", bin.display()))
}

/// Names the helper for `server` in the private `config.json`: for that host alone, so a
/// `credsStore` the user set keeps serving every other registry and never sees the token.
pub fn configure(private: &Path, server: &str) -> Result<()> {
    let path = private.join("config.json");
    let mut config: serde_json::Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", path.display()))?,
        Err(_) => serde_json::json!({}),
    };
    let object = config
        .as_object_mut()
        .context("the Docker config.json is not a JSON object")?;
    let helpers = object
        .entry("credHelpers")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(helpers) = helpers.as_object_mut() {
        helpers.insert(host(server).to_owned(), NAME.into());
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}
