//! The lint against PostgreSQL itself, on a corpus of migration files (`tests/corpus/`).
//! Each file states what it is (`-- expect: <rule>` or `-- expect: safe`) and, for an
//! unsafe one, the evidence PostgreSQL 15 must show for it (`-- evidence:`); the harness
//! applies every file as the runner does (one transaction with `lock_timeout` set, unless
//! the file says `-- xtask:no-transaction`) to a seeded schema of its own, checks the
//! evidence (or, for a safe file, that it neither failed, rewrote or scanned a table under
//! a lock that blocks writes, nor ended the runner's transaction), and only then compares
//! the lint's verdict. So a verdict is PostgreSQL's, not the lint's author's.
//!
//! Evidence, read from the migration's own session before it commits:
//! - `rewrite T`: T's `relfilenode` changed (a table rewrite);
//! - `scan T`: T was read in full (`pg_stat_get_xact_numscans`) while the transaction holds
//!   a lock on it that blocks writes (SHARE or stronger);
//! - `lock MODE T`: the transaction holds MODE on T (`pg_locks`);
//! - `error TEXT`: applying fails with TEXT in the message;
//! - `breaks QUERY`: QUERY (the running code's) works before and fails after;
//! - `escapes`: the file ended the runner's transaction (`txid_current()` changed).
//!
//! The server is `XTASK_TEST_DATABASE_URL` (default: the postgres role on 127.0.0.1:5432 with
//! password "postgres", which `.ci/run` starts). Unreachable, the test fails with how to
//! start one.

use postgres::{Client, NoTls};
use std::path::PathBuf;
use xtask_sql::corpus::Case;
use xtask_sql::NO_TRANSACTION;

const DEFAULT_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// Locks from weakest to strongest; SHARE and above block writes.
const MODES: [&str; 8] = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

/// A table the case's setup made: name, oid, relfilenode, and the weakest lock mode (an
/// index in [`MODES`]) that blocks its users.
type Table = (String, u32, u32, usize);

/// What the migration did to a table: rewritten, sequential scans, the strongest lock it
/// holds (an index in [`MODES`]), and the table's blocking mode.
type Seen = (bool, i64, Option<usize>, usize);

/// What applying a migration did, read in its session.
#[derive(Debug, Default)]
struct Observed {
    error: Option<String>,
    escaped: bool,
    tables: std::collections::BTreeMap<String, Seen>,
    broken: Vec<String>,
}

fn server_url() -> String {
    std::env::var("XTASK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn connect() -> Client {
    Client::connect(&server_url(), NoTls).unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {} ({err}); start it: pg_ctlcluster 15 main start && \
             runuser -u postgres -- psql -c \"ALTER ROLE postgres PASSWORD 'postgres'\" (or set \
             XTASK_TEST_DATABASE_URL)",
            server_url()
        )
    })
}

/// Runs `sql` one statement at a time (outside any transaction).
fn each_statement(client: &mut Client, sql: &str) -> Result<(), postgres::Error> {
    for statement in pg_query::split_with_parser(sql).expect("the corpus parses") {
        client.batch_execute(statement)?;
    }
    Ok(())
}

/// A schema of its own for `case`, seeded; returns the client (its search_path set) and
/// the pre-existing tables' (name, oid, relfilenode).
fn seed(case: &Case) -> (Client, String, Vec<Table>) {
    let mut client = connect();
    let schema = format!("lint_{}_{}", case.name, std::process::id());
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path = {schema}"))
        .unwrap();
    each_statement(&mut client, &case.setup)
        .unwrap_or_else(|e| panic!("{}: setup: {e}", case.name));
    let tables = client
        .query(
            "SELECT c.relname::text, c.oid, c.relfilenode, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), blocking(r.get(3))))
        .collect();
    (client, schema, tables)
}

/// Applies the case's migration as the runner does and reads what it did.
fn apply(case: &Case) -> Observed {
    let (mut client, schema, tables) = seed(case);
    let queries: Vec<&str> = case
        .evidence
        .iter()
        .filter_map(|e| e.strip_prefix("breaks "))
        .collect();
    for query in &queries {
        client
            .batch_execute(query)
            .unwrap_or_else(|e| panic!("{}: `{query}` fails before: {e}", case.name));
    }
    let mut observed = Observed::default();
    let baseline: std::collections::BTreeMap<String, i64> = (tables.iter())
        .map(|(name, oid, _, _)| (name.clone(), scans(&mut client, *oid)))
        .collect();
    if case.migration.trim_start().starts_with(NO_TRANSACTION) {
        observed.error = each_statement(&mut client, &case.migration)
            .err()
            .map(|e| message(&e));
    } else {
        client
            .batch_execute("BEGIN; SET LOCAL lock_timeout = '5s'")
            .unwrap();
        let before: i64 = client
            .query_one("SELECT txid_current()", &[])
            .unwrap()
            .get(0);
        match client.batch_execute(&case.migration) {
            Err(err) => {
                observed.error = Some(message(&err));
                client.batch_execute("ROLLBACK").unwrap();
            }
            Ok(()) => {
                let after: i64 = client
                    .query_one("SELECT txid_current()", &[])
                    .unwrap()
                    .get(0);
                observed.escaped = after != before;
                observed.tables = read_tables(&mut client, &tables, &baseline);
                client.batch_execute("COMMIT").unwrap();
            }
        }
    }
    if observed.tables.is_empty() && observed.error.is_none() {
        observed.tables = read_tables(&mut client, &tables, &baseline);
    }
    for query in queries {
        if client.batch_execute(query).is_err() {
            observed.broken.push(query.to_owned());
        }
    }
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
    observed
}

/// The weakest lock that blocks the relation's users: SHARE blocks a table's writers; a
/// materialized view is only read, so only ACCESS EXCLUSIVE blocks it.
fn blocking(relkind: String) -> usize {
    if relkind == "m" {
        7
    } else {
        4
    }
}

/// Sequential scans of `oid` counted so far (`pg_stat_get_xact_numscans`).
fn scans(client: &mut Client, oid: u32) -> i64 {
    client
        .query_one("SELECT pg_stat_get_xact_numscans($1)", &[&oid])
        .unwrap()
        .get(0)
}

/// For each pre-existing table: rewritten, scans in this transaction, strongest lock held.
fn read_tables(
    client: &mut Client,
    tables: &[Table],
    baseline: &std::collections::BTreeMap<String, i64>,
) -> std::collections::BTreeMap<String, Seen> {
    let mut out = std::collections::BTreeMap::new();
    for (name, oid, relfilenode, blocking) in tables {
        let now: Option<u32> = client
            .query_opt("SELECT relfilenode FROM pg_class WHERE oid = $1", &[oid])
            .unwrap()
            .map(|r| r.get(0));
        // PostgreSQL 15 counts unflushed scans of earlier transactions too: the difference
        // from the count when the migration began is the migration's.
        let scans = scans(client, *oid) - baseline.get(name).copied().unwrap_or(0);
        let held: Vec<String> = client
            .query("SELECT mode FROM pg_locks WHERE relation = $1 AND pid = pg_backend_pid() AND granted", &[oid])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let strongest = held
            .iter()
            .filter_map(|m| MODES.iter().position(|x| x == m))
            .max();
        out.insert(
            name.clone(),
            (
                now.is_some_and(|n| n != *relfilenode),
                scans,
                strongest,
                *blocking,
            ),
        );
    }
    out
}

fn message(err: &postgres::Error) -> String {
    err.as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_owned())
}

/// Whether `observed` shows `evidence`.
fn shows(observed: &Observed, evidence: &str) -> bool {
    let (kind, rest) = evidence.split_once(' ').unwrap_or((evidence, ""));
    let table = |name: &str| observed.tables.get(name).copied();
    match kind {
        "rewrite" => table(rest).is_some_and(|(rewritten, _, _, _)| rewritten),
        "scan" => table(rest)
            .is_some_and(|(_, scans, lock, blocking)| scans > 0 && lock >= Some(blocking)),
        "lock" => {
            let (mode, name) = rest.split_once(' ').unwrap();
            let wanted = MODES
                .iter()
                .position(|m| *m == mode)
                .unwrap_or_else(|| panic!("no lock mode {mode}"));
            table(name).is_some_and(|(_, _, lock, _)| lock == Some(wanted))
        }
        "error" => observed.error.as_deref().is_some_and(|e| e.contains(rest)),
        "breaks" => observed.broken.iter().any(|q| q == rest),
        "escapes" => observed.escaped,
        other => panic!("unknown evidence `{other}`"),
    }
}

/// What PostgreSQL showed that makes a migration unsafe, if anything.
fn hazards(observed: &Observed) -> Vec<String> {
    let mut found: Vec<String> = observed
        .error
        .iter()
        .map(|e| format!("error: {e}"))
        .collect();
    if observed.escaped {
        found.push("ended the runner's transaction".into());
    }
    for (name, (rewritten, scans, lock, blocking)) in &observed.tables {
        if *rewritten {
            found.push(format!("rewrote {name}"));
        }
        if *scans > 0 && *lock >= Some(*blocking) {
            found.push(format!("scanned {name} holding {}", MODES[lock.unwrap()]));
        }
    }
    found.extend(observed.broken.iter().map(|q| format!("broke `{q}`")));
    found
}

/// The rules the lint finds in a case.
fn lint(case: &Case) -> Vec<String> {
    let findings = case.lint().unwrap_or_else(|e| panic!("{}: {e}", case.name));
    findings.iter().map(|f| f.rule.id().to_owned()).collect()
}

#[test]
fn every_verdict_is_postgresqls_and_the_lint_agrees() {
    let cases =
        xtask_sql::corpus::cases(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"));
    let (mut wrong, mut disagree) = (Vec::new(), Vec::new());
    let (mut unsafe_files, mut caught, mut safe_files, mut flagged_safe) = (0, 0, 0, 0);
    for case in &cases {
        let observed = apply(case);
        let found = lint(case);
        if case.is_safe() {
            safe_files += 1;
            let hazards = hazards(&observed);
            if !hazards.is_empty() {
                disagree.push(format!(
                    "{}: declared safe, but PostgreSQL shows {hazards:?}",
                    case.name
                ));
            }
            if !found.is_empty() {
                flagged_safe += 1;
                wrong.push(format!("{}: safe, but the lint says {found:?}", case.name));
            }
        } else {
            unsafe_files += 1;
            for evidence in case.evidence.iter().filter(|e| !shows(&observed, e)) {
                disagree.push(format!(
                    "{}: PostgreSQL does not show `{evidence}`: {observed:?}",
                    case.name
                ));
            }
            caught += usize::from(!found.is_empty());
            if !found.contains(&case.expect) {
                wrong.push(format!(
                    "{}: expected {}, the lint says {found:?}",
                    case.name, case.expect
                ));
            }
        }
    }
    eprintln!("corpus: {caught}/{unsafe_files} unsafe files caught, {flagged_safe}/{safe_files} safe files flagged");
    assert!(
        disagree.is_empty(),
        "the corpus is wrong about PostgreSQL: {disagree:#?}"
    );
    assert!(
        unsafe_files >= 40 && safe_files >= 30,
        "the corpus has {unsafe_files} unsafe and {safe_files} safe files"
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The built-in functions the lint takes as non-volatile are those PostgreSQL says are:
/// every overload of each name immutable or stable in `pg_proc`.
#[test]
fn the_non_volatile_builtins_are_the_servers() {
    let mut client = connect();
    let server: Vec<String> = client
        .query(
            "SELECT proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'pg_catalog' AND p.prokind = 'f' GROUP BY proname \
             HAVING bool_and(provolatile <> 'v') ORDER BY proname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ours: Vec<&str> = xtask_sql::volatility::nonvolatile_builtins().collect();
    assert_eq!(
        ours, server,
        "regenerate src/nonvolatile.txt from this server's pg_proc"
    );
}
