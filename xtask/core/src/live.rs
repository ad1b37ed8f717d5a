//! What runs now, as plain values: the facts the AWS layer reads before anything is
//! decided (each service's task definition, image, fingerprint and commit; each app's
//! live release), and the tag and variable names that tie a running thing to a commit.
//! No SDK types here, so the plan that is decided from these is pure.

use std::time::Duration;

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
    /// The live task definition's `runtimePlatform.operatingSystemFamily` (`LINUX`,
    /// `WINDOWS_SERVER_2022_CORE`, ...), when it names one.
    pub os_family: Option<String>,
    /// A rollout ECS has not finished, if one is under way.
    pub in_flight: Option<InFlight>,
    /// What its load balancer block offers a strategy that shifts traffic.
    pub routing: Routing,
}

/// What a service's `loadBalancers` offer a blue/green, canary or linear deployment: ECS
/// moves traffic between two target groups through the listener rules of
/// `advancedConfiguration`, with the infrastructure role it names (the developer guide's
/// "Required resources for Amazon ECS blue/green deployments"); the tool checks the new
/// revision on the test listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    pub target_group: bool,
    pub alternate_target_group: bool,
    pub production_listener_rule: bool,
    pub test_listener_rule: bool,
    pub infrastructure_role: bool,
}

impl Routing {
    /// What is missing for a strategy that shifts traffic, as ECS's fields name it.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            (self.target_group, "a load balancer target group"),
            (
                self.alternate_target_group,
                "advancedConfiguration.alternateTargetGroupArn",
            ),
            (
                self.production_listener_rule,
                "advancedConfiguration.productionListenerRule",
            ),
            (
                self.test_listener_rule,
                "advancedConfiguration.testListenerRule",
            ),
            (
                self.infrastructure_role,
                "advancedConfiguration.roleArn (the ECS infrastructure role)",
            ),
        ]
        .into_iter()
        .filter(|(present, _)| !present)
        .map(|(_, what)| what)
        .collect()
    }
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

/// Whether a Docker platform's OS (`linux` of `linux/amd64`) runs on ECS's operating
/// system family `family` (`LINUX`, `WINDOWS_SERVER_2019_FULL`, ...).
pub fn runs_on_os_family(platform: &str, family: &str) -> bool {
    match platform.split('/').next() {
        Some("linux") => family == "LINUX",
        Some("windows") => family.starts_with("WINDOWS_SERVER"),
        _ => true,
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

/// How ECS shifts a service to a new revision (deploy.toml's `strategy`, which each roll
/// sets as `deploymentConfiguration.strategy`). With
/// any but a rolling update, ECS keeps the deployment IN_PROGRESS through its bakes (the
/// old revision kept beside the new, traffic moved step by step), so a roll may take that
/// much longer than the wait for the new tasks: the roll's wait and the credentials'
/// worst case add [`Strategy::bakes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Strategy {
    #[default]
    Rolling,
    /// All traffic at once after the new revision is ready, the old one kept for `bake`.
    BlueGreen { bake: Duration },
    /// `percent` of traffic for `canary_bake`, then all of it, the old kept for `bake`.
    Canary {
        canary_bake: Duration,
        bake: Duration,
    },
    /// Traffic moved in `steps` equal steps, `step_bake` after each but the last, the old
    /// revision kept for `bake` after.
    Linear {
        steps: u32,
        step_bake: Duration,
        bake: Duration,
    },
}

impl Strategy {
    /// What ECS waits through after the new tasks are ready, before it completes the
    /// deployment: every bake of the strategy, at their configured lengths.
    pub fn bakes(&self) -> Duration {
        match self {
            Strategy::Rolling => Duration::ZERO,
            Strategy::BlueGreen { bake } => *bake,
            Strategy::Canary { canary_bake, bake } => *canary_bake + *bake,
            Strategy::Linear {
                steps,
                step_bake,
                bake,
            } => *step_bake * steps.saturating_sub(1) + *bake,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The strategies' bakes as the ECS API reference describes `DeploymentConfiguration`:
    /// a bake after production traffic moved, a canary's before the rest of it, a linear
    /// step's after each step but the last.
    #[test]
    fn each_strategy_bakes_for_what_its_configuration_says() {
        let m = |minutes: u64| Duration::from_secs(60 * minutes);
        let bakes = |strategy: Strategy| strategy.bakes().as_secs() / 60;
        assert_eq!(bakes(Strategy::Rolling), 0);
        assert_eq!(bakes(Strategy::BlueGreen { bake: m(30) }), 30);
        let canary = Strategy::Canary {
            canary_bake: m(5),
            bake: m(30),
        };
        assert_eq!(bakes(canary), 35);
        // 10 % steps: ten steps, a bake of 2 after each of the first nine, then the bake.
        let linear = |steps, step_bake, bake| Strategy::Linear {
            steps,
            step_bake: m(step_bake),
            bake: m(bake),
        };
        assert_eq!(bakes(linear(10, 2, 30)), 48);
        // 30 % steps: four steps (30, 60, 90, 100).
        assert_eq!(bakes(linear(4, 3, 0)), 9);
        assert_eq!(bakes(Strategy::BlueGreen { bake: m(0) }), 0);
    }
}
