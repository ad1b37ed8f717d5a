//! A promotion's image copy: the image the source environment ran, from its registry into
//! this environment's repository, by digest, with oci-client (the ORAS project's OCI
//! distribution client; see the issue 17 note for why it and not a hand-written client).
//! Every manifest is pushed as the bytes it was read as, never re-serialised, so the digest
//! here is the source's; an image index brings each of its manifests, and every manifest
//! its config and layers, each blob copied only where this repository lacks it. The top
//! manifest goes under the fingerprint's tag and is read back by it, then the commit's tag
//! is put with ECR's `PutImage`, as after a build.

use super::docker::login;
use super::tally::Fact;
use super::Executor;
use crate::deploy_plan::ImageCopy;
use crate::error::Error;
use anyhow::{Context as _, Result};
use futures_util::TryStreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use std::time::Instant;

/// The manifest types a copy accepts: the Docker and OCI image manifests and indexes.
const MANIFEST_TYPES: [&str; 4] = super::ecr::MANIFEST_TYPES;

/// One manifest read from the source: its bytes, exactly, and what it points at.
struct Manifest {
    digest: String,
    bytes: bytes::Bytes,
    media_type: String,
    /// An index's manifests.
    children: Vec<String>,
    /// A manifest's config and layers: (digest, size).
    blobs: Vec<(String, u64)>,
}

/// What a copy moved, for its step's line.
#[derive(Debug, Default)]
pub struct Moved {
    /// Blobs copied, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs the target had already.
    pub present: usize,
    /// Manifests pushed (an index's children, then the image's own).
    pub manifests: usize,
}

pub async fn copy(exec: &Executor<'_>, copy: &ImageCopy) -> Result<String> {
    let started = Instant::now();
    let fail = |err: anyhow::Error| {
        Error::Push(format!(
            "copying {} from {}: {err:#}",
            copy.unit.service, copy.from
        ))
    };
    let login = login(exec).await.map_err(fail)?;
    let target = format!("{}:{}", copy.unit.target.repository_uri, copy.tag);
    let moved = between(&copy.source, &target, (&login.username, &login.secret))
        .await
        .map_err(fail)?;
    let tagged = super::ecr::put_tag(
        exec,
        &copy.unit.target.repository,
        &copy.digest,
        &copy.commit_tag,
    )
    .await?;
    exec.record(
        &copy.unit.service,
        Fact::Image {
            image: copy.unit.target.image_ref(&copy.digest),
            digest: copy.digest.clone(),
        },
    );
    Ok(format!(
        "copied {} from {} in {:.1}s: {} blobs ({}), {} already here{}",
        crate::text::short(&copy.digest),
        copy.from,
        started.elapsed().as_secs_f64(),
        moved.blobs,
        human_bytes(moved.bytes),
        moved.present,
        tagged.note()
    ))
}

/// Copies `source` (`registry/repository@digest`) to `target` (`registry/repository:tag`)
/// with one registry login (ECR's: this account's token, which another account's registry
/// honours where its repository policy lets this account pull).
pub async fn between(source: &str, target: &str, login: (&str, &str)) -> Result<Moved> {
    let auth = RegistryAuth::Basic(login.0.to_owned(), login.1.to_owned());
    let source: Reference =
        (source.parse()).with_context(|| format!("`{source}` is not an image reference"))?;
    let target: Reference =
        (target.parse()).with_context(|| format!("`{target}` is not an image reference"))?;
    let digest = source
        .digest()
        .with_context(|| format!("`{source}` names no digest"))?
        .to_owned();
    let client = client_for(&[&source, &target]);
    for reference in [&source, &target] {
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
    }
    transfer(&client, &auth, &source, &target, &digest).await
}

/// A client for these registries: plain HTTP for a loopback one (the local stack's, as
/// Docker treats 127.0.0.0/8), HTTPS for every other.
fn client_for(references: &[&Reference]) -> Client {
    // reqwest's rustls takes the process's provider: the one the SDK and the tool use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let loopback: Vec<String> = (references.iter())
        .map(|r| r.resolve_registry().to_owned())
        .filter(|registry| registry.starts_with("127.") || registry.starts_with("localhost"))
        .collect();
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(loopback),
        ..ClientConfig::default()
    })
}

/// Copies the image `digest` of `source` and everything it names into `target`'s
/// repository, children first, the top manifest last under `target`'s tag; then reads the
/// tag back: it must name `digest`.
async fn transfer(
    client: &Client,
    auth: &RegistryAuth,
    source: &Reference,
    target: &Reference,
    digest: &str,
) -> Result<Moved> {
    let manifests = read_tree(client, auth, source, digest).await?;
    let mut moved = Moved::default();
    for manifest in manifests.iter().rev() {
        for (blob, size) in &manifest.blobs {
            copy_blob(client, source, target, blob, *size, &mut moved).await?;
        }
        let to = if manifest.digest == digest {
            target.clone()
        } else {
            in_repository(target, &manifest.digest)
        };
        let content_type = manifest
            .media_type
            .parse()
            .context("a manifest media type")?;
        client
            .push_manifest_raw(&to, manifest.bytes.clone(), content_type)
            .await
            .with_context(|| format!("pushing manifest {}", manifest.digest))?;
        moved.manifests += 1;
    }
    let landed = client
        .fetch_manifest_digest(target, auth)
        .await
        .context("reading the copied image back")?;
    if landed != digest {
        anyhow::bail!(
            "the copy reads back as {landed}, not {digest}: the registry changed the manifest"
        );
    }
    Ok(moved)
}

/// The manifest `digest` and, for an index, every manifest under it: parents before
/// children. Each is checked against its digest as read.
async fn read_tree(
    client: &Client,
    auth: &RegistryAuth,
    source: &Reference,
    digest: &str,
) -> Result<Vec<Manifest>> {
    let mut todo = vec![digest.to_owned()];
    let mut read = Vec::new();
    while let Some(next) = todo.pop() {
        let (bytes, _) = client
            .pull_manifest_raw(&in_repository(source, &next), auth, &MANIFEST_TYPES)
            .await
            .with_context(|| format!("reading manifest {next}"))?;
        let manifest = parse(&next, bytes)?;
        todo.extend(manifest.children.iter().cloned());
        read.push(manifest);
    }
    Ok(read)
}

/// A manifest's bytes, checked against `digest`, with what it names.
fn parse(digest: &str, bytes: bytes::Bytes) -> Result<Manifest> {
    let actual = format!("sha256:{}", crate::workspace::hex(&Sha256::digest(&bytes)));
    if actual != digest {
        anyhow::bail!("manifest {digest} reads as {actual}: not the image that was run");
    }
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("manifest {digest} is not JSON"))?;
    let descriptors = |key: &str| -> Vec<(String, u64)> {
        let list = match &value[key] {
            serde_json::Value::Array(list) => list.clone(),
            serde_json::Value::Object(_) => vec![value[key].clone()],
            _ => Vec::new(),
        };
        (list.iter())
            .filter_map(|d| Some((d["digest"].as_str()?.to_owned(), d["size"].as_u64()?)))
            .collect()
    };
    let children: Vec<String> = descriptors("manifests")
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    // The OCI spec lets `mediaType` be left out; what the manifest holds says which it is.
    let media_type = value["mediaType"].as_str().map_or_else(
        || {
            if children.is_empty() {
                "application/vnd.oci.image.manifest.v1+json"
            } else {
                "application/vnd.oci.image.index.v1+json"
            }
            .to_owned()
        },
        str::to_owned,
    );
    let mut blobs = descriptors("config");
    blobs.extend(descriptors("layers"));
    Ok(Manifest {
        digest: digest.to_owned(),
        bytes,
        media_type,
        children,
        blobs,
    })
}

/// Streams one blob from the source to the target unless the target has it.
async fn copy_blob(
    client: &Client,
    source: &Reference,
    target: &Reference,
    digest: &str,
    size: u64,
    moved: &mut Moved,
) -> Result<()> {
    if client.blob_exists(target, digest).await? {
        moved.present += 1;
        return Ok(());
    }
    let stream = client
        .pull_blob_stream(&in_repository(source, digest), digest)
        .await
        .with_context(|| format!("reading blob {digest}"))?;
    let body = stream
        .stream
        .map_err(oci_client::errors::OciDistributionError::from);
    client
        .push_blob_stream(target, body, digest, Some(size))
        .await
        .with_context(|| format!("pushing blob {digest}"))?;
    moved.blobs += 1;
    moved.bytes += size;
    Ok(())
}

/// `digest` in the repository of `reference`.
fn in_repository(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.resolve_registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_owned(),
    )
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}
