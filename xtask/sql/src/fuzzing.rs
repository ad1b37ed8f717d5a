//! What the `migration` fuzz target in `fuzz/` checks, here so that a unit test runs the
//! same check on stable (a seed and random mutations of it): any bytes as a migration file
//! (first line: its name; the rest: its SQL) never panic the name check or the lint, and
//! every finding points at a line of the file.

/// The check the fuzz target runs on each input.
pub fn migration(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (name, sql) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = crate::parse_name(name);
    let lines = sql.lines().count().max(1);
    match crate::lint(sql, &crate::Settings::default()) {
        Ok(findings) => {
            for finding in findings {
                assert!(
                    (1..=lines).contains(&finding.line),
                    "{} at line {} of {lines}: {}",
                    finding.rule,
                    finding.line,
                    finding.message
                );
            }
        }
        Err(err) => assert!((1..=lines).contains(&err.line), "{err} of {lines} lines"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_check_holds_on_a_seed_and_its_mutations() {
        let seed = b"004_add_sku.sql\nALTER TABLE items ADD COLUMN sku TEXT NOT NULL,\n  DROP COLUMN x;\n-- xtask:allow(drop-table): gone\nDROP TABLE t; CREATE INDEX i ON t (a);\nDO $$ BEGIN\n  ALTER TABLE t DROP COLUMN y;\nEND $$;\n/* open comment".to_vec();
        let mut rng = fastrand::Rng::with_seed(7);
        super::migration(&seed);
        for _ in 0..2_000 {
            super::migration(&xtask_core::fuzzing::mutate(
                &mut rng,
                &seed,
                b"$;'\"-\n*/(),",
            ));
        }
    }
}
