//! `deploy` promoting from another environment (issue 17) on the local stack's two
//! accounts: `local` (000000000000) and `local-prod` (000000000001, `promote_from =
//! "local"`), each with its own CNCF registry. The oracles: each account's registry, read
//! through ECR's API as that account sees it (the digest a copy landed under must be the
//! one the source ran), and the cross-account refusals the stack models on AWS's (another
//! account reads a repository or bucket only where its resource policy grants it).

use crate::builds::docker;
use crate::deploy::{Deployed, Images, Project};
use serde_json::Value;
use xtask::aws::Clients;

/// The local stack's second account, where `local-prod` lives.
const PROD: &str = "000000000001";

impl Project {
    fn clients_of(&self, account: &str) -> Clients {
        self.rt.block_on(Clients::local_in(
            &self.stack.endpoint,
            "us-east-1",
            account,
        ))
    }

    /// The image (`uri@digest`) `service` runs in environment `env` of `account`.
    fn image_in(&self, account: &str, env: &str, service: &str) -> String {
        let aws = self.clients_of(account);
        let cluster = format!("{}-{env}", self.name);
        let described = self
            .rt
            .block_on(
                aws.ecs
                    .describe_services()
                    .cluster(&cluster)
                    .services(format!("{cluster}-{service}"))
                    .send(),
            )
            .unwrap();
        let arn = described.services()[0]
            .task_definition()
            .unwrap()
            .to_owned();
        let definition = self
            .rt
            .block_on(
                aws.ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .send(),
            )
            .unwrap();
        (definition
            .task_definition()
            .unwrap()
            .container_definitions()[0]
            .image())
        .unwrap()
        .to_owned()
    }

    /// The digests of account `account`'s repository of `service`, by ECR's DescribeImages.
    fn digests_in(&self, account: &str, service: &str) -> Vec<String> {
        let aws = self.clients_of(account);
        let repository = format!("{}/{service}", self.name);
        let described = self
            .rt
            .block_on(aws.ecr.describe_images().repository_name(repository).send())
            .unwrap();
        let mut digests: Vec<String> = (described.image_details().iter())
            .filter_map(|d| d.image_digest().map(str::to_owned))
            .collect();
        digests.sort();
        digests
    }

    /// The body and headers of `key` in `app`'s bucket of environment `env` of `account`.
    fn object_in(
        &self,
        account: &str,
        env: &str,
        app: &str,
        key: &str,
    ) -> (String, String, String) {
        let aws = self.clients_of(account);
        let bucket = format!("{}-{env}-{app}", self.name);
        let got = (self.rt)
            .block_on(aws.s3.get_object().bucket(bucket).key(key).send())
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let headers = (
            got.content_type().unwrap_or_default().to_owned(),
            got.cache_control().unwrap_or_default().to_owned(),
        );
        let bytes = self.rt.block_on(got.body.collect()).unwrap().into_bytes();
        (
            String::from_utf8_lossy(&bytes).into_owned(),
            headers.0,
            headers.1,
        )
    }

    /// The URI of account `account`'s repository of `service`.
    fn repository_uri(&self, account: &str, service: &str) -> String {
        let aws = self.clients_of(account);
        let name = format!("{}/{service}", self.name);
        let found = self
            .rt
            .block_on(
                aws.ecr
                    .describe_repositories()
                    .repository_names(name)
                    .send(),
            )
            .unwrap();
        found.repositories()[0].repository_uri().unwrap().to_owned()
    }

    /// `deploy --env local-prod` (a promotion, by deploy.toml) with neither cargo nor
    /// docker on the PATH: a build would fail, so a success proves none ran.
    fn promote(&self, args: &[&str]) -> Deployed {
        let bin = tempfile::tempdir().unwrap();
        let git = which("git");
        std::os::unix::fs::symlink(git, bin.path().join("git")).unwrap();
        let output = self
            .command(&[&["--env", "local-prod", "--format", "json"], args].concat())
            .env("PATH", bin.path())
            .output()
            .unwrap();
        Deployed::from(output)
    }
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{program} is not on the PATH"))
}

fn digest(image: &str) -> &str {
    image.split_once('@').map_or("", |(_, d)| d)
}

/// The plan's image of `service` (`source`, `from`, ...).
fn planned_image<'a>(run: &'a Deployed, service: &str) -> &'a Value {
    let plan = (run.events.iter())
        .find(|e| e["event"] == "plan")
        .unwrap_or_else(|| panic!("no plan in {}", run.stdout));
    let services = plan["plan"]["services"].as_array().unwrap();
    let planned = services.iter().find(|s| s["name"] == service).unwrap();
    &planned["image"]
}

#[test]
fn a_promotion_rolls_the_digests_the_source_ran_builds_nothing_and_rolls_back() {
    let project = Project::new(Images::Own);
    project.deploy(&["--changed"]).expect(0);
    let ran: Vec<String> = ["api", "worker"]
        .map(|s| digest(&project.image_in("000000000000", "local", s)).to_owned())
        .to_vec();

    // The modelled stack checks no health: nothing is promotable until deploy.toml says
    // so, and every refusal is listed at once; the second account is left as it was.
    let refused = project.promote(&[]);
    refused.expect(3);
    for service in ["api", "worker"] {
        assert!(
            refused.stderr.contains(&format!(
                "service {service}: its health was not checked in local"
            )),
            "{}",
            refused.stderr
        );
        assert!(project.digests_in(PROD, service).is_empty());
    }
    for service in ["api", "worker"] {
        project.repo.replace(
            "deploy.toml",
            &format!("[services.{service}]\n"),
            &format!("[services.{service}]\npromote_unchecked = true\n"),
        );
    }
    project.repo.commit("the modelled stack checks no health");

    let promoted = project.promote(&[]);
    promoted.expect(0);
    for (service, ran) in ["api", "worker"].iter().zip(&ran) {
        let image = planned_image(&promoted, service);
        assert_eq!(image["source"], "promote", "{}", promoted.stdout);
        assert_eq!(image["from"], "local");
        assert_eq!(&image["digest"], ran.as_str());
        let running = project.image_in(PROD, "local-prod", service);
        assert_eq!(digest(&running), ran, "{service} runs another image");
        // The copy is in the second account's own registry, under the same digest.
        assert_eq!(project.digests_in(PROD, service), vec![ran.clone()]);
        assert!(
            running.starts_with(&format!("{}@", project.repository_uri(PROD, service))),
            "{service} runs from another account's registry: {running}"
        );
        assert_eq!(promoted.phases_of(service)[0], "build");
    }
    // Each app ships the release `local` runs, byte for byte and header for header, with
    // this environment's config.json.
    for app in ["admin", "portal"] {
        let planned = (promoted.events.iter())
            .find(|e| e["event"] == "plan")
            .and_then(|e| e["plan"]["apps"].as_array().cloned())
            .and_then(|apps| apps.into_iter().find(|a| a["name"] == app))
            .unwrap();
        assert_eq!(planned["promote"]["from"], "local", "{planned}");
        let page = |account, env| project.object_in(account, env, app, "index.html");
        assert_eq!(page(PROD, "local-prod"), page("000000000000", "local"));
        let (config, _, cache) = project.object_in(PROD, "local-prod", app, "config.json");
        assert_eq!(cache, "no-cache");
        assert!(config.contains("\"local-prod\""), "{config}");
    }
    let phases: Vec<String> = promoted.done().into_iter().map(|(_, p)| p).collect();
    assert!(!phases.contains(&"compile".to_owned()), "{phases:?}");
    assert!(promoted.stdout.contains("copied"), "{}", promoted.stdout);

    // Promoting again: everything is already there.
    let again = project.promote(&[]);
    again.expect(0);
    assert_eq!(again.summary()["outcome"], "nothing_to_deploy");

    // A version `local` never ran is refused with its reason; nothing changes.
    project.change("services/worker/src/main.rs");
    let head = project.repo.head();
    let never = project.promote(&["--sha", &head]);
    never.expect(3);
    assert!(
        never
            .stderr
            .contains("service worker: local never ran it at fingerprint"),
        "{}",
        never.stderr
    );
    assert_eq!(project.digests_in(PROD, "worker"), vec![ran[1].clone()]);

    // Once it did, it is promoted; and the promoted environment rolls back like any other.
    project.deploy(&["--changed"]).expect(0);
    let newer = project.promote(&[]);
    newer.expect(0);
    let worker_b = digest(&project.image_in(PROD, "local-prod", "worker")).to_owned();
    assert_ne!(worker_b, ran[1]);
    let history = project.run(&["history", "--env", "local-prod", "--format", "json"]);
    history.expect(0);
    let records: Vec<Value> = serde_json::from_str(&history.stdout).unwrap();
    assert!(
        records.iter().all(|r| r["promoted_from"] == "local"),
        "{}",
        history.stdout
    );
    let back = project.run(&[
        "rollback",
        "--env",
        "local-prod",
        "--previous",
        "--format",
        "json",
    ]);
    back.expect(0);
    let worker = project.image_in(PROD, "local-prod", "worker");
    assert_eq!(digest(&worker), ran[1], "{}", back.all_output());
}

/// An image index (what `docker buildx` pushes for several platforms; here made by
/// `docker manifest`, the Docker CLI's own tool, which Docker 20.10 has and buildx it has
/// not) is copied whole under its digest: the index, its manifest and their blobs. The
/// oracles: the second account's CNCF registry, which checks each blob's digest as it is
/// uploaded and serves the index back by digest, and the Docker engine pulling the copy.
#[test]
fn an_image_index_is_copied_whole_under_its_digest_and_a_repository_that_grants_nothing_refuses() {
    let project = Project::new(Images::Own);
    project.bootstrap();
    let status = crate::stack::xtask_local(&project.stack.dir, &["status", "--format", "json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let account =
        |index: usize, key: &str| status["accounts"][index][key].as_str().unwrap().to_owned();
    let (raw_source, front_source) = (account(0, "registry"), account(0, "front"));
    let (raw_target, front_target) = (account(1, "registry"), account(1, "front"));

    // The source: the first account's `worker` repository (local grants local-prod reads).
    let repository = format!("{}/worker", project.name);
    let single = crate::stack::example_image(&raw_source, &repository, "single", "worker");
    let index_tag = format!("{raw_source}/{repository}:multi");
    docker(&["manifest", "create", "--insecure", &index_tag, &single]);
    let index = docker(&["manifest", "push", "--purge", "--insecure", &index_tag]);
    assert!(index.starts_with("sha256:"), "{index}");

    let prod = project.clients_of(PROD);
    let copy_to = format!("{}/copies", project.name);
    project
        .rt
        .block_on(
            prod.ecr
                .create_repository()
                .repository_name(&copy_to)
                .send(),
        )
        .unwrap();
    let (user, secret) = crate::stack::ecr_credentials_of(&project.rt, &prod);
    let moved = project
        .rt
        .block_on(xtask::exec::copy::between(
            &format!("{front_source}/{repository}@{index}"),
            &format!("{front_target}/{copy_to}:copied"),
            (&user, &secret),
        ))
        .unwrap();
    assert_eq!(moved.manifests, 2, "{moved:?}");
    assert!(moved.blobs >= 2, "{moved:?}");

    // The target's own registry serves the index under its digest, byte for byte.
    let served = ureq::get(&format!("http://{raw_target}/v2/{copy_to}/manifests/copied"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json",
        )
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(&served)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(format!("sha256:{hex}"), index);
    assert!(project.digests_in(PROD, "copies").contains(&index));
    docker(&["pull", "-q", &format!("{raw_target}/{copy_to}@{index}")]);

    // A repository of the first account whose policy grants the second nothing refuses it.
    let private = format!("{}/private", project.name);
    let first = project.clients_of("000000000000");
    project
        .rt
        .block_on(
            first
                .ecr
                .create_repository()
                .repository_name(&private)
                .send(),
        )
        .unwrap();
    let hidden = format!("{raw_source}/{private}:single");
    docker(&["tag", &single, &hidden]);
    docker(&["push", "-q", &hidden]);
    let digest = docker(&["inspect", "--format", "{{index .RepoDigests 0}}", &hidden]);
    let digest = digest.rsplit_once('@').unwrap().1;
    let refused = project
        .rt
        .block_on(xtask::exec::copy::between(
            &format!("{front_source}/{private}@{digest}"),
            &format!("{front_target}/{copy_to}:refused"),
            (&user, &secret),
        ))
        .unwrap_err();
    let refused = format!("{refused:#}");
    assert!(refused.contains("is not authorized"), "{refused}");
}
