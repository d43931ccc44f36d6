//! End to end, when things go wrong: crashes, hanging receivers, private targets,
//! retried pushes, and shutdown.

mod harness;

use harness::receiver::{Behaviour, Receiver};
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_the_middle_of_ingest_loses_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start().await;
    let serve = Serve::start(dir.path(), &fast_env());
    let (partner, _, _) = serve.create_partner("Acme").await;
    for branch in 1..=4 {
        serve
            .map(
                &partner,
                1,
                Some(branch),
                CREATED,
                &receiver.url(&format!("/b{branch}")),
            )
            .await;
    }
    // Push batches back to back from two clients and kill the server once a few
    // were acknowledged, so the kill lands in the middle of ingest (and of delivery).
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut pushers = Vec::new();
    for lane in 0..2i64 {
        let base = serve.base.clone();
        let acknowledged = std::sync::Arc::clone(&acknowledged);
        pushers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for batch in 0..40i64 {
                let first = (lane * 40 + batch) * 1000;
                let ids: Vec<i64> = (first + 1..=first + 100).collect();
                let items: Vec<_> = ids
                    .iter()
                    .map(|&id| json!({ "event": CREATED, "order": order(id, 1, 1 + id % 4, 1) }))
                    .collect();
                let response = client
                    .post(format!("{base}/v1/ingest/orders/batch"))
                    .bearer_auth(harness::INGEST_TOKEN)
                    .json(&json!({ "items": items }))
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().as_u16() == 202 => {
                        acknowledged.lock().expect("lock").extend(ids);
                    }
                    _ => return,
                }
            }
        }));
    }
    harness::eventually(Duration::from_secs(30), "a few acknowledged pushes", || {
        (acknowledged.lock().expect("lock").len() >= 1000).then_some(())
    })
    .await;
    serve.kill();
    for pusher in pushers {
        let _ = pusher.await;
    }
    let acknowledged: HashSet<i64> = acknowledged.lock().expect("lock").iter().copied().collect();
    assert!(
        !acknowledged.is_empty(),
        "some pushes were acknowledged before the kill"
    );

    let serve = Serve::start(dir.path(), &fast_env());
    let delivered = harness::eventually(
        Duration::from_secs(60),
        "every acknowledged order delivered",
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
    // Settle first: once every change is formed (the barrier) and no delivery is
    // pending, no new delivery can appear, so the check below sees every event id.
    serve.barrier(&receiver).await;
    harness::eventually_async(Duration::from_secs(30), || async {
        let (_, list) = serve
            .call(
                Method::GET,
                "/v1/operator/deliveries?state=pending",
                Some(harness::OPERATOR_TOKEN),
                None,
            )
            .await;
        (list["data"]["deliveries"] == json!([])).then_some(())
    })
    .await;
    // A duplicate is only ever a re-send of the same delivery: one order, one event id.
    let mut event_of_order: HashMap<i64, String> = HashMap::new();
    for request in receiver.received() {
        for id in request.order_ids() {
            let first = event_of_order
                .entry(id)
                .or_insert_with(|| request.event_id().to_owned());
            assert_eq!(
                first,
                request.event_id(),
                "order {id} arrived under two event ids"
            );
        }
    }
    drop(serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_receiver_does_not_slow_another_partner() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_ATTEMPT_TIMEOUT", "5s".into()));
    env.push(("HOOKIT_CLAIM_LEASE", "10s".into()));
    env.push(("HOOKIT_WORKERS", "32".into()));
    env.push(("HOOKIT_PER_URL_CONCURRENCY", "4".into()));
    env.push(("HOOKIT_MAX_BATCH_ORDERS", "1".into()));
    let serve = Serve::start(dir.path(), &env);
    let slow = Receiver::start().await;
    let fast = Receiver::start().await;
    slow.set("/hang", Behaviour::Hang);
    let (hung, _, _) = serve.create_partner("Hung").await;
    let (healthy, _, _) = serve.create_partner("Healthy").await;
    for branch in 1..=20 {
        serve
            .map(&hung, 1, Some(branch), CREATED, &slow.url("/hang"))
            .await;
    }
    serve
        .map(&healthy, 2, None, CREATED, &fast.url("/ok"))
        .await;
    let items: Vec<_> = (1..=200i64)
        .map(|id| json!({ "event": CREATED, "order": order(id, 1, 1 + id % 20, 1) }))
        .collect();
    assert_eq!(serve.ingest_batch(items).await.0, 202);
    slow.wait_for("/hang", 4, Duration::from_secs(10)).await;

    let started = Instant::now();
    let items: Vec<_> = (1001..=1050i64)
        .map(|id| json!({ "event": CREATED, "order": order(id, 2, 7, 1) }))
        .collect();
    assert_eq!(serve.ingest_batch(items).await.0, 202);
    fast.wait_for("/ok", 50, Duration::from_secs(4)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the healthy partner's 50 deliveries waited behind the hanging one"
    );
    assert!(
        slow.on("/hang").len() <= 4,
        "the hanging host never holds more than its share"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn private_targets_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start().await;
    let strict = || {
        let mut env = fast_env();
        env.retain(|(name, _)| *name != "HOOKIT_ALLOW_PRIVATE_TARGETS");
        env
    };
    // Allowed: a loopback receiver gets its webhook.
    let serve = Serve::start(dir.path(), &fast_env());
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, CREATED, &receiver.url("/h"))
        .await;
    serve.ingest(CREATED, order(31, 1, 2, 1)).await;
    receiver.wait_for("/h", 1, Duration::from_secs(10)).await;
    serve.terminate();

    // Not allowed (the default): a new loopback mapping is refused outright...
    let serve = Serve::start(dir.path(), &strict());
    let (status, body) = serve
        .operator(
            Method::PUT,
            &format!("/partners/{partner}/mappings"),
            Some(json!({ "brand_id": 9, "event_type": CREATED, "url": receiver.url("/other") })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "url");
    // ...and one mapped while it was allowed is refused when connecting, with the
    // reason in the attempt record.
    serve.ingest(CREATED, order(30, 1, 2, 1)).await;
    let list = harness::eventually_async(Duration::from_secs(10), || async {
        let (_, list) = serve
            .operator(Method::GET, "/deliveries?limit=1", None)
            .await;
        let newest = &list["data"]["deliveries"][0];
        (newest["order_ids"] == json!([30]) && newest["attempt_count"].as_u64().unwrap_or(0) > 0)
            .then_some(list)
    })
    .await;
    let event_id = list["data"]["deliveries"][0]["event_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let delivery = serve.delivery(&event_id).await;
    let attempt = &delivery["attempts"][0];
    assert_eq!(attempt["error_kind"], "target_refused", "{delivery}");
    assert!(
        attempt["error"]
            .as_str()
            .expect("error")
            .contains("HOOKIT_ALLOW_PRIVATE_TARGETS"),
        "{attempt}"
    );
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing reached the loopback receiver"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_push_and_a_stale_push_write_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, STATUS, &receiver.url("/h"))
        .await;
    let push = |key: &'static str, status: i64| {
        let base = serve.base.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/v1/ingest/orders"))
                .bearer_auth(harness::INGEST_TOKEN)
                .header("Idempotency-Key", key)
                .json(&json!({ "event": STATUS, "order": order(40, 1, 2, status) }))
                .send()
                .await
                .expect("push");
            let code = response.status().as_u16();
            (
                code,
                response.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let (first_status, first) = push("k-1", 2).await;
    assert_eq!(first_status, 202);
    assert_eq!(first["data"]["idempotent_replay"], false);
    let (again_status, again) = push("k-1", 2).await;
    assert_eq!(again_status, 202);
    assert_eq!(again["data"]["idempotent_replay"], true);
    assert_eq!(again["data"]["version"], first["data"]["version"]);
    let (mismatch, body) = push("k-1", 4).await;
    assert_eq!(mismatch, 422, "{body}");

    // updated_at of status 1 is earlier than that of status 2: a late push.
    let (status, stale) = serve.ingest(STATUS, order(40, 1, 2, 1)).await;
    assert_eq!(status, 202);
    assert_eq!(stale["data"]["result"], "ignored_stale");
    assert_eq!(stale["data"]["version"], 1);
    let got = receiver.wait_for("/h", 1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["orders"][0]["status"], 2);
    // Counted where deliveries are formed: once the barrier is delivered, every change
    // pushed before it has been batched, so a second stored change would show here.
    serve.barrier(&receiver).await;
    let (_, list) = serve
        .call(
            Method::GET,
            "/v1/operator/deliveries?order_id=40",
            Some(harness::OPERATOR_TOKEN),
            None,
        )
        .await;
    let formed = list["data"]["deliveries"].as_array().expect("deliveries");
    assert_eq!(
        formed.len(),
        1,
        "one delivery for one accepted change: {list}"
    );
    serve
        .wait_delivery(got[0].event_id(), Duration::from_secs(10), |d| {
            d["state"] == "delivered"
        })
        .await;
    assert_eq!(receiver.on("/h").len(), 1, "and it was sent once");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_and_health_endpoints_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let (status, body) = serve.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body["status"].clone()), (200, json!("ok")));
    let (status, body) = serve.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dispatcher"], "running");
    let log = serve.log_text();
    assert!(
        !log.contains(harness::OPERATOR_TOKEN),
        "tokens never reach the log"
    );
    let exit = serve.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(
        !dir.path().join("hookit.db-wal").exists(),
        "a clean stop checkpoints and removes the WAL"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_tokens_are_written_owner_only_and_not_logged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start_without_tokens(dir.path(), &fast_env());
    for name in ["operator-token", "ingest-token", "master-key"] {
        let path = dir.path().join(name);
        let mode = std::fs::metadata(&path)
            .expect("token file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let token = std::fs::read_to_string(&path).expect("read");
        assert!(
            !serve.log_text().contains(token.trim()),
            "{name} value was logged"
        );
    }
    assert!(
        serve.log_text().contains("operator-token"),
        "the log says where the token is"
    );
    let token = std::fs::read_to_string(dir.path().join("operator-token")).expect("read");
    let (status, _) = serve
        .call(
            Method::GET,
            "/v1/operator/partners",
            Some(token.trim()),
            None,
        )
        .await;
    assert_eq!(status, 200);
}
