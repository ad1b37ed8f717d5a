//! AWS clients for one environment. A `local_stack` environment talks to the embedded
//! stack at its endpoint with its fixed credentials (access key = the emulator's account);
//! nothing here ever prints a credential.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

/// The account the local stack's emulator runs as (`MOTO_ACCOUNT_ID`).
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// Every client the tool uses, configured for one environment.
#[derive(Clone)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub sts: aws_sdk_sts::Client,
    /// Where every call goes when not AWS's own endpoints (`AWS_ENDPOINT_URL`, the local
    /// stack), for messages about calls that did not get there.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl Clients {
    /// Clients for the embedded stack at `endpoint`.
    pub async fn local(endpoint: &str, region: &str) -> Clients {
        Clients::from_config(&local_config(endpoint, region).await, true)
    }

    /// Clients for a real AWS account: the default credential chain (environment, profile,
    /// SSO, web identity for GitHub OIDC) or `profile`; `AWS_ENDPOINT_URL` is honoured.
    pub async fn for_aws(region: &str, profile: Option<&str>) -> Clients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .retry_config(retries());
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        // An endpoint override (`AWS_ENDPOINT_URL`, e.g. an emulator) serves every bucket
        // on one host, as the local stack does.
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        Clients::from_config(&loader.load().await, path_style)
    }

    /// Clients for `config`; `path_style` selects an emulator's bucket addressing.
    pub fn from_config(config: &SdkConfig, path_style: bool) -> Clients {
        // The emulator serves every bucket on one host: path-style addressing.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build();
        Clients {
            ecs: aws_sdk_ecs::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            cloudfront: aws_sdk_cloudfront::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            endpoint: config.endpoint_url().map(str::to_owned),
            region: config.region().map(|r| r.to_string()),
        }
    }
}

/// The SDK configuration of the embedded stack at `endpoint`.
pub async fn local_config(endpoint: &str, region: &str) -> SdkConfig {
    let credentials = Credentials::new(
        LOCAL_ACCOUNT,
        "local-stack",
        None,
        None,
        "xtask-local-stack",
    );
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .retry_config(retries())
        .load()
        .await
}

/// Throttling and server errors are retried with the SDK's jittered exponential backoff;
/// a deploy makes many calls in a burst, so more attempts than the default three.
fn retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_max_backoff(std::time::Duration::from_secs(10))
}

/// A tokio runtime for one command: the SDK is async, the tool is not.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// SDK errors with their whole cause chain (the service's code and message), in context,
/// on one line ([`one_line`]).
pub trait AwsContext<T> {
    fn aws_context(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: std::error::Error + 'static> AwsContext<T> for Result<T, E> {
    fn aws_context(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|err| anyhow::anyhow!("{}: {}", what(), one_line(&err)))
    }
}

/// An error and its causes as one line for a person: each cause's own message once, joined
/// by `: `. Never the SDK's `Debug` form, which `DisplayErrorContext` appends to its text.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(err) = next {
        // One line: a multi-line message's lines become `; `-separated clauses.
        let lines: Vec<String> = (err.to_string().lines())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect();
        let text = lines.join("; ").replace(":; ", ": ");
        // Wrappers often repeat their cause's text, or end with it.
        if !text.is_empty() && !parts.last().is_some_and(|last| last.ends_with(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// What to do when no credential provider of the default chain had credentials, or `None`
/// when `err` is not that.
pub fn missing_credentials(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(CredentialsError::CredentialsNotLoaded(_)) = err.downcast_ref() {
            return Some(format!(
                "no AWS credentials ({}); log in with `aws sso login --profile <name>` and \
                 set AWS_PROFILE (or pass --profile), export AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or in GitHub Actions take a role by OIDC \
                 (aws-actions/configure-aws-credentials)",
                one_line(err)
            ));
        }
        next = err.source();
    }
    None
}
