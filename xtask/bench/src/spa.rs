//! `cargo xtask bench spa`: shipping an app against `aws s3 sync` (the awscli from PyPI,
//! installed into a venv under `target/bench/`) on the same emulator and the same generated
//! dist of N files: a first full upload, an identical rebuild (every file rewritten, so its
//! mtime is new) and a rebuild with one changed chunk. Each side writes to a bucket of its
//! own; the tool's side is the deploy's own code (plan from one GET and one list, then the
//! ordered upload, activation and invalidation), timed in process.

use crate::cli::BenchSpaArgs;
use anyhow::{bail, Context as _, Result};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};
use xshell::{cmd, Shell};
use xtask_aws::aws::{self, Clients};
use xtask_aws::config::Config;
use xtask_aws::context::Context;
use xtask_aws::spa::diff::Target;
use xtask_aws::spa::{files, Bucket, Shipped};
use xtask_local::Stack;

/// The awscli release the comparison runs.
const AWSCLI: &str = "awscli==1.46.3";

pub fn run(ctx: &Context, args: &BenchSpaArgs) -> Result<()> {
    let mut stack = Stack::open(ctx)?;
    stack.ensure_running()?;
    let endpoint = stack
        .endpoint()
        .context("the local stack has no endpoint")?;
    let aws_cli = install_awscli(ctx)?;
    let root = ctx.root.join(format!("target/bench/spa-{}", args.files));
    let project = format!("bspa{:x}", fastrand::u32(..));
    let config = Config::parse(
        "deploy.toml",
        &format!(
            "project = \"{project}\"\ndefault_env = \"local\"\n[environments.local]\nlocal_stack = true\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n[apps.web]\npath = \"web\"\nbuild = [\"true\"]\n[apps.sync]\npath = \"sync\"\nbuild = [\"true\"]\n"
        ),
    )?;
    stack.bootstrap(&config, "local")?;
    let names = config.names("local");
    let ours = names.bucket(config.app("web").expect("declared above"));
    let theirs = names.bucket(config.app("sync").expect("declared above"));
    let rt = aws::runtime()?;
    let clients = rt.block_on(Clients::local(&endpoint, "us-east-1"));
    let bucket = Bucket {
        aws: &clients,
        name: ours,
        concurrency: args.concurrency,
    };
    let sync = |what: &str| -> Result<(Duration, usize)> {
        eprintln!("aws s3 sync: {what}");
        let started = Instant::now();
        let out = Command::new(&aws_cli)
            .args(["s3", "sync", "--no-progress", "--endpoint-url", &endpoint])
            .arg(root.join("dist"))
            .arg(format!("s3://{theirs}"))
            .env("AWS_ACCESS_KEY_ID", aws::LOCAL_ACCOUNT)
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()?;
        let elapsed = started.elapsed();
        if !out.status.success() {
            bail!(
                "aws s3 sync failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let uploads = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("upload:"))
            .count();
        Ok((elapsed, uploads))
    };
    let ship = |what: &str, release: &str| -> Result<(Duration, Shipped)> {
        eprintln!("xtask: {what}");
        let started = Instant::now();
        let shipped = rt.block_on(ship(&bucket, &root.join("dist"), release))?;
        Ok((started.elapsed(), shipped))
    };

    generate(&root, args.files, 0)?;
    let first = (ship("first upload", "r1")?, sync("first upload")?);
    // Same bytes, new files (a rebuild): every mtime moves on.
    std::thread::sleep(Duration::from_millis(1100));
    generate(&root, args.files, 0)?;
    let same = (ship("identical rebuild", "r2")?, sync("identical rebuild")?);
    generate(&root, args.files, 1)?;
    let one = (ship("one changed chunk", "r3")?, sync("one changed chunk")?);
    report(
        args,
        &[
            ("first upload", &first),
            ("identical rebuild", &same),
            ("one changed chunk", &one),
        ],
    );
    Ok(())
}

type Side = ((Duration, Shipped), (Duration, usize));

async fn ship(bucket: &Bucket<'_>, dist: &Path, release: &str) -> Result<Shipped> {
    let built = files::read_dist(dist, &Default::default())?;
    let target = Target {
        app: "web",
        release,
        commit: "bench",
        fingerprint: release,
        now: SystemTime::now(),
        keep_releases: 3,
        keep_days: 7,
        max_deletes: 200,
    };
    let (plan, listing) = bucket.plan(&built, &target).await?;
    bucket
        .ship(&plan, &built, &listing, &format!("bench-{release}"))
        .await
}

/// A dist of `count` files: content-hashed chunks and styles, a few static files and the
/// page that loads some of them. `variant` changes one chunk.
fn generate(root: &Path, count: usize, variant: usize) -> Result<()> {
    let dist = root.join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist)?;
    }
    std::fs::create_dir_all(dist.join("assets"))?;
    let mut page = String::from("<!doctype html><html><head>\n");
    let statics = 8.min(count / 10);
    for i in 0..count.saturating_sub(statics + 1) {
        let (ext, body) = if i % 10 == 9 {
            (
                "css",
                format!(".c{i} {{ color: #{:06x}; }}\n", i * 2654435761 % 0xffffff).repeat(40),
            )
        } else {
            let marker = if i == 0 { variant } else { 0 };
            (
                "js",
                format!(
                    "export const chunk{i} = {i} + {marker}; // {}\n",
                    "x".repeat(60)
                )
                .repeat(40),
            )
        };
        let hash = &xtask_aws::workspace::hex(&Sha256::digest(body.as_bytes()))[..10];
        let name = format!("assets/chunk{i}.{hash}.{ext}");
        if i < 20 {
            match ext {
                "css" => page.push_str(&format!("<link rel=\"stylesheet\" href=\"{name}\">\n")),
                _ => page.push_str(&format!(
                    "<script type=\"module\" src=\"{name}\"></script>\n"
                )),
            }
        }
        std::fs::write(dist.join(&name), body)?;
    }
    for i in 0..statics {
        std::fs::write(
            dist.join(format!("static{i}.txt")),
            format!("static file {i}\n"),
        )?;
    }
    page.push_str("</head><body><main id=\"app\"></main></body></html>\n");
    std::fs::write(dist.join("index.html"), page)?;
    Ok(())
}

/// The awscli in a venv of the benchmarks' own (installed once).
fn install_awscli(ctx: &Context) -> Result<PathBuf> {
    let venv = ctx.root.join("target/bench/awscli-venv");
    let cli = venv.join("bin/aws");
    if cli.exists() {
        return Ok(cli);
    }
    eprintln!("installing {AWSCLI} into {} (once)", venv.display());
    let python = xtask_local::which_python().context("python3 is needed for the awscli")?;
    let sh = Shell::new()?;
    let pip = venv.join("bin/pip");
    cmd!(sh, "{python} -m venv {venv}")
        .run()
        .and_then(|()| cmd!(sh, "{pip} install -q {AWSCLI}").run())
        .with_context(|| format!("installing {AWSCLI} failed (PyPI must be reachable)"))?;
    Ok(cli)
}

fn report(args: &BenchSpaArgs, rows: &[(&str, &Side)]) {
    println!(
        "{} files, {} parallel transfers each side\n",
        args.files, args.concurrency
    );
    println!("| case | xtask | uploads | copies | invalidated paths | aws s3 sync | uploads | sync / xtask |");
    println!("|---|---|---|---|---|---|---|---|");
    for (case, ((ours, shipped), (theirs, uploads))) in rows {
        println!(
            "| {case} | {:.2}s | {} | {} | {} | {:.2}s | {uploads} | {:.1}× |",
            ours.as_secs_f64(),
            shipped.uploaded,
            shipped.copied,
            shipped.invalidated_paths,
            theirs.as_secs_f64(),
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
