//! Conventions held by tests, as rust-analyzer's tidy holds its own: every Rust file opens
//! with a `//!` header saying what it is for, and the exit codes users read in the README
//! and in `--help` are the one exit enum's.

use crate::support::{source_root, stdout, xtask_in};
use xtask::diag::Exit;

/// Every Rust file git tracks in the monorepo (the tool, its tests, the example system).
fn tracked_rust_files() -> Vec<std::path::PathBuf> {
    let repo = git2::Repository::open(source_root()).expect("the monorepo is a git repository");
    let index = repo.index().unwrap();
    index
        .iter()
        .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
        .filter(|path| path.ends_with(".rs"))
        .map(|path| source_root().join(path))
        .collect()
}

#[test]
fn every_rust_file_opens_with_a_module_header() {
    let files = tracked_rust_files();
    assert!(files.len() > 50, "{} files: not the monorepo", files.len());
    let missing: Vec<String> = files
        .iter()
        // A file deleted in the working tree but still in the index is not this check's.
        .filter_map(|path| Some((path, std::fs::read_to_string(path).ok()?)))
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "no `//!` header (say what the module is for): {missing:#?}"
    );
}

/// The codes of the README's "Exit codes" table, in its order.
fn readme_exit_codes() -> Vec<u8> {
    let readme = std::fs::read_to_string(source_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README.md has an `## Exit codes` section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| ")?.split(" |").next()?.parse().ok())
        .collect()
}

#[test]
fn the_readme_exit_code_table_is_the_exit_enum() {
    let documented: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(
        readme_exit_codes(),
        documented,
        "README.md's exit-code table and diag::Exit differ: add or remove the row"
    );
}

#[test]
fn help_lists_every_exit_code_with_its_meaning() {
    let output = xtask_in(&source_root(), &["--help"]);
    assert!(output.status.success());
    // clap wraps long paragraphs: compare with the lines joined.
    let help = stdout(&output)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for exit in Exit::ALL {
        let entry = format!("{} {}", exit.code(), exit.meaning());
        assert!(
            help.contains(&entry),
            "--help does not say `{entry}`:\n{help}"
        );
    }
}
