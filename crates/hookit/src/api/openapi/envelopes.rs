//! The answer envelopes as schemas: the operator and ingest APIs answer
//! `{"data": …}`, the partner API `{"request_id", "data": …}`. One named schema per
//! payload keeps every response in the document concrete.

use super::schemas::{
    IssuedPartner, IssuedToken, OrderList, OrderRecord, PartnerDelivery, PartnerDeliveryDetail,
    PartnerDeliveryPage, PartnerWebhooks,
};
use super::store_schemas::{
    AuditPage, DeletedMapping, DeliveryDetail, DeliveryPage, DeliverySummary, EndpointHealth,
    IngestItemResult, IngestOutcome, ListedMapping, Mapping, Partner,
};
use utoipa::ToSchema;

/// `{"data": T}` under a name of its own.
macro_rules! data {
    ($($name:ident($payload:ty): $doc:literal;)*) => {$(
        #[doc = $doc]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: $payload,
        }
    )*};
}

/// `{"request_id", "data": T}` under a name of its own.
macro_rules! partner_data {
    ($($name:ident($payload:ty): $doc:literal;)*) => {$(
        #[doc = $doc]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            /// The id of this request (also in the `x-request-id` header).
            request_id: String,
            data: $payload,
        }
    )*};
}

data! {
    PartnerData(Partner): "One partner.";
    PartnerListData(Vec<Partner>): "Every partner.";
    IssuedPartnerData(IssuedPartner): "A new partner with its credentials, shown once.";
    SecretKeyData(SecretKey): "A new partner API secret, shown once.";
    WebhookSecretKeyData(WebhookSecretKey): "A new webhook signing key, shown once.";
    MappingData(Mapping): "One URL mapping.";
    MappingListData(Vec<ListedMapping>): "A partner's URL mappings, each with its URL's endpoint health.";
    EndpointListData(Vec<EndpointHealth>): "Every mapped endpoint with its health.";
    EndpointData(EndpointHealth): "One endpoint with its health.";
    DeletedMappingData(DeletedMapping): "What deleting a mapping stopped.";
    DeliveryPageData(DeliveryPage): "A page of deliveries, newest first.";
    DeliveryDetailData(DeliveryDetail): "One delivery with its body and attempts.";
    DeliverySummaryData(DeliverySummary): "The replayed delivery, pending again.";
    ReplayedData(Replayed): "How many deliveries were replayed.";
    IssuedTokenData(IssuedToken): "A new operator token, shown once.";
    TokenListData(Vec<ListedToken>): "The root token and every minted one.";
    RevokedData(Revoked): "The revoked token's name.";
    AuditPageData(AuditPage): "A page of the audit log, newest first.";
    IngestOneData(IngestOneResult): "What happened to the pushed change.";
    IngestBatchData(IngestOutcome): "What happened to each pushed change, in order.";
    TestWebhookData(TestWebhookResult): "How the partner's endpoint answered a test webhook.";
    RetriedData(Retried): "How many pending deliveries were made due now.";
}

partner_data! {
    PartnerOrderData(OrderRecord): "getOrder: the order record, exactly as webhooks carry it.";
    PartnerOrderListData(OrderList): "A page of order records.";
    PartnerWebhooksData(PartnerWebhooks): "The partner's webhook setup and recent deliveries.";
    PartnerTestWebhookData(TestWebhookResult): "How the endpoint answered the test webhook.";
    PartnerDeliveryPageData(PartnerDeliveryPage): "A page of the partner's deliveries, newest first.";
    PartnerDeliveryDetailData(PartnerDeliveryDetail): "One delivery with its body and attempts.";
    PartnerDeliveryData(PartnerDelivery): "The replayed delivery, pending again.";
}

/// How an endpoint answered a test webhook (a sample order with a negative id, marked
/// `x-klikit-test: true`, attempted once).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TestWebhookResult {
    /// The test delivery's `x-klikit-event-id` (never listed or replayed).
    event_id: String,
    /// The URL it was sent to.
    url: String,
    /// The endpoint's HTTP status; null when no response came (see `error`).
    status_code: Option<u16>,
    /// How long the attempt took; null when no attempt finished in time.
    latency_ms: Option<i64>,
    /// The first 1 KiB of the response body.
    response_excerpt: Option<String>,
    /// What went wrong, when the endpoint did not answer 2xx or no attempt finished.
    error: Option<String>,
    /// True on a 401 or 403, or a 400/422 whose body mentions the signature: the
    /// receiver most likely verifies with another secret or re-serialised JSON.
    signature_rejected_likely: bool,
}

/// A rotated partner API secret.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SecretKey {
    /// The new secret; the old one stopped working at this moment.
    secret_key: String,
}

/// A rotated webhook signing key.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WebhookSecretKey {
    /// The new key; every attempt from `switch_at` on is signed with it.
    webhook_secret_key: String,
    /// The same key in the Standard Webhooks form (`whsec_` + base64 of the
    /// `webhook_secret_key` string's bytes).
    webhook_secret_standard: String,
    /// When `x-klikit-signature` switches to the new key (RFC 3339 UTC): the end of
    /// the grace window, or now without one. Until then it is made with the previous
    /// key, and `webhook-signature` carries both.
    #[schema(format = DateTime)]
    switch_at: String,
}

/// What a bulk replay did.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Replayed {
    /// Deliveries made pending again.
    replayed: u64,
    /// Matching deliveries left as they are, oldest first (at most 1000).
    skipped: Vec<SkippedReplay>,
    /// How many matching deliveries were left in all.
    skipped_total: u64,
}

/// A delivery a bulk replay matched but left.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SkippedReplay {
    event_id: String,
    /// Why: `mapping_deleted` (its mapping was deleted; map a URL again for new changes).
    reason: String,
}

/// A revoked operator token.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Revoked {
    revoked: String,
}

/// A listed operator token: the configured root token or a minted one.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListedToken {
    name: String,
    /// `configuration` for the root token, `minted` for the others.
    source: String,
    /// When a minted token was made; null for the root token.
    created_at: Option<crate::store::Millis>,
    /// The token that minted it; null for the root token.
    created_by: Option<String>,
}

/// The outcome of one pushed change, and whether it replays an earlier answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IngestOneResult {
    #[serde(flatten)]
    result: IngestItemResult,
    /// True when this answer is a replay of the first answer for the `Idempotency-Key`.
    idempotent_replay: bool,
}

/// What a bulk retry-now did.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Retried {
    /// Pending deliveries made due now.
    retried: u64,
    /// Matching pending deliveries left alone because an attempt is in flight.
    in_flight: u64,
}
