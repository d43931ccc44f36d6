//! `hookit prune`: removes what is past its retention now (`--dry-run`: only counts
//! it), a client of `POST /v1/operator/prune`; and `hookit db vacuum`, which rewrites
//! an SQLite database once so that pruning can give its space back.

use super::client::OperatorClient;
use super::{CliError, ServerArgs, emit};
use crate::store::PruneCounts;
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `hookit prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only count what would be removed now; remove nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Deserialize)]
struct PruneResult {
    dry_run: bool,
    counts: PruneCounts,
}

/// Runs `hookit prune`.
pub async fn prune(args: PruneArgs) -> Result<(), CliError> {
    let client = OperatorClient::connect(&args.server)?;
    let data = client
        .post(&["prune"], Some(json!({ "dry_run": args.dry_run })))
        .await?;
    emit(args.server.json, data, |result: PruneResult| {
        let counts = result.counts;
        println!(
            "{}",
            if result.dry_run {
                "Past its retention now (dry run, nothing removed):"
            } else {
                "Removed past its retention:"
            }
        );
        for (what, count) in [
            ("delivered deliveries", counts.delivered),
            ("dead deliveries", counts.dead),
            ("orders", counts.orders),
            ("order tombstones", counts.tombstones),
            ("idempotency keys", counts.idempotency_keys),
        ] {
            println!("  {what:<22}{count:>10}");
        }
    })
}

/// Arguments of `hookit db`.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DbCommand {
    /// Rewrite the SQLite database once with incremental auto-vacuum on, so that
    /// pruning gives freed space back to the file system. Needed only for a database
    /// created by a hookit before retention; stop `hookit serve` first. Needs free disk
    /// of up to twice the database's size while it runs.
    Vacuum {
        /// The server's data directory; the database is `<data dir>/hookit.db`.
        #[arg(long, env = "HOOKIT_DATA_DIR", default_value = "./hookit-data")]
        data_dir: PathBuf,
        /// The database file, if not `<data dir>/hookit.db`.
        #[arg(long)]
        database: Option<PathBuf>,
    },
}

/// Runs `hookit db …`.
pub async fn db(args: DbArgs) -> Result<(), CliError> {
    match args.command {
        DbCommand::Vacuum { data_dir, database } => {
            let path = database.unwrap_or_else(|| data_dir.join("hookit.db"));
            if !path.is_file() {
                return Err(format!(
                    "no database at {}; give --data-dir or --database",
                    path.display()
                )
                .into());
            }
            let report =
                tokio::task::spawn_blocking(move || crate::store::sqlite::vacuum_file(&path))
                    .await??;
            println!(
                "vacuumed in {:.1}s: {} MiB before, {} MiB after; incremental auto-vacuum {}",
                report.took.as_secs_f64(),
                report.bytes_before / (1 << 20),
                report.bytes_after / (1 << 20),
                if report.incremental {
                    "on"
                } else {
                    "still off"
                }
            );
            Ok(())
        }
    }
}
