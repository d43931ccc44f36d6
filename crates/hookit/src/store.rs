//! The store: everything hookit keeps, behind one trait.
//!
//! The store speaks in partners, mappings, orders, deliveries and attempts; it knows
//! nothing of HTTP. API handlers write to it and return; the dispatcher claims work
//! from it and records what happened. Every piece of dispatcher state lives here, so a
//! second process on the same database could take over at any moment: claims are
//! leases with an expiry, and ids come from the application.
//!
//! `sqlite` is the embedded backend; `postgres` lets several processes share one
//! database. The behavioural test suite every backend must
//! pass lives in `tests/store_suite/`.

pub mod delivery_body;
pub mod endpoint_health;
pub mod freshness;
pub mod packed;
pub mod postgres;
mod retention;
pub mod sqlite;
pub mod time_text;
mod types;

pub use endpoint_health::{EndpointHealth, EndpointPolicy, EndpointState, EndpointTransition};
pub use retention::*;
pub use types::*;

use async_trait::async_trait;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. "partner prt_…".
        what: String,
    },
    /// The request conflicts with the stored state (a person can act on the message).
    #[error("{0}")]
    Conflict(String),
    /// An idempotency key was reused with a different request.
    #[error(
        "the Idempotency-Key {key:?} was already used with a different request; use a new key for a new request"
    )]
    IdempotencyMismatch {
        /// The reused key.
        key: String,
    },
    /// The backend failed (I/O, corruption, a bug). Not the caller's fault.
    #[error("storage failure: {0}")]
    Backend(String),
    /// The database cannot be reached right now; the caller may retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// What [`Store::check_master_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The database held no check value; the given one is now stored.
    Stored,
    /// The given check value matches the stored one.
    Matches,
    /// The database belongs to another master key.
    Mismatch,
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything hookit persists. Implementations must be safe to share between tasks,
/// and — for backends that allow it — between processes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    // --- partners (operator actions carry their audit entry, written in the same
    // transaction) -------------------------------------------------------------------

    /// Stores a new partner with its hashed API secret and encrypted webhook secret.
    async fn create_partner(&self, partner: NewPartner, audit: AuditEntry) -> StoreResult<Partner>;
    /// All partners, oldest first.
    async fn list_partners(&self) -> StoreResult<Vec<Partner>>;
    /// One partner by id.
    async fn get_partner(&self, id: &str) -> StoreResult<Partner>;
    /// One partner by its public `partner_key`, with its secret hash (for Basic auth).
    async fn find_partner_by_key(&self, partner_key: &str) -> StoreResult<Option<PartnerAuth>>;
    /// Replaces the API secret hash; the old secret stops working at once.
    async fn set_secret_hash(
        &self,
        id: &str,
        secret_hash: &str,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Stores a new encrypted webhook secret. Without `switch_at`, every later attempt
    /// signs with it and the previous secret is forgotten. With it, the secret that
    /// signs at `audit.at` becomes the previous one, signing until `switch_at` — if an
    /// earlier grace window was still open, it ends now: its new secret is the one
    /// signing now, and the older one is forgotten (at most two secrets are live).
    async fn set_webhook_secret(
        &self,
        id: &str,
        rotation: WebhookSecretRotation,
        audit: AuditEntry,
    ) -> StoreResult<Partner>;
    /// Changes a partner's settings (its signature scheme).
    async fn update_partner(
        &self,
        id: &str,
        update: PartnerUpdate,
        audit: AuditEntry,
    ) -> StoreResult<Partner>;
    /// Enables or disables a partner.
    async fn set_partner_enabled(
        &self,
        id: &str,
        enabled: bool,
        audit: AuditEntry,
    ) -> StoreResult<Partner>;

    // --- mappings -------------------------------------------------------------------

    /// Creates or replaces the URL of one (partner, brand, branch, event type) tuple.
    async fn upsert_mapping(&self, mapping: NewMapping, audit: AuditEntry) -> StoreResult<Mapping>;
    /// A partner's mappings, or every mapping when `partner_id` is `None`.
    async fn list_mappings(&self, partner_id: Option<&str>) -> StoreResult<Vec<Mapping>>;
    /// Deletes a mapping; its pending deliveries stop (kept, marked `mapping_deleted`).
    async fn delete_mapping(
        &self,
        partner_id: &str,
        mapping_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeletedMapping>;

    // --- ingest and orders ----------------------------------------------------------

    /// Writes order changes and the deliveries they cause in one transaction.
    async fn ingest(&self, request: IngestRequest) -> StoreResult<IngestOutcome>;
    /// The latest record of an order.
    async fn get_order(&self, order_id: i64) -> StoreResult<Option<StoredOrder>>;

    // --- dispatch -------------------------------------------------------------------

    /// Groups ready order changes into deliveries (one tick of batching). Returns how
    /// many deliveries were formed.
    async fn form_deliveries(&self, limits: BatchLimits, now: Millis) -> StoreResult<usize>;
    /// Leases due deliveries until `now + claim.lease`, each under a fresh lease token
    /// and with its attempt number assigned (unique per delivery).
    async fn claim_due(&self, claim: ClaimRequest) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Gives back leases that were taken but not used, with their attempt numbers; a
    /// lease that no longer holds is left alone.
    async fn release_leases(&self, leases: &[HeldLease]) -> StoreResult<()>;
    /// Records every attempt under its own number and moves deliveries on (delivered,
    /// retry or dead) where the outcome's lease still holds. Returns how many outcomes
    /// were stale: recorded, but their delivery not moved.
    async fn record_outcomes(&self, outcomes: Vec<AttemptOutcome>) -> StoreResult<usize>;

    // --- deliveries for operators ---------------------------------------------------

    /// Deliveries matching a filter, newest first, paged by cursor.
    async fn list_deliveries(&self, filter: DeliveryFilter) -> StoreResult<DeliveryPage>;
    /// One delivery with all its attempts.
    async fn get_delivery(&self, event_id: &str) -> StoreResult<Option<DeliveryDetail>>;
    /// Makes a delivery pending again under the same event id with a fresh schedule.
    async fn replay_delivery(
        &self,
        event_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeliverySummary>;
    /// Makes a pending delivery due now: same event id, retry schedule not advanced;
    /// the attempt then made is counted as usual. `Conflict` while an attempt is in
    /// flight (its lease holds) or when the delivery is not pending; `NotFound` for a
    /// test delivery.
    async fn retry_delivery_now(
        &self,
        event_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeliverySummary>;
    /// Makes every pending delivery matching the filter due now, except those with an
    /// attempt in flight, which it counts.
    async fn retry_matching_now(
        &self,
        filter: DeliveryFilter,
        audit: AuditEntry,
    ) -> StoreResult<RetryOutcome>;
    /// Replays every finished delivery matching the filter — dead ones, and delivered
    /// ones only with `include_delivered` — that can be replayed; says how many, and
    /// which matching ones were left as they are and why.
    async fn replay_matching(
        &self,
        filter: DeliveryFilter,
        include_delivered: bool,
        audit: AuditEntry,
    ) -> StoreResult<ReplayOutcome>;
    /// Stores a test delivery, due now; the dispatcher attempts it once. Its outcome is
    /// read with [`Store::get_delivery`]; nothing else lists it.
    async fn create_test_delivery(&self, delivery: NewTestDelivery) -> StoreResult<()>;
    /// Applies each outcome to its endpoint's health (in the order they finished) and
    /// returns the state changes; disabling an endpoint writes an audit entry in the
    /// same write. Outcomes whose lease was replaced count too: the attempt was made.
    async fn record_endpoint_health(
        &self,
        outcomes: Vec<AttemptOutcome>,
        policy: EndpointPolicy,
    ) -> StoreResult<Vec<EndpointTransition>>;
    /// Every mapped endpoint (partner, URL) with its health and pending deliveries, or
    /// one partner's; by partner, then URL.
    async fn list_endpoints(&self, partner_id: Option<&str>) -> StoreResult<Vec<EndpointHealth>>;
    /// Makes an open or disabled endpoint healthy again, so its waiting deliveries go
    /// out as they fall due. `NotFound` unless the partner maps the URL.
    async fn enable_endpoint(
        &self,
        partner_id: &str,
        url: &str,
        audit: AuditEntry,
    ) -> StoreResult<EndpointHealth>;
    /// Per-partner counts of pending and dead work, for metrics.
    async fn delivery_stats(&self) -> StoreResult<Vec<PartnerDeliveryStats>>;

    // --- the partner API ------------------------------------------------------------

    /// An order, if the partner is mapped to its (brand, branch).
    async fn get_order_for_partner(
        &self,
        partner_id: &str,
        order_id: i64,
    ) -> StoreResult<Option<StoredOrder>>;
    /// A page of the orders the partner is mapped to, newest `placed_at` first.
    async fn list_orders_for_partner(&self, query: PartnerOrderQuery) -> StoreResult<OrderPage>;
    /// Each URL the partner has mapped, with its latest attempt, latest error and
    /// pending deliveries, in the order the URLs were first mapped.
    async fn partner_url_activity(&self, partner_id: &str) -> StoreResult<Vec<UrlActivity>>;
    /// The first answer stored under an idempotency key in `scope`, if any.
    async fn idempotent_answer(&self, scope: &str, key: &str) -> StoreResult<Option<StoredAnswer>>;
    /// Writes a partner's change of an order (the next version of its record) with the
    /// change it emits and the answer to keep under its idempotency key, in one
    /// transaction; fails with `Conflict` if the order moved on meanwhile.
    async fn commit_partner_change(&self, change: PartnerOrderChange) -> StoreResult<()>;

    // --- operators ------------------------------------------------------------------

    /// Stores a named operator token (its hash only).
    async fn create_operator_token(
        &self,
        token: NewOperatorToken,
        audit: AuditEntry,
    ) -> StoreResult<OperatorToken>;
    /// The named tokens, without hashes.
    async fn list_operator_tokens(&self) -> StoreResult<Vec<OperatorToken>>;
    /// The token whose hash this is.
    async fn find_operator_token(&self, token_hash: &str) -> StoreResult<Option<OperatorToken>>;
    /// Revokes a token at once.
    async fn revoke_operator_token(&self, name: &str, audit: AuditEntry) -> StoreResult<()>;
    /// The audit log, newest first.
    async fn list_audit(&self, query: AuditQuery) -> StoreResult<AuditPage>;

    // --- retention (see `store/retention.rs`) ---------------------------------------

    /// Removes, in one transaction, at most [`PRUNE_BATCH`] records of `kind` that are
    /// past `policy` at `now`, with what belongs to them. Never pending work, nor an
    /// order a kept delivery was formed from; a pruned order leaves its tombstone.
    async fn prune_batch(
        &self,
        kind: PruneKind,
        policy: RetentionPolicy,
        now: Millis,
    ) -> StoreResult<PruneBatch>;
    /// How many records of each kind a full prune at `now` would remove, orders freed
    /// by the deliveries it would remove included.
    async fn count_prunable(
        &self,
        policy: RetentionPolicy,
        now: Millis,
    ) -> StoreResult<PruneCounts>;
    /// Gives up to `pages` free pages of the database back to the file system, for
    /// backends that must be asked to (SQLite's incremental vacuum). Returns how many
    /// free pages remain.
    async fn reclaim_space(&self, _pages: u32) -> StoreResult<u64> {
        Ok(0)
    }
    /// Writes one audit entry on its own (an action that is not one write, such as a
    /// prune of many batches).
    async fn record_audit(&self, audit: AuditEntry) -> StoreResult<()>;

    /// Commits the backend has made, for backends that count them (each may hold
    /// several writes); read at scrape time as `hookit_store_commits_total`.
    fn commits(&self) -> Option<u64> {
        None
    }

    /// Stores `check` (a value derived from the master key) if none is stored yet, or
    /// compares it with the stored one.
    async fn check_master_key(&self, _check: &str) -> StoreResult<KeyCheck> {
        Ok(KeyCheck::Stored)
    }

    /// A signal that new work may be waiting (a change became ready, a delivery was
    /// replayed), for backends that can tell. With one, an idle dispatcher waits on it
    /// and polls only rarely; without one (`None`, the default) it polls every tick.
    fn work_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}
