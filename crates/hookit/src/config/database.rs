//! The settings of a PostgreSQL store: connection pool size, statement timeout,
//! connect timeout and schema. They are read whatever the backend, so a typo is caught even while
//! the embedded SQLite store is in use, and only a PostgreSQL store applies them.

use std::time::Duration;

use super::ConfigError;
use super::layers::Layers;
use super::values::{self, Setting};

/// Flags (and environment variables) of the database connection, part of `hookit serve`'s.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL only: most connections this process holds open, 1..=1000 [default: 16].
    #[arg(long, env = "HOOKIT_DATABASE_POOL_SIZE", value_name = "N")]
    pub database_pool_size: Option<String>,
    /// PostgreSQL only: longest one SQL statement may run before it is cancelled and
    /// the request answered 503 [default: 5s].
    #[arg(
        long,
        env = "HOOKIT_DATABASE_STATEMENT_TIMEOUT",
        value_name = "DURATION"
    )]
    pub database_statement_timeout: Option<String>,
    /// PostgreSQL only: longest wait for a connection (new or from the pool) before the
    /// request is answered 503 [default: 3s].
    #[arg(long, env = "HOOKIT_DATABASE_CONNECT_TIMEOUT", value_name = "DURATION")]
    pub database_connect_timeout: Option<String>,
    /// PostgreSQL only: the schema holding hookit's tables, created if missing; every
    /// process sharing the work must name the same one [default: public].
    #[arg(long, env = "HOOKIT_DATABASE_SCHEMA", value_name = "NAME")]
    pub database_schema: Option<String>,
}

/// The validated connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub pool_size: u32,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
    /// `None`: the database's default schema (`public`).
    pub schema: Option<String>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            schema: None,
        }
    }
}

pub(super) const DATABASE_POOL_SIZE: Setting =
    Setting::new("HOOKIT_DATABASE_POOL_SIZE", "database_pool_size");
pub(super) const DATABASE_STATEMENT_TIMEOUT: Setting = Setting::new(
    "HOOKIT_DATABASE_STATEMENT_TIMEOUT",
    "database_statement_timeout",
);
pub(super) const DATABASE_SCHEMA: Setting =
    Setting::new("HOOKIT_DATABASE_SCHEMA", "database_schema");
pub(super) const DATABASE_CONNECT_TIMEOUT: Setting = Setting::new(
    "HOOKIT_DATABASE_CONNECT_TIMEOUT",
    "database_connect_timeout",
);

impl DatabaseSettings {
    pub(super) fn load(layers: &Layers<'_>, args: &DatabaseArgs) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let timeout = |setting: &Setting, given: &Option<String>, default: Duration| {
            layers
                .get(setting, given.clone(), |s| {
                    values::duration_in(s, Duration::from_millis(1), Duration::from_secs(3600))
                })
                .map(|value| value.unwrap_or(default))
        };
        Ok(DatabaseSettings {
            pool_size: layers
                .get(&DATABASE_POOL_SIZE, args.database_pool_size.clone(), |s| {
                    values::count_in(s, 1, 1000)
                })?
                .map_or(defaults.pool_size, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            statement_timeout: timeout(
                &DATABASE_STATEMENT_TIMEOUT,
                &args.database_statement_timeout,
                defaults.statement_timeout,
            )?,
            connect_timeout: timeout(
                &DATABASE_CONNECT_TIMEOUT,
                &args.database_connect_timeout,
                defaults.connect_timeout,
            )?,
            schema: layers.get(&DATABASE_SCHEMA, args.database_schema.clone(), schema_name)?,
        })
    }
}

/// A schema name hookit can use unquoted: lowercase letters, digits and underscores,
/// starting with a letter or underscore, at most 63 bytes (PostgreSQL's limit).
fn schema_name(text: &str) -> Result<String, String> {
    let text = text.trim();
    let mut bytes = text.bytes();
    let usable = text.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if usable {
        Ok(text.to_owned())
    } else {
        Err(
            "expected a schema name of lowercase letters, digits and underscores, \
             starting with a letter, at most 63 characters (e.g. hookit)"
                .into(),
        )
    }
}
