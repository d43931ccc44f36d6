//! The values the store takes and returns.

use super::EndpointState;
use klikit_webhook::EventType;
use serde::Serialize;
use std::time::Duration;

/// Milliseconds since the Unix epoch. The store takes `now` from its callers so that
/// time is explicit (and testable) everywhere.
pub type Millis = i64;

/// The current wall-clock time in [`Millis`].
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// A partner as operators see it: never a secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Partner {
    pub id: String,
    pub name: String,
    pub partner_key: String,
    pub enabled: bool,
    /// Which signature headers its deliveries carry.
    pub signature_scheme: SignatureScheme,
    /// When the last webhook-secret rotation with a grace window switches (or
    /// switched) signing from the previous secret to the current one; `None` when the
    /// last rotation switched at once, or none had a grace window.
    #[serde(serialize_with = "super::time_text::serialize_option")]
    pub webhook_secret_switch_at: Option<Millis>,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub created_at: Millis,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub updated_at: Millis,
}

/// Which signature headers a partner's deliveries carry. `x-klikit-signature` is
/// always sent; `klikit+standard` adds the Standard Webhooks headers (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub enum SignatureScheme {
    #[default]
    #[serde(rename = "klikit")]
    Klikit,
    #[serde(rename = "klikit+standard")]
    KlikitStandard,
}

impl SignatureScheme {
    /// The name stored and shown: `klikit` or `klikit+standard`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Klikit => "klikit",
            SignatureScheme::KlikitStandard => "klikit+standard",
        }
    }

    /// Whether deliveries also carry the Standard Webhooks headers.
    pub fn includes_standard(self) -> bool {
        self == SignatureScheme::KlikitStandard
    }
}

impl std::str::FromStr for SignatureScheme {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "klikit" => Ok(SignatureScheme::Klikit),
            "klikit+standard" => Ok(SignatureScheme::KlikitStandard),
            other => Err(format!(
                "must be \"klikit\" or \"klikit+standard\", got {other:?}"
            )),
        }
    }
}

/// A new webhook secret for a partner, already encrypted.
#[derive(Debug, Clone)]
pub struct WebhookSecretRotation {
    pub encrypted: Vec<u8>,
    /// Until when hookit keeps signing with the secret that signs now; `None` switches
    /// at once. Either way a grace window still open ends: the secret it was leading
    /// to becomes the one signing now (or, without a new window, is dropped), so at
    /// most two secrets are ever live.
    pub switch_at: Option<Millis>,
}

/// Settings of a partner to change; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct PartnerUpdate {
    pub signature_scheme: Option<SignatureScheme>,
}

/// What the store needs to create a partner. Secrets arrive already protected.
#[derive(Debug, Clone)]
pub struct NewPartner {
    pub id: String,
    pub name: String,
    pub partner_key: String,
    pub secret_hash: String,
    pub webhook_secret_encrypted: Vec<u8>,
    pub signature_scheme: SignatureScheme,
    pub now: Millis,
}

/// A partner with the hash of its API secret, for authenticating partner API calls.
#[derive(Debug, Clone)]
pub struct PartnerAuth {
    pub partner: Partner,
    pub secret_hash: String,
}

/// One URL for one (partner, brand, branch, event type) tuple.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mapping {
    pub id: String,
    pub partner_id: String,
    pub brand_id: i64,
    /// `None` means every branch of the brand; an exact branch mapping wins over it.
    pub branch_id: Option<i64>,
    pub event_type: EventType,
    pub url: String,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub created_at: Millis,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub updated_at: Millis,
}

/// A mapping to create or update. `id` is used only when the tuple is new.
#[derive(Debug, Clone)]
pub struct NewMapping {
    pub id: String,
    pub partner_id: String,
    pub brand_id: i64,
    pub branch_id: Option<i64>,
    pub event_type: EventType,
    pub url: String,
}

/// What deleting a mapping did.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedMapping {
    pub mapping_id: String,
    /// Deliveries and queued changes that were stopped (kept, marked `mapping_deleted`).
    pub stopped: u64,
}

/// One order change pushed by klikit's order platform, already validated.
#[derive(Debug, Clone)]
pub struct IngestItem {
    pub event_type: EventType,
    pub order: klikit_webhook::Order,
}

/// A push of one or more order changes, written in one transaction.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub items: Vec<IngestItem>,
    /// The `Idempotency-Key` header and a hash of the request body, when given.
    pub idempotency: Option<IdempotencyKey>,
    pub now: Millis,
    /// How far the platform's clock and hookit's may disagree, where the stale check
    /// has to compare one with the other (`HOOKIT_FRESHNESS_SKEW`; see
    /// [`super::freshness`]).
    pub freshness_skew: Duration,
}

/// An idempotency key together with a digest of the request it was first used with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_digest: String,
}

/// What happened to each pushed change.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IngestOutcome {
    pub results: Vec<IngestItemResult>,
    /// True when this answer is a replay of the first answer for the idempotency key.
    #[serde(default)]
    pub idempotent_replay: bool,
}

/// The outcome of one pushed change.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IngestItemResult {
    pub order_id: i64,
    pub event: String,
    /// `stored` or `ignored_stale`.
    pub result: String,
    /// The order's version after this push (unchanged when ignored).
    pub version: i64,
    /// How many partners this change was routed to.
    pub routed_to: u64,
}

/// The latest record of an order.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub order_id: i64,
    pub brand_id: i64,
    pub branch_id: i64,
    pub version: i64,
    /// The compact JSON record, exactly as webhooks carry it.
    pub record: Vec<u8>,
}

/// Caps on one delivery.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_orders: usize,
    pub max_bytes: usize,
}

/// The host and port a URL connects to (`host:port`, the port filled in from the scheme
/// when the URL leaves it out): the unit the dispatcher's per-host limits count, kept on
/// each mapping so that claims can skip a host's deliveries in the query itself. A URL
/// that does not parse is its own host.
pub fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => url.to_owned(),
    }
}

/// A request to lease due deliveries. Each leased delivery gets a fresh lease token and
/// its next attempt number.
pub struct ClaimRequest {
    pub now: Millis,
    pub lease: Duration,
    pub limit: usize,
    /// URLs already at their concurrency cap in this process: skip their deliveries.
    pub saturated_urls: Vec<String>,
    /// Hosts (as [`host_of`] names them) that cannot take another attempt in this
    /// process: skip every delivery to any of their URLs.
    pub saturated_hosts: Vec<String>,
    /// When set, only deliveries to these hosts are candidates (the process can start
    /// attempts to no other host now).
    pub only_hosts: Option<Vec<String>>,
    /// Asked for each due delivery's URL, in due order: whether to take it. Lets the
    /// claiming process take only what it has room to start.
    pub accept: Box<dyn FnMut(&str) -> bool + Send>,
}

impl std::fmt::Debug for ClaimRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimRequest")
            .field("now", &self.now)
            .field("limit", &self.limit)
            .field("saturated_urls", &self.saturated_urls)
            .field("saturated_hosts", &self.saturated_hosts)
            .field("only_hosts", &self.only_hosts)
            .finish_non_exhaustive()
    }
}

/// A leased delivery, with everything needed to attempt it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub event_id: String,
    /// Proof of this lease: an outcome or release carrying it acts only while no later
    /// claim has replaced it.
    pub lease_token: String,
    pub partner_id: String,
    pub event_type: EventType,
    pub url: String,
    pub body: Vec<u8>,
    /// The partner's current (newest) webhook secret, still encrypted.
    pub webhook_secret_encrypted: Vec<u8>,
    /// The secret that signs until `webhook_secret_switch_at`, still encrypted: only
    /// while a rotation's grace window was open at the claim.
    pub previous_webhook_secret_encrypted: Option<Vec<u8>>,
    pub webhook_secret_switch_at: Option<Millis>,
    pub signature_scheme: SignatureScheme,
    /// This attempt's number, assigned by the claim: 1 for the first, counting across
    /// replays, never the same twice for one delivery.
    pub attempt_number: u32,
    /// Position in the retry schedule (0 after creation or replay).
    pub retry_index: u32,
    /// When the oldest order change in this delivery was ingested.
    pub first_ingested_at: Millis,
    pub order_count: u32,
    /// A test delivery (see [`NewTestDelivery`]): sent marked as a test, attempted once.
    pub test: bool,
    /// The one attempt an open circuit lets through this cool-down (see
    /// `endpoint_health`): its failure leaves the retry schedule where it was.
    pub probe: bool,
}

/// A test delivery to store: a sample order for a partner to check its endpoint with.
/// The dispatcher sends it once, marked `x-klikit-test: true`, to the URL of its
/// mapping; it is never listed, replayed or counted in the metrics, and its sample
/// order is not stored as an order.
#[derive(Debug, Clone)]
pub struct NewTestDelivery {
    pub event_id: String,
    pub partner_id: String,
    pub mapping_id: String,
    pub event_type: EventType,
    pub brand_id: i64,
    pub branch_id: i64,
    pub order_id: i64,
    /// The exact body to send.
    pub body: Vec<u8>,
    pub now: Millis,
}

/// A lease to give back unused.
#[derive(Debug, Clone)]
pub struct HeldLease {
    pub event_id: String,
    pub lease_token: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A 2xx: acknowledged.
    Acknowledged { status: u16 },
    /// Anything else: retried on the schedule, or dead when it ends.
    Failed {
        status: Option<u16>,
        error_kind: String,
        error: String,
        /// A delay the receiver asked for (`Retry-After` on 429/503), already bounded.
        retry_after: Option<Duration>,
    },
}

/// One finished attempt, to be recorded.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub event_id: String,
    /// The token of the lease the attempt ran under; if a later claim replaced it, the
    /// attempt is recorded but does not move the delivery.
    pub lease_token: String,
    /// The partner whose endpoint (with `url`) was attempted, for endpoint health.
    pub partner_id: String,
    /// The attempt was an open circuit's probe: a failure does not advance the
    /// delivery's retry schedule (it waits on the circuit, not on its schedule).
    pub probe: bool,
    pub attempt_number: u32,
    pub url: String,
    pub started_at: Millis,
    pub duration_ms: i64,
    pub result: AttemptResult,
    /// The first 1 KiB of the response body (lossy UTF-8).
    pub response_excerpt: Option<String>,
    /// When the next attempt is due if this one failed and the schedule goes on;
    /// `None` means the schedule has ended and the delivery is dead.
    pub retry_at: Option<Millis>,
    pub finished_at: Millis,
}

/// The state of a delivery as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryState {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "dead" => Some(DeliveryState::Dead),
            _ => None,
        }
    }
}

/// What a bulk replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOutcome {
    pub replayed: u64,
    /// Matching deliveries left as they are, oldest first, at most
    /// [`REPLAY_SKIPPED_LISTED`].
    pub skipped: Vec<SkippedReplay>,
    /// How many were left in all.
    pub skipped_total: u64,
}

/// The most skipped deliveries a bulk replay lists.
pub const REPLAY_SKIPPED_LISTED: usize = 1_000;

/// A delivery a bulk replay matched but left, and why (`mapping_deleted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedReplay {
    pub event_id: String,
    pub reason: String,
}

/// A filter over deliveries; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub partner_id: Option<String>,
    pub state: Option<DeliveryState>,
    pub event_type: Option<EventType>,
    pub order_id: Option<i64>,
    pub created_from: Option<Millis>,
    pub created_to: Option<Millis>,
    /// Page size (list only).
    pub limit: usize,
    /// Return deliveries older than this event id (list only).
    pub before: Option<String>,
}

/// One delivery without its body.
#[derive(Debug, Clone, Serialize)]
pub struct DeliverySummary {
    pub event_id: String,
    pub partner_id: String,
    pub mapping_id: String,
    pub event_type: EventType,
    pub brand_id: i64,
    pub branch_id: i64,
    pub order_ids: Vec<i64>,
    pub state: DeliveryState,
    /// Why a dead delivery died: `retries_exhausted` or `mapping_deleted`.
    pub dead_reason: Option<String>,
    pub attempt_count: u32,
    #[serde(serialize_with = "super::time_text::serialize_option")]
    pub next_attempt_at: Option<Millis>,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub created_at: Millis,
    #[serde(serialize_with = "super::time_text::serialize_option")]
    pub finished_at: Option<Millis>,
}

/// A page of deliveries.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliverySummary>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One recorded attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub started_at: Millis,
    pub duration_ms: i64,
    pub url: String,
    pub status_code: Option<u16>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// A delivery with its body and attempts.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// The exact body bytes every attempt sends (UTF-8 JSON).
    pub body: String,
    pub attempts: Vec<AttemptRecord>,
}

/// One operator action, written in the same transaction as the action itself.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    #[serde(serialize_with = "super::time_text::serialize")]
    pub at: Millis,
    /// The name of the operator token that acted (`root` for the bootstrap token).
    pub actor: String,
    /// What was done, e.g. `partner.created`.
    pub action: String,
    /// What it was done to, e.g. a partner id.
    pub target: String,
    /// More about it; never a secret.
    pub details: serde_json::Value,
}

/// Which audit entries to list, newest first; every filter narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only what this operator token (by name) did.
    pub actor: Option<String>,
    /// Only this action (`partner.disabled`, …).
    pub action: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<Millis>,
    /// From 1.
    pub page: u32,
    pub size: u32,
}

/// A page of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub page: u32,
    pub size: u32,
    pub total: u64,
}

/// A named operator token, as listed (never its value or hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OperatorToken {
    pub name: String,
    #[serde(serialize_with = "super::time_text::serialize")]
    pub created_at: Millis,
    pub created_by: String,
}

/// A token to store: its name and the hash of its value.
#[derive(Debug, Clone)]
pub struct NewOperatorToken {
    pub name: String,
    pub token_hash: String,
    pub created_by: String,
    pub now: Millis,
}

/// Pending and dead work of one partner.
#[derive(Debug, Clone, Serialize)]
pub struct PartnerDeliveryStats {
    pub partner_id: String,
    /// Deliveries not yet acknowledged nor dead.
    pub pending: u64,
    /// Routed changes not yet in a delivery.
    pub queued: u64,
    /// When the oldest pending delivery or queued change was ingested.
    #[serde(serialize_with = "super::time_text::serialize_option")]
    pub oldest_pending_at: Option<Millis>,
    pub dead: u64,
}

/// Which of a partner's orders to list.
#[derive(Debug, Clone)]
pub struct PartnerOrderQuery {
    pub partner_id: String,
    /// Range of `placed_at` — or, for an order without one, of when hookit first
    /// stored it — inclusive start, exclusive end.
    pub placed_from: Millis,
    pub placed_to: Millis,
    pub status: Option<i64>,
    pub branch_id: Option<i64>,
    /// From 1.
    pub page: u32,
    pub size: u32,
}

/// A page of order records.
#[derive(Debug, Clone)]
pub struct OrderPage {
    /// Compact JSON records, exactly as webhooks carry them.
    pub records: Vec<Vec<u8>>,
    pub total: u64,
}

/// An answer kept under an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub request_digest: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// A partner's change of an order, ready to commit.
#[derive(Debug, Clone)]
pub struct PartnerOrderChange {
    pub partner_id: String,
    /// The version the change was computed from; the commit fails if it moved on.
    pub expected_version: i64,
    /// The next record, with `version = expected_version + 1` already set.
    pub order: klikit_webhook::Order,
    pub event_type: EventType,
    /// Idempotency scope and key, and the answer to keep under them.
    pub idempotency_scope: String,
    pub idempotency_key: String,
    pub answer: StoredAnswer,
    pub now: Millis,
}

/// What one of a partner's mapped URLs has seen lately, for the partner to diagnose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlActivity {
    pub url: String,
    /// When the partner's oldest mapping to this URL was made.
    pub first_mapped_at: Millis,
    /// The latest attempt to this URL, of any of the partner's deliveries.
    pub last_attempt: Option<LastAttempt>,
    /// The error of the latest failed attempt to this URL.
    pub last_error: Option<String>,
    /// Deliveries to this URL not yet acknowledged nor dead.
    pub pending: u64,
    /// The URL's endpoint health.
    pub state: EndpointState,
    /// When it entered that state; `None` if it never failed.
    pub state_since: Option<Millis>,
}

/// The latest attempt to a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAttempt {
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub started_at: Millis,
}

/// What a bulk retry-now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryOutcome {
    /// Pending deliveries made due now.
    pub retried: u64,
    /// Matching pending deliveries left alone because an attempt is in flight.
    pub in_flight: u64,
}
