//! A migration file as PostgreSQL reads it: its statements (parsed by libpg_query), the
//! line each begins on (from libpg_query's scanner, so comments and quoted text are never
//! mistaken for code), its allow comments and its `-- xtask:no-transaction` directive.

use crate::rules::{Rule, NO_TRANSACTION};
use pg_query::protobuf::Token;
use pg_query::NodeEnum;

/// SQL PostgreSQL would not parse: the file cannot be judged, nor applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One statement and where it starts.
pub struct Statement<'f> {
    pub node: NodeEnum,
    pub line: usize,
    /// Its text, from its first token.
    pub text: &'f str,
}

pub struct File<'f> {
    pub sql: &'f str,
    pub statements: Vec<Statement<'f>>,
    /// The file's first line is `-- xtask:no-transaction`.
    pub no_transaction: bool,
}

impl<'f> File<'f> {
    pub fn parse(sql: &'f str) -> Result<File<'f>, SyntaxError> {
        let parsed = pg_query::parse(sql).map_err(|e| syntax_error(sql, &e))?;
        let scanned = pg_query::scan(sql).map_err(|e| syntax_error(sql, &e))?;
        let code: Vec<usize> = (scanned.tokens.iter())
            .filter(|t| {
                !matches!(
                    Token::try_from(t.token),
                    Ok(Token::SqlComment | Token::CComment)
                )
            })
            .map(|t| t.start as usize)
            .collect();
        let mut statements = Vec::new();
        for raw in parsed.protobuf.stmts {
            let Some(node) = raw.stmt.and_then(|s| s.node) else {
                continue;
            };
            let from = raw.stmt_location.max(0) as usize;
            let end = if raw.stmt_len == 0 {
                sql.len()
            } else {
                from + raw.stmt_len as usize
            };
            let start = code[code.partition_point(|&s| s < from)..]
                .first()
                .copied()
                .unwrap_or(from);
            statements.push(Statement {
                node,
                line: line_at(sql, start),
                text: &sql[start.min(end)..end],
            });
        }
        let no_transaction = sql
            .lines()
            .next()
            .is_some_and(|l| l.trim() == NO_TRANSACTION);
        Ok(File {
            sql,
            statements,
            no_transaction,
        })
    }

    /// The reason an allow comment gives for `rule` on the comment lines right above `line`.
    pub fn allowance(&self, line: usize, rule: Rule) -> Option<&'f str> {
        self.allowed(line, rule.id())
    }

    /// The reason an allow comment gives for the check named `id` (a rule's, or a deploy
    /// check's such as [`crate::LIVE_CODE`]) right above `line`.
    pub fn allowed(&self, line: usize, id: &str) -> Option<&'f str> {
        let lines: Vec<&'f str> = self.sql.lines().collect();
        let above = lines.get(..line.saturating_sub(1))?;
        above
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("--"))
            .find_map(|l| allowance(l, id))
    }
}

/// The reason in `-- xtask:allow(<id>): <reason>`, if the line is one for `id` and gives a
/// reason.
fn allowance<'l>(line: &'l str, id: &str) -> Option<&'l str> {
    let rest = line.trim_start().strip_prefix("--")?.trim_start();
    let rest = rest.strip_prefix("xtask:allow(")?;
    let (named, reason) = rest.split_once(')')?;
    let reason = reason.trim_start().strip_prefix(':')?.trim();
    (named.trim() == id && !reason.is_empty()).then_some(reason)
}

/// 1-based line of byte `offset`.
pub fn line_at(sql: &str, offset: usize) -> usize {
    sql.as_bytes()[..offset.min(sql.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// libpg_query reports a syntax error with the cursor position only in its C struct,
/// which the crate does not pass on: the line is that of the first statement that fails
/// to parse on its own.
fn syntax_error(sql: &str, error: &pg_query::Error) -> SyntaxError {
    let message = error.to_string();
    let line = pg_query::split_with_scanner(sql)
        .unwrap_or_default()
        .into_iter()
        .find(|part| pg_query::parse(part).is_err())
        .map(|part| {
            let offset = part.as_ptr() as usize - sql.as_ptr() as usize;
            let lead = part.len() - part.trim_start().len();
            line_at(sql, offset + lead)
        })
        .unwrap_or(1);
    SyntaxError { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_start_at_their_first_token_and_dollar_bodies_stay_whole() {
        let sql = "-- a comment; with a semicolon\nCREATE TABLE a (id int);\n\n/* block; */ CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql;\nDROP TABLE a;\n";
        let file = File::parse(sql).unwrap();
        let lines: Vec<usize> = file.statements.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4, 5]);
        assert!(file.statements[1].text.starts_with("CREATE FUNCTION"));
    }

    #[test]
    fn a_syntax_error_names_the_line_of_its_statement() {
        let err = File::parse("SELECT 1;\n\nALTER TABLE a ADD COLUM b int;\n")
            .err()
            .unwrap();
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn an_allow_comment_needs_the_rule_and_a_reason() {
        let sql = "-- xtask:allow(drop-column): unused since #12\n-- another comment\nALTER TABLE a DROP COLUMN b;\n-- xtask:allow(drop-column)\nALTER TABLE a DROP COLUMN c;\n";
        let file = File::parse(sql).unwrap();
        assert_eq!(
            file.allowance(3, Rule::DropColumn),
            Some("unused since #12")
        );
        assert_eq!(file.allowance(3, Rule::DropTable), None);
        assert_eq!(file.allowance(5, Rule::DropColumn), None);
    }
}
