//! The vulnerability gate's step: each image about to roll, its ECR scan read
//! (`DescribeImageScanFindings`: basic findings and Amazon Inspector's enhanced ones, every
//! page) and judged by the environment's `scan` policy ([`crate::scan::judge`]). A scan
//! still in progress is waited for, up to the policy's `wait`. The step runs in a phase of
//! its own before any migration: a refused image changes nothing.

use super::tally::{Fact, Tally};
use super::Executor;
use crate::aws::AwsContext as _;
use crate::deploy_plan::ServiceStep;
use crate::error::Error;
use crate::phase::Phase;
use crate::report::StepState;
use crate::scan::{judge, Finding, Scan, ScanPolicy, Severity};
use anyhow::{Context as _, Result};
use aws_sdk_ecr::types as ecr;
use std::time::{Instant, SystemTime};

/// Judges the image of `step`'s service (the one the images phase pushed or found).
pub async fn check(exec: &Executor<'_>, step: &ServiceStep, earlier: &Tally) -> Result<String> {
    let policy = (step.target.scan.as_deref()).context("a scan step has a policy")?;
    let image = earlier.image(&step.service)?;
    let digest = image.rsplit_once('@').map_or(image, |(_, d)| d);
    let scan = until_scanned(exec, step, digest, policy).await?;
    let judgement = judge(&scan, policy, SystemTime::now());
    if !judgement.passes() {
        let refusal = format!("{}: {}", step.service, judgement.refusal(image));
        if !exec.options.allow_vulnerable {
            return Err(Error::Vulnerable(refusal).into());
        }
        // An emergency rollback: said, and kept in the ledger with what it let through.
        exec.report
            .warn(format!("{refusal}\n  rolled anyway: --allow-vulnerable"));
        let overridden = (judgement.blocking.iter())
            .chain(judgement.expired.iter().map(|(f, _)| f))
            .map(ToString::to_string)
            .chain(judgement.unscanned.clone())
            .collect();
        exec.record(
            &step.service,
            Fact::ScanOverridden {
                findings: overridden,
            },
        );
    }
    if let Some(why) = &judgement.warning {
        let said = format!(
            "{}: rolled unscanned ({why}): `scan.unsupported = \"allow\"`",
            step.service
        );
        exec.report.warn(said);
    }
    for (finding, reason) in &judgement.allowed {
        let said = format!("{}: {finding} allowed: {reason}", step.service);
        exec.report.warn(said);
    }
    let found = match &scan {
        Scan::Complete(findings) => findings.len(),
        _ => 0,
    };
    Ok(format!(
        "{found} finding(s), none at or above {} unallowed",
        policy.fail_on.get_ref()
    ))
}

/// The scan, once it is done; a scan still pending after the policy's `wait` refuses.
async fn until_scanned(
    exec: &Executor<'_>,
    step: &ServiceStep,
    digest: &str,
    policy: &ScanPolicy,
) -> Result<Scan> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        match read(exec, &step.target.repository, digest).await? {
            Read::Done(scan) => return Ok(scan),
            Read::Pending(status) if started.elapsed() < policy.wait() => {
                if status != last {
                    let line = format!("scan {status}: waiting (up to {})", humantime::format_duration(policy.wait()));
                    exec.progress(Some(&step.service), Phase::Scan, StepState::Progress, line);
                    last = status;
                }
            }
            Read::Pending(status) => {
                return Err(Error::Vulnerable(format!(
                    "{}: the scan of {digest} is still {status} after {} (scan.wait): not rolled unscanned",
                    step.service,
                    humantime::format_duration(policy.wait())
                ))
                .into())
            }
        }
        tokio::time::sleep(exec.options.poll.max(std::time::Duration::from_millis(500))).await;
    }
}

/// One reading of an image's scan.
enum Read {
    Done(Scan),
    /// Not yet: ECR's status (`IN_PROGRESS`, `PENDING`, or no scan yet).
    Pending(String),
}

/// Every page of the image's findings, or its pending status.
async fn read(exec: &Executor<'_>, repository: &str, digest: &str) -> Result<Read> {
    let mut findings = Vec::new();
    let mut token = None;
    loop {
        let sent = (exec.aws.ecr.describe_image_scan_findings())
            .repository_name(repository)
            .image_id(ecr::ImageIdentifier::builder().image_digest(digest).build())
            .set_next_token(token.take())
            .max_results(1000)
            .send()
            .await;
        let out = match sent {
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_scan_not_found_exception()) =>
            {
                return Ok(Read::Pending("not started".into()))
            }
            sent => sent.aws_context(|| format!("reading the scan of {repository}@{digest}"))?,
        };
        let status = out.image_scan_status();
        let (code, description) = (
            status.and_then(|s| s.status()).map_or("", |s| s.as_str()),
            status.and_then(|s| s.description()).unwrap_or_default(),
        );
        match code {
            "COMPLETE" | "ACTIVE" => {}
            "IN_PROGRESS" | "PENDING" => return Ok(Read::Pending(code.to_owned())),
            "UNSUPPORTED_IMAGE" => {
                return Ok(Read::Done(Scan::Unsupported(format!(
                    "UNSUPPORTED_IMAGE: {description}"
                ))))
            }
            other => {
                let why = format!("the scan ended {other}: {description}");
                return Ok(Read::Done(Scan::Failed(why)));
            }
        }
        if let Some(found) = out.image_scan_findings() {
            findings.extend(found.findings().iter().map(basic));
            findings.extend(found.enhanced_findings().iter().flat_map(enhanced));
        }
        match out.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(Read::Done(Scan::Complete(findings))),
        }
    }
}

/// A basic scan's finding: the package in its attributes.
fn basic(finding: &ecr::ImageScanFinding) -> Finding {
    let attribute = |key: &str| {
        (finding.attributes().iter())
            .find(|a| a.key() == key)
            .and_then(|a| a.value())
            .map(str::to_owned)
    };
    Finding {
        id: finding.name().unwrap_or("?").to_owned(),
        severity: finding
            .severity()
            .map_or(Severity::Undefined, |s| Severity::from_ecr(s.as_str())),
        package: attribute("package_name"),
        version: attribute("package_version"),
        fixed_in: None,
    }
}

/// An Inspector finding: one per vulnerable package it names (each with its fix version).
fn enhanced(finding: &ecr::EnhancedImageScanFinding) -> Vec<Finding> {
    let details = finding.package_vulnerability_details();
    let id = details
        .and_then(|d| d.vulnerability_id())
        .or(finding.title())
        .unwrap_or("?");
    let severity = Severity::from_ecr(finding.severity().unwrap_or_default());
    let packages = details.map(|d| d.vulnerable_packages()).unwrap_or_default();
    if packages.is_empty() {
        return vec![Finding {
            id: id.to_owned(),
            severity,
            package: None,
            version: None,
            fixed_in: None,
        }];
    }
    (packages.iter())
        .map(|p| Finding {
            id: id.to_owned(),
            severity,
            package: p.name().map(str::to_owned),
            version: p.version().map(str::to_owned),
            fixed_in: p
                .fixed_in_version()
                .filter(|v| *v != "NotAvailable")
                .map(str::to_owned),
        })
        .collect()
}
