//! What a partner sees of its own endpoints: per mapped URL, the latest attempt, the
//! latest error and what is pending.

use super::failure::PgResult;
use crate::store::*;
use sqlx::{PgConnection, Row};

pub(super) async fn url_activity(
    conn: &mut PgConnection,
    partner_id: &str,
) -> PgResult<Vec<UrlActivity>> {
    let urls: Vec<(String, Millis)> = sqlx::query_as(
        "SELECT url, min(created_at) AS first FROM mappings WHERE partner_id = $1
         GROUP BY url ORDER BY first, url",
    )
    .bind(partner_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut activity = Vec::with_capacity(urls.len());
    for (url, first_mapped_at) in urls {
        let last_attempt = sqlx::query(
            "SELECT a.status_code, a.duration_ms, a.started_at
             FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE d.partner_id = $1 AND a.url = $2
             ORDER BY a.started_at DESC, a.attempt DESC LIMIT 1",
        )
        .bind(partner_id)
        .bind(&url)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| -> PgResult<LastAttempt> {
            Ok(LastAttempt {
                status_code: row
                    .try_get::<Option<i32>, _>(0)?
                    .and_then(|code| u16::try_from(code).ok()),
                duration_ms: row.try_get(1)?,
                started_at: row.try_get(2)?,
            })
        })
        .transpose()?;
        let last_error: Option<String> = sqlx::query_scalar(
            "SELECT a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE d.partner_id = $1 AND a.url = $2 AND a.error IS NOT NULL
             ORDER BY a.started_at DESC, a.attempt DESC LIMIT 1",
        )
        .bind(partner_id)
        .bind(&url)
        .fetch_optional(&mut *conn)
        .await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries d JOIN mappings m ON m.id = d.mapping_id
             WHERE d.partner_id = $1 AND d.state = 'pending' AND NOT d.test AND m.url = $2",
        )
        .bind(partner_id)
        .bind(&url)
        .fetch_one(&mut *conn)
        .await?;
        let health: Option<(String, Option<Millis>)> =
            sqlx::query_as("SELECT state, since FROM endpoints WHERE partner_id = $1 AND url = $2")
                .bind(partner_id)
                .bind(&url)
                .fetch_optional(&mut *conn)
                .await?;
        let (state, state_since) = health
            .map_or((EndpointState::Healthy, None), |(state, since)| {
                (EndpointState::parse(Some(&state)), since)
            });
        activity.push(UrlActivity {
            state,
            state_since,
            last_attempt,
            last_error,
            pending: pending as u64,
            url,
            first_mapped_at,
        });
    }
    Ok(activity)
}
