//! Promotion: whether a service may go to this environment as the bytes another one ran.
//! Pure rules over facts gathered before planning (the source environment's ledger and
//! repository): the source must have rolled this very fingerprint, successfully, with its
//! health checked, long enough ago, and its image must still be there. Each refusal says
//! which rule and what to do; pre-flight lists them all at once.

use crate::outcome::UnitOutcome;
use crate::spa::manifest::Release;
use crate::text::short;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What became of a service's health check in a deploy, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheck {
    /// It answered with the version deployed.
    Passed,
    /// Nothing checked it (`health = false`, no URL, a modelled stack, no task running).
    NotChecked,
}

/// The newest run of a service in the source environment at the fingerprint to promote,
/// from the source's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRun {
    pub deploy_id: String,
    pub commit: String,
    /// The digest it rolled (`None`: the record names none).
    pub digest: Option<String>,
    pub outcome: UnitOutcome,
    /// `None` in records written before the ledger kept it.
    pub health: Option<HealthCheck>,
    /// When that run ended: the version has run in the source since then.
    pub finished_at: Timestamp,
}

/// Everything known, before planning, of one service in the environment it is promoted
/// from.
#[derive(Debug, Clone)]
pub struct SourceFacts {
    /// The source environment's name.
    pub env: String,
    pub run: Option<SourceRun>,
    /// The fingerprint the source's record of the promoted commit rolled, when it is not
    /// the one this commit has here (another build, another tool version).
    pub ran_other: Option<String>,
    /// The source repository's URI, when it still has `run.digest`.
    pub image_uri: Option<String>,
    pub soak: Soak,
    /// deploy.toml says the service may be promoted without a passed health check.
    pub unchecked_ok: bool,
}

/// A service's image, as the source environment ran it: what the copy takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    pub from: String,
    pub deploy_id: String,
    pub digest: String,
    /// The source repository's URI.
    pub source_uri: String,
}

/// Why a service cannot be promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// The source never rolled this fingerprint.
    NeverRan {
        env: String,
        fingerprint: String,
    },
    /// The source's deploy of the commit rolled the service at another fingerprint.
    RanOther {
        env: String,
        fingerprint: String,
        ran: String,
    },
    /// Its last roll there did not end deployed.
    Failed {
        env: String,
        deploy_id: String,
        outcome: UnitOutcome,
    },
    HealthNotChecked {
        env: String,
        deploy_id: String,
    },
    NotSoaked {
        env: String,
        deploy_id: String,
        ran: String,
        min_soak: String,
    },
    /// The source repository no longer has the digest (a lifecycle rule expired it).
    ImageGone {
        env: String,
        digest: String,
    },
    /// This environment has another image under the fingerprint's immutable tag.
    TagTaken {
        digest: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NeverRan { env, fingerprint } => write!(
                f,
                "{env} never ran it at fingerprint {} successfully: deploy it to {env} first",
                short(fingerprint)
            ),
            Refusal::RanOther { env, fingerprint, ran } => write!(
                f,
                "{env} ran fingerprint {} for that commit, not {} as computed here (another build or tool version): deploy it to {env} again",
                short(ran),
                short(fingerprint)
            ),
            Refusal::Failed { env, deploy_id, outcome } => write!(
                f,
                "its last deploy to {env} ({deploy_id}) ended {outcome}: fix it there first"
            ),
            Refusal::HealthNotChecked { env, deploy_id } => write!(
                f,
                "its health was not checked in {env} ({deploy_id}): check it there, or set `promote_unchecked = true` on the service in deploy.toml"
            ),
            Refusal::NotSoaked { env, deploy_id, ran, min_soak } => write!(
                f,
                "it has run in {env} for {ran} ({deploy_id}), under this environment's min_soak of {min_soak}: wait, or promote an older commit with --sha"
            ),
            Refusal::ImageGone { env, digest } => write!(
                f,
                "its image {} is gone from {env}'s repository: deploy it to {env} again",
                short(digest)
            ),
            Refusal::TagTaken { digest } => write!(
                f,
                "this environment already has another image ({}) for its fingerprint, built here: roll it with --build",
                short(digest)
            ),
        }
    }
}

/// What the source environment's bucket keeps of one app: its releases, newest last.
#[derive(Debug, Clone)]
pub struct AppSourceFacts {
    pub env: String,
    /// The source's bucket of the app.
    pub bucket: String,
    pub releases: Vec<Release>,
    pub soak: Soak,
}

/// The target environment's `min_soak`, and now: how long a version has had in the source.
#[derive(Debug, Clone, Copy)]
pub struct Soak {
    pub min: Duration,
    pub now: Timestamp,
}

impl Soak {
    /// Refused when what `id` put live in `env` at `since` has run there under `min`.
    fn check(self, env: &str, id: &str, since: Timestamp) -> Result<(), Refusal> {
        let ran = self.now.since(since);
        if ran >= self.min {
            return Ok(());
        }
        Err(Refusal::NotSoaked {
            env: env.to_owned(),
            deploy_id: id.to_owned(),
            ran: humantime::format_duration(Duration::from_secs(ran.as_secs())).to_string(),
            min_soak: humantime::format_duration(self.min).to_string(),
        })
    }
}

/// An app's release as the source environment shipped it: what the fetch takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotedRelease {
    pub from: String,
    pub bucket: String,
    pub release: Release,
}

/// The release to promote for an app at `fingerprint` (the source's newest release of
/// it), or why there is none.
pub fn decide_app(source: &AppSourceFacts, fingerprint: &str) -> Result<PromotedRelease, Refusal> {
    let env = source.env.clone();
    let Some(release) = (source.releases.iter().rev()).find(|r| r.fingerprint == fingerprint)
    else {
        return Err(Refusal::NeverRan {
            env,
            fingerprint: fingerprint.to_owned(),
        });
    };
    (source.soak).check(&env, &release.id, release.created_at)?;
    Ok(PromotedRelease {
        from: env,
        bucket: source.bucket.clone(),
        release: release.clone(),
    })
}

/// The image to promote for a service at `fingerprint`, or why there is none.
pub fn decide(source: &SourceFacts, fingerprint: &str) -> Result<Promoted, Refusal> {
    let env = source.env.clone();
    let Some(run) = &source.run else {
        return Err(match &source.ran_other {
            Some(ran) => Refusal::RanOther {
                env,
                fingerprint: fingerprint.to_owned(),
                ran: ran.clone(),
            },
            None => Refusal::NeverRan {
                env,
                fingerprint: fingerprint.to_owned(),
            },
        });
    };
    let deploy_id = run.deploy_id.clone();
    let digest = match (run.outcome, &run.digest) {
        (UnitOutcome::Deployed, Some(digest)) => digest.clone(),
        (outcome, _) => {
            return Err(Refusal::Failed {
                env,
                deploy_id,
                outcome,
            })
        }
    };
    if run.health != Some(HealthCheck::Passed) && !source.unchecked_ok {
        return Err(Refusal::HealthNotChecked { env, deploy_id });
    }
    (source.soak).check(&env, &deploy_id, run.finished_at)?;
    let Some(source_uri) = source.image_uri.clone() else {
        return Err(Refusal::ImageGone { env, digest });
    };
    Ok(Promoted {
        from: env,
        deploy_id,
        digest,
        source_uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(run: Option<SourceRun>) -> SourceFacts {
        SourceFacts {
            env: "staging".into(),
            run,
            ran_other: None,
            image_uri: Some("111.dkr.ecr.eu-west-1.amazonaws.com/acme/api".into()),
            soak: Soak {
                min: Duration::from_secs(3600),
                now: "2026-12-07T12:00:00Z".parse().unwrap(),
            },
            unchecked_ok: false,
        }
    }

    fn run(outcome: UnitOutcome, health: Option<HealthCheck>, finished: &str) -> SourceRun {
        SourceRun {
            deploy_id: "20261207T100000Z-abcdef12-x1y2".into(),
            commit: "abcdef12".repeat(5),
            digest: Some(format!("sha256:{}", "a".repeat(64))),
            outcome,
            health,
            finished_at: finished.parse().unwrap(),
        }
    }

    #[test]
    fn a_healthy_run_that_soaked_is_promoted_by_its_digest() {
        let ok = run(
            UnitOutcome::Deployed,
            Some(HealthCheck::Passed),
            "2026-12-07T10:00:00Z",
        );
        let promoted = decide(&source(Some(ok)), "fp").unwrap();
        assert_eq!(promoted.digest, format!("sha256:{}", "a".repeat(64)));
        assert_eq!(promoted.from, "staging");
    }

    #[test]
    fn an_app_promotes_the_newest_release_of_its_fingerprint_once_it_soaked() {
        let release = |id: &str, fingerprint: &str, created: &str| Release {
            id: id.into(),
            commit: "c".into(),
            fingerprint: fingerprint.into(),
            created_at: created.parse().unwrap(),
            files: Default::default(),
        };
        let mut source = AppSourceFacts {
            env: "staging".into(),
            bucket: "acme-staging-admin".into(),
            releases: vec![
                release("r1", "fp", "2026-12-07T09:00:00Z"),
                release("r2", "other", "2026-12-07T10:00:00Z"),
                release("r3", "fp", "2026-12-07T10:30:00Z"),
            ],
            soak: Soak {
                min: Duration::from_secs(3600),
                now: "2026-12-07T12:00:00Z".parse().unwrap(),
            },
        };
        assert_eq!(decide_app(&source, "fp").unwrap().release.id, "r3");
        assert!(matches!(
            decide_app(&source, "new"),
            Err(Refusal::NeverRan { .. })
        ));
        source.soak.min = Duration::from_secs(2 * 3600);
        assert!(matches!(
            decide_app(&source, "fp"),
            Err(Refusal::NotSoaked { .. })
        ));
    }

    #[test]
    fn each_rule_refuses_with_its_own_reason() {
        let never = decide(&source(None), "fp").unwrap_err();
        assert!(matches!(never, Refusal::NeverRan { .. }), "{never}");

        let mut other = source(None);
        other.ran_other = Some("fp2".into());
        assert!(matches!(
            decide(&other, "fp"),
            Err(Refusal::RanOther { .. })
        ));

        let unhealthy = run(UnitOutcome::Unhealthy, None, "2026-12-07T10:00:00Z");
        let refused = decide(&source(Some(unhealthy)), "fp").unwrap_err();
        assert!(refused.to_string().contains("ended unhealthy"), "{refused}");

        let unchecked = run(
            UnitOutcome::Deployed,
            Some(HealthCheck::NotChecked),
            "2026-12-07T10:00:00Z",
        );
        let refused = decide(&source(Some(unchecked.clone())), "fp").unwrap_err();
        assert!(
            refused.to_string().contains("promote_unchecked"),
            "{refused}"
        );
        let mut allowed = source(Some(unchecked));
        allowed.unchecked_ok = true;
        assert!(decide(&allowed, "fp").is_ok());

        let young = run(
            UnitOutcome::Deployed,
            Some(HealthCheck::Passed),
            "2026-12-07T11:30:00Z",
        );
        let refused = decide(&source(Some(young)), "fp").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "it has run in staging for 30m (20261207T100000Z-abcdef12-x1y2), under this environment's min_soak of 1h: wait, or promote an older commit with --sha"
        );

        let ok = run(
            UnitOutcome::Deployed,
            Some(HealthCheck::Passed),
            "2026-12-07T10:00:00Z",
        );
        let mut gone = source(Some(ok));
        gone.image_uri = None;
        assert!(matches!(
            decide(&gone, "fp"),
            Err(Refusal::ImageGone { .. })
        ));
    }
}
