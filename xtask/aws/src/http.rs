//! The one way the tool speaks HTTP outside the SDK (health checks, the deploy webhook, the
//! local stack's control endpoints): a ureq agent with a whole-request timeout, whose error
//! statuses are answers to read rather than errors, so each caller says what a status
//! means. AWS itself is reached through the SDK, never here. Blocking: async callers run
//! these in `spawn_blocking`.
//!
//! HTTPS goes through rustls with aws-lc-rs, the TLS stack the SDK already links, and trusts
//! what the SDK trusts: the platform's roots, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set
//! (OpenSSL's convention, read by rustls-native-certs for both). `XTASK_CA_BUNDLE` adds a
//! PEM bundle on top, for health URLs behind a private CA, without giving up the platform's.

use anyhow::{bail, Context as _, Result};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// The environment variable naming a PEM bundle of extra CAs to trust.
pub const CA_BUNDLE_VAR: &str = "XTASK_CA_BUNDLE";

/// An agent whose every request ends within `timeout`.
pub fn agent(timeout: Duration) -> Result<ureq::Agent> {
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .tls_config(tls()?.clone())
        .build()
        .new_agent())
}

/// The TLS configuration of every agent, read once: a bad `XTASK_CA_BUNDLE` is an error the
/// first caller reports (deploy's pre-flight does, before anything changes).
pub fn tls() -> Result<&'static TlsConfig> {
    static TLS: OnceLock<Result<TlsConfig, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let roots = roots().map_err(|err| format!("{err:#}"))?;
        Ok(TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(RootCerts::new_with_certs(&roots))
            .build())
    })
    .as_ref()
    .map_err(|err| anyhow::anyhow!("{err}"))
}

/// The platform's roots (as the SDK reads them) and those of `XTASK_CA_BUNDLE`.
fn roots() -> Result<Vec<Certificate<'static>>> {
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if let Some(path) = std::env::var_os(CA_BUNDLE_VAR) {
        roots.extend(bundle(std::path::Path::new(&path))?);
    }
    Ok(roots)
}

/// The certificates of a PEM bundle; a file without any is an error, not an empty trust.
fn bundle(path: &std::path::Path) -> Result<Vec<Certificate<'static>>> {
    let what = || format!("${CA_BUNDLE_VAR} names {}", path.display());
    let pem = std::fs::read(path).with_context(|| format!("{}: cannot read it", what()))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        bail!(
            "{}, which holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): point it at a CA bundle",
            what()
        );
    }
    Ok(certs)
}

/// The TLS failure inside a failed request, if that is what it was: rustls errors come as
/// themselves or inside the I/O error of the handshake.
pub fn tls_failure(err: &ureq::Error) -> Option<&rustls::Error> {
    match err {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref(),
        _ => None,
    }
}

/// Says what to do about a failed request, when the failure is one a person can fix here:
/// a certificate nobody told the tool to trust.
pub fn hint(err: &ureq::Error) -> Option<String> {
    matches!(tls_failure(err), Some(rustls::Error::InvalidCertificate(_)))
        .then(|| format!("trust its CA with ${CA_BUNDLE_VAR} (a PEM bundle) or SSL_CERT_FILE"))
}

/// How long the local stack's control endpoints may take to answer.
const CONTROL: Duration = Duration::from_secs(30);

/// GETs `url` (a local stack control endpoint) and reads its 2xx body.
pub fn get_text(url: &str) -> Result<String> {
    read(agent(CONTROL)?.get(url).call()?, url)
}

/// POSTs a JSON body to `url` (a local stack control endpoint) and reads its 2xx answer.
pub fn post_json(url: &str, body: &serde_json::Value) -> Result<String> {
    let response = agent(CONTROL)?
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
    agent(timeout).is_ok_and(|agent| agent.get(url).call().is_ok_and(|r| r.status().is_success()))
}
