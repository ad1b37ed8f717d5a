//! What shipping a build moves, decided before anything moves (pure): from the built files,
//! the bucket's manifest and one listing of the bucket. Hashed assets go straight to their
//! live keys (new names hurt nobody); everything else is staged under the release's prefix
//! and activated by server-side copies, non-HTML before HTML. Bytes already stored are
//! never sent again, headers alone change by a copy, and what the new release no longer
//! uses is deleted only after the retention window.

use super::files::{classify, Class, Headers, LocalFile};
use super::manifest::{self, Entry, Manifest, Object, Release};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// One thing to do to one key, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub key: String,
    /// The source key of a copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The built file an upload sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip)]
    pub headers: Option<Headers>,
    pub reason: String,
}

impl Action {
    fn upload(key: &str, file: &LocalFile, reason: impl Into<String>) -> Action {
        Action {
            key: key.to_owned(),
            from: None,
            path: Some(file.path.clone()),
            headers: Some(file.headers.clone()),
            reason: reason.into(),
        }
    }

    fn copy(from: &str, key: &str, headers: &Headers, reason: impl Into<String>) -> Action {
        Action {
            key: key.to_owned(),
            from: Some(from.to_owned()),
            path: None,
            headers: Some(headers.clone()),
            reason: reason.into(),
        }
    }

    fn delete(key: &str, reason: impl Into<String>) -> Action {
        Action {
            key: key.to_owned(),
            from: None,
            path: None,
            headers: None,
            reason: reason.into(),
        }
    }
}

/// What is in the bucket now.
pub struct Remote<'a> {
    /// `None`: the bucket has no manifest (first ship, or a bucket to adopt).
    pub manifest: Option<&'a Manifest>,
    /// Every key with its ETag.
    pub listing: &'a BTreeMap<String, String>,
}

/// The new release's identity and the retention rules.
pub struct Target<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub commit: &'a str,
    pub fingerprint: &'a str,
    pub now: SystemTime,
    pub keep_releases: usize,
    pub keep_days: u64,
    pub max_deletes: usize,
}

impl<'a> Target<'a> {
    /// A release of `app` now, with the app's retention rules from deploy.toml.
    pub fn for_app(
        app: &'a crate::config::App,
        release: &'a str,
        commit: &'a str,
        fingerprint: &'a str,
    ) -> Target<'a> {
        Target {
            app: &app.name,
            release,
            commit,
            fingerprint,
            now: SystemTime::now(),
            keep_releases: app.keep_releases,
            keep_days: app.keep_days,
            max_deletes: app.max_deletes,
        }
    }
}

/// File paths one invalidation names before they collapse into folder wildcards. CloudFront
/// allows 3,000 file paths in progress per distribution, and invalidations take minutes: a
/// third of that leaves room for the runs that follow this one.
pub const INVALIDATION_FILES: usize = 1000;

/// Wildcard paths one invalidation names before it becomes `/*`: CloudFront allows 15 in
/// progress per distribution; a third of that, as for file paths.
pub const INVALIDATION_WILDCARDS: usize = 5;

/// What CloudFront wants URL-encoded in an invalidation path: controls, non-ASCII (always
/// encoded as UTF-8) and RFC 1738's unsafe characters, with `%` itself. Nothing else: "don't
/// URL-encode any other characters in the path, or CloudFront will not invalidate the old
/// version" (developer guide, "Specify the objects to invalidate").
const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'~')
    .add(b'[')
    .add(b']')
    .add(b'`');

#[derive(Debug, Clone, Default, Serialize)]
pub struct ShipPlan {
    /// The release this ships; `None` when nothing moves.
    pub release: Option<String>,
    pub uploads: Vec<Action>,
    /// Copies before activation: adopted objects, header-only changes of hashed assets.
    pub copies: Vec<Action>,
    /// Copies onto live keys, non-HTML first, HTML last.
    pub activation: Vec<Action>,
    /// Live keys the new release no longer serves.
    pub removals: Vec<Action>,
    /// Retention deletes.
    pub deletes: Vec<Action>,
    pub unchanged: usize,
    pub invalidation: Vec<String>,
    /// The manifest once this plan has run.
    #[serde(skip)]
    pub manifest: Manifest,
    /// Nothing moves, but the manifest must say which fingerprint the live files are.
    pub manifest_only: bool,
}

pub fn plan(files: &[LocalFile], remote: &Remote<'_>, target: &Target<'_>) -> ShipPlan {
    let empty = Manifest::new(target.app);
    let old = remote.manifest.unwrap_or(&empty);
    let active = old.active();
    let mut plan = ShipPlan::default();
    let mut objects = old.objects.clone();
    let mut entries = BTreeMap::new();
    for file in files {
        let entry = match file.class {
            Class::Hashed => hashed(file, old, remote, &mut plan),
            Class::Static | Class::Html => staged(file, old, remote, target, &mut plan),
        };
        let object = objects
            .entry(entry.stored.clone())
            .or_insert_with(|| Object {
                sha256: file.sha256.clone(),
                headers: file.headers.clone(),
                size: file.bytes.len() as u64,
                retired_at: None,
            });
        // A hashed asset is served from where it is stored: a header copy changes it there.
        if file.class == Class::Hashed {
            object.headers = file.headers.clone();
        }
        entries.insert(file.path.clone(), entry);
    }
    let release = Release {
        id: target.release.to_owned(),
        commit: target.commit.to_owned(),
        fingerprint: target.fingerprint.to_owned(),
        created_at: Timestamp::at(target.now),
        files: entries,
    };
    let (activation, removals) = activation(active, &release, remote.listing);
    let staged_unchanged = release
        .files
        .iter()
        .filter(|(path, entry)| {
            classify(path) != Class::Hashed
                && active.and_then(|a| a.files.get(*path)) == Some(entry)
        })
        .count();
    plan.unchanged += staged_unchanged;
    plan.activation = activation;
    plan.removals = removals;
    let moves = !(plan.uploads.is_empty()
        && plan.copies.is_empty()
        && plan.activation.is_empty()
        && plan.removals.is_empty());
    let mut manifest = old.clone();
    manifest.schema = manifest::SCHEMA;
    manifest.objects = objects;
    if moves || active.is_none() {
        plan.release = Some(release.id.clone());
        manifest.active = Some(release.id.clone());
        manifest.releases.push(release);
        let excess = manifest
            .releases
            .len()
            .saturating_sub(manifest::KEPT_RELEASES);
        manifest.releases.drain(..excess);
        adopt_orphans(&mut manifest, remote.listing, target);
        plan.deletes = retention(&mut manifest, target);
    } else if let Some(live) = manifest
        .active
        .clone()
        .and_then(|id| manifest.releases.iter_mut().find(|r| r.id == id))
    {
        // The same files from other sources (a comment, a new commit): record what is live.
        if live.fingerprint != target.fingerprint {
            live.fingerprint = target.fingerprint.to_owned();
            live.commit = target.commit.to_owned();
            plan.manifest_only = true;
        }
    }
    plan.invalidation = invalidation(&plan.activation, &plan.removals);
    send_pending(&mut plan, &mut manifest);
    plan.manifest = manifest;
    plan
}

/// An earlier run's invalidation that was not sent goes with this one's; the manifest
/// records all of it as pending until CloudFront takes it.
pub fn send_pending(plan: &mut ShipPlan, manifest: &mut Manifest) {
    let paths: BTreeSet<String> = manifest
        .pending_invalidation
        .drain(..)
        .chain(plan.invalidation.drain(..))
        .collect();
    if paths.contains("/*") {
        plan.invalidation = vec!["/*".to_owned()];
    } else {
        plan.invalidation = paths.into_iter().collect();
    }
    if !plan.invalidation.is_empty() && plan.release.is_none() {
        // Nothing else moves, but the manifest must be written to clear the pending paths.
        plan.manifest_only = true;
    }
    manifest.pending_invalidation = plan.invalidation.clone();
}

/// A hashed asset: its live key is its path.
fn hashed(file: &LocalFile, old: &Manifest, remote: &Remote<'_>, plan: &mut ShipPlan) -> Entry {
    let key = &file.path;
    let listed = remote.listing.get(key);
    let known = old.objects.get(key);
    match (known, listed) {
        (Some(object), Some(_)) if object.sha256 == file.sha256 => {
            if object.headers == file.headers {
                plan.unchanged += 1;
            } else {
                plan.copies
                    .push(Action::copy(key, key, &file.headers, "headers changed"));
            }
        }
        (None, Some(etag)) if etag_is_md5(etag, &file.md5) => plan.copies.push(Action::copy(
            key,
            key,
            &file.headers,
            "adopted: the bucket has these bytes (ETag is their MD5); headers set",
        )),
        (Some(_), None) => plan
            .uploads
            .push(Action::upload(key, file, "missing from the bucket")),
        (_, Some(_)) => plan
            .uploads
            .push(Action::upload(key, file, "content differs")),
        (None, None) => plan.uploads.push(Action::upload(key, file, "new")),
    }
    entry(file, key)
}

/// Any other file: its bytes are stored under a release prefix and copied to the live key
/// at activation. Bytes stored by an earlier release are reused.
fn staged(
    file: &LocalFile,
    old: &Manifest,
    remote: &Remote<'_>,
    target: &Target<'_>,
    plan: &mut ShipPlan,
) -> Entry {
    let stored_before = old
        .releases
        .iter()
        .rev()
        .filter_map(|r| r.files.get(&file.path))
        .find(|e| e.sha256 == file.sha256 && remote.listing.contains_key(&e.stored));
    if let Some(before) = stored_before {
        return entry(file, &before.stored);
    }
    let key = manifest::staged_key(target.app, target.release, &file.path);
    let adoptable = remote.manifest.is_none()
        && remote
            .listing
            .get(&file.path)
            .is_some_and(|etag| etag_is_md5(etag, &file.md5));
    if adoptable {
        plan.copies.push(Action::copy(
            &file.path,
            &key,
            &file.headers,
            "adopted: the live object has these bytes (ETag is their MD5)",
        ));
    } else {
        let reason = match old.active().and_then(|a| a.files.get(&file.path)) {
            Some(_) => "changed",
            None => "new",
        };
        plan.uploads.push(Action::upload(&key, file, reason));
    }
    entry(file, &key)
}

fn entry(file: &LocalFile, stored: &str) -> Entry {
    Entry {
        sha256: file.sha256.clone(),
        headers: file.headers.clone(),
        stored: stored.to_owned(),
    }
}

/// A single-part upload's ETag is the MD5 of its bytes; a multipart one has a `-`.
fn etag_is_md5(etag: &str, md5: &str) -> bool {
    let etag = etag.trim_matches('"');
    !etag.contains('-') && etag.eq_ignore_ascii_case(md5)
}

/// The copies that make `to` live where `from` is, non-HTML first and HTML last, and the
/// live keys `from` serves that `to` does not. Hashed assets are already in place.
///
/// A file the manifest says is live is copied again when the bucket says otherwise: its
/// live object is not a copy of the stored one (another ETag), as after a run killed while
/// it copied the HTML (the manifest is written before the HTML goes live, so it can be
/// ahead of the bucket, never behind it).
pub fn activation(
    from: Option<&Release>,
    to: &Release,
    listing: &BTreeMap<String, String>,
) -> (Vec<Action>, Vec<Action>) {
    let in_place = |path: &str, entry: &Entry| {
        listing
            .get(path)
            .is_some_and(|live| listing.get(&entry.stored) == Some(live))
    };
    let mut copies: Vec<(Class, Action)> = to
        .files
        .iter()
        .filter(|(path, _)| classify(path) != Class::Hashed)
        .filter(|(path, entry)| {
            from.and_then(|f| f.files.get(*path)) != Some(*entry) || !in_place(path, entry)
        })
        .map(|(path, entry)| {
            let reason = match from.and_then(|f| f.files.get(path)) {
                Some(old) if old == entry => "not live though the manifest says so",
                Some(old) if old.sha256 == entry.sha256 => "headers changed",
                Some(_) => "changed",
                None => "new",
            };
            (
                classify(path),
                Action::copy(&entry.stored, path, &entry.headers, reason),
            )
        })
        .collect();
    copies.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key)));
    let removals = from
        .map(|f| {
            f.files
                .keys()
                .filter(|path| classify(path) != Class::Hashed)
                .filter(|path| !to.files.contains_key(*path))
                .map(|path| Action::delete(path, "no longer served"))
                .collect()
        })
        .unwrap_or_default();
    (copies.into_iter().map(|(_, a)| a).collect(), removals)
}

/// Staged objects of this app the manifest does not know: what a run killed before it wrote
/// the manifest had uploaded. Recorded as objects, so retention retires them (no release
/// uses them) and deletes them after its window, as any other.
fn adopt_orphans(manifest: &mut Manifest, listing: &BTreeMap<String, String>, target: &Target<'_>) {
    let staged = manifest::staged_key(target.app, "", "");
    let staged = staged.trim_end_matches('/');
    for key in listing.keys().filter(|k| k.starts_with(staged)) {
        manifest
            .objects
            .entry(key.clone())
            .or_insert_with(|| Object {
                sha256: String::new(),
                headers: Headers {
                    content_type: String::new(),
                    cache_control: String::new(),
                },
                size: 0,
                retired_at: None,
            });
    }
}

/// Objects none of the last `keep_releases` releases uses are retired; retired for
/// `keep_days` they are deleted, oldest first, at most `max_deletes`.
fn retention(manifest: &mut Manifest, target: &Target<'_>) -> Vec<Action> {
    let recent: BTreeSet<&str> = manifest
        .releases
        .iter()
        .rev()
        .take(target.keep_releases.max(1))
        .flat_map(|r| r.files.values().map(|e| e.stored.as_str()))
        .collect();
    let window = Duration::from_secs(target.keep_days * 24 * 3600);
    let now = Timestamp::at(target.now);
    let mut due = Vec::new();
    for (key, object) in manifest.objects.iter_mut() {
        if recent.contains(key.as_str()) {
            object.retired_at = None;
            continue;
        }
        let retired = *object.retired_at.get_or_insert(now);
        let since = now.system_time().duration_since(retired.system_time());
        if since.unwrap_or_default() >= window {
            due.push((retired, key.clone()));
        }
    }
    due.sort();
    due.truncate(target.max_deletes);
    due.into_iter()
        .map(|(retired, key)| {
            manifest.objects.remove(&key);
            Action::delete(
                &key,
                format!(
                    "unused by the last {} releases since {retired}",
                    target.keep_releases
                ),
            )
        })
        .collect()
}

/// CloudFront paths of what changed or went, URL-encoded: a folder's `index.html` also
/// invalidates the folder. File paths first (they are exact, and CloudFront allows far more
/// of them); past [`INVALIDATION_FILES`], top folders become wildcards, and past
/// [`INVALIDATION_WILDCARDS`] of those, `/*`.
pub fn invalidation(activation: &[Action], removals: &[Action]) -> Vec<String> {
    let mut paths = BTreeSet::new();
    for action in activation.iter().chain(removals) {
        paths.insert(format!("/{}", action.key));
        if let Some(folder) = action.key.strip_suffix("index.html") {
            paths.insert(format!("/{folder}"));
        }
    }
    let collapsed = if paths.len() <= INVALIDATION_FILES {
        paths
    } else {
        let folders: BTreeSet<String> = paths
            .iter()
            .map(|p| match p[1..].split_once('/') {
                Some((top, _)) => format!("/{top}/*"),
                None => p.clone(),
            })
            .collect();
        let wildcards = folders.iter().filter(|p| p.ends_with('*')).count();
        if wildcards <= INVALIDATION_WILDCARDS && folders.len() <= INVALIDATION_FILES {
            folders
        } else {
            return vec!["/*".to_owned()];
        }
    };
    collapsed.iter().map(|p| encode_path(p)).collect()
}

/// One invalidation path as CloudFront matches it; a trailing `*` stays the wildcard.
fn encode_path(path: &str) -> String {
    let (path, wildcard) = match path.strip_suffix('*') {
        Some(folder) => (folder, "*"),
        None => (path, ""),
    };
    format!(
        "{}{wildcard}",
        percent_encoding::utf8_percent_encode(path, UNSAFE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spa::files::{read_dist_from, LocalFile};

    fn files(list: &[(&str, &str)]) -> Vec<LocalFile> {
        read_dist_from(
            list.iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())),
        )
    }

    fn target(release: &str, now_days: u64) -> Target<'static> {
        let release: &'static str = Box::leak(release.to_owned().into_boxed_str());
        Target {
            app: "web",
            release,
            commit: "c",
            fingerprint: release,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + now_days * 86_400),
            keep_releases: 3,
            keep_days: 7,
            max_deletes: 100,
        }
    }

    /// Ships `built` over `manifest` and returns the plan and the listing after it ran.
    fn ship(
        built: &[(&str, &str)],
        manifest: Option<&Manifest>,
        listing: &BTreeMap<String, String>,
        target: &Target<'_>,
    ) -> (ShipPlan, BTreeMap<String, String>) {
        let built = files(built);
        let mut plan = plan(&built, &Remote { manifest, listing }, target);
        // The executor clears the pending paths once CloudFront took the invalidation.
        assert_eq!(plan.manifest.pending_invalidation, plan.invalidation);
        plan.manifest.pending_invalidation.clear();
        let mut after = listing.clone();
        for action in plan
            .uploads
            .iter()
            .chain(&plan.copies)
            .chain(&plan.activation)
        {
            after.insert(action.key.clone(), "\"etag\"".into());
        }
        for action in plan.removals.iter().chain(&plan.deletes) {
            after.remove(&action.key);
        }
        (plan, after)
    }

    const V1: &[(&str, &str)] = &[
        (
            "index.html",
            "<script src=\"assets/app.1a2b3c4d5e.js\"></script>",
        ),
        ("assets/app.1a2b3c4d5e.js", "one"),
        ("assets/style.9f8e7d6c5b.css", "css"),
        ("robots.txt", "User-agent: *"),
    ];

    /// A run killed before it wrote the manifest staged a release nobody records: the next
    /// ship retires its objects and retention deletes them after its window.
    #[test]
    fn a_release_a_killed_run_staged_is_retired_and_then_deleted() {
        let (first, mut listing) = ship(V1, None, &BTreeMap::new(), &target("r1", 0));
        let orphan = ".deploy/web/releases/r-killed/index.html".to_owned();
        listing.insert(orphan.clone(), "\"e\"".into());
        let v2 = [("index.html", "two"), ("robots.txt", "User-agent: *")];
        let (second, listing) = ship(&v2, Some(&first.manifest), &listing, &target("r2", 1));
        assert!(second.manifest.objects[&orphan].retired_at.is_some());
        assert!(!second.deletes.iter().any(|d| d.key == orphan));
        let v3 = [("index.html", "three"), ("robots.txt", "User-agent: *")];
        let (third, _) = ship(&v3, Some(&second.manifest), &listing, &target("r3", 9));
        assert!(
            third.deletes.iter().any(|d| d.key == orphan),
            "{:?}",
            third.deletes
        );
    }

    /// The manifest can be ahead of the bucket (written before the HTML goes live): a live
    /// page that is not a copy of the release's stored one is copied again.
    #[test]
    fn a_page_the_manifest_calls_live_but_the_bucket_lacks_is_copied_again() {
        let (first, mut listing) = ship(V1, None, &BTreeMap::new(), &target("r1", 0));
        listing.insert("index.html".into(), "\"the old page\"".into());
        let (again, _) = ship(V1, Some(&first.manifest), &listing, &target("r2", 1));
        let copied: Vec<&str> = again.activation.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(copied, ["index.html"]);
        assert_eq!(
            again.activation[0].from.as_deref(),
            Some(".deploy/web/releases/r1/index.html")
        );
        assert!(again.invalidation.contains(&"/index.html".to_owned()));
    }

    #[test]
    fn a_first_ship_uploads_everything_and_activates_html_last() {
        let (plan, _) = ship(V1, None, &BTreeMap::new(), &target("r1", 0));
        assert_eq!(plan.uploads.len(), 4);
        let live: Vec<&str> = plan.activation.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(live, ["robots.txt", "index.html"]);
        assert_eq!(plan.invalidation, ["/", "/index.html", "/robots.txt"]);
        assert!(plan
            .uploads
            .iter()
            .any(|u| u.key == ".deploy/web/releases/r1/index.html"));
    }

    #[test]
    fn an_identical_rebuild_moves_nothing_and_one_changed_chunk_moves_it_and_the_html() {
        let (first, listing) = ship(V1, None, &BTreeMap::new(), &target("r1", 0));
        let (same, _) = ship(V1, Some(&first.manifest), &listing, &target("r2", 1));
        assert_eq!(same.release, None);
        assert!(same.uploads.is_empty() && same.copies.is_empty() && same.activation.is_empty());
        assert!(same.invalidation.is_empty());
        assert_eq!(same.unchanged, 4);

        let v2 = [
            (
                "index.html",
                "<script src=\"assets/app.2b3c4d5e6f.js\"></script>",
            ),
            ("assets/app.2b3c4d5e6f.js", "two"),
            ("assets/style.9f8e7d6c5b.css", "css"),
            ("robots.txt", "User-agent: *"),
        ];
        let (second, _) = ship(&v2, Some(&first.manifest), &listing, &target("r2", 1));
        let uploaded: Vec<&str> = second.uploads.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            uploaded,
            [
                "assets/app.2b3c4d5e6f.js",
                ".deploy/web/releases/r2/index.html"
            ]
        );
        assert_eq!(second.activation.len(), 1);
        assert_eq!(second.invalidation, ["/", "/index.html"]);
        assert!(
            second.deletes.is_empty(),
            "the old chunk stays for open tabs"
        );
        assert_eq!(second.unchanged, 2);
    }

    #[test]
    fn a_header_change_is_a_copy_and_old_chunks_go_only_after_the_window() {
        let (r1, listing) = ship(V1, None, &BTreeMap::new(), &target("r1", 0));
        let mut v = V1.to_vec();
        let mut rebuilt = files(&v);
        rebuilt[3].headers.cache_control = "public, max-age=60".into();
        let plan_headers = plan(
            &rebuilt,
            &Remote {
                manifest: Some(&r1.manifest),
                listing: &listing,
            },
            &target("r2", 1),
        );
        assert!(
            plan_headers.uploads.is_empty(),
            "{:?}",
            plan_headers.uploads
        );
        assert_eq!(plan_headers.activation.len(), 1);
        assert_eq!(plan_headers.activation[0].reason, "headers changed");
        assert_eq!(
            plan_headers.activation[0].from.as_deref(),
            Some(".deploy/web/releases/r1/robots.txt")
        );

        // Four releases later and eight days on, r1's chunk is deleted; never sooner.
        let (mut manifest, mut listing) = (r1.manifest, listing);
        for (n, day) in [(2, 1), (3, 2), (4, 3), (5, 12)] {
            v[0] = (
                "index.html",
                Box::leak(
                    format!("<script src=\"assets/app.{n}b3c4d5e6f.js\"></script>")
                        .into_boxed_str(),
                ),
            );
            v[1] = (
                Box::leak(format!("assets/app.{n}b3c4d5e6f.js").into_boxed_str()),
                Box::leak(format!("v{n}").into_boxed_str()),
            );
            let (next, after) = ship(
                &v,
                Some(&manifest),
                &listing,
                &target(&format!("r{n}"), day),
            );
            let deleted: Vec<&str> = next.deletes.iter().map(|d| d.key.as_str()).collect();
            if n < 5 {
                assert!(
                    !deleted.contains(&"assets/app.1a2b3c4d5e.js"),
                    "release {n}: {deleted:?}"
                );
            } else {
                assert!(
                    deleted.contains(&"assets/app.1a2b3c4d5e.js"),
                    "release {n}: {deleted:?}"
                );
            }
            manifest = next.manifest;
            listing = after;
        }
    }

    #[test]
    fn a_bucket_without_a_manifest_is_adopted_by_etag() {
        let built = files(V1);
        let listing: BTreeMap<String, String> = built
            .iter()
            .map(|f| (f.path.clone(), format!("\"{}\"", f.md5)))
            .collect();
        let plan = plan(
            &built,
            &Remote {
                manifest: None,
                listing: &listing,
            },
            &target("r1", 0),
        );
        assert!(plan.uploads.is_empty(), "{:?}", plan.uploads);
        assert_eq!(plan.copies.len(), 4);
        let multipart: BTreeMap<String, String> = listing
            .keys()
            .map(|k| (k.clone(), "\"abc-2\"".into()))
            .collect();
        let plan = super::plan(
            &built,
            &Remote {
                manifest: None,
                listing: &multipart,
            },
            &target("r1", 0),
        );
        assert_eq!(plan.uploads.len(), 4);
    }

    #[test]
    fn file_paths_come_first_then_few_folder_wildcards_then_everything() {
        let few: Vec<Action> = (0..20)
            .map(|i| Action::delete(&format!("docs/page{i}.html"), "x"))
            .collect();
        assert_eq!(invalidation(&few, &[]).len(), 20, "exact paths");
        let actions: Vec<Action> = (0..INVALIDATION_FILES)
            .map(|i| Action::delete(&format!("docs/page{i}.html"), "x"))
            .chain([Action::delete("index.html", "x")])
            .collect();
        assert_eq!(invalidation(&actions, &[]), ["/", "/docs/*", "/index.html"]);
        let spread: Vec<Action> = (0..INVALIDATION_FILES + 1)
            .map(|i| Action::delete(&format!("f{}/page{i}.html", i % 6), "x"))
            .collect();
        assert_eq!(
            invalidation(&spread, &[]),
            ["/*"],
            "six wildcards are too many"
        );
    }

    #[test]
    fn invalidation_paths_encode_what_cloudfront_says_and_nothing_else() {
        let actions = [
            Action::delete("press kit/ü~[1].txt", "x"),
            Action::delete("a-b_c.d/e(f)+g=h&i,j@k$l!m'n;o:p.txt", "x"),
            Action::delete("100%.html", "x"),
        ];
        assert_eq!(
            invalidation(&actions, &[]),
            [
                "/100%25.html",
                "/a-b_c.d/e(f)+g=h&i,j@k$l!m'n;o:p.txt",
                "/press%20kit/%C3%BC%7E%5B1%5D.txt",
            ]
        );
        let wildcard = encode_path("/my docs/*");
        assert_eq!(wildcard, "/my%20docs/*");
    }
}
