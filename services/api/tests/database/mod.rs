//! A database of its own for each test, on a real PostgreSQL server: shared by the
//! `api migrate` tests of the binary (tests/migrate.rs) and the runner's unit tests
//! (src/migrate.rs).
//!
//! The server is `XTASK_TEST_DATABASE_URL` (default: the postgres role on 127.0.0.1:5432 with
//! password "postgres", which `.ci/run` installs, starts and sets up). An unreachable server
//! fails the tests with how to start one: a skipped test would hide that nothing ran.

#![allow(dead_code)]

pub mod cluster;

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const DEFAULT_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database for one test; dropped (with any sessions left in it) on drop.
pub struct Database {
    pub name: String,
    pub url: String,
}

impl Database {
    pub fn create(test: &str) -> Database {
        // The process id keeps concurrent test processes apart, the counter tests that share
        // one (`cargo test`); a database left by a killed run under the same name is replaced.
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("api_{test}_{}_{n}", std::process::id());
        let mut admin = admin();
        // Two statements: a multi-statement batch is one transaction, which these refuse.
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .batch_execute(&statement)
                .unwrap_or_else(|err| panic!("creating database {name}: {}", causes(&err)));
        }
        let url = with_database(&server_url(), &name);
        Database { name, url }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.url, NoTls)
            .unwrap_or_else(|err| panic!("connecting to {}: {}", self.name, causes(&err)))
    }

    /// The columns of `table` in the public schema, by position; empty when it does not exist.
    pub fn columns(&self, table: &str) -> Vec<String> {
        self.client()
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // FORCE ends sessions a failed test left behind, e.g. a blocked `api migrate`.
        let dropped = Client::connect(&server_url(), NoTls).and_then(|mut admin| {
            admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        });
        if let Err(err) = dropped {
            eprintln!("dropping database {}: {}", self.name, causes(&err));
        }
    }
}

pub fn server_url() -> String {
    std::env::var("XTASK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A session on the server's own database, or a failure that says how to get a server.
pub fn admin() -> Client {
    let url = server_url();
    let mut config: postgres::Config = url.parse().expect("XTASK_TEST_DATABASE_URL parses");
    config.connect_timeout(Duration::from_secs(10));
    config.connect(NoTls).unwrap_or_else(|err| {
        panic!(
            "cannot reach PostgreSQL at {} ({}): {}\n\
             These tests run `api migrate` against a real server. Run `bash .ci/run`, or as \
             root: `apt-get install postgresql && pg_ctlcluster 15 main start && runuser -u \
             postgres -- psql -c \"ALTER ROLE postgres PASSWORD 'postgres'\"`; or set \
             XTASK_TEST_DATABASE_URL to a server where the user may CREATE DATABASE.",
            redacted(&url),
            if std::env::var_os("XTASK_TEST_DATABASE_URL").is_some() {
                "XTASK_TEST_DATABASE_URL"
            } else {
                "the default; XTASK_TEST_DATABASE_URL is not set"
            },
            causes(&err),
        )
    })
}

/// `url` naming database `name` instead: the path after the authority, before any query.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` with any password masked, for messages that end up in CI logs.
pub fn redacted(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('@').map(|at| scheme_end + at) {
        Some(at) => match url[scheme_end..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme_end + colon], &url[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A postgres error's kind and the server's message, which is in its source.
pub fn causes(err: &dyn std::error::Error) -> String {
    std::iter::successors(Some(err), |err| err.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
