//! An image is a function of its fingerprint: the binary a deploy builds for a service is
//! the binary Cargo builds for that service alone, and the same commit built in another
//! checkout, with another Cargo home and target folder, gives an image with the same files.
//! The oracles are Cargo (`cargo build -p <service>` alone, `cargo tree`), the real Docker
//! engine (`docker export` of the pushed images), sha256 of every file, and for the
//! dependency list an `auditable` binary carries, GNU objcopy and Python's zlib.

use crate::deploy::{Images, Project};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use xtask::deploy_plan::HostBinary;
use xtask::exec::docker::{HostBuild, BUILD_LOCK};

fn sha256(path: &Path) -> String {
    xtask::workspace::hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An image's filesystem, unpacked (`docker export` of a container created from it, never
/// started: the command is a placeholder for images without one).
pub fn export(image: &str) -> tempfile::TempDir {
    let container = docker(&["create", image, "/none"]);
    let dir = tempfile::tempdir().unwrap();
    let exported = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker export {container} | tar -x -C {}",
            dir.path().display()
        ))
        .status()
        .unwrap();
    docker(&["rm", &container]);
    assert!(exported.success(), "docker export of {image}");
    dir
}

/// Every file of an image's filesystem: path → (mode, sha256). Timestamps are not content.
fn image_files(image: &str) -> BTreeMap<String, (u32, String)> {
    let dir = export(image);
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.path().to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() {
                let name = path.strip_prefix(dir.path()).unwrap().display().to_string();
                files.insert(name, (meta.permissions().mode(), sha256(&path)));
            }
        }
    }
    files
}

/// The local image a deploy pushed for `service`, by the digest in its summary.
/// The api binary of the workspace at `root`, built over `target`, staged in `stage`.
fn build_api(root: &Path, target: &Path, stage: &Path) -> std::path::PathBuf {
    let rt = xtask::aws::runtime().unwrap();
    let build = HostBuild::new(root, Some(target)).unwrap();
    let binary = HostBinary {
        service: "api".into(),
        package: "api".into(),
        bin: "api".into(),
        auditable: true,
    };
    let mut built = rt.block_on(build.compile(&[binary], stage, None)).unwrap();
    built.remove("api").unwrap()
}

/// The dependency list `cargo auditable` embedded in `binary`: its `.dep-v0` section,
/// dumped by GNU objcopy and inflated by Python's zlib (the format Trivy, Syft and
/// Amazon Inspector read), as (name, version) pairs.
fn embedded_dependencies(binary: &Path) -> BTreeSet<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let section = dir.path().join("dep-v0");
    let dumped = Command::new("objcopy")
        .arg(format!("--dump-section=.dep-v0={}", section.display()))
        .arg(binary)
        .arg(dir.path().join("copy"))
        .output()
        .expect("objcopy (GNU binutils: apt-get install binutils)");
    // objcopy exits 0 when the section is missing: its dump is the verdict.
    assert!(
        dumped.status.success() && section.is_file(),
        "no dependency list in {}: {}",
        binary.display(),
        String::from_utf8_lossy(&dumped.stderr)
    );
    let inflated = Command::new("python3")
        .args(["-c", "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1], 'rb').read()))"])
        .arg(&section)
        .output()
        .unwrap();
    assert!(inflated.status.success());
    let list: serde_json::Value = serde_json::from_slice(&inflated.stdout).unwrap();
    (list["packages"].as_array().unwrap().iter())
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every package Cargo compiles into `package`'s binary for the image's target, as
/// `cargo tree` lists it (normal dependencies, each once).
fn cargo_tree(root: &Path, package: &str) -> BTreeSet<(String, String)> {
    let out = Command::new("cargo")
        .current_dir(root)
        .args([
            "tree",
            "--locked",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--package",
            package,
        ])
        .args(["--target", xtask::inputs::RUST_TARGET])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let packages: BTreeSet<_> = (tree.lines())
        .filter_map(|line| {
            let (name, rest) = line.split_once(" v")?;
            let version = rest.split(' ').next()?;
            Some((name.to_owned(), version.to_owned()))
        })
        .collect();
    assert!(packages.len() > 10, "{tree}");
    packages
}

/// Every package Cargo.lock pins, as (name, version).
fn locked_packages(root: &Path) -> BTreeSet<(String, String)> {
    let lock: toml::Table = std::fs::read_to_string(root.join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    (lock["package"].as_array().unwrap().iter())
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pushed(deployed: &crate::deploy::Deployed, service: &str) -> String {
    let image = deployed.service(service)["image"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(image.contains("@sha256:"), "{image}");
    image
}

#[test]
fn deploy_images_hold_the_binary_cargo_builds_alone_and_the_same_files_from_another_checkout() {
    let project = Project::new(Images::Own);
    // worker's image also holds a file of the repository beside its binary (context: the
    // root), committed executable: the deploy's context must carry it, mode included.
    project.repo.replace(
        "deploy.toml",
        "[services.worker]\n",
        "[services.worker]\ncontext = \".\"\n",
    );
    project
        .repo
        .write("config/worker.sh", "#!/bin/sh\necho worker\n");
    std::fs::set_permissions(
        project.repo.path().join("config/worker.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    project.repo.append(
        "services/worker/Dockerfile",
        "COPY config/worker.sh /bin/worker.sh\n",
    );
    project.repo.commit("worker ships a script");
    project.bootstrap();
    let first = project.deploy(&["--images-only", "--changed"]);
    first.expect(0);
    let (api_image, worker_image) = (pushed(&first, "api"), pushed(&first, "worker"));
    let api_files = image_files(&api_image);
    let worker_files = image_files(&worker_image);
    assert_eq!(
        worker_files
            .get("bin/worker.sh")
            .map(|(mode, _)| mode & 0o777),
        Some(0o755),
        "{worker_files:?}"
    );

    // 1. The deploy built api beside worker, which turns on `common/metrics`; Cargo's build
    //    of api alone (same flags, same target folder) is the reference.
    let target = crate::deploy::target_dir();
    let stage = tempfile::tempdir().unwrap();
    let alone = build_api(project.repo.path(), &target, stage.path());
    assert_eq!(
        api_files["api"].1,
        sha256(&alone),
        "the api binary in the deployed image is not the one Cargo builds for api alone"
    );
    assert!(
        alone.starts_with(stage.path()),
        "copied out of the target folder, which other checkouts' builds overwrite"
    );

    // 1a. api is `auditable`: its binary names every crate Cargo compiled into it (`cargo
    //     tree`), at the version Cargo.lock pins, as scanners read it.
    let embedded = embedded_dependencies(&alone);
    let locked = locked_packages(project.repo.path());
    for (name, version) in cargo_tree(project.repo.path(), "api") {
        assert!(
            embedded.contains(&(name.clone(), version.clone())),
            "{name} {version} is compiled into api but not in its embedded list {embedded:?}"
        );
    }
    for package in &embedded {
        assert!(locked.contains(package), "{package:?} is not in Cargo.lock");
    }

    // 1b. While another deploy's build holds the target folder (until it has copied its
    //     binaries out), this one waits: the up-to-date build above takes about a second.
    let held = std::fs::File::create(target.join(BUILD_LOCK)).unwrap();
    held.lock().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let (root, folder) = (project.repo.path().to_owned(), target.clone());
    let waiter = std::thread::spawn(move || {
        let stage = tempfile::tempdir().unwrap();
        let built = sha256(&build_api(&root, &folder, stage.path()));
        done.send(()).unwrap();
        built
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(4)).is_err(),
        "built while another build held {}",
        target.join(BUILD_LOCK).display()
    );
    drop(held);
    assert_eq!(waiter.join().unwrap(), api_files["api"].1);

    // 2. The same commit in another checkout (another path, Cargo home and target folder):
    //    its worker image, built and pushed by a deploy there, has the same files.
    let other = tempfile::Builder::new()
        .prefix("xtask-it-another-checkout-")
        .tempdir()
        .unwrap();
    let checkout = other.path().join("somewhere/else/acme");
    let cloned = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(project.repo.path())
        .arg(&checkout)
        .status()
        .unwrap();
    assert!(cloned.success());
    let home = other.path().join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    let real_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cargo"));
    // The same registry and tools under another path, as on another machine (no download
    // needed): cargo-auditable from another folder makes the same binary.
    for shared in ["registry", "xtask"] {
        std::os::unix::fs::symlink(real_home.join(shared), home.join(shared)).unwrap();
    }
    // The fingerprint's image exists: remove it, so this deploy builds and pushes its own.
    project.rt.block_on(async {
        let repository = format!("{}/worker", project.name);
        let listed = project
            .aws
            .ecr
            .list_images()
            .repository_name(&repository)
            .send()
            .await
            .unwrap();
        project
            .aws
            .ecr
            .batch_delete_image()
            .repository_name(&repository)
            .set_image_ids(Some(listed.image_ids().to_vec()))
            .send()
            .await
            .unwrap();
    });
    let output = crate::support::xtask_command(
        &checkout,
        &[
            "deploy",
            "--images-only",
            "--services",
            "worker",
            "--format",
            "json",
        ],
    )
    .env("XTASK_LOCAL_STACK", &project.stack.dir)
    .env("CARGO_HOME", &home)
    .env_remove("CARGO_TARGET_DIR")
    .env_remove("GITHUB_ACTIONS")
    .output()
    .unwrap();
    let second = crate::deploy::Deployed::from(output);
    second.expect(0);
    let rebuilt = pushed(&second, "worker");
    assert_eq!(
        second.service("worker")["outcome"],
        first.service("worker")["outcome"],
        "{}",
        second.stdout
    );
    assert!(
        checkout
            .join("target/x86_64-unknown-linux-gnu/release/worker")
            .is_file(),
        "the second checkout built its own binary"
    );
    assert_eq!(
        image_files(&rebuilt),
        worker_files,
        "the same commit built elsewhere gave other image contents"
    );
}

#[test]
fn an_auditable_build_whose_tool_cannot_be_installed_fails_the_build_and_pushes_nothing() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    // A failed install, in one line that names the tool and the cause.
    let failed = |home: &Path, offline: bool| -> String {
        let mut deploy =
            project.command(&["--images-only", "--services", "api", "--format", "json"]);
        deploy.env("CARGO_HOME", home);
        if offline {
            deploy.env("CARGO_NET_OFFLINE", "true");
        }
        let failed = crate::deploy::Deployed::from(deploy.output().unwrap());
        failed.expect(10);
        let api = failed.service("api");
        assert_eq!(api["outcome"], "not_started", "{}", failed.stdout);
        assert!(
            api["image"].is_null(),
            "nothing built or pushed: {}",
            failed.stdout
        );
        let error = failed.summary()["error"].as_str().unwrap().to_owned();
        assert!(
            error.starts_with("cargo-auditable 0.7.7, which auditable services build with: ")
                && !error.contains('\n'),
            "{error}"
        );
        error
    };
    // 1. A Cargo home where the tool's folder cannot be made: `xtask` is a file there.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("xtask"), "not a folder\n").unwrap();
    let error = failed(home.path(), false);
    let tools = home.path().join("xtask");
    assert!(
        error.contains(&format!("creating {}", tools.display())),
        "{error}"
    );
    // 2. `cargo install` that cannot reach crates.io (an empty Cargo home, offline).
    let home = tempfile::tempdir().unwrap();
    let error = failed(home.path(), true);
    assert!(
        error.contains("`cargo install` failed (it needs crates.io): "),
        "{error}"
    );
}
