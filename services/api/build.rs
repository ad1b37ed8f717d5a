//! Embeds `migrations/NNN_description.sql` into the binary, in version order, so that the
//! image (built `FROM scratch`) carries its migrations and `api migrate` needs no files.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("services/api/migrations must exist")
        .map(|entry| entry.expect("readable migrations dir").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    // Each file as well as the folder: a target folder shared by another checkout (a second
    // worktree, CI's cache, tests) may hold this script's output for a different list, and
    // a file it named that is missing here makes Cargo run the script again.
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let mut out = String::from("&[\n");
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 file name");
        let (version, name) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{}: expected NNN_description.sql", path.display()));
        let version: i32 = version
            .parse()
            .unwrap_or_else(|_| panic!("{}: expected a numeric NNN prefix", path.display()));
        let file = path
            .file_name()
            .and_then(|s| s.to_str())
            .expect("UTF-8 file name");
        // Relative to the crate being compiled, not to the checkout this script ran in: a
        // target folder shared by checkouts at other paths (another clone, CI's cache) must
        // never compile one checkout's migrations into another's binary.
        writeln!(
            out,
            "    ({version}, {name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/migrations/{file}\"))),"
        )
        .unwrap();
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(target, out).expect("write generated migrations list");
}
