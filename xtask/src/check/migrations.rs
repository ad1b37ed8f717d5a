//! Migrations of every service that has them: `NNN_description.sql` names numbered 1, 2, 3…
//! with no gap or duplicate; forward only (a migration that exists at the base must not be
//! edited or deleted: databases already ran it); and no operation that breaks the code
//! still running during a rollout, unless the line before allows it with a reason:
//!
//! ```sql
//! -- xtask:allow(drop-column): nothing reads `legacy` since 2026-10 (#123)
//! ALTER TABLE items DROP COLUMN legacy;
//! ```
//!
//! The SQL is read as tokens (comments and string literals skipped), not parsed: each rule
//! matches one statement shape. New migrations are linted; those at the base ran already.

use super::{Finding, Outcome};
use crate::cli::CheckArgs;
use crate::config::{join, Config, FILE_NAME};
use crate::context::Context;
use crate::git::{self, Commit, Repo, Source, Worktree};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// Every unsafe operation: rule id, what it is, the one-line fix.
pub const UNSAFE: &[(&str, &str, &str)] = &[
    (
        "add-column-not-null",
        "ADD COLUMN … NOT NULL without a DEFAULT fails on a table with rows, and old code inserting without it breaks",
        "add a DEFAULT, or add the column nullable, backfill, then SET NOT NULL in a later migration",
    ),
    (
        "drop-column",
        "DROP COLUMN breaks the code still running (and a rollback) that reads it",
        "stop using the column in one deploy, drop it in a later one",
    ),
    (
        "drop-table",
        "DROP TABLE breaks the code still running (and a rollback) that uses it",
        "stop using the table in one deploy, drop it in a later one",
    ),
    (
        "rename-column",
        "RENAME COLUMN breaks the code still running (and a rollback) that uses the old name",
        "add the new column, write both, backfill, move reads, drop the old one later",
    ),
    (
        "rename-table",
        "RENAME TO breaks the code still running (and a rollback) that uses the old name",
        "create the new table (or a view under the old name), move, drop the old one later",
    ),
    (
        "alter-column-type",
        "ALTER COLUMN … TYPE rewrites the table under an exclusive lock and can break old code",
        "add a column of the new type, backfill, switch, drop the old one later",
    ),
    (
        "create-index-not-concurrently",
        "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
        "use CREATE INDEX CONCURRENTLY (in a migration of its own, outside a transaction)",
    ),
];

const ALLOW: &str = "xtask:allow(";

pub fn check(ctx: &Context, args: &CheckArgs) -> Result<Outcome> {
    let tree = Worktree::new(&ctx.root);
    let Some(text) = tree.read_text(FILE_NAME)? else {
        return Ok(Outcome::Failed(format!("no {FILE_NAME}")));
    };
    let Ok(config) = Config::parse(FILE_NAME, &text) else {
        return Ok(Outcome::Failed(
            "skipped: deploy.toml does not load (see its check)".into(),
        ));
    };
    let repo = Repo::open(&ctx.root)?;
    let base = match base(&repo, args.base.as_deref()) {
        Ok(base) => base,
        Err(err) => return Ok(Outcome::Failed(format!("error: {err:#}"))),
    };
    let base_snapshot = base.as_ref().map(|b| repo.snapshot(b)).transpose()?;
    if base.is_none() {
        eprintln!("note: no base (no --base, no origin/main): every migration is linted, none is checked for edits");
    }
    let mut findings = Vec::new();
    for service in &config.services {
        let Some(migrations) = &service.migrations else {
            continue;
        };
        let dir = join(service.path.get_ref(), migrations.dir.get_ref());
        let now = files(&tree, &dir)?;
        let before = match &base_snapshot {
            Some(snapshot) => files(snapshot, &dir)?,
            None => BTreeMap::new(),
        };
        findings.extend(numbering(&dir, now.keys()));
        findings.extend(forward_only(&before, &now));
        for (path, text) in now.iter().filter(|(p, _)| !before.contains_key(*p)) {
            findings.extend(lint(text).into_iter().map(|(line, rule, message)| Finding {
                file: path.clone(),
                line: Some(line),
                rule,
                message,
            }));
        }
    }
    Ok(Outcome::Findings(findings))
}

/// `--base`, else the merge base of HEAD and `origin/main` when that exists.
fn base(repo: &Repo, rev: Option<&str>) -> Result<Option<Commit>> {
    if let Some(rev) = rev {
        return repo.resolve(rev, "--base").map(Some);
    }
    let Ok(main) = repo.resolve("origin/main", "origin/main") else {
        return Ok(None);
    };
    let head = repo.resolve("HEAD", "HEAD")?;
    Ok(repo.merge_base(&head, &main))
}

/// Every `.sql` file of `dir` in `source`: path → text.
fn files(source: &dyn Source, dir: &str) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for (path, _) in git::walk_files(source, dir)? {
        if path.ends_with(".sql") {
            files.insert(path.clone(), source.read_text(&path)?.unwrap_or_default());
        }
    }
    Ok(files)
}

/// A migration's version and description from its file name.
pub fn parse_name(file: &str) -> Result<(u32, &str), String> {
    let bad = || {
        format!("`{file}` is not named `NNN_description.sql` (three or more digits, then lowercase words joined by `_`)")
    };
    let stem = file.strip_suffix(".sql").ok_or_else(bad)?;
    let (digits, description) = stem.split_once('_').ok_or_else(bad)?;
    let ok_digits = digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit());
    let ok_words = !description.is_empty()
        && description
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok_digits || !ok_words {
        return Err(bad());
    }
    let version = digits.parse().map_err(|_| bad())?;
    Ok((version, description))
}

/// Names, duplicates and gaps: versions run 1, 2, 3… in file-name order.
fn numbering<'a>(dir: &str, paths: impl Iterator<Item = &'a String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut versions: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for path in paths {
        let name = path.rsplit('/').next().unwrap_or(path);
        match parse_name(name) {
            Ok((version, _)) => versions.entry(version).or_default().push(path),
            Err(message) => findings.push(finding(path, "migration-name", message)),
        }
    }
    for (version, paths) in versions.iter().filter(|(_, p)| p.len() > 1) {
        findings.push(finding(
            paths[1],
            "migration-duplicate",
            format!("version {version:03} is also `{}`: renumber one", paths[0]),
        ));
    }
    let mut expected = 1;
    for &version in versions.keys() {
        if version != expected {
            findings.push(finding(
                dir,
                "migration-gap",
                format!("migration {expected:03} is missing: versions jump to {version:03}"),
            ));
        }
        expected = version + 1;
    }
    findings
}

/// A migration at the base ran somewhere already: it must stay as it is.
fn forward_only(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<Finding> {
    before
        .iter()
        .filter_map(|(path, text)| match now.get(path) {
            None => Some(finding(
                path,
                "migration-deleted",
                "deleted, but it exists at the base and databases ran it: restore it and add a new migration".into(),
            )),
            Some(current) if current != text => Some(finding(
                path,
                "migration-edited",
                "edited, but it exists at the base and databases ran it: restore it and put the change in a new migration".into(),
            )),
            Some(_) => None,
        })
        .collect()
}

fn finding(file: &str, rule: &'static str, message: String) -> Finding {
    Finding {
        file: file.to_owned(),
        line: None,
        rule,
        message,
    }
}

/// Every unsafe operation in `sql` not allowed by the comment on the line before:
/// `(line, rule, message)`.
pub fn lint(sql: &str) -> Vec<(usize, &'static str, String)> {
    let lines: Vec<&str> = sql.lines().collect();
    let mut out = Vec::new();
    for (line, rule) in unsafe_operations(sql) {
        let (_, what, fix) = UNSAFE
            .iter()
            .find(|(id, _, _)| *id == rule)
            .expect("every rule is in UNSAFE");
        let previous = line
            .checked_sub(2)
            .and_then(|i| lines.get(i))
            .copied()
            .unwrap_or("");
        match allowance(previous, rule) {
            Some(reason) if !reason.is_empty() => {}
            Some(_) => out.push((
                line,
                "allow-without-reason",
                format!("`{ALLOW}{rule})` needs a reason after the colon"),
            )),
            None => out.push((line, rule, format!("{what}; fix: {fix}"))),
        }
    }
    out
}

/// The reason of an allow comment for `rule` on `line`, if it is one.
fn allowance<'l>(line: &'l str, rule: &str) -> Option<&'l str> {
    let comment = line.trim().strip_prefix("--")?.trim();
    let rest = comment
        .strip_prefix(ALLOW)?
        .strip_prefix(rule)?
        .strip_prefix(')')?;
    Some(rest.trim_start().strip_prefix(':').unwrap_or("").trim())
}

/// A word (upper-cased) or a punctuation character, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    line: usize,
}

/// The tokens of `sql`: comments skipped, a string literal as one `'` token.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let skip_to = |i: &mut usize, line: &mut usize, end: &dyn Fn(usize) -> bool| {
        while *i < chars.len() && !end(*i) {
            if chars[*i] == '\n' {
                *line += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            skip_to(&mut i, &mut line, &|i| chars[i] == '\n');
        } else if c == '/' && next == Some('*') {
            i += 2;
            skip_to(&mut i, &mut line, &|i| {
                chars[i] == '*' && chars.get(i + 1) == Some(&'/')
            });
            i += 2;
        } else if c == '\'' || c == '"' {
            let start = line;
            i += 1;
            skip_to(&mut i, &mut line, &|i| chars[i] == c);
            i += 1;
            out.push(Token {
                text: if c == '"' { "IDENT".into() } else { "'".into() },
                line: start,
            });
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '$'))
            {
                i += 1;
            }
            out.push(Token {
                text: chars[start..i].iter().collect::<String>().to_uppercase(),
                line,
            });
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// `(line, rule)` of each unsafe operation, statement by statement.
fn unsafe_operations(sql: &str) -> Vec<(usize, &'static str)> {
    let tokens = tokens(sql);
    let statements: Vec<&[Token]> = tokens
        .split(|t| t.text == ";")
        .filter(|s| !s.is_empty())
        .collect();
    // An index on a table this migration creates blocks nobody.
    let created: BTreeSet<&str> = statements
        .iter()
        .filter_map(|s| table_after(s, &["CREATE", "TABLE"]))
        .collect();
    let mut found = Vec::new();
    for statement in statements {
        let words: Vec<&str> = statement.iter().map(|t| t.text.as_str()).collect();
        let line = statement[0].line;
        if words.starts_with(&["DROP", "TABLE"]) {
            found.push((line, "drop-table"));
        } else if let Some(rest) = index_creation(&words) {
            let concurrently = rest.first() == Some(&"CONCURRENTLY");
            let on = rest.iter().position(|w| *w == "ON");
            let table = on.and_then(|p| rest[p + 1..].iter().find(|w| **w != "ONLY"));
            if !concurrently && !table.is_some_and(|t| created.contains(t)) {
                found.push((line, "create-index-not-concurrently"));
            }
        } else if words.starts_with(&["ALTER", "TABLE"]) {
            found.extend(alter_table(statement));
        }
    }
    found
}

/// After `CREATE [UNIQUE] INDEX`: the rest of the statement.
fn index_creation<'w>(words: &'w [&'w str]) -> Option<&'w [&'w str]> {
    match words {
        ["CREATE", "INDEX", rest @ ..] | ["CREATE", "UNIQUE", "INDEX", rest @ ..] => Some(rest),
        _ => None,
    }
}

/// The table name after `prefix` (and `IF NOT EXISTS`, `IF EXISTS`, `ONLY`).
fn table_after<'t>(statement: &'t [Token], prefix: &[&str]) -> Option<&'t str> {
    let words: Vec<&str> = statement.iter().map(|t| t.text.as_str()).collect();
    if !words.starts_with(prefix) {
        return None;
    }
    words[prefix.len()..]
        .iter()
        .copied()
        .find(|w| !matches!(*w, "IF" | "NOT" | "EXISTS" | "ONLY"))
}

/// The unsafe actions of one `ALTER TABLE`, split on its top-level commas.
fn alter_table(statement: &[Token]) -> Vec<(usize, &'static str)> {
    let mut skip = 2;
    while statement
        .get(skip)
        .is_some_and(|t| matches!(t.text.as_str(), "IF" | "EXISTS" | "ONLY"))
    {
        skip += 1;
    }
    let mut actions: Vec<Vec<&Token>> = vec![Vec::new()];
    let mut depth = 0usize;
    for token in statement.iter().skip(skip + 1) {
        match token.text.as_str() {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            "," if depth == 0 => {
                actions.push(Vec::new());
                continue;
            }
            _ => {}
        }
        actions.last_mut().expect("never empty").push(token);
    }
    actions
        .iter()
        .filter(|a| !a.is_empty())
        .filter_map(|action| {
            let words: Vec<&str> = action.iter().map(|t| t.text.as_str()).collect();
            let not_null = words.windows(2).any(|w| w == ["NOT", "NULL"]);
            let rule = match words.as_slice() {
                ["ADD", kind, ..]
                    if matches!(
                        *kind,
                        "CONSTRAINT" | "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "EXCLUDE"
                    ) =>
                {
                    None
                }
                ["ADD", ..] if not_null && !words.contains(&"DEFAULT") => {
                    Some("add-column-not-null")
                }
                ["DROP", "CONSTRAINT", ..] => None,
                ["DROP", ..] => Some("drop-column"),
                ["RENAME", "TO", ..] => Some("rename-table"),
                ["RENAME", ..] => Some("rename-column"),
                ["ALTER", ..] if words.contains(&"TYPE") => Some("alter-column-type"),
                _ => None,
            };
            rule.map(|rule| (action[0].line, rule))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(sql: &str) -> Vec<(usize, &'static str)> {
        lint(sql).into_iter().map(|(l, r, _)| (l, r)).collect()
    }

    #[test]
    fn each_unsafe_operation_is_found_on_its_line() {
        let sql = "ALTER TABLE items ADD COLUMN sku TEXT NOT NULL;\n\
                   ALTER TABLE items DROP COLUMN legacy;\n\
                   DROP TABLE old_items;\n\
                   ALTER TABLE items RENAME COLUMN name TO title;\n\
                   ALTER TABLE items ALTER COLUMN price TYPE BIGINT;\n\
                   CREATE INDEX items_name ON items (name);\n\
                   ALTER TABLE items RENAME TO things;\n";
        assert_eq!(
            rules(sql),
            [
                (1, "add-column-not-null"),
                (2, "drop-column"),
                (3, "drop-table"),
                (4, "rename-column"),
                (5, "alter-column-type"),
                (6, "create-index-not-concurrently"),
                (7, "rename-table"),
            ]
        );
    }

    #[test]
    fn safe_forms_pass() {
        let sql = "CREATE TABLE tags (id BIGINT NOT NULL, name TEXT);\n\
                   CREATE INDEX tags_name ON tags (name);\n\
                   ALTER TABLE items ADD COLUMN sku TEXT NOT NULL DEFAULT '';\n\
                   ALTER TABLE items ADD COLUMN note TEXT;\n\
                   ALTER TABLE items ADD CONSTRAINT sku_unique UNIQUE (sku);\n\
                   ALTER TABLE items DROP CONSTRAINT sku_unique;\n\
                   CREATE INDEX CONCURRENTLY items_sku ON items (sku);\n\
                   -- DROP TABLE items; in a comment\n\
                   INSERT INTO items (name) VALUES ('DROP TABLE items');\n";
        assert_eq!(rules(sql), []);
    }

    #[test]
    fn one_alter_with_several_actions_reports_each() {
        let sql = "ALTER TABLE items\n  ADD COLUMN a INT NOT NULL,\n  DROP COLUMN b,\n  ADD COLUMN c INT;";
        assert_eq!(rules(sql), [(2, "add-column-not-null"), (3, "drop-column")]);
    }

    #[test]
    fn an_allow_comment_needs_the_rule_and_a_reason() {
        let allowed = "-- xtask:allow(drop-column): unused since #12\nALTER TABLE t DROP COLUMN x;";
        assert_eq!(rules(allowed), []);
        let no_reason = "-- xtask:allow(drop-column)\nALTER TABLE t DROP COLUMN x;";
        assert_eq!(rules(no_reason), [(2, "allow-without-reason")]);
        let other_rule = "-- xtask:allow(drop-table): no\nALTER TABLE t DROP COLUMN x;";
        assert_eq!(rules(other_rule), [(2, "drop-column")]);
    }

    #[test]
    fn names_are_numbered_without_gaps_or_duplicates() {
        assert_eq!(parse_name("001_create_items.sql"), Ok((1, "create_items")));
        for bad in [
            "1_x.sql",
            "001-x.sql",
            "001_X.sql",
            "001_.sql",
            "abc_x.sql",
            "001_x.txt",
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        let paths: Vec<String> = [
            "m/001_a.sql",
            "m/002_b.sql",
            "m/002_c.sql",
            "m/005_d.sql",
            "m/x.sql",
        ]
        .map(String::from)
        .to_vec();
        let rules: Vec<&str> = numbering("m", paths.iter())
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules,
            ["migration-name", "migration-duplicate", "migration-gap"]
        );
    }

    #[test]
    fn a_migration_of_the_base_is_neither_edited_nor_deleted() {
        let before: BTreeMap<String, String> = [("m/001_a.sql", "A"), ("m/002_b.sql", "B")]
            .map(|(p, t)| (p.into(), t.into()))
            .into();
        let now: BTreeMap<String, String> = [("m/001_a.sql", "A2"), ("m/003_c.sql", "C")]
            .map(|(p, t)| (p.into(), t.into()))
            .into();
        let found: Vec<(String, &str)> = forward_only(&before, &now)
            .into_iter()
            .map(|f| (f.file, f.rule))
            .collect();
        assert_eq!(
            found,
            [
                ("m/001_a.sql".into(), "migration-edited"),
                ("m/002_b.sql".into(), "migration-deleted")
            ]
        );
    }
}
