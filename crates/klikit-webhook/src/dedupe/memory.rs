//! [`MemoryDedupe`]: an in-process, bounded de-dupe set with expiry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Dedupe, DedupeError};

/// Remembers up to `capacity` event ids for `ttl` each, in memory.
///
/// **Duplicates come back after a restart**: everything is forgotten when the process
/// exits, so a retry or replay that arrives after a restart is processed again. klikit
/// retries for about two days and operators replay with the same event id: use
/// `SqliteDedupe` (feature `sqlite`) or your own database in production.
///
/// When full, the oldest id is forgotten first.
#[derive(Debug)]
pub struct MemoryDedupe {
    capacity: usize,
    ttl: Duration,
    state: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Event id → when it was first seen.
    by_id: HashMap<String, Instant>,
    /// The same ids, oldest first.
    by_age: VecDeque<(Instant, String)>,
}

impl Seen {
    fn forget_oldest(&mut self) {
        if let Some((_, id)) = self.by_age.pop_front() {
            self.by_id.remove(&id);
        }
    }

    fn forget_older_than(&mut self, cutoff: Instant) {
        while self.by_age.front().is_some_and(|(seen, _)| *seen < cutoff) {
            self.forget_oldest();
        }
    }
}

impl MemoryDedupe {
    /// Remembers at most `capacity` ids (at least one), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> MemoryDedupe {
        MemoryDedupe {
            capacity: capacity.max(1),
            ttl,
            state: Mutex::new(Seen::default()),
        }
    }

    /// The number of ids currently remembered.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True if no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // The state stays consistent even if a holder panicked: every mutation is a
        // complete insert or removal on both collections.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Dedupe for MemoryDedupe {
    fn already_handled(&self, event_id: &str) -> Result<bool, DedupeError> {
        let now = Instant::now();
        let mut seen = self.lock();
        if let Some(cutoff) = now.checked_sub(self.ttl) {
            seen.forget_older_than(cutoff);
        }
        Ok(seen.by_id.contains_key(event_id))
    }

    fn record_handled(&self, event_id: &str) -> Result<(), DedupeError> {
        let now = Instant::now();
        let mut seen = self.lock();
        if seen.by_id.contains_key(event_id) {
            return Ok(());
        }
        while seen.by_id.len() >= self.capacity {
            seen.forget_oldest();
        }
        seen.by_id.insert(event_id.to_owned(), now);
        seen.by_age.push_back((now, event_id.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(dedupe: &MemoryDedupe, id: &str) -> bool {
        let fresh = !dedupe.already_handled(id).expect("memory");
        if fresh {
            dedupe.record_handled(id).expect("memory");
        }
        fresh
    }

    #[test]
    fn a_handled_id_is_a_duplicate() {
        let dedupe = MemoryDedupe::new(10, Duration::from_secs(60));
        assert!(handle(&dedupe, "evt_1"));
        assert!(!handle(&dedupe, "evt_1"));
        assert!(handle(&dedupe, "evt_2"));
    }

    #[test]
    fn capacity_forgets_the_oldest() {
        let dedupe = MemoryDedupe::new(2, Duration::from_secs(60));
        for id in ["a", "b", "c"] {
            assert!(handle(&dedupe, id));
        }
        assert_eq!(dedupe.len(), 2);
        assert!(!handle(&dedupe, "c"));
        assert!(handle(&dedupe, "a"), "a was evicted");
    }

    #[test]
    fn entries_expire() {
        let dedupe = MemoryDedupe::new(10, Duration::from_millis(20));
        assert!(handle(&dedupe, "a"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(handle(&dedupe, "a"), "a expired");
    }
}
