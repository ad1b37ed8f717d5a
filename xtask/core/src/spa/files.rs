//! A built app's files as they will be served: each file's bytes, digests and the headers
//! it is served with. Content types come from `mime_guess` (the same on every OS), with a
//! UTF-8 charset for text; caching follows what the file is: content-hashed assets are
//! immutable, HTML is always revalidated, the rest is cached briefly unless `deploy.toml`
//! says otherwise.

use anyhow::{Context as _, Result};
use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const HTML: &str = "no-cache";
pub const DEFAULT_STATIC: &str = "public, max-age=300";

/// How a file is shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A name with a content hash: uploaded first, straight to its live key, never changes.
    Hashed,
    /// Any other non-HTML file: staged, then activated before the HTML.
    Static,
    /// Activated last.
    Html,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    pub content_type: String,
    pub cache_control: String,
}

#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Relative to `dist`, with `/`: also its key in the bucket.
    pub path: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
    /// Hex MD5, to adopt objects a bucket already holds (their ETag).
    pub md5: String,
    pub class: Class,
    pub headers: Headers,
}

/// Every file under `dist`, sorted by path.
pub fn read_dist(dist: &Path, cache_control: &BTreeMap<String, String>) -> Result<Vec<LocalFile>> {
    let rules = cache_rules(cache_control)?;
    let mut found = Vec::new();
    walk(dist, dist, &mut |path, bytes| found.push((path, bytes)))
        .with_context(|| format!("reading {}", dist.display()))?;
    Ok(described(found, &rules))
}

/// Files given as (path, bytes), with the default headers (tests, benchmarks).
pub fn read_dist_from(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<LocalFile> {
    described(files, &Vec::new())
}

fn described(files: impl IntoIterator<Item = (String, Vec<u8>)>, rules: &Rules) -> Vec<LocalFile> {
    let mut files: Vec<LocalFile> = files
        .into_iter()
        .map(|(path, bytes)| local_file(path, bytes, rules))
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn walk(root: &Path, dir: &Path, found: &mut dyn FnMut(String, Vec<u8>)) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, found)?;
        } else {
            let relative = path
                .strip_prefix(root)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            found(relative, std::fs::read(&path)?);
        }
    }
    Ok(())
}

type Rules = Vec<(globset::GlobMatcher, String)>;

fn cache_rules(cache_control: &BTreeMap<String, String>) -> Result<Rules> {
    cache_control
        .iter()
        .map(|(glob, value)| Ok((globset::Glob::new(glob)?.compile_matcher(), value.clone())))
        .collect()
}

fn local_file(path: String, bytes: Vec<u8>, rules: &Rules) -> LocalFile {
    let class = classify(&path);
    let cache_control = match class {
        Class::Hashed => IMMUTABLE.to_owned(),
        Class::Html => HTML.to_owned(),
        Class::Static => rules
            .iter()
            .find(|(glob, _)| glob.is_match(&path))
            .map_or(DEFAULT_STATIC.to_owned(), |(_, value)| value.clone()),
    };
    LocalFile {
        sha256: hex(&Sha256::digest(&bytes)),
        md5: hex(&Md5::digest(&bytes)),
        headers: Headers {
            content_type: content_type(&path),
            cache_control,
        },
        class,
        path,
        bytes,
    }
}

/// HTML by extension; hashed when the name's last part before the extension looks like a
/// content hash (`app.3f2a1b9c01.js`, Vite's `index-BPvgi06w.js`).
pub fn classify(path: &str) -> Class {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".html") || name.ends_with(".htm") {
        return Class::Html;
    }
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let tag = stem.rsplit(['.', '-']).next().unwrap_or("");
    // A hex digest of 10 or more digits (all digits happens: 1 in 100 for 10 of them), or
    // a mixed base-64-ish tag of 8 or more; a date like `20240101` is neither.
    let hex = tag.len() >= 10 && tag.bytes().all(|b| b.is_ascii_hexdigit());
    let mixed = tag.len() >= 8
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().any(|b| b.is_ascii_digit())
        && tag.bytes().any(|b| b.is_ascii_alphabetic());
    let looks_hashed = tag.len() != stem.len() && tag.len() <= 64 && (hex || mixed);
    if looks_hashed {
        Class::Hashed
    } else {
        Class::Static
    }
}

/// The MIME type by extension, with `charset=utf-8` for text types.
pub fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        );
    if textual {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    crate::workspace::hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert_eq!(classify("assets/app.3f2a1b9c01.js"), Class::Hashed);
        assert_eq!(classify("assets/index-BPvgi06w.js"), Class::Hashed);
        assert_eq!(classify("index.html"), Class::Html);
        assert_eq!(classify("docs/guide.html"), Class::Html);
        assert_eq!(classify("robots.txt"), Class::Static);
        assert_eq!(classify("favicon.ico"), Class::Static);
        assert_eq!(classify("assets/logo-dark.svg"), Class::Static);
        assert_eq!(classify("assets/12345678.png"), Class::Static);
        assert_eq!(classify("assets/chunk.0123456789.js"), Class::Hashed);
        assert_eq!(classify("photos/holiday-20240101.jpg"), Class::Static);
    }

    #[test]
    fn text_types_carry_a_charset_and_others_do_not() {
        assert_eq!(content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.unknownext"), "application/octet-stream");
    }

    #[test]
    fn cache_control_follows_the_class_and_the_rules() {
        let rules = cache_rules(&BTreeMap::from([(
            "*.txt".to_owned(),
            "public, max-age=60".to_owned(),
        )]))
        .unwrap();
        let file = |p: &str| {
            local_file(p.to_owned(), b"x".to_vec(), &rules)
                .headers
                .cache_control
        };
        assert_eq!(file("assets/app.3f2a1b9c01.js"), IMMUTABLE);
        assert_eq!(file("index.html"), HTML);
        assert_eq!(file("robots.txt"), "public, max-age=60");
        assert_eq!(file("favicon.ico"), DEFAULT_STATIC);
    }
}
