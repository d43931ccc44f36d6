//! The behavioural test suite every store backend must pass.
//!
//! Each check is a function over `&dyn Store`; `store_suite!` turns them into tests for
//! one backend, given an async expression that opens an empty store and returns a
//! guard that keeps its resources alive together with it.

#![allow(dead_code)]

use hookit::ids::IdKind;
use hookit::store::*;
use klikit_webhook::{EventType, Order};
use serde_json::{Value, json};
use std::time::Duration;

pub const T0: Millis = 1_800_000_000_000;

#[macro_export]
macro_rules! store_suite {
    // `optional`: `$open` gives `Option<(guard, store)>`; `None` skips the test (the
    // opener says why).
    (optional $open:expr) => {
        $crate::store_suite!(@names $open, @optional);
    };
    ($open:expr) => {
        $crate::store_suite!(@names $open, @always);
    };
    (@names $open:expr, @$how:ident) => {
        $crate::store_suite!(@tests $open, @$how;
            partners_round_trip, secrets_and_enabled_flag, mappings_upsert_and_delete,
            routing_prefers_exact_branch_and_holds_a_disabled_partners_changes, changes_in_one_tick_share_a_delivery,
            batches_respect_the_order_cap, later_change_waits_for_the_earlier_one,
            stale_updates_are_ignored_and_versions_grow, idempotency_key_replays_first_answer,
            leases_exclude_until_they_expire, failures_retry_then_die_and_replay_keeps_bytes,
            deleting_a_mapping_stops_its_work, saturated_urls_are_skipped, released_leases_are_claimable,
            deliveries_filter_and_page, audit_is_written_with_the_action,
            operator_tokens_are_found_by_hash_until_revoked, partner_scope_follows_mappings,
            partner_change_commits_once_per_version, delivery_stats_count_backlog_per_partner, claims_take_only_what_accept_admits,
            an_outcome_after_its_lease_was_replaced_moves_nothing, released_leases_give_their_attempt_number_back,
            claims_skip_saturated_hosts_in_the_query, claims_can_be_limited_to_named_hosts,
            a_mapping_keeps_its_host_when_its_url_changes,
            a_push_dated_long_ago_is_stale_after_a_record_without_updated_at,
            a_push_without_updated_at_keeps_the_stored_time,
            a_partners_time_never_makes_the_platforms_push_stale,
            orders_without_placed_at_are_listed_by_first_ingest,
            retry_now_makes_a_pending_delivery_due_without_advancing_its_schedule,
            a_test_delivery_is_attempted_once_and_never_listed,
            url_activity_shows_each_mapped_url_once_with_its_latest_attempt,
            a_grace_rotation_keeps_the_previous_secret_until_the_switch,
            a_rotation_inside_a_grace_window_ends_it, a_rotation_without_grace_forgets_the_previous_secret,
            the_signature_scheme_is_kept_and_changed,
            the_first_master_key_check_is_kept_and_others_mismatch,
            the_breaker_opens_only_after_enough_failures_over_long_enough,
            an_open_circuit_lets_one_probe_per_cooldown_and_a_success_closes_it,
            a_probe_failure_keeps_the_retry_schedule_where_it_was,
            a_410_disables_at_once_and_deliveries_wait_for_enable_or_a_new_url,
            failing_for_disable_after_disables_and_the_orders_later_events_wait_behind_it,
            changes_of_one_order_in_one_push_are_versioned_and_wait_in_line,
            retention_removes_exactly_what_is_past_its_time,
            a_pruned_order_continues_its_version_and_staleness,
            a_prune_batch_touches_a_bounded_number_of_rows,
            a_delivery_keeps_its_bytes_after_its_orders_change);
    };
    (@tests $open:expr, @always; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (_guard, store) = $open.await;
                store_suite::$name(&*store).await;
            }
        )*
    };
    (@tests $open:expr, @optional; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((_guard, store)) = $open.await else {
                    return;
                };
                store_suite::$name(&*store).await;
            }
        )*
    };
}

pub fn order(id: i64, brand: i64, branch: i64, status: i64, updated_at: &str) -> Order {
    let value = json!({
        "id": id, "external_id": format!("EXT-{id}"), "business_id": 737,
        "brands": [{"id": brand, "title": "Bali Bites"}], "branch_id": branch,
        "status": status, "cart": [{"id": 1, "name": "Nasi", "quantity": 1, "price": "12.50"}],
        "payment_status": 1, "updated_at": updated_at
    });
    // `json!` would turn 12.50 into the float 12.5; money arrives as exact JSON text.
    let text = value.to_string();
    let text = format!("{},\"total\":12.50}}", &text[..text.len() - 1]);
    Order::from_json_bytes(text.as_bytes()).expect("valid order")
}

pub fn audit(action: &str) -> AuditEntry {
    AuditEntry {
        at: T0,
        actor: "root".into(),
        action: action.into(),
        target: "test".into(),
        details: json!({}),
    }
}

pub fn item(event_type: EventType, order: Order) -> IngestItem {
    IngestItem { event_type, order }
}

pub async fn ingest(store: &dyn Store, items: Vec<IngestItem>, now: Millis) -> IngestOutcome {
    store
        .ingest(IngestRequest {
            items,
            idempotency: None,
            now,
            freshness_skew: SKEW,
        })
        .await
        .expect("ingest")
}

/// The clock skew the suite's pushes allow (the default of `HOOKIT_FRESHNESS_SKEW`).
pub const SKEW: Duration = Duration::from_secs(5);

/// `millis` as an RFC 3339 time, for records dated relative to the suite's clock.
pub fn rfc3339(millis: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .expect("time in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn partner(store: &dyn Store, name: &str) -> Partner {
    store
        .create_partner(
            NewPartner {
                id: IdKind::Partner.generate(),
                name: name.into(),
                partner_key: format!("pk_{}", IdKind::Request.generate()),
                secret_hash: "sha256:00".into(),
                webhook_secret_encrypted: vec![1, 2, 3],
                signature_scheme: SignatureScheme::Klikit,
                now: T0,
            },
            audit("partner.created"),
        )
        .await
        .expect("create partner")
}

pub async fn map(
    store: &dyn Store,
    partner: &Partner,
    brand: i64,
    branch: Option<i64>,
    event_type: EventType,
    url: &str,
) -> Mapping {
    store
        .upsert_mapping(
            NewMapping {
                id: IdKind::Mapping.generate(),
                partner_id: partner.id.clone(),
                brand_id: brand,
                branch_id: branch,
                event_type,
                url: url.into(),
            },
            audit("mapping.upserted"),
        )
        .await
        .expect("mapping")
}

pub const LIMITS: BatchLimits = BatchLimits {
    max_orders: 50,
    max_bytes: 1 << 20,
};

pub async fn claim(store: &dyn Store, now: Millis) -> Vec<ClaimedDelivery> {
    claim_skipping(store, now, vec![]).await
}

/// Claims (30 s leases, up to 100) skipping the given saturated URLs.
pub async fn claim_skipping(
    store: &dyn Store,
    now: Millis,
    saturated: Vec<String>,
) -> Vec<ClaimedDelivery> {
    store
        .claim_due(claim_request(now, 100, saturated))
        .await
        .expect("claim")
}

/// A claim of up to `limit` with 30 s leases that skips `saturated_urls` and accepts
/// every candidate.
pub fn claim_request(now: Millis, limit: usize, saturated_urls: Vec<String>) -> ClaimRequest {
    ClaimRequest {
        now,
        lease: Duration::from_secs(30),
        limit,
        saturated_urls,
        saturated_hosts: vec![],
        only_hosts: None,
        accept: Box::new(|_| true),
    }
}

pub fn body_json(delivery: &ClaimedDelivery) -> Value {
    serde_json::from_slice(&delivery.body).expect("body is JSON")
}

pub fn order_ids(delivery: &ClaimedDelivery) -> Vec<i64> {
    body_json(delivery)["orders"]
        .as_array()
        .expect("orders array")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect()
}

pub fn outcome(
    delivery: &ClaimedDelivery,
    result: AttemptResult,
    retry_at: Option<Millis>,
    now: Millis,
) -> AttemptOutcome {
    AttemptOutcome {
        event_id: delivery.event_id.clone(),
        lease_token: delivery.lease_token.clone(),
        partner_id: delivery.partner_id.clone(),
        probe: delivery.probe,
        attempt_number: delivery.attempt_number,
        url: delivery.url.clone(),
        started_at: now,
        duration_ms: 3,
        result,
        response_excerpt: Some("ok".into()),
        retry_at,
        finished_at: now,
    }
}

pub fn failure() -> AttemptResult {
    AttemptResult::Failed {
        status: Some(500),
        error_kind: "http_status".into(),
        error: "HTTP 500".into(),
        retry_after: None,
    }
}

pub const ACK: AttemptResult = AttemptResult::Acknowledged { status: 200 };

mod checks;
mod leases_and_hosts;
pub use checks::*;
pub use leases_and_hosts::*;
mod freshness;
pub use freshness::*;
pub mod concurrent;
mod key_check;
pub use key_check::*;
pub mod group_commit;
mod retry_and_partner_views;
pub use retry_and_partner_views::*;
mod webhook_secrets;
pub use webhook_secrets::*;
mod endpoint_health;
pub use endpoint_health::*;
mod one_push;
pub use one_push::*;
mod retention;
pub use retention::*;
mod stored_once;
pub use stored_once::*;
