//! Cargo resolves a crate's build dependencies only when it has a build script: this one
//! exists so the host-side features in Cargo.toml apply to build scripts and proc macros.
fn main() {}
