//! Operator tokens, the audit log, and the installation's shared settings (the
//! master-key check).

use super::failure::PgResult;
use crate::ids::IdKind;
use crate::store::*;
use sqlx::{PgConnection, Row};

/// Writes one audit entry in the caller's transaction.
pub(super) async fn record_audit(conn: &mut PgConnection, entry: &AuditEntry) -> PgResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, target, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(IdKind::Audit.generate())
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn list_audit(conn: &mut PgConnection, query: &AuditQuery) -> PgResult<AuditPage> {
    let (page, size) = (query.page.max(1), query.size);
    let filter = "($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
                  AND ($3::bigint IS NULL OR at >= $3)";
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM audit_log WHERE {filter}"))
        .bind(query.actor.as_deref())
        .bind(query.action.as_deref())
        .bind(query.since)
        .fetch_one(&mut *conn)
        .await?;
    let offset = i64::from(page - 1) * i64::from(size);
    let entries = sqlx::query(&format!(
        "SELECT at, actor, action, target, details FROM audit_log WHERE {filter}
         ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(query.actor.as_deref())
    .bind(query.action.as_deref())
    .bind(query.since)
    .bind(i64::from(size))
    .bind(offset)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| -> PgResult<AuditEntry> {
        let details: String = row.try_get(4)?;
        Ok(AuditEntry {
            at: row.try_get(0)?,
            actor: row.try_get(1)?,
            action: row.try_get(2)?,
            target: row.try_get(3)?,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
    })
    .collect::<PgResult<Vec<_>>>()?;
    Ok(AuditPage {
        entries,
        page,
        size,
        total: total as u64,
    })
}

pub(super) async fn create_token(
    conn: &mut PgConnection,
    token: &NewOperatorToken,
    audit: &AuditEntry,
) -> PgResult<OperatorToken> {
    let inserted = sqlx::query(
        "INSERT INTO operator_tokens (name, token_hash, created_at, created_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(&token.name)
    .bind(&token.token_hash)
    .bind(token.now)
    .bind(&token.created_by)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "an operator token named {:?} exists; revoke it first or choose another name",
            token.name
        ))
        .into());
    }
    record_audit(conn, audit).await?;
    Ok(OperatorToken {
        name: token.name.clone(),
        created_at: token.now,
        created_by: token.created_by.clone(),
    })
}

fn token_from_row(row: &sqlx::postgres::PgRow) -> PgResult<OperatorToken> {
    Ok(OperatorToken {
        name: row.try_get(0)?,
        created_at: row.try_get(1)?,
        created_by: row.try_get(2)?,
    })
}

pub(super) async fn list_tokens(conn: &mut PgConnection) -> PgResult<Vec<OperatorToken>> {
    sqlx::query("SELECT name, created_at, created_by FROM operator_tokens ORDER BY name")
        .fetch_all(conn)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
}

pub(super) async fn find_token(
    conn: &mut PgConnection,
    token_hash: &str,
) -> PgResult<Option<OperatorToken>> {
    sqlx::query("SELECT name, created_at, created_by FROM operator_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
}

pub(super) async fn revoke_token(
    conn: &mut PgConnection,
    name: &str,
    audit: &AuditEntry,
) -> PgResult<()> {
    let deleted = sqlx::query("DELETE FROM operator_tokens WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: format!("operator token {name:?}"),
        }
        .into());
    }
    record_audit(conn, audit).await
}

/// The name of the master-key check value in `settings`.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// Stores `check` if the installation has none yet, else compares it with the stored
/// one. Concurrent first starts store one value: the others compare with it.
pub(super) async fn check_master_key(conn: &mut PgConnection, check: &str) -> PgResult<KeyCheck> {
    let inserted = sqlx::query(
        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(MASTER_KEY_CHECK)
    .bind(check)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(KeyCheck::Stored);
    }
    let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(MASTER_KEY_CHECK)
        .fetch_one(conn)
        .await?;
    Ok(if stored == check {
        KeyCheck::Matches
    } else {
        KeyCheck::Mismatch
    })
}
