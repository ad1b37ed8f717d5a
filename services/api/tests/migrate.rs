//! `api migrate`, the compiled binary, against a real PostgreSQL server (tests/database:
//! which server, and a database of its own per test, dropped at the end, so the tests run
//! in parallel).

mod database;

use database::{redacted, with_database, Database, DEFAULT_URL};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The advisory lock key in src/migrate.rs: holding it must make `api migrate` wait.
const LOCK_KEY: i64 = 0x0061_7069_5f6d_6967;

/// `api migrate` on a test database.
trait Migrate {
    fn migrate(&self) -> Migration;
    fn spawn_migrate(&self) -> Child;
    fn recorded(&self) -> Vec<(i32, String)>;
}

impl Migrate for Database {
    /// Runs `api migrate` on this database to completion.
    fn migrate(&self) -> Migration {
        Migration::of(self.spawn_migrate().wait_with_output().unwrap())
    }

    fn spawn_migrate(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_api"))
            .arg("migrate")
            .env("DATABASE_URL", &self.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the api binary runs")
    }

    /// `(version, name)` of every row in `schema_migrations`, by version.
    fn recorded(&self) -> Vec<(i32, String)> {
        self.client()
            .query(
                "SELECT version, name FROM schema_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }
}

/// One finished `api migrate`: its exit status and what it reported on stderr.
struct Migration {
    success: bool,
    stderr: String,
}

impl Migration {
    fn of(output: Output) -> Migration {
        Migration {
            success: output.status.success(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The migrations it applied, in the order it reported them (`applying NNN_name`).
    fn applied(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|line| line.strip_prefix("applying "))
            .map(str::to_owned)
            .collect()
    }
}

/// `(version, name)` of every file in migrations/, by version, read independently of the
/// build script that embeds them.
fn migrations() -> Vec<(i32, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut all: Vec<(i32, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let (version, name) = stem.split_once('_').unwrap();
            (version.parse().unwrap(), name.to_owned())
        })
        .collect();
    all.sort();
    all
}

/// `NNN_name` of every migration, as `api migrate` reports applying them.
fn labels(migrations: &[(i32, String)]) -> Vec<String> {
    migrations
        .iter()
        .map(|(version, name)| format!("{version:03}_{name}"))
        .collect()
}

#[test]
fn first_run_applies_every_migration_in_order_and_records_it() {
    let db = Database::create("first");
    let run = db.migrate();
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.applied(), labels(&migrations()), "{}", run.stderr);
    assert_eq!(db.recorded(), migrations());
    // 001 creates items, 002 adds its description.
    assert_eq!(
        db.columns("items"),
        ["id", "name", "created_at", "description"]
    );
}

#[test]
fn second_run_applies_nothing_and_succeeds() {
    let db = Database::create("second");
    let first = db.migrate();
    assert!(first.success, "{}", first.stderr);
    let applied_at = |db: &Database| -> Vec<std::time::SystemTime> {
        db.client()
            .query(
                "SELECT applied_at FROM schema_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let before = applied_at(&db);

    let second = db.migrate();
    assert!(second.success, "{}", second.stderr);
    assert_eq!(second.applied(), Vec::<String>::new(), "{}", second.stderr);
    assert_eq!(db.recorded(), migrations());
    assert_eq!(applied_at(&db), before, "no record was rewritten");
}

#[test]
fn concurrent_runs_apply_each_migration_exactly_once() {
    let db = Database::create("concurrent");
    // All start before any finishes; without the lock they would race to create
    // schema_migrations and to apply 001.
    let children: Vec<Child> = (0..8).map(|_| db.spawn_migrate()).collect();
    let runs: Vec<Migration> = children
        .into_iter()
        .map(|child| Migration::of(child.wait_with_output().unwrap()))
        .collect();
    for run in &runs {
        assert!(run.success, "{}", run.stderr);
    }
    let mut applied: Vec<String> = runs.iter().flat_map(Migration::applied).collect();
    applied.sort();
    assert_eq!(applied, labels(&migrations()), "each applied by one run");
    assert_eq!(db.recorded(), migrations());
}

#[test]
fn a_held_advisory_lock_makes_migrate_wait() {
    let db = Database::create("lock");
    let mut holder = db.client();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .unwrap();
    let mut child = db.spawn_migrate();

    // It polls the lock (a session blocked in pg_advisory_lock would deadlock with the
    // holder's CREATE INDEX CONCURRENTLY): after a few polls it must still be waiting,
    // having done nothing.
    std::thread::sleep(Duration::from_secs(1));
    if let Some(status) = child.try_wait().unwrap() {
        panic!("api migrate finished ({status}) without waiting for the held lock");
    }
    assert_eq!(db.columns("schema_migrations"), Vec::<String>::new());

    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .unwrap();
    let run = Migration::of(child.wait_with_output().unwrap());
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("waiting for another migration run"),
        "{}",
        run.stderr
    );
    assert_eq!(db.recorded(), migrations());
}

#[test]
fn a_failing_migration_exits_nonzero_and_records_nothing() {
    let db = Database::create("failing");
    // 001 creates items, so an items table already there makes it fail.
    db.client()
        .batch_execute("CREATE TABLE items (legacy TEXT)")
        .unwrap();

    let run = db.migrate();
    assert!(!run.success, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("migration 001_create_items failed and was rolled back"),
        "{}",
        run.stderr
    );
    // The server's own message reaches the log, not just "db error".
    assert!(
        run.stderr.contains(r#"relation "items" already exists"#),
        "{}",
        run.stderr
    );
    assert_eq!(db.recorded(), Vec::new(), "nothing recorded");
    assert_eq!(db.columns("items"), ["legacy"], "002 never ran");
}

#[test]
fn a_failed_record_rolls_back_its_migration_and_a_retry_resumes() {
    let db = Database::create("rollback");
    // schema_migrations as migrate creates it, with a trigger that refuses 002's record:
    // 002's ALTER TABLE succeeds first, so only the shared transaction can undo it.
    db.client()
        .batch_execute(
            "CREATE TABLE schema_migrations (
                 version INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );
             CREATE FUNCTION refuse_002() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.version = 2 THEN RAISE EXCEPTION 'refusing 002 for the test'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_002 BEFORE INSERT ON schema_migrations
                 FOR EACH ROW EXECUTE FUNCTION refuse_002();",
        )
        .unwrap();

    let run = db.migrate();
    assert!(!run.success, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("migration 002_add_items_description failed")
            && run.stderr.contains("refusing 002 for the test"),
        "{}",
        run.stderr
    );
    assert_eq!(db.recorded(), migrations()[..1], "001 stays applied");
    assert_eq!(
        db.columns("items"),
        ["id", "name", "created_at"],
        "002's column was rolled back with its record"
    );

    db.client()
        .batch_execute("DROP TRIGGER refuse_002 ON schema_migrations")
        .unwrap();
    let retry = db.migrate();
    assert!(retry.success, "{}", retry.stderr);
    assert_eq!(
        retry.applied(),
        labels(&migrations()[1..]),
        "{}",
        retry.stderr
    );
    assert_eq!(db.recorded(), migrations());
}

#[test]
fn a_newer_version_from_a_later_build_is_left_alone() {
    let db = Database::create("newer");
    let first = db.migrate();
    assert!(first.success, "{}", first.stderr);
    // The service rolled back to this build after a later one applied its migration.
    db.client()
        .batch_execute(
            "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_a_later_build')",
        )
        .unwrap();

    let run = db.migrate();
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("9999_from_a_later_build is newer than this build"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("schema is at version 9999"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_applied_migration_under_another_name_is_refused() {
    let db = Database::create("renamed");
    let first = db.migrate();
    assert!(first.success, "{}", first.stderr);
    db.client()
        .batch_execute("UPDATE schema_migrations SET name = 'old_name' WHERE version = 1")
        .unwrap();

    let run = db.migrate();
    assert!(!run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "migration 001 was applied as `old_name` but this build calls it `create_items`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_pending_migration_older_than_an_applied_one_is_refused() {
    let db = Database::create("order");
    // 002 recorded without 001, as when two branches both numbered a migration 002.
    db.client()
        .batch_execute(
            "CREATE TABLE schema_migrations (
                 version INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );
             INSERT INTO schema_migrations (version, name) VALUES (2, 'add_items_description');",
        )
        .unwrap();

    let run = db.migrate();
    assert!(!run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "migration 001_create_items is pending but 002_add_items_description is already applied"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(run.applied(), Vec::<String>::new(), "nothing applied");
    assert_eq!(db.columns("items"), Vec::<String>::new());
}

#[test]
fn an_unreachable_database_exits_nonzero_with_the_cause() {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("migrate")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")
        .output()
        .unwrap();
    let run = Migration::of(output);
    assert!(!run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("error connecting to server: "),
        "the cause follows the kind: {}",
        run.stderr
    );
}

/// The binary users ship (static, rustls with ring) applies every migration over TLS that it
/// checked as `verify-full`, and refuses a server its CA did not sign, naming why. Oracle:
/// PostgreSQL's own TLS, a CA from `openssl`, and `pg_stat_ssl`.
#[test]
fn migrate_connects_over_verified_tls_and_refuses_a_certificate_it_cannot_trust() {
    let server = database::cluster::Cluster::start(true);
    let run = |query: String| {
        let output = Command::new(env!("CARGO_BIN_EXE_api"))
            .arg("migrate")
            .env("DATABASE_URL", server.url("localhost", &query))
            .output()
            .unwrap();
        Migration::of(output)
    };
    let refused = run(format!(
        "sslmode=verify-full&sslrootcert={}",
        server.ca("other_ca.pem")
    ));
    assert!(!refused.success, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("invalid peer certificate: UnknownIssuer")
            && !refused.stderr.contains(database::cluster::PASSWORD),
        "{}",
        refused.stderr
    );
    let applied = run(format!(
        "sslmode=verify-full&sslrootcert={}",
        server.ca("ca.pem")
    ));
    assert!(applied.success, "{}", applied.stderr);
    // libpq (psql) reads back what was applied, with the same CA: an independent client.
    let url = server.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", server.ca("ca.pem")),
    );
    let out = Command::new("psql")
        .arg(&url)
        .args(["-tAc", "SELECT count(*) FROM schema_migrations"])
        .output()
        .expect("psql is missing: `sudo apt-get install -y postgresql-client`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(n, migrations().len());
}

#[test]
fn without_database_url_migrate_exits_nonzero() {
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let run = Migration::of(output);
    assert!(!run.success);
    assert!(
        run.stderr.contains("DATABASE_URL is not set"),
        "{}",
        run.stderr
    );
}

#[test]
fn urls_name_the_test_database_and_hide_passwords() {
    assert_eq!(
        with_database(DEFAULT_URL, "t1"),
        "postgres://postgres:postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u@h?sslmode=disable", "t1"),
        "postgres://u@h/t1?sslmode=disable"
    );
    assert_eq!(
        redacted(DEFAULT_URL),
        "postgres://postgres:***@127.0.0.1:5432/postgres"
    );
    assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
}
