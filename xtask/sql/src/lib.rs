//! The migration lint. Each file is parsed by PostgreSQL's own grammar (libpg_query, through
//! the `pg_query` crate), and each statement is judged for what it does to a database that
//! serves traffic while a deploy rolls: the lock it takes and for how long, whether it
//! rewrites the table, and whether the code still running (or a rollback) breaks. What the
//! earlier migrations created (tables, column types, constraints) is learnt first, so a
//! judgement can depend on it: a table this file creates has no rows and no readers; a
//! type change is judged against the column's old type.
//!
//! A finding is silenced by a comment on the line above it with the rule and a reason:
//!
//! ```sql
//! -- xtask:allow(drop-column): nothing reads `legacy` since 2026-10 (#123)
//! ALTER TABLE items DROP COLUMN legacy;
//! ```
//!
//! Files run inside one transaction each (the runner's), unless their first line is
//! `-- xtask:no-transaction` (then one statement at a time).

pub mod corpus;
pub mod fuzzing;
mod judge;
mod name;
mod rules;
mod schema;
mod source;
mod types;
pub mod volatility;

pub use name::parse_name;
pub use rules::{Rule, NO_TRANSACTION};
pub use source::SyntaxError;

/// What the lint knows of the runner.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The runner sets a `lock_timeout` itself (deploy.toml says so): no file needs to.
    pub runner_lock_timeout: bool,
}

/// One hazard in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line of the statement (inside a `DO` body: the line of the statement there).
    pub line: usize,
    pub rule: Rule,
    pub message: String,
}

/// Judges migrations in version order, learning each one's schema changes.
#[derive(Debug, Default)]
pub struct Linter {
    settings: Settings,
    schema: schema::Schema,
}

impl Linter {
    pub fn new(settings: Settings) -> Linter {
        Linter {
            settings,
            schema: schema::Schema::default(),
        }
    }

    /// Learns what an applied migration did, without judging it (it ran already).
    pub fn learn(&mut self, sql: &str) -> Result<(), SyntaxError> {
        let file = source::File::parse(sql)?;
        judge::File::new(&file, &self.settings, &mut self.schema).run();
        Ok(())
    }

    /// The findings of a new migration that no comment allows, in line order; learns it too.
    pub fn lint(&mut self, sql: &str) -> Result<Vec<Finding>, SyntaxError> {
        let file = source::File::parse(sql)?;
        let found = judge::File::new(&file, &self.settings, &mut self.schema).run();
        let mut findings: Vec<Finding> = found
            .into_iter()
            .filter(|(line, rule, _)| file.allowance(*line, *rule).is_none())
            .map(|(line, rule, detail)| Finding {
                line,
                rule,
                message: format!("{detail}: {}", rule.message()),
            })
            .collect();
        findings.sort_by_key(|f| (f.line, f.rule));
        findings.dedup_by_key(|f| (f.line, f.rule));
        Ok(findings)
    }
}

/// The deploy check that old code still running does not use what a migration drops or
/// renames; `-- xtask:allow(live-code): <reason>` above the statement lets it through.
pub const LIVE_CODE: &str = "live-code";

/// A table or column a migration drops or renames (of a table it did not create): code
/// still running against the schema must no longer use it (expand, then contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contraction {
    pub line: usize,
    /// What it does: [`Rule::DropColumn`], [`Rule::RenameColumn`], [`Rule::DropTable`] or
    /// [`Rule::RenameTable`].
    pub rule: Rule,
    /// The table's name, without its schema (code names it so).
    pub table: String,
    pub column: Option<String>,
    /// The reason of a `-- xtask:allow(live-code)` comment, if the file gives one.
    pub allowed: Option<String>,
}

impl Linter {
    /// The contractions of a new migration, in line order; learns it too.
    pub fn contractions(&mut self, sql: &str) -> Result<Vec<Contraction>, SyntaxError> {
        let file = source::File::parse(sql)?;
        let found = judge::File::new(&file, &self.settings, &mut self.schema).run();
        let mut contractions: Vec<Contraction> = (found.into_iter())
            .filter_map(|(line, rule, detail)| {
                let (table, column) = match rule {
                    Rule::DropColumn | Rule::RenameColumn => {
                        let (table, column) = detail.rsplit_once('.')?;
                        (table.to_owned(), Some(column.to_owned()))
                    }
                    Rule::DropTable | Rule::RenameTable => (detail, None),
                    _ => return None,
                };
                let table = table.rsplit('.').next().unwrap_or(&table).to_owned();
                let allowed = file.allowed(line, LIVE_CODE).map(str::to_owned);
                Some(Contraction {
                    line,
                    rule,
                    table,
                    column,
                    allowed,
                })
            })
            .collect();
        contractions.sort_by_key(|c| c.line);
        contractions.dedup();
        Ok(contractions)
    }
}

/// The findings of one file judged alone (nothing learnt before it).
pub fn lint(sql: &str, settings: &Settings) -> Result<Vec<Finding>, SyntaxError> {
    Linter::new(settings.clone()).lint(sql)
}

#[cfg(test)]
mod contraction_tests {
    use super::*;

    #[test]
    fn drops_and_renames_of_existing_tables_are_contractions_with_their_allowance() {
        let sql = "CREATE TABLE fresh (a int);\n\
                   ALTER TABLE fresh DROP COLUMN a;\n\
                   ALTER TABLE app.items DROP COLUMN name;\n\
                   -- xtask:allow(live-code): nothing reads it since #12\n\
                   ALTER TABLE items RENAME COLUMN note TO notes;\n\
                   DROP TABLE legacy;\n";
        let found = Linter::default().contractions(sql).unwrap();
        let shape: Vec<(usize, Rule, &str, Option<&str>, bool)> = (found.iter())
            .map(|c| {
                let column = c.column.as_deref();
                (
                    c.line,
                    c.rule,
                    c.table.as_str(),
                    column,
                    c.allowed.is_some(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (3, Rule::DropColumn, "items", Some("name"), false),
                (5, Rule::RenameColumn, "items", Some("note"), true),
                (6, Rule::DropTable, "legacy", None, false),
            ]
        );
    }
}
