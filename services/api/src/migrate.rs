//! Forward-only schema migrations, applied in version order under a PostgreSQL advisory lock.
//!
//! Run as a one-shot ECS task before the service rolls. Each migration applies in its own
//! transaction together with its row in `schema_migrations`, so a failure leaves the schema
//! at the last fully applied version and a retry resumes there.

use postgres::{Client, NoTls};
use std::fmt;

/// `(version, name, sql)` of every file in `migrations/`, sorted by version (see build.rs).
const MIGRATIONS: &[(i32, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Advisory lock key, so concurrent migration tasks run one after another. Advisory locks
/// are per database, so tasks migrating different databases do not wait for each other.
const LOCK_KEY: i64 = 0x0061_7069_5f6d_6967; // "api_mig" in ASCII

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A migration that failed and was rolled back; the database's error is the source.
#[derive(Debug)]
struct Failed {
    version: i32,
    name: &'static str,
    source: postgres::Error,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (version, name) = (self.version, self.name);
        write!(
            f,
            "migration {version:03}_{name} failed and was rolled back"
        )
    }
}

impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub fn run(database_url: &str) -> Result<()> {
    let mut client = Client::connect(database_url, NoTls)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])?;
    let outcome = apply_pending(&mut client);
    // Unlock even after a failure; the session ending would release it too, so a failed
    // unlock must not hide the migration's own error.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
    outcome?;
    unlocked?;
    Ok(())
}

/// An applied version must carry the name this build knows it by; a version this build
/// does not know is newer (the service rolled back) and is left alone.
fn check_applied(version: i32, name: &str) -> std::result::Result<(), String> {
    match MIGRATIONS.iter().find(|(v, _, _)| *v == version) {
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

fn apply_pending(client: &mut Client) -> Result<()> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let applied = applied(client)?;
    for (version, name) in &applied {
        check_applied(*version, name)?;
    }
    let pending: Vec<_> = MIGRATIONS
        .iter()
        .filter(|(version, _, _)| !applied.iter().any(|(v, _)| v == version))
        .collect();
    // Check them all before applying any, so a refused order changes nothing.
    for (version, name, _) in &pending {
        check_order(*version, name, applied.last())?;
    }
    for &&(version, name, sql) in &pending {
        eprintln!("applying {version:03}_{name}");
        apply(client, version, name, sql).map_err(|source| Failed {
            version,
            name,
            source,
        })?;
    }
    let newest = applied.last().map_or(0, |(v, _)| *v);
    let known = MIGRATIONS.last().map_or(0, |(v, _, _)| *v);
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

/// One migration and its record, in one transaction: dropping it uncommitted rolls back both.
fn apply(
    client: &mut Client,
    version: i32,
    name: &str,
    sql: &str,
) -> std::result::Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute(sql)?;
    tx.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
        &[&version, &name],
    )?;
    tx.commit()
}
