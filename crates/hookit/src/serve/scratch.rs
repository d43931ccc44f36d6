//! A PostgreSQL schema of its own for `hookit bench` and `hookit demo`: they refuse a
//! database that already holds hookit partners (they are not to run beside real data),
//! put everything in a fresh schema that the store creates when it opens, and drop that
//! schema at the end.

use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use std::str::FromStr as _;
use std::time::Duration;

use crate::config::DatabaseLocation;
use crate::store::postgres;

/// Why a scratch schema could not be prepared or dropped.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error(
        "cannot reach the PostgreSQL database {url} to check it is free for the {purpose}: \
         {problem}"
    )]
    Unreachable {
        url: String,
        purpose: &'static str,
        problem: String,
    },
    #[error(
        "the PostgreSQL database {url} already holds hookit partners (in schema {schema}); \
         the {purpose} refuses to run beside real data. Point --database-url at an empty \
         database, or, if {schema} is a leftover of an earlier {purpose}, drop it with \
         DROP SCHEMA {schema} CASCADE"
    )]
    InUse {
        url: String,
        schema: String,
        purpose: &'static str,
    },
    #[error("could not drop the {purpose}'s schema {schema}: {problem}")]
    Drop {
        schema: String,
        purpose: &'static str,
        problem: String,
    },
}

/// A fresh schema name, dropped by [`ScratchSchema::drop`].
#[derive(Debug)]
pub struct ScratchSchema {
    url: String,
    /// The schema's name, for `PostgresSettings::schema` / `HOOKIT_DATABASE_SCHEMA`.
    pub name: String,
    purpose: &'static str,
}

impl ScratchSchema {
    /// Checks that no schema of the database holds a partner, and names a fresh schema
    /// `hookit_<purpose>_<pid>_<label>`.
    pub async fn prepare(
        url: &str,
        purpose: &'static str,
        label: &str,
    ) -> Result<ScratchSchema, ScratchError> {
        let shown = DatabaseLocation::Postgres(url.to_owned()).to_string();
        let unreachable = |problem: String| ScratchError::Unreachable {
            url: shown.clone(),
            purpose,
            problem,
        };
        let options = sqlx::postgres::PgConnectOptions::from_str(url)
            .map_err(|err| unreachable(err.to_string()))?;
        let mut conn = tokio::time::timeout(Duration::from_secs(10), options.connect())
            .await
            .map_err(|_| unreachable("no connection within 10s".into()))?
            .map_err(|err| unreachable(err.to_string()))?;
        let schemas = sqlx::query(
            "SELECT table_schema FROM information_schema.tables \
             WHERE table_name = 'partners' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|err| unreachable(err.to_string()))?;
        for row in schemas {
            let schema: String = row.try_get(0).map_err(|err| unreachable(err.to_string()))?;
            let quoted = schema.replace('"', "\"\"");
            let held: bool = sqlx::query_scalar(&format!(
                "SELECT EXISTS (SELECT 1 FROM \"{quoted}\".partners)"
            ))
            .fetch_one(&mut conn)
            .await
            .map_err(|err| unreachable(err.to_string()))?;
            if held {
                return Err(ScratchError::InUse {
                    url: shown,
                    schema,
                    purpose,
                });
            }
        }
        let _ = conn.close().await;
        let label: String = label
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            .take(20)
            .collect();
        Ok(ScratchSchema {
            url: url.to_owned(),
            name: format!("hookit_{purpose}_{}_{label}", std::process::id()),
            purpose,
        })
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) -> Result<(), ScratchError> {
        postgres::drop_schema(&self.url, &self.name)
            .await
            .map_err(|err| ScratchError::Drop {
                schema: self.name.clone(),
                purpose: self.purpose,
                problem: err.to_string(),
            })
    }
}
