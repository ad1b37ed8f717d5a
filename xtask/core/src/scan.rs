//! The vulnerability gate: an environment's `scan` policy in deploy.toml (the severity that
//! blocks a roll, the findings allowed for a while and why), and the pure judgement of one
//! image's scan against it. The AWS layer reads the scan (`DescribeImageScanFindings`,
//! Amazon Inspector's enhanced findings); this decides.
//!
//! An image with a finding at or above `fail_on` does not roll, unless an `allow` entry
//! names the finding and its `until` date has not passed. A scan that failed, or an image
//! the scanner does not support, is not a clean scan: it blocks too, unless the policy says
//! `unsupported = "allow"` (a team that knows its images carry no package list).

use crate::diag::Diagnostic;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};
use toml::Spanned;

/// A finding's severity, as ECR and Inspector name them, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Undefined,
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Undefined,
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Undefined => "UNDEFINED",
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// ECR's name for it; an unknown one is `UNDEFINED` (never below a threshold by
    /// accident: UNDEFINED blocks nothing but is listed).
    pub fn from_ecr(name: &str) -> Severity {
        Severity::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or(Severity::Undefined)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `allow = [{ id = "CVE-2026-1234", reason = "...", until = "2027-01-31" }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    pub id: Spanned<String>,
    pub reason: Spanned<String>,
    /// The last day (UTC) the allowance holds, `YYYY-MM-DD`.
    pub until: Spanned<String>,
}

impl Allowance {
    /// The end of its `until` day (UTC), if the date is one.
    pub fn expires(&self) -> Option<SystemTime> {
        let day = self.until.get_ref();
        humantime::parse_rfc3339(&format!("{day}T23:59:59Z"))
            .ok()
            .map(|end| end + Duration::from_secs(1))
    }
}

/// What an image the scanner cannot read does to a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsupported {
    /// Not a clean scan: the roll is refused.
    #[default]
    Refuse,
    /// Rolled, with a warning.
    Allow,
}

/// An environment's `scan = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    pub fail_on: Spanned<Severity>,
    #[serde(default)]
    pub allow: Vec<Allowance>,
    /// How long to wait for a scan still in progress (humantime; default 10m).
    pub wait: Option<Spanned<String>>,
    #[serde(default)]
    pub unsupported: Unsupported,
}

const DEFAULT_WAIT: Duration = Duration::from_secs(10 * 60);

impl ScanPolicy {
    pub fn wait(&self) -> Duration {
        (self.wait.as_ref())
            .and_then(|w| humantime::parse_duration(w.get_ref()).ok())
            .unwrap_or(DEFAULT_WAIT)
    }

    /// Every problem of meaning: dates that are not dates, empty ids and reasons, a wait
    /// that does not parse or exceeds an hour.
    pub fn validate(&self, problems: &mut Vec<Diagnostic>) {
        for allowance in &self.allow {
            if allowance.expires().is_none() {
                problems.push(
                    Diagnostic::at(
                        allowance.until.span(),
                        format!("`until = \"{}\"` is not a date", allowance.until.get_ref()),
                    )
                    .with_help("write the last day the allowance holds: `until = \"2027-01-31\"`"),
                );
            }
            for (field, key) in [(&allowance.id, "id"), (&allowance.reason, "reason")] {
                if field.get_ref().trim().is_empty() {
                    problems.push(Diagnostic::at(
                        field.span(),
                        format!("an allowed finding needs a non-empty `{key}`"),
                    ));
                }
            }
        }
        if let Some(wait) = &self.wait {
            let ok = humantime::parse_duration(wait.get_ref())
                .is_ok_and(|d| d <= Duration::from_secs(3600));
            if !ok {
                problems.push(Diagnostic::at(
                    wait.span(),
                    format!(
                        "`wait = \"{}\"` is not a duration of at most 1h",
                        wait.get_ref()
                    ),
                ));
            }
        }
    }
}

/// One vulnerability in an image: its id (CVE, GHSA, ...), severity, and the package it is
/// in with the version that fixes it, when the scanner knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub severity: Severity,
    pub package: Option<String>,
    pub version: Option<String>,
    pub fixed_in: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.severity, self.id)?;
        if let Some(package) = &self.package {
            write!(f, " in {package}")?;
            if let Some(version) = &self.version {
                write!(f, " {version}")?;
            }
        }
        match &self.fixed_in {
            Some(fixed) => write!(f, " (fixed in {fixed})"),
            None => f.write_str(" (no fix released)"),
        }
    }
}

/// What the scanner said of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Complete(Vec<Finding>),
    /// The scanner cannot read this image (`UNSUPPORTED_IMAGE`), and why.
    Unsupported(String),
    /// The scan failed (`FAILED`, `FINDINGS_UNAVAILABLE`, ...), and why.
    Failed(String),
}

/// The gate's decision on one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Findings at or above the threshold that nothing allows.
    pub blocking: Vec<Finding>,
    /// Findings at or above the threshold an allowance covers: id, and its reason.
    pub allowed: Vec<(Finding, String)>,
    /// Findings whose allowance ran out: they block, and the message says so.
    pub expired: Vec<(Finding, String)>,
    /// The scan itself is not clean (unsupported, failed): why.
    pub unscanned: Option<String>,
    /// The policy lets an unscannable image through: why it was not scanned.
    pub warning: Option<String>,
}

impl Judgement {
    /// Whether the image may roll.
    pub fn passes(&self) -> bool {
        self.blocking.is_empty() && self.expired.is_empty() && self.unscanned.is_none()
    }

    /// The refusal, one finding a line, for people.
    pub fn refusal(&self, image: &str) -> String {
        let mut lines = vec![format!("image {image} may not roll:")];
        if let Some(why) = &self.unscanned {
            lines.push(format!("  {why}"));
        }
        lines.extend(self.blocking.iter().map(|f| format!("  {f}")));
        lines.extend(
            (self.expired.iter())
                .map(|(f, until)| format!("  {f}: its allowance ended on {until}")),
        );
        lines.join("\n")
    }
}

/// Judges `scan` by `policy` at `now`.
pub fn judge(scan: &Scan, policy: &ScanPolicy, now: SystemTime) -> Judgement {
    let findings = match scan {
        Scan::Complete(findings) => findings,
        Scan::Unsupported(why) | Scan::Failed(why) => {
            let allowed =
                matches!(scan, Scan::Unsupported(_)) && policy.unsupported == Unsupported::Allow;
            return if allowed {
                Judgement {
                    warning: Some(why.clone()),
                    ..Judgement::default()
                }
            } else {
                Judgement {
                    unscanned: Some(why.clone()),
                    ..Judgement::default()
                }
            };
        }
    };
    let threshold = *policy.fail_on.get_ref();
    let mut judgement = Judgement::default();
    for finding in findings.iter().filter(|f| f.severity >= threshold) {
        let allowance = (policy.allow.iter()).find(|a| a.id.get_ref() == &finding.id);
        match allowance {
            None => judgement.blocking.push(finding.clone()),
            Some(a) if a.expires().is_some_and(|end| now < end) => {
                judgement
                    .allowed
                    .push((finding.clone(), a.reason.get_ref().clone()));
            }
            Some(a) => judgement
                .expired
                .push((finding.clone(), a.until.get_ref().clone())),
        }
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            id: id.into(),
            severity,
            package: Some("openssl".into()),
            version: Some("0.10.55".into()),
            fixed_in: Some("0.10.60".into()),
        }
    }

    fn policy(text: &str) -> ScanPolicy {
        toml::from_str(text).unwrap()
    }

    fn day(text: &str) -> SystemTime {
        humantime::parse_rfc3339(&format!("{text}T12:00:00Z")).unwrap()
    }

    #[test]
    fn findings_at_or_above_the_threshold_block_unless_allowed_until_a_day_not_passed() {
        let policy = policy(
            r#"fail_on = "HIGH"
allow = [{ id = "CVE-1", reason = "not reachable", until = "2027-01-31" }]"#,
        );
        let scan = Scan::Complete(vec![
            finding("CVE-1", Severity::Critical),
            finding("CVE-2", Severity::High),
            finding("CVE-3", Severity::Medium),
        ]);
        let before = judge(&scan, &policy, day("2027-01-31"));
        assert_eq!(before.blocking, [finding("CVE-2", Severity::High)]);
        assert_eq!(before.allowed.len(), 1);
        assert!(!before.passes());
        let after = judge(&scan, &policy, day("2027-02-01"));
        assert_eq!(after.expired.len(), 1);
        let refusal = after.refusal("repo@sha256:1");
        assert!(
            refusal.contains("HIGH CVE-2 in openssl 0.10.55 (fixed in 0.10.60)")
                && refusal.contains("CRITICAL CVE-1 in openssl 0.10.55 (fixed in 0.10.60): its allowance ended on 2027-01-31"),
            "{refusal}"
        );
    }

    #[test]
    fn an_unscannable_image_blocks_unless_the_policy_allows_it_and_a_failed_scan_always() {
        let refuse = policy(r#"fail_on = "CRITICAL""#);
        let allow = policy("fail_on = \"CRITICAL\"\nunsupported = \"allow\"");
        let unsupported = Scan::Unsupported("UNSUPPORTED_IMAGE: no package list".into());
        assert!(!judge(&unsupported, &refuse, SystemTime::now()).passes());
        let allowed = judge(&unsupported, &allow, SystemTime::now());
        assert!(allowed.passes() && allowed.warning.is_some());
        let failed = Scan::Failed("FAILED: scanner error".into());
        assert!(!judge(&failed, &allow, SystemTime::now()).passes());
    }

    #[test]
    fn bad_dates_and_waits_are_reported() {
        let bad = policy(
            "fail_on = \"LOW\"\nwait = \"2h\"\nallow = [{ id = \"\", reason = \"r\", until = \"soon\" }]",
        );
        let mut problems = Vec::new();
        bad.validate(&mut problems);
        let all: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        let all = all.join("\n");
        assert!(all.contains("`until = \"soon\"` is not a date"), "{all}");
        assert!(all.contains("non-empty `id`"), "{all}");
        assert!(all.contains("`wait = \"2h\"`"), "{all}");
    }

    #[test]
    fn an_unknown_severity_is_undefined_and_orders_lowest() {
        assert_eq!(Severity::from_ecr("SEVERE"), Severity::Undefined);
        assert!(Severity::Undefined < Severity::Informational);
        assert!(Severity::High < Severity::Critical);
    }
}
