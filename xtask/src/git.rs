//! The repository, read without side effects: revisions, the files of one commit's tree
//! (no checkout, no history, so shallow clones work), the working tree as the same kind of
//! [`Source`], what changed between two trees, and which paths are dirty.

use crate::diag;
use anyhow::{bail, Context as _, Result};
use git2::{ErrorCode, ObjectType, Oid, Repository, Tree};
use std::path::{Path, PathBuf};

/// A repository whose working directory is the monorepo root.
pub struct Repo {
    inner: Repository,
}

/// A resolved commit.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: Oid,
    tree: Oid,
}

impl Commit {
    /// The 40-hex id.
    pub fn sha(&self) -> String {
        self.id.to_string()
    }

    /// The first 7 hex digits, for people.
    pub fn short(&self) -> String {
        short(self.id)
    }
}

/// The first 7 hex digits of an object id.
pub fn short(id: Oid) -> String {
    id.to_string()[..7].to_owned()
}

/// What happened to one path between two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Deleted,
    Modified,
    Renamed,
}

/// One changed path; `old_path` is set for renames.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub old_path: Option<String>,
    pub kind: ChangeKind,
}

/// The changes between two commits, indexed by path (both sides of a rename), so that
/// the changes inside one folder are a binary search away, however large the diff.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    changes: Vec<Change>,
    /// `(change index, whether it is the old side of a rename)`, sorted by that path.
    by_path: Vec<(usize, bool)>,
}

impl ChangeSet {
    pub fn new(changes: Vec<Change>) -> ChangeSet {
        let renames = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.old_path.is_some());
        let mut by_path: Vec<(usize, bool)> = (0..changes.len())
            .map(|i| (i, false))
            .chain(renames.map(|(i, _)| (i, true)))
            .collect();
        by_path.sort_by(|&a, &b| side(&changes, a).cmp(side(&changes, b)));
        ChangeSet { changes, by_path }
    }

    /// The changes whose path (either side of a rename) is `path` or lies under the folder
    /// `path` and satisfies `keep` (given the rest of the path), in path order, each once.
    pub fn under(&self, path: &str, keep: impl Fn(&str) -> bool) -> Vec<&Change> {
        let start = self
            .by_path
            .partition_point(|&e| side(&self.changes, e) < path);
        let mut found: Vec<usize> = Vec::new();
        for &entry in &self.by_path[start..] {
            let candidate = side(&self.changes, entry);
            let Some(rest) = candidate.strip_prefix(path) else {
                break;
            };
            let inside = match rest.strip_prefix('/') {
                Some(rest) => keep(rest),
                // `path` itself, not a sibling such as `path2` or `path.rs`.
                None => rest.is_empty(),
            };
            if inside {
                found.push(entry.0);
            }
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|i| &self.changes[i]).collect()
    }
}

/// One side of a change: its path, or the old path of a rename.
fn side(changes: &[Change], (index, old): (usize, bool)) -> &str {
    let change = &changes[index];
    if old {
        change.old_path.as_deref().unwrap_or_default()
    } else {
        &change.path
    }
}

impl Repo {
    /// Opens the repository whose working directory is exactly `root`.
    pub fn open(root: &Path) -> Result<Repo> {
        tune_libgit2();
        let inner = Repository::open(root).map_err(|err| {
            diag::usage(format!(
                "{} is not the root of a git repository: {}",
                root.display(),
                err.message()
            ))
        })?;
        inner
            .workdir()
            .context("bare repositories are not supported: the tool reads the working tree too")?;
        Ok(Repo { inner })
    }

    /// The repository's git directory (`.git`, or the real one behind a worktree's).
    pub fn git_dir(&self) -> &Path {
        self.inner.path()
    }

    /// Resolves any revision (`HEAD~2`, a branch, a short or full id) to a commit.
    /// `what` names where the revision came from (`--base`), for the error.
    pub fn resolve(&self, rev: &str, what: &str) -> Result<Commit> {
        let object = self.inner.revparse_single(rev).map_err(|err| {
            let reason = match err.code() {
                ErrorCode::Ambiguous => "is ambiguous: give more hex digits".to_owned(),
                ErrorCode::NotFound | ErrorCode::InvalidSpec => {
                    let mut reason = "is not a known revision".to_owned();
                    if self.inner.is_shallow() {
                        reason.push_str(&format!(
                            " (this clone is shallow: `git fetch --depth 1 origin {rev}` brings it)"
                        ));
                    }
                    reason
                }
                _ => err.message().to_owned(),
            };
            diag::usage(format!("{what} `{rev}` {reason}"))
        })?;
        let commit = object
            .peel_to_commit()
            .map_err(|_| diag::usage(format!("{what} `{rev}` does not name a commit")))?;
        Ok(Commit {
            id: commit.id(),
            tree: commit.tree_id(),
        })
    }

    /// The checked-out branch's short name; `None` on a detached HEAD.
    pub fn branch(&self) -> Option<String> {
        let head = self.inner.head().ok()?;
        if !head.is_branch() {
            return None;
        }
        head.shorthand().ok().map(str::to_owned)
    }

    /// The newest common ancestor of `a` and `b`, if they have one.
    pub fn merge_base(&self, a: &Commit, b: &Commit) -> Option<Commit> {
        let id = self.inner.merge_base(a.id, b.id).ok()?;
        let commit = self.inner.find_commit(id).ok()?;
        Some(Commit {
            id,
            tree: commit.tree_id(),
        })
    }

    /// Whether `id` (a full commit id) is in this clone.
    pub fn has_commit(&self, id: &str) -> bool {
        Oid::from_str(id).is_ok_and(|oid| self.inner.find_commit(oid).is_ok())
    }

    /// The files of `commit`, read from its tree.
    pub fn snapshot(&self, commit: &Commit) -> Result<Snapshot<'_>> {
        Ok(Snapshot {
            repo: &self.inner,
            root: self.inner.find_tree(commit.tree)?,
            label: commit.short(),
        })
    }

    /// Paths that differ between two commits. Equal subtrees are skipped by id, so the cost
    /// follows the size of the change, not of the repository. A file deleted in one place
    /// and added with the same content in another is a rename.
    pub fn changes(&self, base: &Commit, head: &Commit) -> Result<ChangeSet> {
        let mut changes = Vec::new();
        self.diff_trees("", Some(base.tree), Some(head.tree), &mut changes)?;
        let changes = pair_renames(changes);
        Ok(ChangeSet::new(
            changes.into_iter().map(|(change, _)| change).collect(),
        ))
    }

    /// Appends the file changes between two trees under `prefix` (either side may be absent),
    /// each with the blob id that identifies its content (the old one for deletions).
    fn diff_trees(
        &self,
        prefix: &str,
        old: Option<Oid>,
        new: Option<Oid>,
        out: &mut Vec<(Change, Oid)>,
    ) -> Result<()> {
        if old == new {
            return Ok(());
        }
        let entries = |id: Option<Oid>| -> Result<Vec<(String, Oid, EntryKind)>> {
            let Some(id) = id else { return Ok(Vec::new()) };
            let tree = self.inner.find_tree(id)?;
            let mut entries = Vec::with_capacity(tree.len());
            for entry in tree.iter() {
                let name = entry.name().context("a file name is not valid UTF-8")?;
                entries.push((name.to_owned(), entry.id(), kind_of(entry.kind())));
            }
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            Ok(entries)
        };
        let (old, new) = (entries(old)?, entries(new)?);
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(o), Some(n)) => o.0.cmp(&n.0),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (before, after) = match order {
                std::cmp::Ordering::Less => (old.get(i), None),
                std::cmp::Ordering::Greater => (None, new.get(j)),
                std::cmp::Ordering::Equal => (old.get(i), new.get(j)),
            };
            i += usize::from(before.is_some());
            j += usize::from(after.is_some());
            let name = &before.or(after).expect("one side at least").0;
            let path = crate::config::join(prefix, name);
            let side = |entry: Option<&(String, Oid, EntryKind)>, kind| {
                entry.filter(|e| e.2 == kind).map(|e| e.1)
            };
            // Folders recurse (an absent side lists the other whole); files compare by id.
            self.diff_trees(
                &path,
                side(before, EntryKind::Dir),
                side(after, EntryKind::Dir),
                out,
            )?;
            match (side(before, EntryKind::File), side(after, EntryKind::File)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(_), Some(b)) => out.push((change(&path, ChangeKind::Modified), b)),
                (Some(a), None) => out.push((change(&path, ChangeKind::Deleted), a)),
                (None, Some(b)) => out.push((change(&path, ChangeKind::Added), b)),
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Paths whose working-tree or index state differs from HEAD, untracked files included.
    pub fn dirty_paths(&self) -> Result<Vec<String>> {
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true);
        let statuses = self.inner.statuses(Some(&mut options))?;
        let mut paths: Vec<String> = statuses
            .iter()
            .filter(|entry| entry.status() != git2::Status::CURRENT)
            .filter_map(|entry| entry.path().ok().map(str::to_owned))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Every path in the index (the tracked files).
    pub fn tracked_paths(&self) -> Result<Vec<String>> {
        let index = self.inner.index()?;
        let mut paths = Vec::with_capacity(index.len());
        for entry in index.iter() {
            match String::from_utf8(entry.path) {
                Ok(path) => paths.push(path),
                Err(err) => bail!("tracked path is not valid UTF-8: {:?}", err.into_bytes()),
            }
        }
        Ok(paths)
    }
}

/// Process-wide libgit2 settings for a reader of many trees, set once.
///
/// By default libgit2 re-hashes every object it reads (SHA-1 with collision detection:
/// two thirds of `plan`'s time on a large monorepo) and caches no tree over 4 KiB, so a
/// wide folder such as `services/` is re-read on every path lookup through it. Objects
/// come from the local object database, whose packs git already checks by CRC; the
/// cache is bounded by libgit2's total cache size.
fn tune_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(false);
        // SAFETY: called once, before any repository is opened by this process.
        let raised = unsafe { git2::opts::set_cache_object_limit(ObjectType::Tree, 1 << 20) };
        debug_assert!(raised.is_ok());
    });
}

fn change(path: &str, kind: ChangeKind) -> Change {
    Change {
        path: path.to_owned(),
        old_path: None,
        kind,
    }
}

/// Turns a deletion and an addition of the same content into one rename (each deletion
/// pairs with at most one addition), and sorts by path.
fn pair_renames(changes: Vec<(Change, Oid)>) -> Vec<(Change, Oid)> {
    let mut deleted: std::collections::HashMap<Oid, Vec<String>> = std::collections::HashMap::new();
    for (change, id) in &changes {
        if change.kind == ChangeKind::Deleted {
            deleted.entry(*id).or_default().push(change.path.clone());
        }
    }
    let mut renamed_from = std::collections::HashSet::new();
    let mut out: Vec<(Change, Oid)> = Vec::with_capacity(changes.len());
    for (mut change, id) in changes.iter().cloned() {
        if change.kind == ChangeKind::Added {
            if let Some(from) = deleted.get_mut(&id).and_then(Vec::pop) {
                change.kind = ChangeKind::Renamed;
                renamed_from.insert(from.clone());
                change.old_path = Some(from);
            }
        }
        out.push((change, id));
    }
    out.retain(|(c, _)| !(c.kind == ChangeKind::Deleted && renamed_from.contains(&c.path)));
    out.sort();
    out
}

/// What kind of thing a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
}

/// One entry of a directory listing. `id` is the git object id when read from a commit.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub id: Option<Oid>,
}

/// Read-only access to a tree of files: one commit's, or the working tree's.
pub trait Source {
    /// Names this source in messages (`1a2b3c4`, `working tree`).
    fn label(&self) -> &str;
    /// The bytes of the file at `path`, or `None` when there is no file there.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// The entries of the directory at `path` (`""` is the root), or `None` when there is none.
    fn list(&self, path: &str) -> Result<Option<Vec<Entry>>>;

    /// What is at `path`, if anything.
    fn kind(&self, path: &str) -> Result<Option<EntryKind>>;

    /// The git object id of the file or folder at `path`, where the source has one
    /// (commits do). Callers use it to reuse work across commits that share content.
    fn object_id(&self, _path: &str) -> Result<Option<Oid>> {
        Ok(None)
    }

    /// The text of a file entry from [`Source::list`], read by its object id when it has
    /// one (no second walk down the path).
    fn read_entry(&self, path: &str, entry: &Entry) -> Result<String> {
        let bytes = match entry.id {
            Some(id) => self.read_object(id)?,
            None => self.read(path)?,
        };
        let bytes = bytes.ok_or_else(|| {
            anyhow::anyhow!("{path} (at {}) vanished while reading", self.label())
        })?;
        text(self.label(), path, bytes)
    }

    /// The content of the blob `id`, where the source has object ids.
    fn read_object(&self, _id: Oid) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// The file at `path` as UTF-8 text.
    fn read_text(&self, path: &str) -> Result<Option<String>> {
        self.read(path)?
            .map(|bytes| text(self.label(), path, bytes))
            .transpose()
    }
}

fn text(label: &str, path: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{path} (at {label}) is not valid UTF-8"))
}

/// The files of one commit.
pub struct Snapshot<'repo> {
    repo: &'repo Repository,
    root: Tree<'repo>,
    label: String,
}

impl Snapshot<'_> {
    /// The object id and kind at `path` (`""` is the root tree), if anything is there.
    pub fn id(&self, path: &str) -> Result<Option<(Oid, EntryKind)>> {
        if path.is_empty() {
            return Ok(Some((self.root.id(), EntryKind::Dir)));
        }
        match self.root.get_path(Path::new(path)) {
            Ok(entry) => Ok(Some((entry.id(), kind_of(entry.kind())))),
            Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

impl Snapshot<'_> {
    /// Whether the file at `path` is committed executable (git keeps no other mode bit).
    pub fn is_executable(&self, path: &str) -> Result<bool> {
        Ok(self.root.get_path(Path::new(path))?.filemode() == 0o100_755)
    }
}

fn kind_of(kind: Option<ObjectType>) -> EntryKind {
    match kind {
        Some(ObjectType::Tree) => EntryKind::Dir,
        // Blobs, symlinks (blobs holding the target) and submodule commits are leaves.
        _ => EntryKind::File,
    }
}

impl Source for Snapshot<'_> {
    fn label(&self) -> &str {
        &self.label
    }

    fn kind(&self, path: &str) -> Result<Option<EntryKind>> {
        Ok(self.id(path)?.map(|(_, kind)| kind))
    }

    fn object_id(&self, path: &str) -> Result<Option<Oid>> {
        Ok(self.id(path)?.map(|(id, _)| id))
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.id(path)? {
            Some((id, EntryKind::File)) => self.read_object(id),
            _ => Ok(None),
        }
    }

    fn read_object(&self, id: Oid) -> Result<Option<Vec<u8>>> {
        match self.repo.find_blob(id) {
            Ok(blob) => Ok(Some(blob.content().to_vec())),
            // A submodule entry names a commit, not a blob: no file content here.
            Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    fn list(&self, path: &str) -> Result<Option<Vec<Entry>>> {
        let tree = match self.id(path)? {
            Some((id, EntryKind::Dir)) => self.repo.find_tree(id)?,
            _ => return Ok(None),
        };
        let mut entries = Vec::with_capacity(tree.len());
        for entry in tree.iter() {
            let name = entry
                .name()
                .with_context(|| format!("a file name under `{path}` is not valid UTF-8"))?;
            entries.push(Entry {
                name: name.to_owned(),
                kind: kind_of(entry.kind()),
                id: Some(entry.id()),
            });
        }
        Ok(Some(entries))
    }
}

/// The files on disk under the monorepo root (for `check`, which looks at what you are
/// about to commit). `.git` is never listed.
pub struct Worktree {
    root: PathBuf,
}

impl Worktree {
    pub fn new(root: &Path) -> Worktree {
        Worktree {
            root: root.to_path_buf(),
        }
    }
}

impl Source for Worktree {
    fn label(&self) -> &str {
        "working tree"
    }

    fn kind(&self, path: &str) -> Result<Option<EntryKind>> {
        let full = self.root.join(path);
        Ok(if full.is_dir() {
            Some(EntryKind::Dir)
        } else if full.exists() {
            Some(EntryKind::File)
        } else {
            None
        })
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let full = self.root.join(path);
        if !full.is_file() {
            return Ok(None);
        }
        std::fs::read(&full)
            .map(Some)
            .with_context(|| format!("reading {}", full.display()))
    }

    fn list(&self, path: &str) -> Result<Option<Vec<Entry>>> {
        let full = self.root.join(path);
        if !full.is_dir() {
            return Ok(None);
        }
        let mut entries = Vec::new();
        for entry in
            std::fs::read_dir(&full).with_context(|| format!("listing {}", full.display()))?
        {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                bail!("a file name under `{}` is not valid UTF-8", full.display());
            };
            if path.is_empty() && name == ".git" {
                continue;
            }
            let kind = if entry.path().is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            entries.push(Entry {
                name,
                kind,
                id: None,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(entries))
    }
}

/// Every file under `dir` (recursively) in `source`, sorted by path, with its object id
/// where the source has one.
pub fn walk_files(source: &dyn Source, dir: &str) -> Result<Vec<(String, Option<Oid>)>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Some(entries) = source.list(&current)? else {
            continue;
        };
        for entry in entries {
            let path = crate::config::join(&current, &entry.name);
            match entry.kind {
                EntryKind::Dir => pending.push(path),
                EntryKind::File => files.push((path, entry.id)),
            }
        }
    }
    files.sort();
    Ok(files)
}
