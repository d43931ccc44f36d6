//! What a partner sees of its own endpoints: per mapped URL, the latest attempt, the
//! latest error and what is pending.

use crate::store::*;
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn url_activity(conn: &Connection, partner_id: &str) -> StoreResult<Vec<UrlActivity>> {
    let urls = conn
        .prepare_cached(
            "SELECT url, min(created_at) AS first FROM mappings WHERE partner_id = ?1
             GROUP BY url ORDER BY first, url",
        )?
        .query_map([partner_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<Vec<(String, Millis)>>>()?;
    let mut last_attempt = conn.prepare_cached(
        "SELECT a.status_code, a.duration_ms, a.started_at
         FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.partner_id = ?1 AND a.url = ?2
         ORDER BY a.started_at DESC, a.attempt DESC LIMIT 1",
    )?;
    let mut last_error = conn.prepare_cached(
        "SELECT a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.partner_id = ?1 AND a.url = ?2 AND a.error IS NOT NULL
         ORDER BY a.started_at DESC, a.attempt DESC LIMIT 1",
    )?;
    let mut pending = conn.prepare_cached(
        "SELECT count(*) FROM deliveries d JOIN mappings m ON m.id = d.mapping_id
         WHERE d.partner_id = ?1 AND d.state = 'pending' AND d.test = 0 AND m.url = ?2",
    )?;
    let mut health = conn
        .prepare_cached("SELECT state, since FROM endpoints WHERE partner_id = ?1 AND url = ?2")?;
    let mut activity = Vec::with_capacity(urls.len());
    for (url, first_mapped_at) in urls {
        let (state, state_since) = health
            .query_row(params![partner_id, url], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<Millis>>(1)?))
            })
            .optional()?
            .map_or((EndpointState::Healthy, None), |(state, since)| {
                (EndpointState::parse(Some(&state)), since)
            });
        activity.push(UrlActivity {
            state,
            state_since,
            last_attempt: last_attempt
                .query_row(params![partner_id, url], |row| {
                    Ok(LastAttempt {
                        status_code: row.get(0)?,
                        duration_ms: row.get(1)?,
                        started_at: row.get(2)?,
                    })
                })
                .optional()?,
            last_error: last_error
                .query_row(params![partner_id, url], |row| row.get(0))
                .optional()?,
            pending: pending.query_row(params![partner_id, url], |row| row.get(0))?,
            url,
            first_mapped_at,
        });
    }
    Ok(activity)
}
