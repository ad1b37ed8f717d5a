//! How long a wait loop sleeps before its next poll. An answer is read again after the
//! poll interval; a read that found nothing yet (ECS's eventually consistent reads right
//! after a write) or failed transiently (throttling past the SDK's retries) backs off
//! exponentially from it, up to four intervals, so a throttled account is not polled
//! harder while it recovers. The next answer resets it.

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// What the last poll got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// A real answer, whatever its state.
    Answer,
    /// Nothing readable yet, or a transient error.
    NotYet,
}

/// The sleeps of one wait loop.
pub struct Pace {
    poll: Duration,
    backoff: Option<ExponentialBackoff>,
}

impl Pace {
    pub fn new(poll: Duration) -> Pace {
        Pace {
            poll,
            backoff: None,
        }
    }

    /// The sleep after a poll that got `polled`.
    pub fn after(&mut self, polled: Polled) -> Duration {
        if polled == Polled::Answer {
            self.backoff = None;
            return self.poll;
        }
        let poll = self.poll;
        let backoff = self.backoff.get_or_insert_with(|| {
            ExponentialBuilder::default()
                .with_min_delay(poll)
                .with_max_delay(poll * 4)
                .with_factor(2.0)
                .without_max_times()
                .build()
        });
        backoff.next().unwrap_or(poll * 4)
    }

    /// Sleeps as [`Pace::after`] says.
    pub async fn sleep(&mut self, polled: Polled) {
        tokio::time::sleep(self.after(polled)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_yet_backs_off_to_four_intervals_and_an_answer_resets_it() {
        let mut pace = Pace::new(Duration::from_secs(5));
        let secs = |pace: &mut Pace, polled| pace.after(polled).as_secs();
        assert_eq!(secs(&mut pace, Polled::Answer), 5);
        let backing: Vec<u64> = (0..5).map(|_| secs(&mut pace, Polled::NotYet)).collect();
        assert_eq!(backing, [5, 10, 20, 20, 20]);
        assert_eq!(secs(&mut pace, Polled::Answer), 5);
        assert_eq!(secs(&mut pace, Polled::NotYet), 5);
    }
}
