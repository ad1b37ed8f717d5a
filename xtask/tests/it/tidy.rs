//! Conventions held by tests, as rust-analyzer's tidy holds its own: every Rust file opens
//! with a `//!` header saying what it is for, no function of the deploy path runs over 60
//! lines, and the exit codes users read in the README and in `--help` are the one exit
//! enum's.

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

/// The deploy path: what runs between `deploy`'s gather and its ledger record.
const DEPLOY_PATH: [&str; 4] = [
    "xtask/src/deploy/",
    "xtask/src/lock.rs",
    "xtask/aws/src/",
    "xtask/core/src/deploy_plan.rs",
];

/// The longest a function of the deploy path may be, its signature and closing brace in.
const MOST_LINES: usize = 60;

/// Functions of `text` longer than [`MOST_LINES`], as `name (lines)`: a `fn` line runs to
/// the first line that is its indentation and `}` (rustfmt's layout); tests are skipped.
fn long_functions(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let trimmed = line.trim_start();
        let words = [
            "fn ",
            "pub fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) fn ",
        ];
        let Some(rest) = words.iter().find_map(|w| trimmed.strip_prefix(w)) else {
            continue;
        };
        if line.ends_with(';') {
            continue;
        }
        let close = format!("{}}}", &line[..line.len() - trimmed.len()]);
        let end = (at..lines.len()).find(|&j| lines[j] == close).unwrap_or(at);
        let count = end - at + 1;
        if count > MOST_LINES {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            long.push(format!("{name} ({count} lines)"));
        }
    }
    long
}

#[test]
fn no_function_of_the_deploy_path_is_over_60_lines() {
    let mut long = Vec::new();
    for path in tracked_rust_files() {
        let relative = path
            .strip_prefix(source_root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !DEPLOY_PATH.iter().any(|p| relative.starts_with(p)) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        long.extend(
            long_functions(&text)
                .into_iter()
                .map(|f| format!("{relative}: {f}")),
        );
    }
    assert!(
        long.is_empty(),
        "split these (gather, decide, act): {long:#?}"
    );
}

#[test]
fn a_long_function_is_found_and_a_short_one_is_not() {
    let body = "    let x = 1;\n".repeat(MOST_LINES);
    let text = format!("fn short() {{\n}}\n\npub async fn long() {{\n{body}}}\n");
    assert_eq!(
        long_functions(&text),
        [format!("long ({} lines)", MOST_LINES + 2)]
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
