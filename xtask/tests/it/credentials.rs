//! Temporary credentials as CI gets them: STS issues them for a fixed time (at least 900 s,
//! one hour by default for GitHub's OIDC role), a job exports them as variables, and
//! nothing renews them. The stack's STS issues expiring credentials and refuses them once
//! expired (`ExpiredToken`, as AWS answers); its clock can be moved on instead of waiting.

use crate::deploy::{Deployed, Images, Project};
use std::process::Stdio;

/// Moves the stack's clock for credential expiry by `seconds` (0 puts it back).
fn clock(project: &Project, seconds: u64) {
    ureq::post(&format!("{}/_xtask/clock", project.stack.endpoint))
        .send(format!("{{\"offset_seconds\": {seconds}}}"))
        .unwrap();
}

#[test]
fn credentials_expiring_before_the_deploy_could_end_are_refused_and_expired_ones_say_so() {
    let project = Project::new(Images::Shared);
    project.bootstrap();
    project.add_shared_environment("");
    // 15 minutes of a role, as `aws sts assume-role` or a CI credentials action gives them.
    let assumed = project
        .rt
        .block_on(
            project
                .aws
                .sts
                .assume_role()
                .role_arn("arn:aws:iam::000000000000:role/deploy")
                .role_session_name("it")
                .duration_seconds(900)
                .send(),
        )
        .unwrap();
    let credentials = assumed.credentials().unwrap();
    let expiration = credentials
        .expiration()
        .fmt(aws_sdk_sts::primitives::DateTimeFormat::DateTime)
        .unwrap();
    let deploy = |args: &[&str]| {
        let mut command = project.command(
            &[
                &[
                    "--env",
                    "shared",
                    "--services",
                    "api",
                    "--changed",
                    "--dry-run",
                ],
                args,
            ]
            .concat(),
        );
        command
            .env("AWS_ENDPOINT_URL", &project.stack.endpoint)
            .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
            .env("AWS_SESSION_TOKEN", credentials.session_token())
            .env("AWS_CREDENTIAL_EXPIRATION", &expiration)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null());
        Deployed::from(command.output().unwrap())
    };

    // A deploy whose phases may each take 15 minutes outlives them: refused, nothing done.
    let refused = deploy(&["--timeout", "15m"]);
    refused.expect(3);
    let all = refused.all_output();
    assert!(all.contains("the AWS credentials expire in"), "{all}");
    assert!(all.contains("role-duration-seconds"), "{all}");
    // One whose phases take a minute at most fits.
    deploy(&["--timeout", "1m"]).expect(0);

    // Past their expiry AWS refuses them, and the message says what happened.
    clock(&project, 1000);
    let expired = deploy(&["--timeout", "1m"]);
    clock(&project, 0);
    assert_ne!(expired.code, 0);
    let all = expired.all_output();
    assert!(all.contains("ExpiredToken"), "{all}");
    assert!(all.contains("credentials expired"), "{all}");
}
