//! The pure core of the deploy tool: everything that decides, and nothing that talks to
//! AWS, git or a terminal. No tokio, no AWS SDK, no libgit2 here; what the core reads, it
//! reads through [`source::Source`] (a commit, given by `xtask-git`, or the working tree).
//!
//! - [`config`] is `deploy.toml` and its diagnostics ([`diag`]), [`delivery`] its services'
//!   strategies, bakes, alarms and smoke tests; [`context`] finds the root;
//!   [`error`] is what a command fails with, and its exit code.
//! - [`workspace`], [`lockfile`] and [`platform`] model the Cargo workspace of one tree;
//!   [`cache`] keeps their parses between runs.
//! - [`inputs`] says what each unit reads (with [`dockerfile`] and [`build_context`]),
//!   [`fingerprint`] what a build is, [`owners`] the reverse index.
//! - [`plan`] decides what changed and why; [`render`] shows it. [`deploy_plan`] decides,
//!   from what [`live`] says runs, what a deploy or rollback does, step by step;
//!   [`preflight`]'s rules say whether it may start.
//! - [`spa`] plans an app's upload from one bucket listing (the migration lint is the
//!   `xtask-sql` crate).
//! - [`shards`] splits a plan's image builds across CI jobs; [`scan`] is an
//!   environment's vulnerability policy and its judgement of one image's scan.
//! - [`phase`] and [`outcome`] are the words of a deploy's events, summary and ledger.
//! - [`text`] and [`time`] are the one place ids are cut and timestamps written.
//! - [`fuzzing`] is what the fuzz targets check, so they link this crate only.

pub mod aws_names;
pub mod build_context;
pub mod cache;
pub mod config;
pub mod context;
pub mod contract;
pub mod delivery;
pub mod deploy_plan;
pub mod diag;
pub mod dockerfile;
pub mod error;
pub mod fingerprint;
pub mod fuzzing;
pub mod handoff;
pub mod inputs;
pub mod live;
pub mod lockfile;
pub mod outcome;
pub mod owners;
pub mod phase;
pub mod plan;
pub mod platform;
pub mod preflight;
pub mod promotion;
pub mod render;
pub mod scan;
pub mod shards;
pub mod source;
pub mod spa;
#[cfg(test)]
mod testing;
pub mod text;
pub mod time;
pub mod workspace;
