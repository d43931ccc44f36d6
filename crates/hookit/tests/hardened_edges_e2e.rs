//! The edges an attacker and a fuzzer probe, over real HTTP: every error is JSON with
//! the right challenge, bodies must say they are JSON, `/metrics` is not open to the
//! API port, JSON no receiver can parse is refused, and twenty concurrent status
//! changes under one Idempotency-Key get one answer and make one change.

mod harness;

use base64::Engine;
use harness::partner_client::{self, Creds};
use harness::receiver::Receiver;
use harness::{INGEST_TOKEN, METRICS_TOKEN, OPERATOR_TOKEN, Serve, fast_env, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(15);

fn basic(creds: &Creds, scheme: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", creds.key, creds.secret));
    format!("{scheme} {encoded}")
}

/// Sends `head` (a request without a body) over raw TCP and returns the answer text.
fn raw_request(serve: &Serve, head: &str) -> String {
    let mut stream =
        std::net::TcpStream::connect(serve.base.trim_start_matches("http://")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failures_carry_their_challenge_and_schemes_are_case_insensitive() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let creds = partner_client::onboard(&serve, "Acme").await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", serve.base);

    for path in ["/v1/operator/partners", "/v1/operator/tokens"] {
        let response = client.get(url(path)).send().await.expect("send");
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "auth_missing", "{body}");
    }
    let response = client
        .post(url("/v1/ingest/orders"))
        .header("authorization", "Bearer wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let response = client
        .get(url("/v1/partner/orders/1"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"hookit partner API\""
    );
    let body: Value = response.json().await.expect("json");
    assert!(body["request_id"].is_string(), "{body}");

    let response = client
        .get(url("/v1/operator/partners"))
        .header("authorization", format!("bearer {OPERATOR_TOKEN}"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200, "lower-case bearer");
    let response = client
        .get(url("/v1/partner/webhooks"))
        .header("authorization", basic(&creds, "BASIC"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200, "upper-case basic");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_json_errors_and_secrets_are_not_cached() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let creds = partner_client::onboard(&serve, "Acme").await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", serve.base);

    // A percent-encoded path that is not UTF-8, on the partner API.
    let answer = raw_request(
        &serve,
        &format!(
            "GET /v1/partner/orders/%FF%FE HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            basic(&creds, "Basic")
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["error"]["code"], "request_invalid", "{body}");
    assert!(body["request_id"].is_string(), "{body}");

    // Too many header lines: a JSON 431, not hyper's empty one.
    let mut head =
        String::from("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for n in 0..150 {
        head.push_str(&format!("X-Many-{n}: {n}\r\n"));
    }
    head.push_str("\r\n");
    let answer = raw_request(&serve, &head);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(
        answer.contains("\"request_header_fields_too_large\""),
        "{answer}"
    );

    // A body must say it is JSON; a body-less action needs no type.
    let create = |content_type: &'static str| {
        client
            .post(url("/v1/operator/partners"))
            .bearer_auth(OPERATOR_TOKEN)
            .header("content-type", content_type)
            .body(r#"{"name": "Typed"}"#)
            .send()
    };
    let refused = create("text/plain").await.expect("send");
    assert_eq!(refused.status(), 415);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "request_unsupported_media_type");
    for accepted in [
        "application/json; charset=utf-8",
        "application/vnd.klikit+json",
    ] {
        let created = create(accepted).await.expect("send");
        assert_eq!(created.status(), 201, "{accepted}");
        assert_eq!(created.headers()["cache-control"], "no-store");
    }
    let untyped = client
        .post(url("/v1/ingest/orders"))
        .bearer_auth(INGEST_TOKEN)
        .body(json!({ "event": CREATED, "order": order(1, 1, 2, 1) }).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(untyped.status(), 415);
    let rotated = client
        .post(url(&format!(
            "/v1/operator/partners/{}/secret/rotate",
            creds.id
        )))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(rotated.status(), 200, "no body, no type needed");
    assert_eq!(rotated.headers()["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_not_served_on_the_api_port_without_their_token() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_METRICS_TOKEN", String::new()));
    env.push(("HOOKIT_METRICS_LISTEN", "127.0.0.1:0".into()));
    let serve = Serve::start(dir.path(), &env);
    let (status, body) = serve.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "route_not_found");
    let log = serve.log_text();
    let own = log
        .split("metrics served on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the metrics address in the log");
    let text = reqwest::get(own)
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(text.contains("hookit_store_commits_total"), "{text}");

    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let client = reqwest::Client::new();
    for token in [None, Some(OPERATOR_TOKEN)] {
        let mut request = client.get(format!("{}/metrics", serve.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    let response = client
        .get(format!("{}/metrics", serve.base))
        .header("authorization", format!("bearer {METRICS_TOKEN}"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_no_receiver_can_parse_is_refused_at_ingest_naming_the_field() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let order_text = serde_json::to_string(&order(7, 1, 2, 1)).expect("order");
    let with = |extra: &str| {
        format!(
            r#"{{"event": "{CREATED}", "order": {}, {extra}}}}}"#,
            order_text.trim_end_matches('}')
        )
    };
    let cases = [
        (with(r#""note": "a\ud800b""#), "order.note", "surrogate"),
        (with(r#""total": 1e400"#), "order.total", "too large"),
        (
            with(&format!(r#""deep": {}1{}"#, "[".repeat(70), "]".repeat(70))),
            "order.deep",
            "deeper than 64",
        ),
    ];
    for (body, field, says) in cases {
        let (status, answer) = serve.ingest_raw(body).await;
        assert_eq!(status, 400, "{answer}");
        let named = answer["error"]["details"]["field"]
            .as_str()
            .unwrap_or_default();
        assert!(named.starts_with(field), "{field}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{answer}");
    }
    let (status, answer) = serve
        .ingest_raw(with(r#""note": "\ud83d\ude00", "n": 1e300"#))
        .await;
    assert_eq!(
        status, 202,
        "a surrogate pair and a large double are fine: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_changes_with_one_key_get_one_answer_and_make_one_change() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let creds = partner_client::onboard(&serve, "Acme").await;
    serve
        .map(&creds.id, 1, None, STATUS, &receiver.url("/s"))
        .await;
    serve.ingest(CREATED, order(42, 1, 2, 1)).await;

    let change = json!({ "status": "accepted" });
    let answers = futures_join(20, || {
        partner_client::call(
            &serve,
            &creds,
            Method::PATCH,
            "/orders/42/status",
            Some("accept-42-once"),
            Some(change.clone()),
        )
    })
    .await;
    let (first_status, first) = &answers[0];
    assert_eq!(*first_status, 200, "{first}");
    for (status, answer) in &answers {
        assert_eq!(
            (status, &answer["data"]),
            (first_status, &first["data"]),
            "every request gets the first answer"
        );
    }

    let got = receiver.wait_for("/s", 1, WAIT).await;
    assert_eq!(got[0].json()["orders"][0]["status"], 2);
    serve.barrier(&receiver).await;
    let (_, list) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={}&order_id=42", creds.id),
            None,
        )
        .await;
    let formed = list["data"]["deliveries"].as_array().expect("deliveries");
    assert_eq!(formed.len(), 1, "exactly one change emitted: {list}");
    let (_, now) =
        partner_client::call(&serve, &creds, Method::GET, "/orders/42", None, None).await;
    assert_eq!(now["data"]["version"], 2, "{now}");
}

/// Runs `count` calls of `call` at once and returns their answers in order.
async fn futures_join<F, Fut>(count: usize, call: F) -> Vec<(u16, Value)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let calls: Vec<_> = (0..count).map(|_| Box::pin(call())).collect();
    // Poll all of them together on this task, so they are in flight at once.
    let mut pending: Vec<_> = calls.into_iter().map(Some).collect();
    let mut done: Vec<Option<(u16, Value)>> = vec![None; count];
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, call) in pending.iter_mut().enumerate() {
            if let Some(future) = call {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(answer) => {
                        done[slot] = Some(answer);
                        *call = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_states_the_servers_rules_and_integral_floats_are_integers() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let (status, document) = serve.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let parameter = &document["paths"]["/v1/operator/partners/{id}"]["get"]["parameters"][0];
    assert_eq!(
        parameter["schema"]["pattern"], "^prt_[0-9a-f]{32}$",
        "{parameter}"
    );
    let parameter =
        &document["paths"]["/v1/operator/deliveries/{event_id}"]["get"]["parameters"][0];
    assert_eq!(
        parameter["schema"]["pattern"], "^evt_[0-9a-f]{32}$",
        "{parameter}"
    );
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["IngestChange"]["additionalProperties"], false);
    assert_eq!(schemas["IngestBatch"]["additionalProperties"], false);
    assert_eq!(
        schemas["IngestOrder"]["properties"]["brands"]["minItems"],
        1
    );
    assert_eq!(schemas["IngestOrder"]["properties"]["id"]["minimum"], 1);

    // `2.0` is an integer to JSON Schema, so to the server too.
    let (partner, _, _) = serve.create_partner("Floats").await;
    let (status, answer) = serve
        .operator(
            Method::PUT,
            &format!("/partners/{partner}/mappings"),
            Some(json!({
                "brand_id": 2.0,
                "event_type": CREATED,
                "url": "http://127.0.0.1:9/hooks",
            })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["brand_id"], 2, "{answer}");
}
