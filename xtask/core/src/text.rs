//! The two ways the tool shortens text for people, each in one place: ids (fingerprints,
//! digests, commits in plans and ledgers, task ARNs) cut to one length, and the last lines
//! of a command's output.

/// How many characters of an id people see: enough to be unique in any one account.
pub const SHORT: usize = 12;

/// The first [`SHORT`] characters of an id, without a `sha256:` prefix or an ARN's path.
pub fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    let id = if id.starts_with("arn:") {
        id.rsplit('/').next().unwrap_or(id)
    } else {
        id
    };
    &id[..id.len().min(SHORT)]
}

/// The last `count` lines of `text` (trailing blank lines dropped).
pub fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_lose_their_prefixes_and_tails_keep_the_last_lines() {
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(
            short("arn:aws:ecs:eu-west-1:1:task/c/abcdef0123456789"),
            "abcdef012345"
        );
        assert_eq!(short("abc"), "abc");
        assert_eq!(tail("a\nb\nc\n\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
