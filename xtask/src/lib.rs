//! The deploy tool of this monorepo, as a library: `main.rs` parses and dispatches; the
//! tests drive the same modules directly where a whole process is not needed.
//!
//! Where things live: the crate `xtask-core` (`xtask/core`) decides and holds no I/O
//! beyond reading a tree: `plan` decides, `fingerprint` says what a build is, `inputs`
//! what it reads, `workspace` the crate graph, `config` deploy.toml, `spa` plans uploads,
//! `migration` lints SQL. `xtask-git` (`xtask/git`) reads commits and loads a commit's
//! `model`. Both are re-exported here under their module names. In this crate,
//! `compare.rs` runs `plan`/`explain`, `check/` runs `check`, `bench/` the benchmarks.
//! `deploy/` runs `deploy`: `live.rs` reads what runs, `deploy/steps.rs` plans (pure),
//! `exec/` executes (the migration gate is `exec/migrate.rs`; subprocesses go through
//! `process.rs`, traced), `report/` renders events,
//! `state.rs` holds the lock and the ledger.

pub use xtask_core::{
    build_context, cache, config, context, deploy_plan, diag, dockerfile, fingerprint, fuzzing,
    inputs, lockfile, migration, outcome, owners, phase, plan, platform, render, source, text,
    time, workspace,
};
pub use xtask_git as git;
pub use xtask_git::model;

pub mod aws;
pub mod bench;
pub mod check;
pub mod cli;
pub mod compare;
pub mod deploy;
pub mod exec;
pub mod history;
pub mod http;
pub mod ledger;
pub mod live;
pub mod local;
pub mod lock;
pub mod process;
pub mod report;
pub mod session;
pub mod spa;
pub mod state;
