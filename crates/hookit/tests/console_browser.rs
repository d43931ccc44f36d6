//! The console in a real browser: headless Debian Chromium driven through
//! `chromedriver` (WebDriver, from Rust with `fantoccini`) against a real
//! `hookit serve` on 127.0.0.1. Chromium is started so that it contacts nothing but
//! loopback. Without Chromium these tests skip with a message, unless
//! `HOOKIT_REQUIRE_BROWSER=1` (as `.ci/run` sets), when they fail.
//!
//! Each page visited is saved as a screenshot in `target/console-screenshots/`. The
//! actions on deliveries (a partner's replay and test webhook, an operator's
//! retry-now) are driven in `console_browser/actions.rs`.

#[path = "console_browser/actions.rs"]
mod actions;
#[path = "console_support/browser.rs"]
mod browser;
mod harness;

use browser::{WAIT, browser, screenshot};

use fantoccini::{Client, Locator};
use harness::receiver::{Behaviour, Receiver};
use harness::{OPERATOR_TOKEN, Serve, fast_env, order};
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The page's text. A click that submits a form may still be navigating when this is
/// called: a body that went stale under it is looked up again on the new page.
async fn text_of(client: &Client) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = client.find(Locator::Css("body")).await;
        match body {
            Ok(body) => match body.text().await {
                Ok(text) => return text,
                Err(err) => assert!(Instant::now() < deadline, "text: {err:?}"),
            },
            Err(err) => assert!(Instant::now() < deadline, "body: {err:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits, without reloading, until the page shows `needle` (after a click that
/// navigates), and returns its text.
async fn text_once_it_shows(client: &Client, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = text_of(client).await;
        if text.contains(needle) || Instant::now() >= deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

/// Reloads `url` until its text contains `needle` (something the server is known to
/// be about to show), or fails after the deadline.
async fn until_page_shows(client: &Client, url: &str, needle: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        client.goto(url).await.expect("goto");
        if text_of(client).await.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never showed {needle:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn operator_login(client: &Client, base: &str) {
    client
        .goto(&format!("{base}/console/"))
        .await
        .expect("goto");
    fill(client, "#token", OPERATOR_TOKEN).await;
    click(client, "form.login button").await;
    let text = text_once_it_shows(client, "Deliveries per minute").await;
    assert!(text.contains("Deliveries per minute"), "logged in: {text}");
}

/// Polls the operator API until the partner has a delivery in `state`.
async fn delivery_in_state(serve: &Serve, partner: &str, state: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, page) = serve
            .operator(
                Method::GET,
                &format!("/deliveries?partner_id={partner}&state={state}"),
                None,
            )
            .await;
        if let Some(first) = page["data"]["deliveries"].get(0) {
            return first.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {state} delivery for {partner}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn an_operator_creates_a_partner_maps_a_url_and_replays_a_dead_delivery_until_delivered() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/shop", Behaviour::FailAll);
    let client = &browser.client;
    let base = &serve.base;

    client
        .goto(&format!("{base}/console/"))
        .await
        .expect("goto");
    screenshot(client, "login").await;
    operator_login(client, base).await;
    screenshot(client, "overview-empty").await;

    client
        .goto(&format!("{base}/console/partners"))
        .await
        .expect("goto");
    fill(client, "#name", "Warung POS").await;
    click(client, "form.card button").await;
    let created = text_once_it_shows(client, "shown only on this page").await;
    assert!(created.contains("shown only on this page"), "{created}");
    let secret = client
        .find(Locator::Css("#secret_key"))
        .await
        .expect("secret field")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(
        secret.starts_with("sk_"),
        "the secret is shown once: {secret}"
    );
    assert!(
        client
            .find(Locator::Css("button[data-copy=secret_key]"))
            .await
            .is_ok(),
        "with a copy button"
    );
    screenshot(client, "partner-created").await;

    client
        .find(Locator::XPath("//a[contains(., 'map its URLs')]"))
        .await
        .expect("link to the partner")
        .click()
        .await
        .expect("click");
    let partner_url = client.current_url().await.expect("url");
    let partner_id = partner_url
        .path()
        .rsplit('/')
        .next()
        .expect("id")
        .to_owned();
    fill(client, "#brand_id", "81").await;
    fill(client, "#branch_id", "1").await;
    fill(client, "#url", &receiver.url("/shop")).await;
    click(client, "form.card button[type=submit]").await;
    let page = text_once_it_shows(client, "Mapping saved.").await;
    assert!(page.contains("Mapping saved."), "{page}");
    assert!(page.contains("klikit.order.created.v2"), "{page}");
    screenshot(client, "partner").await;

    let (status, _) = serve
        .ingest("klikit.order.created.v2", order(8101, 81, 1, 1))
        .await;
    assert_eq!(status, 202);
    let dead = delivery_in_state(&serve, &partner_id, "dead").await;
    let event_id = dead["event_id"].as_str().expect("event id").to_owned();

    let list = format!("{base}/console/deliveries?state=dead&partner_id={partner_id}");
    until_page_shows(client, &list, &event_id).await;
    screenshot(client, "deliveries").await;
    client
        .find(Locator::LinkText(&event_id))
        .await
        .expect("the dead delivery's link")
        .click()
        .await
        .expect("click");
    let detail = text_of(client).await;
    assert!(detail.contains("dead"), "{detail}");
    assert!(
        detail.contains("500"),
        "its failed attempts are shown: {detail}"
    );
    screenshot(client, "delivery-dead").await;

    receiver.set("/shop", Behaviour::Ok);
    let before = receiver.on("/shop").len();
    click(client, "form.actions button").await;
    let replayed = text_once_it_shows(client, "Replayed: the delivery is pending again").await;
    assert!(
        replayed.contains("Replayed: the delivery is pending again"),
        "{replayed}"
    );
    let arrived = receiver.wait_for("/shop", before + 1, WAIT).await;
    assert_eq!(
        arrived.last().expect("arrived").event_id(),
        event_id,
        "same event id on replay"
    );
    delivery_in_state(&serve, &partner_id, "delivered").await;
    until_page_shows(
        client,
        &format!("{base}/console/deliveries/{event_id}"),
        "✓ delivered",
    )
    .await;
    screenshot(client, "delivery-delivered").await;

    client.set_window_size(390, 844).await.expect("phone width");
    client
        .goto(&format!("{base}/console/deliveries/{event_id}"))
        .await
        .expect("goto");
    screenshot(client, "delivery-phone").await;
    client
        .set_window_size(1280, 900)
        .await
        .expect("desktop width");

    for (path, name, needle) in [
        ("/console/".to_owned(), "overview", "Backlog per partner"),
        ("/console/partners".to_owned(), "partners", "Warung POS"),
        (
            "/console/orders/8101".to_owned(),
            "order",
            "Who got which version when",
        ),
        ("/console/audit".to_owned(), "audit", "delivery.replayed"),
    ] {
        client.goto(&format!("{base}{path}")).await.expect("goto");
        let text = text_of(client).await;
        assert!(text.contains(needle), "{path}: {text}");
        screenshot(client, name).await;
    }
    // The vendored script turned UTC times into local ones (it ran, under the CSP).
    let converted = client
        .find(Locator::Css("time[data-local]"))
        .await
        .expect("a time")
        .attr("title")
        .await
        .expect("title");
    assert!(
        converted.is_some_and(|t| t.ends_with("UTC")),
        "the script kept UTC as the title"
    );
    let _ = browser.client.clone().close().await;
}

#[tokio::test]
async fn a_partner_sees_only_its_own_deliveries_forged_forms_are_refused_and_logged_out_pages_are_closed()
 {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let (a, _, issued) = serve.create_partner("Kitchen A").await;
    let (b, _, _) = serve.create_partner("Kitchen B").await;
    serve
        .map(
            &a,
            91,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/a"),
        )
        .await;
    serve
        .map(
            &b,
            92,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/b"),
        )
        .await;
    serve
        .ingest("klikit.order.created.v2", order(9101, 91, 1, 1))
        .await;
    serve
        .ingest("klikit.order.created.v2", order(9201, 92, 1, 1))
        .await;
    let event_a = receiver.wait_for("/a", 1, WAIT).await[0]
        .event_id()
        .to_owned();
    let event_b = receiver.wait_for("/b", 1, WAIT).await[0]
        .event_id()
        .to_owned();
    let client = &browser.client;
    let base = &serve.base;

    // Logged out: every page leads to a login form.
    for path in [
        "/console/partners",
        "/console/deliveries",
        "/console/audit",
        "/console/orders/9101",
    ] {
        client.goto(&format!("{base}{path}")).await.expect("goto");
        assert_eq!(
            client.current_url().await.expect("url").path(),
            "/console/",
            "{path}"
        );
        assert!(
            client.find(Locator::Css("#token")).await.is_ok(),
            "{path} shows the login form"
        );
    }
    for path in [
        "/console/partner/deliveries",
        &format!("/console/partner/deliveries/{event_a}"),
    ] {
        client.goto(&format!("{base}{path}")).await.expect("goto");
        assert_eq!(
            client.current_url().await.expect("url").path(),
            "/console/partner/",
            "{path}"
        );
    }
    screenshot(client, "partner-login").await;

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
    let home = text_once_it_shows(client, "My URLs").await;
    assert!(home.contains("My URLs"), "{home}");
    assert!(home.contains(&receiver.url("/a")));
    assert!(
        !home.contains(&receiver.url("/b")),
        "not another partner's URL"
    );
    screenshot(client, "portal").await;

    client
        .goto(&format!("{base}/console/partner/deliveries"))
        .await
        .expect("goto");
    let list = text_of(client).await;
    assert!(list.contains(&event_a), "{list}");
    assert!(!list.contains(&event_b), "{list}");
    screenshot(client, "portal-deliveries").await;
    client
        .goto(&format!("{base}/console/partner/deliveries/{event_b}"))
        .await
        .expect("goto");
    assert!(
        text_of(client).await.contains("resource_not_found"),
        "another partner's delivery is not found"
    );
    client
        .goto(&format!("{base}/console/partner/deliveries/{event_a}"))
        .await
        .expect("goto");
    assert!(text_of(client).await.contains("9101"));
    screenshot(client, "portal-delivery").await;

    // An operator form with its CSRF field taken out is refused.
    operator_login(client, base).await;
    client
        .goto(&format!("{base}/console/partners"))
        .await
        .expect("goto");
    client
        .execute(
            "document.querySelectorAll('form.card input[name=csrf]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .expect("remove the token");
    fill(client, "#name", "Forged").await;
    click(client, "form.card button").await;
    let refused = text_once_it_shows(client, "csrf_token_invalid").await;
    assert!(
        refused.contains("403") && refused.contains("csrf_token_invalid"),
        "{refused}"
    );
    let (_, partners) = serve.operator(Method::GET, "/partners", None).await;
    assert_eq!(
        partners["data"].as_array().expect("list").len(),
        2,
        "nothing was created"
    );
    let _ = browser.client.clone().close().await;
}
