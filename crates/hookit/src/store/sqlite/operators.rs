//! Operator tokens and the audit log.

use crate::ids::IdKind;
use crate::store::*;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Writes one audit entry in the caller's transaction.
pub(super) fn record_audit(tx: &Transaction<'_>, entry: &AuditEntry) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (id, at, actor, action, target, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        IdKind::Audit.generate(),
        entry.at,
        entry.actor,
        entry.action,
        entry.target,
        entry.details.to_string()
    ])?;
    Ok(())
}

pub(super) fn list_audit(conn: &Connection, query: &AuditQuery) -> StoreResult<AuditPage> {
    let (page, size) = (query.page.max(1), query.size);
    let filter = "(?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2)
                  AND (?3 IS NULL OR at >= ?3)";
    let filters = params![query.actor, query.action, query.since];
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM audit_log WHERE {filter}"))?
        .query_row(filters, |row| row.get(0))?;
    let offset = i64::from(page - 1) * i64::from(size);
    let entries = conn
        .prepare_cached(&format!(
            "SELECT at, actor, action, target, details FROM audit_log WHERE {filter}
             ORDER BY id DESC LIMIT ?4 OFFSET ?5"
        ))?
        .query_map(
            params![query.actor, query.action, query.since, size, offset],
            |row| {
                let details: String = row.get(4)?;
                Ok(AuditEntry {
                    at: row.get(0)?,
                    actor: row.get(1)?,
                    action: row.get(2)?,
                    target: row.get(3)?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(AuditPage {
        entries,
        page,
        size,
        total: total as u64,
    })
}

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorToken> {
    Ok(OperatorToken {
        name: row.get(0)?,
        created_at: row.get(1)?,
        created_by: row.get(2)?,
    })
}

pub(super) fn create_token(
    tx: &Transaction<'_>,
    token: &NewOperatorToken,
    audit: &AuditEntry,
) -> StoreResult<OperatorToken> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM operator_tokens WHERE name = ?1)",
        [&token.name],
        |row| row.get(0),
    )?;
    if exists {
        return Err(StoreError::Conflict(format!(
            "an operator token named {:?} exists; revoke it first or choose another name",
            token.name
        )));
    }
    tx.execute(
        "INSERT INTO operator_tokens (name, token_hash, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4)",
        params![token.name, token.token_hash, token.now, token.created_by],
    )?;
    record_audit(tx, audit)?;
    Ok(OperatorToken {
        name: token.name.clone(),
        created_at: token.now,
        created_by: token.created_by.clone(),
    })
}

pub(super) fn list_tokens(conn: &Connection) -> StoreResult<Vec<OperatorToken>> {
    let tokens = conn
        .prepare_cached("SELECT name, created_at, created_by FROM operator_tokens ORDER BY name")?
        .query_map([], token_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(tokens)
}

pub(super) fn find_token(
    conn: &Connection,
    token_hash: &str,
) -> StoreResult<Option<OperatorToken>> {
    let token = conn
        .prepare_cached(
            "SELECT name, created_at, created_by FROM operator_tokens WHERE token_hash = ?1",
        )?
        .query_row([token_hash], token_from_row)
        .optional()?;
    Ok(token)
}

pub(super) fn revoke_token(
    tx: &Transaction<'_>,
    name: &str,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let deleted = tx.execute("DELETE FROM operator_tokens WHERE name = ?1", [name])?;
    if deleted == 0 {
        return Err(StoreError::NotFound {
            what: format!("operator token {name:?}"),
        });
    }
    record_audit(tx, audit)
}

/// The name of the master-key check value in `settings`.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// Stores `check` if the installation has none yet, else compares it with the stored one.
pub(super) fn check_master_key(tx: &Transaction<'_>, check: &str) -> StoreResult<KeyCheck> {
    let inserted = tx.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![MASTER_KEY_CHECK, check],
    )?;
    if inserted == 1 {
        return Ok(KeyCheck::Stored);
    }
    let stored: String = tx.query_row(
        "SELECT value FROM settings WHERE name = ?1",
        [MASTER_KEY_CHECK],
        |row| row.get(0),
    )?;
    Ok(if stored == check {
        KeyCheck::Matches
    } else {
        KeyCheck::Mismatch
    })
}
