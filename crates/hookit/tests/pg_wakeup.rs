//! Waking up on PostgreSQL: idle dispatchers wait on `LISTEN/NOTIFY` instead of
//! polling, and still deliver new work from another process.
//!
//! Reads `HOOKIT_TEST_DATABASE_URL`; without it each test says it was skipped.

mod harness;

use harness::receiver::Receiver;
use hookit::credentials::MasterKey;
use hookit::dispatcher::{Dispatcher, DispatcherSettings};
use hookit::ids::IdKind;
use hookit::metrics::Metrics;
use hookit::store::postgres::{PostgresSettings, PostgresStore, drop_schema};
use hookit::store::*;
use klikit_webhook::{EventType, Order};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn database_url() -> Option<String> {
    match std::env::var("HOOKIT_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: PostgreSQL wake-up test; set HOOKIT_TEST_DATABASE_URL to run it");
            None
        }
    }
}

fn settings(url: &str, schema: &str) -> PostgresSettings {
    PostgresSettings {
        url: url.to_owned(),
        pool_size: 4,
        statement_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        schema: Some(schema.to_owned()),
    }
}

fn dispatcher_settings() -> DispatcherSettings {
    DispatcherSettings {
        tick: Duration::from_millis(100),
        batch: BatchLimits {
            max_orders: 50,
            max_bytes: 1 << 20,
        },
        attempt_timeout: Duration::from_secs(5),
        claim_lease: Duration::from_secs(30),
        retry_schedule: vec![Duration::from_millis(50)],
        workers: 8,
        per_host_concurrency: 4,
        slow_host_share: 0.5,
        allow_private_targets: true,
        endpoint_policy: Default::default(),
        extra_roots: Default::default(),
    }
}

fn audit() -> AuditEntry {
    AuditEntry {
        at: now_millis(),
        actor: "root".into(),
        action: "test".into(),
        target: "test".into(),
        details: serde_json::json!({}),
    }
}

/// How long the idle processes are watched.
const WATCHED: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_idle_processes_query_about_once_a_second_and_still_deliver() {
    let Some(url) = database_url() else {
        return;
    };
    let schema = format!("hookit_t_{}", &IdKind::Request.generate()[4..]);
    let key = Arc::new(MasterKey::generate());
    let mut stores = Vec::new();
    let mut dispatchers = Vec::new();
    for _ in 0..3 {
        let store = PostgresStore::open(&settings(&url, &schema))
            .await
            .expect("open");
        dispatchers.push(Dispatcher::start(
            Arc::new(store.clone()),
            Arc::clone(&key),
            Arc::new(Metrics::default()),
            dispatcher_settings(),
        ));
        stores.push(store);
    }
    // Let the listeners connect and the first rounds pass, then watch the idle three.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before: Vec<u64> = stores.iter().map(PostgresStore::transactions).collect();
    let started = Instant::now();
    tokio::time::sleep(WATCHED).await;
    let seconds = started.elapsed().as_secs_f64();
    let rates: Vec<f64> = stores
        .iter()
        .zip(&before)
        .map(|(store, before)| (store.transactions() - before) as f64 / seconds)
        .collect();
    eprintln!("idle transactions per second, per process: {rates:.2?}");
    for rate in &rates {
        // The claimer's fallback (1 s) and the batcher's (3 s) bound an idle process.
        assert!(*rate <= 1.0 + 1.0 / 3.0 + 0.25, "idle rate {rate:.2}/s");
    }

    // New work ingested through one process is delivered by the idle ones.
    let receiver = Receiver::start().await;
    let store = &stores[0];
    let partner = store
        .create_partner(
            NewPartner {
                id: IdKind::Partner.generate(),
                name: "A".into(),
                partner_key: format!("pk_{}", IdKind::Request.generate()),
                secret_hash: "sha256:00".into(),
                webhook_secret_encrypted: Vec::new(),
                signature_scheme: SignatureScheme::Klikit,
                now: now_millis(),
            },
            audit(),
        )
        .await
        .expect("partner");
    let partner_id = partner.id.clone();
    let secret = key.encrypt(b"whsk_test", partner_id.as_bytes());
    store
        .set_webhook_secret(
            &partner_id,
            WebhookSecretRotation {
                encrypted: secret,
                switch_at: None,
            },
            audit(),
        )
        .await
        .expect("secret");
    store
        .upsert_mapping(
            NewMapping {
                id: IdKind::Mapping.generate(),
                partner_id,
                brand_id: 1,
                branch_id: None,
                event_type: EventType::OrderCreated,
                url: receiver.url("/hook"),
            },
            audit(),
        )
        .await
        .expect("mapping");
    let order = Order::from_json_bytes(
        br#"{"id":9,"brands":[{"id":1,"title":"B"}],"branch_id":2,"status":1}"#,
    )
    .expect("order");
    let ingested = Instant::now();
    store
        .ingest(IngestRequest {
            items: vec![IngestItem {
                event_type: EventType::OrderCreated,
                order,
            }],
            idempotency: None,
            now: now_millis(),
            freshness_skew: Duration::from_secs(5),
        })
        .await
        .expect("ingest");
    let arrived = receiver.wait_for("/hook", 1, Duration::from_secs(20)).await;
    assert_eq!(arrived[0].order_ids(), [9]);
    eprintln!(
        "an idle process noticed and delivered new work {:?} after ingest",
        arrived[0].at.duration_since(ingested)
    );
    for dispatcher in dispatchers {
        dispatcher.shutdown().await;
    }
    drop(stores);
    drop_schema(&url, &schema).await.expect("drop schema");
}
