//! AWS clients for one environment. A `local_stack` environment talks to the embedded
//! stack at its endpoint with its fixed credentials (access key = the emulator's account);
//! nothing here ever prints a credential.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::RequestId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The local stack's default account: requests whose credentials name no account of the
/// stack are its.
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// Every account of the local stack, each with its own registry: two, so that promoting
/// from one environment to another crosses accounts as staging to production does.
pub const LOCAL_ACCOUNTS: [&str; 2] = [LOCAL_ACCOUNT, "000000000001"];

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
    /// Where the credentials come from, to ask when they expire.
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// The region of each bucket asked about (`for_bucket`), so each is asked once a run.
    bucket_regions: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Clients {
    /// Clients for the embedded stack at `endpoint`.
    pub async fn local(endpoint: &str, region: &str) -> Clients {
        Clients::local_in(endpoint, region, LOCAL_ACCOUNT).await
    }

    /// Clients for `account` of the embedded stack at `endpoint`.
    pub async fn local_in(endpoint: &str, region: &str, account: &str) -> Clients {
        Clients::from_config(&local_config_in(endpoint, region, account).await, true)
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
            .interceptor(TraceAnswers)
            .build();
        // Each client's own configuration, to hang the tracing interceptor on.
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .interceptor(TraceAnswers)
                        .build(),
                )
            };
        }
        Clients {
            ecs: client!(aws_sdk_ecs),
            ecr: client!(aws_sdk_ecr),
            s3: aws_sdk_s3::Client::from_conf(s3),
            cloudfront: client!(aws_sdk_cloudfront),
            sts: client!(aws_sdk_sts),
            endpoint: config.endpoint_url().map(str::to_owned),
            region: config.region().map(|r| r.to_string()),
            credentials: config.credentials_provider(),
            bucket_regions: Arc::default(),
        }
    }

    /// These clients, with S3 signing for the region `bucket` is in. An app's bucket may
    /// sit in another region than the environment's (a CloudFront origin can be anywhere),
    /// and S3 answers a request signed for the wrong region with 301 and the bucket's
    /// region in `x-amz-bucket-region` (HeadBucket's API reference): asked once with
    /// HeadBucket, then remembered. Any other answer keeps the environment's region, for
    /// the caller's own request to report.
    pub async fn for_bucket(&self, bucket: &str) -> Clients {
        let (region, _) = self.region_of(bucket).await;
        self.in_region(region)
    }

    /// [`Clients::for_bucket`] and HeadBucket's answer in the bucket's region: the answer
    /// that found the region when it was asked there (one request), else asked again.
    pub async fn head_bucket(&self, bucket: &str) -> (Clients, HeadBucket) {
        let (region, answer) = self.region_of(bucket).await;
        let clients = self.in_region(region);
        let answer = match answer {
            Some(answer) => answer,
            None => clients.s3.head_bucket().bucket(bucket).send().await,
        };
        (clients, answer)
    }

    /// The region to sign `bucket`'s requests for, and HeadBucket's answer when it was
    /// just asked in that region.
    async fn region_of(&self, bucket: &str) -> (String, Option<HeadBucket>) {
        let known = (self.bucket_regions.lock().ok()).and_then(|r| r.get(bucket).cloned());
        if let Some(region) = known {
            return (region, None);
        }
        let head = self.s3.head_bucket().bucket(bucket).send().await;
        let moved = head.as_ref().err().and_then(|err| {
            let response = err.raw_response()?;
            (response.status().as_u16() == 301)
                .then(|| response.headers().get("x-amz-bucket-region"))
                .flatten()
                .map(str::to_owned)
        });
        let here = moved.is_none();
        let region = moved.or_else(|| self.region.clone()).unwrap_or_default();
        if let Ok(mut regions) = self.bucket_regions.lock() {
            regions.insert(bucket.to_owned(), region.clone());
        }
        (region, here.then_some(head))
    }

    fn in_region(&self, region: String) -> Clients {
        if region.is_empty() || Some(&region) == self.region.as_ref() {
            return self.clone();
        }
        let s3 = self
            .s3
            .config()
            .to_builder()
            .region(Region::new(region))
            .build();
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            ..self.clone()
        }
    }
}

/// HeadBucket's answer, as the SDK gives it.
pub type HeadBucket = Result<
    aws_sdk_s3::operation::head_bucket::HeadBucketOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::head_bucket::HeadBucketError>,
>;

/// Traces every answer AWS gives (`-v`): its HTTP status and request id, inside the SDK's
/// own span that names the service and operation, beside the SDK's attempt and retry lines.
#[derive(Debug)]
struct TraceAnswers;

impl Intercept for TraceAnswers {
    fn name(&self) -> &'static str {
        "TraceAnswers"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        tracing::debug!(
            target: "xtask::aws",
            status = response.status().as_u16(),
            request_id = response.request_id().unwrap_or("none"),
            "answered"
        );
        Ok(())
    }
}

/// The SDK configuration of the embedded stack at `endpoint`, in its default account.
pub async fn local_config(endpoint: &str, region: &str) -> SdkConfig {
    local_config_in(endpoint, region, LOCAL_ACCOUNT).await
}

/// The SDK configuration of `account` of the embedded stack at `endpoint`: the stack tells
/// its accounts apart by the access key, which is the account's id.
pub async fn local_config_in(endpoint: &str, region: &str, account: &str) -> SdkConfig {
    let credentials = Credentials::new(account, "local-stack", None, None, "xtask-local-stack");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .retry_config(retries())
        .load()
        .await
}

/// Throttling and server errors are retried with the SDK's jittered exponential backoff;
/// a deploy makes many calls in a burst, so more attempts than the default three, unless
/// `AWS_MAX_ATTEMPTS` (the SDKs' shared setting) says how many.
fn retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(max_attempts(
            std::env::var("AWS_MAX_ATTEMPTS").ok().as_deref(),
        ))
        .with_max_backoff(std::time::Duration::from_secs(10))
}

/// `AWS_MAX_ATTEMPTS` when it is a number of attempts (1 or more), else 8.
fn max_attempts(set: Option<&str>) -> u32 {
    match set.map(|v| (v, v.trim().parse::<u32>())) {
        Some((_, Ok(n))) if n >= 1 => n,
        Some((v, _)) => {
            tracing::warn!("AWS_MAX_ATTEMPTS=`{v}` is not a number of attempts; using 8");
            8
        }
        None => 8,
    }
}

/// The variable that says when exported temporary credentials expire (RFC 3339), as
/// aws-vault and others set it; the deploy workflow sets it from configure-aws-credentials'
/// `aws-expiration` output.
pub const EXPIRATION_VAR: &str = "AWS_CREDENTIAL_EXPIRATION";

/// How long the run's credentials keep working, as pre-flight judges it.
pub async fn credential_life(clients: &Clients) -> CredentialLife {
    use aws_credential_types::provider::ProvideCredentials as _;
    let Some(provider) = &clients.credentials else {
        return CredentialLife::Renewed;
    };
    let Ok(credentials) = provider.provide_credentials().await else {
        // Caller::ask already reported missing credentials; nothing more to judge here.
        return CredentialLife::Renewed;
    };
    // Long-lived keys, or a provider that tells their expiry and is asked again before it
    // (SSO, a role profile, web identity, instance and container credentials).
    if credentials.session_token().is_none() || credentials.expiry().is_some() {
        return CredentialLife::Renewed;
    }
    // Temporary credentials exported as variables: nothing renews them.
    let Ok(text) = std::env::var(EXPIRATION_VAR) else {
        return CredentialLife::Unknown(format!(
            "temporary AWS credentials (a session token) with no known expiry: if they may expire before the deploy ends, export {EXPIRATION_VAR}"
        ));
    };
    match humantime::parse_rfc3339_weak(text.trim().trim_matches('"')) {
        Ok(at) => CredentialLife::ExpiresIn(
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
        ),
        Err(err) => CredentialLife::Unknown(format!(
            "{EXPIRATION_VAR} is not an RFC 3339 time ({err}): the credentials' expiry is not known"
        )),
    }
}

pub use xtask_core::preflight::CredentialLife;

/// A tokio runtime for one command: the SDK is async, the tool is not.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// SDK errors in context, on one line for a person ([`describe`]).
pub trait AwsContext<T> {
    fn aws_context(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E> AwsContext<T> for Result<T, E>
where
    E: std::error::Error + ProvideErrorMetadata + RequestId + 'static,
{
    fn aws_context(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|err| anyhow::anyhow!("{}", describe(&what(), &err)))
    }
}

/// The codes AWS services answer when they throttle a caller.
const THROTTLING: [&str; 5] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "SlowDown",
    "RequestLimitExceeded",
];

/// The codes of a failure on AWS's side, which may pass on a later try.
const SERVER_ERRORS: [&str; 4] = [
    "ServerException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
];

/// Whether a call that failed so may pass when made again a little later: no answer
/// (connection, timeout, an unreadable response), throttling, or a server error. The SDK
/// already retried it; a wait loop that polls anyway loses one poll, not the deploy.
pub fn transient<E: ProvideErrorMetadata, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> bool {
    use aws_sdk_ecs::error::SdkError;
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| THROTTLING.contains(&code) || SERVER_ERRORS.contains(&code)),
        _ => false,
    }
}

/// A poll's answer: `Ok(Ok(answer))`, `Ok(Err(why))` when the failure is [`transient`]
/// (one poll lost), else the error in context.
pub fn polled<T, E>(
    sent: Result<T, aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>>,
    what: impl FnOnce() -> String,
) -> anyhow::Result<Result<T, String>>
where
    E: std::error::Error + ProvideErrorMetadata + RequestId + 'static,
{
    match sent {
        Err(err) if transient(&err) => Ok(Err(describe(&what(), &err))),
        sent => sent.aws_context(what).map(Ok),
    }
}

/// What failed, why (the cause chain, the AWS error code), the request id AWS support
/// asks for, and what to do where the code says: one line.
pub fn describe<E>(what: &str, err: &E) -> String
where
    E: std::error::Error + ProvideErrorMetadata + RequestId + 'static,
{
    let code = err.code();
    // AWS's own code and message, when it answered: an error the SDK's model does not
    // name (an "unhandled" one) would otherwise print its metadata's `Debug` form.
    let mut line = match (code, err.message()) {
        (Some(code), Some(message)) => format!("{what}: {code}: {message}"),
        _ => format!("{what}: {}", one_line(err)),
    };
    let mut tags = Vec::new();
    if let Some(code) = code.filter(|code| !line.contains(code)) {
        tags.push(code.to_owned());
    }
    if let Some(id) = err.request_id() {
        tags.push(format!("request id {id}"));
    }
    if !tags.is_empty() {
        line.push_str(&format!(" [{}]", tags.join(", ")));
    }
    if let Some(fix) = code.and_then(fix_for) {
        line.push_str("; ");
        line.push_str(fix);
    }
    line
}

/// What to do about an AWS error code, for the codes a deploy meets and a person can fix.
/// Codes are AWS's (each service's API reference lists its errors; the common ones are in
/// the "Common Errors" page of every reference).
pub fn fix_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            "the role this runs as may not do this: compare its IAM policy with infra/"
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            "the credentials expired: log in again (`aws sso login`) or re-run the job"
        }
        "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch" => {
            "these credentials are not valid here: check AWS_PROFILE and the environment's region"
        }
        code if THROTTLING.contains(&code) => {
            "AWS still throttled after 8 attempts: run again, or lower --concurrency"
        }
        "ClusterNotFoundException" | "ServiceNotFoundException" | "ServiceNotActiveException"
        | "RepositoryNotFoundException" | "NoSuchBucket" | "NoSuchDistribution" => {
            "it does not exist: apply infra/ with Terraform (a local stack: `cargo xtask local up`)"
        }
        "InvalidParameterException" | "ValidationException" | "ClientException"
        | "InvalidArgument" => {
            "AWS refused the request as built: check deploy.toml's values for it, else report it with the request id"
        }
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    #[test]
    fn aws_max_attempts_sets_the_retries_when_it_is_a_number_of_attempts() {
        assert_eq!(super::max_attempts(None), 8);
        assert_eq!(super::max_attempts(Some("3")), 3);
        assert_eq!(super::max_attempts(Some(" 1 ")), 1);
        assert_eq!(super::max_attempts(Some("0")), 8);
        assert_eq!(super::max_attempts(Some("many")), 8);
    }

    use super::*;
    use aws_sdk_ecs::config::http::HttpResponse;
    use aws_sdk_ecs::error::{ErrorMetadata, SdkError};
    use aws_sdk_ecs::operation::update_service::UpdateServiceError;
    use aws_sdk_s3::primitives::SdkBody;

    /// A refusal as the SDK hands it over: AWS's code and message, and the request id from
    /// the `x-amzn-RequestId` header every AWS JSON API answers with.
    fn refused(code: &str, request_id: Option<&str>) -> SdkError<UpdateServiceError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("not authorized to perform ecs:UpdateService")
            .build();
        let mut raw = HttpResponse::new(400.try_into().unwrap(), SdkBody::empty());
        if let Some(id) = request_id {
            raw.headers_mut().insert("x-amzn-RequestId", id.to_owned());
        }
        SdkError::service_error(UpdateServiceError::generic(meta), raw)
    }

    #[test]
    fn a_refusal_is_one_line_with_its_code_request_id_and_what_to_do() {
        let err = refused("AccessDeniedException", Some("4b1c-req"));
        let line = describe("updating service acme-api", &err);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("updating service acme-api: "), "{line}");
        assert!(line.contains("AccessDeniedException"), "{line}");
        assert!(line.contains("request id 4b1c-req"), "{line}");
        assert!(
            line.ends_with(fix_for("AccessDeniedException").unwrap()),
            "{line}"
        );
        assert!(!line.contains("ErrorMetadata"), "no Debug dump: {line}");
    }

    #[test]
    fn a_code_without_a_known_fix_still_names_the_code_and_request_id() {
        let line = describe("x", &refused("SomethingNewException", Some("r-1")));
        assert!(line.contains("SomethingNewException"), "{line}");
        assert!(line.ends_with("request id r-1]"), "{line}");
        let line = describe("x", &refused("ThrottlingException", None));
        assert!(!line.contains("request id"), "{line}");
        assert!(line.contains("lower --concurrency"), "{line}");
    }
}
