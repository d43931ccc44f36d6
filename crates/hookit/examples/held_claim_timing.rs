//! Times claims while many deliveries wait on a disabled endpoint (BENCHMARKS.md,
//! "Claims beside a disabled endpoint").
//!
//! One partner's endpoint answers 410 and is disabled with `WAITING` deliveries (one
//! order each) pending on it; another partner has `LIVE` due deliveries on a healthy
//! endpoint. The program then claims the healthy ones 32 at a time, acknowledging each
//! claim's deliveries, and prints how long each claim took: the first separately (it is
//! the one that meets the waiting deliveries first), then the median and the slowest
//! of the others.
//!
//! ```text
//! cargo run -p hookit --example held_claim_timing -- sqlite [WAITING]
//! cargo run -p hookit --example held_claim_timing -- postgres://…/hookit_bench [WAITING]
//! ```

use hookit::ids::IdKind;
use hookit::store::postgres::{PostgresSettings, PostgresStore, drop_schema};
use hookit::store::sqlite::SqliteStore;
use hookit::store::*;
use klikit_webhook::{EventType, Order};
use std::time::{Duration, Instant};

const T0: Millis = 1_800_000_000_000;
const LIVE: i64 = 3_200;
const ONE_PER_DELIVERY: BatchLimits = BatchLimits {
    max_orders: 1,
    max_bytes: 1 << 20,
};

fn audit(action: &str) -> AuditEntry {
    AuditEntry {
        at: T0,
        actor: "root".into(),
        action: action.into(),
        target: "timing".into(),
        details: serde_json::json!({}),
    }
}

fn order(id: i64, brand: i64) -> Result<Order, Box<dyn std::error::Error>> {
    let text = format!(
        r#"{{"id":{id},"brands":[{{"id":{brand},"title":"Bali Bites"}}],"branch_id":{branch},"status":1,"cart":[{{"id":1,"name":"Nasi","quantity":1,"price":"12.50"}}],"total":12.50,"updated_at":"2027-01-15T08:00:00Z"}}"#,
        branch = id % 50
    );
    Ok(Order::from_json_bytes(text.as_bytes())?)
}

async fn mapped_partner(
    store: &dyn Store,
    name: &str,
    brand: i64,
    url: &str,
) -> StoreResult<Partner> {
    let partner = store
        .create_partner(
            NewPartner {
                id: IdKind::Partner.generate(),
                name: name.into(),
                partner_key: format!("pk_{}", IdKind::Request.generate()),
                secret_hash: "sha256:00".into(),
                webhook_secret_encrypted: vec![1, 2, 3],
                signature_scheme: SignatureScheme::Klikit,
                now: T0,
            },
            audit("partner.created"),
        )
        .await?;
    store
        .upsert_mapping(
            NewMapping {
                id: IdKind::Mapping.generate(),
                partner_id: partner.id.clone(),
                brand_id: brand,
                branch_id: None,
                event_type: EventType::OrderCreated,
                url: url.into(),
            },
            audit("mapping.upserted"),
        )
        .await?;
    Ok(partner)
}

/// Ingests orders `first..first + count` of `brand` and forms one delivery per order.
async fn pending(
    store: &dyn Store,
    first: i64,
    count: i64,
    brand: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut id = first;
    while id < first + count {
        let last = (id + 1_000).min(first + count);
        let items = (id..last)
            .map(|id| {
                Ok(IngestItem {
                    event_type: EventType::OrderCreated,
                    order: order(id, brand)?,
                })
            })
            .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
        store
            .ingest(IngestRequest {
                items,
                idempotency: None,
                now: T0,
                freshness_skew: Duration::from_secs(5),
            })
            .await?;
        id = last;
    }
    store.form_deliveries(ONE_PER_DELIVERY, T0).await?;
    Ok(())
}

fn claim_request(now: Millis, limit: usize) -> ClaimRequest {
    ClaimRequest {
        now,
        lease: Duration::from_secs(30),
        limit,
        saturated_urls: vec![],
        saturated_hosts: vec![],
        only_hosts: None,
        accept: Box::new(|_| true),
    }
}

fn outcome(delivery: &ClaimedDelivery, result: AttemptResult, at: Millis) -> AttemptOutcome {
    AttemptOutcome {
        event_id: delivery.event_id.clone(),
        lease_token: delivery.lease_token.clone(),
        partner_id: delivery.partner_id.clone(),
        probe: delivery.probe,
        attempt_number: delivery.attempt_number,
        url: delivery.url.clone(),
        started_at: at,
        duration_ms: 3,
        result,
        response_excerpt: None,
        retry_at: Some(at + 1_000),
        finished_at: at,
    }
}

async fn run(store: &dyn Store, waiting: i64) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    if waiting > 0 {
        disabled_with(store, waiting).await?;
    }
    mapped_partner(store, "Live", 2, "https://live.example/hook").await?;
    pending(store, 10_000_000, LIVE, 2).await?;
    eprintln!(
        "{waiting} waiting on a disabled endpoint, {LIVE} due on a healthy one ({:.1} s to set up)",
        started.elapsed().as_secs_f64()
    );
    let now = T0 + 3_600_000;
    let mut times = Vec::new();
    loop {
        let clock = Instant::now();
        let claimed = store.claim_due(claim_request(now, 32)).await?;
        times.push(clock.elapsed());
        if claimed.is_empty() {
            break;
        }
        assert!(claimed.iter().all(|d| d.url.starts_with("https://live.")));
        let acks = claimed
            .iter()
            .map(|d| outcome(d, AttemptResult::Acknowledged { status: 200 }, now))
            .collect();
        store.record_outcomes(acks).await?;
    }
    let first = times.remove(0);
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    let at = |q: usize| ms(times[(times.len() - 1) * q / 100]);
    println!(
        "first claim {:.1} ms; next {} claims: median {:.2} ms, p90 {:.2} ms, slowest {:.2} ms",
        ms(first),
        times.len(),
        at(50),
        at(90),
        at(100)
    );
    Ok(())
}

/// A partner whose endpoint was disabled (one attempt answered 410) with `waiting`
/// deliveries pending on it.
async fn disabled_with(store: &dyn Store, waiting: i64) -> Result<(), Box<dyn std::error::Error>> {
    mapped_partner(store, "Gone", 1, "https://gone.example/hook").await?;
    pending(store, 1, waiting, 1).await?;
    let first = store.claim_due(claim_request(T0, 1)).await?;
    let gone = AttemptResult::Failed {
        status: Some(410),
        error_kind: "http_status".into(),
        error: "HTTP 410".into(),
        retry_after: None,
    };
    let outcomes: Vec<_> = first.iter().map(|d| outcome(d, gone.clone(), T0)).collect();
    store.record_outcomes(outcomes.clone()).await?;
    let transitions = store
        .record_endpoint_health(outcomes, EndpointPolicy::default())
        .await?;
    assert_eq!(transitions.len(), 1, "the endpoint is disabled");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let waiting: i64 = args.next().map_or(Ok(100_000), |n| n.parse())?;
    if backend == "sqlite" {
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(&dir.path().join("hookit.db"))?;
        return run(&store, waiting).await;
    }
    let schema = format!("hookit_bench_held_{}", &IdKind::Request.generate()[4..]);
    let store = PostgresStore::open(&PostgresSettings {
        url: backend.clone(),
        pool_size: 4,
        statement_timeout: Duration::from_secs(120),
        connect_timeout: Duration::from_secs(10),
        schema: Some(schema.clone()),
    })
    .await?;
    let result = run(&store, waiting).await;
    drop(store);
    drop_schema(&backend, &schema).await?;
    result
}
