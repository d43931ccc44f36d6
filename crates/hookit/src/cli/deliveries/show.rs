//! What `hookit deliveries show` prints under a delivery: every attempt in full, and
//! the headers its attempts send.

use super::{AttemptView, DeliveryView};
use crate::cli::table;

/// Every attempt in full: its status, the whole error and the whole response excerpt
/// (the API keeps the first 1 KiB), then the headers each attempt sends.
pub(super) fn attempt_blocks(delivery: &DeliveryView, attempts: &[AttemptView]) -> String {
    let mut text = String::new();
    for attempt in attempts {
        let status = match (attempt.status_code, &attempt.error_kind) {
            (Some(code), _) => format!("HTTP {code}"),
            (None, Some(kind)) => kind.clone(),
            (None, None) => "-".into(),
        };
        text.push_str(&format!(
            "attempt {}  {}  {} ms  {status}\n",
            attempt.attempt,
            table::time_ms(&attempt.started_at),
            attempt.duration_ms
        ));
        if let Some(error) = &attempt.error {
            text.push_str(&format!("  error:    {error}\n"));
        }
        if let Some(excerpt) = attempt
            .response_excerpt
            .as_deref()
            .filter(|e| !e.is_empty())
        {
            text.push_str("  response: ");
            text.push_str(&excerpt.replace('\n', "\n            "));
            text.push('\n');
        }
    }
    text.push_str(&sent_headers(delivery));
    text
}

/// The headers every attempt of this delivery sends. The signature is not shown: it is
/// derived from the partner's webhook secret (and changes when the secret is rotated),
/// so it is described instead.
fn sent_headers(delivery: &DeliveryView) -> String {
    let next = delivery.attempt_count.max(1);
    format!(
        "\nheaders sent with each attempt:\n  \
         content-type: application/json\n  \
         x-klikit-event-id: {}\n  \
         x-klikit-event-type: {}\n  \
         x-klikit-delivery-attempt: 1 … {next} (the attempt's number)\n  \
         user-agent: hookit/{}\n  \
         x-klikit-signature: (not shown: HMAC-SHA256 of the body under the partner's \
         webhook secret at the time of the attempt)\n",
        delivery.event_id,
        delivery.event_type,
        env!("CARGO_PKG_VERSION"),
    )
}
