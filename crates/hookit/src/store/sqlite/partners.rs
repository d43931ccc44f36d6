//! Partners and their URL mappings.

use crate::store::*;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

const PARTNER_COLUMNS: &str = "id, name, partner_key, enabled, signature_scheme, \
     webhook_secret_switch_at, created_at, updated_at";
const MAPPING_COLUMNS: &str =
    "id, partner_id, brand_id, branch_id, event_type, url, created_at, updated_at";

fn partner_from_row(row: &Row<'_>) -> rusqlite::Result<Partner> {
    Ok(Partner {
        id: row.get(0)?,
        name: row.get(1)?,
        partner_key: row.get(2)?,
        enabled: row.get(3)?,
        signature_scheme: signature_scheme_column(row, 4)?,
        webhook_secret_switch_at: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// Reads a stored signature scheme; a name this version does not know is corruption.
pub(super) fn signature_scheme_column(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<SignatureScheme> {
    let name: String = row.get(index)?;
    name.parse().map_err(|err: String| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("signature_scheme {err}").into(),
        )
    })
}

pub(super) fn mapping_from_row(row: &Row<'_>) -> rusqlite::Result<Mapping> {
    Ok(Mapping {
        id: row.get(0)?,
        partner_id: row.get(1)?,
        brand_id: row.get(2)?,
        branch_id: row.get(3)?,
        event_type: super::dispatch::event_type_column(row, 4)?,
        url: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn partner_not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: format!("partner {id}"),
    }
}

pub(super) fn create(tx: &Transaction<'_>, partner: &NewPartner) -> StoreResult<Partner> {
    tx.execute(
        "INSERT INTO partners (id, name, partner_key, secret_hash, webhook_secret_enc, enabled,
                               signature_scheme, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?7)",
        params![
            partner.id,
            partner.name,
            partner.partner_key,
            partner.secret_hash,
            partner.webhook_secret_encrypted,
            partner.signature_scheme.as_str(),
            partner.now
        ],
    )?;
    get(tx, &partner.id)
}

pub(super) fn list(conn: &Connection) -> StoreResult<Vec<Partner>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PARTNER_COLUMNS} FROM partners ORDER BY id"
    ))?;
    let partners = stmt
        .query_map([], partner_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(partners)
}

pub(super) fn get(conn: &Connection, id: &str) -> StoreResult<Partner> {
    conn.prepare_cached(&format!(
        "SELECT {PARTNER_COLUMNS} FROM partners WHERE id = ?1"
    ))?
    .query_row([id], partner_from_row)
    .optional()?
    .ok_or_else(|| partner_not_found(id))
}

pub(super) fn find_by_key(
    conn: &Connection,
    partner_key: &str,
) -> StoreResult<Option<PartnerAuth>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {PARTNER_COLUMNS}, secret_hash FROM partners WHERE partner_key = ?1"
        ))?
        .query_row([partner_key], |row| {
            Ok(PartnerAuth {
                partner: partner_from_row(row)?,
                secret_hash: row.get(8)?,
            })
        })
        .optional()?;
    Ok(found)
}

fn update_partner(
    tx: &Transaction<'_>,
    id: &str,
    sql: &str,
    value: &dyn rusqlite::ToSql,
    now: Millis,
) -> StoreResult<()> {
    let changed = tx.execute(sql, params![value, now, id])?;
    if changed == 0 {
        return Err(partner_not_found(id));
    }
    Ok(())
}

pub(super) fn set_secret_hash(
    tx: &Transaction<'_>,
    id: &str,
    hash: &str,
    now: Millis,
) -> StoreResult<()> {
    update_partner(
        tx,
        id,
        "UPDATE partners SET secret_hash = ?1, updated_at = ?2 WHERE id = ?3",
        &hash,
        now,
    )
}

/// Stores a new webhook secret. With a grace window, the secret that signs now moves
/// to `webhook_secret_prev_enc`: if an earlier window is still open, that is its new
/// secret (the window ends now; the older one is forgotten); otherwise the window has
/// passed or never was, and the current secret is the one signing anyway.
pub(super) fn set_webhook_secret(
    tx: &Transaction<'_>,
    id: &str,
    rotation: &WebhookSecretRotation,
    now: Millis,
) -> StoreResult<Partner> {
    let changed = match rotation.switch_at {
        Some(switch_at) => tx.execute(
            "UPDATE partners SET webhook_secret_prev_enc = webhook_secret_enc,
                    webhook_secret_enc = ?1, webhook_secret_switch_at = ?2, updated_at = ?3
             WHERE id = ?4",
            params![rotation.encrypted, switch_at, now, id],
        )?,
        None => tx.execute(
            "UPDATE partners SET webhook_secret_prev_enc = NULL, webhook_secret_enc = ?1,
                    webhook_secret_switch_at = NULL, updated_at = ?2
             WHERE id = ?3",
            params![rotation.encrypted, now, id],
        )?,
    };
    if changed == 0 {
        return Err(partner_not_found(id));
    }
    get(tx, id)
}

pub(super) fn update(
    tx: &Transaction<'_>,
    id: &str,
    update: &PartnerUpdate,
    now: Millis,
) -> StoreResult<Partner> {
    get(tx, id)?;
    if let Some(scheme) = update.signature_scheme {
        update_partner(
            tx,
            id,
            "UPDATE partners SET signature_scheme = ?1, updated_at = ?2 WHERE id = ?3",
            &scheme.as_str(),
            now,
        )?;
    }
    get(tx, id)
}

pub(super) fn set_enabled(
    tx: &Transaction<'_>,
    id: &str,
    enabled: bool,
    now: Millis,
) -> StoreResult<Partner> {
    update_partner(
        tx,
        id,
        "UPDATE partners SET enabled = ?1, updated_at = ?2 WHERE id = ?3",
        &enabled,
        now,
    )?;
    get(tx, id)
}

pub(super) fn upsert_mapping(
    tx: &Transaction<'_>,
    mapping: &NewMapping,
    now: Millis,
) -> StoreResult<Mapping> {
    get(tx, &mapping.partner_id)?;
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM mappings
             WHERE partner_id = ?1 AND brand_id = ?2 AND ifnull(branch_id, -1) = ifnull(?3, -1)
               AND event_type = ?4",
        )?
        .query_row(
            params![
                mapping.partner_id,
                mapping.brand_id,
                mapping.branch_id,
                mapping.event_type.as_str()
            ],
            |row| row.get(0),
        )
        .optional()?;
    let id = match existing {
        Some(id) => {
            // Pending deliveries read the URL from their mapping at each attempt, so
            // changing it here redirects the next attempt; the host goes with it.
            tx.execute(
                "UPDATE mappings SET url = ?1, host = ?2, updated_at = ?3 WHERE id = ?4",
                params![mapping.url, host_of(&mapping.url), now, id],
            )?;
            // What was held for the old URL is due again (and held again by the next
            // claim if the new URL is disabled too).
            super::endpoints::release_mapping(tx, &id)?;
            id
        }
        None => {
            tx.execute(
                "INSERT INTO mappings (id, partner_id, brand_id, branch_id, event_type, url,
                                       host, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    mapping.id,
                    mapping.partner_id,
                    mapping.brand_id,
                    mapping.branch_id,
                    mapping.event_type.as_str(),
                    mapping.url,
                    host_of(&mapping.url),
                    now
                ],
            )?;
            mapping.id.clone()
        }
    };
    let stored = tx
        .prepare_cached(&format!(
            "SELECT {MAPPING_COLUMNS} FROM mappings WHERE id = ?1"
        ))?
        .query_row([&id], mapping_from_row)?;
    Ok(stored)
}

pub(super) fn list_mappings(
    conn: &Connection,
    partner_id: Option<&str>,
) -> StoreResult<Vec<Mapping>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MAPPING_COLUMNS} FROM mappings
         WHERE ?1 IS NULL OR partner_id = ?1
         ORDER BY partner_id, brand_id, ifnull(branch_id, -1), event_type"
    ))?;
    let mappings = stmt
        .query_map([partner_id], mapping_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(mappings)
}
