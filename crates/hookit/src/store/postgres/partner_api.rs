//! What the partner API reads and writes: orders within a partner's mappings, and a
//! partner's status changes with their idempotency keys.

use super::failure::PgResult;
use super::ingest::{
    LATEST_CHANGE, OrderChange, STORED_ORDER_COLUMNS, insert_change, lock_idempotency_key,
    lock_orders, lookup_answer, remember_answer, route_change, stored_order, unpacked,
};
use crate::store::*;
use sqlx::{PgConnection, Row};

/// An order is in a partner's scope when one of its mappings covers the order's brand
/// and branch (a brand-wide mapping covers every branch).
const IN_SCOPE: &str = "EXISTS (SELECT 1 FROM mappings m WHERE m.partner_id = $1
     AND m.brand_id = o.brand_id AND (m.branch_id IS NULL OR m.branch_id = o.branch_id))";

/// The time the order list filters and sorts on, as the `orders_listed` indexes have it.
const LISTED_AT: &str = "coalesce(o.placed_at, o.first_ingested_at)";

pub(super) async fn get_order(
    conn: &mut PgConnection,
    partner_id: &str,
    order_id: i64,
) -> PgResult<Option<StoredOrder>> {
    sqlx::query(&format!(
        "SELECT {STORED_ORDER_COLUMNS} FROM orders o {LATEST_CHANGE}
         WHERE o.id = $2 AND {IN_SCOPE}"
    ))
    .bind(partner_id)
    .bind(order_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(stored_order)
    .transpose()
}

pub(super) async fn list_orders(
    conn: &mut PgConnection,
    query: &PartnerOrderQuery,
) -> PgResult<OrderPage> {
    let clause = format!(
        "{IN_SCOPE} AND {LISTED_AT} >= $2 AND {LISTED_AT} < $3
         AND ($4::bigint IS NULL OR o.status = $4)
         AND ($5::bigint IS NULL OR o.branch_id = $5)"
    );
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM orders o WHERE {clause}"))
        .bind(&query.partner_id)
        .bind(query.placed_from)
        .bind(query.placed_to)
        .bind(query.status)
        .bind(query.branch_id)
        .fetch_one(&mut *conn)
        .await?;
    let offset = i64::from(query.page.saturating_sub(1)) * i64::from(query.size);
    let records: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
        "SELECT c.record FROM orders o {LATEST_CHANGE} WHERE {clause}
         ORDER BY {LISTED_AT} DESC, o.id DESC LIMIT $6 OFFSET $7"
    ))
    .bind(&query.partner_id)
    .bind(query.placed_from)
    .bind(query.placed_to)
    .bind(query.status)
    .bind(query.branch_id)
    .bind(i64::from(query.size))
    .bind(offset)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(unpacked)
    .collect::<PgResult<_>>()?;
    Ok(OrderPage {
        records,
        total: total as u64,
    })
}

/// Commits a partner's change under the order's lock (the one ingest takes), so its
/// version cannot interleave with a concurrent push; fails with `Conflict` when the
/// order moved on since the change was computed or the key was used meanwhile.
pub(super) async fn commit_change(
    conn: &mut PgConnection,
    change: &PartnerOrderChange,
) -> PgResult<()> {
    lock_idempotency_key(
        &mut *conn,
        &change.idempotency_scope,
        &change.idempotency_key,
    )
    .await?;
    if lookup_answer(
        &mut *conn,
        &change.idempotency_scope,
        &change.idempotency_key,
    )
    .await?
    .is_some()
    {
        return Err(StoreError::Conflict(
            "the same Idempotency-Key was used by a concurrent request; retry to get its answer"
                .into(),
        )
        .into());
    }
    let order = &change.order;
    let (Some(brand_id), Some(branch_id), Some(status)) =
        (order.brand_id(), order.branch_id, order.status)
    else {
        return Err(StoreError::Conflict(format!(
            "order {} lacks its brand, branch or status",
            order.id
        ))
        .into());
    };
    lock_orders(&mut *conn, &[order.id]).await?;
    let version = change.expected_version + 1;
    let record = order.to_json_bytes();
    // The platform's times stay as they are: a partner's change never decides what
    // counts as stale.
    let changed = sqlx::query(
        "UPDATE orders SET status = $1, version = $2, changed_at = $5
         WHERE id = $3 AND version = $4",
    )
    .bind(status.code())
    .bind(version)
    .bind(order.id)
    .bind(change.expected_version)
    .bind(change.now)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "order {} changed while this request was being handled; retry",
            order.id
        ))
        .into());
    }
    let order_change = OrderChange {
        order_id: order.id,
        version,
        event_type: change.event_type,
        brand_id,
        branch_id,
    };
    insert_change(&mut *conn, &order_change, &record, change.now).await?;
    route_change(
        &mut *conn,
        &order_change,
        &mut Default::default(),
        change.now,
    )
    .await?;
    remember_answer(
        conn,
        &change.idempotency_scope,
        &change.idempotency_key,
        &change.answer,
        change.now,
    )
    .await
}

pub(super) async fn delivery_stats(conn: &mut PgConnection) -> PgResult<Vec<PartnerDeliveryStats>> {
    sqlx::query(
        "SELECT p.id,
            (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.state = 'pending'
                AND NOT d.test),
            (SELECT count(*) FROM queue q WHERE q.partner_num = p.num
                AND q.state IN ('waiting', 'ready')),
            (SELECT min(d.first_ingested_at) FROM deliveries d
                WHERE d.partner_id = p.id AND d.state = 'pending' AND NOT d.test),
            (SELECT min(q.queued_at) FROM queue q WHERE q.partner_num = p.num
                AND q.state IN ('waiting', 'ready')),
            (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.state = 'dead'
                AND NOT d.test)
         FROM partners p ORDER BY p.id",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        let oldest_delivery: Option<Millis> = row.try_get(3)?;
        let oldest_queued: Option<Millis> = row.try_get(4)?;
        Ok(PartnerDeliveryStats {
            partner_id: row.try_get(0)?,
            pending: row.try_get::<i64, _>(1)? as u64,
            queued: row.try_get::<i64, _>(2)? as u64,
            oldest_pending_at: [oldest_delivery, oldest_queued].into_iter().flatten().min(),
            dead: row.try_get::<i64, _>(5)? as u64,
        })
    })
    .collect()
}
