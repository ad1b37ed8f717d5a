//! Integration tests: one binary (fast to link), one module per capability.

mod cache;
mod check;
mod errors;
mod metadata;
mod plan;
mod shallow;
mod snapshots;
mod support;
