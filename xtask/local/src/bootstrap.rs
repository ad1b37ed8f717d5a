//! Creates every AWS resource a `local_stack` environment of `deploy.toml` names, through
//! the AWS SDK against the emulator: the ECS cluster, one service per service (desired
//! count 2, circuit breaker with rollback, rolling 100/200) with an initial task definition,
//! the migration task families, the ECR repositories, the state and app buckets and one
//! CloudFront distribution per app. Idempotent: what exists is left as it is. Where other
//! local environments promote from this one, their accounts may read its repositories and
//! buckets (the resource policies Terraform gives staging's for production).

use anyhow::{Context as _, Result};
use aws_sdk_ecs::types as ecs;
use serde::Deserialize;
use std::fmt;
use xtask_aws::aws::{AwsContext as _, Clients};
use xtask_aws::config::{App, Config, Names, Service};

/// The networking awsvpc tasks need: the emulator's default VPC.
#[derive(Debug, Clone, Deserialize)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

/// One resource and whether this run created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub kind: &'static str,
    pub name: String,
    pub created: bool,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.created { "created" } else { "exists " };
        write!(f, "{state} {:<24} {}", self.kind, self.name)
    }
}

/// The tag of the placeholder image in a service's first task definition: no image exists
/// before the first deploy, which replaces it.
pub const BOOTSTRAP_TAG: &str = "bootstrap";

/// What a promoting account may do with a source repository: find images and pull them.
const ECR_READ: &[&str] = &[
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:ListImages",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
];

/// What a promoting account may do with a source bucket: read the ledger and app files.
const S3_READ: &[&str] = &["s3:GetObject", "s3:ListBucket"];

pub struct Bootstrap<'a> {
    pub config: &'a Config,
    pub names: Names<'a>,
    pub aws: &'a Clients,
    pub network: &'a Network,
    /// `host:port` of the registry behind ECR.
    pub registry: &'a str,
    /// The emulator's endpoint, for its load balancer.
    pub endpoint: &'a str,
    /// The stack's account the environment is in (its access key).
    pub account: &'a str,
    /// The stack's PostgreSQL port, when tasks run as containers: services with migrations
    /// get `DATABASE_URL` (on AWS, Terraform's secret) for their database there.
    pub database_port: Option<u16>,
    /// Accounts that promote from this environment: granted reading its images, ledger and
    /// app files by resource policies.
    pub grants: Vec<String>,
}

impl Bootstrap<'_> {
    pub async fn run(&self) -> Result<Vec<Resource>> {
        let mut made = vec![self.cluster().await?];
        for service in &self.config.services {
            made.push(self.repository(service).await?);
            made.push(self.service(service).await?);
            if service.migrations.is_some() {
                made.push(self.migration_family(service).await?);
            }
        }
        made.push(self.bucket(&self.names.state_bucket(), true).await?);
        if let Some(cache) = self.names.build_cache() {
            made.push(self.bucket(&cache, false).await?);
        }
        for app in &self.config.apps {
            made.push(self.bucket(&self.names.bucket(app), false).await?);
            made.push(self.distribution(app).await?);
        }
        if !self.grants.is_empty() {
            self.grant().await?;
        }
        Ok(made)
    }

    /// Lets the accounts that promote from here read what a promotion copies: each
    /// repository's images and each bucket's objects (rewritten every run: idempotent).
    async fn grant(&self) -> Result<()> {
        let principals: Vec<String> = (self.grants.iter())
            .map(|account| format!("arn:aws:iam::{account}:root"))
            .collect();
        // A repository policy names no resource (it is the resource); a bucket's does.
        let statement = |actions: &[&str], resources: Option<Vec<String>>| {
            let mut statement = serde_json::json!({
                "Sid": "PromotedBy", "Effect": "Allow",
                "Principal": {"AWS": principals}, "Action": actions,
            });
            if let Some(resources) = resources {
                statement["Resource"] = resources.into();
            }
            serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
        };
        for service in &self.config.services {
            let name = self.names.ecr_repository(service);
            (self.aws.ecr.set_repository_policy())
                .repository_name(&name)
                .policy_text(statement(ECR_READ, None))
                .send()
                .await
                .aws_context(|| format!("setting the policy of repository {name}"))?;
        }
        let buckets = std::iter::once(self.names.state_bucket())
            .chain(self.config.apps.iter().map(|app| self.names.bucket(app)));
        for bucket in buckets {
            let resources = vec![
                format!("arn:aws:s3:::{bucket}"),
                format!("arn:aws:s3:::{bucket}/*"),
            ];
            (self.aws.s3.put_bucket_policy())
                .bucket(&bucket)
                .policy(statement(S3_READ, Some(resources)))
                .send()
                .await
                .aws_context(|| format!("setting the policy of bucket {bucket}"))?;
        }
        Ok(())
    }

    async fn cluster(&self) -> Result<Resource> {
        let name = self.names.cluster();
        let found = self
            .aws
            .ecs
            .describe_clusters()
            .clusters(&name)
            .send()
            .await;
        let active = found
            .aws_context(|| format!("describing cluster {name}"))?
            .clusters()
            .iter()
            .any(|c| c.status() == Some("ACTIVE"));
        if !active {
            self.aws
                .ecs
                .create_cluster()
                .cluster_name(&name)
                .send()
                .await
                .aws_context(|| format!("creating cluster {name}"))?;
        }
        Ok(resource("ecs cluster", name, !active))
    }

    async fn repository(&self, service: &Service) -> Result<Resource> {
        let name = self.names.ecr_repository(service);
        let exists = xtask_aws::live::repository(self.aws, &name)
            .await?
            .uri
            .is_some();
        if exists {
            return Ok(resource("ecr repository", name, false));
        }
        let created = self
            .aws
            .ecr
            .create_repository()
            .repository_name(&name)
            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
            .send()
            .await;
        match created {
            Ok(_) => Ok(resource("ecr repository", name, true)),
            // Created meanwhile by another environment sharing the repository.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_repository_already_exists_exception()) =>
            {
                Ok(resource("ecr repository", name, false))
            }
            Err(err) => Err(err).aws_context(|| format!("creating repository {name}")),
        }
    }

    async fn service(&self, service: &Service) -> Result<Resource> {
        let cluster = self.names.cluster();
        let name = self.names.ecs_service(service);
        let balancer = self.balancer(service).await?;
        if let Some(live) = xtask_aws::live::active_service(self.aws, &cluster, &name).await? {
            let balanced =
                (live.load_balancers().iter()).any(|lb| lb.advanced_configuration().is_some());
            if let Some(balancer) = balancer.filter(|_| !balanced) {
                // A service switched to a strategy that shifts traffic gets its listeners,
                // as a Terraform apply would give it.
                (self.aws.ecs.update_service())
                    .cluster(&cluster)
                    .service(&name)
                    .load_balancers(balancer)
                    .send()
                    .await
                    .aws_context(|| format!("giving service {name} its load balancer"))?;
                return Ok(resource("ecs service + listeners", name, true));
            }
            return Ok(resource("ecs service", name, false));
        }
        let container = self
            .placeholder(service)
            .port_mappings(
                ecs::PortMapping::builder()
                    .container_port(i32::from(service.port))
                    .build(),
            )
            .environment(
                ecs::KeyValuePair::builder()
                    .name("DEPLOY_VERSION")
                    .value(BOOTSTRAP_TAG)
                    .build(),
            )
            .build();
        let definition = self.register(&name, container).await?;
        let breaker = ecs::DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(true)
            .build();
        let deployment = ecs::DeploymentConfiguration::builder()
            .deployment_circuit_breaker(breaker)
            .maximum_percent(200)
            .minimum_healthy_percent(100)
            .build();
        self.aws
            .ecs
            .create_service()
            .cluster(&cluster)
            .service_name(&name)
            .task_definition(definition)
            .desired_count(2)
            .launch_type(ecs::LaunchType::Fargate)
            .deployment_configuration(deployment)
            .network_configuration(self.awsvpc()?)
            .set_load_balancers(balancer.map(|b| vec![b]))
            .send()
            .await
            .aws_context(|| format!("creating service {name}"))?;
        Ok(resource("ecs service", name, true))
    }

    /// For a service deploy.toml deploys blue/green, canary or linear: its production and
    /// test listeners on the stack's load balancer, and the `loadBalancers` entry that
    /// names its two target groups, listener rules and infrastructure role, as Terraform's
    /// `load_balancer.tf` gives one on AWS.
    async fn balancer(&self, service: &Service) -> Result<Option<ecs::LoadBalancer>> {
        if !service.delivery.kind().shifts_traffic() {
            return Ok(None);
        }
        let url = format!(
            "{}/_xtask/balancers?region={}",
            self.endpoint,
            self.names.env.region.get_ref()
        );
        let wanted = serde_json::json!({
            "cluster": self.names.cluster(),
            "service": self.names.ecs_service(service),
            "region": self.names.env.region.get_ref(),
            "account": self.account,
        });
        let answer: serde_json::Value =
            serde_json::from_str(&xtask_aws::http::post_json(&url, &wanted)?)?;
        let arn = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
        let advanced = ecs::AdvancedConfiguration::builder()
            .alternate_target_group_arn(arn("alternate_target_group_arn"))
            .production_listener_rule(arn("production_listener_rule"))
            .test_listener_rule(arn("test_listener_rule"))
            .role_arn(arn("role_arn"))
            .build();
        Ok(Some(
            ecs::LoadBalancer::builder()
                .target_group_arn(arn("target_group_arn"))
                .container_name(&service.name)
                .container_port(i32::from(service.port))
                .advanced_configuration(advanced)
                .build(),
        ))
    }

    /// The family that runs a service's migrations: its image (replaced by each deploy),
    /// the migration command.
    async fn migration_family(&self, service: &Service) -> Result<Resource> {
        let family = self.names.migration_family(service);
        if self
            .aws
            .ecs
            .describe_task_definition()
            .task_definition(&family)
            .send()
            .await
            .is_ok()
        {
            return Ok(resource("ecs task family", family, false));
        }
        let migrations = service
            .migrations
            .as_ref()
            .expect("called for services with migrations");
        let container = self
            .placeholder(service)
            .set_command(Some(migrations.command.clone()))
            .build();
        self.register(&family, container).await?;
        Ok(resource("ecs task family", family, true))
    }

    /// The service's container with the placeholder image, before the first deploy, and
    /// its database's URL when the stack has one for it.
    fn placeholder(&self, service: &Service) -> ecs::builders::ContainerDefinitionBuilder {
        let repository = self.names.ecr_repository(service);
        let database = self
            .database_port
            .filter(|_| service.migrations.is_some())
            .map(|port| {
                ecs::KeyValuePair::builder()
                    .name("DATABASE_URL")
                    .value(crate::postgres::container_url(
                        port,
                        &self.names.ecs_service(service),
                    ))
                    .build()
            });
        ecs::ContainerDefinition::builder()
            .name(&service.name)
            .image(format!("{}/{repository}:{BOOTSTRAP_TAG}", self.registry))
            .essential(true)
            .set_environment(database.map(|d| vec![d]))
    }

    async fn register(&self, family: &str, container: ecs::ContainerDefinition) -> Result<String> {
        let registered = self
            .aws
            .ecs
            .register_task_definition()
            .family(family)
            .network_mode(ecs::NetworkMode::Awsvpc)
            .requires_compatibilities(ecs::Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(container)
            .send()
            .await
            .aws_context(|| format!("registering task definition {family}"))?;
        registered
            .task_definition()
            .and_then(|d| d.task_definition_arn())
            .map(str::to_owned)
            .context("RegisterTaskDefinition returned no ARN")
    }

    fn awsvpc(&self) -> Result<ecs::NetworkConfiguration> {
        let vpc = ecs::AwsVpcConfiguration::builder()
            .set_subnets(Some(self.network.subnets.iter().take(2).cloned().collect()))
            .set_security_groups(Some(self.network.security_groups.clone()))
            .assign_public_ip(ecs::AssignPublicIp::Disabled)
            .build()?;
        Ok(ecs::NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build())
    }

    async fn bucket(&self, name: &str, versioned: bool) -> Result<Resource> {
        // 301: it exists, in another region (an app bucket may be anywhere).
        let exists = match self.aws.s3.head_bucket().bucket(name).send().await {
            Ok(_) => true,
            Err(err) => err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 301),
        };
        if exists {
            return Ok(resource("s3 bucket", name.to_owned(), false));
        }
        let mut create = self.aws.s3.create_bucket().bucket(name);
        if self.names.env.region.get_ref() != "us-east-1" {
            let location = aws_sdk_s3::types::BucketLocationConstraint::from(
                self.names.env.region.get_ref().as_str(),
            );
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(location)
                    .build(),
            );
        }
        create
            .send()
            .await
            .aws_context(|| format!("creating bucket {name}"))?;
        if versioned {
            let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build();
            self.aws
                .s3
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(versioning)
                .send()
                .await
                .aws_context(|| format!("versioning bucket {name}"))?;
        }
        Ok(resource("s3 bucket", name.to_owned(), true))
    }

    /// One distribution per app in front of its bucket, found again by its comment (the
    /// bucket's name): distribution ids are generated.
    async fn distribution(&self, app: &App) -> Result<Resource> {
        use aws_sdk_cloudfront::types as cf;
        let bucket = self.names.bucket(app);
        let exists = xtask_aws::live::distribution(self.aws, &bucket)
            .await?
            .is_some();
        if exists {
            return Ok(resource("cloudfront distribution", bucket, false));
        }
        let origin = cf::Origin::builder()
            .id("app")
            .domain_name(format!(
                "{bucket}.s3.{}.amazonaws.com",
                self.names.env.region.get_ref()
            ))
            .s3_origin_config(
                cf::S3OriginConfig::builder()
                    .origin_access_identity("")
                    .build(),
            )
            .build()?;
        let behaviour = cf::DefaultCacheBehavior::builder()
            .target_origin_id("app")
            .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
            // AWS's managed "CachingOptimized" policy; HTML gets `no-cache` from its headers.
            .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
            .build()?;
        let config = cf::DistributionConfig::builder()
            .caller_reference(&bucket)
            .comment(&bucket)
            .enabled(true)
            .default_root_object("index.html")
            .origins(cf::Origins::builder().quantity(1).items(origin).build()?)
            .default_cache_behavior(behaviour)
            .build()?;
        let created = self
            .aws
            .cloudfront
            .create_distribution()
            .distribution_config(config)
            .send()
            .await;
        match created {
            Ok(_) => Ok(resource("cloudfront distribution", bucket, true)),
            // Created meanwhile (its caller reference is the bucket's name).
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_distribution_already_exists()) =>
            {
                Ok(resource("cloudfront distribution", bucket, false))
            }
            Err(err) => Err(err).aws_context(|| format!("creating the distribution of {bucket}")),
        }
    }
}

fn resource(kind: &'static str, name: String, created: bool) -> Resource {
    Resource {
        kind,
        name,
        created,
    }
}
