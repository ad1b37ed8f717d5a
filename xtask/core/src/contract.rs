//! Expand, then contract: a migration that drops or renames a table or column runs while
//! the code that used it still serves traffic (a roll replaces it only afterwards). This
//! finds where live code names it in SQL, so the deploy can refuse until that code is gone.
//!
//! Evidence is SQL that names the table and, for a column, the column too, as whole words
//! (any case): in a Rust file, inside one string literal (so `query!` macros and
//! `format!` strings count, comments and identifiers do not); in a `.sql` file, inside one
//! statement; in any other text file, on one line. A column alone (`id`, `name`) is never
//! evidence, and a table alone counts only beside an SQL keyword (`/items` is a route).
//! An ORM's field access is not found: the check is a guard, not a proof.

use proc_macro2::{TokenStream, TokenTree};
use std::str::FromStr as _;

/// What a migration takes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub table: &'a str,
    pub column: Option<&'a str>,
}

/// The lines of `text` (the file at `path`) whose SQL uses `target`.
pub fn uses(path: &str, text: &str, target: &Target<'_>) -> Vec<usize> {
    let pieces = match path.rsplit('.').next() {
        Some("rs") => rust_literals(text).unwrap_or_else(|| lines(text)),
        Some("sql") => statements(text),
        _ => lines(text),
    };
    let mut found: Vec<usize> = (pieces.into_iter())
        .filter(|(_, piece)| names(piece, target))
        .map(|(line, _)| line)
        .collect();
    found.dedup();
    found
}

/// Whether one piece of SQL names `target`.
fn names(piece: &str, target: &Target<'_>) -> bool {
    let words: Vec<String> = piece
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |word: &str| words.iter().any(|w| w == &word.to_lowercase());
    if !has(target.table) {
        return false;
    }
    match target.column {
        Some(column) => has(column),
        None => SQL_WORDS.iter().any(|w| has(w)),
    }
}

/// Words that make a string naming a table SQL rather than a path or a label.
const SQL_WORDS: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "from",
    "join",
    "into",
    "table",
    "returning",
];

/// Each string literal of a Rust file and the line it starts on; `None` when the file
/// does not lex as Rust.
fn rust_literals(text: &str) -> Option<Vec<(usize, String)>> {
    let stream = TokenStream::from_str(text).ok()?;
    let mut found = Vec::new();
    collect(stream, &mut found);
    Some(found)
}

fn collect(stream: TokenStream, found: &mut Vec<(usize, String)>) {
    for tree in stream {
        match tree {
            TokenTree::Group(group) => collect(group.stream(), found),
            TokenTree::Literal(literal) => {
                let source = literal.to_string();
                // String literals of every kind: "..", r#".."#, b"..", c"..".
                let body = source.trim_start_matches(['r', 'b', 'c']);
                if body.starts_with('"') || body.starts_with('#') {
                    found.push((literal.span().start().line, source));
                }
            }
            TokenTree::Ident(_) | TokenTree::Punct(_) => {}
        }
    }
}

/// The statements of a SQL file (split at `;`) and the line each starts on: its first
/// line that is neither blank nor a `--` comment.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut line = 1;
    for statement in text.split_inclusive(';') {
        let code = (statement.lines().enumerate())
            .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
            .map_or(0, |(i, _)| i);
        found.push((line + code, statement.to_owned()));
        line += statement.matches('\n').count();
    }
    found
}

fn lines(text: &str) -> Vec<(usize, String)> {
    (text.lines().enumerate())
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: Target<'static> = Target {
        table: "items",
        column: Some("name"),
    };

    #[test]
    fn a_rust_string_naming_the_table_and_column_is_evidence_and_a_comment_is_not() {
        let code = r###"
// SELECT name FROM items: a comment is not code.
fn list(client: &mut Client) {
    let name = "name"; // the column alone
    let route = "/items"; // the table alone
    client.query(
        "SELECT id, name
         FROM items ORDER BY id",
        &[],
    );
    sqlx::query!(r#"UPDATE Items SET "name" = $1"#, name);
}
"###;
        assert_eq!(uses("src/main.rs", code, &NAME), [7, 11]);
        let table = Target {
            table: "items",
            column: None,
        };
        // `/items` is a route, not SQL; the queries name the table beside a keyword.
        assert_eq!(uses("src/main.rs", code, &table), [7, 11]);
        let other = Target {
            table: "items",
            column: Some("price"),
        };
        assert!(uses("src/main.rs", code, &other).is_empty());
    }

    #[test]
    fn sql_files_count_by_statement_and_other_files_by_line() {
        // A statement's line is its first of code, after its comments.
        let sql = "CREATE VIEW v AS SELECT 1;\n\n-- names\nCREATE VIEW names AS\n  SELECT name\n  FROM items;\n";
        assert_eq!(uses("views.sql", sql, &NAME), [4]);
        let python = "rows = db.execute('select name from items')\nname = 1\n";
        assert_eq!(uses("jobs.py", python, &NAME), [1]);
        // Not Rust after all: read line by line.
        assert_eq!(
            uses("broken.rs", "let x = \"select name from items\n", &NAME),
            [1]
        );
    }
}

/// One drop or rename a deploy's migrations make, and where live code still uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCode {
    /// The service whose migrations run it.
    pub service: String,
    /// The migration file and the statement's line.
    pub file: String,
    pub line: usize,
    /// What it takes away, as people say it: `drops column items.name`.
    pub what: String,
    /// The reason of its `-- xtask:allow(live-code)` comment.
    pub allowed: Option<String>,
    /// Where the live code of the services sharing the database uses it.
    pub uses: Vec<Use>,
    /// Services whose live commit this clone lacks (and a fetch could not bring): not
    /// searched.
    pub unsearched: Vec<(String, String)>,
}

/// A line of live code that uses what a migration takes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub service: String,
    /// The live commit it was found in.
    pub commit: String,
    pub path: String,
    pub line: usize,
}

impl std::fmt::Display for Use {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let commit = crate::text::short(&self.commit);
        write!(
            f,
            "{}:{} ({} at {commit})",
            self.path, self.line, self.service
        )
    }
}
