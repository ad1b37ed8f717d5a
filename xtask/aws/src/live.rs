//! What is deployed now, read from AWS before anything is decided: each service's task
//! definition, its container image and that image's tags (the fingerprint and commit this
//! tool tagged it with), the image for the fingerprint about to ship, and the migrations
//! last applied (from the state bucket).

use crate::aws::{AwsContext as _, Clients};
use crate::config::{Names, Service};
use crate::state;
use anyhow::{Context as _, Result};
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecs::types as ecs;
pub use xtask_core::live::*;

/// Reads one service's live state.
pub async fn service(
    aws: &Clients,
    names: &Names<'_>,
    service: &Service,
    repository: &Repository,
) -> Result<LiveService> {
    let Some(found) = active_service(aws, &names.cluster(), &names.ecs_service(service)).await?
    else {
        return Ok(LiveService::default());
    };
    let mut live = LiveService {
        exists: true,
        task_definition: found.task_definition().map(str::to_owned),
        placement: placement(&found),
        controller: found.deployment_controller().map_or(Controller::Ecs, |c| {
            Controller::from_name(c.r#type().as_str())
        }),
        in_flight: in_flight(&found),
        routing: routing(&found),
        ..LiveService::default()
    };
    let Some(arn) = &live.task_definition else {
        live.unknown = Some("the service has no task definition".into());
        return Ok(live);
    };
    let definition = task_definition(aws, arn).await?;
    live.cpu_architecture = (definition.runtime_platform())
        .and_then(|p| p.cpu_architecture())
        .map(|a| a.as_str().to_owned());
    live.os_family = (definition.runtime_platform())
        .and_then(|p| p.operating_system_family())
        .map(|f| f.as_str().to_owned());
    let container = container_of(&definition, &service.name)?;
    live.image = container.image().map(str::to_owned);
    let var = |name: &str| {
        container
            .environment()
            .iter()
            .find(|kv| kv.name() == Some(name))
            .and_then(|kv| kv.value())
            .map(str::to_owned)
    };
    live.commit = var(VERSION_VAR).filter(|v| is_commit(v));
    let recorded = var(FINGERPRINT_VAR).filter(|v| !v.is_empty());
    let image = live.image.clone().unwrap_or_default();
    match image_of(aws, repository, &image).await? {
        Ok(found) => {
            live.fingerprint = recorded.or_else(|| tag_value(&found.tags, FINGERPRINT_TAG));
            if live.fingerprint.is_none() {
                live.unknown = Some(format!("image {image} has no `fp-` tag"));
            }
            live.digest = Some(found.digest);
        }
        Err(why) => live.unknown = Some(why),
    }
    Ok(live)
}

/// What the service's load balancers offer a strategy that shifts traffic (see
/// [`Routing`]): any one with everything counts.
fn routing(service: &ecs::Service) -> Routing {
    let some = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
    (service.load_balancers().iter())
        .map(|lb| {
            let advanced = lb.advanced_configuration();
            Routing {
                target_group: some(lb.target_group_arn()),
                alternate_target_group: some(advanced.and_then(|a| a.alternate_target_group_arn())),
                production_listener_rule: some(advanced.and_then(|a| a.production_listener_rule())),
                test_listener_rule: some(advanced.and_then(|a| a.test_listener_rule())),
                infrastructure_role: some(advanced.and_then(|a| a.role_arn())),
            }
        })
        .min_by_key(|r| r.missing().len())
        .unwrap_or_default()
}

/// The service's unfinished rollout, if any (see [`InFlight`]).
fn in_flight(service: &ecs::Service) -> Option<InFlight> {
    let deployments = service.deployments();
    let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"))?;
    let state = primary.rollout_state().map(|s| s.as_str().to_owned());
    if deployments.len() == 1 && state.as_deref().is_none_or(|s| s == "COMPLETED") {
        return None;
    }
    let millis = |d: &ecs::Deployment| {
        d.created_at()
            .and_then(|t| t.to_millis().ok())
            .unwrap_or_default()
    };
    let previous = (deployments.iter())
        .filter(|d| d.status() != Some("PRIMARY"))
        .max_by_key(|d| millis(d))
        .and_then(|d| d.task_definition())
        .map(str::to_owned);
    Some(InFlight {
        deployment: primary.id().unwrap_or_default().to_owned(),
        task_definition: primary.task_definition().unwrap_or_default().to_owned(),
        state,
        created_at_ms: millis(primary),
        deployments: deployments.len(),
        previous,
    })
}

/// The ACTIVE ECS service `name` of `cluster`; `None` when it, or the cluster, does not
/// exist (the pre-flight check reports it; bootstrap creates it).
pub async fn active_service(
    aws: &Clients,
    cluster: &str,
    name: &str,
) -> Result<Option<ecs::Service>> {
    let described = aws
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await;
    match described {
        Ok(described) => Ok(described
            .services()
            .iter()
            .find(|s| s.status() == Some("ACTIVE"))
            .cloned()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_cluster_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => {
            Err(err).aws_context(|| format!("describing ECS service {name} in cluster {cluster}"))
        }
    }
}

/// A task definition, whole.
pub async fn task_definition(aws: &Clients, arn: &str) -> Result<ecs::TaskDefinition> {
    Ok(task_definition_with_tags(aws, arn).await?.0)
}

/// A task definition and its tags: a copy must carry them (organisations' tag policies
/// deny a `RegisterTaskDefinition` without the tags they require, and cost reports read
/// them), and `DescribeTaskDefinition` leaves them out unless asked.
pub async fn task_definition_with_tags(
    aws: &Clients,
    arn: &str,
) -> Result<(ecs::TaskDefinition, Vec<ecs::Tag>)> {
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(ecs::TaskDefinitionField::Tags)
        .send()
        .await
        .aws_context(|| format!("describing task definition {arn}"))?;
    let tags = out.tags().to_vec();
    let definition = out
        .task_definition
        .with_context(|| format!("task definition {arn} not found"))?;
    Ok((definition, tags))
}

/// The revision a new one is copied from, with its tags: the family's newest, unless this
/// tool registered it, then the revision that one was copied from (its [`TEMPLATE_TAG`]).
/// The template's own tags are kept, less the tool's.
pub async fn template(aws: &Clients, family: &str) -> Result<(ecs::TaskDefinition, Vec<ecs::Tag>)> {
    let (newest, tags) = task_definition_with_tags(aws, family).await?;
    let copied_from = (tags.iter())
        .find(|t| t.key() == Some(TEMPLATE_TAG))
        .and_then(|t| t.value())
        .map(str::to_owned);
    let (template, tags) = match copied_from {
        Some(arn) => task_definition_with_tags(aws, &arn).await?,
        None => (newest, tags),
    };
    let tags = tags
        .into_iter()
        .filter(|t| t.key() != Some(TEMPLATE_TAG))
        .collect();
    Ok((template, tags))
}

/// The family a task definition ARN (or `family:revision`) names.
pub fn family_of(arn: &str) -> &str {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

/// The container a service's image runs in: the one named for the service, else the only
/// one.
pub fn container_of<'d>(
    definition: &'d ecs::TaskDefinition,
    service: &str,
) -> Result<&'d ecs::ContainerDefinition> {
    let containers = definition.container_definitions();
    containers
        .iter()
        .find(|c| c.name() == Some(service))
        .or(match containers {
            [only] => Some(only),
            _ => None,
        })
        .with_context(|| {
            format!(
                "task definition {} has no container named `{service}` (and more than one container)",
                definition.family().unwrap_or_default()
            )
        })
}

/// The repository's image that `reference` (`uri:tag` or `uri@digest`) names; `Err` says
/// why it is not known.
async fn image_of(
    aws: &Clients,
    repository: &Repository,
    reference: &str,
) -> Result<Result<Image, String>> {
    let Some(uri) = &repository.uri else {
        return Ok(Err(format!(
            "repository {} does not exist",
            repository.name
        )));
    };
    let id = match reference.strip_prefix(uri.as_str()) {
        Some(rest) => match (rest.strip_prefix('@'), rest.strip_prefix(':')) {
            (Some(digest), _) => ImageIdentifier::builder().image_digest(digest).build(),
            (_, Some(tag)) => ImageIdentifier::builder().image_tag(tag).build(),
            _ => return Ok(Err(format!("image {reference} names no tag or digest"))),
        },
        None => {
            return Ok(Err(format!(
                "image {reference} is not from repository {uri}"
            )))
        }
    };
    Ok(find_image(aws, None, &repository.name, id)
        .await?
        .ok_or_else(|| format!("image {reference} is not in the registry")))
}

/// The image tagged `fp-<fingerprint>`, if one was pushed.
pub async fn image_for(
    aws: &Clients,
    repository: &str,
    fingerprint: &str,
) -> Result<Option<Image>> {
    let tag = format!("{FINGERPRINT_TAG}{fingerprint}");
    find_image(
        aws,
        None,
        repository,
        ImageIdentifier::builder().image_tag(tag).build(),
    )
    .await
}

/// The image with `digest`, if the repository still holds it.
pub async fn image_with_digest(
    aws: &Clients,
    repository: &str,
    digest: &str,
) -> Result<Option<Image>> {
    image_with_digest_in(aws, None, repository, digest).await
}

/// The image `digest` of `repository` in `registry` (another account's: its repository
/// policy must let this one read), or in this account's.
pub async fn image_with_digest_in(
    aws: &Clients,
    registry: Option<&str>,
    repository: &str,
    digest: &str,
) -> Result<Option<Image>> {
    let id = ImageIdentifier::builder().image_digest(digest).build();
    find_image(aws, registry, repository, id).await
}

async fn find_image(
    aws: &Clients,
    registry: Option<&str>,
    repository: &str,
    id: ImageIdentifier,
) -> Result<Option<Image>> {
    let described = aws
        .ecr
        .describe_images()
        .set_registry_id(registry.map(str::to_owned))
        .repository_name(repository)
        .image_ids(id)
        .send()
        .await;
    match described {
        Ok(out) => Ok(out.image_details().first().map(|d| Image {
            digest: d.image_digest().unwrap_or_default().to_owned(),
            tags: d.image_tags().to_vec(),
        })),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_image_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err).aws_context(|| format!("describing images of {repository}")),
    }
}

/// The repository `name`, with its URI when it exists.
pub async fn repository(aws: &Clients, name: &str) -> Result<Repository> {
    repository_in(aws, None, name).await
}

/// The repository `name` of `registry` (another account's), or of this account's.
pub async fn repository_in(
    aws: &Clients,
    registry: Option<&str>,
    name: &str,
) -> Result<Repository> {
    match aws
        .ecr
        .describe_repositories()
        .set_registry_id(registry.map(str::to_owned))
        .repository_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(Repository {
            name: name.to_owned(),
            uri: out
                .repositories()
                .first()
                .and_then(|r| r.repository_uri())
                .map(str::to_owned),
        }),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_repository_not_found_exception()) =>
        {
            Ok(Repository {
                name: name.to_owned(),
                uri: None,
            })
        }
        Err(err) => Err(err).aws_context(|| format!("describing repository {name}")),
    }
}

/// The one CloudFront distribution whose comment is `comment` (an app's bucket name);
/// more than one is an error, not the first that happens to be listed.
pub async fn distribution(aws: &Clients, comment: &str) -> Result<Option<String>> {
    match distributions(aws, comment).await?.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => Err(crate::error::Error::Check(format!(
            "CloudFront distributions {} all have the comment `{comment}`: leave it on the one that serves the app",
            many.join(" and ")
        ))
        .into()),
    }
}

/// Every distribution whose comment is `comment`, across the listing's pages.
pub async fn distributions(aws: &Clients, comment: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        // The largest page CloudFront gives: every page is read (a duplicate comment on a
        // later page must be seen), so an account with many distributions costs few calls.
        let listed = aws
            .cloudfront
            .list_distributions()
            .max_items(1000)
            .set_marker(marker.clone())
            .send()
            .await
            .aws_context(|| "listing CloudFront distributions".to_owned())?;
        let Some(list) = listed.distribution_list() else {
            return Ok(found);
        };
        found.extend(
            (list.items().iter())
                .filter(|d| d.comment() == comment)
                .map(|d| d.id().to_owned()),
        );
        match list.next_marker().filter(|_| list.is_truncated()) {
            Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_owned()),
            _ => return Ok(found),
        }
    }
}

/// The migrations tree last applied for `service`, from the state bucket.
pub async fn applied_migrations(
    aws: &Clients,
    bucket: &str,
    service: &str,
) -> Result<Option<state::AppliedMigrations>> {
    state::read_json(aws, bucket, &state::migrations_key(service)).await
}

/// Where the service's tasks run, as plain values.
fn placement(service: &ecs::Service) -> Placement {
    let network = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|vpc| AwsVpc {
            subnets: vpc.subnets().to_vec(),
            security_groups: vpc.security_groups().to_vec(),
            assign_public_ip: vpc.assign_public_ip() == Some(&ecs::AssignPublicIp::Enabled),
        });
    let capacity_providers = service
        .capacity_provider_strategy()
        .iter()
        .map(|item| CapacityProvider {
            name: item.capacity_provider().to_owned(),
            weight: item.weight(),
            base: item.base(),
        })
        .collect();
    Placement {
        launch_type: service.launch_type().map(|t| t.as_str().to_owned()),
        network,
        capacity_providers,
        platform_version: service.platform_version().map(str::to_owned),
    }
}

/// A placement's capacity provider strategy as `RunTask` takes it (`None` when it has none,
/// so the launch type, not an empty strategy, decides).
pub fn capacity_provider_strategy(
    placement: &Placement,
) -> Result<Option<Vec<ecs::CapacityProviderStrategyItem>>> {
    if placement.capacity_providers.is_empty() {
        return Ok(None);
    }
    let items = placement.capacity_providers.iter().map(|provider| {
        ecs::CapacityProviderStrategyItem::builder()
            .capacity_provider(&provider.name)
            .weight(provider.weight)
            .base(provider.base)
            .build()
            .context("a capacity provider strategy item")
    });
    Ok(Some(items.collect::<Result<_>>()?))
}

/// A placement's network as `RunTask` takes it.
pub fn network_configuration(vpc: &AwsVpc) -> Result<ecs::NetworkConfiguration> {
    let public_ip = if vpc.assign_public_ip {
        ecs::AssignPublicIp::Enabled
    } else {
        ecs::AssignPublicIp::Disabled
    };
    let awsvpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(vpc.subnets.clone()))
        .set_security_groups(Some(vpc.security_groups.clone()))
        .assign_public_ip(public_ip)
        .build()
        .context("the service's awsvpc configuration has no subnets")?;
    Ok(ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(awsvpc)
        .build())
}
