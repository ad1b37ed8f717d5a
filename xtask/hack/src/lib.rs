//! Feature unification for `cargo xtask` (cargo-hakari's workspace-hack crate): its
//! Cargo.toml lists, with the features a whole-workspace build resolves, every crate
//! whose features would otherwise differ between `cargo build -p xtask` and the
//! workspace's clippy and test builds. No code: `cargo hakari generate` rewrites it.
