//! The worker's job model: what a job is and how long to wait before retrying one.

use std::time::Duration;

/// A unit of background work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub attempts: u32,
}

/// Delay before the next attempt: exponential from `base`, capped at `max`, with full jitter
/// so that many workers retrying together spread out instead of stampeding.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_cap() {
        for attempt in 0..40 {
            let delay = backoff(attempt, Duration::from_millis(100), Duration::from_secs(5));
            assert!(
                delay <= Duration::from_secs(5),
                "attempt {attempt}: {delay:?}"
            );
        }
    }
}
