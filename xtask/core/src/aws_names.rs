//! The naming rules of the AWS resources a `deploy.toml` names, so that a name AWS would
//! refuse is reported at its line before anything runs, not by the first AWS call. The
//! rules come from the services' own documents: ECS's name pattern (the API reference's
//! CreateCluster, CreateService and RegisterTaskDefinition: "up to 255 letters, numbers,
//! hyphens and underscores"), ECR's repositoryName pattern and lengths (botocore's
//! `RepositoryName` shape), and S3's bucket naming rules (the S3 user guide's "General
//! purpose bucket naming rules").

/// Why `name` is not a valid ECS cluster, service or task family name, if it is not.
pub fn ecs(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 255 {
        return Some(format!("is {} characters; ECS allows 1 to 255", name.len()));
    }
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'));
    bad.map(|c| format!("has `{c}`; ECS allows letters, digits, `-` and `_`"))
}

/// Why `name` is not a valid ECR repository name, if it is not: 2 to 256 characters,
/// `/`-separated parts of lowercase letters and digits joined by single `.`, `_` or `-`.
pub fn ecr(name: &str) -> Option<String> {
    if !(2..=256).contains(&name.len()) {
        return Some(format!("is {} characters; ECR allows 2 to 256", name.len()));
    }
    for part in name.split('/') {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let separator = |c: char| matches!(c, '.' | '_' | '-');
        if part.is_empty() {
            return Some("has an empty part between `/`s".into());
        }
        if let Some(c) = part.chars().find(|c| !alnum(*c) && !separator(*c)) {
            return Some(format!(
                "has `{c}`; ECR allows lowercase letters, digits, `.`, `_`, `-` and `/`"
            ));
        }
        let chars: Vec<char> = part.chars().collect();
        let ends = !alnum(chars[0]) || !alnum(chars[chars.len() - 1]);
        let doubled = chars.windows(2).any(|w| separator(w[0]) && separator(w[1]));
        if ends || doubled {
            return Some(format!(
                "has part `{part}`; each part must start and end with a letter or digit, with single `.`, `_` or `-` between"
            ));
        }
    }
    None
}

/// Why `name` is not a valid S3 general purpose bucket name, if it is not.
pub fn s3_bucket(name: &str) -> Option<String> {
    if !(3..=63).contains(&name.len()) {
        return Some(format!("is {} characters; S3 allows 3 to 63", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Some(format!(
            "has `{c}`; S3 allows lowercase letters, digits, `.` and `-`"
        ));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Some("must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Some("has two adjacent periods".into());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("is formatted as an IP address".into());
    }
    const PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if let Some(p) = PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Some(format!("starts with `{p}`, which S3 reserves"));
    }
    SUFFIXES
        .iter()
        .find(|s| name.ends_with(*s))
        .map(|s| format!("ends with `{s}`, which S3 reserves"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_names() {
        assert_eq!(ecs("acme-staging_api"), None);
        assert!(ecs("acme.api").is_some());
        assert!(ecs(&"a".repeat(256)).is_some());
    }

    #[test]
    fn ecr_names() {
        for good in ["acme/api", "acme/api-2", "a.b_c-d/e", "ab"] {
            assert_eq!(ecr(good), None, "{good}");
        }
        for bad in [
            "acme/worker-",
            "acme//api",
            "Acme/api",
            "a",
            "acme/-api",
            "acme/a--b",
        ] {
            assert!(ecr(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn s3_names() {
        assert_eq!(s3_bucket("acme-staging-admin"), None);
        for bad in [
            "ab",
            &"a".repeat(64),
            "Acme",
            "-acme",
            "acme-",
            "a..b",
            "192.168.1.1",
            "xn--acme",
            "acme-s3alias",
            "acme_admin",
        ] {
            assert!(s3_bucket(bad).is_some(), "{bad}");
        }
    }
}
