//! Integration tests: one binary (fast to link), one module per capability.

mod builds;
mod cache;
mod check;
mod credentials;
mod deploy;
mod dockerfiles;
mod ecr;
mod ecs_semantics;
mod errors;
mod explain;
mod features;
mod infra;
mod local;
mod metadata;
mod plan;
mod refusals;
mod rollback;
mod s3_lock;
mod shallow;
mod snapshots;
mod spa;
mod stack;
mod support;
mod tidy;
mod tls;
mod workflows;
