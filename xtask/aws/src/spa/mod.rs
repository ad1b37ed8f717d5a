//! Shipping single-page apps to S3 behind CloudFront. `diff.rs` decides (pure) from the
//! bucket's manifest and one listing; this module carries a plan out in a safe order:
//! uploads (hashed assets, then staged files), copies, a check that every file the new
//! HTML loads is in the bucket, the manifest (the new release live, its invalidation
//! pending), activation (non-HTML, then HTML), retention deletes, and one invalidation per
//! distribution. An error before the manifest leaves the live site and the manifest as
//! they were; after it, the manifest is ahead of the bucket and the next run completes
//! the activation and sends the invalidation.

pub use xtask_core::spa::{diff, files, manifest, refs, Shipped};

use crate::aws::{AwsContext as _, Clients};
use crate::error::Error;
use anyhow::{Context as _, Result};
use aws_sdk_s3::types::MetadataDirective;
use backon::{ExponentialBuilder, Retryable as _};
use diff::{Action, ShipPlan};
use files::{Class, LocalFile};
use futures_util::stream::{self, StreamExt as _};
use manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One bucket, as the tool uses it.
pub struct Bucket<'a> {
    pub aws: &'a Clients,
    pub name: String,
    /// Parallel transfers.
    pub concurrency: usize,
}

impl Bucket<'_> {
    /// The app's manifest and every key with its ETag: all planning reads.
    pub async fn remote(&self, app: &str) -> Result<(Option<Manifest>, BTreeMap<String, String>)> {
        let manifest =
            crate::state::read_json::<Manifest>(self.aws, &self.name, &manifest::key(app)).await?;
        Ok((manifest, self.listing().await?))
    }

    /// What shipping `built` as `target` would move, planned from one GET and one list;
    /// with the listing, which shipping needs too.
    pub async fn plan(
        &self,
        built: &[LocalFile],
        target: &diff::Target<'_>,
    ) -> Result<(ShipPlan, BTreeMap<String, String>)> {
        let (manifest, listing) = self.remote(target.app).await?;
        let remote = diff::Remote {
            manifest: manifest.as_ref(),
            listing: &listing,
        };
        let plan = diff::plan(built, &remote, target);
        Ok((plan, listing))
    }

    async fn listing(&self) -> Result<BTreeMap<String, String>> {
        let mut listing = BTreeMap::new();
        let mut pages = self
            .aws
            .s3
            .list_objects_v2()
            .bucket(&self.name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.aws_context(|| format!("listing s3://{}", self.name))?;
            for object in page.contents() {
                if let (Some(key), Some(etag)) = (object.key(), object.e_tag()) {
                    listing.insert(key.to_owned(), etag.to_owned());
                }
            }
        }
        Ok(listing)
    }

    /// Carries out `plan` for the built `files`; `reference` names the invalidation.
    pub async fn ship(
        &self,
        plan: &ShipPlan,
        files: &[LocalFile],
        listing: &BTreeMap<String, String>,
        reference: &str,
    ) -> Result<Shipped> {
        let by_path: BTreeMap<&str, &LocalFile> =
            files.iter().map(|f| (f.path.as_str(), f)).collect();
        let (hashed, staged): (Vec<&Action>, Vec<&Action>) = plan
            .uploads
            .iter()
            .partition(|a| !a.key.starts_with(".deploy/"));
        self.each(&hashed, |a| self.upload(a, &by_path)).await?;
        self.each(&staged, |a| self.upload(a, &by_path)).await?;
        let copies: Vec<&Action> = plan.copies.iter().collect();
        self.each(&copies, |a| self.copy(a)).await?;
        self.check_references(plan, files, listing)?;
        // The manifest goes first: killed from here on, the next run finds the new release
        // recorded as live with its invalidation pending, and finishes what the bucket
        // lacks (`diff::activation` compares the live objects, not only the manifests).
        if plan.release.is_some() || plan.manifest_only {
            self.write_manifest(&plan.manifest).await?;
        }
        let (pages, others): (Vec<&Action>, Vec<&Action>) = plan
            .activation
            .iter()
            .partition(|a| files::classify(&a.key) == Class::Html);
        self.each(&others, |a| self.copy(a)).await?;
        self.each(&pages, |a| self.copy(a)).await?;
        let removals: Vec<&Action> = plan.removals.iter().collect();
        self.each(&removals, |a| self.delete(a)).await?;
        let deletes: Vec<&Action> = plan.deletes.iter().collect();
        self.each(&deletes, |a| self.delete(a)).await?;
        self.invalidate_pending(plan, reference).await?;
        Ok(Shipped {
            release: plan.release.clone(),
            uploaded: plan.uploads.len(),
            copied: plan.copies.len() + plan.activation.len(),
            deleted: plan.removals.len() + plan.deletes.len(),
            unchanged: plan.unchanged,
            invalidated_paths: plan.invalidation.len(),
        })
    }

    /// Makes an earlier release live again: copies and an invalidation, nothing rebuilt.
    pub async fn activate(&self, app: &str, release: &str, reference: &str) -> Result<Shipped> {
        let (manifest, listing) = self.remote(app).await?;
        let mut manifest =
            manifest.with_context(|| format!("s3://{} has no manifest for {app}", self.name))?;
        let target = manifest
            .release(release)
            .cloned()
            .with_context(|| format!("release {release} of {app} is not in its manifest"))?;
        let missing: Vec<&str> = target
            .files
            .values()
            .map(|e| e.stored.as_str())
            .filter(|key| !listing.contains_key(*key))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Spa(format!(
                "release {release} of {app} cannot be activated: missing from the bucket: {}",
                missing.join(", ")
            ))
            .into());
        }
        let (activation, removals) = diff::activation(manifest.active(), &target, &listing);
        manifest.active = Some(release.to_owned());
        let mut plan = ShipPlan {
            release: Some(release.to_owned()),
            invalidation: diff::invalidation(&activation, &removals),
            activation,
            removals,
            ..ShipPlan::default()
        };
        diff::send_pending(&mut plan, &mut manifest);
        plan.manifest = manifest;
        self.ship(&plan, &[], &listing, reference).await
    }

    /// Every file the new HTML loads is in the bucket, or will be live once activated.
    fn check_references(
        &self,
        plan: &ShipPlan,
        files: &[LocalFile],
        listing: &BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(release) = plan.manifest.active() else {
            return Ok(());
        };
        let present: BTreeSet<&str> = listing
            .keys()
            .map(String::as_str)
            .chain(
                plan.uploads
                    .iter()
                    .chain(&plan.copies)
                    .map(|a| a.key.as_str()),
            )
            .chain(release.files.keys().map(String::as_str))
            .collect();
        let mut missing = Vec::new();
        for page in files.iter().filter(|f| f.class == Class::Html) {
            for key in refs::references(&page.path, &String::from_utf8_lossy(&page.bytes)) {
                if !present.contains(key.as_str()) {
                    missing.push(format!("{} loads {key}", page.path));
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::Spa(format!(
                    "not activated, the live site is unchanged: files the new HTML loads are not in s3://{}: {}",
                    self.name,
                    missing.join("; ")
                )).into())
        }
    }

    /// Runs `op` on every action, `concurrency` at a time; the first error wins.
    async fn each<'x, F, Fut>(&self, actions: &[&'x Action], op: F) -> Result<()>
    where
        F: Fn(&'x Action) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let results: Vec<Result<()>> = stream::iter(actions.iter().copied())
            .map(op)
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>().map(drop)
    }

    async fn upload(&self, action: &Action, files: &BTreeMap<&str, &LocalFile>) -> Result<()> {
        let path = action.path.as_deref().context("an upload names its file")?;
        let file = files
            .get(path)
            .with_context(|| format!("{path} is not in the build"))?;
        self.aws
            .s3
            .put_object()
            .bucket(&self.name)
            .key(&action.key)
            .body(file.bytes.clone().into())
            .content_type(&file.headers.content_type)
            .cache_control(&file.headers.cache_control)
            .send()
            .await
            .aws_context(|| format!("uploading s3://{}/{}", self.name, action.key))
            .map_err(spa_failure)?;
        Ok(())
    }

    async fn copy(&self, action: &Action) -> Result<()> {
        let from = action.from.as_deref().context("a copy names its source")?;
        let headers = action.headers.as_ref().context("a copy sets headers")?;
        self.aws
            .s3
            .copy_object()
            .bucket(&self.name)
            .key(&action.key)
            .copy_source(format!("{}/{}", self.name, encode_key(from)))
            .metadata_directive(MetadataDirective::Replace)
            .content_type(&headers.content_type)
            .cache_control(&headers.cache_control)
            .send()
            .await
            .aws_context(|| format!("copying s3://{}/{from} to {}", self.name, action.key))
            .map_err(spa_failure)?;
        Ok(())
    }

    async fn delete(&self, action: &Action) -> Result<()> {
        self.aws
            .s3
            .delete_object()
            .bucket(&self.name)
            .key(&action.key)
            .send()
            .await
            .aws_context(|| format!("deleting s3://{}/{}", self.name, action.key))
            .map_err(spa_failure)?;
        Ok(())
    }

    async fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let key = manifest::key(&manifest.app);
        crate::state::write_json(self.aws, &self.name, &key, manifest)
            .await
            .map_err(spa_failure)
    }

    /// The plan's invalidation, which the manifest records as pending until CloudFront has
    /// taken it; a failure leaves it there for the next deploy.
    async fn invalidate_pending(&self, plan: &ShipPlan, reference: &str) -> Result<()> {
        self.invalidate(&plan.invalidation, reference)
            .await
            .map_err(|err| {
                Error::Spa(format!(
                    "{err:#}; the invalidation is kept in the app's manifest and the next deploy sends it"
                ))
            })?;
        if plan.manifest.pending_invalidation.is_empty() {
            return Ok(());
        }
        let mut sent = plan.manifest.clone();
        sent.pending_invalidation.clear();
        self.write_manifest(&sent).await
    }

    /// One invalidation of the bucket's distribution, retried while CloudFront has too many
    /// in progress.
    async fn invalidate(&self, paths: &[String], reference: &str) -> Result<()> {
        use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
        if paths.is_empty() {
            return Ok(());
        }
        let id = crate::live::distribution(self.aws, &self.name)
            .await?
            .ok_or_else(|| Error::Spa(format!("no CloudFront distribution serves s3://{} (its comment must be the bucket's name)", self.name)))?;
        let batch = InvalidationBatch::builder()
            .paths(
                Paths::builder()
                    .quantity(i32::try_from(paths.len())?)
                    .set_items(Some(paths.to_vec()))
                    .build()?,
            )
            .caller_reference(reference)
            .build()?;
        let send = || async {
            self.aws
                .cloudfront
                .create_invalidation()
                .distribution_id(&id)
                .invalidation_batch(batch.clone())
                .send()
                .await
        };
        send.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(20))
                .with_max_times(6),
        )
        .when(|err| {
            err.as_service_error()
                .is_some_and(|e| e.is_too_many_invalidations_in_progress())
        })
        .await
        .aws_context(|| format!("invalidating {} paths of distribution {id}", paths.len()))
        .map_err(spa_failure)?;
        Ok(())
    }
}

fn spa_failure(err: anyhow::Error) -> anyhow::Error {
    Error::Spa(format!("{err:#}")).into()
}

/// A key in a copy source: percent-encoded except `/` and unreserved characters.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_percent_encoded() {
        assert_eq!(encode_key("a b/ü+x.js"), "a%20b/%C3%BC%2Bx.js");
    }
}
