//! How a run ended, and each unit in it: the words the summary, the ledger, the webhook and
//! `history` use, as enums, so that no two places spell or compare them differently. Each
//! is written as the snake_case word records have always held. Reading a record, a word
//! this version does not know (from a newer tool) is [`RunOutcome::Unknown`] or
//! [`UnitOutcome::Unknown`] rather than an unreadable ledger.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a deploy, rollback or lock release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Success,
    Failed,
    Interrupted,
    /// Every selected unit already ran what HEAD builds.
    NothingToDeploy,
    /// Written when the lock is taken and kept until the run ends: a run killed without
    /// warning leaves it so.
    Started,
    /// Read, never written: a `started` record whose run holds the lock no more (it died,
    /// or its lock expired or was broken).
    Abandoned,
    #[default]
    #[serde(other)]
    Unknown,
}

/// What happened to one service or app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitOutcome {
    Deployed,
    /// `--images-only`: built and pushed, not rolled.
    Pushed,
    Unchanged,
    Failed,
    /// Rolled, and its health check failed: it runs, but is not done.
    Unhealthy,
    /// ECS's circuit breaker put the previous task definition back.
    RolledBack,
    /// `--on-failure rollback` put the previous task definition back.
    Restored,
    Interrupted,
    NotStarted,
    #[default]
    #[serde(other)]
    Unknown,
}

impl RunOutcome {
    /// Every outcome this version writes (not `Unknown`, which it only reads).
    pub const WRITTEN: [RunOutcome; 6] = [
        RunOutcome::Success,
        RunOutcome::Failed,
        RunOutcome::Interrupted,
        RunOutcome::NothingToDeploy,
        RunOutcome::Started,
        RunOutcome::Abandoned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::NothingToDeploy => "nothing_to_deploy",
            RunOutcome::Started => "started",
            RunOutcome::Abandoned => "abandoned",
            RunOutcome::Unknown => "unknown",
        }
    }
}

impl UnitOutcome {
    /// Every outcome this version writes (not `Unknown`, which it only reads).
    pub const WRITTEN: [UnitOutcome; 9] = [
        UnitOutcome::Deployed,
        UnitOutcome::Pushed,
        UnitOutcome::Unchanged,
        UnitOutcome::Failed,
        UnitOutcome::Unhealthy,
        UnitOutcome::RolledBack,
        UnitOutcome::Restored,
        UnitOutcome::Interrupted,
        UnitOutcome::NotStarted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnitOutcome::Deployed => "deployed",
            UnitOutcome::Pushed => "pushed",
            UnitOutcome::Unchanged => "unchanged",
            UnitOutcome::Failed => "failed",
            UnitOutcome::Unhealthy => "unhealthy",
            UnitOutcome::RolledBack => "rolled_back",
            UnitOutcome::Restored => "restored",
            UnitOutcome::Interrupted => "interrupted",
            UnitOutcome::NotStarted => "not_started",
            UnitOutcome::Unknown => "unknown",
        }
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for UnitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_word_is_written_and_read_as_its_name() {
        for outcome in RunOutcome::WRITTEN {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.name()));
            assert_eq!(serde_json::from_str::<RunOutcome>(&json).unwrap(), outcome);
        }
        for outcome in UnitOutcome::WRITTEN {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.name()));
            assert_eq!(serde_json::from_str::<UnitOutcome>(&json).unwrap(), outcome);
        }
    }

    #[test]
    fn a_word_from_a_newer_tool_reads_as_unknown() {
        let read: RunOutcome = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(read, RunOutcome::Unknown);
        let read: UnitOutcome = serde_json::from_str("\"baking\"").unwrap();
        assert_eq!(read, UnitOutcome::Unknown);
    }
}
