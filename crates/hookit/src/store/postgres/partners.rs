//! Partners and their URL mappings.

use super::failure::PgResult;
use crate::store::*;
use klikit_webhook::EventType;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

const PARTNER_COLUMNS: &str = "id, name, partner_key, enabled, signature_scheme, \
     webhook_secret_switch_at, created_at, updated_at";
pub(super) const MAPPING_COLUMNS: &str =
    "id, partner_id, brand_id, branch_id, event_type, url, created_at, updated_at";

fn partner_from_row(row: &PgRow) -> PgResult<Partner> {
    Ok(Partner {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        partner_key: row.try_get(2)?,
        enabled: row.try_get(3)?,
        signature_scheme: signature_scheme(row.try_get(4)?)?,
        webhook_secret_switch_at: row.try_get(5)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

/// Parses a stored signature scheme; a name this version does not know is corruption.
pub(super) fn signature_scheme(name: &str) -> PgResult<SignatureScheme> {
    name.parse().map_err(|err: String| {
        StoreError::Backend(format!(
            "the database holds an unknown signature scheme: signature_scheme {err}"
        ))
        .into()
    })
}

/// Parses a stored event type.
pub(super) fn event_type(text: &str) -> PgResult<EventType> {
    text.parse().map_err(|_| {
        StoreError::Backend(format!("the database holds an unknown event type {text:?}")).into()
    })
}

pub(super) fn mapping_from_row(row: &PgRow) -> PgResult<Mapping> {
    Ok(Mapping {
        id: row.try_get(0)?,
        partner_id: row.try_get(1)?,
        brand_id: row.try_get(2)?,
        branch_id: row.try_get(3)?,
        event_type: event_type(row.try_get(4)?)?,
        url: row.try_get(5)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

fn partner_not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: format!("partner {id}"),
    }
}

pub(super) async fn create(conn: &mut PgConnection, partner: &NewPartner) -> PgResult<Partner> {
    let inserted = sqlx::query(
        "INSERT INTO partners (id, name, partner_key, secret_hash, webhook_secret_enc, enabled,
                               signature_scheme, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(&partner.id)
    .bind(&partner.name)
    .bind(&partner.partner_key)
    .bind(&partner.secret_hash)
    .bind(&partner.webhook_secret_encrypted)
    .bind(partner.signature_scheme.as_str())
    .bind(partner.now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "a partner with id {} or partner key {} exists already; create it again for new keys",
            partner.id, partner.partner_key
        ))
        .into());
    }
    get(conn, &partner.id).await
}

pub(super) async fn list(conn: &mut PgConnection) -> PgResult<Vec<Partner>> {
    sqlx::query(&format!(
        "SELECT {PARTNER_COLUMNS} FROM partners ORDER BY id"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(partner_from_row)
    .collect()
}

pub(super) async fn get(conn: &mut PgConnection, id: &str) -> PgResult<Partner> {
    let row = sqlx::query(&format!(
        "SELECT {PARTNER_COLUMNS} FROM partners WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| partner_not_found(id))?;
    partner_from_row(&row)
}

pub(super) async fn find_by_key(
    conn: &mut PgConnection,
    partner_key: &str,
) -> PgResult<Option<PartnerAuth>> {
    let row = sqlx::query(&format!(
        "SELECT {PARTNER_COLUMNS}, secret_hash FROM partners WHERE partner_key = $1"
    ))
    .bind(partner_key)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(PartnerAuth {
            partner: partner_from_row(&row)?,
            secret_hash: row.try_get(8)?,
        })
    })
    .transpose()
}

pub(super) async fn set_secret_hash(
    conn: &mut PgConnection,
    id: &str,
    hash: &str,
    now: Millis,
) -> PgResult<()> {
    let changed =
        sqlx::query("UPDATE partners SET secret_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    found(changed.rows_affected(), id)
}

/// Stores a new webhook secret, as the SQLite backend does. With a grace window, the
/// secret that signs now moves to `webhook_secret_prev_enc`: if an earlier window is
/// still open, that is its new secret (the window ends now; the older one is
/// forgotten); otherwise the window has passed or never was, and the current secret is
/// the one signing anyway. One statement: concurrent rotations are applied one after
/// the other on the row's lock, each moving the secret the other left.
pub(super) async fn set_webhook_secret(
    conn: &mut PgConnection,
    id: &str,
    rotation: &WebhookSecretRotation,
    now: Millis,
) -> PgResult<Partner> {
    let changed = match rotation.switch_at {
        Some(switch_at) => {
            sqlx::query(
                "UPDATE partners SET webhook_secret_prev_enc = webhook_secret_enc,
                        webhook_secret_enc = $1, webhook_secret_switch_at = $2, updated_at = $3
                 WHERE id = $4",
            )
            .bind(&rotation.encrypted)
            .bind(switch_at)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "UPDATE partners SET webhook_secret_prev_enc = NULL, webhook_secret_enc = $1,
                        webhook_secret_switch_at = NULL, updated_at = $2
                 WHERE id = $3",
            )
            .bind(&rotation.encrypted)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
        }
    };
    found(changed.rows_affected(), id)?;
    get(conn, id).await
}

/// Changes what `update` names; a partner that does not exist is NotFound.
pub(super) async fn update(
    conn: &mut PgConnection,
    id: &str,
    update: &PartnerUpdate,
    now: Millis,
) -> PgResult<Partner> {
    get(&mut *conn, id).await?;
    if let Some(scheme) = update.signature_scheme {
        let changed =
            sqlx::query("UPDATE partners SET signature_scheme = $1, updated_at = $2 WHERE id = $3")
                .bind(scheme.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        found(changed.rows_affected(), id)?;
    }
    get(conn, id).await
}

pub(super) async fn set_enabled(
    conn: &mut PgConnection,
    id: &str,
    enabled: bool,
    now: Millis,
) -> PgResult<Partner> {
    let changed = sqlx::query("UPDATE partners SET enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(enabled)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    found(changed.rows_affected(), id)?;
    get(conn, id).await
}

fn found(rows: u64, id: &str) -> PgResult<()> {
    if rows == 0 {
        return Err(partner_not_found(id).into());
    }
    Ok(())
}

/// Creates the tuple's mapping or changes its URL, in one statement: concurrent
/// upserts of one tuple meet on its unique index and leave one mapping.
pub(super) async fn upsert_mapping(
    conn: &mut PgConnection,
    mapping: &NewMapping,
    now: Millis,
) -> PgResult<Mapping> {
    get(conn, &mapping.partner_id).await?;
    // Pending deliveries read the URL from their mapping at each attempt, so changing
    // it here redirects the next attempt; the host goes with it.
    let row = sqlx::query(&format!(
        "INSERT INTO mappings (id, partner_id, brand_id, branch_id, event_type, url, host,
                               created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (partner_id, brand_id, coalesce(branch_id, -1), event_type) DO UPDATE
            SET url = excluded.url, host = excluded.host, updated_at = excluded.updated_at
         RETURNING {MAPPING_COLUMNS}"
    ))
    .bind(&mapping.id)
    .bind(&mapping.partner_id)
    .bind(mapping.brand_id)
    .bind(mapping.branch_id)
    .bind(mapping.event_type.as_str())
    .bind(&mapping.url)
    .bind(host_of(&mapping.url))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let stored = mapping_from_row(&row)?;
    // What was held for an old URL is due again (and held again by the next claim if
    // the new URL is disabled too).
    super::endpoints::release_mapping(conn, &stored.id).await?;
    Ok(stored)
}

pub(super) async fn list_mappings(
    conn: &mut PgConnection,
    partner_id: Option<&str>,
) -> PgResult<Vec<Mapping>> {
    sqlx::query(&format!(
        "SELECT {MAPPING_COLUMNS} FROM mappings
         WHERE $1::text IS NULL OR partner_id = $1
         ORDER BY partner_id, brand_id, coalesce(branch_id, -1), event_type"
    ))
    .bind(partner_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(mapping_from_row)
    .collect()
}
