//! The corpus of migration files the lint is measured on (`xtask/sql/tests/corpus/`): each
//! file is one case, its first lines saying what schema it runs on (`-- setup: …`, after
//! [`BASE`]), its verdict (`-- expect: <rule>` or `-- expect: safe`) and, for an unsafe
//! one, the evidence PostgreSQL must show (`-- evidence: …`; tests/corpus.rs checks it
//! on a real server). Read by that test and by `cargo xtask bench lint`.

use crate::{Finding, Linter, Settings, SyntaxError};
use std::path::{Path, PathBuf};

/// Every case starts from this schema (plus its own `-- setup:` lines), as migrations
/// applied before it: the lint learns it, PostgreSQL runs it.
pub const BASE: &str = include_str!("../tests/corpus/base.schema");

pub struct Case {
    pub name: String,
    /// The base schema and the case's own `-- setup:` lines: migrations applied before it.
    pub setup: String,
    /// A rule id, or `safe`.
    pub expect: String,
    pub evidence: Vec<String>,
    /// The migration itself (a `-- xtask:no-transaction` line stays its first).
    pub migration: String,
}

impl Case {
    /// The lint's findings for the migration, as this project's runner is declared (it
    /// sets `lock_timeout`), after learning the base schema and the case's setup.
    pub fn lint(&self) -> Result<Vec<Finding>, SyntaxError> {
        let mut linter = Linter::new(Settings {
            runner_lock_timeout: true,
        });
        linter.learn(&self.setup)?;
        linter.lint(&self.migration)
    }

    pub fn is_safe(&self) -> bool {
        self.expect == "safe"
    }

    pub fn read(path: &std::path::Path) -> Case {
        let text = std::fs::read_to_string(path).unwrap();
        let mut case = Case {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            setup: BASE.to_owned(),
            expect: String::new(),
            evidence: Vec::new(),
            migration: String::new(),
        };
        for line in text.lines() {
            if let Some(sql) = line.strip_prefix("-- setup: ") {
                case.setup.push_str(sql);
                case.setup.push('\n');
            } else if let Some(expect) = line.strip_prefix("-- expect: ") {
                case.expect = expect.trim().to_owned();
            } else if let Some(evidence) = line.strip_prefix("-- evidence: ") {
                case.evidence.push(evidence.trim().to_owned());
            } else {
                case.migration.push_str(line);
                case.migration.push('\n');
            }
        }
        assert!(
            !case.expect.is_empty(),
            "{}: no `-- expect:` line",
            case.name
        );
        let unsafe_case = case.expect != "safe";
        assert_eq!(
            unsafe_case,
            !case.evidence.is_empty(),
            "{}: an unsafe case needs evidence, a safe one none",
            case.name
        );
        case
    }
}

/// Every case of the corpus folder, by name.
pub fn cases(dir: &Path) -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| Case::read(p))
        .collect()
}
