//! The one way the tool speaks plain HTTP (health checks, the deploy webhook, the local
//! stack's control endpoints): a ureq agent with a whole-request timeout, whose error
//! statuses are answers to read rather than errors, so each caller says what a status
//! means. AWS itself is reached through the SDK, never here. Blocking: async callers run
//! these in `spawn_blocking`.

use anyhow::{bail, Result};
use std::time::Duration;

/// An agent whose every request ends within `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// How long the local stack's control endpoints may take to answer.
const CONTROL: Duration = Duration::from_secs(30);

/// GETs `url` (a local stack control endpoint) and reads its 2xx body.
pub fn get_text(url: &str) -> Result<String> {
    read(agent(CONTROL).get(url).call()?, url)
}

/// POSTs a JSON body to `url` (a local stack control endpoint) and reads its 2xx answer.
pub fn post_json(url: &str, body: &serde_json::Value) -> Result<String> {
    let response = agent(CONTROL)
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string())?;
    read(response, url)
}

fn read(mut response: ureq::http::Response<ureq::Body>, url: &str) -> Result<String> {
    let status = response.status();
    let body = response.body_mut().read_to_string()?;
    if !status.is_success() {
        bail!("{url} answered {status}: {}", crate::text::tail(&body, 3));
    }
    Ok(body)
}

/// Whether `url` answers 2xx within `timeout`.
pub fn answers(url: &str, timeout: Duration) -> bool {
    agent(timeout)
        .get(url)
        .call()
        .is_ok_and(|r| r.status().is_success())
}
