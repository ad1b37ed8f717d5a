//! Forward-only schema migrations, applied in version order under a PostgreSQL advisory lock.
//!
//! Run as a one-shot ECS task before the service rolls. Each migration applies in its own
//! transaction together with its row in `schema_migrations`, so a failure leaves the schema
//! at the last fully applied version and a retry resumes there.

use postgres::{Client, NoTls};

/// `(version, name, sql)` of every file in `migrations/`, sorted by version (see build.rs).
const MIGRATIONS: &[(i32, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Advisory lock key, so concurrent migration tasks run one after another.
const LOCK_KEY: i64 = 0x0061_7069_5f6d_6967; // "api_mig" in ASCII

pub fn run(database_url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut client = Client::connect(database_url, NoTls)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])?;
    let outcome = apply_pending(&mut client);
    // Unlock even after a failure; the session ending would release it too.
    client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])?;
    outcome
}

/// An applied version must carry the name this build knows it by; a version this build
/// does not know is newer (the service rolled back) and is left alone.
fn check_applied(version: i32, name: &str) -> Result<(), String> {
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

fn apply_pending(client: &mut Client) -> Result<(), Box<dyn std::error::Error>> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let applied: Vec<(i32, String)> = client
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for (version, name) in &applied {
        check_applied(*version, name)?;
    }
    for (version, name, sql) in MIGRATIONS {
        if applied.iter().any(|(v, _)| v == version) {
            continue;
        }
        eprintln!("applying {version:03}_{name}");
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)
            .map_err(|err| format!("migration {version:03}_{name} failed: {err}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )?;
        tx.commit()?;
    }
    eprintln!(
        "schema is at version {:03}",
        MIGRATIONS.last().map_or(0, |(v, _, _)| *v)
    );
    Ok(())
}
