//! The console's actions on deliveries in the browser: a partner replays its dead
//! delivery until it is delivered and sends itself a test webhook; an operator retries
//! a pending delivery now.

use super::browser::{WAIT, browser, screenshot};
use super::harness::receiver::{Behaviour, Receiver};
use super::harness::{Serve, fast_env, order};
use super::{
    click, delivery_in_state, fill, operator_login, text_of, text_once_it_shows, until_page_shows,
};
use fantoccini::Locator;

#[tokio::test]
async fn a_partner_replays_its_dead_delivery_until_delivered_and_sends_itself_a_test_webhook() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/kitchen", Behaviour::FailAll);
    let (partner, _, issued) = serve.create_partner("Kitchen C").await;
    serve
        .map(
            &partner,
            93,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/kitchen"),
        )
        .await;
    let (status, _) = serve
        .ingest("klikit.order.created.v2", order(9301, 93, 1, 1))
        .await;
    assert_eq!(status, 202);
    let dead = delivery_in_state(&serve, &partner, "dead").await;
    let event_id = dead["event_id"].as_str().expect("event id").to_owned();
    let client = &browser.client;
    let base = &serve.base;

    client
        .goto(&format!("{base}/console/partner/"))
        .await
        .expect("goto");
    fill(
        client,
        "#partner_key",
        issued["partner_key"].as_str().expect("key"),
    )
    .await;
    fill(
        client,
        "#secret_key",
        issued["secret_key"].as_str().expect("secret"),
    )
    .await;
    click(client, "form.login button").await;
    assert!(
        text_once_it_shows(client, "My URLs")
            .await
            .contains("My URLs")
    );

    let page = format!("{base}/console/partner/deliveries/{event_id}");
    client.goto(&page).await.expect("goto");
    let detail = text_of(client).await;
    assert!(
        detail.contains("dead") && detail.contains("500"),
        "{detail}"
    );
    screenshot(client, "portal-delivery-dead").await;

    receiver.set("/kitchen", Behaviour::Ok);
    let before = receiver.on("/kitchen").len();
    click(client, "form.actions button").await;
    let replayed = text_once_it_shows(client, "Replayed: the delivery is pending again").await;
    assert!(
        replayed.contains("Replayed: the delivery is pending again"),
        "{replayed}"
    );
    let arrived = receiver.wait_for("/kitchen", before + 1, WAIT).await;
    assert_eq!(
        arrived[before].event_id(),
        event_id,
        "same event id on replay"
    );
    delivery_in_state(&serve, &partner, "delivered").await;
    until_page_shows(client, &page, "✓ delivered").await;
    assert!(
        client.find(Locator::Css("form.actions")).await.is_err(),
        "a delivered delivery offers no replay"
    );
    screenshot(client, "portal-delivery-replayed").await;

    client
        .goto(&format!("{base}/console/partner/deliveries"))
        .await
        .expect("goto");
    assert!(text_of(client).await.contains("Send a test webhook"));
    screenshot(client, "portal-test-webhook-form").await;
    let tests_before = receiver.on("/kitchen").len();
    click(client, "form.test-webhook button").await;
    let outcome = text_once_it_shows(client, "Delivered:").await;
    assert!(
        outcome.contains("✓ Delivered: your endpoint answered 200"),
        "{outcome}"
    );
    let arrived = receiver.wait_for("/kitchen", tests_before + 1, WAIT).await;
    let test = &arrived[tests_before];
    assert_eq!(
        test.header("x-klikit-test"),
        "true",
        "the receiver got the test"
    );
    assert!(outcome.contains(test.event_id()), "{outcome}");
    screenshot(client, "portal-test-webhook").await;
    let _ = browser.client.clone().close().await;
}

#[tokio::test]
async fn an_operator_retries_a_pending_delivery_now_once_its_endpoint_is_fixed() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = fast_env();
    // A failed attempt is retried only after an hour: only retry-now sends it sooner.
    env.retain(|(name, _)| *name != "HOOKIT_RETRY_SCHEDULE");
    env.push(("HOOKIT_RETRY_SCHEDULE", "1h,1h".into()));
    let serve = Serve::start(dir.path(), &env);
    let receiver = Receiver::start().await;
    receiver.set("/till", Behaviour::FailAll);
    let (partner, _, _) = serve.create_partner("Till D").await;
    serve
        .map(
            &partner,
            94,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/till"),
        )
        .await;
    let (status, _) = serve
        .ingest("klikit.order.created.v2", order(9401, 94, 1, 1))
        .await;
    assert_eq!(status, 202);
    let event_id = receiver.wait_for("/till", 1, WAIT).await[0]
        .event_id()
        .to_owned();
    serve
        .wait_delivery(&event_id, WAIT, |d| {
            d["attempts"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let client = &browser.client;
    let base = &serve.base;
    operator_login(client, base).await;

    let page = format!("{base}/console/deliveries/{event_id}");
    client.goto(&page).await.expect("goto");
    let detail = text_of(client).await;
    assert!(
        detail.contains("pending") && detail.contains("Retry now"),
        "{detail}"
    );
    screenshot(client, "delivery-pending").await;

    receiver.set("/till", Behaviour::Ok);
    click(client, "form.actions button").await;
    let retried = text_once_it_shows(client, "Retried now").await;
    assert!(retried.contains("Retried now"), "{retried}");
    let arrived = receiver.wait_for("/till", 2, WAIT).await;
    assert_eq!(arrived[1].event_id(), event_id, "same event id");
    until_page_shows(client, &page, "✓ delivered").await;
    screenshot(client, "delivery-retried").await;
    let _ = browser.client.clone().close().await;
}
