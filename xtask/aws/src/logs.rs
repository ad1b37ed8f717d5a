//! The last lines a task wrote to CloudWatch Logs, for failure reports: operators read a
//! failed migration's or a crashed task's output, not only its exit code. Read where the
//! task definition's `awslogs` configuration sends a container's output (group, region, and
//! the stream `prefix/container/task-id`).
//!
//! One read-only call (`GetLogEvents`) does not earn the CloudWatch Logs SDK crate: 28 s of
//! compile on every cold build (measured with `cargo build --timings`: about as much as the
//! ECS crate), a fifth of the whole. It is signed with aws-sigv4, the SDK's own signer and
//! already built, and sent with the tool's HTTP agent. Best effort: a report without its
//! log lines says why.

use crate::aws::Clients;
use anyhow::{Context as _, Result};
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sdk_ecs::types as ecs;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use std::time::{Duration, SystemTime};

/// The CloudWatch Logs API's JSON target of the one call made.
const GET_LOG_EVENTS: &str = "Logs_20140328.GetLogEvents";

/// Where one container's output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub group: String,
    pub stream: String,
    pub region: Option<String>,
}

/// The stream of `container` in task `task_id`, when its definition logs with `awslogs` and
/// a stream prefix (without a prefix the stream's name is not the task's).
pub fn stream_of(
    definition: &ecs::TaskDefinition,
    container: &str,
    task_id: &str,
) -> Option<Stream> {
    let spec = (definition.container_definitions().iter()).find(|c| c.name() == Some(container))?;
    let logging = spec.log_configuration()?;
    if logging.log_driver() != &ecs::LogDriver::Awslogs {
        return None;
    }
    let options = logging.options()?;
    Some(Stream {
        group: options.get("awslogs-group")?.clone(),
        stream: format!(
            "{}/{container}/{task_id}",
            options.get("awslogs-stream-prefix")?
        ),
        region: options.get("awslogs-region").cloned(),
    })
}

/// The last `lines` messages of `stream`, oldest first.
pub async fn tail(clients: &Clients, stream: &Stream, lines: usize) -> Result<Vec<String>> {
    let provider = clients.credentials.as_ref().context("no AWS credentials")?;
    let credentials = provider.provide_credentials().await?;
    let region = (stream.region.clone())
        .or_else(|| clients.region.clone())
        .context("no region for CloudWatch Logs")?;
    let endpoint = match &clients.endpoint {
        Some(endpoint) => format!("{}/", endpoint.trim_end_matches('/')),
        None => format!("https://logs.{region}.amazonaws.com/"),
    };
    let body = serde_json::json!({
        "logGroupName": stream.group,
        "logStreamName": stream.stream,
        "limit": lines,
        "startFromHead": false,
    })
    .to_string();
    let headers = signed_headers(&endpoint, &region, credentials, &body)?;
    let answer = tokio::task::spawn_blocking(move || {
        let agent = crate::http::agent(Duration::from_secs(10))?;
        let mut request = agent.post(&endpoint);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let mut response = request.send(body)?;
        let status = response.status();
        let text = response.body_mut().read_to_string()?;
        anyhow::ensure!(
            status.is_success(),
            "GetLogEvents answered {status}: {}",
            crate::text::tail(&text, 2)
        );
        Ok::<_, anyhow::Error>(text)
    })
    .await??;
    let answer: serde_json::Value = serde_json::from_str(&answer)?;
    Ok((answer["events"].as_array().into_iter().flatten())
        .filter_map(|e| e["message"].as_str())
        .map(|m| m.trim_end().to_owned())
        .collect())
}

/// The request's headers, SigV4-signed for the `logs` service.
fn signed_headers(
    endpoint: &str,
    region: &str,
    credentials: aws_credential_types::Credentials,
    body: &str,
) -> Result<Vec<(String, String)>> {
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("x-amz-target".to_owned(), GET_LOG_EVENTS.to_owned()),
    ];
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("logs")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new(
        "POST",
        endpoint,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let (signed, _) = instructions.into_parts();
    headers.extend(
        signed
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned())),
    );
    Ok(headers)
}

/// How many lines of a task's log a failure report shows.
pub const REPORT_LINES: usize = 20;

/// The report's lines for a task's container: its last log lines, why they could not be
/// read, or nothing when the container does not log to CloudWatch.
pub async fn report(
    clients: &Clients,
    definition: &ecs::TaskDefinition,
    container: &str,
    task_arn: &str,
) -> String {
    let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    let Some(stream) = stream_of(definition, container, task_id) else {
        return String::new();
    };
    let place = format!("{} {}", stream.group, stream.stream);
    match tail(clients, &stream, REPORT_LINES).await {
        Ok(lines) if lines.is_empty() => format!("\n  {container}'s log ({place}) is empty"),
        Ok(lines) => {
            let mut text = format!("\n  last lines of {container}'s log ({place}):");
            for line in lines {
                text.push_str(&format!("\n    {line}"));
            }
            text
        }
        Err(err) => format!("\n  ({container}'s log {place} could not be read: {err:#})"),
    }
}
