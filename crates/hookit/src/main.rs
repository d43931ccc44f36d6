//! The `hookit` command line.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hookit", version, about = "klikit's order-webhook service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the APIs and the dispatcher (embedded SQLite by default).
    Serve(Box<hookit::config::ServeArgs>),
    /// Run a local receiver that verifies, de-dupes and prints klikit webhooks.
    Listen(hookit::listen::ListenArgs),
    /// Manage partners and their credentials on a running server.
    Partner(hookit::cli::PartnerArgs),
    /// Map a partner's webhook URL, or list and delete mappings.
    Map(hookit::cli::MapArgs),
    /// List, inspect and replay deliveries.
    Deliveries(hookit::cli::DeliveriesArgs),
    /// List the operator actions the server recorded, newest first.
    Audit(hookit::cli::AuditArgs),
    /// List endpoints (partner, URL) with their health; enable a disabled one.
    Endpoints(hookit::cli::EndpointsArgs),
    /// Remove what is past its retention now, or count it (--dry-run).
    Prune(hookit::cli::PruneArgs),
    /// Maintain the SQLite database (`db vacuum`).
    Db(hookit::cli::DbArgs),
    /// Show the whole system working on this machine.
    Demo(hookit::demo::DemoArgs),
    /// Measure end-to-end throughput, latency and memory.
    Bench(hookit::bench::BenchArgs),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Serve(_) | Command::Listen(_) | Command::Demo(_) | Command::Bench(_)
    ) {
        // Databases, their -wal/-shm files and data directories are owner-only.
        hookit::private_files::restrict_new_files();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A store call still blocked on disk (a locked or failing database) must not hold
    // the exit once the command has finished its bounded shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match cli.command {
        Command::Serve(args) => {
            init_logging();
            hookit::serve::run(*args).await
        }
        Command::Listen(args) => hookit::listen::run(args).await,
        Command::Partner(args) => hookit::cli::partner(args).await,
        Command::Map(args) => hookit::cli::map(args).await,
        Command::Deliveries(args) => hookit::cli::deliveries(args).await,
        Command::Audit(args) => hookit::cli::audit(args).await,
        Command::Endpoints(args) => hookit::cli::endpoints(args).await,
        Command::Prune(args) => hookit::cli::prune(args).await,
        Command::Db(args) => hookit::cli::db(args).await,
        Command::Demo(args) => hookit::demo::run(args).await,
        Command::Bench(args) => hookit::bench::run(args).await,
    }
}
