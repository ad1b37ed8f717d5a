//! A synthetic monorepo for benchmarks: services and library crates with path dependencies
//! between them, a lockfile of external packages, many files, and a long linear history,
//! streamed into `git fast-import` (seeded, so the same shape gives the same repository).

use super::git;
use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The size of the generated monorepo.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub services: usize,
    pub crates: usize,
    pub files: usize,
    pub commits: usize,
}

/// External packages in the lockfile.
const EXTERNALS: usize = 40;

/// Each service with the paths its build reads, for the per-service `git diff` loop.
pub type ServiceInputs = Vec<(String, Vec<String>)>;

/// What the benchmark needs to know about a generated repository.
pub struct Synth {
    pub services: ServiceInputs,
}

/// One crate of the model: its folder, its library dependencies and external packages.
struct Krate {
    name: String,
    dir: String,
    libs: Vec<usize>,
    externals: Vec<usize>,
    files: usize,
}

struct Model {
    libs: Vec<Krate>,
    services: Vec<Krate>,
}

/// Generates the repository in `dir` (which must not exist) and checks out its last commit.
pub fn generate(dir: &Path, shape: Shape) -> Result<Synth> {
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let model = Model::new(shape, &mut rng);
    // Streamed: the history is written into git's stdin as it is generated, which a
    // shell's whole-buffer stdin would hold in memory.
    let mut import = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .context("starting git fast-import")?;
    {
        let stdin = import.stdin.take().expect("piped");
        let mut out = std::io::BufWriter::new(stdin);
        model.write_history(&mut out, shape, &mut rng)?;
        out.flush()?;
    }
    if !import.wait()?.success() {
        bail!("git fast-import failed");
    }
    // Pack as a real repository would be after `git gc`, then check the head out.
    git(dir, &["repack", "-a", "-d", "-q"])?;
    git(dir, &["reset", "--hard", "--quiet", "main"])?;
    Ok(Synth {
        services: model.service_inputs(),
    })
}

impl Model {
    fn new(shape: Shape, rng: &mut fastrand::Rng) -> Model {
        let fixed = 5 + shape.services; // root files and one Dockerfile per service
        let per_crate =
            (shape.files.saturating_sub(fixed) / (shape.services + shape.crates)).max(2);
        let libs = (0..shape.crates)
            .map(|i| Krate {
                name: format!("lib-{i:03}"),
                dir: format!("crates/lib-{i:03}"),
                // Path dependencies only on earlier crates: a DAG, as a real workspace is.
                libs: pick(rng, i, 3),
                externals: pick(rng, EXTERNALS, 2),
                files: per_crate,
            })
            .collect();
        let services = (0..shape.services)
            .map(|i| Krate {
                name: format!("svc-{i:03}"),
                dir: format!("services/svc-{i:03}"),
                // One more library, always: a set, so it cannot name one twice (a
                // duplicate key in the manifest) when there are few libraries.
                libs: pick(rng, shape.crates, 3)
                    .into_iter()
                    .chain([rng.usize(..shape.crates)])
                    .collect::<BTreeSet<usize>>()
                    .into_iter()
                    .collect(),
                externals: pick(rng, EXTERNALS, 1),
                files: per_crate - 1,
            })
            .collect();
        Model { libs, services }
    }

    fn write_history(
        &self,
        out: &mut impl std::io::Write,
        shape: Shape,
        rng: &mut fastrand::Rng,
    ) -> Result<()> {
        // Patch version of each external package, bumped by some commits.
        let mut patches = vec![0; EXTERNALS];
        let mut files = self.root_files(&patches);
        for krate in self.libs.iter().chain(&self.services) {
            files.extend(self.crate_files(krate));
        }
        commit(out, 0, "initial import", &files)?;
        let crates: Vec<&Krate> = self.libs.iter().chain(&self.services).collect();
        for n in 1..shape.commits {
            let mut changed = Vec::new();
            for _ in 0..rng.usize(1..=3) {
                let krate = crates[rng.usize(..crates.len())];
                let module = rng.usize(1..krate.files);
                changed.push((module_path(krate, module), module_source(krate, module, n)));
            }
            if n % 50 == 0 {
                // A lockfile bump of one external package, as `cargo update -p` makes.
                let package = rng.usize(..EXTERNALS);
                patches[package] += 1;
                changed.push(("Cargo.lock".to_owned(), self.lockfile(&patches)));
            }
            commit(out, n, &format!("change {n}"), &changed)?;
        }
        Ok(())
    }

    fn root_files(&self, patches: &[u32]) -> Vec<(String, String)> {
        let mut deploy = String::from(
            "project = \"synth\"\ndefault_env = \"local\"\n\n[inputs]\nglobal = [\".cargo/config.toml\"]\n\
             ignore = [\"README.md\"]\n\n[environments.local]\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n",
        );
        for service in &self.services {
            deploy.push_str(&format!(
                "\n[services.{}]\npath = \"{}\"\n",
                service.name, service.dir
            ));
        }
        vec![
            (
                "Cargo.toml".into(),
                "[workspace]\nresolver = \"2\"\nmembers = [\"services/*\", \"crates/*\"]\n\n[profile.release]\nlto = \"thin\"\n".into(),
            ),
            ("Cargo.lock".into(), self.lockfile(patches)),
            ("deploy.toml".into(), deploy),
            (".cargo/config.toml".into(), "[build]\nincremental = false\n".into()),
            ("README.md".into(), "# synthetic monorepo\n".into()),
        ]
    }

    fn crate_files(&self, krate: &Krate) -> Vec<(String, String)> {
        let is_service = krate.dir.starts_with("services/");
        let prefix = if is_service { "../../crates" } else { ".." };
        let mut manifest = format!(
            "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
            krate.name
        );
        for &lib in &krate.libs {
            manifest.push_str(&format!(
                "lib-{lib:03} = {{ path = \"{prefix}/lib-{lib:03}\" }}\n"
            ));
        }
        for &ext in &krate.externals {
            manifest.push_str(&format!("ext-{ext:02} = \"1\"\n"));
        }
        let mut files = vec![(format!("{}/Cargo.toml", krate.dir), manifest)];
        let root = if is_service { "main.rs" } else { "lib.rs" };
        files.push((
            format!("{}/src/{root}", krate.dir),
            format!("//! {}\n", krate.name),
        ));
        if is_service {
            files.push((
                format!("{}/Dockerfile", krate.dir),
                format!(
                    "FROM scratch\nCOPY {0} /{0}\nENTRYPOINT [\"/{0}\"]\n",
                    krate.name
                ),
            ));
        }
        for module in 1..krate.files {
            files.push((module_path(krate, module), module_source(krate, module, 0)));
        }
        files
    }

    fn lockfile(&self, patches: &[u32]) -> String {
        let mut packages: Vec<(String, String, Option<String>, Vec<String>)> = Vec::new();
        for (i, patch) in patches.iter().enumerate() {
            let version = format!("1.0.{patch}");
            let checksum =
                xtask_aws::workspace::hex(&Sha256::digest(format!("ext-{i:02}@{version}")));
            // Externals depend on the next one in fives, so closures reach transitively.
            let deps = if i % 5 != 4 && i + 1 < patches.len() {
                vec![format!("ext-{:02}", i + 1)]
            } else {
                Vec::new()
            };
            packages.push((format!("ext-{i:02}"), version, Some(checksum), deps));
        }
        for krate in self.libs.iter().chain(&self.services) {
            let deps = krate
                .libs
                .iter()
                .map(|l| format!("lib-{l:03}"))
                .chain(krate.externals.iter().map(|e| format!("ext-{e:02}")))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            packages.push((krate.name.clone(), "0.1.0".into(), None, deps));
        }
        packages.sort();
        let mut text =
            String::from("# This file is automatically @generated by Cargo.\nversion = 4\n");
        for (name, version, checksum, deps) in packages {
            text.push_str(&format!(
                "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n"
            ));
            if let Some(checksum) = checksum {
                text.push_str(
                    "source = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
                );
                text.push_str(&format!("checksum = \"{checksum}\"\n"));
            }
            if !deps.is_empty() {
                text.push_str("dependencies = [\n");
                for dep in deps {
                    text.push_str(&format!(" \"{dep}\",\n"));
                }
                text.push_str("]\n");
            }
        }
        text
    }

    /// Each service's input paths: its folder, the folders of its crate closure, and the
    /// root files every Rust build reads.
    fn service_inputs(&self) -> ServiceInputs {
        self.services
            .iter()
            .map(|service| {
                let mut closure = BTreeSet::new();
                let mut pending = service.libs.clone();
                while let Some(lib) = pending.pop() {
                    if closure.insert(lib) {
                        pending.extend(&self.libs[lib].libs);
                    }
                }
                let mut paths = vec![service.dir.clone()];
                paths.extend(closure.iter().map(|&l| self.libs[l].dir.clone()));
                paths.extend(
                    [
                        "Cargo.lock",
                        "Cargo.toml",
                        ".cargo/config.toml",
                        "deploy.toml",
                    ]
                    .map(String::from),
                );
                (service.name.clone(), paths)
            })
            .collect()
    }
}

/// Up to `max` distinct numbers below `below`.
fn pick(rng: &mut fastrand::Rng, below: usize, max: usize) -> Vec<usize> {
    if below == 0 {
        return Vec::new();
    }
    let set: BTreeSet<usize> = (0..rng.usize(0..=max))
        .map(|_| rng.usize(..below))
        .collect();
    set.into_iter().collect()
}

fn module_path(krate: &Krate, module: usize) -> String {
    format!("{}/src/m{:02}/mod_{module:03}.rs", krate.dir, module % 8)
}

fn module_source(krate: &Krate, module: usize, revision: usize) -> String {
    format!(
        "// {} module {module}, revision {revision}\npub fn f{module}() -> usize {{\n    {}\n}}\n",
        krate.name,
        module * 31 + revision
    )
}

/// One commit on `main` in fast-import syntax, with the files it writes.
fn commit(
    out: &mut impl std::io::Write,
    n: usize,
    message: &str,
    files: &[(String, String)],
) -> Result<()> {
    let time = 1_700_000_000 + n * 600;
    write!(
        out,
        "commit refs/heads/main\ncommitter Bench <bench@example.com> {time} +0000\n"
    )?;
    write!(out, "data {}\n{message}\n", message.len())?;
    for (path, content) in files {
        write!(
            out,
            "M 100644 inline {path}\ndata {}\n{content}\n",
            content.len()
        )?;
    }
    Ok(())
}
