//! Plays the planned stream into hookit round by round, as klikit's order platform
//! (ingest API) and the partner's POS (partner API) would, and remembers when each
//! order change was pushed and which version hookit gave it.
//!
//! Rounds are paced ([`ROUND`]), and one order changes at most once per round, so the
//! changes of an order are pushed strictly one after another with increasing
//! `updated_at` — as a real platform's would be.

use super::client::{Client, DemoError, PartnerKeys};
use super::plan::{Action, Plan};
use indicatif::ProgressBar;
use klikit_webhook::EventType;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The pace of the stream.
pub const ROUND: Duration = Duration::from_millis(50);
/// From this round on, the first push is sent twice under one idempotency key, as a
/// platform retrying after a lost answer would.
const RESEND_ROUND: usize = 10;
/// The most changes in one push, well inside the ingest API's item and body limits.
const MAX_PUSH_ITEMS: usize = 200;

/// One pushed order change hookit stored: its event type and when it was pushed.
#[derive(Debug, Clone, Copy)]
pub struct Pushed {
    pub event: EventType,
    pub at: Instant,
}

/// What the driver did.
#[derive(Debug, Default)]
pub struct Driven {
    /// Every stored change by (order id, version): what the receiver must get.
    pub changes: HashMap<(i64, i64), Pushed>,
    pub via_ingest: u64,
    pub via_partner: u64,
    pub single_pushes: u64,
    pub batch_pushes: u64,
    pub late_pushes: u64,
    pub late_pushes_ignored: u64,
    pub resends: u64,
    pub resends_answered_identically: u64,
}

/// One ingest item waiting for its push, and whether it is a deliberate late push.
struct Item {
    body: Value,
    event: EventType,
    late: bool,
}

/// Pushes the whole plan; `pushed` advances by one per stored change.
pub async fn drive(
    client: &Client,
    keys: &PartnerKeys,
    mut plan: Plan,
    seed: u64,
    pushed: &ProgressBar,
) -> Result<Driven, DemoError> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    let mut driven = Driven::default();
    let mut pace = tokio::time::interval(ROUND);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rounds = std::mem::take(&mut plan.rounds);
    for (round, steps) in rounds.into_iter().enumerate() {
        pace.tick().await;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut items = Vec::new();
        let mut partner_calls = tokio::task::JoinSet::new();
        for (index, action) in steps {
            let order = &mut plan.orders[index];
            let (event, late) = match action {
                Action::Place => (EventType::OrderCreated, false),
                Action::Status { code, reason } => {
                    order.status = code;
                    order.reason_code = reason;
                    (EventType::OrderStatusUpdated, false)
                }
                Action::EditCart => {
                    order.edit_cart(&mut rng);
                    (EventType::OrderCartUpdated, false)
                }
                Action::LatePush => (EventType::OrderStatusUpdated, true),
                Action::Partner {
                    status,
                    reason,
                    code,
                } => {
                    order.status = code;
                    order.reason_code = reason;
                    let mut body = json!({ "status": status });
                    if let Some(reason) = reason {
                        body["reason_code"] = json!(reason);
                    }
                    let key = format!("demo-{seed}-{}-{status}", order.id);
                    let (client, keys, id) = (client.clone(), keys.clone(), order.id);
                    partner_calls.spawn(async move {
                        let at = Instant::now();
                        let record = client.partner_status(&keys, id, &body, &key).await?;
                        let version = record["version"].as_i64().ok_or_else(|| {
                            format!("PATCH of order {id} answered a record without a version")
                        })?;
                        Ok::<_, DemoError>((id, version, at))
                    });
                    continue;
                }
            };
            let record = match (late, &order.first_record) {
                (true, Some(first)) => first.clone(),
                _ => order.record(&now),
            };
            let body = json!({ "event": event.as_str(), "order": record });
            items.push(Item { body, event, late });
        }
        for (chunk, items) in items.chunks(MAX_PUSH_ITEMS).enumerate() {
            let key = format!("demo-{seed}-round-{round}-{chunk}");
            let resend = round >= RESEND_ROUND && driven.resends == 0 && chunk == 0;
            push(client, items, &key, resend, &mut driven).await?;
            pushed.inc(items.iter().filter(|item| !item.late).count() as u64);
        }
        while let Some(joined) = partner_calls.join_next().await {
            let (id, version, at) =
                joined.map_err(|err| format!("a partner API call panicked: {err}"))??;
            let event = EventType::OrderStatusUpdated;
            driven.changes.insert((id, version), Pushed { event, at });
            driven.via_partner += 1;
            pushed.inc(1);
        }
    }
    Ok(driven)
}

/// Pushes some of a round's items under one idempotency key: alone through
/// `/v1/ingest/orders`, several through `/v1/ingest/orders/batch` (twice, when
/// `resend`, to show that a retried push is answered the same and stored once).
async fn push(
    client: &Client,
    items: &[Item],
    key: &str,
    resend: bool,
    driven: &mut Driven,
) -> Result<(), DemoError> {
    let at = Instant::now();
    let results = if let [item] = items {
        driven.single_pushes += 1;
        let mut data = client.ingest("/v1/ingest/orders", &item.body, key).await?;
        if resend {
            driven.resends += 1;
            let mut again = client.ingest("/v1/ingest/orders", &item.body, key).await?;
            let replayed = again["idempotent_replay"].take() == json!(true);
            let first = data["idempotent_replay"].take();
            if replayed && again == data {
                driven.resends_answered_identically += 1;
            }
            data["idempotent_replay"] = first;
        }
        vec![data]
    } else {
        driven.batch_pushes += 1;
        let body = json!({ "items": items.iter().map(|item| &item.body).collect::<Vec<_>>() });
        let data = client.ingest("/v1/ingest/orders/batch", &body, key).await?;
        if resend {
            driven.resends += 1;
            let again = client.ingest("/v1/ingest/orders/batch", &body, key).await?;
            if again["idempotent_replay"] == json!(true) && again["results"] == data["results"] {
                driven.resends_answered_identically += 1;
            }
        }
        data["results"].as_array().cloned().unwrap_or_default()
    };
    if results.len() != items.len() {
        return Err(format!(
            "ingest answered {} results for {} pushed changes",
            results.len(),
            items.len()
        )
        .into());
    }
    for (item, result) in items.iter().zip(&results) {
        let stored = result["result"] == json!("stored");
        let id = result["order_id"].as_i64().unwrap_or_default();
        if item.late {
            driven.late_pushes += 1;
            driven.late_pushes_ignored += u64::from(!stored);
            continue;
        }
        if !stored {
            return Err(format!(
                "hookit did not store a change of order {id} that was newer than the last \
                 (answer: {result}); the demo pushes increasing updated_at"
            )
            .into());
        }
        let version = result["version"]
            .as_i64()
            .ok_or_else(|| format!("ingest answered a result without a version: {result}"))?;
        driven.via_ingest += 1;
        let event = item.event;
        driven.changes.insert((id, version), Pushed { event, at });
    }
    Ok(())
}
