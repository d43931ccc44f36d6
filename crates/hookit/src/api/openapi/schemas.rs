//! Schemas of the wire shapes that have no Rust type of their own: the error bodies,
//! the order record (kept as raw JSON), the event type names, and the `{"data": …}` /
//! `{"request_id", "data"}` answer envelopes. Where a value set exists in code (event
//! types, order statuses, requested statuses, reason codes), the schema is built from
//! it, so the document cannot list a value the server does not accept.

use super::store_schemas::{OperatorToken, Partner};
use crate::order_flow::{REASON_CODES, RequestedStatus};
use klikit_webhook::{EventType, OrderStatus, PaymentStatus};
use serde_json::json;
use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// `{"error": {"code", "message", "details"}}`: every operator and ingest failure.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// `{"request_id", "error": {"code", "message", "details"}}`: every partner API failure.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerErrorBody {
    /// The id of this request (also in the `x-request-id` header); quote it to support.
    request_id: String,
    error: ErrorDetail,
}

/// What went wrong: a stable code to branch on and a message a person can act on.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `request_invalid` or `resource_not_found`.
    #[schema(example = "request_invalid")]
    code: String,
    /// What was wrong, with which value, and what to do.
    message: String,
    /// Structured context, e.g. `{"field": "brand_id"}`; `{}` when there is none.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

/// One of the three order event wire names, from [`EventType::ALL`].
pub struct EventTypeName;

impl PartialSchema for EventTypeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(EventType::ALL.map(EventType::as_str)))
            .description(Some(
                "An order event, exactly as sent in `x-klikit-event-type`.",
            ))
            .into()
    }
}

impl ToSchema for EventTypeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventType")
    }
}

/// The name of a partner's signature scheme.
pub struct SignatureSchemeName;

impl PartialSchema for SignatureSchemeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["klikit", "klikit+standard"]))
            .description(Some(
                "`klikit`: deliveries carry `x-klikit-signature`; `klikit+standard`: also the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature`.",
            ))
            .into()
    }
}

impl ToSchema for SignatureSchemeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SignatureScheme")
    }
}

/// The order record: getOrder's answer and every webhook's `orders[]` entry.
pub struct OrderRecord;

fn integer(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(description))
}

fn timestamp(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(description))
}

fn code_list(codes: impl Iterator<Item = (i64, &'static str)>) -> String {
    codes
        .map(|(code, name)| format!("{code} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The order record's properties, the spec's table in its order.
fn order_properties(object: ObjectBuilder) -> ObjectBuilder {
    let statuses = code_list((1..=9).map(|c| {
        let status = OrderStatus::from_code(c);
        (status.code(), status.name())
    }));
    let payments = code_list((1..=4).map(|c| {
        let status = PaymentStatus::from_code(c);
        (status.code(), status.name())
    }));
    let brand = ObjectBuilder::new()
        .property("id", integer("Brand id."))
        .property("title", ObjectBuilder::new().schema_type(Type::String))
        .required("id")
        .additional_properties(Some(AdditionalProperties::FreeForm(true)));
    object
        .property("id", integer("klikit's order id."))
        .property(
            "external_id",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ]))
                .description(Some("The source platform's order id.")),
        )
        .property("business_id", integer("The merchant's business id."))
        .property(
            "brands",
            ArrayBuilder::new().items(brand).description(Some(
                "The first brand is the order's brand (the webhook envelope's `brand_id`).",
            )),
        )
        .property("branch_id", integer("Branch id."))
        .property(
            "status",
            integer(&format!("OrderStatus code: {statuses}.")),
        )
        .property(
            "cart",
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(SchemaType::AnyValue))
                .description(Some(
                    "Line items, carried as klikit sends them (prices are decimal strings); \
                     a cart update replaces the whole array.",
                )),
        )
        .property(
            "payment_status",
            integer(&format!("Payment status code: {payments}.")),
        )
        .property(
            "payment_channel",
            integer("Payment channel id (opaque klikit id)."),
        )
        .property(
            "payment_method",
            integer("Payment method id (opaque klikit id)."),
        )
        .property("placed_at", timestamp("When the order was placed (RFC 3339)."))
        .property(
            "updated_at",
            timestamp("When the order last changed (RFC 3339): klikit's time, or hookit's time of a partner's status change (whose own time is in `occurred_at`)."),
        )
        .property(
            "version",
            integer("+1 on every change: drop a state whose version is not newer than the one you hold."),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
}

impl PartialSchema for OrderRecord {
    fn schema() -> RefOr<Schema> {
        order_properties(ObjectBuilder::new())
            .required("id")
            .description(Some(
                "An order record. The known fields are listed; klikit may send others \
                 (currency, totals, customer, …), which are kept and returned unchanged, so \
                 never reject a record for a field you do not know. Money is never a float.",
            ))
            .into()
    }
}

impl ToSchema for OrderRecord {}

/// An order record as the order platform pushes it.
pub struct IngestOrder;

impl PartialSchema for IngestOrder {
    fn schema() -> RefOr<Schema> {
        let payment = ObjectBuilder::new()
            .property("status", integer("Same as `payment_status`."))
            .property("method", integer("Same as `payment_method`."))
            .property("channel", integer("Same as `payment_channel`."));
        order_properties(ObjectBuilder::new())
            .property("payment", payment)
            .required("id")
            .required("brands")
            .required("branch_id")
            .required("status")
            .description(Some(
                "A full order record. `id` (positive), `brands` (non-empty), `branch_id` and \
                 `status` (an OrderStatus code, 1-9) are required; payment fields may be flat \
                 or nested under `payment` and are stored flat, and where both are sent they \
                 must agree; `updated_at` may be at most a day (plus HOOKIT_FRESHNESS_SKEW) \
                 ahead of the server's clock; other fields are kept as sent.",
            ))
            .into()
    }
}

impl ToSchema for IngestOrder {}

/// `PATCH /v1/partner/orders/{id}/status` body.
pub struct StatusChangeBody;

impl PartialSchema for StatusChangeBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(RequestedStatus::NAMES.split(", ")))
                    .description(Some(
                        "The status to move to. `rejected` cancels an order before acceptance.",
                    )),
            )
            .property(
                "reason_code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(REASON_CODES.iter().copied()))
                    .description(Some(
                        "Required for `rejected` and `cancelled`; refused for the others.",
                    )),
            )
            .property(
                "occurred_at",
                timestamp("When it happened by the partner's clock (RFC 3339). Kept in the record's `occurred_at`; the record's `updated_at` becomes hookit's time of the change, and a partner's time never decides which of klikit's later pushes are stale."),
            )
            .required("status")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .examples([json!({"status": "cancelled", "reason_code": "kitchen_closed"})])
            .into()
    }
}

impl ToSchema for StatusChangeBody {}

/// A partner as created: the partner and, shown this once, its two secrets.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IssuedPartner {
    #[serde(flatten)]
    partner: Partner,
    /// The partner API secret (Basic auth password). Shown only now; stored as a hash.
    secret_key: String,
    /// The key webhooks are signed with. Shown only now; stored encrypted.
    webhook_secret_key: String,
    /// The same key in the Standard Webhooks form (`whsec_` + base64 of the
    /// `webhook_secret_key` string's bytes), for Standard Webhooks libraries.
    webhook_secret_standard: String,
}

/// A minted operator token: its record and, shown this once, its value.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IssuedToken {
    #[serde(flatten)]
    record: OperatorToken,
    /// The bearer token. Shown only now; stored as a hash.
    token: String,
}

/// `GET /v1/partner/webhooks`: the partner's mappings and its latest deliveries.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerWebhooks {
    mappings: Vec<PartnerMapping>,
    /// Each mapped URL once, with its latest attempt and what is pending.
    urls: Vec<PartnerUrl>,
    /// The 20 most recent deliveries, newest first.
    recent_deliveries: Vec<PartnerDelivery>,
}

/// One of the partner's mapped URLs and how it is doing.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerUrl {
    url: String,
    /// The URL's endpoint health: `healthy`, `open` (its circuit is open: hookit
    /// sends one probe per cool-down until one succeeds) or `disabled` (nothing is sent
    /// until klikit enables it again).
    state: super::store_schemas::EndpointState,
    /// Since when the URL is in this state; for a URL that never failed, when it was
    /// first mapped.
    since: crate::store::Millis,
    /// The error of the latest failed attempt to this URL.
    last_error: Option<String>,
    /// The latest attempt to this URL.
    last_attempt: Option<PartnerLastAttempt>,
    /// Deliveries to this URL not yet acknowledged nor dead.
    pending: u64,
}

/// The latest attempt to a URL.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerLastAttempt {
    /// Null when no HTTP answer came (timeout, refused connection, …).
    status_code: Option<u16>,
    latency_ms: i64,
    at: crate::store::Millis,
}

/// A page of the partner's deliveries.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerDeliveryPage {
    deliveries: Vec<PartnerDelivery>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// One of the partner's deliveries with its body and attempts.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerDeliveryDetail {
    #[serde(flatten)]
    delivery: PartnerDelivery,
    /// The exact body bytes every attempt sends.
    body: String,
    attempts: Vec<super::store_schemas::AttemptRecord>,
}

/// One of the partner's URL mappings.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerMapping {
    id: String,
    url: String,
    #[schema(schema_with = EventTypeName::schema)]
    event_type: String,
    brand_id: i64,
    /// `null`: every branch of the brand.
    branch_id: Option<i64>,
}

/// One recent delivery, as the partner sees it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PartnerDelivery {
    /// The `x-klikit-event-id` of the delivery.
    event_id: String,
    #[schema(schema_with = EventTypeName::schema)]
    event_type: String,
    order_ids: Vec<i64>,
    brand_id: i64,
    branch_id: i64,
    /// `pending`, `delivered` or `dead`.
    state: String,
    /// Why a dead delivery died: `retries_exhausted` or `mapping_deleted`.
    dead_reason: Option<String>,
    attempts: u32,
    created_at: crate::store::Millis,
    finished_at: Option<crate::store::Millis>,
    next_attempt_at: Option<crate::store::Millis>,
}

/// `GET /v1/partner/orders` data.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OrderList {
    orders: Vec<OrderRecord>,
    page: u32,
    size: u32,
    /// Matching orders over all pages.
    total: u64,
}
