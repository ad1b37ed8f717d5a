//! A service's Docker build context as the tool sends it: the files of the context folder
//! at a commit, less what its `.dockerignore` excludes (Docker's rules: patterns relative
//! to the context root, `**` across folders, a pattern that matches a folder excludes what
//! is under it, `!` exceptions, the last matching line wins), and of those only the files
//! the Dockerfile's `COPY`/`ADD`/`RUN --mount` sources name (see [`crate::dockerfile`]).
//!
//! The deploy copies exactly these files into the context it builds from, so an image can
//! hold nothing from the repository that is not in its fingerprint, and nothing untracked.

use crate::config::Service;
use crate::dockerfile::{self, BuildArgs, ContextSource, Reading};
use crate::source::{EntryKind, Source};
use anyhow::{Context as _, Result};
use globset::{GlobBuilder, GlobMatcher};
use std::collections::BTreeSet;

/// The name of the ignore file at the context root.
pub const IGNORE_FILE: &str = ".dockerignore";

/// The rules of one `.dockerignore`.
#[derive(Debug, Default)]
pub struct Ignore {
    /// Each pattern, and whether it is an exception (`!`).
    rules: Vec<(GlobMatcher, bool)>,
    /// How many rules are exceptions.
    exceptions: usize,
}

impl Ignore {
    /// Parses `.dockerignore` text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Ignore> {
        let mut rules = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = crate::dockerfile::clean(pattern);
            rules.push((
                glob(&pattern).with_context(|| {
                    format!("{file}:{}: `{line}` is not a valid pattern", number + 1)
                })?,
                exception,
            ));
        }
        let exceptions = rules.iter().filter(|(_, exception)| *exception).count();
        Ok(Ignore { rules, exceptions })
    }

    /// Whether Docker leaves `path` (context-relative) out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (matcher, exception) in &self.rules {
            if matches_or_parent(matcher, path) {
                excluded = !exception;
            }
        }
        excluded
    }
}

/// `*` and `?` stop at `/`, as Go's `filepath.Match` (which Docker uses) does.
fn glob(pattern: &str) -> Result<GlobMatcher> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()?
        .compile_matcher())
}

/// Whether `matcher` matches `path` or one of the folders it is in.
fn matches_or_parent(matcher: &GlobMatcher, path: &str) -> bool {
    matcher.is_match(path)
        || path
            .match_indices('/')
            .any(|(at, _)| matcher.is_match(&path[..at]))
}

/// A context folder at one commit, read as far as sources need: only the part of the tree
/// under each source is walked (a plan reads every service's context at two commits).
pub struct Context<'s> {
    source: &'s dyn Source,
    /// Repository-relative (`""`: the root).
    dir: String,
    ignore: Ignore,
}

/// What a set of sources takes from a context.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// Context-relative files.
    pub files: BTreeSet<String>,
    /// Sources that name nothing in the context (Docker fails the build on them).
    pub missing: Vec<ContextSource>,
}

impl<'s> Context<'s> {
    /// The context folder `dir` (repository-relative, `""` for the root) at `source`.
    pub fn read(source: &'s dyn Source, dir: &str) -> Result<Context<'s>> {
        let ignore_path = crate::config::join(dir, IGNORE_FILE);
        let ignore = match source.read(&ignore_path)? {
            Some(bytes) => Ignore::parse(&ignore_path, &String::from_utf8_lossy(&bytes))?,
            None => Ignore::default(),
        };
        Ok(Context {
            source,
            dir: dir.to_owned(),
            ignore,
        })
    }

    /// The files `sources` copy, and the sources that copy nothing.
    pub fn take(&self, sources: &[ContextSource]) -> Result<Taken> {
        let mut taken = Taken::default();
        for source in sources {
            let excludes = source
                .excludes
                .iter()
                .map(|p| glob(p))
                .collect::<Result<Vec<_>>>()?;
            let selects = Selector::new(&source.path)?;
            let mut any = false;
            for file in self.files_under(selects.prefix())? {
                if !selects.matches(&file) {
                    continue;
                }
                any = true;
                if !excludes.iter().any(|e| matches_or_parent(e, &file)) {
                    taken.files.insert(file);
                }
            }
            if !any {
                taken.missing.push(source.clone());
            }
        }
        Ok(taken)
    }

    /// The context-relative files Docker would send from under `prefix` (a file or a
    /// folder of the context, `""` for all of it).
    fn files_under(&self, prefix: &str) -> Result<Vec<String>> {
        let full = |path: &str| {
            if path.is_empty() {
                self.dir.clone()
            } else {
                crate::config::join(&self.dir, path)
            }
        };
        let mut files = Vec::new();
        match self.source.kind(&full(prefix))? {
            None => return Ok(files),
            Some(EntryKind::File) => {
                if !self.ignore.excludes(prefix) {
                    files.push(prefix.to_owned());
                }
                return Ok(files);
            }
            Some(EntryKind::Dir) => {}
        }
        let mut pending = vec![prefix.to_owned()];
        while let Some(folder) = pending.pop() {
            let Some(entries) = self.source.list(&full(&folder))? else {
                continue;
            };
            for entry in entries {
                let path = crate::config::join(&folder, &entry.name);
                match entry.kind {
                    // As Docker does, a folder excluded with no `!` rule is not walked
                    // (`target/` holds more files than the rest of a checkout).
                    EntryKind::Dir
                        if !(self.ignore.exceptions == 0 && self.ignore.excludes(&path)) =>
                    {
                        pending.push(path)
                    }
                    EntryKind::Dir => {}
                    EntryKind::File if !self.ignore.excludes(&path) => files.push(path),
                    EntryKind::File => {}
                }
            }
        }
        Ok(files)
    }
}

/// A source path: literal (the file, or the folder's files), or a glob (files it matches,
/// and the files of folders it matches).
enum Selector {
    All,
    Literal(String),
    Glob(GlobMatcher),
}

impl Selector {
    fn new(path: &str) -> Result<Selector> {
        Ok(if path.is_empty() {
            Selector::All
        } else if crate::fingerprint::is_glob(path) {
            Selector::Glob(glob(path)?)
        } else {
            Selector::Literal(path.to_owned())
        })
    }

    /// The part of the context a match can be under.
    fn prefix(&self) -> &str {
        match self {
            Selector::All => "",
            Selector::Literal(path) => path,
            Selector::Glob(matcher) => {
                crate::fingerprint::literal_prefix(matcher.glob().glob()).trim_end_matches('/')
            }
        }
    }

    fn matches(&self, file: &str) -> bool {
        match self {
            Selector::All => true,
            Selector::Literal(path) => {
                file == path
                    || file
                        .strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            Selector::Glob(matcher) => matches_or_parent(matcher, file),
        }
    }
}

/// What a service's image build takes from the repository at one commit.
#[derive(Debug)]
pub struct ServiceContext {
    /// The context folder, repository-relative (`""`: the root).
    pub dir: String,
    /// Context-relative files of the stages the target needs: the image's inputs.
    pub used: BTreeSet<String>,
    /// Context-relative files of every stage: what the deploy puts in the context.
    pub sent: BTreeSet<String>,
    /// The Dockerfile's reading (its `cargo build`s and problems).
    pub reading: Reading,
    /// Sources of the needed stages that name nothing in the context.
    pub missing: Vec<ContextSource>,
}

impl ServiceContext {
    /// A context-relative path as a repository path.
    pub fn repo_path(&self, path: &str) -> String {
        crate::config::join(&self.dir, path)
    }
}

/// Reads `service`'s Dockerfile at `source` and resolves its sources in its context.
/// `binary` is the file the host build puts at the context root (host-built Rust
/// services): a source naming it is no repository file. `None` when the Dockerfile is not
/// at `source` (reported on its own).
pub fn of_service(
    service: &Service,
    binary: Option<&str>,
    source: &dyn Source,
) -> Result<Option<ServiceContext>> {
    let Some(bytes) = source.read(service.dockerfile.get_ref())? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut args: BuildArgs = service
        .build_args
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    // The tool passes the fingerprint at build time; no commit knows its value.
    args.insert(FINGERPRINT_ARG.to_owned(), None);
    let mut reading = dockerfile::read(&text, service.target.as_deref(), &args);
    let not_binary = |s: &ContextSource| Some(s.path.as_str()) != binary;
    reading.used.retain(not_binary);
    reading.unused.retain(not_binary);
    let dir = service.context.get_ref().clone();
    let context = Context::read(source, &dir)?;
    let used = context.take(&reading.used)?;
    let unused = context.take(&reading.unused)?;
    let mut sent = used.files.clone();
    sent.extend(unused.files);
    Ok(Some(ServiceContext {
        dir,
        used: used.files,
        sent,
        reading,
        missing: used.missing,
    }))
}

/// The build argument the tool sets to the image's fingerprint.
pub const FINGERPRINT_ARG: &str = "FINGERPRINT";

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str) -> ContextSource {
        ContextSource {
            path: path.into(),
            excludes: Vec::new(),
            line: 1,
            instruction: "COPY",
        }
    }

    #[test]
    fn dockerignore_follows_dockers_rules() {
        let ignore = Ignore::parse(
            ".dockerignore",
            "# comment\n\n*.md\n!README.md\ntarget\n**/*.tmp\n/secrets/\nconfig/*\n!config/keep.toml\n",
        )
        .unwrap();
        let excluded = |p: &str| ignore.excludes(p);
        assert!(excluded("CHANGES.md"));
        assert!(!excluded("README.md"));
        // `*` does not cross folders: `*.md` is for the root only.
        assert!(!excluded("docs/guide.md"));
        assert!(excluded("target/release/api"));
        assert!(excluded("a/b/c.tmp"));
        assert!(excluded("c.tmp"));
        assert!(excluded("secrets/key.pem"));
        assert!(excluded("config/app.toml"));
        assert!(!excluded("config/keep.toml"));
        assert!(!excluded("src/main.rs"));
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let err = Ignore::parse("svc/.dockerignore", "ok\n[unclosed\n").unwrap_err();
        assert!(
            format!("{err:#}")
                .starts_with("svc/.dockerignore:2: `[unclosed` is not a valid pattern"),
            "{err:#}"
        );
    }

    #[test]
    fn sources_take_files_folders_and_globs_and_report_what_they_miss() {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "ctx/config/app.toml",
            "ctx/config/log.toml",
            "ctx/static/index.html",
            "ctx/static/img/logo.png",
            "ctx/static/img/logo.md",
            "ctx/staticfile",
            "outside.txt",
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        let worktree = crate::source::Worktree::new(dir.path());
        let context = Context::read(&worktree, "ctx").unwrap();
        let mut folder = source("static");
        folder.excludes = vec!["**/*.md".into()];
        let taken = context
            .take(&[folder, source("config/*.toml"), source("nope.txt")])
            .unwrap();
        let files: Vec<&str> = taken.files.iter().map(String::as_str).collect();
        assert_eq!(
            files,
            [
                "config/app.toml",
                "config/log.toml",
                "static/img/logo.png",
                "static/index.html"
            ]
        );
        assert_eq!(taken.missing, [source("nope.txt")]);
        assert_eq!(context.take(&[source("")]).unwrap().files.len(), 6);
        assert_eq!(
            context.take(&[source("staticfile")]).unwrap().files.len(),
            1
        );
    }
}
