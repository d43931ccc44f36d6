//! The database's CPU time during a scenario, on PostgreSQL: the user + system time
//! of the server backends that serve hookit's connections to the bench database
//! (`pg_stat_activity`, `application_name = 'hookit'`), read from `/proc/<pid>/stat`.
//! It needs the database on this machine (as the bench's own loopback setup has it).
//! PostgreSQL's background processes (WAL writer, checkpointer) are not counted, nor
//! the time of a backend that ended during the run.

use sqlx::{ConnectOptions, Connection};
use std::collections::HashMap;
use std::str::FromStr;

/// CPU seconds per backend process id, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample(HashMap<i32, f64>);

/// Samples the CPU time of hookit's backends on the database `url` names; `None` when
/// the database cannot be asked or its processes cannot be read.
pub async fn sample(url: &str) -> Option<Sample> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .ok()?
        .application_name("hookit-bench")
        .disable_statement_logging();
    let mut conn = options.connect().await.ok()?;
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'hookit'",
    )
    .fetch_all(&mut conn)
    .await
    .ok()?;
    let _ = conn.close().await;
    let mut seconds = HashMap::new();
    for pid in pids {
        if let Some(cpu) = super::child::process_cpu_seconds(pid as u32) {
            seconds.insert(pid, cpu);
        }
    }
    Some(Sample(seconds))
}

impl Sample {
    /// CPU seconds used between `self` and a `later` sample: a backend first seen in
    /// `later` counts from its start.
    pub fn until(&self, later: &Sample) -> f64 {
        later
            .0
            .iter()
            .map(|(pid, after)| (after - self.0.get(pid).copied().unwrap_or(0.0)).max(0.0))
            .sum()
    }
}
