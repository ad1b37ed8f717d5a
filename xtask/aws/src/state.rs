//! What the tool keeps in an environment's state bucket: the deploy lock (one object
//! written with `If-None-Match: *`, so exactly one writer wins), the ledger (one JSON record
//! per deploy) and, per service, the migrations last applied.

use crate::aws::{AwsContext as _, Clients};
use crate::text::short;
use crate::time::Timestamp;
use anyhow::Result;
use aws_sdk_s3::primitives::ByteStream;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::time::Duration;

/// The lock's key in the state bucket.
pub const LOCK_KEY: &str = "deploy.lock";

/// Who holds the lock, since when, for what, and until when it is trusted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lock {
    /// The deploy that holds it (also its ledger record's id).
    pub id: String,
    pub holder: String,
    pub commit: String,
    pub command: String,
    pub acquired_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Lock {
    pub fn new(id: &str, holder: &str, commit: &str, command: &str, ttl: Duration) -> Lock {
        let now = Timestamp::now();
        Lock {
            id: id.to_owned(),
            holder: holder.to_owned(),
            commit: commit.to_owned(),
            command: command.to_owned(),
            acquired_at: now,
            expires_at: now + ttl,
        }
    }

    /// Past its expiry: whoever took it died without releasing it.
    pub fn is_stale(&self) -> bool {
        self.expires_at < Timestamp::now()
    }

    /// One line for a person: who, since when, which commit.
    pub fn describe(&self) -> String {
        let state = if self.is_stale() {
            format!("STALE: expired at {}", self.expires_at)
        } else {
            format!("expires at {}", self.expires_at)
        };
        format!(
            "held by {} since {} ({} of commit {}, {state})",
            self.holder,
            self.acquired_at,
            self.command,
            short(&self.commit)
        )
    }
}

/// What taking the lock found.
pub enum Acquired {
    Taken,
    /// Someone else holds it (as read just after the refusal; `None` if it went meanwhile).
    Held(Option<Lock>),
}

/// Takes the lock unless the object exists (`If-None-Match: *`).
pub async fn acquire(aws: &Clients, bucket: &str, lock: &Lock) -> Result<Acquired> {
    let body = serde_json::to_vec_pretty(lock)?;
    let put = aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(LOCK_KEY)
        .if_none_match("*")
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await;
    match put {
        Ok(_) => Ok(Acquired::Taken),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 412) =>
        {
            Ok(Acquired::Held(current_lock(aws, bucket).await?))
        }
        Err(err) => Err(err).aws_context(|| format!("writing the lock s3://{bucket}/{LOCK_KEY}")),
    }
}

/// The lock as it is, if held.
pub async fn current_lock(aws: &Clients, bucket: &str) -> Result<Option<Lock>> {
    read_json(aws, bucket, LOCK_KEY).await
}

/// Releases the lock if it is still `id`'s: a lock broken and retaken meanwhile is not ours.
pub async fn release(aws: &Clients, bucket: &str, id: &str) -> Result<()> {
    if current_lock(aws, bucket).await?.is_some_and(|l| l.id == id) {
        aws.s3
            .delete_object()
            .bucket(bucket)
            .key(LOCK_KEY)
            .send()
            .await
            .aws_context(|| format!("deleting the lock s3://{bucket}/{LOCK_KEY}"))?;
    }
    Ok(())
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
    let got = aws.s3.get_object().bucket(bucket).key(key).send().await;
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
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|err| anyhow::anyhow!("reading s3://{bucket}/{key}: {err}"))?
        .into_bytes();
    let value = serde_json::from_slice(&bytes)
        .map_err(|err| anyhow::anyhow!("s3://{bucket}/{key} is not what this tool wrote: {err}"))?;
    Ok(Some(value))
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
    fn a_lock_past_its_expiry_is_stale() {
        let mut lock = Lock::new("id", "me", "abc", "deploy", Duration::from_secs(60));
        assert!(!lock.is_stale());
        lock.expires_at = Timestamp::now() - Duration::from_secs(1);
        assert!(lock.is_stale());
        assert!(lock.describe().contains("STALE"), "{}", lock.describe());
    }
}
