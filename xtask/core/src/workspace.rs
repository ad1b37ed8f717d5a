//! The Cargo workspace of one commit (or of the working tree), read from its manifests
//! without running cargo: which crates exist, which depend on which (normal and build
//! dependencies only: dev-dependencies never reach an image), what of each manifest can
//! change a build, and each service's slice of `Cargo.lock`.
//!
//! `tests/it/metadata.rs` checks this graph against `cargo metadata`.

use crate::cache::Cache;
use crate::config::join;
use crate::error::Error;
use crate::lockfile::Lockfile;
use crate::platform::Platform;
use crate::source::{Entry, EntryKind, Source};
use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use toml::{Table, Value};

/// Top-level folders of a crate that only non-build targets use, left out of its inputs
/// unless the manifest points a build target into one of them.
const NON_BUILD_DIRS: [&str; 3] = ["benches", "examples", "tests"];

/// Manifest sections that only tests, benches and examples use.
const NON_BUILD_KEYS: [&str; 5] = [
    "dev-dependencies",
    "dev_dependencies",
    "test",
    "bench",
    "example",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepKind {
    Normal,
    Build,
    Dev,
}

/// One declared dependency of a crate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dep {
    /// The real package name (after a `package = "..."` rename).
    pub package: String,
    pub kind: DepKind,
    /// The folder of a path dependency, relative to the repository root.
    pub path: Option<String>,
}

/// One crate of the workspace. Kept between runs by [`crate::cache`]: a change in how a
/// field is computed must bump its format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crate {
    pub name: String,
    /// Its folder, relative to the repository root.
    pub path: String,
    pub deps: Vec<Dep>,
    /// SHA-256 of the manifest as a build sees it: dev-dependencies, test targets and
    /// `[target.*]` tables of other platforms removed, `workspace = true` inheritance
    /// resolved as Cargo resolves it.
    pub manifest_digest: String,
    /// Top-level folders of the crate that are not build inputs (see [`NON_BUILD_DIRS`]).
    pub skipped_dirs: Vec<String>,
    /// The binaries the crate builds: `[[bin]]` names, and (unless `autobins = false`)
    /// `src/main.rs` as the package's name, `src/bin/<name>.rs` and `src/bin/<name>/main.rs`.
    pub bins: Vec<String>,
    /// How the build view was derived, for `explain`: each inherited dependency with the
    /// features it gets, and each `[target.*]` table left out for the build target.
    pub notes: Vec<String>,
    /// SHA-256 of the folder as a build reads it: its top-level git entries except the
    /// skipped folders and the raw manifest, plus [`Crate::manifest_digest`]. Empty when
    /// read from the working tree, which has no object ids.
    pub content: String,
}

/// The workspace of one source.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// Every crate; the indexes below refer to this list.
    pub crates: Vec<Arc<Crate>>,
    by_name: HashMap<String, usize>,
    by_path: HashMap<String, usize>,
    /// Per crate: the crates its build uses through normal and build path dependencies.
    build_edges: Vec<Vec<usize>>,
    /// Per crate: the lockfile packages its manifest declares for building.
    direct_packages: Vec<Vec<usize>>,
    /// Build-relevant sections of the root `Cargo.toml`, canonical, by section name
    /// (`profile.release`, `patch.crates-io`, `replace`, `resolver`).
    pub settings: BTreeMap<String, String>,
    /// `None` when no `Cargo.lock` is committed.
    pub lock: Option<Arc<Lockfile>>,
}

/// What one crate's build reads from the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    /// Workspace crates (the root included), as sorted indexes into [`Workspace::crates`].
    pub crates: Vec<usize>,
    /// External lockfile packages (sorted indexes into the lockfile), each with the crate
    /// nearest to the root through which it enters the build.
    pub packages: Vec<(usize, usize)>,
}

/// The root manifest's `[workspace]` and build settings.
struct Root {
    members: Vec<String>,
    exclude: Vec<String>,
    package: Table,
    dependencies: Table,
    lints: Option<Value>,
    /// Digest (hex) of everything members can inherit, part of each crate's cache key.
    inherit_digest: String,
    settings: BTreeMap<String, String>,
}

impl Workspace {
    /// Reads the workspace of `source`; an empty workspace when there is no root `Cargo.toml`.
    pub fn load(source: &dyn Source, cache: &mut Cache) -> Result<Workspace> {
        let Some(text) = source.read_text("Cargo.toml")? else {
            return Ok(Workspace::default());
        };
        let table = parse_toml(&text, "Cargo.toml", source)?;
        let root = Root::parse(&table).map_err(|err| bad_file("Cargo.toml", source, &err))?;
        let mut workspace = Workspace {
            settings: root.settings.clone(),
            lock: load_lock(source, cache)?,
            ..Workspace::default()
        };
        // Member globs may match folders that are not crates; path dependencies and
        // patches must be crates.
        let members = expand_members(source, &root.members, &root.exclude)
            .map_err(|err| bad_file("Cargo.toml", source, &err))?;
        let patches = patch_paths(&table).map_err(|err| bad_file("Cargo.toml", source, &err))?;
        let mut pending: Vec<(String, bool)> = members
            .into_iter()
            .map(|d| (d, false))
            .chain(patches.into_iter().map(|d| (d, true)))
            .collect();
        while let Some((dir, required)) = pending.pop() {
            if workspace.by_path.contains_key(&dir) {
                continue;
            }
            let Some(krate) = load_crate(source, cache, &root, &dir)? else {
                if required {
                    let path = join(&dir, "Cargo.toml");
                    return Err(bad_file(
                        &path,
                        source,
                        &anyhow!("does not exist, but the workspace names it"),
                    ));
                }
                continue;
            };
            pending.extend(
                krate
                    .deps
                    .iter()
                    .filter_map(|d| Some((d.path.clone()?, true))),
            );
            if let Some(&other) = workspace.by_name.get(&krate.name) {
                return Err(Error::Usage(format!(
                    "two crates are named `{}`: {} and {} (at {})",
                    krate.name,
                    workspace.crates[other].path,
                    krate.path,
                    source.label()
                ))
                .into());
            }
            let index = workspace.crates.len();
            workspace.by_path.insert(dir, index);
            workspace.by_name.insert(krate.name.clone(), index);
            workspace.crates.push(krate);
        }
        workspace.link();
        Ok(workspace)
    }

    /// Resolves each crate's build dependencies to indexes, once.
    fn link(&mut self) {
        for krate in &self.crates {
            let build_deps = || krate.deps.iter().filter(|d| d.kind != DepKind::Dev);
            self.build_edges.push(
                build_deps()
                    .filter_map(|d| d.path.as_ref().map(|p| self.by_path[p]))
                    .collect(),
            );
            // The lockfile lists dev-dependencies of workspace members too: keep only the
            // registry (or patched) packages the manifest declares for building.
            let wanted: BTreeSet<&str> = build_deps()
                .filter(|d| d.path.is_none())
                .map(|d| d.package.as_str())
                .collect();
            let direct = self
                .lock
                .as_ref()
                .and_then(|lock| Some((lock, lock.path_package(&krate.name)?)))
                .map(|(lock, index)| {
                    let named = |&&d: &&usize| wanted.contains(lock.packages[d].name.as_str());
                    lock.packages[index]
                        .deps
                        .iter()
                        .filter(named)
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            self.direct_packages.push(direct);
        }
    }

    /// The index of the crate whose folder is `path`.
    pub fn crate_at(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    /// The index of the crate called `name`.
    pub fn crate_named(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Everything the build of crate `root` reads: workspace crates through normal and
    /// build path dependencies, and external packages through the lockfile. Crates are
    /// visited nearest first, so a package's "via" is the closest crate that uses it.
    pub fn closure(&self, root: usize) -> Closure {
        let mut seen_crates = vec![false; self.crates.len()];
        let mut seen_packages = vec![false; self.lock.as_ref().map_or(0, |l| l.packages.len())];
        let mut closure = Closure::default();
        let mut pending = std::collections::VecDeque::from([root]);
        while let Some(index) = pending.pop_front() {
            if std::mem::replace(&mut seen_crates[index], true) {
                continue;
            }
            closure.crates.push(index);
            pending.extend(&self.build_edges[index]);
            let Some(lock) = &self.lock else { continue };
            let mut packages = self.direct_packages[index].clone();
            while let Some(package) = packages.pop() {
                let entry = &lock.packages[package];
                if entry.source.is_none() {
                    // A `[patch]` with a path turns an external package into a path crate.
                    pending.extend(self.crate_named(&entry.name));
                } else if !std::mem::replace(&mut seen_packages[package], true) {
                    closure.packages.push((package, index));
                    packages.extend(&entry.deps);
                }
            }
        }
        closure.crates.sort_unstable();
        closure.packages.sort_unstable();
        closure
    }
}

impl Root {
    fn parse(table: &Table) -> Result<Root> {
        if table.contains_key("package") {
            bail!("has a [package] at the root: put every crate in its own folder so that each has its own inputs");
        }
        let workspace = table
            .get("workspace")
            .and_then(Value::as_table)
            .ok_or_else(|| anyhow!("has no [workspace] table"))?;
        let strings = |key: &str| -> Vec<String> {
            workspace
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let sub_table = |key: &str| {
            workspace
                .get(key)
                .and_then(Value::as_table)
                .cloned()
                .unwrap_or_default()
        };
        let package = sub_table("package");
        let dependencies = sub_table("dependencies");
        let lints = workspace.get("lints").cloned();
        let inherit_digest = hex(&Sha256::digest(canonical(&Value::Array(vec![
            Value::Table(package.clone()),
            Value::Table(dependencies.clone()),
            lints.clone().unwrap_or(Value::Boolean(false)),
        ]))));
        Ok(Root {
            members: strings("members"),
            exclude: strings("exclude"),
            package,
            dependencies,
            lints,
            inherit_digest,
            settings: build_settings(table, workspace),
        })
    }
}

/// The sections of the root manifest that change how every crate builds.
fn build_settings(table: &Table, workspace: &Table) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for section in ["profile", "patch"] {
        if let Some(entries) = table.get(section).and_then(Value::as_table) {
            for (name, value) in entries {
                settings.insert(format!("{section}.{name}"), canonical(value));
            }
        }
    }
    if let Some(replace) = table.get("replace") {
        settings.insert("replace".to_owned(), canonical(replace));
    }
    if let Some(resolver) = workspace.get("resolver") {
        settings.insert("resolver".to_owned(), canonical(resolver));
    }
    settings
}

/// Folders of `[patch.*]` entries with a `path`: their crates are build inputs too.
fn patch_paths(table: &Table) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for registry in table
        .get("patch")
        .and_then(Value::as_table)
        .into_iter()
        .flat_map(Table::values)
    {
        for spec in registry.as_table().into_iter().flat_map(Table::values) {
            if let Some(path) = spec.get("path").and_then(Value::as_str) {
                paths.push(normalize("", path).with_context(|| format!("[patch] path `{path}`"))?);
            }
        }
    }
    Ok(paths)
}

/// JSON of a TOML value: deterministic (tables are sorted maps), and cheap to hash.
pub fn canonical(value: &Value) -> String {
    serde_json::to_string(value).expect("TOML values always serialize")
}

fn parse_toml(text: &str, path: &str, source: &dyn Source) -> Result<Table> {
    text.parse::<Table>().map_err(|err| {
        let (line, column) = err
            .span()
            .map_or((0, 0), |span| crate::diag::line_col(text, span.start));
        Error::Usage(format!(
            "{path}:{line}:{column} (at {}): {}",
            source.label(),
            err.message()
        ))
        .into()
    })
}

/// A committed file the user must fix: a usage error naming it and the commit.
fn bad_file(path: &str, source: &dyn Source, err: &anyhow::Error) -> anyhow::Error {
    Error::Usage(format!("{path} (at {}): {err:#}", source.label())).into()
}

fn load_lock(source: &dyn Source, cache: &mut Cache) -> Result<Option<Arc<Lockfile>>> {
    let key = source.object_id("Cargo.lock")?.map(|id| id.to_string());
    if let Some(lock) = key.as_deref().and_then(|key| cache.lock(key)) {
        return Ok(Some(lock));
    }
    let Some(text) = source.read_text("Cargo.lock")? else {
        return Ok(None);
    };
    let lock =
        Arc::new(Lockfile::parse(&text).map_err(|err| bad_file("Cargo.lock", source, &err))?);
    if let Some(key) = key {
        cache.insert_lock(key, Arc::clone(&lock));
    }
    Ok(Some(lock))
}

/// The crate in folder `dir`, or `None` when it has no `Cargo.toml`. A folder whose tree
/// id (with the same inherited values) was seen before is not read at all.
fn load_crate(
    source: &dyn Source,
    cache: &mut Cache,
    root: &Root,
    dir: &str,
) -> Result<Option<Arc<Crate>>> {
    let key = crate_key(source, root, dir)?;
    if let Some(krate) = key.as_deref().and_then(|key| cache.krate(key)) {
        return Ok(Some(krate));
    }
    let Some(krate) = read_crate(source, root, dir)?.map(Arc::new) else {
        return Ok(None);
    };
    if let Some(key) = key {
        cache.insert_crate(key, Arc::clone(&krate));
    }
    Ok(Some(krate))
}

/// What identifies a crate's parse: its folder's tree id, the values it can inherit, the
/// folder itself (relative path dependencies) and the build target (`[target.*]` tables). `None` without object ids.
fn crate_key(source: &dyn Source, root: &Root, dir: &str) -> Result<Option<String>> {
    Ok(source.object_id(dir)?.map(|tree| {
        let triple = Platform::host_build().triple();
        format!("{tree} {} {dir} {triple}", root.inherit_digest)
    }))
}

fn read_crate(source: &dyn Source, root: &Root, dir: &str) -> Result<Option<Crate>> {
    // One listing gives both the manifest's blob and the entries of the content digest.
    let entries = source.list(dir)?.unwrap_or_default();
    let Some(manifest) = entries
        .iter()
        .find(|e| e.name == "Cargo.toml" && e.kind == EntryKind::File)
    else {
        return Ok(None);
    };
    let manifest_path = join(dir, "Cargo.toml");
    let text = source.read_entry(&manifest_path, manifest)?;
    let table = parse_toml(&text, &manifest_path, source)?;
    let explicit = explicit_bins(&table);
    let autobins = table
        .get("package")
        .and_then(|p| p.get("autobins"))
        .and_then(Value::as_bool)
        != Some(false);
    let mut krate =
        parse_crate(table, dir, root).map_err(|err| bad_file(&manifest_path, source, &err))?;
    krate.content = content_digest(&entries, &krate);
    krate.bins = explicit;
    if autobins {
        krate
            .bins
            .extend(discovered_bins(source, dir, &krate.name)?);
    }
    krate.bins.sort_unstable();
    krate.bins.dedup();
    Ok(Some(krate))
}

/// The names of the `[[bin]]` targets a manifest declares.
fn explicit_bins(table: &Table) -> Vec<String> {
    table
        .get("bin")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|bin| bin.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The binaries Cargo discovers in a crate's `src` folder.
fn discovered_bins(source: &dyn Source, dir: &str, package: &str) -> Result<Vec<String>> {
    let mut bins = Vec::new();
    let src = join(dir, "src");
    let Some(entries) = source.list(&src)? else {
        return Ok(bins);
    };
    if entries
        .iter()
        .any(|e| e.name == "main.rs" && e.kind == EntryKind::File)
    {
        bins.push(package.to_owned());
    }
    if entries
        .iter()
        .any(|e| e.name == "bin" && e.kind == EntryKind::Dir)
    {
        let bin_dir = join(&src, "bin");
        for entry in source.list(&bin_dir)?.unwrap_or_default() {
            match entry.kind {
                EntryKind::File => bins.extend(entry.name.strip_suffix(".rs").map(str::to_owned)),
                EntryKind::Dir => {
                    let main = join(&join(&bin_dir, &entry.name), "main.rs");
                    if source.kind(&main)? == Some(EntryKind::File) {
                        bins.push(entry.name.clone());
                    }
                }
            }
        }
    }
    Ok(bins)
}

/// See [`Crate::content`]; empty when the entries have no object ids (working tree).
fn content_digest(entries: &[Entry], krate: &Crate) -> String {
    let mut hasher = Sha256::new();
    for entry in entries {
        let Some(id) = entry.id else {
            return String::new();
        };
        let skipped = entry.kind == EntryKind::Dir && krate.skipped_dirs.contains(&entry.name);
        if entry.name != "Cargo.toml" && !skipped {
            hasher.update(format!("{}\t{id}\n", entry.name));
        }
    }
    hasher.update(format!("Cargo.toml\t{}\n", krate.manifest_digest));
    hex(&hasher.finalize())
}

fn parse_crate(mut table: Table, dir: &str, root: &Root) -> Result<Crate> {
    let name = table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("has no `package.name`"))?
        .to_owned();
    let skipped_dirs = NON_BUILD_DIRS
        .into_iter()
        .filter(|folder| !target_paths(&table).any(|p| p.starts_with(&format!("{folder}/"))))
        .map(str::to_owned)
        .collect();
    let platform = Platform::host_build();
    let inactive = inactive_targets(&table, &platform)?;
    let mut notes = Vec::new();
    let mut deps = Vec::new();
    visit_dep_tables(&mut table, &mut |target, kind, section| {
        let active = target.is_none_or(|spec| !inactive.iter().any(|i| i == spec));
        // Dev-dependencies never reach an image, but their path crates must still be
        // crates; a build table for another platform is no input at all.
        if !active && kind != DepKind::Dev {
            return Ok(());
        }
        for (key, spec) in section.iter_mut() {
            let base = if is_inherited(spec) {
                let (merged, note) = inherit_dep(key, spec, root)?;
                if kind != DepKind::Dev {
                    notes.push(note);
                }
                *spec = merged;
                ""
            } else {
                dir
            };
            canonical_dep(spec);
            deps.push(declared_dep(key, spec, kind, base)?);
        }
        Ok(())
    })?;
    notes.extend(inactive.iter().map(|spec| {
        format!(
            "[target.'{spec}'] is left out: it cannot apply to {}",
            platform.triple()
        )
    }));
    build_view(&mut table, root, &inactive);
    Ok(Crate {
        name,
        path: dir.to_owned(),
        deps,
        manifest_digest: hex(&Sha256::digest(canonical(&Value::Table(table)))),
        skipped_dirs,
        bins: Vec::new(),
        notes,
        content: String::new(),
    })
}

/// Paths of the library, binaries and build script a manifest declares.
fn target_paths(table: &Table) -> impl Iterator<Item = &str> {
    let lib = table.get("lib").and_then(|l| l.get("path"));
    let bins = table
        .get("bin")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("path"));
    let build = table.get("package").and_then(|p| p.get("build"));
    lib.into_iter()
        .chain(bins)
        .chain(build)
        .filter_map(Value::as_str)
}

/// What a dependency section of a manifest declares, by its key (both spellings Cargo
/// accepts).
fn section_kind(key: &str) -> Option<DepKind> {
    match key {
        "dependencies" => Some(DepKind::Normal),
        "build-dependencies" | "build_dependencies" => Some(DepKind::Build),
        "dev-dependencies" | "dev_dependencies" => Some(DepKind::Dev),
        _ => None,
    }
}

type DepTableVisitor<'v> = dyn FnMut(Option<&str>, DepKind, &mut Table) -> Result<()> + 'v;

/// Calls `visit` with every dependency table of a manifest, its kind and, for a
/// `[target.<spec>.*]` table, the platform spec: the top level first, then each target.
fn visit_dep_tables(table: &mut Table, visit: &mut DepTableVisitor<'_>) -> Result<()> {
    visit_sections(None, table, visit)?;
    if let Some(targets) = table.get_mut("target").and_then(Value::as_table_mut) {
        for (spec, target) in targets.iter_mut() {
            if let Some(target) = target.as_table_mut() {
                visit_sections(Some(spec), target, visit)?;
            }
        }
    }
    Ok(())
}

fn visit_sections(
    target: Option<&str>,
    table: &mut Table,
    visit: &mut DepTableVisitor<'_>,
) -> Result<()> {
    for (key, section) in table.iter_mut() {
        if let (Some(kind), Some(section)) = (section_kind(key), section.as_table_mut()) {
            visit(target, kind, section)?;
        }
    }
    Ok(())
}

/// The `[target.<spec>]` tables that cannot apply to `platform`.
fn inactive_targets(table: &Table, platform: &Platform) -> Result<Vec<String>> {
    let mut inactive = Vec::new();
    for spec in table
        .get("target")
        .and_then(Value::as_table)
        .into_iter()
        .flat_map(Table::keys)
    {
        if !platform.may_apply(spec)? {
            inactive.push(spec.clone());
        }
    }
    Ok(inactive)
}

/// One declared dependency, from its (resolved) spec. `base` is the folder its `path` is
/// relative to: the crate's, or the root for an inherited one.
fn declared_dep(key: &str, spec: &Value, kind: DepKind, base: &str) -> Result<Dep> {
    let package = spec
        .get("package")
        .and_then(Value::as_str)
        .unwrap_or(key)
        .to_owned();
    let path = match spec.get("path").and_then(Value::as_str) {
        Some(path) => {
            Some(normalize(base, path).with_context(|| format!("path of dependency `{key}`"))?)
        }
        None => None,
    };
    Ok(Dep {
        package,
        kind,
        path,
    })
}

/// A `workspace = true` dependency as Cargo resolves it (cargo's
/// `inner_dependency_inherit_with`): the `[workspace.dependencies]` entry, with the
/// member's `features` added to the entry's, the member's `optional` and `public`, and
/// `default-features = true` from the member only where the entry turns them off (a
/// member's `false` beside an entry's default is ignored, and refused in edition 2024).
/// Version, source and `package` come from the entry; any other key the member writes
/// is ignored, as Cargo ignores it. Returns the resolved spec and a line for `explain`.
fn inherit_dep(key: &str, member: &Value, root: &Root) -> Result<(Value, String)> {
    let entry = root.dependencies.get(key).ok_or_else(|| {
        anyhow!("`{key}` says `workspace = true` but [workspace.dependencies] has no `{key}`")
    })?;
    let mut merged = match entry {
        Value::Table(table) => table.clone(),
        version => Table::from_iter([("version".to_owned(), version.clone())]),
    };
    let entry_defaults = take_default_features(&mut merged);
    let member_defaults = member.as_table().and_then(default_features);
    if let Some(defaults) = match (member_defaults, entry_defaults) {
        (Some(true), Some(false)) => Some(true),
        (_, entry) => entry,
    } {
        merged.insert("default-features".to_owned(), Value::Boolean(defaults));
    }
    let features = |table: Option<&Table>| -> Vec<String> {
        table
            .and_then(|t| t.get("features"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let (from_entry, from_member) = (features(entry.as_table()), features(member.as_table()));
    merged.remove("features");
    if !from_entry.is_empty() || !from_member.is_empty() {
        let all = from_entry.iter().chain(&from_member).cloned();
        merged.insert(
            "features".to_owned(),
            Value::Array(all.map(Value::String).collect()),
        );
    }
    for own in ["optional", "public"] {
        merged.remove(own);
        if let Some(value) = member.get(own) {
            merged.insert(own.to_owned(), value.clone());
        }
    }
    let mut note = format!("inherits `{key}` from [workspace.dependencies]");
    match (from_entry.is_empty(), from_member.is_empty()) {
        (true, true) => {}
        (false, true) => note.push_str(&format!(": features {}", from_entry.join(", "))),
        (true, false) => note.push_str(&format!(": own features {}", from_member.join(", "))),
        (false, false) => note.push_str(&format!(
            ": features {} (workspace) + {} (own)",
            from_entry.join(", "),
            from_member.join(", ")
        )),
    }
    if merged.get("default-features").and_then(Value::as_bool) == Some(false) {
        note.push_str(", no default features");
    }
    if member.get("optional").and_then(Value::as_bool) == Some(true) {
        note.push_str(", optional");
    }
    Ok((Value::Table(merged), note))
}

/// `default-features` of a dependency table, in either spelling Cargo accepts.
fn default_features(table: &Table) -> Option<bool> {
    table
        .get("default-features")
        .or_else(|| table.get("default_features"))
        .and_then(Value::as_bool)
}

/// Removes both spellings of `default-features`, returning the value.
fn take_default_features(table: &mut Table) -> Option<bool> {
    let value = default_features(table);
    table.remove("default-features");
    table.remove("default_features");
    value
}

/// One spelling per meaning: `dep = "1"` is `dep = { version = "1" }`, and features are a
/// set (sorted, deduplicated), so neither spelling nor order is an input.
fn canonical_dep(spec: &mut Value) {
    if let Value::String(version) = spec {
        let version = Value::String(std::mem::take(version));
        *spec = Value::Table(Table::from_iter([("version".to_owned(), version)]));
    }
    let Some(features) = spec.get_mut("features").and_then(Value::as_array_mut) else {
        return;
    };
    let mut names: Vec<String> = features
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    names.sort_unstable();
    names.dedup();
    *features = names.into_iter().map(Value::String).collect();
}

/// Rewrites a member manifest as its build sees it: without test-only sections and
/// target tables that cannot apply, with inherited `[package]` values and lints resolved
/// (dependencies were resolved where they were declared).
fn build_view(table: &mut Table, root: &Root, inactive: &[String]) {
    for key in NON_BUILD_KEYS {
        table.remove(key);
    }
    if let Some(targets) = table.get_mut("target").and_then(Value::as_table_mut) {
        for spec in inactive {
            targets.remove(spec);
        }
        for (_, target) in targets.iter_mut() {
            let Some(target) = target.as_table_mut() else {
                continue;
            };
            for key in NON_BUILD_KEYS {
                target.remove(key);
            }
        }
        // With nothing left for this platform, the manifest reads as one without them.
        targets.retain(|_, target| !target.as_table().is_some_and(Table::is_empty));
        if targets.is_empty() {
            table.remove("target");
        }
    }
    if let Some(package) = table.get_mut("package").and_then(Value::as_table_mut) {
        for (key, value) in package.iter_mut() {
            if is_inherited(value) {
                if let Some(inherited) = root.package.get(key) {
                    *value = inherited.clone();
                }
            }
        }
    }
    if table.get("lints").is_some_and(is_inherited) {
        if let Some(lints) = &root.lints {
            table.insert("lints".to_owned(), lints.clone());
        }
    }
}

fn is_inherited(value: &Value) -> bool {
    value.get("workspace").and_then(Value::as_bool) == Some(true)
}

/// Expands `[workspace] members` globs into candidate folders (crates or not).
fn expand_members(
    source: &dyn Source,
    members: &[String],
    exclude: &[String],
) -> Result<Vec<String>> {
    let mut dirs = BTreeSet::new();
    for pattern in members {
        let mut current = vec![String::new()];
        for segment in pattern.trim_end_matches('/').split('/') {
            current = expand_segment(source, &current, segment)?;
        }
        dirs.extend(current);
    }
    let excluded = |dir: &String| {
        exclude
            .iter()
            .any(|e| dir == e || dir.starts_with(&format!("{e}/")))
    };
    Ok(dirs.into_iter().filter(|d| !excluded(d)).collect())
}

fn expand_segment(source: &dyn Source, dirs: &[String], segment: &str) -> Result<Vec<String>> {
    if !segment.contains(['*', '?', '[']) {
        return Ok(dirs.iter().map(|d| join(d, segment)).collect());
    }
    let matcher = globset::GlobBuilder::new(segment)
        .literal_separator(true)
        .build()
        .with_context(|| format!("workspace member glob segment `{segment}`"))?
        .compile_matcher();
    let mut out = Vec::new();
    for dir in dirs {
        for entry in source.list(dir)?.unwrap_or_default() {
            if entry.kind == EntryKind::Dir && matcher.is_match(&entry.name) {
                out.push(join(dir, &entry.name));
            }
        }
    }
    Ok(out)
}

/// Resolves `relative` against folder `base`, both repository-relative, `/`-separated.
pub fn normalize(base: &str, relative: &str) -> Result<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    bail!("`{relative}` points outside the repository");
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots_and_refuses_escapes() {
        assert_eq!(
            normalize("services/api", "../../crates/common").unwrap(),
            "crates/common"
        );
        assert_eq!(normalize("", "./crates/x/").unwrap(), "crates/x");
        assert!(normalize("a", "../../b").is_err());
    }

    fn root() -> Root {
        let table: Table = r#"
[workspace]
members = ["a"]
[workspace.package]
edition = "2021"
[workspace.dependencies]
serde = { version = "1", features = ["derive"] }
time = { version = "0.3", default-features = false, features = ["macros"] }
log = "0.4"
"#
        .parse()
        .unwrap();
        Root::parse(&table).unwrap()
    }

    fn digest(manifest: &str) -> String {
        parse_crate(manifest.parse().unwrap(), "a", &root())
            .unwrap()
            .manifest_digest
    }

    #[test]
    fn dev_dependencies_do_not_change_the_build_view() {
        let base = "[package]\nname = \"a\"\n[dependencies]\nserde = \"1\"\n";
        let with_dev = format!("{base}[dev-dependencies]\ninsta = \"1\"\n[[test]]\nname = \"t\"\n");
        assert_eq!(digest(base), digest(&with_dev));
        assert_ne!(
            digest(base),
            digest(&base.replace("serde = \"1\"", "serde = \"1.0.1\""))
        );
    }

    #[test]
    fn inherited_values_are_resolved() {
        let inherited =
            "[package]\nname = \"a\"\nedition.workspace = true\n[dependencies]\nserde.workspace = true\n";
        let spelled = "[package]\nname = \"a\"\nedition = \"2021\"\n[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\n";
        assert_eq!(digest(inherited), digest(spelled));
    }

    fn member(deps: &str) -> String {
        format!("[package]\nname = \"a\"\n[dependencies]\n{deps}\n")
    }

    #[test]
    fn member_features_are_added_to_the_workspace_entrys() {
        let inherited = member("serde = { workspace = true, features = [\"rc\"] }");
        let spelled = member("serde = { version = \"1\", features = [\"rc\", \"derive\"] }");
        assert_eq!(digest(&inherited), digest(&spelled));
        assert_ne!(
            digest(&inherited),
            digest(&member("serde.workspace = true"))
        );
        let krate = parse_crate(inherited.parse().unwrap(), "a", &root()).unwrap();
        assert_eq!(
            krate.notes,
            ["inherits `serde` from [workspace.dependencies]: features derive (workspace) + rc (own)"]
        );
    }

    #[test]
    fn default_features_follow_cargos_rules() {
        let spelled = |defaults: &str| {
            digest(&member(&format!(
                "time = {{ version = \"0.3\", default-features = {defaults}, features = [\"macros\"] }}"
            )))
        };
        // The entry turns them off: a member may turn them back on.
        assert_eq!(
            digest(&member(
                "time = { workspace = true, default-features = true }"
            )),
            spelled("true")
        );
        assert_eq!(digest(&member("time.workspace = true")), spelled("false"));
        // The entry keeps them: a member's `false` is ignored.
        assert_eq!(
            digest(&member(
                "log = { workspace = true, default-features = false }"
            )),
            digest(&member("log = \"0.4\""))
        );
    }

    #[test]
    fn keys_cargo_ignores_beside_workspace_true_change_nothing() {
        assert_eq!(
            digest(&member(
                "log = { workspace = true, version = \"9\", path = \"x\" }"
            )),
            digest(&member("log.workspace = true"))
        );
        assert_ne!(
            digest(&member("log = { workspace = true, optional = true }")),
            digest(&member("log.workspace = true"))
        );
    }

    #[test]
    fn tables_for_other_platforms_are_no_input() {
        let base = member("log = \"0.4\"");
        let windows = format!("{base}[target.'cfg(windows)'.dependencies]\nwinapi = \"0.3\"\n");
        let linux = format!("{base}[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n");
        assert_eq!(digest(&base), digest(&windows));
        assert_ne!(digest(&base), digest(&linux));
        let krate = parse_crate(windows.parse().unwrap(), "a", &root()).unwrap();
        assert!(
            krate.deps.iter().all(|d| d.package != "winapi"),
            "{:?}",
            krate.deps
        );
        assert_eq!(
            krate.notes,
            ["[target.'cfg(windows)'] is left out: it cannot apply to x86_64-unknown-linux-gnu"]
        );
    }

    #[test]
    fn feature_order_is_no_input() {
        assert_eq!(
            digest(&member(
                "serde = { version = \"1\", features = [\"a\", \"b\"] }"
            )),
            digest(&member(
                "serde = { version = \"1\", features = [\"b\", \"a\", \"b\"] }"
            ))
        );
    }

    #[test]
    fn test_folders_are_skipped_unless_a_target_lives_there() {
        let plain =
            parse_crate("[package]\nname = \"a\"\n".parse().unwrap(), "a", &root()).unwrap();
        assert_eq!(plain.skipped_dirs, ["benches", "examples", "tests"]);
        let odd = "[package]\nname = \"a\"\n[[bin]]\nname = \"x\"\npath = \"examples/x.rs\"\n";
        let odd = parse_crate(odd.parse().unwrap(), "a", &root()).unwrap();
        assert_eq!(odd.skipped_dirs, ["benches", "tests"]);
    }
}
