//! What a service's Dockerfile takes from its build context, read as Docker reads it
//! (parsed by `parse-dockerfile`): the stages the build runs (the `target` stage, else the
//! last, and every stage it names through `FROM`, `COPY --from` and `RUN --mount=from=`),
//! `ARG` and `ENV` values substituted into each source, the `COPY`/`ADD` sources and
//! `RUN --mount` binds of the context, the `cargo build`s its `RUN`s start, and what cannot
//! be accounted for (a remote `ADD` without `--checksum`, a variable nobody sets).
//!
//! Pure: text in, a [`Reading`] out. [`crate::build_context`] resolves the sources against
//! a commit and `.dockerignore`.

use parse_dockerfile::{Command, Flag, Instruction, Source};
use std::collections::{BTreeMap, BTreeSet};

/// What one Dockerfile reads, for one target stage and one set of build arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Context sources of the stages the target needs: its image's inputs.
    pub used: Vec<ContextSource>,
    /// Context sources of the other stages: Docker's legacy builder runs every stage up to
    /// the target, so they must be in the context, but nothing of them reaches the image.
    pub unused: Vec<ContextSource>,
    /// The `cargo build`s (and `cargo install`s) the needed stages run.
    pub cargo: Vec<CargoBuild>,
    pub problems: Vec<Problem>,
}

/// A path or glob in the build context that an instruction copies or mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSource {
    /// Relative to the context root, cleaned (`./a/../b` is `b`, `.` is the root: `""`).
    pub path: String,
    /// `COPY --exclude` patterns (context-relative), which the copy leaves out.
    pub excludes: Vec<String>,
    pub line: usize,
    pub instruction: &'static str,
}

/// A `cargo build` a `RUN` starts, with the package selection that decides its features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoBuild {
    pub line: usize,
    /// `-p`/`--package` arguments.
    pub packages: Vec<String>,
    /// `--workspace`/`--all`, or no `-p` at all (the default members).
    pub whole_workspace: bool,
    /// `--locked`, `--frozen` or `--offline` with a lockfile: the lockfile is obeyed.
    pub locked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file does not parse.
    Syntax,
    /// The `target` stage is not in the file.
    UnknownTarget,
    /// `ADD` of a URL or git repository without `--checksum`: content the commit does not pin.
    RemoteSource,
    /// A source names a variable no `ARG` or `ENV` before it sets.
    Unresolved,
}

/// A build argument's value: known (from `deploy.toml`), or set by the tool at build time
/// with a value no commit knows (`FINGERPRINT`).
pub type BuildArgs = BTreeMap<String, Option<String>>;

/// Reads `text` for the stage `target` (`None`: the last) with `args` passed as
/// `--build-arg`s.
pub fn read(text: &str, target: Option<&str>, args: &BuildArgs) -> Reading {
    let mut reading = Reading::default();
    let parsed = match parse_dockerfile::parse(text) {
        Ok(parsed) => parsed,
        Err(err) => {
            reading.problems.push(Problem {
                kind: ProblemKind::Syntax,
                line: err.line(),
                message: format!("the Dockerfile does not parse: {err}"),
            });
            return reading;
        }
    };
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let global = global_vars(&parsed, args);
    let stages: Vec<StageView> = parsed
        .stages()
        .enumerate()
        .map(|(index, stage)| StageView::new(index, &stage))
        .collect();
    let Some(wanted) = target_index(&stages, target) else {
        reading.problems.push(Problem {
            kind: ProblemKind::UnknownTarget,
            line: 1,
            message: format!(
                "the Dockerfile has no stage `{}` (its stages: {})",
                target.unwrap_or_default(),
                stage_names(&stages)
            ),
        });
        return reading;
    };
    let mut env_of: Vec<Vars> = Vec::with_capacity(stages.len());
    let mut reads: Vec<StageReads> = Vec::with_capacity(stages.len());
    for (index, stage) in parsed.stages().enumerate() {
        let base = resolve_stage(
            &stages,
            index,
            &expand_lossy(&stage.from.image.value, &global),
        );
        // A stage built on an earlier one starts from its environment (ENV is image config).
        let inherited = base.map(|b| env_of[b].clone()).unwrap_or_default();
        let mut walk = StageWalk {
            vars: inherited,
            global: &global,
            args,
            stages: &stages,
            index,
            line: &line,
            reads: StageReads::default(),
        };
        walk.reads.deps.extend(base);
        for instruction in stage.instructions {
            walk.instruction(instruction);
        }
        env_of.push(walk.vars);
        reads.push(walk.reads);
    }
    let needed = needed_stages(wanted, &reads);
    for (index, stage) in reads.into_iter().enumerate() {
        if needed.contains(&index) {
            reading.used.extend(stage.sources);
            reading.cargo.extend(stage.cargo);
            reading.problems.extend(stage.problems);
        } else {
            reading.unused.extend(stage.sources);
        }
    }
    reading
}

/// Variable name → value; `None` for a value set only at build time.
type Vars = BTreeMap<String, Option<String>>;

/// The `ARG`s before the first `FROM`: usable in `FROM` lines, and in a stage that
/// declares them again.
fn global_vars(parsed: &parse_dockerfile::Dockerfile<'_>, args: &BuildArgs) -> Vars {
    let mut vars = Vars::new();
    for arg in parsed.global_args() {
        for (name, default) in declarations(&arg.arguments.value) {
            let value = match args.get(&name) {
                Some(given) => given.clone(),
                None => default.map(|d| expand_lossy(&d, &vars)),
            };
            vars.insert(name, value);
        }
    }
    vars
}

/// `NAME=value NAME2 ...` of an `ARG` (or `ENV`) line: each name with its value, if any.
/// `ENV NAME value` (the old form, one variable) is read too.
fn declarations(text: &str) -> Vec<(String, Option<String>)> {
    let words = shell_words(text);
    if words.len() >= 2 && !words[0].contains('=') {
        // `ENV NAME the rest is the value`: only this form has a space-separated value.
        let (name, value) = text
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or_default();
        return vec![(name.to_owned(), Some(value.trim().to_owned()))];
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (word, None),
        })
        .collect()
}

/// Shell-like words (quotes removed); a line that does not split is one word.
fn shell_words(text: &str) -> Vec<String> {
    shlex::split(text).unwrap_or_else(|| vec![text.trim().to_owned()])
}

/// A stage's name and index, to resolve `FROM`, `--from` and `target` against.
struct StageView {
    index: usize,
    /// Lowercased: stage names are case-insensitive.
    name: Option<String>,
}

impl StageView {
    fn new(index: usize, stage: &parse_dockerfile::Stage<'_, '_>) -> StageView {
        StageView {
            index,
            name: stage
                .from
                .as_
                .as_ref()
                .map(|(_, name)| name.value.to_lowercase()),
        }
    }
}

fn stage_names(stages: &[StageView]) -> String {
    let names: Vec<String> = stages
        .iter()
        .map(|s| s.name.clone().unwrap_or_else(|| s.index.to_string()))
        .collect();
    names.join(", ")
}

fn target_index(stages: &[StageView], target: Option<&str>) -> Option<usize> {
    match target {
        None => stages.len().checked_sub(1),
        Some(name) => {
            let name = name.to_lowercase();
            stages
                .iter()
                .position(|s| s.name.as_deref() == Some(name.as_str()))
        }
    }
}

/// The earlier stage `reference` names (by name or index), if it names one; else it is an
/// image.
fn resolve_stage(stages: &[StageView], before: usize, reference: &str) -> Option<usize> {
    let reference = reference.to_lowercase();
    stages[..before]
        .iter()
        .find(|s| s.name.as_deref() == Some(reference.as_str()) || s.index.to_string() == reference)
        .map(|s| s.index)
}

/// The target and every stage it needs, transitively.
fn needed_stages(target: usize, reads: &[StageReads]) -> BTreeSet<usize> {
    let mut needed = BTreeSet::new();
    let mut pending = vec![target];
    while let Some(index) = pending.pop() {
        if needed.insert(index) {
            pending.extend(reads[index].deps.iter().copied());
        }
    }
    needed
}

/// What one stage reads, before it is known whether the target needs it.
#[derive(Default)]
struct StageReads {
    deps: Vec<usize>,
    sources: Vec<ContextSource>,
    cargo: Vec<CargoBuild>,
    problems: Vec<Problem>,
}

/// Walks one stage's instructions in order, keeping its variables.
struct StageWalk<'w> {
    vars: Vars,
    global: &'w Vars,
    args: &'w BuildArgs,
    stages: &'w [StageView],
    index: usize,
    line: &'w dyn Fn(usize) -> usize,
    reads: StageReads,
}

impl StageWalk<'_> {
    fn instruction(&mut self, instruction: &Instruction<'_>) {
        match instruction {
            Instruction::Arg(arg) => self.arg(&arg.arguments.value),
            Instruction::Env(env) => {
                for (name, value) in declarations(&env.arguments.value) {
                    let value = value.and_then(|v| self.expand(&v).ok());
                    self.vars.insert(name, value);
                }
            }
            Instruction::Copy(copy) => {
                let line = (self.line)(copy.copy.span.start);
                let sources = copy.src.iter().filter_map(path_of);
                self.copy("COPY", line, &copy.options, sources);
            }
            Instruction::Add(add) => {
                let line = (self.line)(add.add.span.start);
                let (remote, local): (Vec<&str>, Vec<&str>) = add
                    .src
                    .iter()
                    .filter_map(path_of)
                    .partition(|s| is_remote(s));
                let pinned = flag(&add.options, "checksum").is_some();
                for url in remote.iter().filter(|_| !pinned) {
                    self.problem(
                        ProblemKind::RemoteSource,
                        line,
                        format!("ADD {url} fetches content the commit does not pin (add --checksum=sha256:..., or COPY a file of the repository)"),
                    );
                }
                self.copy("ADD", line, &add.options, local.into_iter());
            }
            Instruction::Run(run) => {
                let line = (self.line)(run.run.span.start);
                for mount in run
                    .options
                    .iter()
                    .filter(|f| f.name.value == "mount")
                    .filter_map(|f| f.value.as_ref())
                {
                    self.mount(line, &mount.value);
                }
                let text = match &run.arguments {
                    Command::Exec(words) => {
                        let words: Vec<&str> =
                            words.value.iter().map(|w| w.value.as_ref()).collect();
                        words.join(" ")
                    }
                    Command::Shell(text) => text.value.to_owned(),
                    _ => String::new(),
                };
                self.reads.cargo.extend(cargo_builds(&text, line));
            }
            // ONBUILD runs in images built from this one, not here.
            _ => {}
        }
    }

    /// `ARG NAME[=default]` in a stage: the build argument when given, else the default,
    /// else the global `ARG` of that name.
    fn arg(&mut self, text: &str) {
        for (name, default) in declarations(text) {
            let value = match (self.args.get(&name), default) {
                (Some(given), _) => given.clone(),
                (None, Some(default)) => self.expand(&default).ok(),
                (None, None) => self.global.get(&name).cloned().flatten(),
            };
            self.vars.insert(name, value);
        }
    }

    fn copy<'s>(
        &mut self,
        instruction: &'static str,
        line: usize,
        options: &[Flag<'_>],
        sources: impl Iterator<Item = &'s str>,
    ) {
        if let Some(from) = flag(options, "from") {
            // From a stage (a dependency) or an image: nothing from the context.
            let from = self.expand(&from).unwrap_or(from);
            self.reads
                .deps
                .extend(resolve_stage(self.stages, self.index, &from));
            return;
        }
        let excludes: Vec<String> = options
            .iter()
            .filter(|f| f.name.value == "exclude")
            .filter_map(|f| f.value.as_ref())
            .filter_map(|v| self.expand(&v.value).ok())
            .map(|v| clean(&v))
            .collect();
        for source in sources {
            match self.expand(source) {
                Ok(path) => self.reads.sources.push(ContextSource {
                    path: clean(&path),
                    excludes: excludes.clone(),
                    line,
                    instruction,
                }),
                Err(variable) => self.unresolved(line, instruction, source, &variable),
            }
        }
    }

    /// `RUN --mount=type=bind,source=...` reads the context (or a stage, with `from`).
    fn mount(&mut self, line: usize, spec: &str) {
        let fields: BTreeMap<&str, &str> = spec
            .split(',')
            .filter_map(|field| field.split_once('=').or(Some((field, ""))))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let kind = fields.get("type").copied().unwrap_or("bind");
        if let Some(from) = fields.get("from") {
            let from = self.expand(from).unwrap_or_else(|_| (*from).to_owned());
            self.reads
                .deps
                .extend(resolve_stage(self.stages, self.index, &from));
            return;
        }
        if kind != "bind" {
            return;
        }
        let source = ["source", "src"]
            .iter()
            .find_map(|k| fields.get(k))
            .copied()
            .unwrap_or(".");
        match self.expand(source) {
            Ok(path) => self.reads.sources.push(ContextSource {
                path: clean(&path),
                excludes: Vec::new(),
                line,
                instruction: "RUN --mount",
            }),
            Err(variable) => self.unresolved(line, "RUN --mount", source, &variable),
        }
    }

    fn unresolved(&mut self, line: usize, instruction: &str, source: &str, variable: &str) {
        self.problem(
            ProblemKind::Unresolved,
            line,
            format!("{instruction} {source}: no ARG or ENV before it gives `{variable}` a value this tool knows (set it in the service's `build_args`, or give the ARG a default)"),
        );
    }

    fn problem(&mut self, kind: ProblemKind, line: usize, message: String) {
        self.reads.problems.push(Problem {
            kind,
            line,
            message,
        });
    }

    fn expand(&self, word: &str) -> Result<String, String> {
        expand(word, &self.vars)
    }
}

/// The value of `--name` among an instruction's flags.
fn flag(options: &[Flag<'_>], name: &str) -> Option<String> {
    options.iter().find(|f| f.name.value == name).map(|f| {
        f.value
            .as_ref()
            .map(|v| v.value.to_string())
            .unwrap_or_default()
    })
}

fn path_of<'s>(source: &'s Source<'_>) -> Option<&'s str> {
    match source {
        Source::Path(path) => Some(path.value.as_ref()),
        // A here-document is in the Dockerfile itself.
        Source::HereDoc(_) => None,
        _ => None,
    }
}

/// `ADD` fetches URLs and git repositories.
fn is_remote(source: &str) -> bool {
    ["http://", "https://", "git@", "git://", "ssh://"]
        .iter()
        .any(|scheme| source.starts_with(scheme))
}

/// Docker's variable substitution (`$V`, `${V}`, `${V:-word}`, `${V:+word}`, `\$`): the
/// expanded word, or the name of a variable without a known value.
pub fn expand(word: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => out.push(chars.next().unwrap_or('$')),
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                out.push_str(&braced(&inner, vars)?);
            }
            '$' if chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
            {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || c == '_') {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                out.push_str(&value(&name, vars)?);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `NAME`, `NAME:-default` or `NAME:+alternative` inside `${}`.
fn braced(inner: &str, vars: &Vars) -> Result<String, String> {
    if let Some((name, default)) = inner.split_once(":-") {
        return match vars.get(name) {
            Some(Some(value)) if !value.is_empty() => Ok(value.clone()),
            Some(None) => Err(name.to_owned()),
            _ => expand(default, vars),
        };
    }
    if let Some((name, alternative)) = inner.split_once(":+") {
        return match vars.get(name) {
            Some(Some(value)) if !value.is_empty() => expand(alternative, vars),
            Some(None) => Err(name.to_owned()),
            _ => Ok(String::new()),
        };
    }
    value(inner, vars)
}

fn value(name: &str, vars: &Vars) -> Result<String, String> {
    match vars.get(name) {
        Some(Some(value)) => Ok(value.clone()),
        _ => Err(name.to_owned()),
    }
}

/// [`expand`] where an unknown variable may stay as written (image names: only a stage
/// name matters there).
fn expand_lossy(word: &str, vars: &Vars) -> String {
    expand(word, vars).unwrap_or_else(|_| word.to_owned())
}

/// A context path as Docker resolves it: relative to the root, `.` and `..` folded, never
/// above the root.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// The `cargo build`/`cargo install` commands in a `RUN`'s shell text.
fn cargo_builds(text: &str, line: usize) -> Vec<CargoBuild> {
    let mut builds = Vec::new();
    // Commands are separated by `&&`, `||`, `;`, `|` and newlines; continuations are joined.
    let joined = text.replace("\\\n", " ");
    for command in joined.split(['\n', ';', '|', '&']) {
        let words = shell_words(command);
        let Some(at) = words
            .iter()
            .position(|w| w == "cargo" || w.ends_with("/cargo"))
        else {
            continue;
        };
        let rest: Vec<&str> = words[at + 1..]
            .iter()
            .map(String::as_str)
            .skip_while(|w| w.starts_with('+'))
            .collect();
        let Some(subcommand) = rest.iter().position(|w| !w.starts_with('-')) else {
            continue;
        };
        if !matches!(rest[subcommand], "build" | "b" | "install" | "rustc") {
            continue;
        }
        builds.push(cargo_build(&rest, line));
    }
    builds
}

fn cargo_build(words: &[&str], line: usize) -> CargoBuild {
    let mut build = CargoBuild {
        line,
        packages: Vec::new(),
        whole_workspace: false,
        locked: false,
    };
    let mut words = words.iter().copied();
    while let Some(word) = words.next() {
        match word {
            "-p" | "--package" => build.packages.extend(words.next().map(str::to_owned)),
            "--workspace" | "--all" => build.whole_workspace = true,
            "--locked" | "--frozen" => build.locked = true,
            // `cargo install --path x` builds one package, and honours the lockfile
            // only with `--locked`.
            "--path" => build
                .packages
                .extend(words.next().map(|p| format!("path:{p}"))),
            word => {
                if let Some(package) = word
                    .strip_prefix("--package=")
                    .or_else(|| word.strip_prefix("-p").filter(|p| !p.is_empty()))
                {
                    build.packages.push(package.to_owned());
                }
            }
        }
    }
    if build.packages.is_empty() {
        build.whole_workspace = true;
    }
    build
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(sources: &[ContextSource]) -> Vec<&str> {
        sources.iter().map(|s| s.path.as_str()).collect()
    }

    fn args(pairs: &[(&str, Option<&str>)]) -> BuildArgs {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    /// The example's own Dockerfile: the binary, nothing else.
    #[test]
    fn the_examples_dockerfile_copies_its_binary() {
        let text = include_str!("../../../services/api/Dockerfile");
        let reading = read(text, None, &args(&[("FINGERPRINT", None)]));
        assert_eq!(paths(&reading.used), ["api"]);
        assert!(reading.problems.is_empty(), "{:?}", reading.problems);
    }

    /// A cargo-chef Dockerfile as its README writes it, for two services from one file.
    const CHEF: &str = r#"# syntax=docker/dockerfile:1
ARG RUST_VERSION=1.80
FROM lukemathwalker/cargo-chef:latest-rust-${RUST_VERSION} AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p api \
    && cargo build --release --locked --package=worker

FROM debian:bookworm-slim AS api
COPY --from=builder /app/target/release/api /usr/local/bin/api
COPY services/api/config/*.toml /etc/api/
ENTRYPOINT ["/usr/local/bin/api"]

FROM debian:bookworm-slim AS worker
COPY --from=builder /app/target/release/worker /usr/local/bin/worker
COPY ./services/worker/../worker/static /srv/static
ENTRYPOINT ["/usr/local/bin/worker"]
"#;

    #[test]
    fn a_target_stage_reads_what_it_and_the_stages_it_copies_from_read() {
        let api = read(CHEF, Some("API"), &BuildArgs::new());
        assert!(api.problems.is_empty(), "{:?}", api.problems);
        assert_eq!(paths(&api.used), ["", "", "services/api/config/*.toml"]);
        assert_eq!(paths(&api.unused), ["services/worker/static"]);
        let packages: Vec<&[String]> = api.cargo.iter().map(|c| c.packages.as_slice()).collect();
        assert_eq!(
            packages,
            [&["api".to_owned()][..], &["worker".to_owned()][..]]
        );
        assert!(api.cargo.iter().all(|c| c.locked && !c.whole_workspace));
        // The last stage is the default target.
        let last = read(CHEF, None, &BuildArgs::new());
        assert_eq!(paths(&last.used), ["", "", "services/worker/static"]);
        let missing = read(CHEF, Some("web"), &BuildArgs::new());
        assert_eq!(missing.problems[0].kind, ProblemKind::UnknownTarget);
        assert!(
            missing.problems[0]
                .message
                .contains("chef, planner, builder, api, worker"),
            "{}",
            missing.problems[0].message
        );
    }

    #[test]
    fn variables_come_from_build_args_then_defaults_then_global_args() {
        let text =
            "ARG CONF=prod\nFROM scratch\nARG CONF\nARG DIR=assets\nENV STATIC=${DIR}/static\n\
                    COPY config/$CONF.toml ${STATIC:-none} ${UNSET:-fallback} /etc/\n\
                    COPY \\$literal /x\nCOPY ${FINGERPRINT}.txt /y\n";
        let plain = read(text, None, &args(&[("FINGERPRINT", None)]));
        assert_eq!(
            paths(&plain.used),
            ["config/prod.toml", "assets/static", "fallback", "$literal"]
        );
        assert_eq!(plain.problems.len(), 1);
        assert_eq!(plain.problems[0].kind, ProblemKind::Unresolved);
        assert_eq!(plain.problems[0].line, 8);
        assert!(plain.problems[0].message.contains("`FINGERPRINT`"));
        let given = read(
            text,
            None,
            &args(&[("CONF", Some("staging")), ("DIR", Some("web"))]),
        );
        assert_eq!(
            &paths(&given.used)[..2],
            ["config/staging.toml", "web/static"]
        );
        // A global ARG not declared again in the stage is not visible there.
        let hidden = read(
            "ARG CONF=prod\nFROM scratch\nCOPY $CONF /\n",
            None,
            &BuildArgs::new(),
        );
        assert_eq!(hidden.problems[0].kind, ProblemKind::Unresolved);
    }

    #[test]
    fn remote_adds_need_a_checksum_and_heredocs_and_other_stages_read_no_context() {
        let text =
            "FROM alpine AS base\nRUN --mount=type=bind,source=scripts,target=/s /s/setup.sh\n\
                    RUN --mount=type=cache,target=/root/.cache true\n\
                    FROM base\nADD https://example.com/tool.tgz /opt/\n\
                    ADD --checksum=sha256:0123 https://example.com/pinned.tgz /opt/\n\
                    ADD git@github.com:acme/x.git /x\nADD vendor.tar.gz /vendor\n\
                    COPY <<EOF /etc/motd\nhello\nEOF\n\
                    COPY --exclude=*.md --chmod=644 docs/ /docs/\n\
                    RUN --mount=type=bind,from=base,source=/s,target=/t true\n";
        let reading = read(text, None, &BuildArgs::new());
        assert_eq!(paths(&reading.used), ["scripts", "vendor.tar.gz", "docs"]);
        assert_eq!(reading.used[2].excludes, ["*.md"]);
        let remote: Vec<usize> = reading
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::RemoteSource)
            .map(|p| p.line)
            .collect();
        assert_eq!(remote, [5, 7]);
    }

    #[test]
    fn cargo_builds_without_a_package_build_the_whole_workspace() {
        let text = "FROM rust AS b\nRUN cargo +stable build --release\n\
                    RUN [\"cargo\", \"build\", \"--workspace\", \"--locked\"]\n\
                    RUN cd /app && /usr/local/cargo/bin/cargo b -papi --frozen; echo done\n\
                    RUN cargo install --locked --path services/api\nRUN cargo test && cargo fmt\n";
        let builds = read(text, None, &BuildArgs::new()).cargo;
        let summary: Vec<(usize, bool, bool, Vec<String>)> = builds
            .into_iter()
            .map(|b| (b.line, b.whole_workspace, b.locked, b.packages))
            .collect();
        assert_eq!(
            summary,
            [
                (2, true, false, vec![]),
                (3, true, true, vec![]),
                (4, false, true, vec!["api".to_owned()]),
                (5, false, true, vec!["path:services/api".to_owned()]),
            ]
        );
    }

    #[test]
    fn a_file_that_does_not_parse_says_where() {
        let reading = read("FROM scratch\nCOPY\n", None, &BuildArgs::new());
        assert_eq!(reading.problems[0].kind, ProblemKind::Syntax);
        assert_eq!(reading.problems[0].line, 2);
    }

    #[test]
    fn paths_are_cleaned_as_docker_cleans_them() {
        assert_eq!(clean("./a/../b/"), "b");
        assert_eq!(clean("/etc/x"), "etc/x");
        assert_eq!(clean("../../x"), "x");
        assert_eq!(clean("."), "");
    }
}
