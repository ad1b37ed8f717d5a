//! The feature property (`cargo xtask bench features`; a bounded sample runs in the tests):
//! random edits to the manifests of a generated workspace, each one checked against Cargo's
//! own resolution. Whenever what `cargo tree -p <service> -e normal,build,features --target
//! <build target>` reports for a service changes (a package, version, source or enabled
//! feature), the service's fingerprint must change too. An edit after which Cargo's view
//! changed and the fingerprint did not is a missed deploy, the worst bug this tool can have.
//!
//! The workspace runs offline: its external packages come from a directory source of
//! generated crates (features, optional dependencies, two major versions of one package),
//! so lockfile, checksums and feature resolution are Cargo's own, with no registry.

use crate::git;
use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use toml::{Table, Value};
use xtask_aws::git::Repo;
use xtask_aws::inputs::{target_rustflags_config, RUST_TARGET, RUST_TARGET_FLAGS};
use xtask_aws::model::Loader;

/// What Cargo and the tool say about every service at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Per service: the lines `cargo tree` prints for it (packages with their features).
    pub cargo: BTreeMap<String, BTreeSet<String>>,
    pub fingerprints: BTreeMap<String, String>,
}

/// One service's verdict on one edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Neither changed.
    Unchanged,
    /// Both changed: a deploy Cargo agrees with.
    Deploy,
    /// The fingerprint changed and Cargo's view did not (an input Cargo's tree does not
    /// show, such as a manifest line; harmless).
    Extra,
    /// Cargo's view changed and the fingerprint did not: a missed deploy.
    Missed,
}

/// A missed deploy, with what to look at.
#[derive(Debug, Clone)]
pub struct Miss {
    pub service: String,
    pub edit: String,
    /// Lines of Cargo's view that appeared (`+`) or went (`-`).
    pub cargo_diff: Vec<String>,
}

/// The outcome of a run of the property.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Edits Cargo accepted (each one a commit).
    pub accepted: usize,
    /// Edits Cargo refused (an invalid manifest), undone.
    pub refused: usize,
    /// Per verdict, how many (service, edit) pairs had it.
    pub verdicts: BTreeMap<&'static str, usize>,
    pub misses: Vec<Miss>,
}

impl Report {
    fn record(&mut self, verdict: Verdict) {
        let name = match verdict {
            Verdict::Unchanged => "unchanged",
            Verdict::Deploy => "deploy",
            Verdict::Extra => "extra",
            Verdict::Missed => "missed",
        };
        *self.verdicts.entry(name).or_default() += 1;
    }

    pub fn count(&self, verdict: &str) -> usize {
        self.verdicts.get(verdict).copied().unwrap_or(0)
    }
}

/// Compares two observations service by service.
pub fn compare(before: &Observation, after: &Observation) -> BTreeMap<String, Verdict> {
    after
        .cargo
        .iter()
        .map(|(service, cargo)| {
            let cargo_changed = before.cargo.get(service) != Some(cargo);
            let fingerprint_changed =
                before.fingerprints.get(service) != after.fingerprints.get(service);
            let verdict = match (cargo_changed, fingerprint_changed) {
                (false, false) => Verdict::Unchanged,
                (true, true) => Verdict::Deploy,
                (false, true) => Verdict::Extra,
                (true, false) => Verdict::Missed,
            };
            (service.clone(), verdict)
        })
        .collect()
}

/// What Cargo's view of `service` gained and lost between two observations.
pub fn cargo_diff(before: &Observation, after: &Observation, service: &str) -> Vec<String> {
    let empty = BTreeSet::new();
    let old = before.cargo.get(service).unwrap_or(&empty);
    let new = after.cargo.get(service).unwrap_or(&empty);
    let gone = old.difference(new).map(|l| format!("- {l}"));
    gone.chain(new.difference(old).map(|l| format!("+ {l}")))
        .collect()
}

/// Cargo's resolution of one package as its own build sees it: `cargo tree` for the build
/// target with the host build's flags, normal and build edges with features, deduplicated.
/// `Err` carries Cargo's message when it refuses the manifests.
pub fn cargo_tree(root: &Path, package: &str) -> Result<Result<BTreeSet<String>, String>> {
    let flags: Vec<String> = RUST_TARGET_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    let output = xtask_aws::exec::docker::cargo_command()
        .current_dir(root)
        .args(["tree", "--offline", "--quiet", "-p", package])
        .args(["-e", "normal,build,features", "--target", RUST_TARGET])
        .args(["--prefix", "none", "--format", "{p} [{f}]"])
        .arg("--config")
        .arg(target_rustflags_config(&flags))
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        return Ok(Err(String::from_utf8_lossy(&output.stderr)
            .trim()
            .to_owned()));
    }
    Ok(Ok(String::from_utf8(output.stdout)?
        .lines()
        // `(*)` marks a subtree already printed: the same package, so the same line.
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .filter(|line| !line.is_empty())
        .collect()))
}

/// The fingerprint of every service at the repository's HEAD, as `plan` computes it.
pub fn fingerprints(root: &Path) -> Result<BTreeMap<String, String>> {
    let repo = Repo::open(root)?;
    let head = repo.resolve("HEAD", "HEAD")?;
    let mut loader = Loader::new(&repo);
    let model = loader.load(&head, true)?;
    loader.finish();
    Ok(model
        .prints
        .units
        .iter()
        .map(|unit| (unit.unit.name.clone(), unit.fingerprint.clone()))
        .collect())
}

/// Cargo's view of each service in the working tree, then both views once it is committed
/// (with the lockfile Cargo wrote) under `message`. `Ok(Err)` carries Cargo's refusal of
/// the manifests; nothing is committed then.
pub fn observe(
    root: &Path,
    services: &[&str],
    message: &str,
) -> Result<Result<Observation, String>> {
    let mut cargo = BTreeMap::new();
    for service in services {
        match cargo_tree(root, service)? {
            Ok(lines) => cargo.insert((*service).to_owned(), lines),
            Err(refusal) => return Ok(Err(refusal)),
        };
    }
    commit(root, message)?;
    let mut fingerprints = fingerprints(root)?;
    fingerprints.retain(|name, _| cargo.contains_key(name));
    Ok(Ok(Observation {
        cargo,
        fingerprints,
    }))
}

/// Runs `cases` random edits on a workspace generated in `dir` (which must not exist).
pub fn run_property(dir: &Path, cases: usize, seed: u64) -> Result<Report> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut model = Workspace::initial();
    model.write_fixed(dir)?;
    model.write(dir)?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    let services = model.services();
    let mut before = observe(dir, &services, "initial workspace")?.map_err(|refusal| {
        anyhow::anyhow!(
            "cargo refuses the generated workspace in {}: {refusal}",
            dir.display()
        )
    })?;
    let mut report = Report::default();
    for _ in 0..cases {
        let mut edited = model.clone();
        let edit = edited.edit(&mut rng);
        edited.write(dir)?;
        match observe(dir, &services, &edit)? {
            Err(_refusal) => {
                report.refused += 1;
                model.write(dir)?;
                // Cargo may have rewritten the lockfile before refusing: put it back too.
                git(dir, &["checkout", "--quiet", "--", "."])?;
            }
            Ok(after) => {
                report.accepted += 1;
                for (service, verdict) in compare(&before, &after) {
                    report.record(verdict);
                    if verdict == Verdict::Missed {
                        report.misses.push(Miss {
                            cargo_diff: cargo_diff(&before, &after, &service),
                            service,
                            edit: edit.clone(),
                        });
                    }
                }
                model = edited;
                before = after;
            }
        }
    }
    Ok(report)
}

/// Commits everything in `dir` (an edit that changes no file makes an empty commit).
pub fn commit(dir: &Path, message: &str) -> Result<()> {
    git(dir, &["add", "--all"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=Property",
            "-c",
            "user.email=property@example.com",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            message,
        ],
    )
}

// ---- the generated workspace ----

/// One generated external package (in the directory source).
struct External {
    name: &'static str,
    version: &'static str,
    features: &'static [(&'static str, &'static [&'static str])],
    /// Dependencies: name and whether optional.
    deps: &'static [(&'static str, bool)],
}

const EXTERNALS: &[External] = &[
    External {
        name: "ext-a",
        version: "1.0.0",
        features: &[
            ("default", &["std"]),
            ("std", &[]),
            ("extra", &["dep:ext-b"]),
            ("fancy", &["ext-c/zed"]),
        ],
        deps: &[("ext-b", true), ("ext-c", false)],
    },
    External {
        name: "ext-a",
        version: "2.0.0",
        features: &[("default", &[]), ("big", &[])],
        deps: &[],
    },
    External {
        name: "ext-b",
        version: "1.0.0",
        features: &[("default", &["b1"]), ("b1", &[]), ("b2", &["b1"])],
        deps: &[],
    },
    External {
        name: "ext-c",
        version: "1.0.0",
        features: &[("default", &[]), ("zed", &[]), ("yon", &[])],
        deps: &[],
    },
    External {
        name: "ext-d",
        version: "1.0.0",
        features: &[("default", &[]), ("win", &[])],
        deps: &[],
    },
];

/// Platforms a dependency can be moved under: decided ones both ways, and ones whose
/// value depends on what the tool cannot know.
const TARGETS: &[&str] = &[
    "cfg(windows)",
    "cfg(unix)",
    "cfg(target_os = \"linux\")",
    "cfg(not(windows))",
    "cfg(target_os = \"macos\")",
    "x86_64-pc-windows-msvc",
    "x86_64-unknown-linux-gnu",
    "cfg(all(unix, target_arch = \"aarch64\"))",
    "cfg(any(windows, target_feature = \"crt-static\"))",
    "cfg(debug_assertions)",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Normal,
    Build,
    Dev,
}

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Normal => "dependencies",
            Section::Build => "build-dependencies",
            Section::Dev => "dev-dependencies",
        }
    }
}

/// A dependency's own fields: in `[workspace.dependencies]`, or spelled out in a member.
#[derive(Debug, Clone)]
struct Spec {
    /// The real package when the key is a rename.
    package: Option<String>,
    /// `version` for externals, `path` (from the root) for workspace crates.
    version: Option<String>,
    path: Option<String>,
    features: BTreeSet<String>,
    default_features: Option<bool>,
}

#[derive(Debug, Clone)]
struct MemberDep {
    key: String,
    section: Section,
    target: Option<&'static str>,
    /// `workspace = true` (with `features`, `default-features` and `optional` beside it),
    /// else the spec is spelled out.
    inherited: bool,
    spec: Spec,
    optional: bool,
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    dir: String,
    service: bool,
    features: BTreeMap<String, BTreeSet<String>>,
    deps: Vec<MemberDep>,
}

#[derive(Debug, Clone)]
struct Workspace {
    entries: BTreeMap<String, Spec>,
    members: Vec<Member>,
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn spec(version: &str, features: &[&str]) -> Spec {
    Spec {
        package: None,
        version: Some(version.to_owned()),
        path: None,
        features: set(features),
        default_features: None,
    }
}

/// A workspace crate's spec, its path from the root (empty: none, for `workspace = true`).
fn path_spec(path: &str) -> Spec {
    Spec {
        package: None,
        version: None,
        path: (!path.is_empty()).then(|| path.to_owned()),
        features: BTreeSet::new(),
        default_features: None,
    }
}

fn dep(key: &str, section: Section, inherited: bool, spec: Spec) -> MemberDep {
    MemberDep {
        key: key.to_owned(),
        section,
        target: None,
        inherited,
        spec,
        optional: false,
    }
}

impl Workspace {
    fn initial() -> Workspace {
        let mut entries = BTreeMap::new();
        entries.insert("ext-a".to_owned(), spec("1", &["fancy"]));
        entries.insert("ext-b".to_owned(), spec("1", &[]));
        let mut no_defaults = spec("1", &[]);
        no_defaults.default_features = Some(false);
        entries.insert("ext-c".to_owned(), no_defaults);
        let mut alpha = spec("2", &[]);
        alpha.package = Some("ext-a".to_owned());
        entries.insert("alpha".to_owned(), alpha);
        entries.insert("l1".to_owned(), path_spec("lib/l1"));
        let inherit = |features: &[&str]| Spec {
            features: set(features),
            ..path_spec("")
        };
        let l2_path = path_spec("lib/l2");
        let mut optional_b = dep("ext-b", Section::Normal, false, spec("1", &[]));
        optional_b.optional = true;
        let mut windows_d = dep("ext-d", Section::Normal, false, spec("1", &["win"]));
        windows_d.target = Some("cfg(windows)");
        let features = |list: &[(&str, &[&str])]| {
            list.iter()
                .map(|(name, items)| ((*name).to_owned(), set(items)))
                .collect()
        };
        let members = vec![
            Member {
                name: "l1".into(),
                dir: "lib/l1".into(),
                service: false,
                features: features(&[
                    ("default", &["fast"]),
                    ("fast", &["dep:ext-b"]),
                    ("shiny", &["ext-a/fancy"]),
                ]),
                deps: vec![
                    dep("ext-a", Section::Normal, true, inherit(&["extra"])),
                    optional_b,
                ],
            },
            Member {
                name: "l2".into(),
                dir: "lib/l2".into(),
                service: false,
                features: features(&[("default", &[]), ("more-c", &["ext-c/yon"])]),
                deps: vec![dep("ext-c", Section::Normal, true, inherit(&[])), windows_d],
            },
            Member {
                name: "s1".into(),
                dir: "svc/s1".into(),
                service: true,
                features: BTreeMap::new(),
                deps: vec![
                    dep("l1", Section::Normal, true, inherit(&["shiny"])),
                    dep("l2", Section::Normal, false, l2_path.clone()),
                    dep("ext-b", Section::Normal, true, inherit(&["b2"])),
                    dep("ext-c", Section::Build, false, spec("1", &["zed"])),
                ],
            },
            Member {
                name: "s2".into(),
                dir: "svc/s2".into(),
                service: true,
                features: BTreeMap::new(),
                deps: vec![
                    dep(
                        "l2",
                        Section::Normal,
                        false,
                        Spec {
                            features: set(&["more-c"]),
                            ..l2_path
                        },
                    ),
                    dep("alpha", Section::Normal, true, inherit(&[])),
                    dep("ext-a", Section::Normal, true, inherit(&["std"])),
                ],
            },
        ];
        Workspace { entries, members }
    }

    fn services(&self) -> Vec<&'static str> {
        vec!["s1", "s2"]
    }

    /// Files that never change: the directory source, the cargo config, deploy.toml,
    /// sources and Dockerfiles.
    fn write_fixed(&self, dir: &Path) -> Result<()> {
        for external in EXTERNALS {
            let folder = dir.join(format!("vendor/{}-{}", external.name, external.version));
            write(&folder.join("Cargo.toml"), &external.manifest())?;
            write(&folder.join("src/lib.rs"), "")?;
            // A directory source checks the files it lists (none) and records `package`
            // as the lockfile checksum.
            let checksum = xtask_aws::workspace::hex(&Sha256::digest(format!(
                "{}-{}",
                external.name, external.version
            )));
            write(
                &folder.join(".cargo-checksum.json"),
                &format!("{{\"files\":{{}},\"package\":\"{checksum}\"}}"),
            )?;
        }
        write(
            &dir.join(".cargo/config.toml"),
            "[source.crates-io]\nreplace-with = \"vendored\"\n\n[source.vendored]\ndirectory = \"vendor\"\n",
        )?;
        let mut deploy = String::from(
            "project = \"prop\"\ndefault_env = \"test\"\n\n[inputs]\nglobal = [\".cargo/config.toml\"]\n\n\
             [environments.test]\naccount_id = \"000000000000\"\nregion = \"us-east-1\"\n",
        );
        for member in &self.members {
            let source = if member.service {
                write(
                    &dir.join(&member.dir).join("Dockerfile"),
                    &format!("FROM scratch\nCOPY {0} /{0}\n", member.name),
                )?;
                let _ = write!(
                    deploy,
                    "\n[services.{}]\npath = \"{}\"\n",
                    member.name, member.dir
                );
                "src/main.rs"
            } else {
                "src/lib.rs"
            };
            write(&dir.join(&member.dir).join(source), "fn main() {}\n")?;
        }
        write(&dir.join("deploy.toml"), &deploy)
    }

    /// Writes the manifests.
    fn write(&self, dir: &Path) -> Result<()> {
        write(&dir.join("Cargo.toml"), &self.root_manifest())?;
        for member in &self.members {
            write(
                &dir.join(&member.dir).join("Cargo.toml"),
                &member.manifest(),
            )?;
        }
        Ok(())
    }

    fn root_manifest(&self) -> String {
        let mut workspace = Table::new();
        workspace.insert(
            "members".into(),
            Value::Array(vec!["lib/*".into(), "svc/*".into()]),
        );
        workspace.insert("resolver".into(), "2".into());
        let entries = self
            .entries
            .iter()
            .map(|(key, spec)| (key.clone(), Value::Table(spec.table())))
            .collect();
        workspace.insert("dependencies".into(), Value::Table(entries));
        let root = Table::from_iter([("workspace".to_owned(), Value::Table(workspace))]);
        toml::to_string(&root).expect("a table serializes")
    }

    /// Applies one random edit; returns what it did.
    fn edit(&mut self, rng: &mut fastrand::Rng) -> String {
        match rng.usize(0..12) {
            0 | 1 => self.entry_feature(rng),
            2 => self.entry_defaults(rng),
            3 => self.entry_version(rng),
            4 | 5 => self.member_dep(rng, dep_feature),
            6 => self.member_dep(rng, |dep, rng| {
                dep.spec.default_features = cycle(dep.spec.default_features, rng);
                format!("default-features = {:?}", dep.spec.default_features)
            }),
            7 => self.member_optional(rng),
            8 => self.member_dep(rng, |dep, rng| {
                dep.target = if dep.target.is_some() && rng.bool() {
                    None
                } else {
                    Some(TARGETS[rng.usize(..TARGETS.len())])
                };
                format!("moved under {:?}", dep.target)
            }),
            9 => self.member_dep(rng, |dep, rng| {
                dep.section = [Section::Normal, Section::Build, Section::Dev][rng.usize(..3)];
                format!("moved to [{}]", dep.section.key())
            }),
            10 => self.member_inherit(rng),
            _ => self.member_feature_table(rng),
        }
    }

    fn entry_feature(&mut self, rng: &mut fastrand::Rng) -> String {
        let keys: Vec<String> = self.entries.keys().cloned().collect();
        let key = &keys[rng.usize(..keys.len())];
        let entry = self.entries.get_mut(key).expect("a listed key");
        let feature = pick_feature(entry.package.as_deref().unwrap_or(key), rng);
        toggle(&mut entry.features, &feature);
        format!("[workspace.dependencies] {key}: toggle feature {feature}")
    }

    fn entry_defaults(&mut self, rng: &mut fastrand::Rng) -> String {
        let keys: Vec<String> = self.entries.keys().cloned().collect();
        let key = &keys[rng.usize(..keys.len())];
        let entry = self.entries.get_mut(key).expect("a listed key");
        entry.default_features = cycle(entry.default_features, rng);
        format!(
            "[workspace.dependencies] {key}: default-features = {:?}",
            entry.default_features
        )
    }

    fn entry_version(&mut self, rng: &mut fastrand::Rng) -> String {
        let key = if rng.bool() { "alpha" } else { "ext-a" };
        let entry = self.entries.get_mut(key).expect("always present");
        let next = if entry.version.as_deref() == Some("1") {
            "2"
        } else {
            "1"
        };
        entry.version = Some(next.to_owned());
        entry.features.clear();
        format!("[workspace.dependencies] {key}: version {next}")
    }

    /// Edits one dependency of one member with `change`.
    fn member_dep(
        &mut self,
        rng: &mut fastrand::Rng,
        change: impl FnOnce(&mut MemberDep, &mut fastrand::Rng) -> String,
    ) -> String {
        let index = rng.usize(..self.members.len());
        let member = &mut self.members[index];
        let which = rng.usize(..member.deps.len());
        let dep = &mut member.deps[which];
        let what = change(dep, rng);
        format!("{}: {}: {what}", member.name, dep.key)
    }

    fn member_optional(&mut self, rng: &mut fastrand::Rng) -> String {
        let index = rng.usize(..self.members.len());
        let member = &mut self.members[index];
        let which = rng.usize(..member.deps.len());
        let key = member.deps[which].key.clone();
        let optional = !member.deps[which].optional;
        member.deps[which].optional = optional;
        let feature = format!("use-{key}");
        if optional {
            member
                .features
                .insert(feature.clone(), set(&[&format!("dep:{key}")]));
            if rng.bool() {
                member
                    .features
                    .entry("default".into())
                    .or_default()
                    .insert(feature);
            }
        } else {
            member.features.remove(&feature);
            for items in member.features.values_mut() {
                items.remove(&feature);
            }
        }
        format!("{}: {key}: optional = {optional}", member.name)
    }

    fn member_inherit(&mut self, rng: &mut fastrand::Rng) -> String {
        let index = rng.usize(..self.members.len());
        let entries = &self.entries;
        let member = &mut self.members[index];
        let candidates: Vec<usize> = (0..member.deps.len())
            .filter(|&i| member.deps[i].inherited || entries.contains_key(&member.deps[i].key))
            .collect();
        let Some(&which) = candidates.get(rng.usize(..candidates.len().max(1))) else {
            return format!("{}: nothing to inherit", member.name);
        };
        let dep = &mut member.deps[which];
        let entry = &entries[&dep.key];
        if dep.inherited {
            // Spelled out as Cargo would resolve it, minus the entry's features.
            dep.spec.package.clone_from(&entry.package);
            dep.spec.version.clone_from(&entry.version);
            dep.spec.path.clone_from(&entry.path);
            dep.spec.default_features = entry.default_features;
        }
        dep.inherited = !dep.inherited;
        format!(
            "{}: {}: inherited = {}",
            member.name, dep.key, dep.inherited
        )
    }

    fn member_feature_table(&mut self, rng: &mut fastrand::Rng) -> String {
        let index = rng.usize(..self.members.len());
        let member = &mut self.members[index];
        // Either a local feature joins or leaves `default`, or a feature enables one of
        // a dependency's features.
        if rng.bool() && member.features.len() > 1 {
            let names: Vec<String> = member
                .features
                .keys()
                .filter(|k| *k != "default")
                .cloned()
                .collect();
            let name = &names[rng.usize(..names.len())];
            toggle(member.features.entry("default".into()).or_default(), name);
            return format!("{}: default feature {name} toggled", member.name);
        }
        let dep = &member.deps[rng.usize(..member.deps.len())];
        let package = dep.spec.package.clone().unwrap_or_else(|| dep.key.clone());
        let item = format!("{}/{}", dep.key, pick_feature(&package, rng));
        let target = member.features.entry("tuned".into()).or_default();
        toggle(target, &item);
        format!("{}: feature tuned toggles {item}", member.name)
    }
}

impl Member {
    fn manifest(&self) -> String {
        let mut root = Table::new();
        let package = Table::from_iter([
            ("name".to_owned(), Value::from(self.name.clone())),
            ("version".to_owned(), "0.1.0".into()),
            ("edition".to_owned(), "2021".into()),
        ]);
        root.insert("package".into(), Value::Table(package));
        if !self.features.is_empty() {
            let features = self
                .features
                .iter()
                .map(|(name, items)| (name.clone(), strings(items)))
                .collect();
            root.insert("features".into(), Value::Table(features));
        }
        for dep in &self.deps {
            let mut value = if dep.inherited {
                let mut table = Table::from_iter([("workspace".to_owned(), Value::from(true))]);
                if !dep.spec.features.is_empty() {
                    table.insert("features".into(), strings(&dep.spec.features));
                }
                if let Some(defaults) = dep.spec.default_features {
                    table.insert("default-features".into(), defaults.into());
                }
                table
            } else {
                let mut spec = dep.spec.clone();
                // A path from the root, written relative to the member as Cargo expects.
                spec.path = spec.path.map(|p| format!("../../{p}"));
                spec.table()
            };
            if dep.optional {
                value.insert("optional".into(), true.into());
            }
            let section = match dep.target {
                Some(target) => table_at(&mut root, &["target", target, dep.section.key()]),
                None => table_at(&mut root, &[dep.section.key()]),
            };
            section.insert(dep.key.clone(), Value::Table(value));
        }
        toml::to_string(&root).expect("a table serializes")
    }
}

impl Spec {
    fn table(&self) -> Table {
        let mut table = Table::new();
        if let Some(package) = &self.package {
            table.insert("package".into(), package.clone().into());
        }
        if let Some(version) = &self.version {
            table.insert("version".into(), version.clone().into());
        }
        if let Some(path) = &self.path {
            table.insert("path".into(), path.clone().into());
        }
        if !self.features.is_empty() {
            table.insert("features".into(), strings(&self.features));
        }
        if let Some(defaults) = self.default_features {
            table.insert("default-features".into(), defaults.into());
        }
        table
    }
}

impl External {
    fn manifest(&self) -> String {
        let mut text = format!(
            "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\n\n[features]\n",
            self.name, self.version
        );
        for (name, items) in self.features {
            let items: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
            let _ = writeln!(text, "{name} = [{}]", items.join(", "));
        }
        text.push_str("\n[dependencies]\n");
        for (name, optional) in self.deps {
            let _ = writeln!(
                text,
                "{name} = {{ version = \"1\", optional = {optional}, default-features = false }}"
            );
        }
        text
    }
}

/// A feature name some version of `package` has (workspace crates: their features).
fn pick_feature(package: &str, rng: &mut fastrand::Rng) -> String {
    let mut names: Vec<&str> = EXTERNALS
        .iter()
        .filter(|e| e.name == package)
        .flat_map(|e| e.features.iter().map(|(name, _)| *name))
        .filter(|name| *name != "default")
        .collect();
    if names.is_empty() {
        names = match package {
            "l1" => vec!["fast", "shiny"],
            _ => vec!["more-c"],
        };
    }
    names.sort_unstable();
    names.dedup();
    names[rng.usize(..names.len())].to_owned()
}

fn dep_feature(dep: &mut MemberDep, rng: &mut fastrand::Rng) -> String {
    let package = dep.spec.package.clone().unwrap_or_else(|| dep.key.clone());
    let feature = pick_feature(&package, rng);
    toggle(&mut dep.spec.features, &feature);
    format!("toggle feature {feature}")
}

fn toggle(items: &mut BTreeSet<String>, item: &str) {
    if !items.remove(item) {
        items.insert(item.to_owned());
    }
}

fn cycle(value: Option<bool>, rng: &mut fastrand::Rng) -> Option<bool> {
    let options = [None, Some(true), Some(false)];
    let others: Vec<Option<bool>> = options.into_iter().filter(|o| *o != value).collect();
    others[rng.usize(..others.len())]
}

fn strings(items: &BTreeSet<String>) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// The table at `path` inside `root`, created as needed.
fn table_at<'t>(root: &'t mut Table, path: &[&str]) -> &'t mut Table {
    let mut table = root;
    for key in path {
        table = table
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .expect("only tables on the path");
    }
    table
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
