//! The changes of one push, written in a fixed number of statements whatever the
//! push's size: the orders read in one, upserted with the changes inserted in
//! one, their routes looked up in one, the open sequences marked in one and the
//! queue rows inserted in one. Each statement carries
//! the whole push as arrays (`unnest`), so a push of 1,000 items costs the same round
//! trips as a push of one, where item by item it cost five or more per item.
//!
//! The caller holds the advisory locks of every order of the push (see
//! [`super::ingest::lock_orders`]), so what is read here is the latest committed state
//! and stays so until the commit. Several items of one order in one push are applied
//! in push order, each against the state the previous one left.

use super::failure::PgResult;
use super::ingest::OrderChange;
use crate::store::freshness::{self, PlatformTimes};
use crate::store::*;
use klikit_webhook::EventType;
use sqlx::{PgConnection, Row};
use std::collections::{HashMap, HashSet};

/// One order's row as the push leaves it.
struct OrderRow {
    id: i64,
    brand_id: i64,
    branch_id: i64,
    status: i64,
    placed_at: Option<Millis>,
    platform_updated_at: Option<Millis>,
    version: i64,
}

/// Writes every item of `request`; returns one result per item, in push order.
pub(super) async fn ingest_items(
    conn: &mut PgConnection,
    request: &IngestRequest,
) -> PgResult<Vec<IngestItemResult>> {
    let now = request.now;
    let mut ids: Vec<i64> = request.items.iter().map(|item| item.order.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut state: HashMap<i64, (i64, PlatformTimes)> = HashMap::with_capacity(ids.len());
    let rows = sqlx::query(
        // A pruned order's tombstone stands in for its row: the versions continue.
        "SELECT DISTINCT ON (id) id, version, platform_updated_at, platform_stored_at
         FROM (SELECT id, version, platform_updated_at, platform_stored_at FROM orders
               WHERE id = ANY($1)
               UNION ALL
               SELECT id, version, platform_updated_at, platform_stored_at
               FROM order_tombstones WHERE id = ANY($1)) AS known
         ORDER BY id, version DESC",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let times = PlatformTimes {
            updated_at: row.try_get(2)?,
            stored_at: row.try_get(3)?,
        };
        state.insert(row.try_get(0)?, (row.try_get(1)?, times));
    }

    let mut results = Vec::with_capacity(request.items.len());
    // The last row of each order, by position in `orders`.
    let mut orders: Vec<OrderRow> = Vec::new();
    let mut order_slot: HashMap<i64, usize> = HashMap::new();
    // Stored changes, with the index of their result.
    let mut changes: Vec<(OrderChange, Vec<u8>, usize)> = Vec::new();
    for item in &request.items {
        let mut order = item.order.clone();
        let order_id = order.id;
        let (brand_id, branch_id, status) = match (order.brand_id(), order.branch_id, order.status)
        {
            (Some(brand), Some(branch), Some(status)) => (brand, branch, status.code()),
            _ => {
                return Err(StoreError::Conflict(format!(
                    "order {order_id} lacks its brand, branch or status; the ingest API validates these"
                ))
                .into());
            }
        };
        let incoming_updated = order.updated_at.as_ref().map(timestamp_millis);
        let previous = state.get(&order_id).copied();
        if let Some((version, stored)) = previous {
            if freshness::is_stale(incoming_updated, stored, now, request.freshness_skew) {
                results.push(IngestItemResult {
                    order_id,
                    event: item.event_type.as_str().to_owned(),
                    result: "ignored_stale".into(),
                    version,
                    routed_to: 0,
                });
                continue;
            }
        }
        let version = previous.map_or(1, |(version, _)| version + 1);
        let platform_updated =
            freshness::kept_updated_at(incoming_updated, previous.map(|(_, stored)| stored));
        order.version = Some(version);
        let record = order.to_json_bytes();
        state.insert(
            order_id,
            (
                version,
                PlatformTimes {
                    updated_at: platform_updated,
                    stored_at: Some(now),
                },
            ),
        );
        let row = OrderRow {
            id: order_id,
            brand_id,
            branch_id,
            status,
            placed_at: order.placed_at.as_ref().map(timestamp_millis),
            platform_updated_at: platform_updated,
            version,
        };
        match order_slot.get(&order_id) {
            Some(&slot) => orders[slot] = row,
            None => {
                order_slot.insert(order_id, orders.len());
                orders.push(row);
            }
        }
        let change = OrderChange {
            order_id,
            version,
            event_type: item.event_type,
            brand_id,
            branch_id,
        };
        changes.push((change, record, results.len()));
        results.push(IngestItemResult {
            order_id,
            event: item.event_type.as_str().to_owned(),
            result: "stored".into(),
            version,
            routed_to: 0,
        });
    }
    if changes.is_empty() {
        return Ok(results);
    }
    write_orders_and_changes(&mut *conn, &orders, &changes, now).await?;
    let targets = route_targets(&mut *conn, &changes).await?;
    for ((_, _, result), targets) in changes.iter().zip(&targets) {
        results[*result].routed_to = targets.len() as u64;
    }
    enqueue_all(conn, &changes, &targets, now).await?;
    Ok(results)
}

/// Upserts the orders' rows and inserts the changes: one statement. The record goes
/// into the change only; the order's row points at it by its version.
async fn write_orders_and_changes(
    conn: &mut PgConnection,
    orders: &[OrderRow],
    changes: &[(OrderChange, Vec<u8>, usize)],
    now: Millis,
) -> PgResult<()> {
    let order_column = |f: fn(&OrderRow) -> i64| orders.iter().map(f).collect::<Vec<i64>>();
    let placed: Vec<Option<Millis>> = orders.iter().map(|o| o.placed_at).collect();
    let updated: Vec<Option<Millis>> = orders.iter().map(|o| o.platform_updated_at).collect();
    let column = |f: fn(&OrderChange) -> i64| changes.iter().map(|(c, _, _)| f(c)).collect();
    let order_ids: Vec<i64> = column(|c| c.order_id);
    let versions: Vec<i64> = column(|c| c.version);
    let brands: Vec<i64> = column(|c| c.brand_id);
    let branches: Vec<i64> = column(|c| c.branch_id);
    let events: Vec<&str> = changes
        .iter()
        .map(|(c, _, _)| c.event_type.as_str())
        .collect();
    let records: Vec<Vec<u8>> = changes.iter().map(|(_, r, _)| packed::pack(r)).collect();
    // `first_ingested_at` is written once, with the order's row.
    sqlx::query(
        "WITH upserted AS (
            INSERT INTO orders (id, brand_id, branch_id, status, placed_at, platform_updated_at,
                                platform_stored_at, first_ingested_at, version, changed_at)
            SELECT o.id, o.brand_id, o.branch_id, o.status, o.placed_at, o.updated_at, $7, $7,
                   o.version, $7
            FROM unnest($8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                        $12::bigint[], $13::bigint[], $14::bigint[])
                 AS o(id, brand_id, branch_id, status, placed_at, updated_at, version)
            ON CONFLICT (id) DO UPDATE SET
               brand_id = excluded.brand_id, branch_id = excluded.branch_id,
               status = excluded.status, placed_at = excluded.placed_at,
               platform_updated_at = excluded.platform_updated_at,
               platform_stored_at = excluded.platform_stored_at,
               version = excluded.version, changed_at = excluded.changed_at
         )
         INSERT INTO order_changes (order_id, version, event_type, brand_id, branch_id, record,
                                    ingested_at)
         SELECT t.order_id, t.version, t.event_type, t.brand_id, t.branch_id, t.record, $7
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::bytea[])
              AS t(order_id, version, event_type, brand_id, branch_id, record)",
    )
    .bind(&order_ids)
    .bind(&versions)
    .bind(&events)
    .bind(&brands)
    .bind(&branches)
    .bind(&records)
    .bind(now)
    .bind(order_column(|o| o.id))
    .bind(order_column(|o| o.brand_id))
    .bind(order_column(|o| o.branch_id))
    .bind(order_column(|o| o.status))
    .bind(&placed)
    .bind(&updated)
    .bind(order_column(|o| o.version))
    .execute(conn)
    .await?;
    Ok(())
}

/// (mapping id, partner id) of every partner each change goes to, an exact branch
/// mapping winning over a brand-wide one: one statement over the push's distinct
/// (brand, branch, event type) keys.
async fn route_targets(
    conn: &mut PgConnection,
    changes: &[(OrderChange, Vec<u8>, usize)],
) -> PgResult<Vec<Vec<(String, String)>>> {
    let mut keys: Vec<(i64, i64, EventType)> = Vec::new();
    let mut key_index: HashMap<(i64, i64, EventType), usize> = HashMap::new();
    let change_keys: Vec<usize> = changes
        .iter()
        .map(|(c, _, _)| {
            let key = (c.brand_id, c.branch_id, c.event_type);
            *key_index.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len() - 1
            })
        })
        .collect();
    let brands: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let branches: Vec<i64> = keys.iter().map(|k| k.1).collect();
    let events: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT k.n, m.id, m.partner_id
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY
              AS k(brand_id, branch_id, event_type, n)
         JOIN mappings m ON m.brand_id = k.brand_id AND m.event_type = k.event_type
                        AND (m.branch_id = k.branch_id OR m.branch_id IS NULL)
         ORDER BY k.n, m.partner_id, m.branch_id IS NULL",
    )
    .bind(&brands)
    .bind(&branches)
    .bind(&events)
    .fetch_all(&mut *conn)
    .await?;
    // Rows are ordered exact-first within a partner: keep only each partner's first.
    let mut per_key: Vec<Vec<(String, String)>> = vec![Vec::new(); keys.len()];
    for (n, mapping_id, partner_id) in rows {
        let Some(targets) = usize::try_from(n - 1).ok().and_then(|i| per_key.get_mut(i)) else {
            continue;
        };
        if targets.last().is_none_or(|(_, last)| *last != partner_id) {
            targets.push((mapping_id, partner_id));
        }
    }
    Ok(change_keys
        .into_iter()
        .map(|k| per_key[k].clone())
        .collect())
}

/// Adds every routed change to its partner's sequence for its order, as
/// [`super::ingest::route_change`] does one at a time: `ready` when nothing earlier of
/// the order is unfinished for the partner, `waiting` otherwise. Marking the open rows
/// (one statement for the push) locks them, so a delivery finishing at the same moment
/// either sees the mark and promotes the next change, or finished first.
async fn enqueue_all(
    conn: &mut PgConnection,
    changes: &[(OrderChange, Vec<u8>, usize)],
    targets: &[Vec<(String, String)>],
    now: Millis,
) -> PgResult<()> {
    let mut pairs: Vec<(&str, i64)> = Vec::new();
    let mut seen: HashSet<(&str, i64)> = HashSet::new();
    for ((change, _, _), targets) in changes.iter().zip(targets) {
        for (_, partner_id) in targets {
            if seen.insert((partner_id.as_str(), change.order_id)) {
                pairs.push((partner_id.as_str(), change.order_id));
            }
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let partners: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    let order_ids: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    let busy: Vec<(String, i64)> = sqlx::query_as(
        "UPDATE queue q SET has_successor = TRUE
         FROM unnest($1::text[], $2::bigint[]) AS t(partner_id, order_id)
              JOIN partners p ON p.id = t.partner_id
         WHERE q.partner_num = p.num AND q.order_id = t.order_id
           AND q.state IN ('waiting', 'ready', 'batched')
         RETURNING p.id, q.order_id",
    )
    .bind(&partners)
    .bind(&order_ids)
    .fetch_all(&mut *conn)
    .await?;
    let open: HashSet<(String, i64)> = busy.into_iter().collect();
    // Rows in push order; a later row of the same (partner, order) waits behind an
    // earlier one and marks it as having a successor.
    let mut row_partners: Vec<&str> = Vec::new();
    let mut mappings: Vec<&str> = Vec::new();
    let mut row_orders = Vec::new();
    let mut versions = Vec::new();
    let mut states: Vec<&str> = Vec::new();
    let mut successors: Vec<bool> = Vec::new();
    let mut last_row: HashMap<(&str, i64), usize> = HashMap::new();
    for ((change, _, _), targets) in changes.iter().zip(targets) {
        for (mapping_id, partner_id) in targets {
            let pair = (partner_id.as_str(), change.order_id);
            let waiting = open.contains(&(partner_id.clone(), change.order_id))
                || last_row.contains_key(&pair);
            if let Some(&earlier) = last_row.get(&pair) {
                successors[earlier] = true;
            }
            last_row.insert(pair, row_orders.len());
            row_partners.push(partner_id);
            mappings.push(mapping_id);
            row_orders.push(change.order_id);
            versions.push(change.version);
            states.push(if waiting { "waiting" } else { "ready" });
            successors.push(false);
        }
    }
    sqlx::query(
        "INSERT INTO queue (partner_num, mapping_id, order_id, order_version, state,
                            has_successor, queued_at)
         SELECT (SELECT p.num FROM partners p WHERE p.id = t.partner_id), t.mapping_id,
                t.order_id, t.order_version, t.state, t.has_successor, $7
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],
                     $6::bool[]) WITH ORDINALITY
              AS t(partner_id, mapping_id, order_id, order_version, state, has_successor, n)
         ORDER BY t.n",
    )
    .bind(&row_partners)
    .bind(&mappings)
    .bind(&row_orders)
    .bind(&versions)
    .bind(&states)
    .bind(&successors)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn timestamp_millis(timestamp: &klikit_webhook::Timestamp) -> Millis {
    timestamp.instant().timestamp_millis()
}
