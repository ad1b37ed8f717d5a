//! Apps shipped by `cargo xtask deploy` to S3 behind CloudFront on the local stack: what
//! moves on a first upload, an identical rebuild, one changed file and a header change; a
//! missing asset and an upload error leave the live site as it was; retention keeps old
//! chunks; activating an earlier release rolls the app back without a build.

use crate::deploy::{fault_is_used_up, remove_fault, Images, Project};
use serde_json::{json, Value};
use std::time::Duration;
use xtask::spa::Bucket;

/// One object of the app's bucket: its text and the headers it is served with.
pub(crate) struct Served {
    pub(crate) body: String,
    content_type: String,
    cache_control: String,
}

impl Project {
    pub(crate) fn app_bucket(&self, app: &str) -> String {
        format!("{}-local-{app}", self.name)
    }

    pub(crate) fn served(&self, app: &str, key: &str) -> Option<Served> {
        let got = self
            .rt
            .block_on(
                self.aws
                    .s3
                    .get_object()
                    .bucket(self.app_bucket(app))
                    .key(key)
                    .send(),
            )
            .ok()?;
        let content_type = got.content_type().unwrap_or_default().to_owned();
        let cache_control = got.cache_control().unwrap_or_default().to_owned();
        let bytes = self.rt.block_on(got.body.collect()).unwrap().into_bytes();
        Some(Served {
            body: String::from_utf8_lossy(&bytes).into_owned(),
            content_type,
            cache_control,
        })
    }

    /// The app's manifest in its bucket.
    fn app_manifest(&self, app: &str) -> Value {
        let manifest = self.served(app, &xtask::spa::manifest::key(app)).unwrap();
        serde_json::from_str(&manifest.body).unwrap()
    }

    /// Every invalidation of the app's distribution, newest first, as path lists.
    fn invalidations(&self, app: &str) -> Vec<Vec<String>> {
        let bucket = self.app_bucket(app);
        let id = self
            .rt
            .block_on(xtask::live::distribution(&self.aws, &bucket))
            .unwrap()
            .expect("the app's distribution");
        let listed = self
            .rt
            .block_on(
                self.aws
                    .cloudfront
                    .list_invalidations()
                    .distribution_id(&id)
                    .send(),
            )
            .unwrap();
        // Newest first: by creation time, then by listing order (which is creation order).
        let mut ids: Vec<(f64, usize, String)> = listed
            .invalidation_list()
            .map(|l| {
                l.items()
                    .iter()
                    .enumerate()
                    .map(|(n, i)| (i.create_time().as_secs_f64(), n, i.id().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        let ids: Vec<String> = ids.into_iter().map(|(_, _, id)| id).collect();
        ids.iter()
            .map(|inv| {
                let got = self
                    .rt
                    .block_on(
                        self.aws
                            .cloudfront
                            .get_invalidation()
                            .distribution_id(&id)
                            .id(inv)
                            .send(),
                    )
                    .unwrap();
                let batch = got.invalidation().unwrap().invalidation_batch().unwrap();
                batch.paths().unwrap().items().to_vec()
            })
            .collect()
    }

    /// The hashed name the app's build gives `assets/<name>` now, from the live page.
    fn live_asset(&self, app: &str, prefix: &str) -> String {
        let page = self.served(app, "index.html").unwrap().body;
        let start = page
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix} in {page}"));
        let end = page[start..].find('"').unwrap();
        page[start..start + end].to_owned()
    }
}

#[test]
fn a_first_upload_an_identical_rebuild_one_changed_file_and_a_header_change() {
    let project = Project::new(Images::Shared);
    let first = project.deploy(&["--changed", "--services", "admin"]);
    first.expect(0);
    let admin = first.app("admin");
    assert_eq!(admin["outcome"], "deployed", "{}", first.stdout);
    // The build's four files and the environment's config.json.
    assert_eq!(admin["uploaded"], 5, "{admin}");
    assert_eq!(admin["invalidated_paths"], 4, "{admin}");
    let page = project.served("admin", "index.html").unwrap();
    assert_eq!(page.cache_control, "no-cache");
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    // The build names no environment (one build can be promoted anywhere); the deploy
    // writes the environment's config.json beside it, never cached.
    assert!(!page.body.contains("local"), "{}", page.body);
    let config = project.served("admin", "config.json").unwrap();
    assert_eq!(config.cache_control, "no-cache");
    assert_eq!(config.content_type, "application/json; charset=utf-8");
    let config: serde_json::Value = serde_json::from_str(&config.body).unwrap();
    assert_eq!(config["env"], "local");
    let chunk = project.live_asset("admin", "assets/app.");
    let served = project.served("admin", &chunk).unwrap();
    assert_eq!(served.cache_control, "public, max-age=31536000, immutable");
    assert!(
        served.content_type.contains("javascript"),
        "{}",
        served.content_type
    );
    assert_eq!(
        project.served("admin", "robots.txt").unwrap().cache_control,
        "public, max-age=300"
    );
    assert!(
        project.served("portal", "index.html").is_none(),
        "portal was not selected"
    );
    assert_eq!(project.invalidations("admin").len(), 1);

    // Rebuilt from the same sources (new files, new mtimes): nothing moves.
    let again = project.deploy(&["--all", "--services", "admin"]);
    again.expect(0);
    let admin = again.app("admin");
    assert_eq!(
        (
            admin["uploaded"].as_u64(),
            admin["copied"].as_u64(),
            admin["invalidated_paths"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{admin}"
    );
    assert_eq!(admin["unchanged"], 5);
    assert_eq!(
        project.invalidations("admin").len(),
        1,
        "no new invalidation"
    );

    // One changed source file: its new chunk and the page, and at most `/` and `/index.html`.
    project.change("apps/admin/src/assets/app.js");
    let changed = project.deploy(&["--changed", "--services", "admin"]);
    changed.expect(0);
    let admin = changed.app("admin");
    assert_eq!(admin["uploaded"], 2, "{admin}");
    assert_eq!(admin["copied"], 1, "{admin}");
    let newest = &project.invalidations("admin")[0];
    assert!(
        newest.len() <= 2 && newest.iter().all(|p| p == "/" || p == "/index.html"),
        "{newest:?}"
    );
    let new_chunk = project.live_asset("admin", "assets/app.");
    assert_ne!(new_chunk, chunk);
    assert!(
        project.served("admin", &chunk).is_some(),
        "the old chunk stays for open tabs"
    );

    // A header change alone is a copy, never an upload of the file.
    project.repo.append(
        "deploy.toml",
        "\n[apps.admin.cache_control]\n\"robots.txt\" = \"public, max-age=60\"\n",
    );
    project.repo.commit("robots.txt cached for a minute");
    let headers = project.deploy(&["--changed", "--services", "admin"]);
    headers.expect(0);
    let admin = headers.app("admin");
    assert_eq!(
        admin["uploaded"], 1,
        "only the page (its version changed): {admin}"
    );
    let robots = project.served("admin", "robots.txt").unwrap();
    assert_eq!(robots.cache_control, "public, max-age=60");
    let plan_events: Vec<&serde_json::Value> = headers
        .events
        .iter()
        .filter(|e| e["event"] == "step" && e["phase"] == "ship")
        .collect();
    assert!(!plan_events.is_empty());
}

#[test]
fn a_missing_asset_or_a_failed_upload_leaves_the_live_site_as_it_was() {
    let project = Project::new(Images::Shared);
    project
        .deploy(&["--changed", "--services", "admin"])
        .expect(0);
    let live = project.served("admin", "index.html").unwrap().body;

    project.repo.replace(
        "apps/admin/src/index.html",
        "</body>",
        "<script src=\"assets/missing.0123456789.js\"></script></body>",
    );
    project
        .repo
        .commit("a page that loads a file the build does not make");
    let missing = project.deploy(&["--changed", "--services", "admin"]);
    missing.expect(16);
    assert!(
        missing
            .all_output()
            .contains("index.html loads assets/missing.0123456789.js"),
        "{}",
        missing.all_output()
    );
    assert_eq!(project.served("admin", "index.html").unwrap().body, live);
    assert_eq!(missing.app("admin")["outcome"], "failed");
    assert!(project.keys("deploy.lock").is_empty());

    project.repo.replace(
        "apps/admin/src/index.html",
        "<script src=\"assets/missing.0123456789.js\"></script></body>",
        "</body>",
    );
    project
        .repo
        .append("apps/admin/src/assets/app.js", "\n// upload-fault-marker\n");
    project.repo.commit("a chunk whose upload fails");
    let fault = project.stack.fault(json!({
        "kind": "error", "status": 403, "code": "AccessDenied", "operation": "s3:PutObject",
        "match": "upload-fault-marker", "count": 100,
    }));
    let failed = project.deploy(&["--changed", "--services", "admin"]);
    remove_fault(project.stack, &fault);
    failed.expect(16);
    assert!(
        failed.all_output().contains("AccessDenied"),
        "{}",
        failed.all_output()
    );
    assert_eq!(project.served("admin", "index.html").unwrap().body, live);

    // Fixed, it ships.
    project
        .deploy(&["--changed", "--services", "admin"])
        .expect(0);
    assert_ne!(project.served("admin", "index.html").unwrap().body, live);
}

#[test]
fn activating_the_previous_release_rolls_the_app_back_without_a_build() {
    let project = Project::new(Images::Shared);
    let first = project.deploy(&["--changed", "--services", "portal"]);
    first.expect(0);
    let release = first.app("portal")["release"].as_str().unwrap().to_owned();
    let page = project.served("portal", "index.html").unwrap().body;
    project.change("apps/portal/src/assets/app.js");
    project
        .deploy(&["--changed", "--services", "portal"])
        .expect(0);
    assert_ne!(project.served("portal", "index.html").unwrap().body, page);

    let bucket = Bucket {
        aws: &project.aws,
        name: project.app_bucket("portal"),
        concurrency: 4,
    };
    // CloudFront refuses twice (too many invalidations in progress): retried, not fatal.
    let busy = project.stack.fault(json!({
        "kind": "error", "status": 400, "code": "TooManyInvalidationsInProgress",
        "operation": "cloudfront:CreateInvalidation", "count": 2,
    }));
    let shipped = project
        .rt
        .block_on(bucket.activate("portal", &release, "rollback-test"))
        .unwrap();
    assert!(
        fault_is_used_up(project.stack, &busy),
        "CloudFront never refused"
    );
    assert_eq!(shipped.uploaded, 0);
    assert_eq!(shipped.copied, 1);
    assert_eq!(project.served("portal", "index.html").unwrap().body, page);
    assert_eq!(project.invalidations("portal")[0], ["/", "/index.html"]);
    // What is live is the old release again: the next deploy ships the new one again.
    let redeploy = project.deploy(&["--changed", "--services", "portal"]);
    redeploy.expect(0);
    assert_eq!(
        redeploy.app("portal")["uploaded"],
        0,
        "its bytes are stored already"
    );
}

#[test]
fn a_bucket_filled_by_another_tool_is_adopted_without_uploading_it_again() {
    let project = Project::new(Images::Shared);
    let dry = project.deploy(&["--changed", "--services", "admin", "--dry-run"]);
    dry.expect(0);
    assert!(
        dry.stdout
            .contains("would upload .deploy/admin/releases/(dry-run)/index.html: new"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("would activate index.html"),
        "{}",
        dry.stdout
    );
    assert!(
        project.served("admin", "index.html").is_none(),
        "a dry run ships nothing"
    );
    // What `aws s3 sync` would have left: the build's files, no manifest.
    let dist = project.repo.path().join("apps/admin/dist");
    let built = xtask::spa::files::read_dist(&dist, &Default::default()).unwrap();
    for file in &built {
        project
            .rt
            .block_on(
                project
                    .aws
                    .s3
                    .put_object()
                    .bucket(project.app_bucket("admin"))
                    .key(&file.path)
                    .body(file.bytes.clone().into())
                    .send(),
            )
            .unwrap();
    }
    let adopted = project.deploy(&["--changed", "--services", "admin"]);
    adopted.expect(0);
    let admin = adopted.app("admin");
    // Only config.json, which the deploy writes itself, is new.
    assert_eq!(admin["uploaded"], 1, "{admin}");
    assert!(admin["copied"].as_u64().unwrap() >= 4, "{admin}");
    assert_eq!(
        project.served("admin", "index.html").unwrap().cache_control,
        "no-cache"
    );
}

#[test]
fn a_failed_app_build_stops_the_deploy_before_anything_ships_or_rolls() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let worker = project.task_definition("worker");
    project
        .repo
        .append("services/worker/src/main.rs", "\n// and a worker change\n");
    project.repo.replace(
        "apps/admin/build.mjs",
        "buildSpa(import.meta.dirname);",
        "throw new Error('build broke');",
    );
    project.repo.commit("a build that fails");
    let failed = project.deploy(&["--changed"]);
    failed.expect(10);
    assert!(
        failed.all_output().contains("build broke"),
        "{}",
        failed.all_output()
    );
    assert_eq!(project.task_definition("worker"), worker, "nothing rolled");
    assert!(
        project.served("admin", "index.html").is_none(),
        "nothing shipped"
    );
    assert_eq!(failed.app("admin")["outcome"], "failed");
}

#[test]
fn files_whose_names_cloudfront_wants_encoded_are_invalidated_encoded() {
    let project = Project::new(Images::Shared);
    // A space, a non-ASCII letter and a `~`: CloudFront refuses them raw in a path.
    project
        .repo
        .write("apps/admin/public/press kit ü~1.txt", "press\n");
    project.repo.commit("a file with a name to encode");
    let deployed = project.deploy(&["--changed", "--services", "admin"]);
    deployed.expect(0);
    assert!(project.served("admin", "press kit ü~1.txt").is_some());
    let paths = &project.invalidations("admin")[0];
    assert!(
        paths.contains(&"/press%20kit%20%C3%BC%7E1.txt".to_owned()),
        "{paths:?}"
    );
}

#[test]
fn an_invalidation_cloudfront_would_not_take_is_kept_and_sent_by_the_next_deploy() {
    let project = Project::new(Images::Shared);
    project
        .deploy(&["--changed", "--services", "admin"])
        .expect(0);
    // A file of this test's own: the fault below refuses only invalidations naming it.
    // (`<unique>-notes.txt`: a name ending in a hex tag would be a hashed asset, which
    // is never invalidated.)
    let file = format!("{}-notes.txt", crate::stack::unique("pending"));
    project
        .repo
        .write(&format!("apps/admin/public/{file}"), "note\n");
    project.repo.commit("a new public file");
    // CloudFront keeps refusing (more than the tool's retries): the release is live, its
    // invalidation is not sent.
    let busy = project.stack.fault(json!({
        "kind": "error", "status": 400, "code": "TooManyInvalidationsInProgress",
        "operation": "cloudfront:CreateInvalidation", "count": 100, "match": file,
    }));
    let refused = project.deploy(&["--changed", "--services", "admin"]);
    remove_fault(project.stack, &busy);
    refused.expect(16);
    assert!(
        refused.all_output().contains("kept in the app's manifest"),
        "{}",
        refused.all_output()
    );
    let manifest = project.app_manifest("admin");
    let pending: Vec<String> = serde_json::from_value(manifest["pending_invalidation"].clone())
        .unwrap_or_else(|_| panic!("{manifest}"));
    assert!(pending.contains(&format!("/{file}")), "{pending:?}");
    let before = project.invalidations("admin").len();

    // Nothing changed since, but the next deploy sends what is pending, and says why.
    let next = project.deploy(&["--changed", "--services", "admin"]);
    next.expect(0);
    let plan = &next.events.iter().find(|e| e["event"] == "plan").unwrap()["plan"];
    let admin = plan["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "admin")
        .unwrap();
    assert_eq!(admin["action"], "deploy", "{admin}");
    assert_eq!(
        admin["reasons"][0]["kind"], "invalidation_pending",
        "{admin}"
    );
    let invalidations = project.invalidations("admin");
    assert_eq!(invalidations.len(), before + 1);
    assert_eq!(invalidations[0], pending);
    assert!(project.app_manifest("admin")["pending_invalidation"].is_null());
}

#[test]
fn cloudfront_keeps_invalidations_in_progress_and_refuses_past_its_limits() {
    use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let id = project
        .rt
        .block_on(xtask::live::distribution(
            &project.aws,
            &project.app_bucket("admin"),
        ))
        .unwrap()
        .unwrap();
    let send = |paths: &[String]| {
        let batch = InvalidationBatch::builder()
            .paths(
                Paths::builder()
                    .quantity(paths.len() as i32)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .unwrap(),
            )
            .caller_reference(crate::stack::unique("ref"))
            .build()
            .unwrap();
        // Err: whether CloudFront refused for too many invalidations in progress.
        project
            .rt
            .block_on(
                project
                    .aws
                    .cloudfront
                    .create_invalidation()
                    .distribution_id(&id)
                    .invalidation_batch(batch)
                    .send(),
            )
            .map_err(|err| {
                err.as_service_error()
                    .is_some_and(|e| e.is_too_many_invalidations_in_progress())
            })
    };
    let wildcards =
        |n: usize, tag: &str| -> Vec<String> { (0..n).map(|i| format!("/{tag}{i}/*")).collect() };
    // 15 wildcard paths in progress at most (CloudFront developer guide, "Concurrent
    // invalidation request maximum"); file paths have their own allowance.
    let first = send(&wildcards(15, "a")).unwrap();
    assert_eq!(
        send(&wildcards(1, "b")).map(drop),
        Err(true),
        "a 16th wildcard"
    );
    send(&["/index.html".to_owned()]).unwrap();
    let first = first.invalidation().unwrap().id().to_owned();
    let status = || {
        project
            .rt
            .block_on(
                project
                    .aws
                    .cloudfront
                    .get_invalidation()
                    .distribution_id(&id)
                    .id(&first)
                    .send(),
            )
            .unwrap()
            .invalidation()
            .unwrap()
            .status()
            .to_owned()
    };
    assert_eq!(status(), "InProgress");
    crate::stack::eventually(
        "the invalidation to complete",
        Duration::from_secs(60),
        || (status() == "Completed").then_some(()),
    );
    send(&wildcards(1, "c")).unwrap();
}

#[test]
fn two_distributions_with_the_bucket_as_comment_are_refused_not_guessed_between() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let bucket = project.app_bucket("admin");
    let id = project
        .rt
        .block_on(xtask::live::distribution(&project.aws, &bucket))
        .unwrap()
        .unwrap();
    // A second distribution with the same comment (a copy someone made by hand).
    let config = project
        .rt
        .block_on(
            project
                .aws
                .cloudfront
                .get_distribution_config()
                .id(&id)
                .send(),
        )
        .unwrap()
        .distribution_config
        .unwrap();
    let copy = aws_sdk_cloudfront::types::DistributionConfig::builder()
        .set_origins(config.origins.clone())
        .set_default_cache_behavior(config.default_cache_behavior.clone())
        .comment(&bucket)
        .enabled(true)
        .caller_reference(crate::stack::unique("copy"))
        .build()
        .unwrap();
    project
        .rt
        .block_on(
            project
                .aws
                .cloudfront
                .create_distribution()
                .distribution_config(copy)
                .send(),
        )
        .unwrap();
    let refused = project.deploy(&["--changed", "--services", "admin"]);
    refused.expect(3);
    let all = refused.all_output();
    assert!(all.contains("all have the comment"), "{all}");
    assert!(
        project.served("admin", "index.html").is_none(),
        "nothing shipped"
    );
}

/// An app's bucket in another region than the environment's (a CloudFront origin can be
/// anywhere) is found there and shipped to; a bucket the role may not read is refused
/// before anything changes. Oracle: the S3 API reference's HeadBucket (301 with
/// `x-amz-bucket-region` for a request signed for another region; 403 when access is
/// denied), which the stack now answers as S3 does (moto serves every bucket from any
/// region).
#[test]
fn an_app_bucket_in_another_region_is_used_there_and_one_forbidden_is_refused() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    let bucket = project.app_bucket("admin");
    let elsewhere = project.rt.block_on(xtask::aws::Clients::local(
        &project.stack.endpoint,
        "eu-west-1",
    ));
    // The same bucket, made again in eu-west-1 (it is empty before the first deploy).
    project
        .rt
        .block_on(project.aws.s3.delete_bucket().bucket(&bucket).send())
        .unwrap();
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    let created = (elsewhere.s3.create_bucket())
        .bucket(&bucket)
        .create_bucket_configuration(location)
        .send();
    project.rt.block_on(created).unwrap();
    let head = project
        .rt
        .block_on(project.aws.s3.head_bucket().bucket(&bucket).send())
        .unwrap_err();
    let answer = head.raw_response().unwrap();
    assert_eq!(
        answer.status().as_u16(),
        301,
        "the stack answers as S3 does"
    );
    assert_eq!(
        answer.headers().get("x-amz-bucket-region"),
        Some("eu-west-1")
    );

    let deployed = project.deploy(&["--changed", "--services", "admin"]);
    deployed.expect(0);
    let index = (elsewhere.s3.get_object())
        .bucket(&bucket)
        .key("index.html")
        .send();
    assert!(
        project.rt.block_on(index).is_ok(),
        "shipped to the bucket in its own region: {}",
        deployed.all_output()
    );

    let portal = project.app_bucket("portal");
    let fault = project.stack.fault(json!({
        "kind": "error", "operation": "s3:HeadBucket", "match": portal,
        "status": 403, "code": "Forbidden", "count": 10,
    }));
    let refused = project.deploy(&["--changed", "--services", "portal"]);
    remove_fault(project.stack, &fault);
    refused.expect(3);
    let all = refused.all_output();
    assert!(all.contains("S3 answered 403"), "{all}");
    assert!(
        project.served("portal", "index.html").is_none(),
        "nothing shipped"
    );
}

/// An activation cut off while the HTML is copied (a kill, an error that outlasts the
/// retries): the manifest, written before the HTML goes live, already names the new
/// release with its invalidation pending, so a rollback to the old release is not "already
/// there"; the next deploy copies the page the bucket lacks (the live object is not the
/// stored release's: another ETag) and sends the invalidation. Oracle: the bucket's
/// objects and ETags read through S3, and CloudFront's invalidations.
#[test]
fn an_activation_cut_off_in_the_html_is_finished_by_the_next_deploy() {
    let project = Project::new(Images::Shared);
    let first = project.deploy(&["--changed", "--services", "admin"]);
    first.expect(0);
    let old = first.app("admin")["release"].clone();
    let old_commit = project.repo.head();
    let before = project.served("admin", "index.html").unwrap().body;
    let invalidations = project.invalidations("admin").len();
    project.change("apps/admin/src/assets/app.js");
    // Every copy of this bucket's page fails (the path names bucket and key), beyond the
    // SDK's retries; other tests' buckets are left alone.
    let fault = project.stack.fault(json!({
        "kind": "error", "operation": "s3:CopyObject", "status": 500, "code": "InternalError",
        "count": 1000, "match": format!("{}/index.html", project.app_bucket("admin")),
    }));
    let cut = project.deploy(&["--changed", "--services", "admin"]);
    remove_fault(project.stack, &fault);
    assert_ne!(cut.code, 0, "{}", cut.all_output());
    let manifest = project.app_manifest("admin");
    assert_ne!(
        manifest["active"], old,
        "the new release is recorded live: {manifest:#}"
    );
    assert!(
        !manifest["pending_invalidation"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{manifest:#}"
    );
    assert_eq!(
        project.served("admin", "index.html").unwrap().body,
        before,
        "the page was not copied"
    );

    // Going back to the old release is real work, not "already there".
    let back = project.rollback(&["--sha", &old_commit, "--services", "admin", "--dry-run"]);
    back.expect(0);
    let plan = &back.events.iter().find(|e| e["event"] == "plan").unwrap()["plan"];
    assert_eq!(plan["apps"][0]["action"], "deploy", "{plan:#}");

    let next = project.deploy(&["--changed", "--services", "admin"]);
    next.expect(0);
    let page = project.served("admin", "index.html").unwrap().body;
    assert_ne!(page, before, "the next deploy made the new page live");
    let manifest = project.app_manifest("admin");
    assert!(
        manifest["pending_invalidation"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "sent: {manifest:#}"
    );
    assert_eq!(project.invalidations("admin").len(), invalidations + 1);
    assert!(
        project.invalidations("admin")[0]
            .iter()
            .any(|p| p == "/index.html"),
        "{:?}",
        project.invalidations("admin")
    );
}
