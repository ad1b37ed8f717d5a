//! Read-only access to a tree of files, whatever holds it: one commit (the git reader in
//! `xtask-git` implements [`Source`] over libgit2) or the working tree ([`Worktree`]). Also
//! what changed between two trees ([`ChangeSet`]), which the planner reads without knowing
//! where the changes came from.

use anyhow::{bail, Context as _, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// A git object id (SHA-1), held here so that the core never links libgit2: the git reader
/// converts at its boundary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 20]);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
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
    pub id: Option<ObjectId>,
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
    fn object_id(&self, _path: &str) -> Result<Option<ObjectId>> {
        Ok(None)
    }

    /// What is at `path` and its object id, in one lookup where the source can (a commit
    /// walks its tree once for both).
    fn stat(&self, path: &str) -> Result<Option<(EntryKind, Option<ObjectId>)>> {
        Ok(match self.kind(path)? {
            Some(kind) => Some((kind, self.object_id(path)?)),
            None => None,
        })
    }

    /// Whether the file at `path` is executable (a commit keeps only this mode bit).
    fn is_executable(&self, path: &str) -> Result<bool>;

    /// The first symlink on `path` (the path itself or a folder above it) and the target
    /// it names, if any: a unit folder reached through one is refused, since a commit keeps
    /// the link, not what it points to, and the fingerprint would never see an edit.
    fn symlink_on(&self, path: &str) -> Result<Option<(String, String)>>;

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
    fn read_object(&self, _id: ObjectId) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// The file at `path` as UTF-8 text.
    fn read_text(&self, path: &str) -> Result<Option<String>> {
        self.read(path)?
            .map(|bytes| text(self.label(), path, bytes))
            .transpose()
    }
}

/// `bytes` as UTF-8, or an error naming the file and the source.
pub fn text(label: &str, path: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{path} (at {label}) is not valid UTF-8"))
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

    fn is_executable(&self, path: &str) -> Result<bool> {
        use std::os::unix::fs::PermissionsExt as _;
        let full = self.root.join(path);
        let metadata =
            std::fs::metadata(&full).with_context(|| format!("reading {}", full.display()))?;
        Ok(metadata.permissions().mode() & 0o111 != 0)
    }

    fn symlink_on(&self, path: &str) -> Result<Option<(String, String)>> {
        for prefix in prefixes(path) {
            let full = self.root.join(prefix);
            let Ok(metadata) = std::fs::symlink_metadata(&full) else {
                return Ok(None);
            };
            if metadata.file_type().is_symlink() {
                let target = std::fs::read_link(&full)
                    .with_context(|| format!("reading the link {}", full.display()))?;
                return Ok(Some((prefix.to_owned(), target.display().to_string())));
            }
        }
        Ok(None)
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
pub fn walk_files(source: &dyn Source, dir: &str) -> Result<Vec<(String, Option<ObjectId>)>> {
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

/// `a`, `a/b`, `a/b/c` for `a/b/c`: each folder on a path, then the path.
pub fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    let ends = path.match_indices('/').map(|(i, _)| i);
    ends.chain((!path.is_empty()).then_some(path.len()))
        .map(move |end| &path[..end])
}
