//! The phases of a deploy, in the order they run, as one enum: the executor's concurrency
//! and restore policies, the events, the timings in the ledger and the terminal's lines all
//! match on it, never on a spelled name. Each is written as its lowercase name.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// One host build of every host-built service's binary.
    Compile,
    /// Image builds and pushes, and app builds.
    Build,
    /// An image already pushed for the fingerprint, tagged with the commit.
    Retag,
    /// Each image's vulnerability scan, judged by the environment's `scan` policy.
    Scan,
    Migrate,
    Roll,
    Health,
    /// An app's upload and activation.
    Ship,
    /// `--on-failure rollback`: the previous task definitions, back.
    Restore,
}

impl Phase {
    /// Every phase, in the order they run (kept beside [`Phase::name`], whose match fails
    /// to compile when a phase is added: add it here too).
    pub const ALL: [Phase; 9] = [
        Phase::Compile,
        Phase::Build,
        Phase::Retag,
        Phase::Scan,
        Phase::Migrate,
        Phase::Roll,
        Phase::Health,
        Phase::Ship,
        Phase::Restore,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Compile => "compile",
            Phase::Build => "build",
            Phase::Retag => "retag",
            Phase::Scan => "scan",
            Phase::Migrate => "migrate",
            Phase::Roll => "roll",
            Phase::Health => "health",
            Phase::Ship => "ship",
            Phase::Restore => "restore",
        }
    }

    /// Whether the phase's steps load this machine (builds, pushes, uploads), so that they
    /// run a bounded number at a time; the others mostly wait on AWS and all run at once.
    pub fn loads_the_machine(self) -> bool {
        matches!(self, Phase::Build | Phase::Retag | Phase::Ship)
    }

    /// Whether the phase may take a whole `--timeout` at worst: the waits on AWS, which it
    /// bounds, and the builds, which get the same allowance. Re-tags and app shipping are a
    /// handful of quick calls.
    pub fn may_take_the_timeout(self) -> bool {
        matches!(
            self,
            Phase::Compile
                | Phase::Build
                | Phase::Scan
                | Phase::Migrate
                | Phase::Roll
                | Phase::Health
                | Phase::Restore
        )
    }

    /// Whether a failure in this phase leaves services rolled, so that `--on-failure
    /// rollback` has something to restore.
    pub fn after_rolling(self) -> bool {
        matches!(self, Phase::Roll | Phase::Health)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the plain lines align phases with `{phase:<8}`.
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_is_written_as_its_name() {
        for phase in Phase::ALL {
            let json = serde_json::to_string(&phase).unwrap();
            assert_eq!(json, format!("\"{}\"", phase.name()));
        }
        assert_eq!(format!("{:<8}|", Phase::Roll), "roll    |");
    }
}
