//! A PostgreSQL outage: `hookit serve` reaches its database through a TCP proxy that
//! the test pauses (every connection cut, new ones left unanswered) and resumes. While
//! the database is away, every API answers 503 `store_unavailable` with `Retry-After`
//! within 5 s, `/readyz` says not ready and `/healthz` stays up; afterwards nothing
//! acknowledged before the outage is lost and delivery resumes by itself.
//!
//! Needs `HOOKIT_TEST_DATABASE_URL`; without it the test says so and skips.

mod harness;

use harness::postgres::TestDatabase;
use harness::receiver::{Behaviour, Receiver};
use harness::tcp_proxy::TcpProxy;
use harness::{Serve, fast_env, partner_client};
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

const CREATED: &str = "klikit.order.created.v2";
const MASTER_KEY: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// The loopback address of the test database server.
fn database_address(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).expect("database URL");
    let host = url.host_str().expect("a host in HOOKIT_TEST_DATABASE_URL");
    (host, url.port().unwrap_or(5432))
        .to_socket_addrs()
        .expect("database address")
        .find(|address| address.ip().is_loopback())
        .expect("the test database listens on loopback")
}

/// Status, `Retry-After` and error code of one request, and how long it took.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Option<String>, String, Duration) {
    let started = Instant::now();
    let response = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the API answers while the database is away");
    let took = started.elapsed();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, retry_after, code, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_answers_503_and_delivery_resumes_by_itself() {
    let Some(database) = TestDatabase::create("outage").await else {
        return;
    };
    let proxy = TcpProxy::start(database_address(&database.url)).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    // `/later`'s deliveries must outlive the outage: retried every 500 ms for 50 s.
    env.retain(|(name, _)| *name != "HOOKIT_RETRY_SCHEDULE");
    env.extend([
        ("HOOKIT_RETRY_SCHEDULE", vec!["500ms"; 100].join(",")),
        ("HOOKIT_DATABASE_URL", database.url_via(proxy.address)),
        ("HOOKIT_MASTER_KEY", MASTER_KEY.to_owned()),
        ("HOOKIT_DATABASE_CONNECT_TIMEOUT", "1s".to_owned()),
        ("HOOKIT_DATABASE_STATEMENT_TIMEOUT", "1s".to_owned()),
    ]);
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    // `/later` refuses until after the outage, so its deliveries are pending
    // throughout; `/now` takes them as they come.
    receiver.set("/later", Behaviour::FailAll);
    let creds = partner_client::onboard(&serve, "outage").await;
    serve
        .map(&creds.id, 1, None, CREATED, &receiver.url("/now"))
        .await;
    serve
        .map(&creds.id, 2, None, CREATED, &receiver.url("/later"))
        .await;
    let mut acknowledged = HashSet::new();
    for id in 1..=40 {
        let brand = if id % 2 == 0 { 1 } else { 2 };
        let (status, body) = serve.ingest(CREATED, harness::order(id, brand, 7, 1)).await;
        assert_eq!(status, 202, "{body}");
        acknowledged.insert(id);
    }
    receiver
        .wait_for("/later", 1, Duration::from_secs(30))
        .await;

    proxy.pause();
    let client = reqwest::Client::new();
    let ingest = client
        .post(format!("{}/v1/ingest/orders", serve.base))
        .bearer_auth(harness::INGEST_TOKEN)
        .json(&serde_json::json!({ "event": CREATED, "order": harness::order(99, 1, 7, 1) }));
    let operator = client
        .get(format!("{}/v1/operator/partners", serve.base))
        .bearer_auth(harness::OPERATOR_TOKEN);
    let partner = client
        .get(format!("{}/v1/partner/orders/2", serve.base))
        .basic_auth(&creds.key, Some(&creds.secret));
    for (api, request) in [
        ("ingest", ingest),
        ("operator", operator),
        ("partner", partner),
    ] {
        let (status, retry_after, code, took) = answer(request).await;
        assert_eq!(
            (status, code.as_str()),
            (503, "store_unavailable"),
            "{api} API during the outage"
        );
        assert!(retry_after.is_some(), "{api}: 503 without Retry-After");
        assert!(
            took <= Duration::from_secs(5),
            "{api} answered after {took:?}"
        );
    }
    let ready = client
        .get(format!("{}/readyz", serve.base))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("/readyz answers");
    assert_ne!(ready.status().as_u16(), 200, "/readyz during the outage");
    let health = client
        .get(format!("{}/healthz", serve.base))
        .send()
        .await
        .expect("/healthz answers");
    assert_eq!(health.status().as_u16(), 200, "/healthz during the outage");

    proxy.resume();
    receiver.set("/later", Behaviour::Ok);
    // A push after the outage is accepted again (the pool reconnects by itself).
    let (status, body) = harness::eventually_async(Duration::from_secs(30), || async {
        let (status, body) = serve.ingest(CREATED, harness::order(100, 1, 7, 1)).await;
        (status == 202).then_some((status, body))
    })
    .await;
    assert_eq!(status, 202, "{body}");
    acknowledged.insert(100);
    harness::eventually(
        Duration::from_secs(60),
        "every acknowledged order delivered after the outage",
        || {
            let delivered: HashSet<i64> = receiver
                .received()
                .iter()
                .filter(|r| r.answered == 200)
                .flat_map(|r| r.order_ids())
                .collect();
            acknowledged.is_subset(&delivered).then_some(())
        },
    )
    .await;
    drop(serve);
    database.drop_now().await;
}
