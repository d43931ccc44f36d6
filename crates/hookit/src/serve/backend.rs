//! Opens the store the configuration names, behind `Arc<dyn Store>`: the embedded
//! SQLite file, or a PostgreSQL database that several `hookit serve` processes share.
//!
//! On PostgreSQL every process must encrypt webhook secrets under the same master key,
//! so the database keeps a check value derived from it: the first process stores it,
//! and a process started with another key refuses to start before it serves anything.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{DatabaseLocation, DatabaseSettings};
use crate::credentials::MasterKey;
use crate::private_files;
use crate::store::postgres::{PostgresSettings, PostgresStore};
use crate::store::sqlite::SqliteStore;
use crate::store::{KeyCheck, Store};

/// Why the store could not be opened, said so an operator can act on it.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot open the SQLite database {path}: {source}")]
    Sqlite {
        path: String,
        source: crate::store::StoreError,
    },
    #[error("cannot make the database {path} owner-only: {source}")]
    Permissions {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot open the PostgreSQL database {url} (HOOKIT_DATABASE_URL): {source}; check that \
         it is running and reachable, and HOOKIT_DATABASE_CONNECT_TIMEOUT"
    )]
    Postgres {
        url: String,
        source: crate::store::StoreError,
    },
    #[error(
        "HOOKIT_MASTER_KEY is not the key this PostgreSQL database ({url}) was set up with: \
         webhook secrets stored there could not be decrypted. Give every hookit process the \
         master key the first one was started with"
    )]
    MasterKeyMismatch { url: String },
}

/// Opens (and migrates) the store named by `database`.
pub async fn open(
    database: &DatabaseLocation,
    connection: &DatabaseSettings,
    master_key: &MasterKey,
) -> Result<Arc<dyn Store>, BackendError> {
    match database {
        DatabaseLocation::Sqlite(path) => {
            tracing::info!(path = %path.display(), "opening the embedded SQLite store");
            let shown = path.display().to_string();
            let store = SqliteStore::open(path).map_err(|source| BackendError::Sqlite {
                path: shown.clone(),
                source,
            })?;
            private_files::tighten_database(path).map_err(|source| BackendError::Permissions {
                path: shown,
                source,
            })?;
            Ok(Arc::new(store))
        }
        DatabaseLocation::Postgres(url) => {
            let shown = database.to_string();
            tracing::info!(url = %shown, "opening the PostgreSQL store");
            let settings = PostgresSettings {
                url: url.clone(),
                pool_size: connection.pool_size,
                statement_timeout: connection.statement_timeout,
                connect_timeout: connection.connect_timeout,
                schema: connection.schema.clone(),
            };
            let store: PostgresStore =
                crate::store::postgres::open(&settings)
                    .await
                    .map_err(|source| BackendError::Postgres {
                        url: shown.clone(),
                        source,
                    })?;
            match store.check_master_key(&master_key_check(master_key)).await {
                Ok(KeyCheck::Stored) => {
                    tracing::info!("stored the master key's check value in the database");
                }
                Ok(KeyCheck::Matches) => {}
                Ok(KeyCheck::Mismatch) => {
                    return Err(BackendError::MasterKeyMismatch { url: shown });
                }
                Err(source) => return Err(BackendError::Postgres { url: shown, source }),
            }
            Ok(Arc::new(store))
        }
    }
}

/// A value that tells master keys apart without revealing them: SHA-256 over a fixed
/// label and the key's canonical text, in hex.
pub fn master_key_check(master_key: &MasterKey) -> String {
    let mut digest = Sha256::new();
    digest.update(b"hookit master key check v1\0");
    digest.update(master_key.to_text().expose().as_bytes());
    hex::encode(digest.finalize())
}
