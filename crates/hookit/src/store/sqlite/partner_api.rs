//! What the partner API reads and writes: orders within a partner's mappings, and a
//! partner's status changes with their idempotency keys.

use super::ingest::{
    LATEST_CHANGE, OrderChange, STORED_ORDER_COLUMNS, lookup_answer, remember_answer, route_change,
    stored_order, unpacked_column,
};
use crate::store::*;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

/// An order is in a partner's scope when one of its mappings covers the order's brand
/// and branch (a brand-wide mapping covers every branch).
const IN_SCOPE: &str = "EXISTS (SELECT 1 FROM mappings m WHERE m.partner_id = ?1
     AND m.brand_id = o.brand_id AND (m.branch_id IS NULL OR m.branch_id = o.branch_id))";

/// The time the order list filters and sorts on: `placed_at`, or for an order without
/// one, when hookit first stored it. The same expression as the `orders_listed`
/// indexes, so they serve it.
const LISTED_AT: &str = "coalesce(o.placed_at, o.first_ingested_at)";

pub(super) fn get_order(
    conn: &Connection,
    partner_id: &str,
    order_id: i64,
) -> StoreResult<Option<StoredOrder>> {
    let order = conn
        .prepare_cached(&format!(
            "SELECT {STORED_ORDER_COLUMNS} FROM orders o {LATEST_CHANGE}
             WHERE o.id = ?2 AND {IN_SCOPE}"
        ))?
        .query_row(params![partner_id, order_id], stored_order)
        .optional()?;
    Ok(order)
}

pub(super) fn list_orders(conn: &Connection, query: &PartnerOrderQuery) -> StoreResult<OrderPage> {
    let mut clause = format!("{IN_SCOPE} AND {LISTED_AT} >= ?2 AND {LISTED_AT} < ?3");
    let mut values: Vec<Box<dyn ToSql>> = vec![
        Box::new(query.partner_id.clone()),
        Box::new(query.placed_from),
        Box::new(query.placed_to),
    ];
    if let Some(status) = query.status {
        values.push(Box::new(status));
        clause.push_str(&format!(" AND o.status = ?{}", values.len()));
    }
    if let Some(branch) = query.branch_id {
        values.push(Box::new(branch));
        clause.push_str(&format!(" AND o.branch_id = ?{}", values.len()));
    }
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM orders o WHERE {clause}"),
        params_from_iter(values.iter()),
        |row| row.get(0),
    )?;
    let offset = i64::from(query.page.saturating_sub(1)) * i64::from(query.size);
    let records = conn
        .prepare(&format!(
            "SELECT c.record FROM orders o {LATEST_CHANGE} WHERE {clause}
             ORDER BY {LISTED_AT} DESC, o.id DESC LIMIT {} OFFSET {offset}",
            query.size
        ))?
        .query_map(params_from_iter(values.iter()), |row| {
            unpacked_column(row, 0)
        })?
        .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
    Ok(OrderPage {
        records,
        total: total as u64,
    })
}

pub(super) fn commit_change(tx: &Transaction<'_>, change: &PartnerOrderChange) -> StoreResult<()> {
    if lookup_answer(tx, &change.idempotency_scope, &change.idempotency_key)?.is_some() {
        return Err(StoreError::Conflict(
            "the same Idempotency-Key was used by a concurrent request; retry to get its answer"
                .into(),
        ));
    }
    let order = &change.order;
    let (Some(brand_id), Some(branch_id), Some(status)) =
        (order.brand_id(), order.branch_id, order.status)
    else {
        return Err(StoreError::Conflict(format!(
            "order {} lacks its brand, branch or status",
            order.id
        )));
    };
    let version = change.expected_version + 1;
    let record = order.to_json_bytes();
    // The platform's times stay as they are: a partner's change never decides what
    // counts as stale.
    let changed = tx
        .prepare_cached(
            "UPDATE orders SET status = ?1, version = ?2, changed_at = ?5
             WHERE id = ?3 AND version = ?4",
        )?
        .execute(params![
            status.code(),
            version,
            order.id,
            change.expected_version,
            change.now
        ])?;
    if changed == 0 {
        return Err(StoreError::Conflict(format!(
            "order {} changed while this request was being handled; retry",
            order.id
        )));
    }
    let order_change = OrderChange {
        order_id: order.id,
        version,
        event_type: change.event_type,
        brand_id,
        branch_id,
    };
    super::ingest::insert_change(tx, &order_change, &record, change.now)?;
    route_change(tx, &order_change, &mut Default::default(), change.now)?;
    remember_answer(
        tx,
        &change.idempotency_scope,
        &change.idempotency_key,
        &change.answer,
        change.now,
    )
}

pub(super) fn answer(
    conn: &Connection,
    scope: &str,
    key: &str,
) -> StoreResult<Option<StoredAnswer>> {
    lookup_answer(conn, scope, key)
}

pub(super) fn delivery_stats(conn: &Connection) -> StoreResult<Vec<PartnerDeliveryStats>> {
    let stats = conn
        .prepare_cached(
            "SELECT p.id,
                (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.state = 'pending'
                    AND d.test = 0),
                (SELECT count(*) FROM queue q WHERE q.partner_id = p.id
                    AND q.state IN ('waiting', 'ready')),
                (SELECT min(d.first_ingested_at) FROM deliveries d
                    WHERE d.partner_id = p.id AND d.state = 'pending' AND d.test = 0),
                (SELECT min(q.queued_at) FROM queue q WHERE q.partner_id = p.id
                    AND q.state IN ('waiting', 'ready')),
                (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.state = 'dead'
                    AND d.test = 0)
             FROM partners p ORDER BY p.id",
        )?
        .query_map([], |row| {
            let oldest_delivery: Option<Millis> = row.get(3)?;
            let oldest_queued: Option<Millis> = row.get(4)?;
            Ok(PartnerDeliveryStats {
                partner_id: row.get(0)?,
                pending: row.get(1)?,
                queued: row.get(2)?,
                oldest_pending_at: [oldest_delivery, oldest_queued].into_iter().flatten().min(),
                dead: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(stats)
}
