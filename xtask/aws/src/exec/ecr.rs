//! Tags added through ECR's `PutImage`: the commit's tag on an image just pushed by its
//! fingerprint tag, and the re-tag of an image that already exists for a fingerprint (its
//! manifest put again under this commit's tag, so nothing is rebuilt and `rollback` finds
//! the commit). In an immutable repository a tag that exists cannot move: one that names
//! the same image is fine; one that names another is reported and left, since deploys run
//! images by digest and find them by their fingerprint tag.

use super::Executor;
use crate::aws::AwsContext as _;
use crate::deploy_plan::Retag;
use crate::error::Error;
use anyhow::Result;
use aws_sdk_ecr::types::ImageIdentifier;

/// The manifest types a re-tag accepts: the Docker and OCI image manifests and indexes.
/// `BatchGetImage` answers only Docker's v2 schema 2 manifest when not told, and an OCI
/// image (or a multi-platform index) would fail with `UnsupportedImageType`.
pub(super) const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// What putting a tag found.
pub enum Tagged {
    Added,
    /// The tag names this image already.
    AlreadyThere,
    /// The tag names another image (an immutable repository keeps it).
    NamesAnother(String),
}

impl Tagged {
    /// A clause for the step's message.
    pub fn note(&self) -> String {
        match self {
            Tagged::Added | Tagged::AlreadyThere => String::new(),
            Tagged::NamesAnother(digest) => format!(
                "; its commit tag already names {} (an earlier build of this commit), left as it is",
                crate::text::short(digest)
            ),
        }
    }
}

pub async fn retag(exec: &Executor<'_>, retag: &Retag) -> Result<String> {
    let Retag {
        repository,
        digest,
        tag,
        ..
    } = retag;
    let tagged = put_tag(exec, repository, digest, tag).await?;
    let short = crate::text::short(digest);
    Ok(match tagged {
        Tagged::Added => format!("reused {short} (no build), tagged {tag}"),
        other => format!("reused {short} (no build){}", other.note()),
    })
}

/// Puts `tag` on `repository@digest` with the image's own manifest and media type.
pub async fn put_tag(
    exec: &Executor<'_>,
    repository: &str,
    digest: &str,
    tag: &str,
) -> Result<Tagged> {
    let push_failure = |err: anyhow::Error| Error::Push(format!("{err:#}"));
    let (manifest, media_type) = manifest(exec, repository, digest)
        .await
        .map_err(push_failure)?
        .ok_or_else(|| Error::Push(format!("{repository}@{digest} is gone from the registry")))?;
    let put = (exec.aws.ecr.put_image())
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest)
        .set_image_manifest_media_type(media_type)
        .image_digest(digest)
        .send()
        .await;
    match put {
        Ok(_) => Ok(Tagged::Added),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_image_already_exists_exception()) =>
        {
            Ok(Tagged::AlreadyThere)
        }
        // Immutable, and the tag is there: on this image (a concurrent deploy of the
        // commit), or on another one.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_image_tag_already_exists_exception()) =>
        {
            let named = tagged_digest(exec, repository, tag)
                .await
                .map_err(push_failure)?;
            Ok(match named {
                Some(named) if named != digest => Tagged::NamesAnother(named),
                _ => Tagged::AlreadyThere,
            })
        }
        Err(err) => Err(push_failure(
            Err::<(), _>(err)
                .aws_context(|| format!("tagging {repository}@{digest} as {tag}"))
                .unwrap_err(),
        )
        .into()),
    }
}

/// The digest `tag` names in `repository`, if any.
async fn tagged_digest(exec: &Executor<'_>, repository: &str, tag: &str) -> Result<Option<String>> {
    let id = ImageIdentifier::builder().image_tag(tag).build();
    let found = (exec.aws.ecr.batch_get_image())
        .repository_name(repository)
        .image_ids(id)
        .set_accepted_media_types(Some(MANIFEST_TYPES.map(str::to_owned).to_vec()))
        .send()
        .await
        .aws_context(|| format!("reading {repository}:{tag}"))?;
    Ok(found
        .images()
        .first()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .map(str::to_owned))
}

/// An image's manifest and its media type; `None` when ECR reports it not found. Any other
/// per-image failure ECR reports is an error with its code and reason.
async fn manifest(
    exec: &Executor<'_>,
    repository: &str,
    digest: &str,
) -> Result<Option<(String, Option<String>)>> {
    let got = (exec.aws.ecr.batch_get_image())
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_digest(digest).build())
        .set_accepted_media_types(Some(MANIFEST_TYPES.map(str::to_owned).to_vec()))
        .send()
        .await
        .aws_context(|| format!("reading the manifest of {repository}@{digest}"))?;
    if let Some(image) = got.images().first() {
        let manifest = image.image_manifest().unwrap_or_default().to_owned();
        return Ok(Some((
            manifest,
            image.image_manifest_media_type().map(str::to_owned),
        )));
    }
    match got.failures().first() {
        Some(failure)
            if failure.failure_code()
                == Some(&aws_sdk_ecr::types::ImageFailureCode::ImageNotFound) =>
        {
            Ok(None)
        }
        Some(failure) => anyhow::bail!(
            "ECR could not give the manifest of {repository}@{digest}: {} ({})",
            failure.failure_code().map_or("no code", |c| c.as_str()),
            failure.failure_reason().unwrap_or("no reason")
        ),
        None => Ok(None),
    }
}
