//! End to end: a real `hookit serve` delivering to a real receiver over loopback.

mod harness;

use harness::receiver::{Behaviour, Receiver};
use harness::{Serve, fast_env, order};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread")]
async fn an_ingested_order_arrives_signed_as_the_contract_says() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (partner, secret, created) = serve.create_partner("Acme POS").await;
    assert!(
        created["partner_key"]
            .as_str()
            .expect("key")
            .starts_with("pk_")
    );
    assert!(
        created["secret_key"]
            .as_str()
            .expect("secret")
            .starts_with("sk_")
    );
    assert!(secret.starts_with("whsk_"));
    serve
        .map(&partner, 663, Some(1062), CREATED, &receiver.url("/hooks"))
        .await;

    // Built as text: money must arrive and leave as the exact JSON number 12.50.
    let record = order(7585307, 663, 1062, 1).to_string();
    let record = format!("{},\"total\":12.50}}", &record[..record.len() - 1]);
    let (status, answer) = serve
        .ingest_raw(format!(r#"{{"event":"{CREATED}","order":{record}}}"#))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["data"]["version"], 1);
    assert_eq!(answer["data"]["routed_to"], 1);

    let got = receiver.wait_for("/hooks", 1, WAIT).await;
    let request = &got[0];
    klikit_webhook::verify(
        secret.as_bytes(),
        &request.body,
        Some(request.header("x-klikit-signature")),
    )
    .expect("signature verifies with the partner's webhook secret");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("x-klikit-event-type"), CREATED);
    assert!(
        request.event_id().starts_with("evt_"),
        "{}",
        request.event_id()
    );
    assert_eq!(request.header("x-klikit-delivery-attempt"), "1");
    assert!(request.header("user-agent").starts_with("hookit/"));
    assert!(
        request.header("authorization").is_empty(),
        "webhooks carry no Basic auth"
    );
    let body = request.json();
    assert_eq!(body["brand_id"], 663);
    assert_eq!(body["branch_id"], 1062);
    let record = &body["orders"][0];
    assert_eq!(record["id"], 7585307);
    assert_eq!(record["version"], 1);
    assert_eq!(
        record["payment_status"], 1,
        "nested payment is written flat"
    );
    assert_eq!(record["payment_method"], 14);
    assert!(record.get("payment").is_none());
    assert_eq!(record["currency"], "IDR", "unknown fields travel unchanged");
    let text = String::from_utf8(request.body.clone()).expect("utf8");
    assert!(
        text.contains(r#""total":12.50"#),
        "money keeps its exact text: {text}"
    );
    let envelope =
        klikit_webhook::Envelope::from_json_bytes(&request.body).expect("the crate parses it");
    assert_eq!(envelope.orders.len(), 1);

    let delivery = serve
        .wait_delivery(request.event_id(), WAIT, |d| d["state"] == "delivered")
        .await;
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    assert_eq!(
        delivery["body"].as_str().expect("body"),
        text,
        "stored bytes are the sent bytes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_of_one_tick_share_a_delivery_and_one_order_keeps_its_order() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_TICK", "300ms".into()));
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, CREATED, &receiver.url("/created"))
        .await;
    serve
        .map(&partner, 1, None, STATUS, &receiver.url("/status"))
        .await;

    let (status, _) = serve
        .ingest_batch(vec![
            json!({ "event": CREATED, "order": order(1, 1, 5, 1) }),
            json!({ "event": CREATED, "order": order(2, 1, 5, 1) }),
            json!({ "event": STATUS, "order": order(1, 1, 5, 2) }),
        ])
        .await;
    assert_eq!(status, 202);
    let created = receiver.wait_for("/created", 1, WAIT).await;
    assert_eq!(created[0].order_ids(), [1, 2]);
    let updated = receiver.wait_for("/status", 1, WAIT).await;
    assert_eq!(updated[0].order_ids(), [1]);
    assert_eq!(updated[0].json()["orders"][0]["version"], 2);
    // Counted where they are formed, not where they land: a second delivery of the
    // creations, formed in the same tick, could still be in flight to the receiver.
    serve
        .wait_delivery(updated[0].event_id(), WAIT, |d| d["state"] == "delivered")
        .await;
    let (_, list) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={partner}&event_type={CREATED}"),
            None,
        )
        .await;
    let formed = list["data"]["deliveries"].as_array().expect("deliveries");
    assert_eq!(formed.len(), 1, "one delivery for both new orders: {list}");
    assert_eq!(formed[0]["order_ids"], json!([1, 2]));
    assert!(
        updated[0].at > created[0].at,
        "the status update follows the creation"
    );
    assert_ne!(updated[0].event_id(), created[0].event_id());
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_receiver_sees_retries_then_dead_then_replay_with_one_event_id() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/down", Behaviour::FailAll);
    let (partner, secret, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, Some(2), CREATED, &receiver.url("/down"))
        .await;
    serve.ingest(CREATED, order(10, 1, 2, 1)).await;

    let attempts = receiver.wait_for("/down", 3, WAIT).await;
    let event_id = attempts[0].event_id().to_owned();
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(
            attempt.event_id(),
            event_id,
            "every retry carries the same event id"
        );
        assert_eq!(
            attempt.body, attempts[0].body,
            "every retry carries the same bytes"
        );
        assert_eq!(
            attempt.header("x-klikit-delivery-attempt"),
            (n + 1).to_string()
        );
    }
    let dead = serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "dead")
        .await;
    assert_eq!(dead["dead_reason"], "retries_exhausted");
    assert_eq!(
        dead["attempts"].as_array().expect("attempts").len(),
        3,
        "1 + a retry per schedule entry"
    );
    assert_eq!(dead["attempts"][0]["status_code"], 500);
    // The operator is told, with whose delivery and where it went (written before the
    // outcome is recorded; the log reader may lag behind the process a little).
    let line = harness::eventually(WAIT, "the dead delivery's warning", || {
        serve
            .log_text()
            .lines()
            .find(|line| line.contains("delivery is dead") && line.contains(&event_id))
            .map(str::to_owned)
    })
    .await;
    let log = serve.log_text();
    assert!(
        line.contains("WARN") && line.contains(&partner) && line.contains("/down"),
        "{line}"
    );
    let settings = log
        .lines()
        .find(|line| line.contains("dispatcher settings"))
        .unwrap_or_else(|| panic!("no start-up settings in:\n{log}"));
    assert!(settings.contains("retry_schedule="), "{settings}");
    assert!(settings.contains("tick="), "{settings}");

    receiver.set("/down", Behaviour::Ok);
    let (status, body) = serve
        .operator(
            Method::POST,
            &format!("/deliveries/{event_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let all = receiver.wait_for("/down", 4, WAIT).await;
    assert_eq!(all[3].event_id(), event_id, "replay keeps the event id");
    assert_eq!(all[3].body, attempts[0].body, "replay keeps the bytes");
    klikit_webhook::verify(
        secret.as_bytes(),
        &all[3].body,
        Some(all[3].header("x-klikit-signature")),
    )
    .expect("signed");
    let delivered = serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    // Once delivered nothing more is sent, so the receiver's count is final: a dead
    // delivery attempted again before the replay, or a duplicate of any attempt, shows
    // here as a fifth request or an attempt number out of line.
    let sent = receiver.on("/down");
    let numbers: Vec<&str> = sent
        .iter()
        .map(|r| r.header("x-klikit-delivery-attempt"))
        .collect();
    assert_eq!(
        numbers,
        ["1", "2", "3", "4"],
        "dead is final until replayed"
    );
    assert_eq!(
        delivered["attempts"].as_array().expect("attempts").len(),
        4,
        "every request is one recorded attempt: {delivered}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_webhook_secret_signs_the_next_attempt() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_RETRY_SCHEDULE", "1500ms,1500ms".into()));
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    receiver.set("/h", Behaviour::FailFirst(1));
    let (partner, old_secret, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, CREATED, &receiver.url("/h"))
        .await;
    serve.ingest(CREATED, order(11, 1, 2, 1)).await;
    let first = receiver.wait_for("/h", 1, WAIT).await;
    klikit_webhook::verify(
        old_secret.as_bytes(),
        &first[0].body,
        Some(first[0].header("x-klikit-signature")),
    )
    .expect("old secret signs the first attempt");

    let (status, rotated) = serve
        .operator(
            Method::POST,
            &format!("/partners/{partner}/webhook-secret/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["data"]["webhook_secret_key"]
        .as_str()
        .expect("new secret")
        .to_owned();
    assert_ne!(new_secret, old_secret);
    let both = receiver.wait_for("/h", 2, WAIT).await;
    let retry = &both[1];
    assert_eq!(retry.event_id(), first[0].event_id());
    let signature = Some(retry.header("x-klikit-signature"));
    klikit_webhook::verify(new_secret.as_bytes(), &retry.body, signature)
        .expect("new secret verifies");
    assert!(
        klikit_webhook::verify(old_secret.as_bytes(), &retry.body, signature).is_err(),
        "old secret no longer verifies"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_change_redirects_the_next_attempt_and_deletion_stops_work() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_RETRY_SCHEDULE", "500ms,500ms,500ms".into()));
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    receiver.set("/old", Behaviour::FailAll);
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, Some(2), CREATED, &receiver.url("/old"))
        .await;
    serve.ingest(CREATED, order(12, 1, 2, 1)).await;
    let first = receiver.wait_for("/old", 1, WAIT).await;
    let mapping = serve
        .map(&partner, 1, Some(2), CREATED, &receiver.url("/new"))
        .await;
    let moved = receiver.wait_for("/new", 1, WAIT).await;
    assert_eq!(moved[0].event_id(), first[0].event_id());
    serve
        .wait_delivery(moved[0].event_id(), WAIT, |d| d["state"] == "delivered")
        .await;

    receiver.set("/new", Behaviour::FailAll);
    serve.ingest(CREATED, order(13, 1, 2, 1)).await;
    receiver.wait_for("/new", 2, WAIT).await;
    let mapping_id = mapping["id"].as_str().expect("mapping id");
    let (status, deleted) = serve
        .operator(
            Method::DELETE,
            &format!("/partners/{partner}/mappings/{mapping_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{deleted}");
    let deleted_at = harness::now_millis();
    assert!(deleted["data"]["stopped"].as_u64().expect("stopped") >= 1);
    let (_, list) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={partner}&state=dead"),
            None,
        )
        .await;
    let dead = list["data"]["deliveries"].as_array().expect("deliveries");
    assert_eq!(dead.len(), 1, "the pending delivery stopped: {list}");
    assert!(
        dead.iter().all(|d| d["dead_reason"] == "mapping_deleted"),
        "{list}"
    );
    // Had they not stopped, each would be attempted again within one retry step
    // (500 ms + 20 %). A failing delivery of another partner, pushed now, takes at
    // least two such steps (2 × 400 ms) to reach its third attempt.
    retry_steps_pass(&serve, &receiver).await;
    for stopped in dead {
        let event_id = stopped["event_id"].as_str().expect("event id");
        serve.settled_attempts(&receiver, event_id).await;
        let delivery = serve.delivery(event_id).await;
        let late: Vec<i64> = harness::attempt_starts(&delivery)
            .into_iter()
            .filter(|started| *started > deleted_at)
            .collect();
        assert!(
            late.is_empty(),
            "{event_id}: attempts started after its mapping was deleted: {late:?}"
        );
    }
}

/// Waits for three attempts of a fresh, always-failing delivery of a partner of its own:
/// at least two retry steps of the schedule pass meanwhile.
async fn retry_steps_pass(serve: &Serve, receiver: &Receiver) {
    let (sentinel, _, _) = serve.create_partner("sentinel").await;
    receiver.set("/sentinel", Behaviour::FailAll);
    serve
        .map(&sentinel, 77, None, CREATED, &receiver.url("/sentinel"))
        .await;
    serve.ingest(CREATED, order(7_700, 77, 1, 1)).await;
    receiver.wait_for("/sentinel", 3, WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_partner_receives_nothing_until_enabled_then_all_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, STATUS, &receiver.url("/h"))
        .await;
    let (status, _) = serve
        .operator(Method::POST, &format!("/partners/{partner}/disable"), None)
        .await;
    assert_eq!(status, 200);
    let (status, answer) = serve.ingest(STATUS, order(20, 1, 2, 2)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["data"]["routed_to"], 1,
        "kept for the disabled partner: {answer}"
    );
    let (_, answer) = serve.ingest(STATUS, order(20, 1, 2, 4)).await;
    assert_eq!(answer["data"]["version"], 2, "{answer}");
    // Every change committed before the barrier has been through batching by the time
    // the barrier is delivered: nothing was formed for the disabled partner.
    serve.barrier(&receiver).await;
    let (_, list) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={partner}"),
            None,
        )
        .await;
    assert_eq!(
        list["data"]["deliveries"],
        json!([]),
        "nothing is formed for a disabled partner"
    );
    assert!(
        receiver.on("/h").is_empty(),
        "a disabled partner receives nothing"
    );
    // Enabling delivers what came while disabled, in order, then what comes after.
    let (status, _) = serve
        .operator(Method::POST, &format!("/partners/{partner}/enable"), None)
        .await;
    assert_eq!(status, 200);
    serve.ingest(STATUS, order(21, 1, 2, 2)).await;
    // (Order 21 may share a delivery with order 20's first change.)
    let orders = || -> Vec<(i64, i64)> {
        receiver
            .on("/h")
            .iter()
            .flat_map(|r| r.json()["orders"].as_array().cloned().unwrap_or_default())
            .map(|o| {
                let field = |name: &str| o[name].as_i64().expect("number");
                (field("id"), field("version"))
            })
            .collect()
    };
    let got = harness::eventually(WAIT, "both kept changes and the later one", || {
        let got = orders();
        (got.len() >= 3).then_some(got)
    })
    .await;
    let of_20: Vec<i64> = got.iter().filter(|o| o.0 == 20).map(|o| o.1).collect();
    assert_eq!(of_20, [1, 2], "both changes, in order: {got:?}");
    assert!(
        got.contains(&(21, 1)),
        "and the one after enabling: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_deliveries_of_a_disabled_partner_wait_and_resume() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_RETRY_SCHEDULE", "300ms,300ms,300ms,300ms".into()));
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    receiver.set("/h", Behaviour::FailAll);
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, CREATED, &receiver.url("/h"))
        .await;
    serve.ingest(CREATED, order(22, 1, 2, 1)).await;
    let first = receiver.wait_for("/h", 1, WAIT).await;
    let event_id = first[0].event_id().to_owned();
    serve
        .operator(Method::POST, &format!("/partners/{partner}/disable"), None)
        .await;
    let disabled_at = harness::now_millis();
    // Had the pause not held, the delivery would be attempted again within one retry
    // step (300 ms + 20 %); the sentinel's third attempt comes two steps later.
    retry_steps_pass(&serve, &receiver).await;
    let seen = serve.settled_attempts(&receiver, &event_id).await;
    let delivery = serve.delivery(&event_id).await;
    assert!(
        harness::attempt_starts(&delivery)
            .iter()
            .all(|started| *started <= disabled_at),
        "nothing is attempted while disabled: {delivery}"
    );
    receiver.set("/h", Behaviour::Ok);
    serve
        .operator(Method::POST, &format!("/partners/{partner}/enable"), None)
        .await;
    let all = receiver.wait_for("/h", seen + 1, WAIT).await;
    assert_eq!(all[seen].event_id(), event_id);
    assert_eq!(all[seen].answered, 200);
}
