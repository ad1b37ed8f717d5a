//! The repository, read without side effects: revisions, the files of one commit's tree
//! (no checkout, no history, so shallow clones work) as an `xtask_core` [`Source`], what
//! changed between two trees, and which paths are dirty. The only crate that links libgit2;
//! object ids cross into the core as [`ObjectId`].

pub mod model;

use anyhow::{bail, Context as _, Result};
use git2::{ErrorCode, ObjectType, Oid, Repository, Tree};
use std::path::Path;
pub use xtask_core::source::{
    walk_files, Change, ChangeKind, ChangeSet, Entry, EntryKind, ObjectId, Source, Worktree,
};
use xtask_core::{error::Error, text};

/// A repository whose working directory is the monorepo root.
pub struct Repo {
    inner: Repository,
}

/// A resolved commit.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: ObjectId,
    tree: Oid,
}

impl Commit {
    /// The 40-hex id.
    pub fn sha(&self) -> String {
        self.id.to_string()
    }

    /// The id for people, as long as every other id the tool shows ([`text::short`]).
    pub fn short(&self) -> String {
        short(self.id)
    }
}

/// An object id for people ([`text::short`]).
pub fn short(id: ObjectId) -> String {
    text::short(&id.to_string()).to_owned()
}

/// libgit2's id as the core's. The crate is built for SHA-1 repositories only, whose ids are
/// 20 bytes.
fn to_core(id: Oid) -> ObjectId {
    ObjectId(
        id.as_bytes()
            .try_into()
            .expect("libgit2 object ids are SHA-1"),
    )
}

fn to_git(id: ObjectId) -> Oid {
    Oid::from_bytes(&id.0).expect("20 bytes is a SHA-1 id")
}

impl Repo {
    /// Opens the repository whose working directory is exactly `root`.
    pub fn open(root: &Path) -> Result<Repo> {
        tune_libgit2();
        let inner = Repository::open(root).map_err(|err| {
            Error::Usage(format!(
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
                // HEAD of a branch with no commits (a new repository) names nothing yet.
                ErrorCode::NotFound | ErrorCode::InvalidSpec
                    if rev == "HEAD"
                        && self
                            .inner
                            .head()
                            .is_err_and(|e| e.code() == ErrorCode::UnbornBranch) =>
                {
                    "names nothing: this repository has no commits yet (commit first)".to_owned()
                }
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
            Error::Usage(format!("{what} `{rev}` {reason}"))
        })?;
        let commit = object
            .peel_to_commit()
            .map_err(|_| Error::Usage(format!("{what} `{rev}` does not name a commit")))?;
        Ok(Commit {
            id: to_core(commit.id()),
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
        let id = self.inner.merge_base(to_git(a.id), to_git(b.id)).ok()?;
        let commit = self.inner.find_commit(id).ok()?;
        Some(Commit {
            id: to_core(id),
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
            let path = xtask_core::config::join(prefix, name);
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

/// The files of one commit.
pub struct Snapshot<'repo> {
    repo: &'repo Repository,
    root: Tree<'repo>,
    label: String,
}

impl Snapshot<'_> {
    /// The object id and kind at `path` (`""` is the root tree), if anything is there.
    fn id(&self, path: &str) -> Result<Option<(Oid, EntryKind)>> {
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

    fn object_id(&self, path: &str) -> Result<Option<ObjectId>> {
        Ok(self.id(path)?.map(|(id, _)| to_core(id)))
    }

    fn stat(&self, path: &str) -> Result<Option<(EntryKind, Option<ObjectId>)>> {
        Ok(self.id(path)?.map(|(id, kind)| (kind, Some(to_core(id)))))
    }

    /// A committed symlink is a blob of mode 120000 holding its target; git cannot look up
    /// a path through one, so the first one found ends the walk.
    fn symlink_on(&self, path: &str) -> Result<Option<(String, String)>> {
        for prefix in xtask_core::source::prefixes(path) {
            let entry = match self.root.get_path(Path::new(prefix)) {
                Ok(entry) => entry,
                Err(err) if err.code() == ErrorCode::NotFound => return Ok(None),
                Err(err) => return Err(err.into()),
            };
            if entry.filemode() == 0o120_000 {
                let target = self.read_object(to_core(entry.id()))?.unwrap_or_default();
                let target = String::from_utf8_lossy(&target).into_owned();
                return Ok(Some((prefix.to_owned(), target)));
            }
        }
        Ok(None)
    }

    /// Committed executable: git keeps no other mode bit.
    fn is_executable(&self, path: &str) -> Result<bool> {
        Ok(self.root.get_path(Path::new(path))?.filemode() == 0o100_755)
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.id(path)? {
            Some((id, EntryKind::File)) => self.read_object(to_core(id)),
            _ => Ok(None),
        }
    }

    fn read_object(&self, id: ObjectId) -> Result<Option<Vec<u8>>> {
        match self.repo.find_blob(to_git(id)) {
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
                id: Some(to_core(entry.id())),
            });
        }
        Ok(Some(entries))
    }
}
