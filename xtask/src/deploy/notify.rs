//! The end-of-deploy notification: a Slack-compatible JSON post (`text`, plus the summary
//! for other consumers) to the URL in the environment variable `deploy.toml` names. The URL
//! is a secret: it is never printed, not even in an error.

use crate::report::Summary;
use std::time::Duration;

pub async fn post(var: &str, summary: &Summary) -> Result<(), String> {
    let Ok(url) = std::env::var(var) else {
        return Err(format!("${var} is not set"));
    };
    let body = serde_json::json!({
        "text": text(summary),
        "deploy": summary,
    })
    .to_string();
    let var = var.to_owned();
    tokio::task::spawn_blocking(move || {
        let agent = crate::http::agent(Duration::from_secs(10)).map_err(|e| format!("{e:#}"))?;
        let response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|err| {
                let hint = crate::http::hint(&err).map(|h| format!("; {h}"));
                let hint = hint.unwrap_or_default();
                format!("posting to ${var} failed ({}){hint}", error_kind(&err))
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("${var} answered HTTP {status}"))
        }
    })
    .await
    .map_err(|err| err.to_string())?
}

/// What went wrong, without the URL (ureq's messages may contain it).
fn error_kind(err: &ureq::Error) -> &'static str {
    if crate::http::hint(err).is_some() {
        return "certificate not trusted";
    }
    if crate::http::tls_failure(err).is_some() {
        return "TLS failed";
    }
    match err {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed => "connection failed",
        ureq::Error::HostNotFound => "host not found",
        ureq::Error::BadUri(_) => "not a valid URL",
        _ => "request failed",
    }
}

/// The message people read in the channel.
fn text(summary: &Summary) -> String {
    let mut text = format!(
        "Deploy of `{}` to *{}*: {} in {:.0}s",
        &summary.commit[..summary.commit.len().min(12)],
        summary.env,
        summary.outcome,
        summary.duration_seconds
    );
    for service in summary
        .services
        .iter()
        .filter(|s| s.action == crate::plan::Action::Deploy)
    {
        text.push_str(&format!("\n• {}: {}", service.name, service.outcome));
    }
    text
}
