//! The deploy tool of this monorepo, as a library: `main.rs` parses and dispatches; the
//! tests drive the same modules directly where a whole process is not needed.
//!
//! Where things live: `plan.rs` decides (pure), `fingerprint.rs` says what a build is,
//! `inputs.rs` what it reads, `workspace.rs` the crate graph, `config.rs` deploy.toml,
//! `compare.rs` runs `plan`/`explain`, `check/` runs `check`, `bench/` the benchmarks.
//! `deploy/` runs `deploy`: `live.rs` reads what runs, `deploy/steps.rs` plans (pure),
//! `exec/` executes (the migration gate is `exec/migrate.rs`), `report.rs` renders events,
//! `state.rs` holds the lock and the ledger.

pub mod aws;
pub mod bench;
pub mod build_context;
pub mod cache;
pub mod check;
pub mod cli;
pub mod compare;
pub mod config;
pub mod context;
pub mod deploy;
pub mod diag;
pub mod dockerfile;
pub mod exec;
pub mod fingerprint;
pub mod fuzzing;
pub mod git;
pub mod history;
pub mod inputs;
pub mod ledger;
pub mod live;
pub mod local;
pub mod lock;
pub mod lockfile;
pub mod model;
pub mod owners;
pub mod plan;
pub mod platform;
pub mod render;
pub mod report;
pub mod session;
pub mod spa;
pub mod state;
pub mod text;
pub mod workspace;
