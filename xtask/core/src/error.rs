//! The one error a command ends with: its kind decides the exit code (one exhaustive match,
//! [`Error::exit`]) and its text is already written for a person.
//!
//! Deep helpers (file reads, git internals, SDK calls) still return `anyhow::Result` with
//! context; an [`Error`] made there travels inside the `anyhow` chain and comes back out,
//! whole, where the executor and the commands convert with `?` ([`From<anyhow::Error>`]).
//! Anything that is not one of the deploy's own failures is [`Error::Internal`] (exit 1).

use crate::diag::Exit;

/// What failed, as the user's exit code tells it. Every variant but `Internal` holds a
/// message already rendered for a person (a diagnostic, or one line with the fix).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, an invalid `deploy.toml`, an unknown revision or unit, a missing tool.
    #[error("{0}")]
    Usage(String),
    /// `cargo xtask check` or a deploy's pre-flight found problems.
    #[error("{0}")]
    Check(String),
    /// Another deploy holds the environment's lock.
    #[error("{0}")]
    LockHeld(String),
    #[error("{0}")]
    Build(String),
    #[error("{0}")]
    Push(String),
    #[error("{0}")]
    Migration(String),
    /// A rollout failed and nothing put the previous task definition back.
    #[error("{0}")]
    Rollout(String),
    /// A rollout failed and ECS's circuit breaker put the previous task definition back.
    #[error("{0}")]
    RolledBack(String),
    /// A waiting phase ran out of time: something may still be changing in AWS.
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Health(String),
    /// An app's upload, activation or invalidation.
    #[error("{0}")]
    Spa(String),
    /// An image's scan found what the environment's policy refuses (or did not complete).
    #[error("{0}")]
    Vulnerable(String),
    /// Ctrl-C: the lock was released and the ledger says so.
    #[error("{0}")]
    Interrupted(String),
    /// I/O, git internals, an AWS call outside a deploy step, a bug: the chain says where.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// A command's result: [`Error`] unless a module says otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The exit code this failure ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Check(_) => Exit::CheckFailed,
            Error::LockHeld(_) => Exit::LockHeld,
            Error::Build(_) => Exit::Build,
            Error::Push(_) => Exit::Push,
            Error::Migration(_) => Exit::Migration,
            Error::Rollout(_) | Error::RolledBack(_) => Exit::Rollout,
            Error::Timeout(_) => Exit::Timeout,
            Error::Health(_) => Exit::Health,
            Error::Spa(_) => Exit::Spa,
            Error::Vulnerable(_) => Exit::Vulnerable,
            Error::Interrupted(_) => Exit::Interrupted,
            Error::Internal(_) => Exit::Internal,
        }
    }

    /// The text a person reads: the message, or an internal error's whole chain on one line.
    pub fn message(&self) -> String {
        match self {
            Error::Internal(err) => format!("{err:#}"),
            Error::Usage(m)
            | Error::Check(m)
            | Error::LockHeld(m)
            | Error::Build(m)
            | Error::Push(m)
            | Error::Migration(m)
            | Error::Rollout(m)
            | Error::RolledBack(m)
            | Error::Timeout(m)
            | Error::Health(m)
            | Error::Spa(m)
            | Error::Vulnerable(m)
            | Error::Interrupted(m) => m.clone(),
        }
    }

    /// The same kind of failure with other words (a phase's failures joined, a prefix).
    pub fn with_message(&self, message: String) -> Error {
        let kind = match self {
            Error::Usage(_) => Error::Usage,
            Error::Check(_) => Error::Check,
            Error::LockHeld(_) => Error::LockHeld,
            Error::Build(_) => Error::Build,
            Error::Push(_) => Error::Push,
            Error::Migration(_) => Error::Migration,
            Error::Rollout(_) => Error::Rollout,
            Error::RolledBack(_) => Error::RolledBack,
            Error::Timeout(_) => Error::Timeout,
            Error::Health(_) => Error::Health,
            Error::Spa(_) => Error::Spa,
            Error::Vulnerable(_) => Error::Vulnerable,
            Error::Interrupted(_) => Error::Interrupted,
            Error::Internal(_) => return Error::Internal(anyhow::Error::msg(message)),
        };
        kind(message)
    }
}

/// An `anyhow` chain gives back the [`Error`] it carries (context layers above it are the
/// same failure's wording), or is an internal error.
impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Error {
        match err.downcast::<Error>() {
            Ok(error) => error,
            Err(err) => Error::Internal(err),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Internal(err.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_survives_an_anyhow_chain_with_its_kind() {
        let carried: anyhow::Error = Error::Rollout("api rolled back".into()).into();
        let back = Error::from(carried.context("rolling api"));
        assert_eq!(back.exit(), Exit::Rollout);
        assert_eq!(back.message(), "api rolled back");
    }

    #[test]
    fn a_foreign_error_is_internal_and_keeps_its_chain() {
        let err = Error::from(anyhow::anyhow!("disk full").context("writing the ledger"));
        assert_eq!(err.exit(), Exit::Internal);
        assert_eq!(err.message(), "writing the ledger: disk full");
    }

    #[test]
    fn with_message_keeps_the_kind() {
        let err = Error::Timeout("a".into()).with_message("a\nb".into());
        assert!(matches!(&err, Error::Timeout(m) if m == "a\nb"));
        let internal = Error::Internal(anyhow::anyhow!("x")).with_message("y".into());
        assert_eq!(
            (internal.exit(), internal.message()),
            (Exit::Internal, "y".into())
        );
    }
}
