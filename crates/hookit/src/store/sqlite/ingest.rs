//! Ingest: an order change, its routing to partners, and the idempotency record, all
//! in the caller's transaction.

use crate::store::freshness::{self, PlatformTimes};
use crate::store::*;
use klikit_webhook::EventType;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

const INGEST_SCOPE: &str = "ingest";

pub(super) fn ingest(tx: &Transaction<'_>, request: IngestRequest) -> StoreResult<IngestOutcome> {
    if let Some(key) = &request.idempotency {
        if let Some(stored) = lookup_answer(tx, INGEST_SCOPE, &key.key)? {
            if stored.request_digest != key.request_digest {
                return Err(StoreError::IdempotencyMismatch {
                    key: key.key.clone(),
                });
            }
            let mut outcome: IngestOutcome =
                serde_json::from_slice(&stored.body).map_err(|err| {
                    StoreError::Backend(format!("stored ingest answer is unreadable: {err}"))
                })?;
            outcome.idempotent_replay = true;
            return Ok(outcome);
        }
    }
    let mut results = Vec::with_capacity(request.items.len());
    let mut routes = RouteCache::new();
    for item in request.items {
        results.push(ingest_one(
            tx,
            item,
            &mut routes,
            request.now,
            request.freshness_skew,
        )?);
    }
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
        remember_answer(tx, INGEST_SCOPE, &key.key, &answer, request.now)?;
    }
    Ok(outcome)
}

/// The answer first given under this key in this scope, if the key was used before.
pub(super) fn lookup_answer(
    conn: &Connection,
    scope: &str,
    key: &str,
) -> StoreResult<Option<StoredAnswer>> {
    let stored = conn
        .prepare_cached(
            "SELECT request_digest, status, response FROM idempotency_keys
             WHERE scope = ?1 AND key = ?2",
        )?
        .query_row(params![scope, key], |row| {
            Ok(StoredAnswer {
                request_digest: row.get(0)?,
                status: row.get(1)?,
                body: unpacked_column(row, 2)?,
            })
        })
        .optional()?;
    Ok(stored)
}

pub(super) fn remember_answer(
    tx: &Transaction<'_>,
    scope: &str,
    key: &str,
    answer: &StoredAnswer,
    now: Millis,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO idempotency_keys (scope, key, request_digest, status, response, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        scope,
        key,
        answer.request_digest,
        answer.status,
        packed::pack(&answer.body),
        now
    ])?;
    Ok(())
}

fn ingest_one(
    tx: &Transaction<'_>,
    item: IngestItem,
    routes: &mut RouteCache,
    now: Millis,
    skew: Duration,
) -> StoreResult<IngestItemResult> {
    let IngestItem {
        event_type,
        mut order,
    } = item;
    let order_id = order.id;
    let (brand_id, branch_id, status) = match (order.brand_id(), order.branch_id, order.status) {
        (Some(brand), Some(branch), Some(status)) => (brand, branch, status.code()),
        _ => {
            return Err(StoreError::Conflict(format!(
                "order {order_id} lacks its brand, branch or status; the ingest API validates these"
            )));
        }
    };
    let incoming_updated = order.updated_at.as_ref().map(timestamp_millis);
    let previous: Option<(i64, PlatformTimes)> = tx
        .prepare_cached(
            // A pruned order's tombstone stands in for its row: the versions continue.
            "SELECT version, platform_updated_at, platform_stored_at FROM orders WHERE id = ?1
             UNION ALL
             SELECT version, platform_updated_at, platform_stored_at FROM order_tombstones
             WHERE id = ?1
             ORDER BY 1 DESC LIMIT 1",
        )?
        .query_row([order_id], |row| {
            Ok((
                row.get(0)?,
                PlatformTimes {
                    updated_at: row.get(1)?,
                    stored_at: row.get(2)?,
                },
            ))
        })
        .optional()?;
    if let Some((version, stored)) = previous {
        if freshness::is_stale(incoming_updated, stored, now, skew) {
            return Ok(IngestItemResult {
                order_id,
                event: event_type.as_str().to_owned(),
                result: "ignored_stale".into(),
                version,
                routed_to: 0,
            });
        }
    }
    let version = previous.map_or(1, |(version, _)| version + 1);
    let platform_updated =
        freshness::kept_updated_at(incoming_updated, previous.map(|(_, stored)| stored));
    order.version = Some(version);
    let record = order.to_json_bytes();
    let placed_at = order.placed_at.as_ref().map(timestamp_millis);
    // `first_ingested_at` is written once, with the row.
    tx.prepare_cached(
        "INSERT INTO orders (id, brand_id, branch_id, status, placed_at, platform_updated_at,
                             platform_stored_at, first_ingested_at, version, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?7)
         ON CONFLICT (id) DO UPDATE SET
            brand_id = excluded.brand_id, branch_id = excluded.branch_id,
            status = excluded.status, placed_at = excluded.placed_at,
            platform_updated_at = excluded.platform_updated_at,
            platform_stored_at = excluded.platform_stored_at,
            version = excluded.version, changed_at = excluded.changed_at",
    )?
    .execute(params![
        order_id,
        brand_id,
        branch_id,
        status,
        placed_at,
        platform_updated,
        now,
        version
    ])?;
    let change = OrderChange {
        order_id,
        version,
        event_type,
        brand_id,
        branch_id,
    };
    insert_change(tx, &change, &record, now)?;
    let routed_to = route_change(tx, &change, routes, now)?;
    Ok(IngestItemResult {
        order_id,
        event: event_type.as_str().to_owned(),
        result: "stored".into(),
        version,
        routed_to,
    })
}

/// Stores one change with the record as it was at that change: the one copy of that
/// record (the order's latest record is its latest change's).
pub(super) fn insert_change(
    tx: &Transaction<'_>,
    change: &OrderChange,
    record: &[u8],
    now: Millis,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO order_changes (order_id, version, event_type, brand_id, branch_id, record,
                                    ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        change.order_id,
        change.version,
        change.event_type.as_str(),
        change.brand_id,
        change.branch_id,
        packed::pack(record),
        now
    ])?;
    Ok(())
}

/// One stored order change, as routing needs it; (order, version) names it.
pub(super) struct OrderChange {
    pub order_id: i64,
    pub version: i64,
    pub event_type: klikit_webhook::EventType,
    pub brand_id: i64,
    pub branch_id: i64,
}

/// Where changes of one (brand, branch, event type) go: (mapping id, partner id) per
/// partner, an exact branch mapping winning over a brand-wide one. A disabled partner's
/// changes are queued too: disabling pauses delivery (batching and claiming skip it),
/// so enabling delivers what came meanwhile, in order.
type Targets = Vec<(String, String)>;

/// Route lookups of one transaction, so a batch of many orders of the same branch asks
/// the mappings table once.
pub(super) type RouteCache = HashMap<(i64, i64, EventType), Targets>;

fn targets(
    tx: &Transaction<'_>,
    brand_id: i64,
    branch_id: i64,
    event_type: EventType,
) -> StoreResult<Targets> {
    let mut stmt = tx.prepare_cached(
        "SELECT m.id, m.partner_id FROM mappings m
         WHERE m.brand_id = ?1 AND m.event_type = ?2
           AND (m.branch_id = ?3 OR m.branch_id IS NULL)
         ORDER BY m.partner_id, m.branch_id IS NULL",
    )?;
    let rows = stmt
        .query_map(params![brand_id, event_type.as_str(), branch_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Rows are ordered exact-first within a partner: keep only each partner's first.
    let mut targets: Targets = Vec::with_capacity(rows.len());
    for (mapping_id, partner_id) in rows {
        if targets.last().is_none_or(|(_, last)| *last != partner_id) {
            targets.push((mapping_id, partner_id));
        }
    }
    Ok(targets)
}

/// Queues a change for every partner mapped to its (brand, branch, event type),
/// enabled or not. Returns how many partners it was routed to.
pub(super) fn route_change(
    tx: &Transaction<'_>,
    change: &OrderChange,
    cache: &mut RouteCache,
    now: Millis,
) -> StoreResult<u64> {
    let key = (change.brand_id, change.branch_id, change.event_type);
    let targets = match cache.entry(key) {
        Entry::Occupied(found) => found.into_mut(),
        Entry::Vacant(slot) => slot.insert(targets(
            tx,
            change.brand_id,
            change.branch_id,
            change.event_type,
        )?),
    };
    for (mapping_id, partner_id) in targets.iter() {
        enqueue(tx, change, mapping_id, partner_id, now)?;
    }
    Ok(targets.len() as u64)
}

/// Adds one routed change to the partner's sequence for this order: `ready` when
/// nothing earlier of the order is unfinished for this partner, `waiting` otherwise.
fn enqueue(
    tx: &Transaction<'_>,
    change: &OrderChange,
    mapping_id: &str,
    partner_id: &str,
    now: Millis,
) -> StoreResult<()> {
    // Marking the unfinished changes of this (partner, order) as having a successor
    // also tells whether there are any: then this one waits.
    let busy = tx
        .prepare_cached(
            "UPDATE queue SET has_successor = 1
             WHERE partner_id = ?1 AND order_id = ?2 AND state IN ('waiting', 'ready', 'batched')",
        )?
        .execute(params![partner_id, change.order_id])?
        > 0;
    tx.prepare_cached(
        "INSERT INTO queue (partner_id, mapping_id, order_id, order_version, state, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        partner_id,
        mapping_id,
        change.order_id,
        change.version,
        if busy { "waiting" } else { "ready" },
        now
    ])?;
    Ok(())
}

/// The columns [`stored_order`] reads, in its order.
/// `c` is the order's latest change, joined by [`LATEST_CHANGE`].
pub(super) const STORED_ORDER_COLUMNS: &str = "o.id, o.brand_id, o.branch_id, o.version, c.record";

/// Joins an order `o` to its latest change `c`, which holds its latest record.
pub(super) const LATEST_CHANGE: &str =
    "JOIN order_changes c ON c.order_id = o.id AND c.version = o.version";

pub(super) fn stored_order(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredOrder> {
    Ok(StoredOrder {
        order_id: row.get(0)?,
        brand_id: row.get(1)?,
        branch_id: row.get(2)?,
        version: row.get(3)?,
        record: unpacked_column(row, 4)?,
    })
}

pub(super) fn get_order(conn: &Connection, order_id: i64) -> StoreResult<Option<StoredOrder>> {
    let order = conn
        .prepare_cached(&format!(
            "SELECT {STORED_ORDER_COLUMNS} FROM orders o {LATEST_CHANGE} WHERE o.id = ?1"
        ))?
        .query_row([order_id], stored_order)
        .optional()?;
    Ok(order)
}

/// A column written by [`packed::pack`], unpacked.
pub(super) fn unpacked_column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Vec<u8>> {
    packed::unpack(row.get(index)?).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, err.into())
    })
}

fn timestamp_millis(timestamp: &klikit_webhook::Timestamp) -> Millis {
    timestamp.instant().timestamp_millis()
}
