//! The console's actions, over plain HTTP: an operator's retry-now (one delivery, and
//! every pending one matching the list's filter) and enabling a disabled endpoint, a
//! partner's replay of its own dead delivery and its test webhook. Each goes through the
//! same code as the API, is refused without its CSRF token, and a partner can act on
//! nothing of another partner's.

use super::client::Console;
use super::harness::receiver::{Behaviour, Receiver};
use super::harness::{OPERATOR_TOKEN, Serve, fast_env, order};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(30);
const MISSING: &str = "evt_0123456789abcdef0123456789abcdef";

/// Fast ticks, but a failed attempt is retried only after an hour, and an attempt that
/// hangs holds its lease for ten seconds.
fn slow_retries() -> Vec<(&'static str, String)> {
    vec![
        ("HOOKIT_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("HOOKIT_TICK", "20ms".into()),
        ("HOOKIT_RETRY_SCHEDULE", "1h,1h".into()),
        ("HOOKIT_ATTEMPT_TIMEOUT", "10s".into()),
        ("HOOKIT_CLAIM_LEASE", "20s".into()),
    ]
}

/// A partner of its own mapped to `receiver` at `/{name}`, answering as `behaviour`,
/// and the event id of its first delivery once that delivery's first attempt arrived.
async fn first_delivery(
    serve: &Serve,
    receiver: &Receiver,
    name: &str,
    brand: i64,
    behaviour: Behaviour,
) -> (String, Value, String) {
    let path = format!("/{name}");
    receiver.set(&path, behaviour);
    let (partner, _, issued) = serve.create_partner(name).await;
    serve
        .map(&partner, brand, Some(1), CREATED, &receiver.url(&path))
        .await;
    assert_eq!(
        serve
            .ingest(CREATED, order(brand * 100 + 1, brand, 1, 1))
            .await
            .0,
        202
    );
    let first = receiver.wait_for(&path, 1, WAIT).await;
    (partner, issued, first[0].event_id().to_owned())
}

async fn audit(serve: &Serve, action: &str) -> Value {
    let (status, audit) = serve
        .operator(Method::GET, &format!("/audit?action={action}"), None)
        .await;
    assert_eq!(status, 200, "{audit}");
    audit["data"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_retries_a_pending_delivery_now_refused_without_csrf_or_while_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &slow_retries());
    let receiver = Receiver::start().await;
    let (_, _, event_id) = first_delivery(&serve, &receiver, "fixed", 51, Behaviour::FailAll).await;
    let waiting = serve
        .wait_delivery(&event_id, WAIT, |d| {
            d["attempts"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(waiting["state"], "pending", "{waiting}");

    let mut console = Console::new(&serve);
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let path = format!("/console/deliveries/{event_id}");
    let page = console.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(&format!("action=\"{path}/retry\"")) && page.text.contains("Retry now"),
        "a pending delivery offers retry-now: {}",
        page.text
    );
    assert!(!page.text.contains(&format!("action=\"{path}/replay\"")));
    assert!(!page.text.contains("not available yet"));

    // Without the page's CSRF token: refused, and the delivery is not made due.
    let forged = console.post(&format!("{path}/retry"), &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(forged.text.contains("csrf_token_invalid"));
    assert_eq!(audit(&serve, "delivery.retried").await["total"], 0);
    let still = serve.delivery(&event_id).await;
    assert_eq!(
        still["next_attempt_at"], waiting["next_attempt_at"],
        "{still}"
    );

    // With it: due now, sent under the same event id, audited under the token's name.
    receiver.set("/fixed", Behaviour::Ok);
    let retried = console
        .post(&format!("{path}/retry"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(retried.status, 303, "{}", retried.text);
    assert_eq!(retried.location(), format!("{path}?done=retried"));
    let notice = console.get(retried.location()).await;
    assert!(notice.text.contains("Retried now"), "{}", notice.text);
    let arrived = receiver.wait_for("/fixed", 2, WAIT).await;
    assert_eq!(arrived[1].event_id(), event_id, "same event id");
    assert_eq!(arrived[1].header("x-klikit-delivery-attempt"), "2");
    assert_eq!(arrived[1].body, arrived[0].body, "same bytes");
    let entries = audit(&serve, "delivery.retried").await;
    assert_eq!(entries["total"], 1, "{entries}");
    assert_eq!(entries["entries"][0]["actor"], "root", "{entries}");
    assert_eq!(entries["entries"][0]["target"], event_id.as_str());

    // While an attempt is in flight (the receiver holds it; the lease lasts until the
    // attempt times out after ten seconds): 409, said on the delivery's page.
    let (_, _, hanging) = first_delivery(&serve, &receiver, "hanging", 52, Behaviour::Hang).await;
    let busy = console
        .post(
            &format!("/console/deliveries/{hanging}/retry"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(busy.status, 409, "{}", busy.text);
    assert!(busy.text.contains("state_conflict"), "{}", busy.text);
    assert!(
        busy.text.contains("has an attempt in flight"),
        "a clear message: {}",
        busy.text
    );
    assert!(busy.text.contains(&hanging), "the delivery's own page");
    assert_eq!(audit(&serve, "delivery.retried").await["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_retries_every_pending_delivery_matching_the_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &slow_retries());
    let receiver = Receiver::start().await;
    let (partner, _, event_id) =
        first_delivery(&serve, &receiver, "bulk", 53, Behaviour::FailAll).await;
    serve
        .wait_delivery(&event_id, WAIT, |d| {
            d["attempts"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;

    let mut console = Console::new(&serve);
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let list = console
        .get(&format!(
            "/console/deliveries?partner_id={partner}&state=pending"
        ))
        .await;
    assert_eq!(list.status, 200);
    assert!(
        list.text.contains("action=\"/console/deliveries/retry\""),
        "{}",
        list.text
    );
    assert!(
        !list.text.contains("action=\"/console/deliveries/replay\""),
        "nothing pending is replayed"
    );
    let filter = [("partner_id", partner.as_str()), ("state", "pending")];

    let forged = console.post("/console/deliveries/retry", &filter).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(audit(&serve, "deliveries.retried").await["total"], 0);

    let csrf = list.csrf();
    let dead = console
        .post(
            "/console/deliveries/retry",
            &[("csrf", &csrf), ("partner_id", &partner), ("state", "dead")],
        )
        .await;
    assert_eq!(dead.status, 400, "only pending ones are retried");
    assert!(dead.text.contains("request_invalid"));

    receiver.set("/bulk", Behaviour::Ok);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(filter);
    let answer = console.post("/console/deliveries/retry", &form).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert_eq!(
        answer.location(),
        "/console/deliveries?done=retried_bulk:1:0"
    );
    let notice = console.get(answer.location()).await;
    assert!(
        notice.text.contains("Retrying 1 pending deliveries now"),
        "{}",
        notice.text
    );
    let arrived = receiver.wait_for("/bulk", 2, WAIT).await;
    assert_eq!(arrived[1].event_id(), event_id);
    let entries = audit(&serve, "deliveries.retried").await;
    assert_eq!(entries["total"], 1, "{entries}");
    assert_eq!(entries["entries"][0]["actor"], "root");
    assert_eq!(
        entries["entries"][0]["details"]["partner_id"],
        partner.as_str()
    );
}

/// Polls the operator API until the delivery is in `state`.
async fn until_state(serve: &Serve, event_id: &str, state: &str) -> Value {
    serve
        .wait_delivery(event_id, WAIT, |d| d["state"] == state)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_replays_its_own_dead_delivery_and_nothing_of_another_partners() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (a, issued, event_a) =
        first_delivery(&serve, &receiver, "kitchen-a", 54, Behaviour::FailAll).await;
    let (_, _, event_b) =
        first_delivery(&serve, &receiver, "kitchen-b", 55, Behaviour::FailAll).await;
    until_state(&serve, &event_a, "dead").await;
    until_state(&serve, &event_b, "dead").await;

    let mut console = Console::new(&serve);
    let key = issued["partner_key"].as_str().expect("key");
    let secret = issued["secret_key"].as_str().expect("secret");
    assert_eq!(console.partner_login(key, secret).await.status, 303);
    let path = format!("/console/partner/deliveries/{event_a}");
    let page = console.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(&format!("action=\"{path}/replay\"")),
        "a dead delivery offers replay: {}",
        page.text
    );

    let forged = console.post(&format!("{path}/replay"), &[]).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(forged.text.contains("csrf_token_invalid"));

    // Another partner's dead delivery answers exactly as a missing one, and stays dead.
    let csrf = page.csrf();
    let other = console
        .post(
            &format!("/console/partner/deliveries/{event_b}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    let missing = console
        .post(
            &format!("/console/partner/deliveries/{MISSING}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!((other.status, missing.status), (404, 404), "{}", other.text);
    assert_eq!(
        other.text.replace(&event_b, "ID"),
        missing.text.replace(MISSING, "ID"),
        "another partner's delivery answers exactly as a missing one"
    );
    assert_eq!(serve.delivery(&event_b).await["state"], "dead");
    assert_eq!(audit(&serve, "delivery.replayed").await["total"], 0);

    // Its own: pending again, delivered under the same event id, audited as the partner.
    receiver.set("/kitchen-a", Behaviour::Ok);
    let before = receiver.on("/kitchen-a").len();
    let replayed = console
        .post(&format!("{path}/replay"), &[("csrf", &csrf)])
        .await;
    assert_eq!(replayed.status, 303, "{}", replayed.text);
    assert_eq!(replayed.location(), format!("{path}?done=replayed"));
    assert!(
        console
            .get(replayed.location())
            .await
            .text
            .contains("Replayed:"),
        "the page says so"
    );
    let arrived = receiver.wait_for("/kitchen-a", before + 1, WAIT).await;
    assert_eq!(arrived[before].event_id(), event_a, "same event id");
    until_state(&serve, &event_a, "delivered").await;
    let entries = audit(&serve, "delivery.replayed").await;
    assert_eq!(entries["total"], 1, "{entries}");
    assert_eq!(entries["entries"][0]["actor"], format!("partner:{a}"));
    assert_eq!(entries["entries"][0]["target"], event_a.as_str());

    // Delivered now: not replayable, and the page says why.
    let again = console
        .post(&format!("{path}/replay"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(
        again.text.contains("only dead deliveries can be replayed"),
        "{}",
        again.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_sends_itself_a_test_webhook_and_sees_how_its_endpoint_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/broken", Behaviour::FailAll);
    let (a, _, issued) = serve.create_partner("Tested").await;
    serve
        .map(&a, 56, Some(1), CREATED, &receiver.url("/ok"))
        .await;
    serve
        .map(&a, 56, Some(1), STATUS, &receiver.url("/broken"))
        .await;
    let (b, _, _) = serve.create_partner("Other").await;
    serve
        .map(&b, 57, Some(1), CREATED, &receiver.url("/other"))
        .await;

    let mut console = Console::new(&serve);
    let key = issued["partner_key"].as_str().expect("key");
    let secret = issued["secret_key"].as_str().expect("secret");
    assert_eq!(console.partner_login(key, secret).await.status, 303);
    let page = console.get("/console/partner/deliveries").await;
    assert!(page.text.contains("Send a test webhook"), "{}", page.text);
    assert!(
        !page.text.contains(&receiver.url("/other")),
        "only its own URLs are offered"
    );
    let csrf = page.csrf();

    let forged = console
        .post("/console/partner/webhooks/test", &[("event_type", CREATED)])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(forged.text.contains("csrf_token_invalid"));

    // Another partner's URL is not one of its own.
    let other_url = receiver.url("/other");
    let refused = console
        .post(
            "/console/partner/webhooks/test",
            &[
                ("csrf", &csrf),
                ("event_type", CREATED),
                ("url", &other_url),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused
            .text
            .contains("is not one of this partner's mapped URLs"),
        "{}",
        refused.text
    );

    let sent = console
        .post(
            "/console/partner/webhooks/test",
            &[("csrf", &csrf), ("event_type", CREATED), ("url", "")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert!(sent.text.contains("✓ Delivered"), "{}", sent.text);
    assert!(
        sent.text.contains("your endpoint answered 200"),
        "{}",
        sent.text
    );
    let arrived = receiver.wait_for("/ok", 1, WAIT).await;
    assert_eq!(arrived[0].header("x-klikit-test"), "true");
    assert!(
        sent.text.contains(arrived[0].event_id()),
        "the page names the test's event id"
    );

    let broken_url = receiver.url("/broken");
    let failed = console
        .post(
            "/console/partner/webhooks/test",
            &[
                ("csrf", &csrf),
                ("event_type", STATUS),
                ("url", &broken_url),
            ],
        )
        .await;
    assert_eq!(failed.status, 200, "{}", failed.text);
    assert!(
        failed.text.contains("✗ Failed") && failed.text.contains("your endpoint answered 500"),
        "{}",
        failed.text
    );
    assert_eq!(receiver.on("/broken").len(), 1, "a test is attempted once");

    // At most 5 a minute, as over the API: two were sent, three more go, the sixth waits.
    let form = [("csrf", csrf.as_str()), ("event_type", CREATED)];
    for _ in 0..3 {
        let sent = console.post("/console/partner/webhooks/test", &form).await;
        assert_eq!(sent.status, 200, "{}", sent.text);
    }
    let limited = console.post("/console/partner/webhooks/test", &form).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.text.contains("rate_limited"), "{}", limited.text);
    assert!(limited.headers.contains_key("retry-after"));
    let (_, listed) = serve
        .operator(Method::GET, &format!("/deliveries?partner_id={a}"), None)
        .await;
    assert_eq!(
        listed["data"]["deliveries"],
        json!([]),
        "test webhooks are not listed among deliveries"
    );
}

async fn endpoint_state(serve: &Serve, partner: &str) -> Value {
    let (status, endpoints) = serve
        .operator(
            Method::GET,
            &format!("/endpoints?partner_id={partner}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{endpoints}");
    endpoints["data"][0]["state"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_enables_a_disabled_endpoint_from_the_overview_refused_without_csrf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    // A 410 disables the URL at once; its delivery waits, pending.
    let (partner, _, event_id) =
        first_delivery(&serve, &receiver, "gone", 61, Behaviour::Status(410)).await;
    super::harness::eventually_async(WAIT, || async {
        (endpoint_state(&serve, &partner).await == "disabled").then_some(())
    })
    .await;
    assert_eq!(serve.delivery(&event_id).await["state"], "pending");

    let mut console = Console::new(&serve);
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let overview = console.get("/console/").await;
    let health = overview
        .text
        .split("id=\"health-title\"")
        .nth(1)
        .expect("the endpoint health section");
    assert!(
        health.contains("action=\"/console/endpoints/enable\"") && health.contains(">Enable<"),
        "a disabled URL offers to enable it: {health}"
    );
    assert!(health.contains(&receiver.url("/gone")), "{health}");

    // Without the page's CSRF token: refused, and the endpoint stays disabled.
    let url = receiver.url("/gone");
    let fields = [("partner_id", partner.as_str()), ("url", url.as_str())];
    let forged = console.post("/console/endpoints/enable", &fields).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert!(forged.text.contains("csrf_token_invalid"));
    assert_eq!(endpoint_state(&serve, &partner).await, "disabled");
    assert_eq!(audit(&serve, "endpoint.enabled").await["total"], 0);

    // With it: enabled through the API's own path, audited under the token's name, and
    // the waiting delivery goes out under its event id.
    receiver.set("/gone", Behaviour::Ok);
    let csrf = overview.csrf();
    let with_csrf = [fields[0], fields[1], ("csrf", csrf.as_str())];
    let enabled = console.post("/console/endpoints/enable", &with_csrf).await;
    assert_eq!(enabled.status, 303, "{}", enabled.text);
    assert_eq!(enabled.location(), "/console/?done=endpoint_enabled");
    let notice = console.get(enabled.location()).await;
    assert!(notice.text.contains("Endpoint enabled"), "{}", notice.text);
    assert!(
        notice.text.contains("Every mapped URL is healthy."),
        "{}",
        notice.text
    );
    assert_eq!(endpoint_state(&serve, &partner).await, "healthy");
    let entries = audit(&serve, "endpoint.enabled").await;
    assert_eq!(entries["total"], 1, "{entries}");
    assert_eq!(entries["entries"][0]["actor"], "root", "{entries}");
    assert_eq!(entries["entries"][0]["target"], partner.as_str());
    let arrived = receiver.wait_for("/gone", 2, WAIT).await;
    assert_eq!(arrived[1].event_id(), event_id, "same event id");
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;

    // A URL no mapping has: the API's own 404, said on a page.
    let unknown = [
        fields[0],
        ("url", "https://never.example/"),
        ("csrf", csrf.as_str()),
    ];
    let missing = console.post("/console/endpoints/enable", &unknown).await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert!(
        missing.text.contains("resource_not_found"),
        "{}",
        missing.text
    );
}
