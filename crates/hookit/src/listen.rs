//! `hookit listen`: a local webhook receiver for partners.

/// Arguments of `hookit listen`.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {}

/// Runs the receiver until Ctrl-C.
pub async fn run(_args: ListenArgs) -> anyhow_free::Result {
    Ok(())
}

mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}
