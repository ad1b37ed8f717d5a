//! Shared runtime of the example services: the identity a service was deployed as and a
//! small HTTP server that answers `GET /health` (and, with the `metrics` feature,
//! `GET /metrics`).
//!
//! The identity is read from the environment at start-up, never compiled in: an image is
//! built once per fingerprint and promoted to many commits, so the commit it runs as can
//! only be known when the task starts.

use serde::Serialize;
use std::io;

/// Environment variable holding the commit a task was deployed as (set by the task definition).
pub const VERSION_VAR: &str = "DEPLOY_VERSION";
/// Environment variable holding the fingerprint of the image (set by the image itself).
pub const FINGERPRINT_VAR: &str = "DEPLOY_FINGERPRINT";

/// What a running service reports about itself on `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub service: String,
    pub version: String,
    pub fingerprint: String,
}

impl Identity {
    /// Reads the identity from the process environment; unset values read as `"unknown"`.
    pub fn from_env(service: &str) -> Self {
        let var = |name| std::env::var(name).unwrap_or_else(|_| "unknown".to_owned());
        Identity {
            service: service.to_owned(),
            version: var(VERSION_VAR),
            fingerprint: var(FINGERPRINT_VAR),
        }
    }
}

/// The JSON body of `GET /health`: the identity plus `status` and any service-specific fields.
pub fn health_body(identity: &Identity, extra: serde_json::Value) -> String {
    let mut body = serde_json::json!({
        "status": "ok",
        "service": identity.service,
        "version": identity.version,
        "fingerprint": identity.fingerprint,
    });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body.to_string()
}

/// A response chosen by a service's router: status code and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Serves HTTP on `addr` until the process ends. `route` answers `(method, path)`; `None` is a 404.
pub fn serve(addr: &str, route: impl Fn(&str, &str) -> Option<Reply>) -> io::Result<()> {
    let server = tiny_http::Server::http(addr).map_err(io::Error::other)?;
    eprintln!("listening on http://{}", server.server_addr());
    #[cfg(feature = "metrics")]
    let mut served: u64 = 0;
    for request in server.incoming_requests() {
        let (method, url) = (request.method().as_str(), request.url());
        #[cfg(feature = "metrics")]
        let reply = {
            served += 1;
            match (method, url) {
                ("GET", "/metrics") => Some(Reply {
                    status: 200,
                    body: serde_json::json!({ "requests_served": served }).to_string(),
                }),
                _ => route(method, url),
            }
        };
        #[cfg(not(feature = "metrics"))]
        let reply = route(method, url);
        let reply = reply.unwrap_or(Reply {
            status: 404,
            body: r#"{"error":"not found"}"#.to_owned(),
        });
        let header = tiny_http::Header::from_bytes("Content-Type", "application/json")
            .expect("static header is valid");
        let response = tiny_http::Response::from_string(reply.body)
            .with_status_code(reply.status)
            .with_header(header);
        if let Err(err) = request.respond(response) {
            eprintln!("failed to answer a request: {err}");
        }
    }
    Ok(())
}

/// The listen address: `LISTEN_ADDR` if set, else all interfaces on `default_port`.
pub fn listen_addr(default_port: u16) -> String {
    std::env::var("LISTEN_ADDR").unwrap_or_else(|_| format!("0.0.0.0:{default_port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_body_merges_extra_fields() {
        let identity = Identity {
            service: "api".into(),
            version: "abc".into(),
            fingerprint: "f00".into(),
        };
        let body: serde_json::Value =
            serde_json::from_str(&health_body(&identity, serde_json::json!({"jobs": 3}))).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], "abc");
        assert_eq!(body["fingerprint"], "f00");
        assert_eq!(body["jobs"], 3);
    }
}
