//! When to try a failed delivery again.
//!
//! The schedule is a list of delays; the n-th failure waits the n-th delay, each
//! spread by ±20 % so that deliveries that failed together do not retry together.
//! A receiver's `Retry-After` on 429 or 503 can lengthen the wait, never beyond
//! [`MAX_RETRY_AFTER`], so a receiver cannot park a delivery for days.

use crate::store::Millis;
use rand::Rng;
use std::time::Duration;

/// The longest wait a `Retry-After` header can impose.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The retry schedule of a dispatcher.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
}

impl RetryPolicy {
    /// A policy over `schedule`; one first attempt plus one retry per entry.
    pub fn new(schedule: Vec<Duration>) -> Self {
        RetryPolicy { schedule }
    }

    /// When a delivery that has failed `retry_index + 1` times (since it was created or
    /// replayed) is due again, or `None` when the schedule has ended and it is dead.
    pub fn retry_at(
        &self,
        retry_index: u32,
        now: Millis,
        retry_after: Option<Duration>,
    ) -> Option<Millis> {
        let base = *self.schedule.get(retry_index as usize)?;
        let jittered = base.mul_f64(rand::thread_rng().gen_range(0.8..=1.2));
        let delay = match retry_after {
            Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
            None => jittered,
        };
        Some(now + delay.as_millis() as Millis)
    }
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_follow_the_schedule_with_jitter_then_stop() {
        let policy = RetryPolicy::new(vec![Duration::from_secs(10), Duration::from_secs(100)]);
        for _ in 0..100 {
            let first = policy.retry_at(0, 0, None).expect("first retry");
            assert!((8_000..=12_000).contains(&first), "{first}");
            let second = policy.retry_at(1, 0, None).expect("second retry");
            assert!((80_000..=120_000).contains(&second), "{second}");
        }
        assert_eq!(policy.retry_at(2, 0, None), None);
    }

    #[test]
    fn retry_after_lengthens_the_wait_within_bounds() {
        let policy = RetryPolicy::new(vec![Duration::from_millis(50)]);
        assert_eq!(
            policy.retry_at(0, 0, Some(Duration::from_secs(30))),
            Some(30_000)
        );
        assert_eq!(
            policy.retry_at(0, 0, Some(Duration::from_secs(86_400))),
            Some(MAX_RETRY_AFTER.as_millis() as Millis)
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .expect("valid")
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now),
            None
        );
    }
}
