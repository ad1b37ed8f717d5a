#!/usr/bin/env bash
# Runs each fuzz target for a set time (default 60 s each): `scripts/fuzz.sh [seconds]`.
# Needs the nightly toolchain and cargo-fuzz (installed here when missing). Not part of CI:
# run it before a release, or after changing deploy.toml parsing or the migration lint.
# Crashes land in fuzz/artifacts/<target>/; rerun one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# The fuzzed xtask links the crate versions CI tests: start from the workspace's lock
# (cargo adds libFuzzer's crates and drops what the targets do not use).
cp Cargo.lock fuzz/Cargo.lock

# Seeds: the real deploy.toml, and every migration as "name\nsql".
mkdir -p fuzz/corpus/deploy_toml fuzz/corpus/migration
cp deploy.toml fuzz/corpus/deploy_toml/deploy.toml
for file in services/*/migrations/*.sql; do
    { basename "$file"; cat "$file"; } >"fuzz/corpus/migration/$(basename "$file")"
done

for target in deploy_toml migration; do
    echo "==> fuzzing $target for ${seconds}s"
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -timeout=10)
done
echo "no crash in ${seconds}s per target"
