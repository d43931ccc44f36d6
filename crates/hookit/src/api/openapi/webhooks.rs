//! The top-level `webhooks` of the document: the three order events hookit POSTs to a
//! partner's URL, their envelope, and the headers that come with every delivery. The
//! event names and header names are the contract crate's own constants.

use super::OrderRecord;
use klikit_webhook::{EventType, header};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, PathItem, Ref, Required, ResponseBuilder, ResponsesBuilder,
};

/// The body klikit POSTs to a partner's webhook URL for all three order events.
///
/// The `orders` array carries full order records, the same shape getOrder returns.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WebhookEnvelope {
    /// Brand id the orders belong to. Use it together with `branch_id` to route the
    /// event inside your system.
    brand_id: i64,
    /// Branch id the orders belong to.
    branch_id: i64,
    /// One or more order records. Most deliveries carry a single order; a batch happens
    /// when several orders of one event type land in the same hookit tick. One order
    /// appears at most once per delivery.
    #[schema(min_items = 1)]
    orders: Vec<OrderRecord>,
}

const SIGNATURE: &str = "HMAC-SHA256 over the raw request body using your `webhook_secret_key` \
(its UTF-8 bytes), lowercase hex-encoded.

Verify exactly like this on your side (Go example, same shape in any language):

```go
h := hmac.New(sha256.New, []byte(secret))
h.Write(rawBody)
expected := hex.EncodeToString(h.Sum(nil))
if !hmac.Equal([]byte(expected), []byte(r.Header.Get(\"x-klikit-signature\"))) {
    http.Error(w, \"forbidden\", http.StatusForbidden)
    return
}
```

Two things that trip people up:

- **Use the raw body, not a re-marshalled struct.** Decoded → re-encoded JSON has a \
different byte order and whitespace and will fail verification. Read the body bytes \
first, verify, then unmarshal.
- **The `webhook_secret_key` is not your partner API `secret_key`.** It is a separate \
per-partner secret, issued by your klikit operator during onboarding (and on rotation). \
Watch for a stray trailing newline when you store it.

A retry or replay sends the same body bytes; only the signature changes if the secret was \
rotated in between. A rotation may name a grace window: until it ends, this header is made \
with the previous secret, afterwards with the new one, so accept either around the switch.";

const STANDARD: &str = "Sent only when the partner's `signature_scheme` is `klikit+standard` \
(Standard Webhooks, standardwebhooks.com): `webhook-id` is the event id, `webhook-timestamp` \
the attempt's time in seconds, and `webhook-signature` `v1,` + base64 of HMAC-SHA256 over \
`{webhook-id}.{webhook-timestamp}.{body}`, keyed with the same `webhook_secret_key` (give a \
Standard Webhooks library its `webhook_secret_standard` form, `whsec_…`). During a rotation's \
grace window it lists a signature per live secret, separated by a space.";

const EVENT_ID: &str = "Stable per-delivery id: the same on every retry and every replay of \
that delivery. De-duplicate on it (durably, not only in memory).";

const ATTEMPT: &str = "Informational attempt counter (1, 2, …); never needed to verify.";

const ACKNOWLEDGED: &str = "Acknowledged. Any 2xx answered within the timeout (10 s by default) \
acknowledges the delivery: acknowledge first, work later.";

const FAILED: &str = "Anything else — another status, a timeout, a refused connection, a TLS \
error, a redirect (never followed) — is a failed attempt, retried with exponential backoff \
(about two days by default; `Retry-After` on 429/503 is honoured within bounds). A delivery \
whose schedule ends is kept and can be replayed by an operator under the same event id.";

fn header_parameter(
    name: &str,
    required: bool,
    schema: ObjectBuilder,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn summary(event: EventType) -> &'static str {
    match event {
        EventType::OrderCreated => "An order is confirmed: ring the kitchen.",
        EventType::OrderStatusUpdated => {
            "An order moved forward on its status path, or was cancelled."
        }
        EventType::OrderCartUpdated => {
            "An order's items changed; its `cart` array is a full replacement."
        }
    }
}

fn webhook(event: EventType) -> PathItem {
    let parameters = [
        header_parameter(
            header::SIGNATURE,
            true,
            string().pattern(Some("^[0-9a-f]{64}$")),
            SIGNATURE,
        ),
        header_parameter(header::EVENT_ID, true, string(), EVENT_ID),
        header_parameter(
            header::EVENT_TYPE,
            true,
            string().enum_values(Some([event.as_str()])),
            "The event type, the same as this webhook's name.",
        ),
        header_parameter(
            header::DELIVERY_ATTEMPT,
            false,
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                .minimum(Some(1)),
            ATTEMPT,
        ),
        header_parameter(header::WEBHOOK_ID, false, string(), STANDARD),
        header_parameter(
            header::WEBHOOK_TIMESTAMP,
            false,
            string().pattern(Some("^[0-9]+$")),
            STANDARD,
        ),
        header_parameter(header::WEBHOOK_SIGNATURE, false, string(), STANDARD),
    ];
    let body = RequestBodyBuilder::new()
        .required(Some(Required::True))
        .description(Some(
            "The same envelope for all three order events; sign-check these exact bytes.",
        ))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(WebhookEnvelope::name())))
                .build(),
        )
        .build();
    let operation = OperationBuilder::new()
        .operation_id(Some(event.as_str()))
        .summary(Some(summary(event)))
        .description(Some(format!(
            "hookit POSTs this to the URL an operator mapped for the (partner, brand, branch, \
             `{event}`) tuple, with `content-type: application/json` and \
             `user-agent: hookit/<version>`. For any one order, a later event is never sent \
             before the earlier one was acknowledged or given up on."
        )))
        .tag("webhooks")
        .parameters(Some(parameters))
        .request_body(Some(body))
        .responses(
            ResponsesBuilder::new()
                .response("2XX", ResponseBuilder::new().description(ACKNOWLEDGED))
                .response("default", ResponseBuilder::new().description(FAILED)),
        );
    PathItem::new(HttpMethod::Post, operation)
}

/// `webhooks`: one entry per event type, keyed by its wire name.
pub fn webhooks() -> Value {
    let entries = EventType::ALL.into_iter().map(|event| {
        let item = serde_json::to_value(webhook(event)).unwrap_or(Value::Null);
        (event.as_str().to_owned(), item)
    });
    Value::Object(entries.collect::<Map<_, _>>())
}
