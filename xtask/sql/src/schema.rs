//! What the migrations so far created, as far as the lint needs it: each table's columns
//! and their types, its CHECK constraints that prove a column NOT NULL and whether they are
//! validated, and the indexes built concurrently (a constraint may adopt one).

use crate::types::Type;
use std::collections::{BTreeMap, BTreeSet};

/// A table or index: schema (`public` when not written) and name, as PostgreSQL folds them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rel {
    pub schema: String,
    pub name: String,
}

impl Rel {
    pub fn of(range: &pg_query::protobuf::RangeVar) -> Rel {
        Rel::new(&range.schemaname, &range.relname)
    }

    pub fn new(schema: &str, name: &str) -> Rel {
        let schema = if schema.is_empty() { "public" } else { schema };
        Rel {
            schema: schema.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for Rel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema == "public" {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

/// A CHECK constraint of the form `col IS NOT NULL`.
#[derive(Debug, Clone)]
pub struct NotNullCheck {
    pub table: Rel,
    pub column: String,
    pub validated: bool,
}

#[derive(Debug, Default)]
pub struct Schema {
    /// Table → column → type (when the migrations declared it).
    pub tables: BTreeMap<Rel, BTreeMap<String, Type>>,
    /// Constraint name → the column it proves NOT NULL.
    pub not_null_checks: BTreeMap<String, NotNullCheck>,
    /// Indexes built with CONCURRENTLY.
    pub concurrent_indexes: BTreeSet<String>,
}

impl Schema {
    /// Whether a validated CHECK proves `column` of `table` NOT NULL (PostgreSQL 12+ then
    /// skips SET NOT NULL's scan).
    pub fn proves_not_null(&self, table: &Rel, column: &str) -> bool {
        self.not_null_checks
            .values()
            .any(|c| c.validated && &c.table == table && c.column == column)
    }

    pub fn column_type(&self, table: &Rel, column: &str) -> Option<&Type> {
        self.tables.get(table)?.get(column)
    }
}
