//! Forward-only schema migrations, applied in version order under a PostgreSQL advisory lock.
//!
//! Run as a one-shot ECS task before the service rolls. Each migration applies in its own
//! transaction together with its row in `schema_migrations`, so a failure leaves the schema
//! at the last fully applied version and a retry resumes there. A file whose first line is
//! `-- xtask:no-transaction` applies one statement at a time outside any transaction (what
//! `CREATE INDEX CONCURRENTLY` needs), its record written after its last statement.
//!
//! Every statement runs with `lock_timeout` (`MIGRATION_LOCK_TIMEOUT`, default 5s), so one
//! waiting behind a long query gives up instead of queueing all traffic behind itself, and
//! is tried again (`MIGRATION_LOCK_RETRIES`, default 3, backing off from 1 s); and with
//! `statement_timeout` when `MIGRATION_STATEMENT_TIMEOUT` sets one. Before applying
//! anything it refuses a pending file with its own transaction control, and an INVALID
//! index (what a failed `CONCURRENTLY` build leaves, and `IF NOT EXISTS` then hides).
//! It connects over TLS as `DATABASE_URL`'s `sslmode` says (see `tls.rs`).

use postgres::error::SqlState;
use postgres::Client;
use std::fmt;
use std::time::Duration;

/// `(version, name, sql)` of every file in `migrations/`, sorted by version (see build.rs).
const MIGRATIONS: &[(i32, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Advisory lock key, so concurrent migration tasks run one after another. Advisory locks
/// are per database, so tasks migrating different databases do not wait for each other.
const LOCK_KEY: i64 = 0x0061_7069_5f6d_6967; // "api_mig" in ASCII

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The first line that makes the runner apply a file one statement at a time.
const NO_TRANSACTION: &str = "-- xtask:no-transaction";

/// What the task's environment sets, read once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lock_timeout: String,
    pub statement_timeout: Option<String>,
    pub lock_retries: u32,
    /// The first retry's delay; each next one doubles it.
    pub retry_delay: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let lock_retries = match var("MIGRATION_LOCK_RETRIES") {
            Some(n) => n.trim().parse().map_err(|_| {
                format!("MIGRATION_LOCK_RETRIES must be a number of retries, found `{n}`")
            })?,
            None => 3,
        };
        Ok(Settings {
            lock_timeout: var("MIGRATION_LOCK_TIMEOUT").unwrap_or_else(|| "5s".to_owned()),
            statement_timeout: var("MIGRATION_STATEMENT_TIMEOUT"),
            lock_retries,
            retry_delay: Duration::from_secs(1),
        })
    }
}

/// How a file applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One transaction with its record: all or nothing.
    Transaction,
    /// One statement at a time, each committed; the record after the last.
    Statements,
}

fn mode(sql: &str) -> Mode {
    match sql.lines().next() {
        Some(first) if first.trim() == NO_TRANSACTION => Mode::Statements,
        _ => Mode::Transaction,
    }
}

/// A migration that failed; the database's error is the source.
#[derive(Debug)]
struct Failed {
    version: i32,
    name: &'static str,
    /// Applied one statement at a time: `(the statement that failed, how many)`.
    at: Option<(usize, usize)>,
    source: postgres::Error,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (version, name) = (self.version, self.name);
        match self.at {
            None => write!(
                f,
                "migration {version:03}_{name} failed and was rolled back"
            ),
            Some((n, of)) => write!(
                f,
                "migration {version:03}_{name} (no transaction) failed at statement {n} of {of}; \
                 the {} before it stay applied and it is not recorded, so the next run applies \
                 the file again from the start: make its statements idempotent (IF NOT EXISTS), \
                 or finish it by hand",
                n - 1
            ),
        }
    }
}

impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub fn run(database_url: &str) -> Result<()> {
    let settings = Settings::from_env()?;
    let mut client = crate::tls::connect(database_url)?;
    take_lock(&mut client)?;
    let outcome = apply_pending(&mut client, MIGRATIONS, &settings);
    // Unlock even after a failure; the session ending would release it too, so a failed
    // unlock must not hide the migration's own error.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
    outcome?;
    unlocked?;
    Ok(())
}

/// Takes the advisory lock, polling: a session blocked in `pg_advisory_lock` keeps a
/// transaction open, and `CREATE INDEX CONCURRENTLY` in the session holding the lock waits
/// for every open transaction to end, so the two would deadlock (PostgreSQL ends one).
fn take_lock(client: &mut Client) -> Result<()> {
    let mut said = false;
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])?
            .get(0);
        if got {
            return Ok(());
        }
        if !said {
            eprintln!("waiting for another migration run (it holds the migration lock)");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// An applied version must carry the name this build knows it by; a version this build
/// does not know is newer (the service rolled back) and is left alone.
fn check_applied(
    migrations: &[(i32, &str, &str)],
    version: i32,
    name: &str,
) -> std::result::Result<(), String> {
    match migrations.iter().find(|(v, _, _)| *v == version) {
        Some((_, known, _)) if *known != name => Err(format!(
            "migration {version:03} was applied as `{name}` but this build calls it `{known}`"
        )),
        Some(_) => Ok(()),
        None => {
            eprintln!("migration {version:03}_{name} is newer than this build; left as is");
            Ok(())
        }
    }
}

/// Versions apply in order: a pending migration older than an applied one (two branches
/// numbered theirs alike, or one was renumbered) would run against a schema it was not
/// written for, so it needs a new number instead.
fn check_order(pending: i32, pending_name: &str, newest: Option<&(i32, String)>) -> Result<()> {
    match newest {
        Some((version, name)) if *version > pending => Err(format!(
            "migration {pending:03}_{pending_name} is pending but {version:03}_{name} is \
             already applied; renumber it after {version:03}"
        )
        .into()),
        _ => Ok(()),
    }
}

/// A file with its own BEGIN/COMMIT would end the runner's transaction early and write
/// its record outside it: refused, naming the statement.
fn check_transaction_control(version: i32, name: &str, sql: &str) -> Result<()> {
    const CONTROL: [&str; 9] = [
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
        "PREPARE TRANSACTION",
    ];
    for statement in crate::split::statements(sql) {
        let code = crate::split::code(statement).to_ascii_uppercase();
        let word = |w: &str| {
            code == w || code.starts_with(&format!("{w} ")) || code.starts_with(&format!("{w}\n"))
        };
        if let Some(found) = CONTROL.iter().find(|w| word(w)) {
            return Err(format!(
                "migration {version:03}_{name} has its own `{found}`: the runner applies each \
                 file in a transaction of its own; remove it (a file that must run outside a \
                 transaction starts with `{NO_TRANSACTION}`)"
            )
            .into());
        }
    }
    Ok(())
}

/// An INVALID index is what a CONCURRENTLY build (or drop) that failed half-way leaves;
/// the next `CREATE INDEX CONCURRENTLY IF NOT EXISTS` would skip it and leave it unusable.
fn check_invalid_indexes(client: &mut Client) -> Result<()> {
    let rows = client.query(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         ORDER BY 1",
        &[],
    )?;
    let invalid: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if invalid.is_empty() {
        return Ok(());
    }
    Err(format!(
        "index {} is INVALID (a CONCURRENTLY build or drop that failed half-way left it, and \
         `IF NOT EXISTS` would hide it): drop it with `DROP INDEX CONCURRENTLY {}`, then run \
         the migrations again",
        invalid.join(", "),
        invalid[0]
    )
    .into())
}

fn apply_pending(
    client: &mut Client,
    migrations: &'static [(i32, &'static str, &'static str)],
    settings: &Settings,
) -> Result<()> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let applied = applied(client)?;
    for (version, name) in &applied {
        check_applied(migrations, *version, name)?;
    }
    let pending: Vec<_> = migrations
        .iter()
        .filter(|(version, _, _)| !applied.iter().any(|(v, _)| v == version))
        .collect();
    // Check them all before applying any, so a refused file changes nothing.
    for (version, name, sql) in &pending {
        check_order(*version, name, applied.last())?;
        check_transaction_control(*version, name, sql)?;
    }
    check_invalid_indexes(client)?;
    for &&(version, name, sql) in &pending {
        eprintln!("applying {version:03}_{name}");
        apply(client, settings, version, name, sql)?;
    }
    let newest = applied.last().map_or(0, |(v, _)| *v);
    let known = migrations.last().map_or(0, |(v, _, _)| *v);
    eprintln!("schema is at version {:03}", newest.max(known));
    Ok(())
}

/// `(version, name)` of every applied migration, oldest first.
fn applied(client: &mut Client) -> std::result::Result<Vec<(i32, String)>, postgres::Error> {
    let rows = client.query(
        "SELECT version, name FROM schema_migrations ORDER BY version",
        &[],
    )?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

fn apply(
    client: &mut Client,
    settings: &Settings,
    version: i32,
    name: &'static str,
    sql: &str,
) -> Result<()> {
    let failed = |at, source| Failed {
        version,
        name,
        at,
        source,
    };
    match mode(sql) {
        Mode::Transaction => retrying(settings, || {
            in_transaction(client, settings, version, name, sql)
        })
        .map_err(|source| failed(None, source).into()),
        Mode::Statements => {
            timeouts(client, settings, false)?;
            let statements = crate::split::statements(sql);
            for (n, statement) in statements.iter().enumerate() {
                retrying(settings, || client.batch_execute(statement))
                    .map_err(|source| failed(Some((n + 1, statements.len())), source))?;
            }
            // A CONCURRENTLY build that failed and was retried with IF NOT EXISTS skipped
            // its INVALID index: not recorded, so the next run stops at it.
            check_invalid_indexes(client)?;
            record(client, version, name)?;
            client.batch_execute("RESET lock_timeout; RESET statement_timeout")?;
            Ok(())
        }
    }
}

/// One migration and its record, in one transaction: dropping it uncommitted rolls back both.
fn in_transaction(
    client: &mut Client,
    settings: &Settings,
    version: i32,
    name: &str,
    sql: &str,
) -> std::result::Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    timeouts(&mut tx, settings, true)?;
    tx.batch_execute(sql)?;
    record(&mut tx, version, name)?;
    tx.commit()
}

fn record(
    client: &mut impl postgres::GenericClient,
    version: i32,
    name: &str,
) -> std::result::Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
        &[&version, &name],
    )?;
    Ok(())
}

/// `lock_timeout` and `statement_timeout` for the transaction (`local`) or the session;
/// set through `set_config` so the values are parameters, never SQL text.
fn timeouts(
    client: &mut impl postgres::GenericClient,
    settings: &Settings,
    local: bool,
) -> std::result::Result<(), postgres::Error> {
    let statement = settings.statement_timeout.as_deref();
    let values = [
        ("lock_timeout", Some(settings.lock_timeout.as_str())),
        ("statement_timeout", statement),
    ];
    for (name, value) in values.into_iter().filter_map(|(n, v)| Some((n, v?))) {
        client.execute("SELECT set_config($1, $2, $3)", &[&name, &value, &local])?;
    }
    Ok(())
}

/// Runs `attempt` again after a lock timeout (SQLSTATE 55P03), backing off: the
/// migration gave up waiting behind someone's long query rather than block every query
/// behind itself, and that query may be done soon.
fn retrying(
    settings: &Settings,
    mut attempt: impl FnMut() -> std::result::Result<(), postgres::Error>,
) -> std::result::Result<(), postgres::Error> {
    let mut delay = settings.retry_delay;
    for retry in 1..=settings.lock_retries {
        match attempt() {
            Err(err) if err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                eprintln!(
                    "lock timeout ({}): another session holds a lock this migration needs; retry {retry} of {} in {delay:?}",
                    settings.lock_timeout, settings.lock_retries
                );
                std::thread::sleep(delay);
                delay *= 2;
            }
            other => return other,
        }
    }
    attempt()
}

/// The runner's own rules, each against a real PostgreSQL (tests/database picks the server).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::Database;

    fn settings() -> Settings {
        Settings {
            lock_timeout: "200ms".into(),
            statement_timeout: None,
            lock_retries: 3,
            retry_delay: Duration::from_millis(200),
        }
    }

    fn migrate(
        db: &Database,
        migrations: &'static [(i32, &'static str, &'static str)],
        settings: &Settings,
    ) -> Result<()> {
        apply_pending(&mut db.client(), migrations, settings)
    }

    fn recorded(db: &Database) -> Vec<i32> {
        let rows = db
            .client()
            .query("SELECT version FROM schema_migrations ORDER BY 1", &[])
            .unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    const TABLE: (i32, &str, &str) = (
        1,
        "create_t",
        "CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 100);",
    );

    #[test]
    fn a_no_transaction_file_builds_an_index_concurrently_and_is_recorded_after() {
        let db = Database::create("unit_notx");
        const M: &[(i32, &str, &str)] = &[
            TABLE,
            (2, "index_t", "-- xtask:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_a2 ON t ((a * 2));\n"),
        ];
        migrate(&db, M, &settings()).unwrap();
        assert_eq!(recorded(&db), [1, 2]);
        let valid: i64 = db
            .client()
            .query_one(
                "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND indisvalid",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(valid, 2);
    }

    #[test]
    fn a_no_transaction_file_that_fails_half_way_says_what_stays_and_is_not_recorded() {
        let db = Database::create("unit_partial");
        const M: &[(i32, &str, &str)] = &[
            TABLE,
            (2, "half", "-- xtask:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nSELECT no_such_function();\nCREATE INDEX CONCURRENTLY t_b ON t (a);\n"),
        ];
        let err = migrate(&db, M, &settings()).unwrap_err().to_string();
        assert!(
            err.contains("failed at statement 2 of 3")
                && err.contains("the 1 before it stay applied"),
            "{err}"
        );
        assert_eq!(recorded(&db), [1]);
    }

    #[test]
    fn a_file_with_its_own_commit_is_refused_before_anything_applies() {
        let db = Database::create("unit_commit");
        const M: &[(i32, &str, &str)] = &[
            TABLE,
            (
                2,
                "own_tx",
                "BEGIN;\nALTER TABLE t ADD COLUMN b int;\nCOMMIT;\n",
            ),
        ];
        let err = migrate(&db, M, &settings()).unwrap_err().to_string();
        assert!(err.contains("002_own_tx has its own `BEGIN`"), "{err}");
        assert_eq!(recorded(&db), Vec::<i32>::new());
        assert_eq!(db.columns("t"), Vec::<String>::new(), "not even 001 ran");
    }

    /// A long query holds a lock the migration needs: the migration gives up after
    /// `lock_timeout` (SQLSTATE 55P03) instead of queueing every query behind itself, and
    /// is tried again; once the query ends, a retry applies it.
    const ADD_B: &[(i32, &str, &str)] = &[TABLE, (2, "add_b", "ALTER TABLE t ADD COLUMN b int;")];

    /// A database where 001 made table `t`, and another session that reads `t` in a
    /// transaction it keeps open (a long query): its lock blocks `ALTER TABLE t`.
    fn table_being_read(name: &str) -> (Database, postgres::Client) {
        let db = Database::create(name);
        const M: &[(i32, &str, &str)] = &[TABLE];
        migrate(&db, M, &settings()).unwrap();
        let mut reader = db.client();
        reader
            .batch_execute("BEGIN; SELECT count(*) FROM t")
            .unwrap();
        (db, reader)
    }

    /// The database's own error under a migration's.
    fn database_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> &'e postgres::Error {
        err.source()
            .and_then(|s| s.downcast_ref::<postgres::Error>())
            .expect("the database's error")
    }

    /// A long query holds a lock the migration needs: the migration gives up after
    /// `lock_timeout` (SQLSTATE 55P03) instead of queueing every query behind itself, and
    /// is tried again; once the query ends, a retry applies it.
    #[test]
    fn a_lock_timeout_is_retried_until_the_blocking_query_ends() {
        let (db, mut reader) = table_being_read("unit_retry");
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            reader.batch_execute("COMMIT").unwrap();
        });
        migrate(&db, ADD_B, &settings()).unwrap();
        released.join().unwrap();
        assert_eq!(recorded(&db), [1, 2]);
    }

    #[test]
    fn a_lock_held_past_every_retry_fails_with_the_lock_timeout_and_records_nothing() {
        let (db, mut reader) = table_being_read("unit_giveup");
        let once = Settings {
            lock_retries: 1,
            ..settings()
        };
        let err = migrate(&db, ADD_B, &once).unwrap_err();
        let code = database_error(&*err).code();
        assert_eq!(code, Some(&SqlState::LOCK_NOT_AVAILABLE), "{err}");
        assert_eq!(recorded(&db), [1]);
        reader.batch_execute("COMMIT").unwrap();
    }

    #[test]
    fn a_statement_timeout_stops_a_statement_that_runs_too_long() {
        let db = Database::create("unit_stmt");
        const M: &[(i32, &str, &str)] = &[(1, "slow", "SELECT pg_sleep(2);")];
        let short = Settings {
            statement_timeout: Some("100ms".into()),
            ..settings()
        };
        let err = migrate(&db, M, &short).unwrap_err();
        let code = database_error(&*err).code();
        assert_eq!(code, Some(&SqlState::QUERY_CANCELED), "{err}");
    }

    /// Every fix the lint advises applies through this runner: each safe file of the lint's
    /// corpus (xtask/sql/tests/corpus, the advised forms of every rule), on a schema of its
    /// own seeded with the corpus's base and the case's setup as an earlier migration.
    #[test]
    fn every_safe_file_of_the_lint_corpus_applies_through_the_runner() {
        let db = Database::create("unit_corpus");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/sql/tests/corpus");
        let base = std::fs::read_to_string(format!("{dir}/base.schema")).unwrap();
        let mut applied = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            if !text.lines().any(|l| l == "-- expect: safe") {
                continue;
            }
            let setup: String = text
                .lines()
                .filter_map(|l| l.strip_prefix("-- setup: "))
                .map(|l| format!("{l}\n"))
                .collect();
            let migration: String = text
                .lines()
                .filter(|l| !l.starts_with("-- setup: ") && !l.starts_with("-- expect: "))
                .map(|l| format!("{l}\n"))
                .collect();
            // 'static for the runner's list, as the embedded migrations are.
            let seed: &'static str =
                Box::leak(format!("{NO_TRANSACTION}\n{base}{setup}").into_boxed_str());
            let migration: &'static str = Box::leak(migration.into_boxed_str());
            let list: &'static [(i32, &'static str, &'static str)] =
                Box::leak(vec![(1, "seed", seed), (2, "case", migration)].into_boxed_slice());
            let mut client = db.client();
            let schema = format!("case_{applied}");
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA {schema}; SET search_path = {schema}"
                ))
                .unwrap();
            apply_pending(&mut client, list, &settings())
                .unwrap_or_else(|e| panic!("{migration}: {e}"));
            applied += 1;
        }
        assert!(applied >= 30, "{applied} safe files");
    }

    /// A unique index built CONCURRENTLY over duplicates fails and stays INVALID; the next
    /// run names it and how to drop it, before applying anything.
    #[test]
    fn an_invalid_index_a_failed_concurrent_build_left_is_reported_on_the_next_run() {
        let db = Database::create("unit_invalid");
        const M: &[(i32, &str, &str)] = &[
            (1, "dups", "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1);"),
            (2, "unique", "-- xtask:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n"),
        ];
        let first = migrate(&db, M, &settings()).unwrap_err().to_string();
        assert!(
            first.contains("002_unique (no transaction) failed at statement 1 of 1"),
            "{first}"
        );
        let next = migrate(&db, M, &settings()).unwrap_err().to_string();
        assert!(
            next.contains("index public.t_a is INVALID")
                && next.contains("DROP INDEX CONCURRENTLY public.t_a"),
            "{next}"
        );
        assert_eq!(recorded(&db), [1]);
    }
}
