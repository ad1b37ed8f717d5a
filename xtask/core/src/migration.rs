//! The migration lint, pure: a migration's name (`NNN_description.sql`) and the operations
//! in its SQL that break the code still running during a rollout, unless the line before
//! allows it with a reason:
//!
//! ```sql
//! -- xtask:allow(drop-column): nothing reads `legacy` since 2026-10 (#123)
//! ALTER TABLE items DROP COLUMN legacy;
//! ```
//!
//! The SQL is read as tokens (comments and string literals skipped), not parsed: each rule
//! matches one statement shape. `check` (in the xtask crate) applies it to new migrations.

use std::collections::BTreeSet;

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
    fn a_name_is_a_number_and_a_snake_case_description() {
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
    }

    // The rules on a service's whole migration folder (numbering, forward only) are tested
    // beside them, in the xtask crate's `check::migrations`.
}
