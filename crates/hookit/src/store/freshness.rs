//! When a pushed order record is stale: the one rule every backend applies.
//!
//! Only klikit's platform decides what is stale. A partner's status change gives the
//! record hookit's time of that change and keeps the partner's `occurred_at` in a field
//! of its own, so no partner clock (a POS set to 2099) can silence the platform's later
//! pushes. The platform's clock is compared with the platform's clock; where one side
//! carries no `updated_at`, the time hookit stored (or is storing) that side stands in
//! for it, allowing the clocks to disagree by the configured skew.

use super::Millis;
use std::time::Duration;

/// What the store keeps about the platform's latest accepted push of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformTimes {
    /// The latest `updated_at` the platform sent for the order; a push without one
    /// keeps it, so it is never erased.
    pub updated_at: Option<Millis>,
    /// When hookit stored the platform's latest accepted push.
    pub stored_at: Option<Millis>,
}

/// True when a push whose `updated_at` is `incoming` (if it sent one), arriving at
/// `now`, is older than what the store holds, and must be acknowledged and ignored.
pub fn is_stale(
    incoming: Option<Millis>,
    stored: PlatformTimes,
    now: Millis,
    skew: Duration,
) -> bool {
    let skew = Millis::try_from(skew.as_millis()).unwrap_or(Millis::MAX);
    match (incoming, stored.updated_at, stored.stored_at) {
        (Some(incoming), Some(stored), _) => incoming < stored,
        (Some(incoming), None, Some(stored_at)) => incoming.saturating_add(skew) < stored_at,
        (None, Some(stored), _) => now.saturating_add(skew) < stored,
        // Neither side has a platform time: the push is as new as its arrival.
        (Some(_), None, None) | (None, None, _) => false,
    }
}

/// The platform's `updated_at` to keep after storing a push: its own, or the stored
/// one when it sent none.
pub fn kept_updated_at(incoming: Option<Millis>, stored: Option<PlatformTimes>) -> Option<Millis> {
    incoming.or(stored.and_then(|times| times.updated_at))
}

/// How far ahead of hookit's clock a platform `updated_at` may be: the skew plus a
/// day. Anything later would freeze the order for that long, so ingest refuses it.
pub fn latest_acceptable(now: Millis, skew: Duration) -> Millis {
    const DAY_MS: Millis = 86_400_000;
    let skew = Millis::try_from(skew.as_millis()).unwrap_or(Millis::MAX);
    now.saturating_add(skew).saturating_add(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_secs(5);
    const NOW: Millis = 1_800_000_000_000;

    fn stored(updated_at: Option<Millis>, stored_at: Option<Millis>) -> PlatformTimes {
        PlatformTimes {
            updated_at,
            stored_at,
        }
    }

    #[test]
    fn platform_times_compare_with_each_other_only() {
        let held = stored(Some(NOW), Some(NOW - 60_000));
        assert!(is_stale(Some(NOW - 1), held, NOW, SKEW));
        assert!(!is_stale(Some(NOW), held, NOW, SKEW), "equal is not older");
        assert!(!is_stale(Some(NOW + 1), held, NOW, SKEW));
    }

    #[test]
    fn without_a_stored_time_the_stored_push_arrival_stands_in() {
        let held = stored(None, Some(NOW));
        assert!(is_stale(Some(NOW - 5_001), held, NOW + 10, SKEW));
        assert!(
            !is_stale(Some(NOW - 5_000), held, NOW + 10, SKEW),
            "within the skew"
        );
        assert!(!is_stale(Some(NOW - 5_000), stored(None, None), NOW, SKEW));
    }

    #[test]
    fn without_an_incoming_time_its_arrival_stands_in() {
        assert!(is_stale(None, stored(Some(NOW + 5_001), None), NOW, SKEW));
        assert!(!is_stale(None, stored(Some(NOW + 5_000), None), NOW, SKEW));
        assert!(!is_stale(None, stored(None, Some(NOW)), NOW, SKEW));
    }

    #[test]
    fn a_push_without_a_time_keeps_the_stored_one() {
        let held = Some(stored(Some(NOW), Some(NOW)));
        assert_eq!(kept_updated_at(None, held), Some(NOW));
        assert_eq!(kept_updated_at(Some(NOW + 1), held), Some(NOW + 1));
        assert_eq!(kept_updated_at(None, None), None);
    }

    #[test]
    fn the_latest_acceptable_time_is_a_day_and_the_skew_ahead() {
        assert_eq!(latest_acceptable(NOW, SKEW), NOW + 86_400_000 + 5_000);
        assert_eq!(latest_acceptable(Millis::MAX - 1, SKEW), Millis::MAX);
    }
}
