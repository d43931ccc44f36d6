//! Status changes in flight, by idempotency key: a request that arrives while another
//! with its key is still being handled waits for that one to finish, and then finds
//! its stored answer, instead of racing it (and, having lost, answering differently).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// How long a request waits for the one before it with the same key.
pub const WAIT: Duration = Duration::from_secs(10);

/// One lock per idempotency key in use.
#[derive(Default)]
pub struct InFlight {
    keys: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl InFlight {
    /// Waits (up to `wait`) until no other request with `key` is in flight here, and
    /// holds the key until the guard is dropped; `None` if the wait ran out.
    pub async fn enter(&self, key: String, wait: Duration) -> Option<OwnedMutexGuard<()>> {
        let lock = {
            let mut keys = self
                .keys
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            keys.retain(|_, lock| lock.strong_count() > 0);
            match keys.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    keys.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        tokio::time::timeout(wait, lock.lock_owned()).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_entry_with_a_key_waits_for_the_first_and_others_do_not() {
        let in_flight = InFlight::default();
        let first = in_flight.enter("a".into(), WAIT).await;
        assert!(first.is_some());
        assert!(
            in_flight
                .enter("a".into(), Duration::from_millis(20))
                .await
                .is_none()
        );
        assert!(in_flight.enter("b".into(), WAIT).await.is_some());
        drop(first);
        assert!(in_flight.enter("a".into(), WAIT).await.is_some());
    }
}
