//! De-duplication of deliveries by event id.
//!
//! klikit delivers at least once: a retry or an operator's replay carries the same
//! `x-klikit-event-id`. Asking whether an event was handled and recording that it was
//! are two separate steps, so an id is recorded only **after** its handler succeeded:
//!
//! 1. [`Dedupe::already_handled`]: if `true`, answer 2xx without processing again;
//! 2. handle the event; if that fails, answer non-2xx and record nothing, so klikit's
//!    retry is processed in full;
//! 3. [`Dedupe::record_handled`], then answer 2xx. If recording fails, answer non-2xx:
//!    the retry is handled again, which at-least-once handlers must tolerate anyway.
//!
//! Two deliveries of one id that arrive at the same moment may both be handled; the
//! store only promises that a handled id is never handled again after it was recorded.
//!
//! Two implementations: [`MemoryDedupe`] (bounded, with expiry; **forgets everything
//! on restart**, so duplicates come back after one) and `SqliteDedupe` (feature
//! `sqlite`; persistent).
//!
//! The example of the README ("With the Rust crate"), checked by `tests/readme_example.rs`:
//!
//! ```
//! use klikit_webhook::{Dedupe, WebhookEvent, receive};
//!
//! /// Your processing of one delivery. If it fails, the event must not count as handled.
//! fn apply(event: &WebhookEvent) -> Result<(), std::io::Error> {
//!     for order in &event.envelope.orders {
//!         // order.id, order.status, order.version (drop states older than you have) …
//!         let _ = order;
//!     }
//!     Ok(())
//! }
//!
//! /// The HTTP status to answer a delivery with. `seen` is e.g. a `SqliteDedupe`.
//! fn handle(secret: &[u8], headers: &http::HeaderMap, body: &[u8], seen: &dyn Dedupe) -> u16 {
//!     let event = match receive(secret, headers, body) {
//!         Ok(event) => event, // signature first, then the envelope
//!         Err(rejection) => return rejection.status_code(),
//!     };
//!     match seen.already_handled(&event.event_id) {
//!         Ok(true) => return 200, // a retry of something already handled
//!         Ok(false) => {}
//!         Err(_) => return 503, // klikit will retry
//!     }
//!     if apply(&event).is_err() {
//!         return 500; // nothing recorded: the retry is handled in full
//!     }
//!     match seen.record_handled(&event.event_id) {
//!         Ok(()) => 200,
//!         Err(_) => 503, // handled but not recorded: the retry is handled again
//!     }
//! }
//! # let secret = b"whsk_test_0123456789abcdef";
//! # let body = br#"{"brand_id":663,"branch_id":1062,"orders":[{"id":7585307,"status":2}]}"#;
//! # let mut headers = http::HeaderMap::new();
//! # let signature = klikit_webhook::sign(secret, body);
//! # headers.insert(klikit_webhook::header::SIGNATURE, signature.parse().unwrap());
//! # headers.insert(klikit_webhook::header::EVENT_ID, "evt_01".parse().unwrap());
//! # headers.insert(klikit_webhook::header::EVENT_TYPE, "klikit.order.status.updated".parse().unwrap());
//! # let seen = klikit_webhook::MemoryDedupe::new(10, std::time::Duration::from_secs(60));
//! # assert_eq!(handle(secret, &headers, body, &seen), 200);
//! # assert!(seen.already_handled("evt_01").unwrap());
//! # assert_eq!(handle(secret, &headers, body, &seen), 200, "the retry is a duplicate");
//! # assert_eq!(handle(b"whsk_wrong", &headers, body, &seen), 403);
//! ```

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryDedupe;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteDedupe;

/// A record of the event ids handled so far.
pub trait Dedupe: Send + Sync {
    /// True if `event_id` was recorded as handled (and not yet forgotten). Records
    /// nothing.
    fn already_handled(&self, event_id: &str) -> Result<bool, DedupeError>;

    /// Records that `event_id` was handled. Call it only once the handler succeeded;
    /// recording an id twice is harmless.
    fn record_handled(&self, event_id: &str) -> Result<(), DedupeError>;
}

/// A de-dupe store failed; the caller should answer non-2xx so klikit retries.
#[derive(Debug, thiserror::Error)]
pub enum DedupeError {
    /// The SQLite database failed.
    #[cfg(feature = "sqlite")]
    #[error("de-dupe database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The system clock is before 1970, so handled times cannot be recorded.
    #[error("the system clock is set before 1970-01-01")]
    ClockBeforeEpoch,
}

impl<T: Dedupe + ?Sized> Dedupe for std::sync::Arc<T> {
    fn already_handled(&self, event_id: &str) -> Result<bool, DedupeError> {
        (**self).already_handled(event_id)
    }

    fn record_handled(&self, event_id: &str) -> Result<(), DedupeError> {
        (**self).record_handled(event_id)
    }
}

impl<T: Dedupe + ?Sized> Dedupe for Box<T> {
    fn already_handled(&self, event_id: &str) -> Result<bool, DedupeError> {
        (**self).already_handled(event_id)
    }

    fn record_handled(&self, event_id: &str) -> Result<(), DedupeError> {
        (**self).record_handled(event_id)
    }
}
