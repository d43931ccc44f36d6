//! `hookit bench`: end-to-end throughput, latency and memory against SPEC.md §8.

/// Arguments of `hookit bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Runs the benchmark scenarios.
pub async fn run(_args: BenchArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("not yet available".into())
}
