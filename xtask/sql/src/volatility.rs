//! Which functions may appear in a column DEFAULT without a table rewrite. PostgreSQL 11+
//! stores a non-volatile default once, in the catalog; a volatile one must be computed
//! for every row, so ADD COLUMN rewrites the table. The built-in functions whose every
//! overload is immutable or stable are listed in `nonvolatile.txt`, read from PostgreSQL
//! 15's `pg_proc` (a test compares it with the running server's). Any other function is
//! volatile: a volatile built-in, or a user function (CREATE FUNCTION's default).

use std::collections::HashSet;
use std::sync::OnceLock;

const NONVOLATILE: &str = include_str!("nonvolatile.txt");

/// Whether calling `name` (unqualified, or in `pg_catalog`) in a DEFAULT makes the
/// default volatile.
pub fn is_volatile(schema: Option<&str>, name: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let builtins = SET.get_or_init(|| NONVOLATILE.lines().collect());
    let builtin_schema = matches!(schema, None | Some("pg_catalog"));
    !(builtin_schema && builtins.contains(name))
}

/// The list, for the test that compares it with a running PostgreSQL.
pub fn nonvolatile_builtins() -> impl Iterator<Item = &'static str> {
    NONVOLATILE.lines()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_stable_and_gen_random_uuid_volatile() {
        assert!(!is_volatile(None, "now"));
        assert!(!is_volatile(Some("pg_catalog"), "lower"));
        assert!(is_volatile(None, "gen_random_uuid"));
        assert!(is_volatile(None, "clock_timestamp"));
        assert!(is_volatile(None, "my_function"));
        assert!(is_volatile(Some("app"), "lower"));
    }
}
