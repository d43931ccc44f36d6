//! What went wrong talking to PostgreSQL, sorted by what can be done about it: run the
//! transaction again, tell the client to come back later, or report a failure.

use crate::store::StoreError;

/// A failure inside a PostgreSQL transaction.
#[derive(Debug, thiserror::Error)]
pub(super) enum PgFailure {
    /// The driver or the database failed before the commit was sent.
    #[error("{0}")]
    Sql(#[source] sqlx::Error),
    /// The commit itself failed: if the connection was lost, whether it took effect is
    /// unknown, so it is never run again.
    #[error("commit failed: {0}")]
    Commit(#[source] sqlx::Error),
    /// A failure the store decided on (not found, conflict, …).
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub(super) type PgResult<T> = Result<T, PgFailure>;

impl From<sqlx::Error> for PgFailure {
    fn from(err: sqlx::Error) -> Self {
        PgFailure::Sql(err)
    }
}

/// SQLSTATEs after which the same transaction, run again, can succeed.
const RETRYABLE_STATES: [&str; 2] = [
    "40001", // serialization_failure
    "40P01", // deadlock_detected
];

/// SQLSTATEs that mean the database is not there for us right now.
fn unavailable_state(code: &str) -> bool {
    code.starts_with("08") // connection exceptions
        || code.starts_with("53") // insufficient resources (too many connections, disk full)
        || code.starts_with("57P") // admin or crash shutdown, cannot connect now
        || code == "57014" // query cancelled: the statement timeout
        || code == "25006" // read-only transaction: a standby, during a failover
}

fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// Whether the error says the database cannot be reached or used now.
fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(_) => sqlstate(err).is_some_and(|code| unavailable_state(&code)),
        _ => false,
    }
}

impl PgFailure {
    /// A failure of the commit statement.
    pub(super) fn at_commit(err: sqlx::Error) -> Self {
        PgFailure::Commit(err)
    }

    /// Whether running the whole transaction again may succeed and cannot do harm: a
    /// serialization failure or deadlock (the database rolled it back), or a lost
    /// connection before the commit was sent (nothing was committed).
    pub(super) fn worth_retrying(&self) -> bool {
        match self {
            PgFailure::Sql(err) => {
                sqlstate(err).is_some_and(|code| RETRYABLE_STATES.contains(&code.as_str()))
                    || matches!(err, sqlx::Error::Io(_))
            }
            PgFailure::Commit(err) => {
                sqlstate(err).is_some_and(|code| RETRYABLE_STATES.contains(&code.as_str()))
            }
            PgFailure::Store(_) => false,
        }
    }

    /// The store's error for it.
    pub(super) fn into_store(self) -> StoreError {
        match self {
            PgFailure::Store(err) => err,
            PgFailure::Sql(err) | PgFailure::Commit(err) => {
                let contention =
                    sqlstate(&err).is_some_and(|code| RETRYABLE_STATES.contains(&code.as_str()));
                if is_unavailable(&err) {
                    StoreError::Unavailable(format!("PostgreSQL is unavailable: {err}"))
                } else if contention {
                    StoreError::Unavailable(format!(
                        "PostgreSQL kept aborting the transaction under contention ({err}); \
                         it was rolled back"
                    ))
                } else {
                    StoreError::Backend(format!("PostgreSQL: {err}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_level_failures_are_unavailable() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            PgFailure::from(io).into_store(),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            PgFailure::from(sqlx::Error::PoolTimedOut).into_store(),
            StoreError::Unavailable(_)
        ));
        assert!(unavailable_state("08006"));
        assert!(unavailable_state("57P01"));
        assert!(!unavailable_state("23505"));
    }

    #[test]
    fn a_lost_connection_is_retried_before_the_commit_only() {
        let lost = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(PgFailure::from(lost()).worth_retrying());
        assert!(!PgFailure::at_commit(lost()).worth_retrying());
        assert!(!PgFailure::from(StoreError::Conflict("x".into())).worth_retrying());
    }
}
