//! The plan a CI workflow's jobs share when image builds fan out across runners: the plan
//! job saves it (`deploy --dry-run --save-plan FILE --shards N`), each build job pushes
//! its shard's images (`--images-only --services <shard> --plan FILE`), and the final job
//! migrates and rolls them (`--changed --no-build --plan FILE`). Each job plans again
//! from HEAD and the live state and compares with the file: a job refuses when the
//! commit, a fingerprint or the live state moved since the plan job, so the final job
//! rolls exactly what the build jobs built. Pure: the file's contents, the comparison and
//! the shard a missing image belonged to; the binary reads and writes the file.

use crate::deploy_plan::{DeployPlan, ImagePlan};
use crate::plan::{Action, UnitPlan};
use serde::{Deserialize, Serialize};

/// The file's format; a file of another version is refused, never guessed at.
pub const VERSION: u32 = 1;

/// What the plan job decided, as the file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub version: u32,
    pub env: String,
    pub commit: String,
    pub services: Vec<Unit>,
    pub apps: Vec<Unit>,
    /// The services whose images the build jobs build, one list per job.
    pub shards: Vec<Vec<String>>,
}

/// One service or app: what the plan job saw of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    pub fingerprint: String,
    pub deploy: bool,
    /// What runs now: the live task definition of a service, the live release of an app.
    pub live: Option<String>,
    /// A service whose image the plan job found missing: a build job builds it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build: bool,
}

impl Handoff {
    /// The handoff of `plan`, its image builds split into `shards`.
    pub fn of(plan: &DeployPlan, shards: Vec<Vec<String>>) -> Handoff {
        let unit = |u: &UnitPlan, live: &Option<String>, build: bool| Unit {
            name: u.name.clone(),
            fingerprint: u.fingerprint.clone(),
            deploy: u.action == Action::Deploy,
            live: live.clone(),
            build,
        };
        Handoff {
            version: VERSION,
            env: plan.env.clone(),
            commit: plan.commit.clone(),
            services: (plan.services.iter())
                .map(|s| {
                    let build = s.image == Some(ImagePlan::Build);
                    unit(&s.unit, &s.live_task_definition, build)
                })
                .collect(),
            apps: (plan.apps.iter())
                .map(|a| unit(&a.unit, &a.live_release, false))
                .collect(),
            shards,
        }
    }

    /// The services whose images the build jobs build.
    pub fn builds(&self) -> Vec<&str> {
        (self.services.iter())
            .filter(|s| s.deploy && s.build)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// The shard (numbered from 1, as the matrix numbers them) whose build job builds
    /// `service`.
    pub fn shard_of(&self, service: &str) -> Option<(usize, &[String])> {
        (self.shards.iter().enumerate())
            .find(|(_, shard)| shard.iter().any(|s| s == service))
            .map(|(i, shard)| (i + 1, shard.as_slice()))
    }

    /// What differs between this saved plan and `now` (planned again from HEAD and the live
    /// state), one line each; empty when nothing moved. `only` limits the units compared
    /// (a build job's shard); the commit and environment are always compared.
    pub fn moved(&self, now: &Handoff, only: Option<&[String]>) -> Vec<String> {
        let mut moved = Vec::new();
        if self.env != now.env {
            moved.push(format!(
                "the plan is for environment {}, this run deploys {}",
                self.env, now.env
            ));
        }
        if self.commit != now.commit {
            moved.push(format!(
                "HEAD moved: the plan is of commit {}, HEAD is {}",
                crate::text::short(&self.commit),
                crate::text::short(&now.commit)
            ));
        }
        let wanted = |name: &str| only.is_none_or(|only| only.iter().any(|o| o == name));
        for (kind, saved, current) in [
            ("service", &self.services, &now.services),
            ("app", &self.apps, &now.apps),
        ] {
            let names = (saved.iter().chain(current)).map(|u| u.name.as_str());
            let mut names: Vec<&str> = names.filter(|n| wanted(n)).collect();
            names.sort_unstable();
            names.dedup();
            for name in names {
                let find = |units: &[Unit]| units.iter().find(|u| u.name == name).cloned();
                moved.extend(unit_moved(kind, name, find(saved), find(current)));
            }
        }
        moved
    }
}

/// How one unit differs between the saved plan and now.
fn unit_moved(kind: &str, name: &str, saved: Option<Unit>, now: Option<Unit>) -> Option<String> {
    let (saved, now) = match (saved, now) {
        (Some(saved), Some(now)) => (saved, now),
        (Some(_), None) => return Some(format!("{kind} {name} is in the plan, not in this run")),
        (None, Some(_)) => return Some(format!("{kind} {name} is in this run, not in the plan")),
        (None, None) => return None,
    };
    let what = |live: &Option<String>| live.clone().unwrap_or_else(|| "nothing".into());
    if saved.fingerprint != now.fingerprint {
        Some(format!(
            "{kind} {name}: its fingerprint was {}, now {}",
            crate::text::short(&saved.fingerprint),
            crate::text::short(&now.fingerprint)
        ))
    } else if saved.live != now.live {
        Some(format!(
            "{kind} {name}: the live state moved (the plan saw {}, now {})",
            what(&saved.live),
            what(&now.live)
        ))
    } else if saved.deploy != now.deploy {
        let says = |deploy: bool| if deploy { "deploy" } else { "skip" };
        Some(format!(
            "{kind} {name}: the plan says {}, this run would {}",
            says(saved.deploy),
            says(now.deploy)
        ))
    } else {
        None
    }
}

/// The SHA-256 of the file's bytes, as `sha256sum` prints it.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    crate::workspace::hex(&sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str, fingerprint: &str, live: &str) -> Unit {
        Unit {
            name: name.into(),
            fingerprint: fingerprint.into(),
            deploy: true,
            live: Some(live.into()),
            build: true,
        }
    }

    fn saved() -> Handoff {
        Handoff {
            version: VERSION,
            env: "staging".into(),
            commit: "a".repeat(40),
            services: vec![
                unit("api", "f1", "td/api:3"),
                unit("worker", "f2", "td/worker:7"),
            ],
            apps: vec![],
            shards: vec![vec!["api".into()], vec!["worker".into()]],
        }
    }

    #[test]
    fn nothing_moved_is_empty_and_each_move_is_named() {
        let plan = saved();
        assert!(plan.moved(&saved(), None).is_empty());
        let mut now = saved();
        now.commit = "b".repeat(40);
        now.services[1].live = Some("td/worker:8".into());
        let moved = plan.moved(&now, None);
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert!(moved[0].starts_with("HEAD moved"), "{moved:?}");
        assert!(moved[1].contains("worker") && moved[1].contains("td/worker:8"));
    }

    #[test]
    fn a_build_job_compares_its_shard_only() {
        let mut now = saved();
        now.services[1].fingerprint = "f9".into();
        assert!(saved().moved(&now, Some(&["api".into()])).is_empty());
        assert_eq!(saved().moved(&now, Some(&["worker".into()])).len(), 1);
    }

    #[test]
    fn the_shard_of_a_service_is_numbered_as_the_matrix_numbers_it() {
        assert_eq!(saved().shard_of("worker").map(|(n, _)| n), Some(2));
        assert_eq!(saved().shard_of("nope"), None);
        assert_eq!(saved().builds(), ["api", "worker"]);
    }

    #[test]
    fn the_file_round_trips() {
        let text = serde_json::to_string_pretty(&saved()).unwrap();
        assert_eq!(serde_json::from_str::<Handoff>(&text).unwrap(), saved());
    }
}
