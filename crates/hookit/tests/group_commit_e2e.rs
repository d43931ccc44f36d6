//! End to end, group commit: concurrent single-change requests share commits, and a
//! `kill -9` in the middle of them loses nothing that was acknowledged.

mod harness;

use harness::receiver::Receiver;
use harness::{Serve, fast_env, order};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const CLIENTS: i64 = 32;

/// Posts single changes from `CLIENTS` keep-alive clients, `per_client` each (order ids
/// `client * 100_000 + n`), until done or a request fails; returns the acknowledged ids.
async fn push_singles(base: &str, per_client: i64, acknowledged: &Arc<Mutex<Vec<i64>>>) {
    let mut pushers = Vec::new();
    for client in 0..CLIENTS {
        let base = base.to_owned();
        let acknowledged = Arc::clone(acknowledged);
        pushers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 1..=per_client {
                let id = client * 100_000 + n;
                let response = http
                    .post(format!("{base}/v1/ingest/orders"))
                    .bearer_auth(harness::INGEST_TOKEN)
                    .json(&json!({ "event": CREATED, "order": order(id, 1, 1 + id % 100, 1) }))
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().as_u16() == 202 => {
                        acknowledged.lock().expect("lock").push(id);
                    }
                    _ => return,
                }
            }
        }));
    }
    for pusher in pushers {
        let _ = pusher.await;
    }
}

async fn commits(serve: &Serve) -> u64 {
    let text = serve.metrics_text().await;
    text.lines()
        .find_map(|line| line.strip_prefix("hookit_store_commits_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no hookit_store_commits_total in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_single_changes_share_commits() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    // A slow tick keeps the dispatcher's own commits few, so the count is ingest's.
    env.push(("HOOKIT_TICK", "5s".into()));
    let serve = Serve::start(dir.path(), &env);
    let before = commits(&serve).await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    push_singles(&serve.base, 20, &acknowledged).await;
    let requests = acknowledged.lock().expect("lock").len() as u64;
    assert_eq!(
        requests,
        (CLIENTS * 20) as u64,
        "every request acknowledged"
    );
    let made = commits(&serve).await - before;
    // One commit per request would be 640 (plus a few of the dispatcher's ticks).
    assert!(
        made < requests / 2,
        "{requests} concurrent requests took {made} commits"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_among_concurrent_single_changes_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start().await;
    let mut env = fast_env();
    env.push(("HOOKIT_MAX_BATCH_ORDERS", "1".into()));
    let serve = Serve::start(dir.path(), &env);
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, CREATED, &receiver.url("/all"))
        .await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let pushing = {
        let (base, acknowledged) = (serve.base.clone(), Arc::clone(&acknowledged));
        tokio::spawn(async move { push_singles(&base, 1_000, &acknowledged).await })
    };
    harness::eventually(Duration::from_secs(60), "some acknowledged pushes", || {
        (acknowledged.lock().expect("lock").len() >= 400).then_some(())
    })
    .await;
    serve.kill();
    pushing
        .await
        .expect("pushers end at the first refused request");
    let acknowledged: HashSet<i64> = acknowledged.lock().expect("lock").iter().copied().collect();
    assert!(
        acknowledged.len() < (CLIENTS * 1_000) as usize,
        "the kill landed before the pushes ended"
    );

    let serve = Serve::start(dir.path(), &env);
    let delivered = harness::eventually(
        Duration::from_secs(120),
        "every acknowledged change delivered after the restart",
        || {
            let ids: HashSet<i64> = receiver
                .received()
                .iter()
                .flat_map(|r| r.order_ids())
                .collect();
            acknowledged.is_subset(&ids).then_some(ids)
        },
    )
    .await;
    assert!(delivered.is_superset(&acknowledged));
    drop(serve);
}
