//! Every malformed request to every endpoint gets a 4xx with a JSON error, and the
//! store is left as it was.

mod harness;

use harness::receiver::Receiver;
use harness::{INGEST_TOKEN, OPERATOR_TOKEN, Serve, fast_env};
use reqwest::Method;
use serde_json::{Value, json};

struct Case {
    method: Method,
    path: String,
    token: Option<&'static str>,
    body: Option<String>,
    status: u16,
    code: &'static str,
}

fn case(
    method: Method,
    path: &str,
    token: Option<&'static str>,
    body: Option<&str>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        token,
        body: body.map(str::to_owned),
        status,
        code,
    }
}

const OP: Option<&str> = Some(OPERATOR_TOKEN);
const IN: Option<&str> = Some(INGEST_TOKEN);

fn order_with(field: &str, value: Value) -> String {
    let mut order = harness::order(1, 1, 2, 1);
    if value.is_null() && field != "external_id" {
        order.as_object_mut().expect("object").remove(field);
    } else {
        order[field] = value;
    }
    json!({ "event": "klikit.order.created.v2", "order": order }).to_string()
}

fn cases(partner: &str) -> Vec<Case> {
    use Method as M;
    let mappings = format!("/v1/operator/partners/{partner}/mappings");
    let good_order = order_with("id", json!(1));
    let mut table = vec![
        // Authentication.
        case(
            M::GET,
            "/v1/operator/partners",
            None,
            None,
            401,
            "auth_missing",
        ),
        case(
            M::GET,
            "/v1/operator/partners",
            Some("wrong"),
            None,
            401,
            "auth_invalid_credential",
        ),
        case(
            M::GET,
            "/v1/operator/partners",
            IN,
            None,
            401,
            "auth_invalid_credential",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            None,
            Some(&good_order),
            401,
            "auth_missing",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            OP,
            Some(&good_order),
            401,
            "auth_invalid_credential",
        ),
        // Routing.
        case(M::GET, "/v1/nowhere", OP, None, 404, "route_not_found"),
        case(
            M::DELETE,
            "/v1/operator/partners",
            OP,
            None,
            405,
            "method_not_allowed",
        ),
        // Partners.
        case(
            M::POST,
            "/v1/operator/partners",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/operator/partners",
            OP,
            Some("{"),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/operator/partners",
            OP,
            Some("[]"),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/operator/partners",
            OP,
            Some(r#"{"name": 5}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/operator/partners",
            OP,
            Some(r#"{"name": "  "}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/operator/partners",
            OP,
            Some(r#"{"nam": "x"}"#),
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/partners/nope",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/partners/prt_00000000000000000000000000000000",
            OP,
            None,
            404,
            "resource_not_found",
        ),
        case(
            M::POST,
            "/v1/operator/partners/prt_00000000000000000000000000000000/disable",
            OP,
            None,
            404,
            "resource_not_found",
        ),
        case(
            M::POST,
            "/v1/operator/partners/x/secret/rotate",
            OP,
            None,
            400,
            "request_invalid",
        ),
        // Mappings.
        case(M::PUT, &mappings, OP, Some("{}"), 400, "request_invalid"),
        case(
            M::PUT,
            &mappings,
            OP,
            Some(
                r#"{"brand_id": "1", "event_type": "klikit.order.created.v2", "url": "http://127.0.0.1/"}"#,
            ),
            400,
            "request_invalid",
        ),
        case(
            M::PUT,
            &mappings,
            OP,
            Some(r#"{"brand_id": 1, "event_type": "order.created", "url": "http://127.0.0.1/"}"#),
            400,
            "request_invalid",
        ),
        case(
            M::PUT,
            &mappings,
            OP,
            Some(r#"{"brand_id": 1, "event_type": "klikit.order.created.v2", "url": "not a url"}"#),
            400,
            "request_invalid",
        ),
        case(
            M::PUT,
            &mappings,
            OP,
            Some(
                r#"{"brand_id": 1, "event_type": "klikit.order.created.v2", "url": "ftp://example.com/"}"#,
            ),
            400,
            "request_invalid",
        ),
        case(
            M::PUT,
            "/v1/operator/partners/prt_00000000000000000000000000000000/mappings",
            OP,
            Some(
                r#"{"brand_id": 1, "event_type": "klikit.order.created.v2", "url": "http://127.0.0.1/"}"#,
            ),
            404,
            "resource_not_found",
        ),
        case(
            M::DELETE,
            &format!("{mappings}/bad"),
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::DELETE,
            &format!("{mappings}/map_00000000000000000000000000000000"),
            OP,
            None,
            404,
            "resource_not_found",
        ),
        // Deliveries.
        case(
            M::GET,
            "/v1/operator/deliveries?state=lost",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries?limit=0",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries?limit=abc",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries?order_id=x",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries?event_type=nope",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries?from=yesterday",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries?cursor=abc",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries/evt_00000000000000000000000000000000",
            OP,
            None,
            404,
            "resource_not_found",
        ),
        case(
            M::GET,
            "/v1/operator/deliveries/123",
            OP,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/operator/deliveries/evt_00000000000000000000000000000000/replay",
            OP,
            None,
            404,
            "resource_not_found",
        ),
        case(
            M::POST,
            "/v1/operator/deliveries/replay",
            OP,
            Some(r#"{"state": 3}"#),
            400,
            "request_invalid",
        ),
        // Ingest.
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            None,
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some("not json"),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some(r#"{"order": {}}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some(r#"{"event": "klikit.order.deleted", "order": {"id": 1}}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some(r#"{"event": "klikit.order.created.v2"}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some(r#"{"event": "klikit.order.created.v2", "order": []}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some(r#"{"event": "klikit.order.created.v2", "order": {"id": 1}, "extra": 1}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders/batch",
            IN,
            Some(r#"{"items": []}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders/batch",
            IN,
            Some(r#"{"items": {}}"#),
            400,
            "request_invalid",
        ),
        case(
            M::POST,
            "/v1/ingest/orders/batch",
            IN,
            Some(&format!(r#"{{"items": [{good_order}, {{"event": "x"}}]}}"#)),
            400,
            "request_invalid",
        ),
    ];
    let bad_orders = [
        ("id", json!("7")),
        ("id", json!(-1)),
        ("id", Value::Null),
        ("brands", json!([])),
        ("brands", json!("Bali")),
        ("brands", Value::Null),
        ("branch_id", json!("1062")),
        ("branch_id", Value::Null),
        ("status", json!("accepted")),
        ("status", json!(1.5)),
        ("status", Value::Null),
        ("external_id", json!(5)),
        ("placed_at", json!("yesterday")),
        ("updated_at", json!(12)),
        ("payment_status", json!("paid")),
        ("cart", json!("nothing")),
    ];
    for (field, value) in bad_orders {
        let body = order_with(field, value);
        table.push(case(
            M::POST,
            "/v1/ingest/orders",
            IN,
            Some(&body),
            400,
            "request_invalid",
        ));
    }
    let huge = format!(
        r#"{{"event": "klikit.order.created.v2", "order": {{"id": 1, "pad": "{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    table.push(case(
        M::POST,
        "/v1/ingest/orders",
        IN,
        Some(&huge),
        413,
        "request_too_large",
    ));
    table
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_is_a_json_4xx_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let (partner, _, _) = serve.create_partner("Only").await;
    // Every bad order is for brand 1: were one taken, this mapping would route it.
    let receiver = Receiver::start().await;
    let mapping = serve
        .map(
            &partner,
            1,
            None,
            "klikit.order.created.v2",
            &receiver.url("/bad"),
        )
        .await;
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in cases(&partner) {
        let mut request =
            client.request(case.method.clone(), format!("{}{}", serve.base, case.path));
        if let Some(token) = case.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &case.body {
            request = request
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("text");
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let code = parsed
            .as_ref()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        let message = parsed
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned));
        let ok = status == case.status
            && code.as_deref() == Some(case.code)
            && message.is_some_and(|m| !m.is_empty());
        if !ok {
            let shown: String = case
                .body
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect();
            failures.push(format!(
                "{} {} {shown} → {status} {text:.300} (wanted {} {})",
                case.method, case.path, case.status, case.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} bad answers:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The barrier is a partner of its own, created after the table ran.
    let (_, partners) = serve.operator(Method::GET, "/partners", None).await;
    assert_eq!(
        partners["data"].as_array().expect("list").len(),
        1,
        "no partner was half-created"
    );
    let (_, mappings) = serve
        .operator(Method::GET, &format!("/partners/{partner}/mappings"), None)
        .await;
    // The list adds each mapping's endpoint health to what the PUT answered.
    let mut listed = mappings["data"].clone();
    assert_eq!(listed[0]["endpoint_state"], "healthy", "{listed}");
    if let Some(fields) = listed[0].as_object_mut() {
        fields.remove("endpoint_state");
    }
    assert_eq!(
        listed,
        json!([mapping]),
        "no mapping was written or changed"
    );
    serve.barrier(&receiver).await;
    let (_, deliveries) = serve
        .operator(
            Method::GET,
            &format!("/deliveries?partner_id={partner}"),
            None,
        )
        .await;
    assert_eq!(
        deliveries["data"]["deliveries"],
        json!([]),
        "no bad order was routed to the mapped partner"
    );
    assert!(receiver.on("/bad").is_empty(), "nothing was delivered");
    assert!(
        !serve.log_text().contains("panicked"),
        "no handler panicked"
    );
}
