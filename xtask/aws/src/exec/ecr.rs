//! Re-tagging an image that already exists for a fingerprint: its manifest is put again
//! under this commit's tag (ECR `PutImage`), so nothing is rebuilt and the commit can be
//! found again by `rollback`.

use super::Executor;
use crate::aws::AwsContext as _;
use crate::deploy_plan::Retag;
use crate::error::Error;
use anyhow::{Context as _, Result};
use aws_sdk_ecr::types::ImageIdentifier;

pub async fn retag(exec: &Executor<'_>, retag: &Retag) -> Result<String> {
    let Retag {
        repository,
        digest,
        tag,
        ..
    } = retag;
    let got = exec
        .aws
        .ecr
        .batch_get_image()
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_digest(digest).build())
        .send()
        .await
        .aws_context(|| format!("reading the manifest of {repository}@{digest}"))
        .map_err(|err| Error::Push(format!("{err:#}")))?;
    let image = got
        .images()
        .first()
        .with_context(|| format!("{repository}@{digest} is gone from the registry"))?;
    let put = exec
        .aws
        .ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(image.image_manifest().unwrap_or_default())
        .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_owned))
        .image_digest(digest)
        .send()
        .await;
    match put {
        Ok(_) => Ok(format!(
            "reused {} (no build), tagged {tag}",
            crate::text::short(digest)
        )),
        // Tagged meanwhile (another deploy of this commit): the same image, nothing to do.
        Err(err)
            if err.as_service_error().is_some_and(|e| {
                e.is_image_already_exists_exception() || e.is_image_tag_already_exists_exception()
            }) =>
        {
            Ok(format!("reused {} (no build)", crate::text::short(digest)))
        }
        Err(err) => Err(Error::Push(format!(
            "{:#}",
            Err::<(), _>(err)
                .aws_context(|| format!("tagging {repository}@{digest} as {tag}"))
                .unwrap_err()
        ))
        .into()),
    }
}
