//! End to end: `--json` prints the operator API's answer exactly as the server sent it.
//! Each command's output is compared, byte for byte, with the body of the same request
//! made with a plain HTTP client; commands that make several calls print a JSON array
//! of those answers, in order; an error answer is printed as it came too.

mod cli_support;
mod harness;

use cli_support::{create_partner, hookit, text};
use harness::receiver::Receiver;
use harness::{OPERATOR_TOKEN, Serve, fast_env, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const WAIT: Duration = Duration::from_secs(15);
const UNKNOWN_PARTNER: &str = "prt_00000000000000000000000000000000";

/// The status and the exact body bytes of an operator API request (`path` under
/// `/v1/operator`), made without the CLI.
async fn raw(serve: &Serve, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v1/operator{path}", serve.base))
        .bearer_auth(OPERATOR_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        String::from_utf8(bytes.to_vec()).expect("a UTF-8 body"),
    )
}

/// The body of a successful GET.
async fn get(serve: &Serve, path: &str) -> String {
    let (status, body) = raw(serve, Method::GET, path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn json_prints_the_api_answer_byte_for_byte() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let created = create_partner(&serve, "Acme POS").await;
    let partner = text(&created, "id").to_owned();
    create_partner(&serve, "Bali Bites").await;

    let listed = hookit(&serve, &["partner", "list", "--json"]).await.ok();
    assert_eq!(listed, get(&serve, "/partners").await + "\n");
    assert!(listed.starts_with("{\"data\":["), "{listed}");

    // Three events are three calls: an array of their answers, each as it came.
    let url = receiver.url("/hook");
    let mapped = hookit(
        &serve,
        &[
            "map",
            "--json",
            "--partner",
            &partner,
            "--brand",
            "663",
            "--event",
            "all",
            "--url",
            &url,
        ],
    )
    .await
    .ok();
    let answers: Value = serde_json::from_str(&mapped).expect("an array");
    let events: Vec<&Value> = answers
        .as_array()
        .expect("an array")
        .iter()
        .map(|answer| &answer["data"]["event_type"])
        .collect();
    assert_eq!(
        events,
        [
            CREATED,
            "klikit.order.status.updated",
            "klikit.order.cart.updated"
        ],
        "{mapped}"
    );
    let mappings = get(&serve, &format!("/partners/{partner}/mappings")).await;
    let ids: Vec<&Value> = answers
        .as_array()
        .expect("an array")
        .iter()
        .map(|answer| &answer["data"]["id"])
        .collect();
    let listed_ids: Vec<Value> = serde_json::from_str::<Value>(&mappings).expect("JSON")["data"]
        .as_array()
        .expect("mappings")
        .iter()
        .map(|mapping| mapping["id"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| listed_ids.contains(id)),
        "{mapped} {mappings}"
    );

    let one = hookit(&serve, &["map", "list", "--partner", &partner, "--json"])
        .await
        .ok();
    assert_eq!(one, format!("{mappings}\n"));
    // Without --partner: each partner's answer, in the order `partner list` gives.
    let partners: Value = serde_json::from_str(&listed).expect("JSON");
    let mut expected = Vec::new();
    for row in partners["data"].as_array().expect("partners") {
        expected.push(get(&serve, &format!("/partners/{}/mappings", text(row, "id"))).await);
    }
    assert_eq!(expected.len(), 2);
    let every = hookit(&serve, &["map", "list", "--json"]).await.ok();
    assert_eq!(every, format!("[{}]\n", expected.join(",")));

    // A delivery, once it is settled, shows exactly as the API shows it.
    let (status, answer) = serve.ingest(CREATED, order(7585307, 663, 1062, 1)).await;
    assert_eq!(status, 202, "{answer}");
    let got = receiver.wait_for("/hook", 1, WAIT).await;
    let event_id = got[0].event_id();
    serve
        .wait_delivery(event_id, WAIT, |d| d["state"] == "delivered")
        .await;
    let shown = hookit(&serve, &["deliveries", "show", event_id, "--json"])
        .await
        .ok();
    assert_eq!(
        shown,
        get(&serve, &format!("/deliveries/{event_id}")).await + "\n"
    );
    let page = hookit(
        &serve,
        &["deliveries", "list", "--json", "--order", "7585307"],
    )
    .await
    .ok();
    assert_eq!(
        page,
        get(&serve, "/deliveries?order_id=7585307").await + "\n"
    );

    let audit = hookit(&serve, &["audit", "--json"]).await.ok();
    assert_eq!(audit, get(&serve, "/audit?page=1&size=50").await + "\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_prints_an_error_answer_as_it_came() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let created = create_partner(&serve, "Acme POS").await;
    let partner = text(&created, "id").to_owned();

    let run = hookit(&serve, &["partner", "disable", UNKNOWN_PARTNER, "--json"]).await;
    let (stdout, stderr) = (run.stdout.clone(), run.failed());
    assert!(stderr.contains("resource_not_found"), "{stderr}");
    let (status, body) = raw(
        &serve,
        Method::POST,
        &format!("/partners/{UNKNOWN_PARTNER}/disable"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(stdout, body + "\n");

    // One event, one call: the error answer itself. Several: an array that ends with it
    // (here the first call failed, so it is alone).
    let bad = json!({ "brand_id": 663, "event_type": CREATED, "url": "ftp://pos.example/hooks" });
    let (status, body) = raw(
        &serve,
        Method::PUT,
        &format!("/partners/{partner}/mappings"),
        Some(bad),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    for (events, expected) in [
        ("created", format!("{body}\n")),
        ("all", format!("[{body}]\n")),
    ] {
        let run = hookit(
            &serve,
            &[
                "map",
                "--json",
                "--partner",
                &partner,
                "--brand",
                "663",
                "--event",
                events,
                "--url",
                "ftp://pos.example/hooks",
            ],
        )
        .await;
        let stdout = run.stdout.clone();
        let stderr = run.failed();
        assert_eq!(stdout, expected, "{stderr}");
        assert!(stderr.contains("request_invalid"), "{stderr}");
    }

    // Without --json, an error is only the message on stderr.
    let human = hookit(&serve, &["partner", "disable", UNKNOWN_PARTNER]).await;
    assert_eq!(human.stdout, "");
    assert!(human.failed().contains("not found"));
}
