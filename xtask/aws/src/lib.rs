//! The deploy tool's AWS layer: everything that talks to AWS, Docker or a subprocess on
//! the deploy path, and nothing that parses a command line.
//!
//! - [`aws`] makes the SDK clients of one environment and turns their errors into one
//!   line; [`http`] is the one HTTP agent (health checks, webhooks, the local stack).
//! - [`live`] reads what runs (services, images, repositories, distributions); [`state`]
//!   is the state bucket: the lock, applied migrations; [`ledger`] the deploy records.
//! - [`exec`] runs a [`deploy_plan::DeployPlan`]'s steps, one module per kind of step, and
//!   folds their events into a [`exec::tally::Tally`]; [`report`] renders the events to
//!   one sink (terminal, plain lines, GitHub, NDJSON).
//! - [`spa`] carries an app's upload plan out against its bucket and distribution.
//! - [`process`] runs the deploy path's subprocesses, traced.
//!
//! The pure core (`xtask-core`) and the git reader (`xtask-git`) are re-exported under
//! their module names, so this crate and the ones above it name them as one tree.

pub use xtask_core::{
    build_context, cache, config, context, delivery, deploy_plan, diag, dockerfile, error,
    fingerprint, fuzzing, inputs, lockfile, outcome, owners, phase, plan, platform, promotion,
    render, scan, source, text, time, workspace,
};
pub use xtask_git as git;
pub use xtask_git::model;

pub mod aws;
pub mod exec;
pub mod http;
pub mod ledger;
pub mod live;
pub mod logs;
pub mod process;
pub mod report;
pub mod spa;
pub mod state;
