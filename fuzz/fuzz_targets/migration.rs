//! Migration files (name on the first line, SQL after): no panic, findings on real lines.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xtask_sql::fuzzing::migration(data));
