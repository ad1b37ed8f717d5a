//! Errors the user sees: exit codes, and diagnostics that point at a file, line and column.
//!
//! What failed is an [`crate::error::Error`]; its kind picks one of these exit codes.

use std::ops::Range;

/// Documented exit codes (see README "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Something failed that is not the user's input (I/O, git internals, a bug).
    Internal = 1,
    /// Bad flags, bad `deploy.toml`, unknown revision or unit.
    Usage = 2,
    /// A check (`cargo xtask check`) or a pre-flight check failed.
    CheckFailed = 3,
    /// Another deploy holds the environment's lock.
    LockHeld = 4,
    /// A `cargo build` or `docker build` failed.
    Build = 10,
    /// Pushing or tagging an image failed.
    Push = 11,
    /// A migration task failed (or could not run).
    Migration = 12,
    /// A rollout failed or the circuit breaker rolled it back.
    Rollout = 13,
    /// A phase did not finish within its timeout.
    Timeout = 14,
    /// A service did not pass its health check after its rollout.
    Health = 15,
    /// An app's upload, activation or invalidation failed.
    Spa = 16,
    /// An image's scan found what the environment's `scan` policy refuses: nothing rolled.
    Vulnerable = 17,
    /// Interrupted (Ctrl-C): the lock was released and the ledger says so.
    Interrupted = 130,
}

impl Exit {
    /// Every exit code, in numeric order: the README's table and `--help` list these.
    pub const ALL: [Exit; 14] = [
        Exit::Success,
        Exit::Internal,
        Exit::Usage,
        Exit::CheckFailed,
        Exit::LockHeld,
        Exit::Build,
        Exit::Push,
        Exit::Migration,
        Exit::Rollout,
        Exit::Timeout,
        Exit::Health,
        Exit::Spa,
        Exit::Vulnerable,
        Exit::Interrupted,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// A few words for `--help` (the README's table says more).
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Internal => "internal error",
            Exit::Usage => "usage or configuration error",
            Exit::CheckFailed => "a check failed",
            Exit::LockHeld => "deploy lock held",
            Exit::Build => "build failed",
            Exit::Push => "push failed",
            Exit::Migration => "migration failed",
            Exit::Rollout => "rollout failed or rolled back",
            Exit::Timeout => "timeout",
            Exit::Health => "health check failed",
            Exit::Spa => "app upload or activation failed",
            Exit::Vulnerable => "an image's scan refused the roll",
            Exit::Interrupted => "interrupted",
        }
    }

    /// Which exit a phase that failed in several ways ends with: the highest. An interrupt
    /// is the user's word; a timeout means something may still be changing in AWS, so it
    /// outranks a definite failure; the deploy's own failures outrank an internal error.
    pub fn severity(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Internal => 1,
            Exit::Usage | Exit::CheckFailed | Exit::LockHeld => 2,
            Exit::Build | Exit::Push | Exit::Migration | Exit::Rollout | Exit::Vulnerable => 3,
            Exit::Health | Exit::Spa => 4,
            Exit::Timeout => 5,
            Exit::Interrupted => 6,
        }
    }

    /// The `--help` paragraph: every code and its meaning.
    pub fn help() -> String {
        let codes: Vec<String> = Exit::ALL
            .iter()
            .map(|e| format!("{} {}", e.code(), e.meaning()))
            .collect();
        format!("Exit codes: {}.", codes.join(", "))
    }
}

/// A problem at a place in a source file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub span: Option<Range<usize>>,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Renders every diagnostic for one file, each as `error: ...` with `--> file:line:col`
/// and the offending line underlined, so all problems are reported at once.
pub fn render(origin: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

    let renderer = Renderer::plain();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let title = Level::ERROR.primary_title(&diagnostic.message);
        let group = match &diagnostic.span {
            Some(span) => title.element(
                Snippet::source(source)
                    .path(origin)
                    .annotation(AnnotationKind::Primary.span(clamp_span(source, span.clone()))),
            ),
            None => title.element(annotate_snippets::Origin::path(origin)),
        };
        let mut report: Vec<Group<'_>> = vec![group];
        if let Some(help) = &diagnostic.help {
            report.push(Group::with_title(Level::HELP.secondary_title(help)));
        }
        out.push_str(&renderer.render(&report));
        out.push('\n');
    }
    out
}

/// Keeps a span inside the text and on character boundaries (parsers may point one past the end).
fn clamp_span(source: &str, span: Range<usize>) -> Range<usize> {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// 1-based line and column of a byte offset, for messages that are not snippets.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_file_line_and_column() {
        let source = "a = 1\nname = \"x\"\n";
        let out = render(
            "deploy.toml",
            source,
            &[Diagnostic::at(6..10, "unknown field `name`").with_help("expected one of `a`")],
        );
        assert!(out.contains("deploy.toml:2:1"), "{out}");
        assert!(out.contains("unknown field `name`"), "{out}");
        assert!(out.contains("help: expected one of `a`"), "{out}");
    }

    #[test]
    fn exit_codes_are_listed_once_in_order_and_an_interrupt_outranks_every_failure() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        for exit in Exit::ALL {
            assert!(exit.severity() <= Exit::Interrupted.severity());
            assert!(!exit.meaning().is_empty());
        }
        assert!(Exit::Timeout.severity() > Exit::Rollout.severity());
        assert!(Exit::Rollout.severity() > Exit::Internal.severity());
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
