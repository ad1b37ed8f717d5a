//! The files an HTML page loads (scripts, styles, images, icons): before a release goes
//! live, each must be in the bucket, or the page would break for everyone. Links between
//! pages (`<a href>`) are routes, not files, and are not checked.

/// Bucket keys `html` (served at `page`) loads, in order of appearance, without duplicates.
pub fn references(page: &str, html: &str) -> Vec<String> {
    let dir = page.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut found = Vec::new();
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name = tag
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let attribute = match name.as_str() {
            "script" | "img" | "source" | "video" | "audio" | "track" | "embed" => "src",
            "link" => "href",
            _ => continue,
        };
        if let Some(value) = attribute_value(tag, attribute) {
            if let Some(key) = resolve(dir, value) {
                if !found.contains(&key) {
                    found.push(key);
                }
            }
        }
    }
    found
}

/// The quoted value of `name=` in a tag's text.
fn attribute_value<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(name) {
        let start = from + at;
        from = start + name.len();
        let before_ok = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let offset = tag.len() - rest.len() + 1;
        let value = tag[offset..].trim_start();
        let quote = value.chars().next()?;
        if quote == '"' || quote == '\'' {
            return value[1..].split(quote).next();
        }
        return value.split(|c: char| c.is_whitespace()).next();
    }
    None
}

/// The bucket key a reference names; `None` for other sites, data and anchors.
fn resolve(dir: &str, reference: &str) -> Option<String> {
    let reference = reference.split(['?', '#']).next().unwrap_or("").trim();
    let external = reference.is_empty()
        || reference.starts_with("//")
        || reference.contains("://")
        || ["data:", "mailto:", "tel:", "javascript:", "blob:"]
            .iter()
            .any(|s| reference.starts_with(s));
    if external {
        return None;
    }
    let joined = match reference.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None if dir.is_empty() => reference.to_owned(),
        None => format!("{dir}/{reference}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let mut key = parts.join("/");
    if joined.ends_with('/') || key.is_empty() {
        key = if key.is_empty() {
            "index.html".to_owned()
        } else {
            format!("{key}/index.html")
        };
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_styles_and_images_are_found_routes_and_other_sites_are_not() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="assets/style.1a2b3c4d5e.css">
            <link rel='icon' href='/favicon.ico?v=2'>
            <script type="module" src="./assets/app.9f8e7d6c5b.js"></script>
            <script src="https://cdn.example.com/x.js"></script>
          </head><body>
            <a href="/about">About</a>
            <img alt="logo" src="../img/logo.png">
            <img src="data:image/png;base64,AAAA">
          </body></html>"#;
        assert_eq!(
            references("docs/index.html", html),
            [
                "docs/assets/style.1a2b3c4d5e.css",
                "favicon.ico",
                "docs/assets/app.9f8e7d6c5b.js",
                "img/logo.png",
            ]
        );
    }

    #[test]
    fn attribute_names_must_stand_alone() {
        assert_eq!(
            references("index.html", r#"<script data-src="x.js" src="y.js">"#),
            ["y.js"]
        );
    }
}
