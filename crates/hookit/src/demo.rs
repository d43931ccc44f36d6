//! `hookit demo`: the whole system working on this machine, in under a minute.

/// Arguments of `hookit demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs the demo; an error means a guarantee was broken or the demo could not run.
pub async fn run(_args: DemoArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("not yet available".into())
}
