//! The example API service: `api serve` (the default) answers HTTP, `api migrate` applies the
//! embedded schema migrations to `DATABASE_URL` and exits.

mod migrate;
mod split;
mod tls;

/// The tests' real PostgreSQL, shared with the binary's tests in tests/.
#[cfg(test)]
#[path = "../tests/database/mod.rs"]
mod database;

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    let result = match command.as_str() {
        "serve" => serve().map_err(Into::into),
        "migrate" => std::env::var("DATABASE_URL")
            .map_err(|_| "DATABASE_URL is not set".into())
            .and_then(|url| migrate::run(&url)),
        other => Err(format!("unknown command `{other}`; expected `serve` or `migrate`").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("api: {}", causes(&*err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its sources, joined: a postgres error displays only its kind ("db error",
/// "error connecting to server") and keeps the server's message in its source.
fn causes(err: &dyn std::error::Error) -> String {
    std::iter::successors(Some(err), |err| err.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

fn serve() -> std::io::Result<()> {
    let identity = common::Identity::from_env("api");
    common::serve(&common::listen_addr(8080), move |method, path| {
        match (method, path) {
            ("GET", "/health") => Some(common::Reply {
                status: 200,
                body: common::health_body(&identity, serde_json::Value::Null),
            }),
            ("GET", "/items") => Some(common::Reply {
                status: 200,
                body: "[]".to_owned(),
            }),
            _ => None,
        }
    })
}
