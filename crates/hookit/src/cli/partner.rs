//! `hookit partner`: create partners, list them, rotate their secrets, switch them off
//! and on. Secrets appear once, in the answer that creates them.

use super::client::OperatorClient;
use super::table::{self, Table};
use super::{CliError, decode, emit};
use serde::Deserialize;
use serde_json::json;

/// The `hookit partner` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PartnerCommand {
    /// Create a partner and print its credentials (shown this once only).
    Create {
        /// The partner's display name (1 to 200 characters).
        #[arg(long)]
        name: String,
        /// `klikit` (x-klikit-signature only, the default) or `klikit+standard` (also
        /// the Standard Webhooks headers).
        #[arg(long, value_name = "SCHEME")]
        signature_scheme: Option<String>,
    },
    /// Change a partner's settings.
    Update {
        /// The partner id (`prt_…`).
        id: String,
        /// `klikit` (x-klikit-signature only) or `klikit+standard` (also the Standard
        /// Webhooks headers webhook-id, webhook-timestamp, webhook-signature).
        #[arg(long, value_name = "SCHEME")]
        signature_scheme: String,
    },
    /// List every partner.
    List,
    /// Replace the partner's API secret; the old one stops working at once.
    RotateSecret {
        /// The partner id (`prt_…`).
        id: String,
    },
    /// Replace the secret the partner's webhooks are signed with. Without --grace the
    /// very next delivery is signed with the new secret.
    RotateWebhookSecret {
        /// The partner id (`prt_…`).
        id: String,
        /// Keep signing with the current secret for this long (e.g. 24h, at most 7d),
        /// so the partner can install the new one first and accept both meanwhile.
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },
    /// Pause the partner: no API access, no webhooks; its order changes are kept and
    /// delivered in order once it is enabled.
    Disable {
        /// The partner id (`prt_…`).
        id: String,
    },
    /// Restore a disabled partner; what came while it was disabled is delivered, in order.
    Enable {
        /// The partner id (`prt_…`).
        id: String,
    },
    /// Send the partner's endpoint a signed sample delivery (a negative order id,
    /// marked `x-klikit-test: true`, attempted once) and print how it answered.
    TestWebhook {
        /// The partner id (`prt_…`).
        id: String,
        /// The event type to send a sample of: a wire name, or created, status, cart.
        #[arg(long, value_parser = super::parse_event_type)]
        event: klikit_webhook::EventType,
        /// One of the partner's mapped URLs (default: the one mapped for the event).
        #[arg(long)]
        url: Option<String>,
    },
}

/// How the endpoint answered a test webhook.
#[derive(Deserialize)]
struct TestWebhookResult {
    event_id: String,
    url: String,
    status_code: Option<u16>,
    latency_ms: Option<i64>,
    response_excerpt: Option<String>,
    error: Option<String>,
    signature_rejected_likely: bool,
}

/// A partner as the operator API returns it.
#[derive(Debug, Deserialize)]
pub(super) struct PartnerView {
    pub id: String,
    pub name: String,
    pub partner_key: String,
    pub enabled: bool,
    #[serde(default)]
    pub signature_scheme: String,
    pub created_at: String,
}

/// The answer to `create`: the partner and both secrets.
#[derive(Deserialize)]
struct CreatedPartner {
    #[serde(flatten)]
    partner: PartnerView,
    secret_key: String,
    webhook_secret_key: String,
    webhook_secret_standard: String,
}

/// Runs one `hookit partner` subcommand.
pub async fn run(
    client: &OperatorClient,
    json: bool,
    command: PartnerCommand,
) -> Result<(), CliError> {
    match command {
        PartnerCommand::Create {
            name,
            signature_scheme,
        } => create(client, json, &name, signature_scheme).await,
        PartnerCommand::Update {
            id,
            signature_scheme,
        } => update(client, json, &id, &signature_scheme).await,
        PartnerCommand::List => list(client, json).await,
        PartnerCommand::RotateSecret { id } => rotate_secret(client, json, &id).await,
        PartnerCommand::RotateWebhookSecret { id, grace } => {
            rotate_webhook_secret(client, json, &id, grace).await
        }
        PartnerCommand::Disable { id } => set_enabled(client, json, &id, false).await,
        PartnerCommand::Enable { id } => set_enabled(client, json, &id, true).await,
        PartnerCommand::TestWebhook { id, event, url } => {
            test_webhook(client, json, &id, event, url).await
        }
    }
}

async fn test_webhook(
    client: &OperatorClient,
    json: bool,
    id: &str,
    event: klikit_webhook::EventType,
    url: Option<String>,
) -> Result<(), CliError> {
    let mut body = json!({ "event_type": event.as_str() });
    if let Some(url) = url {
        body["url"] = json!(url);
    }
    let answer = client
        .post(&["partners", id, "webhooks", "test"], Some(body))
        .await?;
    emit(json, answer, |result: TestWebhookResult| {
        let outcome = match result.status_code {
            Some(code) if (200..300).contains(&code) => format!("acknowledged with HTTP {code}"),
            Some(code) => format!("refused with HTTP {code}"),
            None => "not answered".to_owned(),
        };
        println!("Test webhook to {}: {outcome}.", result.url);
        let mut fields = vec![("event id", result.event_id)];
        if let Some(latency) = result.latency_ms {
            fields.push(("latency", format!("{latency} ms")));
        }
        if let Some(error) = result.error {
            fields.push(("error", error));
        }
        if let Some(excerpt) = result.response_excerpt {
            fields.push(("response", excerpt));
        }
        print!("{}", table::fields(&fields));
        if result.signature_rejected_likely {
            println!(
                "The endpoint most likely rejected the signature: check that it verifies \
                 with the partner's current webhook_secret_key, over the raw body bytes."
            );
        }
    })
}

/// Lists every partner (also used by `hookit map list` and `map delete`).
pub(super) async fn fetch_all(client: &OperatorClient) -> Result<Vec<PartnerView>, CliError> {
    let answer = client.get(&["partners"], &[]).await?;
    Ok(decode(answer.data)?)
}

async fn create(
    client: &OperatorClient,
    json: bool,
    name: &str,
    signature_scheme: Option<String>,
) -> Result<(), CliError> {
    let mut body = json!({ "name": name });
    if let Some(scheme) = signature_scheme {
        body["signature_scheme"] = json!(scheme);
    }
    let answer = client.post(&["partners"], Some(body)).await?;
    emit(json, answer, |created: CreatedPartner| {
        let partner = created.partner;
        println!("Partner created.");
        print!(
            "{}",
            table::fields(&[
                ("id", partner.id),
                ("name", partner.name),
                ("partner_key", partner.partner_key),
                ("secret_key", created.secret_key),
                ("webhook_secret_key", created.webhook_secret_key),
                ("webhook_secret_standard", created.webhook_secret_standard),
                ("signature_scheme", partner.signature_scheme),
            ])
        );
    })?;
    warn_once(&["secret_key", "webhook_secret_key"]);
    Ok(())
}

async fn list(client: &OperatorClient, json: bool) -> Result<(), CliError> {
    let answer = client.get(&["partners"], &[]).await?;
    emit(json, answer, |partners: Vec<PartnerView>| {
        if partners.is_empty() {
            println!("No partners yet; create one with `hookit partner create --name NAME`.");
            return;
        }
        let mut rows = Table::new(&["ID", "NAME", "PARTNER KEY", "ENABLED", "CREATED"]);
        for partner in partners {
            rows.row(vec![
                partner.id,
                partner.name,
                partner.partner_key,
                yes_no(partner.enabled).into(),
                table::time(&partner.created_at),
            ]);
        }
        print!("{}", rows.render());
    })
}

async fn rotate_secret(client: &OperatorClient, json: bool, id: &str) -> Result<(), CliError> {
    let answer = client
        .post(&["partners", id, "secret", "rotate"], None)
        .await?;
    emit(json, answer, |answer: RotatedSecret| {
        println!("New API secret for partner {id}; the old secret_key stopped working.");
        print!("{}", table::fields(&[("secret_key", answer.secret_key)]));
    })?;
    warn_once(&["secret_key"]);
    Ok(())
}

async fn rotate_webhook_secret(
    client: &OperatorClient,
    json: bool,
    id: &str,
    grace: Option<String>,
) -> Result<(), CliError> {
    let body = grace.as_ref().map(|grace| json!({ "grace": grace }));
    let answer = client
        .post(&["partners", id, "webhook-secret", "rotate"], body)
        .await?;
    emit(json, answer, |answer: RotatedWebhookSecret| {
        match &grace {
            Some(grace) => println!(
                "New webhook secret for partner {id}. Deliveries stay signed with the previous \
                 secret for {grace}, until {}; from then on with this one. Give the partner both \
                 now: its receiver must accept either until the switch.",
                table::time(&answer.switch_at)
            ),
            None => println!(
                "New webhook secret for partner {id}. The very next delivery is signed with it: \
                 the previous secret no longer verifies anything sent from now on."
            ),
        }
        print!(
            "{}",
            table::fields(&[
                ("webhook_secret_key", answer.webhook_secret_key),
                ("webhook_secret_standard", answer.webhook_secret_standard),
            ])
        );
    })?;
    warn_once(&["webhook_secret_key"]);
    Ok(())
}

async fn update(
    client: &OperatorClient,
    json: bool,
    id: &str,
    signature_scheme: &str,
) -> Result<(), CliError> {
    let answer = client
        .patch(
            &["partners", id],
            json!({ "signature_scheme": signature_scheme }),
        )
        .await?;
    emit(json, answer, |partner: PartnerView| {
        println!(
            "Partner {} ({}) now signs its deliveries with the scheme {}, from the next attempt on.",
            partner.id, partner.name, partner.signature_scheme
        );
    })
}

async fn set_enabled(
    client: &OperatorClient,
    json: bool,
    id: &str,
    enabled: bool,
) -> Result<(), CliError> {
    let action = if enabled { "enable" } else { "disable" };
    let answer = client.post(&["partners", id, action], None).await?;
    emit(json, answer, |partner: PartnerView| {
        let now = if partner.enabled {
            "enabled"
        } else {
            "disabled"
        };
        println!("Partner {} ({}) is now {now}.", partner.id, partner.name);
        if partner.enabled {
            println!("Order changes kept while it was disabled are delivered now, in order.");
        } else {
            println!(
                "Its API calls are refused (403 partner_disabled) and its webhooks paused; \
                 its order changes are kept and delivered in order once it is enabled."
            );
        }
    })
}

#[derive(Deserialize)]
struct RotatedSecret {
    secret_key: String,
}

#[derive(Deserialize)]
struct RotatedWebhookSecret {
    webhook_secret_key: String,
    webhook_secret_standard: String,
    switch_at: String,
}

/// Tells the operator, on stderr so `--json` output stays clean, that the secrets just
/// printed cannot be shown again.
fn warn_once(names: &[&str]) {
    let (what, it) = match names {
        [one] => ((*one).to_owned(), "it"),
        many => (many.join(" and "), "them"),
    };
    eprintln!(
        "warning: hookit keeps no readable copy of {what} and cannot show {it} again: store \
         {it} now (for example in your secret manager); if lost, rotate to get a new one."
    );
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}
