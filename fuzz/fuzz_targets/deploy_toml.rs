//! deploy.toml parsing: any bytes, no panic; what parses expands every name.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xtask_core::fuzzing::deploy_toml(data));
