//! The plan: a pure value computed from the manifests of two commits and the paths that
//! changed between them. For each unit: deploy or skip, and every reason, typed.
//!
//! The decision is the fingerprint alone (exact, even without the base commit's files);
//! the reasons come from comparing manifests input by input, and name changed files where
//! the tree diff is known.

use crate::fingerprint::{Input, InputKey, Manifest, PackageId, UnitFingerprint};
use crate::inputs::{Finding, UnitKind};
use crate::source::{Change, ChangeKind, ChangeSet};
use crate::text::short;
use serde::{Serialize, Serializer};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Version of the JSON plan (see docs/plan-json.md). Bump on any incompatible change.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: u32,
    pub base: String,
    pub head: String,
    pub services: Vec<UnitPlan>,
    pub apps: Vec<UnitPlan>,
    /// Units in `deploy.toml` at the base but not at the head; the tool never deletes them.
    pub removed: Vec<String>,
    /// Uncommitted changes to inputs, when the head is the checked-out commit: they are
    /// not in this plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty_inputs: Option<Vec<DirtyInput>>,
}

/// A dirty path and the units it is an input of.
#[derive(Debug, Clone, Serialize)]
pub struct DirtyInput {
    pub path: String,
    pub units: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Skip,
}

impl Action {
    /// As the plan's JSON, the summary and the ledger write it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitPlan {
    pub name: String,
    #[serde(skip)]
    pub kind: UnitKind,
    pub action: Action,
    pub fingerprint: String,
    pub base_fingerprint: Option<String>,
    #[serde(serialize_with = "reasons_with_detail")]
    pub reasons: Vec<Reason>,
    /// What the tool cannot account for in this unit's build at the head: `plan` warns,
    /// `deploy` refuses the unit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// Why a unit deploys. Serialized as `{"kind": ..., <fields>, "detail": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Not in `deploy.toml` at the base.
    New {
        unit: UnitKind,
    },
    /// The fingerprint scheme itself changed (a new version of this tool).
    SchemeChanged {
        from: String,
        to: String,
    },
    /// The unit's build settings in `deploy.toml` changed.
    RecipeChanged {
        from: String,
        to: String,
    },
    DockerfileChanged {
        path: String,
        change: ChangeKind,
    },
    /// A file the service's Dockerfile copies from its build context.
    ContextFileChanged {
        path: String,
        change: ChangeKind,
    },
    /// A file of the unit's own folder or extra inputs.
    FileChanged {
        path: String,
        change: ChangeKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// A workspace crate the build depends on changed.
    CrateChanged {
        #[serde(rename = "crate")]
        krate: String,
        paths: Vec<String>,
    },
    CrateAdded {
        #[serde(rename = "crate")]
        krate: String,
    },
    CrateRemoved {
        #[serde(rename = "crate")]
        krate: String,
    },
    /// A `Cargo.lock` package of the build changed version, source or checksum.
    PackageChanged {
        package: String,
        from: String,
        to: String,
        via: String,
    },
    /// Same version, another source or checksum (a registry or git source swapped).
    PackageSourceChanged {
        package: String,
        version: String,
        from: String,
        to: String,
        via: String,
    },
    /// Same version and source, but its dependencies resolved to other packages.
    PackageDependenciesChanged {
        package: String,
        version: String,
        /// `name@version` entries the lockfile now lists for it, and those it no longer does.
        added: Vec<String>,
        removed: Vec<String>,
        via: String,
    },
    PackageAdded {
        package: String,
        version: String,
        via: String,
    },
    PackageRemoved {
        package: String,
        version: String,
        via: String,
    },
    /// A build-relevant section of the root `Cargo.toml` (`[profile.release]`, `[patch]`).
    CargoSettingChanged {
        section: String,
    },
    /// A global input from `deploy.toml` (toolchain, cargo config).
    GlobalInputChanged {
        path: String,
        change: ChangeKind,
    },
    /// An input changed and its files are not known (the base commit is not local).
    InputChanged {
        input: String,
    },
    /// What runs has no fingerprint this tool can read (never deployed by it, or its image
    /// is gone or untagged).
    LiveUnknown {
        why: String,
    },
    /// The live fingerprint differs and the commit it was built from is not in this clone,
    /// so the files cannot be named.
    LiveDiffers {
        live: String,
    },
    /// Unchanged, but its rollout has not finished (a deploy killed in the roll, or ECS
    /// still rolling): never health-checked, so not done.
    RolloutUnfinished {
        rollout: String,
    },
    /// Unchanged, but the deploy that rolled it recorded its health check failing.
    LastUnhealthy {
        deploy_id: String,
    },
    /// Unchanged, but the deploy that rolled it was killed before its outcome was known
    /// (its ledger record was left `started`): never health-checked.
    LastUnchecked {
        deploy_id: String,
    },
    /// Unchanged, and deployed anyway because `--all` asked.
    Requested,
    /// An app's CloudFront invalidation an earlier run could not send: sent now.
    InvalidationPending {
        paths: usize,
    },
    /// A rollback puts back what this commit had.
    RollbackTo {
        commit: String,
    },
}

impl Reason {
    /// Order of importance, for the first reason shown in a table.
    fn rank(&self) -> u8 {
        match self {
            Reason::New { .. } => 0,
            Reason::SchemeChanged { .. } => 1,
            Reason::RecipeChanged { .. } => 2,
            Reason::DockerfileChanged { .. } => 3,
            Reason::FileChanged { .. } | Reason::ContextFileChanged { .. } => 4,
            Reason::CrateChanged { .. }
            | Reason::CrateAdded { .. }
            | Reason::CrateRemoved { .. } => 5,
            Reason::PackageChanged { .. }
            | Reason::PackageSourceChanged { .. }
            | Reason::PackageDependenciesChanged { .. }
            | Reason::PackageAdded { .. }
            | Reason::PackageRemoved { .. } => 6,
            Reason::CargoSettingChanged { .. } => 7,
            Reason::GlobalInputChanged { .. } => 8,
            Reason::InputChanged { .. } => 9,
            Reason::LiveUnknown { .. }
            | Reason::LiveDiffers { .. }
            | Reason::RolloutUnfinished { .. }
            | Reason::LastUnhealthy { .. }
            | Reason::LastUnchecked { .. } => 10,
            Reason::Requested | Reason::RollbackTo { .. } | Reason::InvalidationPending { .. } => {
                11
            }
        }
    }

    /// The path a file-level reason is about.
    fn path(&self) -> Option<&str> {
        match self {
            Reason::DockerfileChanged { path, .. }
            | Reason::FileChanged { path, .. }
            | Reason::ContextFileChanged { path, .. }
            | Reason::GlobalInputChanged { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::New { unit } => {
                write!(f, "new {}: not in deploy.toml at the base", unit.as_str())
            }
            Reason::SchemeChanged { from, to } => write!(f, "fingerprint scheme {from} → {to}"),
            Reason::RecipeChanged { .. } => f.write_str("build settings in deploy.toml changed"),
            Reason::DockerfileChanged { path, change } => {
                write!(f, "Dockerfile `{path}` {}", verb(*change))
            }
            Reason::FileChanged {
                path,
                change: ChangeKind::Renamed,
                from: Some(from),
            } => {
                write!(f, "file `{path}` renamed from `{from}`")
            }
            Reason::FileChanged { path, change, .. } => {
                write!(f, "file `{path}` {}", verb(*change))
            }
            Reason::ContextFileChanged { path, change } => {
                write!(
                    f,
                    "`{path}`, which the Dockerfile copies, {}",
                    verb(*change)
                )
            }
            Reason::CrateChanged { krate, paths } => {
                write!(f, "workspace crate `{krate}` changed")?;
                match paths.as_slice() {
                    [] => f.write_str(" (inherited workspace settings)"),
                    [one] => write!(f, " ({one})"),
                    [first, rest @ ..] => write!(f, " ({first} and {} more)", rest.len()),
                }
            }
            Reason::CrateAdded { krate } => write!(f, "now depends on workspace crate `{krate}`"),
            Reason::CrateRemoved { krate } => {
                write!(f, "no longer depends on workspace crate `{krate}`")
            }
            Reason::PackageSourceChanged {
                package,
                version,
                from,
                to,
                via,
            } => write!(f, "`{package}` {version} {from} → {to} via {via}"),
            Reason::PackageDependenciesChanged {
                package,
                version,
                added,
                removed,
                via,
            } => {
                let changes: Vec<String> = removed
                    .iter()
                    .map(|d| format!("-{d}"))
                    .chain(added.iter().map(|d| format!("+{d}")))
                    .collect();
                write!(
                    f,
                    "`{package}` {version} dependencies changed ({}) via {via}",
                    changes.join(", ")
                )
            }
            Reason::PackageChanged {
                package,
                from,
                to,
                via,
            } => write!(f, "`{package}` {from} → {to} via {via}"),
            Reason::PackageAdded {
                package,
                version,
                via,
            } => write!(f, "new package `{package}` {version} via {via}"),
            Reason::PackageRemoved {
                package,
                version,
                via,
            } => {
                write!(
                    f,
                    "package `{package}` {version} no longer used (was via {via})"
                )
            }
            Reason::CargoSettingChanged { section } => write!(f, "Cargo.toml [{section}] changed"),
            Reason::GlobalInputChanged { path, change } => {
                write!(f, "global input `{path}` {}", verb(*change))
            }
            Reason::InputChanged { input } => write!(f, "input `{input}` changed"),
            Reason::LiveUnknown { why } => write!(f, "live fingerprint unknown ({why})"),
            Reason::LiveDiffers { live } => write!(
                f,
                "live fingerprint {} differs (what changed since is not known)",
                &live[..live.len().min(12)]
            ),
            Reason::RolloutUnfinished { rollout } => write!(
                f,
                "unchanged, but its rollout has not finished ({rollout}) and was never health-checked"
            ),
            Reason::LastUnhealthy { deploy_id } => write!(
                f,
                "unchanged, but its health check failed in deploy {deploy_id}: rolled and checked again"
            ),
            Reason::LastUnchecked { deploy_id } => write!(
                f,
                "unchanged, but deploy {deploy_id} that rolled it was killed before checking it: rolled and checked again"
            ),
            Reason::Requested => f.write_str("unchanged; deployed because of --all"),
            Reason::InvalidationPending { paths } => write!(
                f,
                "an earlier run's CloudFront invalidation of {paths} path(s) is still to send"
            ),
            Reason::RollbackTo { commit } => {
                write!(
                    f,
                    "back to what commit {} had",
                    &commit[..commit.len().min(12)]
                )
            }
        }
    }
}

fn verb(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "added",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Modified => "modified",
        ChangeKind::Renamed => "renamed",
    }
}

fn reasons_with_detail<S: Serializer>(
    reasons: &[Reason],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Wire<'a> {
        #[serde(flatten)]
        reason: &'a Reason,
        detail: String,
    }
    serializer.collect_seq(reasons.iter().map(|reason| Wire {
        reason,
        detail: reason.to_string(),
    }))
}

/// One commit's side of a comparison.
pub struct Side<'a> {
    pub commit: String,
    pub units: &'a [UnitFingerprint],
}

/// Compares every unit of `head` with the same unit at `base`. `explain` gives the reasons
/// of a unit whose fingerprint changed (base, head); it is called for no other unit.
pub fn plan(
    base: &Side<'_>,
    head: &Side<'_>,
    mut explain: impl FnMut(&UnitFingerprint, &UnitFingerprint) -> Vec<Reason>,
) -> Plan {
    let before: HashMap<&str, &UnitFingerprint> = base
        .units
        .iter()
        .map(|u| (u.unit.name.as_str(), u))
        .collect();
    let mut services = Vec::new();
    let mut apps = Vec::new();
    for unit in head.units {
        let planned = unit_plan(
            before.get(unit.unit.name.as_str()).copied(),
            unit,
            &mut explain,
        );
        match unit.unit.kind {
            UnitKind::Service => services.push(planned),
            UnitKind::App => apps.push(planned),
        }
    }
    let now: BTreeSet<&str> = head.units.iter().map(|u| u.unit.name.as_str()).collect();
    let removed = base
        .units
        .iter()
        .filter(|u| !now.contains(u.unit.name.as_str()))
        .map(|u| u.unit.name.clone())
        .collect();
    Plan {
        schema: SCHEMA,
        base: base.commit.clone(),
        head: head.commit.clone(),
        services,
        apps,
        removed,
        dirty_inputs: None,
    }
}

/// The decision and reasons for one unit.
pub fn unit_plan(
    base: Option<&UnitFingerprint>,
    head: &UnitFingerprint,
    explain: impl FnOnce(&UnitFingerprint, &UnitFingerprint) -> Vec<Reason>,
) -> UnitPlan {
    let reasons = match base {
        None => vec![Reason::New {
            unit: head.unit.kind,
        }],
        Some(base) if base.fingerprint == head.fingerprint => Vec::new(),
        Some(base) => explain(base, head),
    };
    debug_assert!(!reasons.is_empty() || base.is_some_and(|b| b.fingerprint == head.fingerprint));
    UnitPlan::new(head, base.map(|b| b.fingerprint.clone()), reasons)
}

impl UnitPlan {
    /// A unit deploys exactly when it has a reason to.
    pub fn new(
        head: &UnitFingerprint,
        base_fingerprint: Option<String>,
        reasons: Vec<Reason>,
    ) -> UnitPlan {
        UnitPlan {
            name: head.unit.name.clone(),
            kind: head.unit.kind,
            action: if reasons.is_empty() {
                Action::Skip
            } else {
                Action::Deploy
            },
            fingerprint: head.fingerprint.clone(),
            base_fingerprint,
            reasons,
            findings: head.findings.clone(),
        }
    }
}

/// Every reason `head` differs from `base` (two manifests of one unit), most important first.
pub fn reasons(base: &Manifest, head: &Manifest, changes: &ChangeSet) -> Vec<Reason> {
    let keys: BTreeSet<&InputKey> = base.inputs.keys().chain(head.inputs.keys()).collect();
    let mut reasons = Vec::new();
    let mut packages = BTreeSet::new();
    for key in keys {
        let (old, new) = (base.inputs.get(key), head.inputs.get(key));
        if old.map(|i| &i.id) == new.map(|i| &i.id) {
            continue;
        }
        let input = new.or(old).expect("a key comes from one side at least");
        let files = input.scope.changes(changes);
        let change = presence(old.map(|i| i.id.as_str()), new.map(|i| i.id.as_str()));
        match key {
            InputKey::Scheme => reasons.push(Reason::SchemeChanged {
                from: summary(old),
                to: summary(new),
            }),
            InputKey::Recipe => reasons.push(Reason::RecipeChanged {
                from: summary(old),
                to: summary(new),
            }),
            InputKey::Dockerfile { path } => reasons.push(Reason::DockerfileChanged {
                path: path.clone(),
                change,
            }),
            InputKey::Global { path } => reasons.push(Reason::GlobalInputChanged {
                path: path.clone(),
                change,
            }),
            InputKey::Extra { path } => reasons.push(Reason::FileChanged {
                path: path.clone(),
                change,
                from: None,
            }),
            InputKey::Context { path } => reasons.push(Reason::ContextFileChanged {
                path: path.clone(),
                change,
            }),
            InputKey::CargoSetting { section } => reasons.push(Reason::CargoSettingChanged {
                section: section.clone(),
            }),
            InputKey::Folder { .. } => file_reasons(key, &files, &mut reasons),
            InputKey::Crate { name } => crate_reasons(
                name,
                head,
                old.is_some(),
                new.is_some(),
                &files,
                &mut reasons,
            ),
            InputKey::Package { name, .. } => {
                packages.insert(name.as_str());
            }
        }
    }
    for name in packages {
        package_reasons(name, base, head, &mut reasons);
    }
    // A Dockerfile inside the unit's folder changes as one of its files: say what it is.
    for reason in &mut reasons {
        if let Reason::FileChanged { path, change, .. } = reason {
            if head.unit.dockerfile.as_ref() == Some(path) {
                *reason = Reason::DockerfileChanged {
                    path: path.clone(),
                    change: *change,
                };
            }
        }
    }
    // A file already explained as a Dockerfile or global input needs no second line.
    let explained: BTreeSet<String> = reasons
        .iter()
        .filter(|r| !matches!(r, Reason::FileChanged { .. }))
        .filter_map(|r| r.path().map(str::to_owned))
        .collect();
    reasons.retain(|r| !matches!(r, Reason::FileChanged { path, .. } if explained.contains(path)));
    reasons.sort_by(|a, b| {
        a.rank()
            .cmp(&b.rank())
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
    reasons.dedup();
    reasons
}

fn summary(input: Option<&Input>) -> String {
    input.map_or_else(|| "none".to_owned(), |i| i.summary.clone())
}

/// Added, deleted or modified, from the ids on each side (a missing literal input is `absent`).
fn presence(old: Option<&str>, new: Option<&str>) -> ChangeKind {
    match (old, new) {
        (None | Some("absent"), _) => ChangeKind::Added,
        (_, None | Some("absent")) => ChangeKind::Deleted,
        _ => ChangeKind::Modified,
    }
}

fn file_reasons(key: &InputKey, files: &[&Change], reasons: &mut Vec<Reason>) {
    if files.is_empty() {
        reasons.push(Reason::InputChanged {
            input: key.to_string(),
        });
    }
    reasons.extend(files.iter().map(|c| Reason::FileChanged {
        path: c.path.clone(),
        change: c.kind,
        from: c.old_path.clone(),
    }));
}

fn crate_reasons(
    name: &str,
    head: &Manifest,
    before: bool,
    after: bool,
    files: &[&Change],
    reasons: &mut Vec<Reason>,
) {
    let krate = name.to_owned();
    match (before, after) {
        (false, _) => reasons.push(Reason::CrateAdded { krate }),
        (_, false) => reasons.push(Reason::CrateRemoved { krate }),
        _ if head.unit.own_crate.as_deref() == Some(name) && !files.is_empty() => {
            file_reasons(&InputKey::Crate { name: krate }, files, reasons);
        }
        _ => reasons.push(Reason::CrateChanged {
            krate,
            paths: files.iter().map(|c| c.path.clone()).collect(),
        }),
    }
}

/// The reasons of one package name: its versions before and after (a lockfile may hold
/// several versions of one name), and the crate through which the build uses it. When the
/// versions are the same, what changed in each one: its source or checksum, or the
/// packages its dependencies resolved to.
fn package_reasons(name: &str, base: &Manifest, head: &Manifest, reasons: &mut Vec<Reason>) {
    let ((old, old_via), (new, new_via)) = (versions(base, name), versions(head, name));
    let listed =
        |inputs: &[&Input]| -> Vec<String> { inputs.iter().map(|i| i.summary.clone()).collect() };
    let (old_versions, new_versions) = (listed(&old), listed(&new));
    let package = name.to_owned();
    let via = new_via.or(old_via).unwrap_or_default();
    let reason = match (old.is_empty(), new.is_empty()) {
        (true, _) => Reason::PackageAdded {
            package,
            version: new_versions.join(", "),
            via,
        },
        (_, true) => Reason::PackageRemoved {
            package,
            version: old_versions.join(", "),
            via,
        },
        _ if old_versions == new_versions => {
            for (before, after) in old.iter().zip(&new).filter(|(b, a)| b.id != a.id) {
                reasons.push(same_version_reason(name, before, after, &via));
            }
            return;
        }
        _ => Reason::PackageChanged {
            package,
            from: old_versions.join(", "),
            to: new_versions.join(", "),
            via,
        },
    };
    reasons.push(reason);
}

/// The inputs of every version of package `name` in a manifest, and its "via" crate.
fn versions<'m>(manifest: &'m Manifest, name: &str) -> (Vec<&'m Input>, Option<String>) {
    let found: Vec<&Input> = manifest
        .inputs
        .iter()
        .filter(|(key, _)| matches!(key, InputKey::Package { name: n, .. } if n == name))
        .map(|(_, input)| input)
        .collect();
    let via = found.iter().find_map(|i| i.via.clone());
    (found, via)
}

/// What changed in one package whose version did not.
fn same_version_reason(name: &str, before: &Input, after: &Input, via: &str) -> Reason {
    let (package, version, via) = (name.to_owned(), after.summary.clone(), via.to_owned());
    let (Some(old), Some(new)) = (PackageId::parse(&before.id), PackageId::parse(&after.id)) else {
        return Reason::PackageSourceChanged {
            package,
            version,
            from: before.id.clone(),
            to: after.id.clone(),
            via,
        };
    };
    if old.source != new.source {
        return Reason::PackageSourceChanged {
            package,
            version,
            from: old.source,
            to: new.source,
            via,
        };
    }
    if old.checksum != new.checksum {
        return Reason::PackageSourceChanged {
            package,
            version,
            from: format!("checksum {}", short(&old.checksum)),
            to: format!("checksum {}", short(&new.checksum)),
            via,
        };
    }
    let difference = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|d| !b.contains(d)).cloned().collect()
    };
    Reason::PackageDependenciesChanged {
        package,
        version,
        added: difference(&new.deps, &old.deps),
        removed: difference(&old.deps, &new.deps),
        via,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::{Scope, Unit};
    use std::collections::BTreeMap;

    fn input(id: &str, summary: &str, scope: Scope) -> Input {
        Input {
            id: id.into(),
            summary: summary.into(),
            via: None,
            scope,
            notes: Vec::new(),
        }
    }

    fn dir(path: &str) -> Scope {
        Scope::Dir {
            path: path.into(),
            skipped: vec!["tests".into()],
        }
    }

    /// The api service's manifest with a given `common` digest and `serde` version.
    fn api(common: &str, serde: &str) -> Manifest {
        let mut inputs = BTreeMap::new();
        let krate = |name: &str| InputKey::Crate { name: name.into() };
        inputs.insert(
            krate("api"),
            input("a1", "services/api", dir("services/api")),
        );
        inputs.insert(
            krate("common"),
            input(common, "crates/common", dir("crates/common")),
        );
        let mut package = input(&format!("registry {serde}"), serde, Scope::None);
        package.via = Some("common".into());
        inputs.insert(
            InputKey::Package {
                name: "serde".into(),
                version: serde.into(),
            },
            package,
        );
        let unit = Unit {
            name: "api".into(),
            kind: UnitKind::Service,
            own_crate: Some("api".into()),
            dockerfile: Some("services/api/Dockerfile".into()),
        };
        Manifest::new(unit, inputs)
    }

    fn identity(manifest: &Manifest) -> UnitFingerprint {
        UnitFingerprint {
            unit: manifest.unit.clone(),
            fingerprint: manifest.fingerprint.clone(),
            slots: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Plans one unit from two manifests, as compare.rs does from two commits.
    fn planned(base: &Manifest, head: &Manifest, changes: &[Change]) -> UnitPlan {
        let changes = ChangeSet::new(changes.to_vec());
        unit_plan(Some(&identity(base)), &identity(head), |_, _| {
            reasons(base, head, &changes)
        })
    }

    fn change(path: &str, kind: ChangeKind) -> Change {
        Change {
            path: path.into(),
            old_path: None,
            kind,
        }
    }

    #[test]
    fn same_fingerprint_skips_with_no_reason_and_never_asks_for_one() {
        let unit = unit_plan(
            Some(&identity(&api("c1", "1.0.0"))),
            &identity(&api("c1", "1.0.0")),
            |_, _| panic!("no reasons are computed for an unchanged unit"),
        );
        assert_eq!(unit.action, Action::Skip);
        assert!(unit.reasons.is_empty());
    }

    #[test]
    fn dependency_crate_change_names_the_crate_and_its_files() {
        let changes = [
            change("crates/common/src/lib.rs", ChangeKind::Modified),
            change("crates/common/tests/it.rs", ChangeKind::Modified),
            change("README.md", ChangeKind::Modified),
        ];
        let unit = planned(&api("c1", "1.0.0"), &api("c2", "1.0.0"), &changes);
        assert_eq!(unit.action, Action::Deploy);
        assert_eq!(
            unit.reasons,
            [Reason::CrateChanged {
                krate: "common".into(),
                paths: vec!["crates/common/src/lib.rs".into()]
            }]
        );
        assert_eq!(
            unit.reasons[0].to_string(),
            "workspace crate `common` changed (crates/common/src/lib.rs)"
        );
    }

    #[test]
    fn package_bump_carries_versions_and_via() {
        let unit = planned(&api("c1", "1.0.0"), &api("c1", "1.0.1"), &[]);
        assert_eq!(
            unit.reasons.len(),
            1,
            "one reason per package name: {:?}",
            unit.reasons
        );
        assert_eq!(
            unit.reasons[0].to_string(),
            "`serde` 1.0.0 → 1.0.1 via common"
        );
        let json = serde_json::to_value(&unit).unwrap();
        assert_eq!(json["reasons"][0]["kind"], "package_changed");
        assert_eq!(json["reasons"][0]["from"], "1.0.0");
        assert_eq!(
            json["reasons"][0]["detail"],
            "`serde` 1.0.0 → 1.0.1 via common"
        );
    }

    /// `api` whose serde 1.0.0 has the given lockfile identity.
    fn api_with_serde(source: &str, deps: &[&str]) -> Manifest {
        let mut manifest = api("c1", "1.0.0");
        let id = PackageId {
            source: source.into(),
            checksum: "abc".into(),
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
        };
        let key = InputKey::Package {
            name: "serde".into(),
            version: "1.0.0".into(),
        };
        manifest.inputs.get_mut(&key).unwrap().id = id.to_string();
        Manifest::new(manifest.unit.clone(), manifest.inputs)
    }

    #[test]
    fn a_package_whose_dependencies_changed_says_which() {
        let base = api_with_serde("registry", &["itoa@1.0.0", "ryu@1.0.0"]);
        let head = api_with_serde("registry", &["itoa@1.0.1", "ryu@1.0.0"]);
        let unit = planned(&base, &head, &[]);
        assert_eq!(
            unit.reasons[0].to_string(),
            "`serde` 1.0.0 dependencies changed (-itoa@1.0.0, +itoa@1.0.1) via common"
        );
        let json = serde_json::to_value(&unit).unwrap();
        assert_eq!(json["reasons"][0]["kind"], "package_dependencies_changed");
        assert_eq!(json["reasons"][0]["added"][0], "itoa@1.0.1");
        let moved = api_with_serde(
            "git+https://example.com/serde",
            &["itoa@1.0.0", "ryu@1.0.0"],
        );
        assert_eq!(
            planned(&base, &moved, &[]).reasons[0].to_string(),
            "`serde` 1.0.0 registry → git+https://example.com/serde via common"
        );
    }

    #[test]
    fn a_dockerfile_in_the_services_folder_is_reported_as_the_dockerfile() {
        let mut head = api("c1", "1.0.0");
        head.inputs
            .get_mut(&InputKey::Crate { name: "api".into() })
            .unwrap()
            .id = "a2".into();
        let head = Manifest::new(head.unit.clone(), head.inputs);
        let changes = [change("services/api/Dockerfile", ChangeKind::Modified)];
        let unit = planned(&api("c1", "1.0.0"), &head, &changes);
        assert_eq!(
            unit.reasons,
            [Reason::DockerfileChanged {
                path: "services/api/Dockerfile".into(),
                change: ChangeKind::Modified
            }]
        );
    }

    #[test]
    fn new_unit_has_no_base_fingerprint() {
        let unit = unit_plan(None, &identity(&api("c1", "1.0.0")), |_, _| unreachable!());
        assert_eq!(
            unit.reasons,
            [Reason::New {
                unit: UnitKind::Service
            }]
        );
        assert_eq!(
            serde_json::to_value(&unit).unwrap()["base_fingerprint"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn removed_units_are_listed_and_never_planned() {
        let head = identity(&api("c1", "1.0.0"));
        let mut gone = head.clone();
        gone.unit.name = "legacy".into();
        let plan = plan(
            &Side {
                commit: "a".into(),
                units: &[head.clone(), gone],
            },
            &Side {
                commit: "b".into(),
                units: std::slice::from_ref(&head),
            },
            |_, _| unreachable!(),
        );
        assert_eq!(plan.removed, ["legacy"]);
        assert_eq!(plan.services.len(), 1);
    }
}
