//! The dispatcher's side of the store on PostgreSQL: batching ready changes into
//! deliveries, leasing due deliveries, recording outcomes, and keeping each (partner,
//! order) sequence moving — with several processes doing all of it at once.
//!
//! The per-order invariant is the SQLite backend's (at most one `ready` or `batched`
//! row per (partner, order), enforced here by a unique partial index). Forming and
//! claiming lock their candidate rows `FOR UPDATE SKIP LOCKED`: a row another process
//! is batching or leasing is skipped, and a row it has just committed is re-checked
//! against the query's conditions before it is taken.

use super::failure::PgResult;
use super::partners::{event_type, signature_scheme};
use crate::ids::IdKind;
use crate::store::*;
use klikit_webhook::EventType;
use sqlx::{PgConnection, Row};
use std::collections::HashMap;

/// How many ready changes one batching transaction takes at most.
pub(super) const FORM_SLICE: usize = 5_000;

struct ReadyChange {
    queue_id: i64,
    mapping_id: String,
    partner_id: String,
    order_id: i64,
    event_type: EventType,
    brand_id: i64,
    branch_id: i64,
    /// The record's size: batches are cut by bytes; the bytes themselves are read
    /// when the delivery is sent.
    record_len: usize,
    queued_at: Millis,
}

/// One tick of batching over at most [`FORM_SLICE`] ready changes that no other
/// process is batching. Returns (deliveries formed, changes read).
pub(super) async fn form_deliveries(
    conn: &mut PgConnection,
    limits: BatchLimits,
    now: Millis,
) -> PgResult<(usize, usize)> {
    let rows = sqlx::query(
        "SELECT q.id, q.mapping_id, p.id, q.order_id, c.event_type, c.brand_id,
                c.branch_id, substr(c.record, 1, 5), octet_length(c.record), q.queued_at
         FROM queue q
         JOIN order_changes c ON c.order_id = q.order_id AND c.version = q.order_version
         JOIN partners p ON p.num = q.partner_num
         WHERE q.state = 'ready' AND p.enabled
         ORDER BY q.id
         LIMIT $1
         FOR UPDATE OF q SKIP LOCKED",
    )
    .bind(FORM_SLICE as i64)
    .fetch_all(&mut *conn)
    .await?;
    let read = rows.len();
    // A mapping fixes partner, URL, event type and brand; with the branch it is the
    // batching key. Groups keep the order in which their first change was queued.
    let mut groups: Vec<Vec<ReadyChange>> = Vec::new();
    let mut index: HashMap<(String, i64), usize> = HashMap::new();
    for row in rows {
        let change = ReadyChange {
            queue_id: row.try_get(0)?,
            mapping_id: row.try_get(1)?,
            partner_id: row.try_get(2)?,
            order_id: row.try_get(3)?,
            event_type: event_type(row.try_get(4)?)?,
            brand_id: row.try_get(5)?,
            branch_id: row.try_get(6)?,
            record_len: packed::unpacked_length(
                &row.try_get::<Vec<u8>, _>(7)?,
                row.try_get::<i32, _>(8)? as usize,
            ),
            queued_at: row.try_get(9)?,
        };
        let key = (change.mapping_id.clone(), change.branch_id);
        let slot = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(change);
    }
    let batches: Vec<Vec<ReadyChange>> = groups
        .into_iter()
        .flat_map(|group| split_batches(group, limits))
        .collect();
    insert_deliveries(conn, &batches, now).await?;
    Ok((batches.len(), read))
}

fn split_batches(group: Vec<ReadyChange>, limits: BatchLimits) -> Vec<Vec<ReadyChange>> {
    let mut batches = Vec::new();
    let mut current: Vec<ReadyChange> = Vec::new();
    let mut bytes = delivery_body::ENVELOPE_OVERHEAD;
    for change in group {
        let size = change.record_len + 1;
        let full = current.len() >= limits.max_orders || bytes + size > limits.max_bytes;
        if full && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            bytes = delivery_body::ENVELOPE_OVERHEAD;
        }
        bytes += size;
        current.push(change);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Inserts every delivery formed in this transaction and marks its changes
/// `batched`: two statements, whatever the number of deliveries.
async fn insert_deliveries(
    conn: &mut PgConnection,
    batches: &[Vec<ReadyChange>],
    now: Millis,
) -> PgResult<()> {
    let batches: Vec<&[ReadyChange]> = batches.iter().map(Vec::as_slice).collect();
    let firsts: Vec<&ReadyChange> = batches.iter().filter_map(|b| b.first()).collect();
    if firsts.len() != batches.len() || batches.is_empty() {
        return Ok(());
    }
    let event_ids: Vec<String> = batches.iter().map(|_| IdKind::Event.generate()).collect();
    let order_ids: Vec<String> = batches
        .iter()
        .map(|batch| {
            let ids: Vec<i64> = batch.iter().map(|c| c.order_id).collect();
            serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
        })
        .collect();
    let counts: Vec<i64> = batches.iter().map(|batch| batch.len() as i64).collect();
    let first_ingested: Vec<Millis> = batches
        .iter()
        .map(|batch| batch.iter().map(|c| c.queued_at).min().unwrap_or(now))
        .collect();
    sqlx::query(
        "INSERT INTO deliveries (id, partner_id, mapping_id, event_type, brand_id, branch_id,
                                 order_ids, order_count, body, state, next_attempt_at,
                                 first_ingested_at, created_at)
         SELECT t.id, t.partner_id, t.mapping_id, t.event_type, t.brand_id, t.branch_id,
                t.order_ids, t.order_count, '', 'pending', $9, t.first_ingested_at, $9
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::text[], $8::bigint[], $10::bigint[])
              AS t(id, partner_id, mapping_id, event_type, brand_id, branch_id, order_ids,
                   order_count, first_ingested_at)",
    )
    .bind(&event_ids)
    .bind(
        firsts
            .iter()
            .map(|c| c.partner_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        firsts
            .iter()
            .map(|c| c.mapping_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        firsts
            .iter()
            .map(|c| c.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(firsts.iter().map(|c| c.brand_id).collect::<Vec<_>>())
    .bind(firsts.iter().map(|c| c.branch_id).collect::<Vec<_>>())
    .bind(&order_ids)
    .bind(&counts)
    .bind(now)
    .bind(&first_ingested)
    .execute(&mut *conn)
    .await?;
    let mut queue_ids: Vec<i64> = Vec::new();
    let mut delivery_ids: Vec<&str> = Vec::new();
    for (batch, event_id) in batches.iter().zip(&event_ids) {
        for change in batch.iter() {
            queue_ids.push(change.queue_id);
            delivery_ids.push(event_id.as_str());
        }
    }
    sqlx::query(
        "UPDATE queue q SET state = 'batched', delivery_id = t.delivery_id
         FROM unnest($1::bigint[], $2::text[]) AS t(id, delivery_id)
         WHERE q.id = t.id",
    )
    .bind(&queue_ids)
    .bind(&delivery_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many due deliveries one claim looks at for each one it may take: enough that a
/// busy URL at the head of the queue does not hide the others behind it.
const CLAIM_WINDOW_FACTOR: usize = 8;

/// Leases up to `claim.limit` due deliveries of enabled partners that `claim.accept`
/// takes, as the SQLite backend does. Candidates are locked `FOR UPDATE SKIP LOCKED`,
/// so a delivery another process is leasing right now is not even looked at, and one
/// it has just leased fails the lease condition when re-checked. The taken ones are
/// leased in one statement.
pub(super) async fn claim_due(
    conn: &mut PgConnection,
    claim: &mut ClaimRequest,
) -> PgResult<Vec<ClaimedDelivery>> {
    // Endpoint health (`endpoints.rs`): open circuits pass only their due probe,
    // disabled endpoints nothing.
    let candidates: Vec<(String, String, String, bool)> = sqlx::query_as(&format!(
        "SELECT d.id, m.url, d.partner_id, coalesce(e.state = 'open' AND NOT d.test, false)
         FROM deliveries d
         JOIN mappings m ON m.id = d.mapping_id
         JOIN partners p ON p.id = d.partner_id
         LEFT JOIN endpoints e ON e.partner_id = d.partner_id AND e.url = m.url
         WHERE d.state = 'pending' AND NOT d.held AND d.next_attempt_at <= $1
           AND (d.lease_until IS NULL OR d.lease_until <= $1)
           AND p.enabled AND {claimable}
           AND m.url <> ALL($2)
           AND m.host <> ALL($3)
           AND ($4::text[] IS NULL OR m.host = ANY($4))
         ORDER BY d.next_attempt_at
         LIMIT $5
         FOR UPDATE OF d SKIP LOCKED",
        claimable = super::endpoints::CLAIMABLE
    ))
    .bind(claim.now)
    .bind(&claim.saturated_urls)
    .bind(&claim.saturated_hosts)
    .bind(claim.only_hosts.as_deref())
    .bind((claim.limit * CLAIM_WINDOW_FACTOR).min(4096) as i64)
    .fetch_all(&mut *conn)
    .await?;
    let mut taken: Vec<(String, String, String, bool)> = Vec::new();
    for (event_id, url, partner_id, probe) in candidates {
        if taken.len() == claim.limit {
            break;
        }
        if !(claim.accept)(&url) {
            continue;
        }
        if probe && !super::endpoints::take_probe(&mut *conn, &partner_id, &url, claim.now).await? {
            continue;
        }
        let lease_token = format!("lse_{}", uuid::Uuid::now_v7().simple());
        taken.push((event_id, lease_token, url, probe));
    }
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until = claim.now + claim.lease.as_millis() as i64;
    let ids: Vec<&str> = taken.iter().map(|(id, ..)| id.as_str()).collect();
    let tokens: Vec<&str> = taken.iter().map(|(_, token, ..)| token.as_str()).collect();
    // The previous secret is read only while its grace window is open at the claim;
    // the attempt compares the switch time with its own clock.
    let rows = sqlx::query(
        "UPDATE deliveries d
         SET lease_token = t.token, lease_until = $3, attempts = d.attempts + 1
         FROM unnest($1::text[], $2::text[]) AS t(id, token), partners p
         WHERE d.id = t.id AND p.id = d.partner_id
         RETURNING d.id, d.partner_id, d.event_type, d.body, d.attempts, d.retry_index,
                   d.first_ingested_at, d.order_count, p.webhook_secret_enc,
                   CASE WHEN p.webhook_secret_switch_at > $4 THEN p.webhook_secret_prev_enc END,
                   p.webhook_secret_switch_at, p.signature_scheme, d.test, d.brand_id,
                   d.branch_id",
    )
    .bind(&ids)
    .bind(&tokens)
    .bind(lease_until)
    .bind(claim.now)
    .fetch_all(&mut *conn)
    .await?;
    let mut leased: HashMap<String, ClaimedDelivery> = HashMap::with_capacity(rows.len());
    let mut envelopes: Vec<(String, i64, i64)> = Vec::new();
    for row in rows {
        let event_id: String = row.try_get(0)?;
        let body: Vec<u8> = row.try_get(3)?;
        if body.is_empty() {
            envelopes.push((event_id.clone(), row.try_get(13)?, row.try_get(14)?));
        }
        leased.insert(
            event_id.clone(),
            ClaimedDelivery {
                event_id,
                lease_token: String::new(),
                partner_id: row.try_get(1)?,
                event_type: event_type(row.try_get(2)?)?,
                url: String::new(),
                body,
                webhook_secret_encrypted: row.try_get(8)?,
                previous_webhook_secret_encrypted: row.try_get(9)?,
                webhook_secret_switch_at: row.try_get(10)?,
                signature_scheme: signature_scheme(row.try_get(11)?)?,
                test: row.try_get(12)?,
                probe: false,
                attempt_number: u32::try_from(row.try_get::<i64, _>(4)?).unwrap_or(u32::MAX),
                retry_index: u32::try_from(row.try_get::<i64, _>(5)?).unwrap_or(u32::MAX),
                first_ingested_at: row.try_get(6)?,
                order_count: u32::try_from(row.try_get::<i64, _>(7)?).unwrap_or(u32::MAX),
            },
        );
    }
    for (event_id, body) in super::deliveries::formed_bodies(&mut *conn, &envelopes).await? {
        if let Some(delivery) = leased.get_mut(&event_id) {
            delivery.body = body;
        }
    }
    // In due order, as the candidates came.
    Ok(taken
        .into_iter()
        .filter_map(|(event_id, lease_token, url, probe)| {
            leased.remove(&event_id).map(|mut delivery| {
                delivery.lease_token = lease_token;
                delivery.url = url;
                delivery.probe = probe;
                delivery
            })
        })
        .collect())
}

/// Gives back leases that were never used, with their attempt numbers, where the
/// lease still holds.
pub(super) async fn release_leases(conn: &mut PgConnection, leases: &[HeldLease]) -> PgResult<()> {
    let ids: Vec<&str> = leases.iter().map(|l| l.event_id.as_str()).collect();
    let tokens: Vec<&str> = leases.iter().map(|l| l.lease_token.as_str()).collect();
    sqlx::query(
        "UPDATE deliveries d
         SET lease_token = NULL, lease_until = NULL, attempts = d.attempts - 1
         FROM unnest($1::text[], $2::text[]) AS t(id, token)
         WHERE d.id = t.id AND d.lease_token = t.token AND d.state = 'pending'",
    )
    .bind(&ids)
    .bind(&tokens)
    .execute(conn)
    .await?;
    Ok(())
}

mod outcomes;
pub(super) use outcomes::{delete_mapping, record_outcomes};
