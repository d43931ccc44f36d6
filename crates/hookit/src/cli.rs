//! The operator's command line: `hookit partner`, `hookit map`, `hookit deliveries`.
//! A client of the same operator API an operator would call by hand.

/// Arguments of `hookit partner`.
#[derive(Debug, clap::Args)]
pub struct PartnerArgs {}

/// Arguments of `hookit map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {}

/// Arguments of `hookit deliveries`.
#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {}

/// The error a command ends with; printed as `error: …`.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `hookit partner …`.
pub async fn partner(_args: PartnerArgs) -> Result<(), CliError> {
    Err("not yet available".into())
}

/// Runs `hookit map …`.
pub async fn map(_args: MapArgs) -> Result<(), CliError> {
    Err("not yet available".into())
}

/// Runs `hookit deliveries …`.
pub async fn deliveries(_args: DeliveriesArgs) -> Result<(), CliError> {
    Err("not yet available".into())
}
