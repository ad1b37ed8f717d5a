//! The rules: what each hazard is, in PostgreSQL's terms, and the fix its message names.
//! Each is grounded in a test that applies its bad and its good example to a real
//! PostgreSQL (xtask/tests/it/migration_lint.rs).

/// One hazard the lint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    AddColumnNotNull,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    AlterColumnType,
    TableRewrite,
    VolatileDefault,
    AddSerialColumn,
    AddStoredGenerated,
    SetNotNull,
    ConstraintNotValid,
    ValidateSameTransaction,
    UniqueNotUsingIndex,
    CreateIndexNotConcurrently,
    DropIndexNotConcurrently,
    ReindexNotConcurrently,
    VacuumFull,
    Cluster,
    LockTable,
    Truncate,
    EnumValueUsed,
    BackfillWithDdl,
    TransactionControl,
    NeedsNoTransaction,
    LockTimeout,
    RefreshNotConcurrently,
}

/// The directive that makes the runner apply a file outside a transaction, one statement
/// at a time (services/api/src/migrate.rs).
pub const NO_TRANSACTION: &str = "-- xtask:no-transaction";

impl Rule {
    pub const ALL: [Rule; 27] = [
        Rule::AddColumnNotNull,
        Rule::DropColumn,
        Rule::DropTable,
        Rule::RenameColumn,
        Rule::RenameTable,
        Rule::AlterColumnType,
        Rule::TableRewrite,
        Rule::VolatileDefault,
        Rule::AddSerialColumn,
        Rule::AddStoredGenerated,
        Rule::SetNotNull,
        Rule::ConstraintNotValid,
        Rule::ValidateSameTransaction,
        Rule::UniqueNotUsingIndex,
        Rule::CreateIndexNotConcurrently,
        Rule::DropIndexNotConcurrently,
        Rule::ReindexNotConcurrently,
        Rule::VacuumFull,
        Rule::Cluster,
        Rule::LockTable,
        Rule::Truncate,
        Rule::EnumValueUsed,
        Rule::BackfillWithDdl,
        Rule::TransactionControl,
        Rule::NeedsNoTransaction,
        Rule::LockTimeout,
        Rule::RefreshNotConcurrently,
    ];

    /// The id an allow comment names: `-- xtask:allow(<id>): reason`.
    pub fn id(self) -> &'static str {
        self.text().0
    }

    /// What goes wrong, then what to do instead.
    pub fn message(self) -> String {
        let (_, hazard, fix) = self.text();
        format!("{hazard}; fix: {fix}")
    }

    fn text(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Rule::AddColumnNotNull => ("add-column-not-null", "ADD COLUMN … NOT NULL without a DEFAULT fails on a table with rows, and old code inserting without it breaks", "add a DEFAULT, or add the column nullable, backfill, then SET NOT NULL in a later migration"),
            Rule::DropColumn => ("drop-column", "DROP COLUMN breaks the code still running (and a rollback) that reads it", "stop using the column in one deploy, drop it in a later one"),
            Rule::DropTable => ("drop-table", "DROP TABLE breaks the code still running (and a rollback) that uses it", "stop using the table in one deploy, drop it in a later one"),
            Rule::RenameColumn => ("rename-column", "RENAME COLUMN breaks the code still running (and a rollback) that uses the old name", "add the new column, write both, backfill, move reads, drop the old one later"),
            Rule::RenameTable => ("rename-table", "RENAME TO breaks the code still running (and a rollback) that uses the old name", "create the new table (or a view under the old name), move, drop the old one later"),
            Rule::AlterColumnType => ("alter-column-type", "ALTER COLUMN … TYPE to a type that is not binary-coercible rewrites the table under an ACCESS EXCLUSIVE lock", "add a column of the new type, backfill it in batches, switch, drop the old one later (widening varchar or numeric, or varchar to text, is fine)"),
            Rule::TableRewrite => ("table-rewrite", "SET TABLESPACE / SET LOGGED / SET UNLOGGED / SET ACCESS METHOD rewrite the table under an ACCESS EXCLUSIVE lock", "do it in a maintenance window, or build a new table and move to it"),
            Rule::VolatileDefault => ("volatile-default", "ADD COLUMN with a volatile DEFAULT (gen_random_uuid(), random(), clock_timestamp(), nextval(), a user function) rewrites the table under an ACCESS EXCLUSIVE lock", "add the column without a default (or with a constant one), SET DEFAULT in the next statement, and backfill existing rows in batches"),
            Rule::AddSerialColumn => ("add-serial-column", "ADD COLUMN serial/bigserial or GENERATED … AS IDENTITY fills every row: a table rewrite under an ACCESS EXCLUSIVE lock", "add a plain nullable integer column, attach a sequence as its DEFAULT, and backfill in batches"),
            Rule::AddStoredGenerated => ("add-stored-generated", "ADD COLUMN … GENERATED ALWAYS AS (…) STORED computes every row: a table rewrite under an ACCESS EXCLUSIVE lock", "add a plain column filled by a trigger and a batched backfill, or compute it in a view"),
            Rule::SetNotNull => ("set-not-null", "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock", "first ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL (PostgreSQL skips the scan) and drop the check"),
            Rule::ConstraintNotValid => ("constraint-not-valid", "ADD CONSTRAINT … FOREIGN KEY / CHECK without NOT VALID scans the table under a lock that blocks writes", "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (it takes a SHARE UPDATE EXCLUSIVE lock only)"),
            Rule::ValidateSameTransaction => ("validate-same-transaction", "VALIDATE CONSTRAINT in the same transaction as its ADD … NOT VALID keeps the ADD's lock through the whole scan", "VALIDATE in a later migration, or mark this file `-- xtask:no-transaction`"),
            Rule::UniqueNotUsingIndex => ("unique-not-using-index", "ADD PRIMARY KEY / UNIQUE / EXCLUDE builds its index under an ACCESS EXCLUSIVE lock", "CREATE UNIQUE INDEX CONCURRENTLY in a `-- xtask:no-transaction` migration, then ADD CONSTRAINT … USING INDEX"),
            Rule::CreateIndexNotConcurrently => ("create-index-not-concurrently", "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds", "use CREATE INDEX CONCURRENTLY in a migration marked `-- xtask:no-transaction`"),
            Rule::DropIndexNotConcurrently => ("drop-index-not-concurrently", "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table", "use DROP INDEX CONCURRENTLY in a migration marked `-- xtask:no-transaction`"),
            Rule::ReindexNotConcurrently => ("reindex-not-concurrently", "REINDEX without CONCURRENTLY blocks writes to the table (and reads through the index)", "use REINDEX … CONCURRENTLY in a migration marked `-- xtask:no-transaction`"),
            Rule::VacuumFull => ("vacuum-full", "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock", "leave it to autovacuum, or use pg_repack outside the deploy"),
            Rule::Cluster => ("cluster", "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock", "leave it out of migrations (pg_repack can do it online)"),
            Rule::LockTable => ("lock-table", "LOCK TABLE holds a lock that blocks the running code until the migration commits", "drop the explicit lock; let each statement take the lock it needs"),
            Rule::Truncate => ("truncate", "TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock, and the running code still reads them", "delete in batches, or drop the table in a later deploy once nothing uses it"),
            Rule::EnumValueUsed => ("enum-value-used", "a new enum value cannot be used in the transaction that adds it (PostgreSQL: unsafe use of new value)", "add the value in its own migration and use it in a later one"),
            Rule::BackfillWithDdl => ("backfill-with-ddl", "UPDATE/DELETE in the same transaction as DDL on that table holds the DDL's ACCESS EXCLUSIVE lock for the whole backfill", "backfill in a migration of its own (in batches), after the DDL's migration"),
            Rule::TransactionControl => ("transaction-control", "BEGIN/COMMIT/ROLLBACK/SAVEPOINT in a migration ends the runner's transaction early: the migration's record is written outside it", "remove it: the runner wraps each file in a transaction; mark the file `-- xtask:no-transaction` to run outside one"),
            Rule::NeedsNoTransaction => ("needs-no-transaction", "this statement cannot run inside a transaction block, and the runner wraps each file in one", "put it in a migration of its own whose first line is `-- xtask:no-transaction`"),
            Rule::RefreshNotConcurrently => ("refresh-not-concurrently", "REFRESH MATERIALIZED VIEW without CONCURRENTLY locks the view ACCESS EXCLUSIVE while it recomputes: every read of it waits", "REFRESH MATERIALIZED VIEW CONCURRENTLY (the view needs a unique index)"),
            Rule::LockTimeout => ("lock-timeout", "an ACCESS EXCLUSIVE lock without lock_timeout waits behind any long query, and every query on the table queues behind it", "SET lock_timeout = '5s' at the top of the file, or declare the runner's own in deploy.toml (`[services.<name>.migrations] lock_timeout`)"),
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}
