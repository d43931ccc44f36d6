//! [`receive`]: verify and parse one delivery in a single call.
//!
//! The signature is checked first, before any other header or the body is looked at,
//! so nothing unauthenticated is ever parsed.
//!
//! An `x-klikit-event-type` this crate does not know does **not** reject the delivery:
//! it is correctly signed, and klikit may add event types. [`WebhookEvent::event_type`]
//! is then `Err(UnknownEventType)` carrying the name received, and the handler decides
//! (acknowledging and ignoring it is usually right). A *missing* event type or event id
//! is rejected, since klikit always sends both.

use crate::envelope::{Envelope, EnvelopeError};
use crate::event::{EventType, UnknownEventType};
use crate::header::{self, HeaderLookup};
use crate::signature::{SignatureError, verify_any};

/// The longest event id accepted, in bytes.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// A verified, parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The event type, or the unknown name that was received (see the module docs).
    pub event_type: Result<EventType, UnknownEventType>,
    /// `x-klikit-event-id`: the same on every retry and replay. De-dupe on it.
    pub event_id: String,
    /// `x-klikit-delivery-attempt` (1, 2, ...), if present and a number.
    pub attempt: Option<u32>,
    /// The body.
    pub envelope: Envelope,
}

impl WebhookEvent {
    /// The event type's wire name, known or not.
    pub fn event_type_name(&self) -> &str {
        match &self.event_type {
            Ok(event_type) => event_type.as_str(),
            Err(unknown) => &unknown.name,
        }
    }
}

/// Why a delivery was not accepted. Each maps to an HTTP status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The signature is missing or wrong (HTTP 403).
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// No `x-klikit-event-id` (HTTP 400).
    #[error("the x-klikit-event-id header is missing: klikit sends it on every delivery")]
    MissingEventId,
    /// The event id is empty, too long or not visible ASCII (HTTP 400).
    #[error(
        "the x-klikit-event-id header is not a valid event id (1 to {MAX_EVENT_ID_LEN} \
         visible ASCII characters)"
    )]
    InvalidEventId,
    /// No `x-klikit-event-type` (HTTP 400).
    #[error("the x-klikit-event-type header is missing: klikit sends it on every delivery")]
    MissingEventType,
    /// The signed body is not a valid envelope (HTTP 400).
    #[error("the body is correctly signed but not a valid envelope: {0}")]
    InvalidEnvelope(#[from] EnvelopeError),
}

impl Rejection {
    /// The HTTP status to answer with: 403 for signature problems, 400 otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            Rejection::Signature(_) => 403,
            _ => 400,
        }
    }

    /// A stable snake_case code, e.g. `signature_mismatch` or `envelope_invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Signature(err) => err.code(),
            Rejection::MissingEventId => "event_id_missing",
            Rejection::InvalidEventId => "event_id_invalid",
            Rejection::MissingEventType => "event_type_missing",
            Rejection::InvalidEnvelope(_) => "envelope_invalid",
        }
    }

    /// The JSON error body `{"error": {"code": ..., "message": ...}}`.
    pub fn to_json_string(&self) -> String {
        serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}}).to_string()
    }
}

/// Verifies and parses one delivery: signature first, then the event headers, then the
/// body.
///
/// `secret` is the partner's `webhook_secret_key` as bytes, exactly as issued (do not
/// trim or add a newline). `body` must be the raw request body.
pub fn receive(
    secret: &[u8],
    headers: &(impl HeaderLookup + ?Sized),
    body: &[u8],
) -> Result<WebhookEvent, Rejection> {
    receive_any(&[secret], headers, body)
}

/// [`receive`] for a receiver holding several secrets, around a webhook-secret
/// rotation: the delivery is accepted if any of them verifies it (see
/// [`verify_any`](crate::verify_any)).
///
/// ```
/// use klikit_webhook::{header, receive_any, sign};
///
/// let (new, old) = (b"whsk_new".as_slice(), b"whsk_old".as_slice());
/// let body = br#"{"brand_id":1,"branch_id":2,"orders":[{"id":3}]}"#;
/// // Signed with the old secret: klikit's grace window is still open.
/// let signature = sign(old, body);
/// let headers = [
///     (header::SIGNATURE, signature.as_str()),
///     (header::EVENT_ID, "evt_01"),
///     (header::EVENT_TYPE, "klikit.order.status.updated"),
/// ];
/// let event = receive_any(&[new, old], &headers, body)?;
/// assert_eq!(event.envelope.orders[0].id, 3);
/// # Ok::<(), klikit_webhook::Rejection>(())
/// ```
pub fn receive_any<S: AsRef<[u8]>>(
    secrets: &[S],
    headers: &(impl HeaderLookup + ?Sized),
    body: &[u8],
) -> Result<WebhookEvent, Rejection> {
    let signature = headers
        .header_bytes(header::SIGNATURE)
        .map(|value| std::str::from_utf8(value).map_err(|_| SignatureError::NotHex))
        .transpose()?;
    verify_any(secrets, body, signature)?;

    let event_id = match headers.header_bytes(header::EVENT_ID) {
        None => return Err(Rejection::MissingEventId),
        Some(value) => parse_event_id(value)?,
    };
    let event_type = match headers.header_bytes(header::EVENT_TYPE) {
        None => return Err(Rejection::MissingEventType),
        Some(value) => String::from_utf8_lossy(value).parse::<EventType>(),
    };
    let attempt = headers
        .header_bytes(header::DELIVERY_ATTEMPT)
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.parse().ok());
    let envelope = Envelope::from_json_bytes(body)?;
    Ok(WebhookEvent {
        event_type,
        event_id,
        attempt,
        envelope,
    })
}

fn parse_event_id(value: &[u8]) -> Result<String, Rejection> {
    let valid = !value.is_empty()
        && value.len() <= MAX_EVENT_ID_LEN
        && value.iter().all(|byte| byte.is_ascii_graphic());
    if !valid {
        return Err(Rejection::InvalidEventId);
    }
    String::from_utf8(value.to_vec()).map_err(|_| Rejection::InvalidEventId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign;

    const SECRET: &[u8] = b"whsk_test";
    const BODY: &[u8] = br#"{"brand_id":1,"branch_id":2,"orders":[{"id":3,"status":4}]}"#;

    fn headers(signature: &str, event_type: &str) -> Vec<(&'static str, String)> {
        vec![
            (header::SIGNATURE, signature.to_owned()),
            (header::EVENT_ID, "evt_1".to_owned()),
            (header::EVENT_TYPE, event_type.to_owned()),
            (header::DELIVERY_ATTEMPT, "2".to_owned()),
        ]
    }

    #[test]
    fn accepts_a_signed_delivery() {
        let signature = sign(SECRET, BODY);
        let event = receive(
            SECRET,
            &headers(&signature, "klikit.order.status.updated"),
            BODY,
        )
        .expect("valid");
        assert_eq!(event.event_type, Ok(EventType::OrderStatusUpdated));
        assert_eq!(event.event_id, "evt_1");
        assert_eq!(event.attempt, Some(2));
        assert_eq!(event.envelope.orders[0].id, 3);
    }

    #[test]
    fn any_of_several_secrets_is_accepted_and_others_refused() {
        let old = b"whsk_old".as_slice();
        let signature = sign(old, BODY);
        let both = [SECRET, old];
        let event = receive_any(
            &both,
            &headers(&signature, "klikit.order.status.updated"),
            BODY,
        )
        .expect("the second secret verifies");
        assert_eq!(event.event_id, "evt_1");
        let err = receive_any(
            &[SECRET],
            &headers(&signature, "klikit.order.status.updated"),
            BODY,
        )
        .expect_err("only the new secret");
        assert_eq!((err.status_code(), err.code()), (403, "signature_mismatch"));
    }

    #[test]
    fn unknown_event_type_is_accepted_and_named() {
        let signature = sign(SECRET, BODY);
        let event = receive(
            SECRET,
            &headers(&signature, "klikit.order.created.v3"),
            BODY,
        )
        .expect("valid");
        assert_eq!(event.event_type_name(), "klikit.order.created.v3");
        assert!(event.event_type.is_err());
    }

    #[test]
    fn signature_is_checked_before_anything_else() {
        // Wrong signature, no event headers, body not JSON: the signature is reported.
        let err = receive(SECRET, &[(header::SIGNATURE, "00")], b"nope").expect_err("rejected");
        assert_eq!(err.code(), "signature_wrong_length");
        assert_eq!(err.status_code(), 403);
        let err = receive(SECRET, &[("x", "y")], b"nope").expect_err("rejected");
        assert_eq!(err.code(), "signature_missing");
    }

    #[test]
    fn header_and_body_problems_are_400() {
        let body = b"not json";
        let signature = sign(SECRET, body);
        let err = receive(
            SECRET,
            &headers(&signature, "klikit.order.created.v2"),
            body,
        )
        .expect_err("not JSON");
        assert_eq!((err.status_code(), err.code()), (400, "envelope_invalid"));
        let json: serde_json::Value =
            serde_json::from_str(&err.to_json_string()).expect("JSON error body");
        assert_eq!(json["error"]["code"], "envelope_invalid");

        let signature = sign(SECRET, BODY);
        let only_signature = [(header::SIGNATURE, signature.as_str())];
        let err = receive(SECRET, &only_signature, BODY).expect_err("no event id");
        assert_eq!(err.code(), "event_id_missing");
        let blank_id = [
            (header::SIGNATURE, signature.as_str()),
            (header::EVENT_ID, "evt 1"),
        ];
        let err = receive(SECRET, &blank_id, BODY).expect_err("space in id");
        assert_eq!(err.code(), "event_id_invalid");
        let no_type = [
            (header::SIGNATURE, signature.as_str()),
            (header::EVENT_ID, "evt_1"),
        ];
        let err = receive(SECRET, &no_type, BODY).expect_err("no event type");
        assert_eq!(err.code(), "event_type_missing");
    }
}
