//! The klikit order-webhook contract, for both ends of the wire.
//!
//! klikit (through hookit) `POST`s a JSON [`Envelope`] of [`Order`] records to a
//! partner's URL, signed with the partner's `webhook_secret_key`. This crate holds
//! everything a receiver or a sender needs to agree on that contract, and nothing of
//! the server:
//!
//! - [`EventType`]: the three event names carried in `x-klikit-event-type`.
//! - [`header`]: the header names.
//! - [`sign`] / [`verify`]: lowercase-hex HMAC-SHA256 over the exact body bytes;
//!   [`verify_any`] accepts any of several secrets, for a webhook-secret rotation.
//! - [`Order`], [`Envelope`], [`Cart`]: tolerant wire types that never lose a field on
//!   a parse → serialise round trip, and never read money as a float.
//! - [`receive`]: one call that verifies a delivery (signature first) and parses it;
//!   [`receive_any`] with several secrets.
//! - [`Dedupe`]: de-duplication of event ids, in memory ([`MemoryDedupe`]) or in
//!   SQLite (`SqliteDedupe`, feature `sqlite`).
//! - `axum` (feature `axum`): a `VerifiedEvent` extractor for axum 0.8 handlers.
//!
//! ```
//! use klikit_webhook::{header, receive, sign, EventType};
//!
//! let secret = b"whsk_test_0123456789abcdef";
//! let body = br#"{"brand_id":663,"branch_id":1062,"orders":[{"id":7585307,"status":2}]}"#;
//! let signature = sign(secret, body);
//! let headers = [
//!     (header::SIGNATURE, signature.as_str()),
//!     (header::EVENT_ID, "evt_01"),
//!     (header::EVENT_TYPE, "klikit.order.status.updated"),
//! ];
//! let event = receive(secret, &headers, body)?;
//! assert_eq!(event.event_type, Ok(EventType::OrderStatusUpdated));
//! assert_eq!(event.envelope.orders[0].id, 7585307);
//! # Ok::<(), klikit_webhook::Rejection>(())
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod cart;
pub mod codes;
pub mod dedupe;
pub mod envelope;
pub mod event;
pub mod header;
pub mod money;
pub mod order;
pub mod raw_fields;
pub mod receive;
pub mod signature;
pub mod timestamp;

pub use cart::{Cart, CartEntry, CartError, CartLine, ItemId, Modifier, ModifierGroup};
pub use codes::{OrderStatus, PaymentStatus};
#[cfg(feature = "sqlite")]
pub use dedupe::SqliteDedupe;
pub use dedupe::{Dedupe, DedupeError, MemoryDedupe};
pub use envelope::{Envelope, EnvelopeError};
pub use event::{EventType, UnknownEventType};
pub use header::HeaderLookup;
pub use money::{Money, MoneyError};
pub use order::{Brand, Order, OrderError};
pub use raw_fields::RawFields;
pub use receive::{Rejection, WebhookEvent, receive, receive_any};
pub use signature::{SignatureError, sign, verify, verify_any};
pub use timestamp::{Timestamp, TimestampError};

/// Re-exported so callers can name the raw JSON values this crate hands out.
pub use serde_json::value::RawValue;
