//! Throttling of failed authentications, per (client address, presented key).
//!
//! A client that fails more than the per-key limit with one key within the window is
//! answered 429 for that key until the window that began with its first failure has
//! passed; other keys from the same address still get through, so one client behind
//! a NAT or proxy cannot lock out another. A much higher per-address limit bounds how
//! many keys one address may try. The counts are in-process: each serving process
//! throttles what it sees.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most (address, key) pairs or addresses tracked at once; expired windows are
/// dropped beyond it.
const MAX_TRACKED: usize = 100_000;

/// How many failures are allowed, and over what window.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub window: Duration,
    /// Failures allowed per (address, key) in one window.
    pub per_key: u32,
    /// Failures allowed per address, over all keys, in one window.
    pub per_address: u32,
}

/// The credential a request presented, as the throttle tells them apart: a digest of
/// the partner key (Basic) or of the whole token (Bearer), never the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PresentedKey([u8; 32]);

impl PresentedKey {
    /// The partner key of a Basic credential (its secret plays no part).
    pub fn partner_key(partner_key: &str) -> Self {
        Self::digest(b"basic:", partner_key.as_bytes())
    }

    /// A Bearer token, or whatever an unparseable `Authorization` header held.
    pub fn token(token: &str) -> Self {
        Self::digest(b"bearer:", token.as_bytes())
    }

    fn digest(kind: &[u8], bytes: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(kind);
        hasher.update(bytes);
        PresentedKey(hasher.finalize().into())
    }
}

/// Why a request was refused before its credential was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// This key failed too often from this address.
    Key { wait_seconds: u64 },
    /// This address failed too often, over all keys.
    Address { wait_seconds: u64 },
}

impl Throttled {
    pub fn wait_seconds(self) -> u64 {
        match self {
            Throttled::Key { wait_seconds } | Throttled::Address { wait_seconds } => wait_seconds,
        }
    }

    /// What the client is told.
    pub fn message(self) -> String {
        match self {
            Throttled::Key { wait_seconds } => format!(
                "too many failed authentications with this credential from this address; retry in {wait_seconds} s"
            ),
            Throttled::Address { wait_seconds } => format!(
                "too many failed authentications from this address; retry in {wait_seconds} s"
            ),
        }
    }
}

/// Failure counts by (address, key) and by address.
pub struct AuthThrottle {
    limits: ThrottleLimits,
    by_key: Counts<(IpAddr, PresentedKey)>,
    by_address: Counts<IpAddr>,
}

impl AuthThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        AuthThrottle {
            limits,
            by_key: Counts::default(),
            by_address: Counts::default(),
        }
    }

    /// Whether `client` presenting `key` must wait now, and how long.
    pub fn check(&self, client: IpAddr, key: PresentedKey) -> Result<(), Throttled> {
        let window = self.limits.window;
        if let Some(wait_seconds) =
            self.by_address
                .blocked_for(&client, self.limits.per_address, window)
        {
            return Err(Throttled::Address { wait_seconds });
        }
        if let Some(wait_seconds) =
            self.by_key
                .blocked_for(&(client, key), self.limits.per_key, window)
        {
            return Err(Throttled::Key { wait_seconds });
        }
        Ok(())
    }

    /// Counts one failed authentication of `client` presenting `key`.
    pub fn record_failure(&self, client: IpAddr, key: PresentedKey) {
        self.by_key.record((client, key), self.limits.window);
        self.by_address.record(client, self.limits.window);
    }
}

struct Counts<K>(Mutex<HashMap<K, Window>>);

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Counts(Mutex::new(HashMap::new()))
    }
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl<K: Eq + Hash> Counts<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Window>> {
        // Only counters live here; a panic elsewhere cannot leave them inconsistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn blocked_for(&self, key: &K, limit: u32, window: Duration) -> Option<u64> {
        let counts = self.lock();
        let counted = counts.get(key)?;
        let elapsed = counted.started.elapsed();
        (counted.count > limit && elapsed < window).then(|| (window - elapsed).as_secs().max(1))
    }

    fn record(&self, key: K, window: Duration) {
        let mut counts = self.lock();
        let now = Instant::now();
        if counts.len() >= MAX_TRACKED {
            counts.retain(|_, w| now.duration_since(w.started) < window);
        }
        let entry = counts.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(entry.started) >= window {
            *entry = Window {
                started: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(window_ms: u64) -> ThrottleLimits {
        ThrottleLimits {
            window: Duration::from_millis(window_ms),
            per_key: 3,
            per_address: 10,
        }
    }

    #[test]
    fn more_than_the_key_limit_blocks_that_key_until_the_window_passes() {
        let throttle = AuthThrottle::new(limits(200));
        let source: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        let bogus = PresentedKey::partner_key("pk_bogus");
        let valid = PresentedKey::partner_key("pk_valid");
        for _ in 0..3 {
            throttle.record_failure(source, bogus);
        }
        assert_eq!(
            throttle.check(source, bogus),
            Ok(()),
            "the limit itself is allowed"
        );
        throttle.record_failure(source, bogus);
        assert!(matches!(
            throttle.check(source, bogus),
            Err(Throttled::Key { .. })
        ));
        assert_eq!(throttle.check(source, valid), Ok(()), "per key");
        assert_eq!(throttle.check(other, bogus), Ok(()), "per address");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.check(source, bogus), Ok(()), "recovers");
    }

    #[test]
    fn many_keys_from_one_address_reach_the_address_limit() {
        let throttle = AuthThrottle::new(limits(60_000));
        let source: IpAddr = "127.0.0.1".parse().expect("ip");
        for n in 0..11 {
            throttle.record_failure(source, PresentedKey::token(&format!("guess-{n}")));
        }
        let fresh = PresentedKey::token("never-tried");
        assert!(matches!(
            throttle.check(source, fresh),
            Err(Throttled::Address { .. })
        ));
    }

    #[test]
    fn basic_and_bearer_keys_differ() {
        assert_ne!(PresentedKey::partner_key("x"), PresentedKey::token("x"));
    }
}
