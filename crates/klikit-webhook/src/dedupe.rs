//! De-duplication of deliveries by event id.
//!
//! klikit delivers at least once: a retry or an operator's replay carries the same
//! `x-klikit-event-id`. Record each id on its first sighting and acknowledge (2xx)
//! later sightings without processing them again. Record an id only once the event
//! has been handled, so a failed attempt is retried in full.
//!
//! Two implementations: [`MemoryDedupe`] (bounded, with expiry; **forgets everything
//! on restart**, so duplicates come back after one) and `SqliteDedupe` (feature
//! `sqlite`; persistent).

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryDedupe;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteDedupe;

/// A record of the event ids seen so far.
pub trait Dedupe: Send + Sync {
    /// Records `event_id` and returns `true` if it had not been seen; returns `false`
    /// for a duplicate. Check and record are one atomic step.
    fn first_sighting(&self, event_id: &str) -> Result<bool, DedupeError>;
}

/// A de-dupe store failed; the caller should answer non-2xx so klikit retries.
#[derive(Debug, thiserror::Error)]
pub enum DedupeError {
    /// The SQLite database failed.
    #[cfg(feature = "sqlite")]
    #[error("de-dupe database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The system clock is before 1970, so first-seen times cannot be recorded.
    #[error("the system clock is set before 1970-01-01")]
    ClockBeforeEpoch,
}

impl<T: Dedupe + ?Sized> Dedupe for std::sync::Arc<T> {
    fn first_sighting(&self, event_id: &str) -> Result<bool, DedupeError> {
        (**self).first_sighting(event_id)
    }
}

impl<T: Dedupe + ?Sized> Dedupe for Box<T> {
    fn first_sighting(&self, event_id: &str) -> Result<bool, DedupeError> {
        (**self).first_sighting(event_id)
    }
}
