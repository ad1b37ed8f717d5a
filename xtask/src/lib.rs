//! `cargo xtask`, as a library: `main.rs` parses and dispatches to one module per command;
//! the tests drive the same modules directly where a whole process is not needed.
//!
//! The crates under `xtask/`, bottom up:
//! - `xtask-core` (`core/`) decides and holds no I/O beyond reading a tree: `config` is
//!   deploy.toml, `fingerprint` what a build is, `plan` what changed, `deploy_plan` what a
//!   deploy does step by step, `spa` an app's upload plan, `migration` the SQL lint.
//! - `xtask-git` (`git/`) reads commits and loads a commit's `model`.
//! - `xtask-aws` (`aws/`) acts: SDK clients, live reads, the executor, the lock and the
//!   ledger, SPA shipping, the event sinks.
//! - `xtask-local` (`local/`) is the embedded local stack; `xtask-bench` (`bench/`) the
//!   benchmarks.
//!
//! All of them are re-exported here under their module names. The commands: `compare`
//! (`plan`, `explain`), `deploy` (`deploy`, `rollback`; pre-flight rules in
//! `deploy/preflight.rs`), `history`, `lock`, `check`, `local`; `bench` is `xtask-bench`'s.

pub use xtask_aws::{aws, exec, http, ledger, live, process, report, spa, state};
pub use xtask_bench as bench;
pub use xtask_core::{
    build_context, cache, config, context, contract, deploy_plan, diag, dockerfile, error,
    fingerprint, fuzzing, handoff, inputs, lockfile, outcome, owners, phase, plan, platform,
    promotion, render, shards, source, text, time, workspace,
};
pub use xtask_git as git;
pub use xtask_git::model;

pub mod check;
pub mod cli;
pub mod compare;
pub mod deploy;
pub mod history;
pub mod local;
pub mod lock;
pub mod session;
