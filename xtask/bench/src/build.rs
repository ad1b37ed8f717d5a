//! `cargo xtask bench build`: the deploy's host build of N changed Rust services (one
//! `cargo build` per package over one target folder) against one shared build of all N
//! (the previous way, which unified their features) and against N separate builds (what a
//! `cargo build` inside each service's own Docker build does: nothing shared). A generated
//! workspace of N binaries over one library crate and a few crates.io dependencies, half of
//! them asking for one more feature; every build starts from an empty target folder, with
//! the exact command the deploy runs.

use super::measure;
use crate::cli::BenchBuildArgs;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use xtask_aws::context::Context;
use xtask_aws::exec::docker::HostBuild;

pub fn run(ctx: &Context, args: &BenchBuildArgs) -> Result<()> {
    let dir = generate(ctx, args.services)?;
    let services: Vec<String> = (1..=args.services).map(|i| format!("svc{i}")).collect();
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    let (mut shared, mut in_turn, mut separate) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=args.runs {
        eprintln!(
            "run {run}/{}: one build of {} services",
            args.runs,
            names.len()
        );
        shared.push(cold(&dir, "target-shared", &[&names])?);
        eprintln!(
            "run {run}/{}: one build per service, one target folder",
            args.runs
        );
        let each: Vec<&[&str]> = names.iter().map(std::slice::from_ref).collect();
        in_turn.push(cold(&dir, "target-in-turn", &each)?);
        let mut total = Duration::ZERO;
        for name in &names {
            eprintln!("run {run}/{}: separate build of {name}", args.runs);
            total += cold(&dir, &format!("target-{name}"), &[&[name]])?;
        }
        separate.push(total);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (shared, in_turn, separate) = (median(shared), median(in_turn), median(separate));
    let ratio = |d: Duration| d.as_secs_f64() / shared.as_secs_f64();
    println!(
        "| services | one shared build (features unified) | one build per service, one target folder (deploy) | {} separate builds | deploy / shared | separate / shared |",
        args.services
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {:.1}s | {:.1}s | {:.1}s | {:.2}× | {:.2}× |",
        args.services,
        shared.as_secs_f64(),
        in_turn.as_secs_f64(),
        separate.as_secs_f64(),
        ratio(in_turn),
        ratio(separate)
    );
    Ok(())
}

/// Cargo builds of `invocations` in turn from an empty target folder; their wall time.
fn cold(dir: &Path, target: &str, invocations: &[&[&str]]) -> Result<Duration> {
    let target = dir.join(target);
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    let build = HostBuild::new(dir, Some(&target))?;
    let mut total = Duration::ZERO;
    for packages in invocations {
        total += measure(&mut build.command(packages))?.wall;
    }
    Ok(total)
}

/// A workspace: `crates/shared` (serde, serde_json, fastrand) and `services/svcN` using it.
fn generate(ctx: &Context, services: usize) -> Result<PathBuf> {
    let dir = ctx.root.join(format!("target/bench/build-{services}"));
    let write = |path: &str, text: String| -> Result<()> {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        Ok(std::fs::write(path, text)?)
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/shared\", \"services/*\"]\nresolver = \"2\"\n\n[profile.release]\ncodegen-units = 4\n".into(),
    )?;
    write(
        "crates/shared/Cargo.toml",
        "[package]\nname = \"shared\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\nextra = [\"serde_json/float_roundtrip\"]\n\n[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\nfastrand = \"2\"\n".into(),
    )?;
    write(
        "crates/shared/src/lib.rs",
        "#[derive(serde::Serialize, serde::Deserialize, Debug)]\npub struct Health { pub status: String, pub roll: u64 }\n\npub fn health() -> String {\n    serde_json::to_string(&Health { status: \"ok\".into(), roll: fastrand::u64(..) }).unwrap()\n}\n".into(),
    )?;
    for i in 1..=services {
        write(
            &format!("services/svc{i}/Cargo.toml"),
            // Odd services ask for `shared/extra`: their builds differ from the others'.
            format!("[package]\nname = \"svc{i}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nshared = {{ path = \"../../crates/shared\", features = [{}] }}\nserde_json = \"1\"\n", if i % 2 == 1 { "\"extra\"" } else { "" }),
        )?;
        write(
            &format!("services/svc{i}/src/main.rs"),
            format!("fn main() {{\n    let value: serde_json::Value = serde_json::from_str(&shared::health()).unwrap();\n    println!(\"svc{i} {{value}}\");\n}}\n"),
        )?;
    }
    if !dir.join("Cargo.lock").exists() {
        // Offline first: the packages are in the local cache after any build of this repo.
        let offline = cargo(&dir, &["generate-lockfile", "--offline"])?;
        if !offline && !cargo(&dir, &["generate-lockfile"])? {
            bail!("cargo generate-lockfile failed in {}", dir.display());
        }
    }
    Ok(dir)
}

fn cargo(dir: &Path, args: &[&str]) -> Result<bool> {
    let status = xtask_aws::exec::docker::cargo_command()
        .current_dir(dir)
        .args(args)
        .status()?;
    Ok(status.success())
}
