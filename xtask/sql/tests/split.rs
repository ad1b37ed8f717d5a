//! The runner's statement splitter (services/api/src/split.rs: the image is `FROM scratch`
//! and carries no C parser) against libpg_query's own `split_with_parser`, the server's
//! grammar: on every corpus file, the example service's migrations, and random mutations
//! of them that the parser still accepts. Each statement must come out whole and in order.

#[path = "../../../services/api/src/split.rs"]
mod split;

use pg_query::protobuf::Token;
use std::path::PathBuf;

/// `piece` from its first token (no leading comments or whitespace) to its end, trimmed.
fn code(piece: &str) -> Option<&str> {
    let tokens = pg_query::scan(piece).ok()?.tokens;
    let first = tokens.iter().find(|t| {
        !matches!(
            Token::try_from(t.token),
            Ok(Token::SqlComment | Token::CComment)
        )
    })?;
    Some(piece[first.start as usize..].trim_end())
}

fn oracle(sql: &str) -> Option<Vec<&str>> {
    let pieces = pg_query::split_with_parser(sql).ok()?;
    Some(pieces.into_iter().filter_map(code).collect())
}

fn ours(sql: &str) -> Vec<&str> {
    split::statements(sql)
        .into_iter()
        .filter_map(code)
        .collect()
}

fn inputs() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["tests/corpus", "../../services/api/migrations"] {
        files.extend(
            std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
    }
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

#[test]
fn the_runner_splits_every_file_as_postgresqls_parser_does() {
    let mut compared = 0;
    for sql in inputs() {
        let expected = oracle(&sql).expect("the corpus parses");
        assert_eq!(ours(&sql), expected, "in:\n{sql}");
        compared += 1;
    }
    assert!(compared > 100, "{compared} files");
}

#[test]
fn mutations_the_parser_accepts_split_the_same() {
    let mut rng = fastrand::Rng::with_seed(11);
    let (mut compared, mut tried) = (0, 0);
    for sql in inputs() {
        for _ in 0..40 {
            let mut text = sql.clone().into_bytes();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..text.len());
                let piece: &[u8] = [
                    &b";"[..],
                    b"'",
                    b"$$",
                    b"--",
                    b"/*",
                    b"*/",
                    b"\n",
                    b"\"",
                    b"E'\\'",
                    b"$x$",
                ][rng.usize(..10)];
                text.splice(at..at, piece.iter().copied());
            }
            let Ok(text) = String::from_utf8(text) else {
                continue;
            };
            tried += 1;
            if let Some(expected) = oracle(&text) {
                assert_eq!(ours(&text), expected, "in:\n{text}");
                compared += 1;
            }
        }
    }
    eprintln!("{compared} of {tried} mutations parsed and split alike");
    assert!(compared > 200, "only {compared} mutations parsed");
}
