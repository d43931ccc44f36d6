//! Throttling of failed partner authentications, per source address.
//!
//! More than [`FAILURE_LIMIT`] failures from one address within the window and that
//! address is answered 429 until the window that began with its first failure has
//! passed. The counts are in-process: each serving process throttles what it sees.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per window before an address is throttled.
pub const FAILURE_LIMIT: u32 = 20;

/// The most addresses tracked at once; the oldest windows are dropped beyond it.
const MAX_TRACKED: usize = 100_000;

/// Failure counts by source address.
pub struct AuthThrottle {
    window: Duration,
    failures: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl AuthThrottle {
    /// A throttle counting failures over `window`.
    pub fn new(window: Duration) -> Self {
        AuthThrottle {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        // Only counters live here; a panic elsewhere cannot leave them inconsistent.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seconds `source` must wait, if it is throttled now.
    pub fn blocked_for(&self, source: IpAddr) -> Option<u64> {
        let failures = self.failures();
        let window = failures.get(&source)?;
        let elapsed = window.started.elapsed();
        if window.count > FAILURE_LIMIT && elapsed < self.window {
            Some((self.window - elapsed).as_secs().max(1))
        } else {
            None
        }
    }

    /// Counts one failed authentication from `source`.
    pub fn record_failure(&self, source: IpAddr) {
        let mut failures = self.failures();
        let now = Instant::now();
        if failures.len() >= MAX_TRACKED {
            let window = self.window;
            failures.retain(|_, w| now.duration_since(w.started) < window);
        }
        let entry = failures.entry(source).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(entry.started) >= self.window {
            *entry = Window {
                started: now,
                count: 0,
            };
        }
        entry.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_limit_blocks_until_the_window_passes() {
        let throttle = AuthThrottle::new(Duration::from_millis(200));
        let source: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        for _ in 0..FAILURE_LIMIT {
            throttle.record_failure(source);
        }
        assert_eq!(
            throttle.blocked_for(source),
            None,
            "the limit itself is allowed"
        );
        throttle.record_failure(source);
        assert!(throttle.blocked_for(source).is_some());
        assert_eq!(throttle.blocked_for(other), None, "per address");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.blocked_for(source), None, "recovers");
    }
}
