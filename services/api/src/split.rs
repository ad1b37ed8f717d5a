//! Splits a migration file into its statements, for files applied one statement at a time
//! (`-- xtask:no-transaction`): PostgreSQL refuses `CREATE INDEX CONCURRENTLY` in a
//! multi-statement query string, which it runs as one implicit transaction. The image is
//! built `FROM scratch` with no C parser, so this follows PostgreSQL's lexical rules for
//! what can hide a `;`: quoted identifiers, string constants (standard, `E''` escapes),
//! dollar-quoted bodies, `--` and nested `/* */` comments. A test checks it against
//! libpg_query's own splitter on the lint's corpus (xtask/sql/tests/split.rs).

/// The statements of `sql`, trimmed, without their `;`, and without pieces that hold only
/// whitespace and comments.
pub fn statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        at = match bytes[at] {
            b';' => {
                push(&mut out, &sql[start..at]);
                start = at + 1;
                at + 1
            }
            b'\'' => quoted(bytes, at, b'\'', escapes_backslash(bytes, at)),
            b'"' => quoted(bytes, at, b'"', false),
            b'-' if bytes.get(at + 1) == Some(&b'-') => bytes[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |n| at + n),
            b'/' if bytes.get(at + 1) == Some(&b'*') => block_comment(bytes, at),
            b'$' => dollar_quoted(sql, at),
            // A word: identifiers and keywords may contain `$` (`a$b`), which opens no body.
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let word = bytes[at..].iter().position(|&b| !is_word(b));
                word.map_or(bytes.len(), |n| at + n)
            }
            _ => at + 1,
        };
    }
    push(&mut out, &sql[start..]);
    out
}

fn push<'s>(out: &mut Vec<&'s str>, piece: &'s str) {
    let piece = piece.trim();
    if !piece.is_empty() && !only_comments(piece) {
        out.push(piece);
    }
}

fn only_comments(piece: &str) -> bool {
    code(piece).is_empty()
}

/// A statement's text from its first token: leading whitespace and `--` and `/* */`
/// comments skipped.
pub fn code(statement: &str) -> &str {
    let mut rest = statement.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if rest.starts_with("/*") {
            let end = block_comment(rest.as_bytes(), 0);
            rest = rest[end.min(rest.len())..].trim_start();
        } else {
            return rest;
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// `E'…'` (and `e'…'`) strings take backslash escapes; a standard string does not
/// (`standard_conforming_strings`, on by default since PostgreSQL 9.1).
fn escapes_backslash(bytes: &[u8], quote: usize) -> bool {
    quote > 0
        && matches!(bytes[quote - 1], b'E' | b'e')
        && (quote == 1 || !(bytes[quote - 2].is_ascii_alphanumeric() || bytes[quote - 2] == b'_'))
}

/// The end of a quoted run opened at `at`: a doubled quote is part of it.
fn quoted(bytes: &[u8], at: usize, quote: u8, backslash: bool) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a `/* */` comment opened at `at`; they nest.
fn block_comment(bytes: &[u8], at: usize) -> usize {
    let (mut depth, mut i) = (0, at);
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a `$tag$ … $tag$` body opened at `at`, or `at + 1` when this `$` opens none
/// (a parameter `$1`; a `$` inside a word never gets here).
fn dollar_quoted(sql: &str, at: usize) -> usize {
    let bytes = sql.as_bytes();
    let tag_len = bytes[at + 1..]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80))
        .unwrap_or(bytes.len() - at - 1);
    let tag_end = at + 1 + tag_len;
    let starts_with_digit = bytes.get(at + 1).is_some_and(u8::is_ascii_digit);
    if starts_with_digit || bytes.get(tag_end) != Some(&b'$') {
        return at + 1;
    }
    let tag = &sql[at..=tag_end];
    sql[tag_end + 1..]
        .find(tag)
        .map_or(bytes.len(), |n| tag_end + 1 + n + tag.len())
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn semicolons_inside_quotes_bodies_and_comments_do_not_split() {
        let sql = "-- a; comment\nCREATE TABLE \"a;b\" (x text DEFAULT 'it''s; fine');\n\
                   /* outer /* nested; */ still; */ SELECT E'\\'; ';\n\
                   DO $body$ BEGIN PERFORM 1; END $body$;\n\
                   CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\
                   SELECT $1;";
        let found = statements(sql);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].ends_with("'it''s; fine')"));
        assert!(found[2].starts_with("DO $body$"));
    }
}
