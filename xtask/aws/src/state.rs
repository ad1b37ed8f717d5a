//! What the tool keeps in an environment's state bucket: the deploy lock, the ledger (one
//! JSON record per deploy) and, per service, the migrations last applied.
//!
//! The lock is one object. It is taken with `If-None-Match: *` (exactly one writer wins;
//! S3 answers a write racing another on the same key `409 ConditionalRequestConflict`,
//! which is retried), renewed by its holder with `If-Match` on the ETag it last wrote (a
//! lock someone broke is never overwritten), and deleted with `If-Match` too. Its age is
//! judged by S3's clock (the object's `LastModified` against the `Date` of S3's answer),
//! never by comparing the holder's clock with the reader's.

use crate::aws::{AwsContext as _, Clients};
use crate::text::short;
use crate::time::Timestamp;
use anyhow::Result;
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use backon::{ExponentialBuilder, Retryable as _};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The lock's key in the state bucket.
pub const LOCK_KEY: &str = "deploy.lock";

/// How long a lock nobody renews is trusted, unless `XTASK_LOCK_TTL` says otherwise (a
/// humantime duration). Its holder renews it every tenth of that, so a deploy of any length
/// keeps it, and one that died loses it within this time.
pub const LOCK_TTL: Duration = Duration::from_secs(10 * 60);

/// The lock TTL of this run.
pub fn lock_ttl() -> Duration {
    std::env::var("XTASK_LOCK_TTL")
        .ok()
        .and_then(|ttl| humantime::parse_duration(&ttl).ok())
        .unwrap_or(LOCK_TTL)
}

/// How often a deploy renews its lock: ten chances before it goes stale.
pub fn heartbeat() -> Duration {
    lock_ttl() / 10
}

/// Who holds the lock, since when, for what, and until when it is trusted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lock {
    /// The deploy that holds it (also its ledger record's id).
    pub id: String,
    pub holder: String,
    pub commit: String,
    pub command: String,
    pub acquired_at: Timestamp,
    /// By the holder's clock: shown to people; staleness is S3's clock and `ttl_seconds`.
    pub expires_at: Timestamp,
    /// Seconds after its last write (S3's `LastModified`) the lock is stale. Locks written
    /// before heartbeats have none: their `expires_at` decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// The holder's last renewal, by its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<Timestamp>,
}

impl Lock {
    pub fn new(id: &str, holder: &str, commit: &str, command: &str) -> Lock {
        let now = Timestamp::now();
        Lock {
            id: id.to_owned(),
            holder: holder.to_owned(),
            commit: commit.to_owned(),
            command: command.to_owned(),
            acquired_at: now,
            expires_at: now + lock_ttl(),
            ttl_seconds: Some(lock_ttl().as_secs().max(1)),
            renewed_at: None,
        }
    }

    /// The same lock, renewed now.
    fn renewed(&self) -> Lock {
        let now = Timestamp::now();
        Lock {
            expires_at: now + lock_ttl(),
            renewed_at: Some(now),
            ..self.clone()
        }
    }
}

/// The lock as read from the bucket.
#[derive(Debug, Clone)]
pub struct HeldLock {
    pub lock: Lock,
    /// The object's ETag: a release or a renewal applies only to this version of it.
    pub etag: Option<String>,
    /// Time since its last write, by S3's clock; `None` when S3 did not say.
    pub age: Option<Duration>,
}

impl HeldLock {
    /// Not renewed within its TTL (by S3's clock): whoever took it died without releasing it.
    pub fn is_stale(&self) -> bool {
        match (self.age, self.lock.ttl_seconds) {
            (Some(age), Some(ttl)) => age > Duration::from_secs(ttl),
            _ => self.lock.expires_at < Timestamp::now(),
        }
    }

    /// One line for a person: who, since when, which commit, and how fresh.
    pub fn describe(&self) -> String {
        let lock = &self.lock;
        let renewed = self
            .age
            .map(|age| format!(", last renewed {}s ago", age.as_secs()))
            .unwrap_or_default();
        let state = if self.is_stale() {
            format!("STALE: not renewed in time{renewed}")
        } else {
            format!("expires at {}{renewed}", lock.expires_at)
        };
        format!(
            "held by {} since {} ({} of commit {}, {state})",
            lock.holder,
            lock.acquired_at,
            lock.command,
            short(&lock.commit)
        )
    }
}

/// What taking the lock found.
pub enum Acquired {
    /// Ours; the ETag of what we wrote, for renewals and the release.
    Taken(String),
    /// Someone else holds it (as read just after the refusal; `None` if it went meanwhile).
    Held(Option<HeldLock>),
}

/// How a conditional write ended.
enum Conditional {
    Written(String),
    /// 412: the condition does not hold (the lock exists, or is not ours any more).
    Refused,
}

/// Writes the lock if `condition` holds: `If-None-Match: *` to take it, `If-Match: etag` to
/// renew it. A 409 (another conditional write on the key in flight) is tried again.
async fn put_lock(
    aws: &Clients,
    bucket: &str,
    lock: &Lock,
    etag: Option<&str>,
) -> Result<Conditional> {
    let body = serde_json::to_vec_pretty(lock)?;
    let put = || async {
        let request = (aws.s3.put_object())
            .bucket(bucket)
            .key(LOCK_KEY)
            .content_type("application/json")
            .body(ByteStream::from(body.clone()));
        match etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        }
        .send()
        .await
    };
    let put = put
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(2))
                .with_jitter()
                .with_max_times(6),
        )
        .when(|err| status_of(err) == Some(409))
        .await;
    match put {
        Ok(out) => Ok(Conditional::Written(
            out.e_tag().unwrap_or_default().to_owned(),
        )),
        Err(err) if status_of(&err) == Some(412) => Ok(Conditional::Refused),
        // `If-Match` on an object that is gone: not ours any more either.
        Err(err)
            if etag.is_some()
                && err.as_service_error().and_then(|e| e.meta().code()) == Some("NoSuchKey") =>
        {
            Ok(Conditional::Refused)
        }
        Err(err) => Err(err).aws_context(|| format!("writing the lock s3://{bucket}/{LOCK_KEY}")),
    }
}

fn status_of<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Takes the lock unless the object exists.
pub async fn acquire(aws: &Clients, bucket: &str, lock: &Lock) -> Result<Acquired> {
    match put_lock(aws, bucket, lock, None).await? {
        Conditional::Written(etag) => Ok(Acquired::Taken(etag)),
        Conditional::Refused => Ok(Acquired::Held(current_lock(aws, bucket).await?)),
    }
}

/// Renews our lock, written last with `etag`; the new ETag, or `None` when the lock is not
/// ours any more (someone broke it).
pub async fn renew(aws: &Clients, bucket: &str, lock: &Lock, etag: &str) -> Result<Option<String>> {
    Ok(
        match put_lock(aws, bucket, &lock.renewed(), Some(etag)).await? {
            Conditional::Written(etag) => Some(etag),
            Conditional::Refused => None,
        },
    )
}

/// The lock as it is, if held.
pub async fn current_lock(aws: &Clients, bucket: &str) -> Result<Option<HeldLock>> {
    let clock = ServerDate::default();
    let Some(fetched) = fetch(aws, bucket, LOCK_KEY, Some(clock.clone())).await? else {
        return Ok(None);
    };
    let lock = parse(bucket, LOCK_KEY, &fetched.bytes)?;
    let now = *clock.0.lock().expect("not poisoned");
    let age = now
        .zip(fetched.modified)
        .map(|(now, modified)| now.duration_since(modified).unwrap_or_default());
    Ok(Some(HeldLock {
        lock,
        etag: fetched.etag,
        age,
    }))
}

/// Deletes the lock if it is still the version `etag` names (`If-Match`): a lock broken
/// and retaken meanwhile is someone else's. `false` when it was not that version.
pub async fn release(aws: &Clients, bucket: &str, etag: &str) -> Result<bool> {
    let deleted = (aws.s3.delete_object())
        .bucket(bucket)
        .key(LOCK_KEY)
        .if_match(etag)
        .send()
        .await;
    match deleted {
        Ok(_) => Ok(true),
        Err(err) if matches!(status_of(&err), Some(412 | 404)) => Ok(false),
        Err(err) => Err(err).aws_context(|| format!("deleting the lock s3://{bucket}/{LOCK_KEY}")),
    }
}

/// S3's clock, from the `Date` header of its answer.
#[derive(Debug, Clone, Default)]
struct ServerDate(Arc<Mutex<Option<SystemTime>>>);

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "ServerDate"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = (context.response().headers().get("date"))
            .and_then(|d| DateTime::from_str(d, DateTimeFormat::HttpDate).ok())
            .and_then(|d| SystemTime::try_from(d).ok());
        *self.0.lock().expect("not poisoned") = date;
        Ok(())
    }
}

/// The migrations of one service that last applied successfully.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppliedMigrations {
    /// Git tree id of the migrations folder.
    pub tree: String,
    pub commit: String,
    pub image: String,
    pub task: String,
    pub applied_at: Timestamp,
}

pub fn migrations_key(service: &str) -> String {
    format!("migrations/{service}.json")
}

/// The ledger record's key: sortable by time, so a listing is the history.
pub fn ledger_key(started_at: Timestamp, id: &str) -> String {
    format!("ledger/{}-{id}.json", started_at.compact())
}

/// The bucket itself is missing: callers whose pre-flight check reports it can tell this
/// from other failures.
#[derive(Debug, thiserror::Error)]
#[error("bucket {0} does not exist")]
pub struct NoBucket(pub String);

/// Reads a JSON object; `None` when it does not exist, [`NoBucket`] when its bucket does not.
pub async fn read_json<T: DeserializeOwned>(
    aws: &Clients,
    bucket: &str,
    key: &str,
) -> Result<Option<T>> {
    match fetch(aws, bucket, key, None).await? {
        Some(fetched) => Ok(Some(parse(bucket, key, &fetched.bytes)?)),
        None => Ok(None),
    }
}

/// An object's bytes and what S3 says about them.
struct Fetched {
    bytes: Vec<u8>,
    etag: Option<String>,
    modified: Option<SystemTime>,
}

/// GETs an object (`None` when it does not exist, [`NoBucket`] when its bucket does not),
/// with `clock` reading the `Date` of S3's answer.
async fn fetch(
    aws: &Clients,
    bucket: &str,
    key: &str,
    clock: Option<ServerDate>,
) -> Result<Option<Fetched>> {
    let request = aws.s3.get_object().bucket(bucket).key(key);
    let got = match clock {
        Some(clock) => request.customize().interceptor(clock).send().await,
        None => request.send().await,
    };
    let out = match got {
        Ok(out) => out,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(err)
            if err.as_service_error().and_then(|e| e.meta().code()) == Some("NoSuchBucket") =>
        {
            return Err(NoBucket(bucket.to_owned()).into())
        }
        Err(err) => return Err(err).aws_context(|| format!("reading s3://{bucket}/{key}")),
    };
    let etag = out.e_tag().map(str::to_owned);
    let modified = out
        .last_modified()
        .and_then(|t| SystemTime::try_from(*t).ok());
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|err| anyhow::anyhow!("reading s3://{bucket}/{key}: {err}"))?
        .into_bytes()
        .to_vec();
    Ok(Some(Fetched {
        bytes,
        etag,
        modified,
    }))
}

fn parse<T: DeserializeOwned>(bucket: &str, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|err| anyhow::anyhow!("s3://{bucket}/{key} is not what this tool wrote: {err}"))
}

pub async fn write_json<T: Serialize>(
    aws: &Clients,
    bucket: &str,
    key: &str,
    value: &T,
) -> Result<()> {
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(serde_json::to_vec_pretty(value)?))
        .send()
        .await
        .aws_context(|| format!("writing s3://{bucket}/{key}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_keys_sort_by_time() {
        let early =
            Timestamp::at(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let late = early + Duration::from_secs(61);
        assert_eq!(ledger_key(early, "x"), "ledger/20270115T080000Z-x.json");
        assert!(ledger_key(early, "b") < ledger_key(late, "a"));
    }

    #[test]
    fn a_lock_is_stale_by_s3s_clock_and_an_old_one_by_its_expiry() {
        let held = |age: Option<u64>, lock: Lock| HeldLock {
            lock,
            etag: None,
            age: age.map(Duration::from_secs),
        };
        let lock = Lock::new("id", "me", "abc", "deploy");
        assert!(!held(Some(LOCK_TTL.as_secs() - 1), lock.clone()).is_stale());
        // Renewed long ago by S3's clock, whatever the holder's clock wrote.
        let stale = held(Some(LOCK_TTL.as_secs() + 1), lock.clone());
        assert!(stale.is_stale());
        assert!(stale.describe().contains("STALE"), "{}", stale.describe());
        // A lock from before heartbeats: its own expiry decides.
        let mut old = Lock {
            ttl_seconds: None,
            ..lock
        };
        assert!(!held(Some(100_000), old.clone()).is_stale());
        old.expires_at = Timestamp::now() - Duration::from_secs(1);
        assert!(held(None, old).is_stale());
    }
}
