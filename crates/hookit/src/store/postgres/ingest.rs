//! Ingest: an order change, its routing to partners, and the idempotency record, all
//! in the caller's transaction. A push's items are written together by
//! [`super::ingest_batch`]; the one-change helpers here serve the partner API.
//!
//! Concurrent writers of one order are serialized by a transaction-scoped advisory
//! lock on the order id, taken before the order is read; a push of several orders
//! takes its locks in ascending id order, so two pushes never deadlock each other.
//! Under the lock the version read is the latest committed, so versions are distinct
//! and consecutive, and the per-(partner, order) sequence sees every earlier change.

use super::failure::PgResult;
use crate::store::*;
use klikit_webhook::EventType;
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

const INGEST_SCOPE: &str = "ingest";

/// The first key of the advisory locks that serialize uses of one idempotency key.
const IDEMPOTENCY_LOCK_CLASS: i32 = 0x686b_0002;

/// Serializes the transactions that use (scope, key): a second one waits here until
/// the first commits, then finds its answer.
pub(super) async fn lock_idempotency_key(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
) -> PgResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2 || ':' || $3))")
        .bind(IDEMPOTENCY_LOCK_CLASS)
        .bind(scope)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Serializes the transactions that change these orders, in ascending id order.
pub(super) async fn lock_orders(conn: &mut PgConnection, order_ids: &[i64]) -> PgResult<()> {
    let mut ids = order_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // One round trip; the sorted subquery feeds the locks in ascending order.
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(id))
         FROM (SELECT id FROM unnest($1::bigint[]) AS id ORDER BY id) AS sorted",
    )
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn ingest(
    conn: &mut PgConnection,
    request: &IngestRequest,
) -> PgResult<IngestOutcome> {
    if let Some(key) = &request.idempotency {
        lock_idempotency_key(conn, INGEST_SCOPE, &key.key).await?;
        if let Some(stored) = lookup_answer(conn, INGEST_SCOPE, &key.key).await? {
            if stored.request_digest != key.request_digest {
                return Err(StoreError::IdempotencyMismatch {
                    key: key.key.clone(),
                }
                .into());
            }
            let mut outcome: IngestOutcome =
                serde_json::from_slice(&stored.body).map_err(|err| {
                    StoreError::Backend(format!("stored ingest answer is unreadable: {err}"))
                })?;
            outcome.idempotent_replay = true;
            return Ok(outcome);
        }
    }
    let order_ids: Vec<i64> = request.items.iter().map(|item| item.order.id).collect();
    lock_orders(conn, &order_ids).await?;
    let results = super::ingest_batch::ingest_items(&mut *conn, request).await?;
    let outcome = IngestOutcome {
        results,
        idempotent_replay: false,
    };
    if let Some(key) = &request.idempotency {
        let body = serde_json::to_vec(&outcome)
            .map_err(|err| StoreError::Backend(format!("cannot encode ingest answer: {err}")))?;
        let answer = StoredAnswer {
            request_digest: key.request_digest.clone(),
            status: 202,
            body,
        };
        remember_answer(conn, INGEST_SCOPE, &key.key, &answer, request.now).await?;
    }
    Ok(outcome)
}

/// The answer first given under this key in this scope, if the key was used before.
pub(super) async fn lookup_answer(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
) -> PgResult<Option<StoredAnswer>> {
    let row = sqlx::query(
        "SELECT request_digest, status, response FROM idempotency_keys
         WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(StoredAnswer {
            request_digest: row.try_get(0)?,
            status: u16::try_from(row.try_get::<i32, _>(1)?).unwrap_or(500),
            body: unpacked(row.try_get(2)?)?,
        })
    })
    .transpose()
}

pub(super) async fn remember_answer(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    answer: &StoredAnswer,
    now: Millis,
) -> PgResult<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_digest, status, response, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(scope)
    .bind(key)
    .bind(&answer.request_digest)
    .bind(i32::from(answer.status))
    .bind(packed::pack(&answer.body))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores one change with the record as it was at that change: the one copy of that
/// record (the order's latest record is its latest change's).
pub(super) async fn insert_change(
    conn: &mut PgConnection,
    change: &OrderChange,
    record: &[u8],
    now: Millis,
) -> PgResult<()> {
    sqlx::query(
        "INSERT INTO order_changes (order_id, version, event_type, brand_id, branch_id, record,
                                    ingested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(change.order_id)
    .bind(change.version)
    .bind(change.event_type.as_str())
    .bind(change.brand_id)
    .bind(change.branch_id)
    .bind(packed::pack(record))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// One stored order change, as routing needs it; (order, version) names it.
pub(super) struct OrderChange {
    pub order_id: i64,
    pub version: i64,
    pub event_type: EventType,
    pub brand_id: i64,
    pub branch_id: i64,
}

/// Where changes of one (brand, branch, event type) go: (mapping id, partner id) per
/// partner, an exact branch mapping winning over a brand-wide one. A disabled
/// partner's changes are queued too (delivery pauses, ingest does not).
type Targets = Vec<(String, String)>;

/// Route lookups of one transaction.
pub(super) type RouteCache = HashMap<(i64, i64, EventType), Targets>;

async fn targets(
    conn: &mut PgConnection,
    brand_id: i64,
    branch_id: i64,
    event_type: EventType,
) -> PgResult<Targets> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.id, m.partner_id FROM mappings m
         WHERE m.brand_id = $1 AND m.event_type = $2
           AND (m.branch_id = $3 OR m.branch_id IS NULL)
         ORDER BY m.partner_id, m.branch_id IS NULL",
    )
    .bind(brand_id)
    .bind(event_type.as_str())
    .bind(branch_id)
    .fetch_all(conn)
    .await?;
    // Rows are ordered exact-first within a partner: keep only each partner's first.
    let mut targets: Targets = Vec::with_capacity(rows.len());
    for (mapping_id, partner_id) in rows {
        if targets.last().is_none_or(|(_, last)| *last != partner_id) {
            targets.push((mapping_id, partner_id));
        }
    }
    Ok(targets)
}

/// Queues a change for every partner mapped to its (brand, branch, event type).
/// Returns how many partners it was routed to.
pub(super) async fn route_change(
    conn: &mut PgConnection,
    change: &OrderChange,
    cache: &mut RouteCache,
    now: Millis,
) -> PgResult<u64> {
    let key = (change.brand_id, change.branch_id, change.event_type);
    let targets = match cache.entry(key) {
        Entry::Occupied(found) => found.into_mut(),
        Entry::Vacant(slot) => slot.insert(
            targets(
                &mut *conn,
                change.brand_id,
                change.branch_id,
                change.event_type,
            )
            .await?,
        ),
    };
    for (mapping_id, partner_id) in targets.iter() {
        enqueue(&mut *conn, change, mapping_id, partner_id, now).await?;
    }
    Ok(targets.len() as u64)
}

/// Adds one routed change to the partner's sequence for this order: `ready` when
/// nothing earlier of the order is unfinished for this partner, `waiting` otherwise.
/// Marking the unfinished rows locks them, so a delivery finishing at the same moment
/// either sees the mark (and promotes this change) or has finished first (and this
/// change is ready).
async fn enqueue(
    conn: &mut PgConnection,
    change: &OrderChange,
    mapping_id: &str,
    partner_id: &str,
    now: Millis,
) -> PgResult<()> {
    let busy = sqlx::query(
        "UPDATE queue SET has_successor = TRUE
         WHERE partner_num = (SELECT num FROM partners WHERE id = $1) AND order_id = $2
           AND state IN ('waiting', 'ready', 'batched')",
    )
    .bind(partner_id)
    .bind(change.order_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    sqlx::query(
        "INSERT INTO queue (partner_num, mapping_id, order_id, order_version, state, queued_at)
         VALUES ((SELECT num FROM partners WHERE id = $1), $2, $3, $4, $5, $6)",
    )
    .bind(partner_id)
    .bind(mapping_id)
    .bind(change.order_id)
    .bind(change.version)
    .bind(if busy { "waiting" } else { "ready" })
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The columns [`stored_order`] reads, in its order.
/// `c` is the order's latest change, joined by [`LATEST_CHANGE`].
pub(super) const STORED_ORDER_COLUMNS: &str = "o.id, o.brand_id, o.branch_id, o.version, c.record";

/// Joins an order `o` to its latest change `c`, which holds its latest record.
pub(super) const LATEST_CHANGE: &str =
    "JOIN order_changes c ON c.order_id = o.id AND c.version = o.version";

pub(super) fn stored_order(row: &sqlx::postgres::PgRow) -> PgResult<StoredOrder> {
    Ok(StoredOrder {
        order_id: row.try_get(0)?,
        brand_id: row.try_get(1)?,
        branch_id: row.try_get(2)?,
        version: row.try_get(3)?,
        record: unpacked(row.try_get(4)?)?,
    })
}

pub(super) async fn get_order(
    conn: &mut PgConnection,
    order_id: i64,
) -> PgResult<Option<StoredOrder>> {
    sqlx::query(&format!(
        "SELECT {STORED_ORDER_COLUMNS} FROM orders o {LATEST_CHANGE} WHERE o.id = $1"
    ))
    .bind(order_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(stored_order)
    .transpose()
}

/// A value written by [`packed::pack`], unpacked.
pub(super) fn unpacked(stored: Vec<u8>) -> PgResult<Vec<u8>> {
    packed::unpack(stored).map_err(|err| StoreError::Backend(err).into())
}
