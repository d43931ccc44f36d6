//! Ingest refuses what klikit's contract does not allow: a status outside klikit's
//! OrderStatus codes, and payment sent both flat and nested with different values. An
//! integer field given as an integral float (`2.0`) is that integer, as JSON Schema
//! counts it; a fraction is not.

mod harness;

use harness::receiver::Receiver;
use harness::{Serve, fast_env, order};
use serde_json::json;
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";

#[tokio::test(flavor = "multi_thread")]
async fn a_status_outside_klikits_codes_is_refused_naming_the_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    for code in [0, 42, -1, 10] {
        let (status, body) = serve.ingest(CREATED, order(8000, 1, 2, code)).await;
        assert_eq!(status, 400, "status {code}: {body}");
        assert_eq!(body["error"]["details"]["field"], "order.status", "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(&code.to_string())
                && message.contains("1 PLACED")
                && message.contains("9 PICKED_UP"),
            "{message}"
        );
    }
    let (status, body) = serve
        .ingest_batch(vec![
            json!({ "event": CREATED, "order": order(8001, 1, 2, 1) }),
            json!({ "event": CREATED, "order": order(8002, 1, 2, 42) }),
        ])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "items[1].order.status");
    for code in 1..=9 {
        let (status, body) = serve.ingest(CREATED, order(8100 + code, 1, 2, code)).await;
        assert_eq!(status, 202, "status {code}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn payment_sent_flat_and_nested_must_agree() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 1, None, CREATED, &receiver.url("/c"))
        .await;

    for (flat, nested, field) in [
        (
            "payment_status",
            json!({ "status": 2, "method": 14, "channel": 8 }),
            "status",
        ),
        (
            "payment_method",
            json!({ "status": 1, "method": 2, "channel": 8 }),
            "method",
        ),
        (
            "payment_channel",
            json!({ "status": 1, "method": 14, "channel": 9 }),
            "channel",
        ),
    ] {
        let mut conflict = order(8200, 1, 2, 1);
        conflict["payment_status"] = json!(1);
        conflict["payment_method"] = json!(14);
        conflict["payment_channel"] = json!(8);
        conflict["payment"] = nested;
        let (status, body) = serve.ingest(CREATED, conflict).await;
        assert_eq!(status, 400, "{flat}: {body}");
        assert_eq!(
            body["error"]["details"]["field"],
            format!("order.payment.{field}"),
            "{body}"
        );
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(flat), "{message}");
    }
    let mut wrong_type = order(8200, 1, 2, 1);
    wrong_type["payment"] = json!({ "status": "paid" });
    let (status, body) = serve.ingest(CREATED, wrong_type).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "order.payment.status");

    // The same values both ways: accepted, and stored (and delivered) flat only.
    let mut agreeing = order(8201, 1, 2, 1);
    agreeing["payment_status"] = json!(1);
    agreeing["payment_method"] = json!(14);
    let (status, body) = serve.ingest(CREATED, agreeing).await;
    assert_eq!(status, 202, "{body}");
    let got = receiver.wait_for("/c", 1, Duration::from_secs(15)).await;
    let record = got[0].json()["orders"][0].clone();
    assert_eq!(
        record["id"], 8201,
        "the refused pushes were never delivered"
    );
    assert_eq!(
        (
            record["payment_status"].clone(),
            record["payment_method"].clone(),
            record["payment_channel"].clone()
        ),
        (json!(1), json!(14), json!(8))
    );
    assert!(record.get("payment").is_none(), "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_must_be_visible_ascii_as_its_error_says() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let body = json!({ "event": CREATED, "order": order(8200, 1, 2, 1) }).to_string();
    let push = |key: &'static str| {
        let body = body.clone();
        let base = serve.base.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/v1/ingest/orders"))
                .bearer_auth(harness::INGEST_TOKEN)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(body)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let answer: serde_json::Value = response.json().await.expect("json");
            (status, answer)
        }
    };
    for key in ["push 8200", "push\t8200"] {
        let (status, answer) = push(key).await;
        assert_eq!(status, 400, "{key:?}: {answer}");
        assert_eq!(answer["error"]["details"]["field"], "Idempotency-Key");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("visible ASCII")),
            "{answer}"
        );
    }
    let (status, answer) = push("push-8200_v1~ok").await;
    assert_eq!(status, 202, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_integral_float_is_the_integer_and_is_delivered_as_one() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (partner, _, _) = serve.create_partner("Acme").await;
    serve
        .map(&partner, 663, Some(1062), CREATED, &receiver.url("/floats"))
        .await;

    // Refused: a fraction, or a number beyond a double, in any integer field.
    for (field, value) in [
        ("status", "2.5"),
        ("branch_id", "1062.5"),
        ("business_id", "7e-1"),
        ("payment_status", "1.25"),
        ("id", "1e400"),
    ] {
        let mut fields = vec![
            ("id", "8300"),
            ("brands", r#"[{"id": 663}]"#),
            ("branch_id", "1062"),
            ("status", "1"),
        ];
        fields.retain(|(name, _)| *name != field);
        fields.push((field, value));
        let order: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!(r#""{name}": {value}"#))
            .collect();
        let text = format!(
            r#"{{"event": "{CREATED}", "order": {{{}}}}}"#,
            order.join(", ")
        );
        let (status, body) = serve.ingest_raw(text.clone()).await;
        assert_eq!(status, 400, "{text}: {body}");
        assert_eq!(
            body["error"]["details"]["field"],
            format!("order.{field}"),
            "{text}: {body}"
        );
    }
    let nested = format!(
        r#"{{"event": "{CREATED}", "order": {{"id": 8300, "brands": [{{"id": 663}}],
            "branch_id": 1062, "status": 1, "payment": {{"method": 14.5}}}}}}"#
    );
    let (status, body) = serve.ingest_raw(nested).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "order.payment.method");

    // Accepted: 2.0, 1062e0 and 663.00 are integers. The known fields are written as
    // integers (the record is formed from them, as for any push); an unknown field keeps
    // its exact text. hookit numbers versions itself: the platform's `version`, which
    // is not even an integer here, is replaced, never kept beside hookit's own.
    let pushed = format!(
        r#"{{"event": "{CREATED}", "order": {{"id": 8301.0,
            "brands": [{{"id": 663.00, "title": "Bali Bites"}}], "branch_id": 1062e0,
            "status": 2.0, "business_id": 737.0, "payment": {{"status": 1.0, "method": 14}},
            "payment_channel": 8.0, "placed_at": "2026-12-02T10:00:00Z", "total": 2.0,
            "version": "v7"}}}}"#
    );
    let (status, body) = serve.ingest_raw(pushed).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["order_id"], 8301, "{body}");
    assert_eq!(body["data"]["routed_to"], 1, "{body}");
    let got = receiver
        .wait_for("/floats", 1, Duration::from_secs(15))
        .await;
    let delivered = String::from_utf8(got[0].body.clone()).expect("UTF-8");
    assert_eq!(
        delivered,
        concat!(
            r#"{"brand_id":663,"branch_id":1062,"orders":[{"id":8301,"business_id":737,"#,
            r#""brands":[{"id":663,"title":"Bali Bites"}],"branch_id":1062,"status":2,"#,
            r#""payment_status":1,"payment_channel":8,"payment_method":14,"#,
            r#""placed_at":"2026-12-02T10:00:00Z","version":1,"total":2.0}]}"#
        )
    );
}
