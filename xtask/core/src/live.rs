//! What runs now, as plain values: the facts the AWS layer reads before anything is
//! decided (each service's task definition, image, fingerprint and commit; each app's
//! live release), and the tag and variable names that tie a running thing to a commit.
//! No SDK types here, so the plan that is decided from these is pure.

/// Tag prefixes of every image this tool pushes: `fp-<fingerprint>` and `git-<commit>`.
pub const FINGERPRINT_TAG: &str = "fp-";
pub const COMMIT_TAG: &str = "git-";

/// Environment variable the tool sets in each task definition: the commit deployed.
pub const VERSION_VAR: &str = "DEPLOY_VERSION";

/// Environment variable the tool sets in each task definition beside the image digest:
/// that image's fingerprint. An `fp-` tag can move to another digest with the same
/// fingerprint (two environments sharing a registry build it at once); the task
/// definition's pair cannot. Not the image's own `DEPLOY_FINGERPRINT`, which the health
/// check reads back from the running service.
pub const FINGERPRINT_VAR: &str = "XTASK_FINGERPRINT";

/// Tag of every task definition revision the tool registers: the revision it was copied
/// from. A revision without it was registered by someone else (Terraform, a person) and
/// is the template of the next deploy, so that what they changed (a variable, a secret, a
/// size) reaches the service; the tool changes only the image and its own variables.
pub const TEMPLATE_TAG: &str = "xtask:template";

/// A service's repository: its URI, or `None` when it does not exist.
#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub uri: Option<String>,
}

/// One service as it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveService {
    /// The ECS service exists and is ACTIVE.
    pub exists: bool,
    pub task_definition: Option<String>,
    /// The container image of the service's container.
    pub image: Option<String>,
    pub digest: Option<String>,
    /// From the image's `fp-` tag.
    pub fingerprint: Option<String>,
    /// The commit the task definition says it runs (`DEPLOY_VERSION`).
    pub commit: Option<String>,
    /// Why the fingerprint is unknown, when it is.
    pub unknown: Option<String>,
    /// Where the service's tasks run, for its migration task to run in the same place.
    pub placement: Placement,
    /// Who deploys the service's new task definitions.
    pub controller: Controller,
    /// The live task definition's `runtimePlatform.cpuArchitecture` (`X86_64`, `ARM64`),
    /// when it names one.
    pub cpu_architecture: Option<String>,
    /// A rollout ECS has not finished, if one is under way.
    pub in_flight: Option<InFlight>,
}

/// A service whose rollout has not finished: more than one deployment, or a PRIMARY whose
/// `rolloutState` is not COMPLETED. A deploy killed in the roll leaves one; so does ECS
/// still rolling (or rolling back) on its own. What it runs was never health-checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InFlight {
    /// The PRIMARY deployment's id and task definition.
    pub deployment: String,
    pub task_definition: String,
    /// Its `rolloutState` (`IN_PROGRESS`, `FAILED`, ...; absent behind a Classic Load
    /// Balancer).
    pub state: Option<String>,
    /// ECS's clock: milliseconds since the epoch it was created at.
    pub created_at_ms: i64,
    /// How many deployments the service has.
    pub deployments: usize,
    /// The task definition of the newest other deployment: what ran before it.
    pub previous: Option<String>,
}

impl InFlight {
    /// Whether it may still complete, so a deploy can wait for it rather than start
    /// another: anything but FAILED.
    pub fn may_complete(&self) -> bool {
        self.state.as_deref() != Some("FAILED")
    }

    /// `PRIMARY IN_PROGRESS, 2 deployments`, for people.
    pub fn describe(&self) -> String {
        format!(
            "PRIMARY {}, {} deployment{}",
            self.state.as_deref().unwrap_or("without a rollout state"),
            self.deployments,
            if self.deployments == 1 { "" } else { "s" }
        )
    }
}

/// The ECS CPU architecture a Docker platform (`linux/amd64`) runs on, when it is one ECS
/// has.
pub fn cpu_architecture(platform: &str) -> Option<&'static str> {
    match platform.split('/').nth(1)? {
        "amd64" | "x86_64" => Some("X86_64"),
        "arm64" | "aarch64" => Some("ARM64"),
        _ => None,
    }
}

/// A service's deployment controller. Only ECS's own takes `UpdateService` with a task
/// definition, which is how this tool deploys; the others refuse it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Controller {
    #[default]
    Ecs,
    /// Blue/green through CodeDeploy: a deployment is a CodeDeploy AppSpec.
    CodeDeploy,
    /// A third-party controller working through task sets.
    External,
    /// A type this version does not know, as ECS names it.
    Other(String),
}

impl Controller {
    /// The controller ECS names `name` (`ECS`, `CODE_DEPLOY`, `EXTERNAL`).
    pub fn from_name(name: &str) -> Controller {
        match name {
            "ECS" => Controller::Ecs,
            "CODE_DEPLOY" => Controller::CodeDeploy,
            "EXTERNAL" => Controller::External,
            other => Controller::Other(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Controller::Ecs => "ECS",
            Controller::CodeDeploy => "CODE_DEPLOY",
            Controller::External => "EXTERNAL",
            Controller::Other(name) => name,
        }
    }

    /// What to do instead, for a controller this tool cannot deploy through.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Controller::Ecs => None,
            Controller::CodeDeploy => Some(
                "it refuses UpdateService with a task definition; deploy it with a CodeDeploy deployment, or move it to the ECS controller (ECS's own blue/green is deploymentConfiguration.strategy = BLUE_GREEN)",
            ),
            Controller::External => Some(
                "it refuses UpdateService with a task definition; its controller deploys through task sets (CreateTaskSet)",
            ),
            Controller::Other(_) => {
                Some("this version of the tool deploys only services with the ECS controller")
            }
        }
    }
}

/// How a service's tasks are placed, copied to the one-shot migration task so that it
/// reaches the same database the service does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// ECS's launch type as AWS names it (`FARGATE`, `EC2`, ...), handed back unchanged:
    /// the tool has no decision to make on it, and a type added later must pass through.
    pub launch_type: Option<String>,
    /// The `awsvpc` network, when the service has one.
    pub network: Option<AwsVpc>,
    /// The service's capacity provider strategy (Fargate Spot, an EC2 auto scaling group):
    /// without it and without a launch type, `RunTask` uses the cluster's default or EC2.
    pub capacity_providers: Vec<CapacityProvider>,
    /// The Fargate platform version the service runs on (`LATEST` when unset).
    pub platform_version: Option<String>,
}

/// One capacity provider of a strategy, as ECS names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapacityProvider {
    pub name: String,
    pub weight: i32,
    pub base: i32,
}

/// An `awsvpc` network configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsVpc {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// An image in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
}

/// The live release of an app, from its bucket's manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveApp {
    pub fingerprint: Option<String>,
    pub commit: Option<String>,
    pub release: Option<String>,
    /// Paths an earlier run activated but could not invalidate.
    pub pending_invalidation: usize,
}

/// The value of the first tag with `prefix`.
pub fn tag_value(tags: &[String], prefix: &str) -> Option<String> {
    tags.iter()
        .find_map(|t| t.strip_prefix(prefix))
        .map(str::to_owned)
}

/// Whether a task definition's `DEPLOY_VERSION` names a full commit (anything else, a
/// hand-edited value, is not trusted as the live commit).
pub fn is_commit(value: &str) -> bool {
    value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit())
}
