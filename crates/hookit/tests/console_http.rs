//! The console over plain HTTP (no browser): CSRF on every form, the cookies'
//! attributes, the Content-Security-Policy, sessions that end when their token is
//! revoked or the partner's secret rotated or the partner disabled, partner scoping,
//! and `HOOKIT_CONSOLE=off`. The actions on deliveries (retry-now, a partner's replay
//! and test webhook) are checked in `console_http/actions.rs`.

#[path = "console_http/actions.rs"]
mod actions;
#[path = "console_support/client.rs"]
mod client;
mod harness;

use client::Console;

use harness::{OPERATOR_TOKEN, Serve, fast_env};
use reqwest::Method;
use serde_json::json;

fn start() -> (tempfile::TempDir, Serve) {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    (dir, serve)
}

#[tokio::test]
async fn login_sets_a_sealed_http_only_strict_cookie_and_pages_carry_a_script_free_csp() {
    let (_dir, serve) = start();
    let mut console = Console::new(&serve);
    let login = console.get("/console/").await;
    assert_eq!(login.status, 200);
    let csp = login.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(
        !login.text.contains("<script>"),
        "no inline script on the page"
    );

    let answer = console.operator_login(OPERATOR_TOKEN).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert_eq!(answer.location(), "/console/");
    let cookie = answer.set_cookie("hookit_console").expect("session cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http without a trusted proxy: {cookie}"
    );
    assert!(
        !cookie.contains(OPERATOR_TOKEN),
        "the cookie is sealed: {cookie}"
    );

    let overview = console.get("/console/").await;
    assert_eq!(overview.status, 200);
    assert!(
        overview.text.contains("Deliveries per minute"),
        "{}",
        overview.text
    );
    assert!(
        overview.text.contains("<svg"),
        "the chart is server-rendered SVG"
    );
    assert!(
        overview.headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn the_cookie_is_secure_behind_a_trusted_https_proxy_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = fast_env();
    env.push(("HOOKIT_TRUSTED_PROXIES", "127.0.0.1/32".into()));
    let serve = Serve::start(dir.path(), &env);
    let mut console = Console::new(&serve);
    console.extra.push(("x-forwarded-proto", "https"));
    let answer = console.operator_login(OPERATOR_TOKEN).await;
    assert_eq!(answer.status, 303);
    let cookie = answer.set_cookie("hookit_console").expect("session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Not trusted: the same header is ignored.
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let mut console = Console::new(&serve);
    console.extra.push(("x-forwarded-proto", "https"));
    let answer = console.operator_login(OPERATOR_TOKEN).await;
    let cookie = answer.set_cookie("hookit_console").expect("session cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let (_dir, serve) = start();
    let mut console = Console::new(&serve);
    // A login form posted without the token of its page.
    let _ = console.get("/console/").await;
    let answer = console
        .post("/console/login", &[("token", OPERATOR_TOKEN)])
        .await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert!(answer.text.contains("csrf_token_invalid"));
    assert!(answer.set_cookie("hookit_console").is_none());

    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let missing = console
        .post("/console/partners", &[("name", "Forged")])
        .await;
    assert_eq!(missing.status, 403, "{}", missing.text);
    let wrong = console
        .post(
            "/console/partners",
            &[("name", "Forged"), ("csrf", "not-the-token")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let (_, partners) = serve.operator(Method::GET, "/partners", None).await;
    assert_eq!(partners["data"], json!([]), "no partner was created");

    // With the page's token it works.
    let page = console.get("/console/partners").await;
    let created = console
        .post(
            "/console/partners",
            &[("name", "Real"), ("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert!(created.text.contains("sk_"), "the secret is shown once");
    let again = console.get("/console/partners").await;
    assert!(again.text.contains("Real"));
    assert!(!again.text.contains("sk_"), "and never again");
}

#[tokio::test]
async fn a_logged_out_browser_reaches_no_page() {
    let (_dir, serve) = start();
    let (partner_id, _, _) = serve.create_partner("Somebody").await;
    let mut console = Console::new(&serve);
    for path in [
        "/console/partners".to_owned(),
        format!("/console/partners/{partner_id}"),
        "/console/deliveries".to_owned(),
        "/console/deliveries/evt_0123456789abcdef0123456789abcdef".to_owned(),
        "/console/orders".to_owned(),
        "/console/orders/1".to_owned(),
        "/console/audit".to_owned(),
    ] {
        let answer = console.get(&path).await;
        assert_eq!(answer.status, 303, "{path}");
        assert_eq!(answer.location(), "/console/", "{path}");
    }
    for path in [
        "/console/partner/deliveries",
        "/console/partner/deliveries/evt_0123456789abcdef0123456789abcdef",
    ] {
        let answer = console.get(path).await;
        assert_eq!(answer.status, 303, "{path}");
        assert_eq!(answer.location(), "/console/partner/", "{path}");
    }
    // Logging out ends the session.
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let page = console.get("/console/partners").await;
    assert_eq!(page.status, 200);
    let out = console
        .post("/console/logout", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(console.get("/console/partners").await.status, 303);

    // A session cookie changed by one character opens nothing.
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    assert_eq!(console.get("/console/partners").await.status, 200);
    let (_, value) = console
        .cookies
        .iter_mut()
        .find(|(name, _)| name == "hookit_console")
        .expect("session cookie");
    let last = value.pop().expect("a character");
    value.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        console.get("/console/partners").await.status,
        303,
        "a tampered session is refused"
    );
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions_and_actions_are_audited_under_its_name() {
    let (_dir, serve) = start();
    let (status, minted) = serve
        .operator(Method::POST, "/tokens", Some(json!({ "name": "alice" })))
        .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["data"]["token"].as_str().expect("token").to_owned();
    let mut console = Console::new(&serve);
    assert_eq!(console.operator_login(&token).await.status, 303);
    let page = console.get("/console/partners").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("alice"));
    let created = console
        .post(
            "/console/partners",
            &[("name", "Audited"), ("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(created.status, 200);
    let (_, audit) = serve
        .operator(Method::GET, "/audit?action=partner.created", None)
        .await;
    assert_eq!(audit["data"]["entries"][0]["actor"], "alice", "{audit}");

    let (status, _) = serve.operator(Method::DELETE, "/tokens/alice", None).await;
    assert_eq!(status, 200);
    let after = console.get("/console/partners").await;
    assert_eq!(after.status, 303, "a revoked token's session ends");
    assert_eq!(after.location(), "/console/");
}

#[tokio::test]
async fn rotating_the_secret_or_disabling_the_partner_ends_its_portal_sessions() {
    let (_dir, serve) = start();
    let (id, _, issued) = serve.create_partner("Portal").await;
    let key = issued["partner_key"].as_str().expect("key").to_owned();
    let secret = issued["secret_key"].as_str().expect("secret").to_owned();

    let mut console = Console::new(&serve);
    let wrong = console.partner_login(&key, "sk_wrong").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(console.partner_login(&key, &secret).await.status, 303);
    let home = console.get("/console/partner/").await;
    assert!(home.text.contains("My URLs"), "{}", home.text);
    // An operator session is a different cookie: the partner's opens no operator page.
    assert_eq!(console.get("/console/partners").await.status, 303);

    let (status, rotated) = serve
        .operator(Method::POST, &format!("/partners/{id}/secret/rotate"), None)
        .await;
    assert_eq!(status, 200);
    let after = console.get("/console/partner/deliveries").await;
    assert_eq!(after.status, 303, "rotation ends the session");

    let secret = rotated["data"]["secret_key"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(console.partner_login(&key, &secret).await.status, 303);
    assert_eq!(console.get("/console/partner/deliveries").await.status, 200);
    let (status, _) = serve
        .operator(Method::POST, &format!("/partners/{id}/disable"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        console.get("/console/partner/deliveries").await.status,
        303,
        "disabling ends the session"
    );
}

#[tokio::test]
async fn a_partner_sees_no_other_partners_delivery_even_by_its_id() {
    let (_dir, serve) = start();
    let receiver = harness::receiver::Receiver::start().await;
    let (a, _, issued_a) = serve.create_partner("A").await;
    let (b, _, _) = serve.create_partner("B").await;
    serve
        .map(
            &a,
            71,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/a"),
        )
        .await;
    serve
        .map(
            &b,
            72,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/b"),
        )
        .await;
    assert_eq!(
        serve
            .ingest("klikit.order.created.v2", harness::order(7101, 71, 1, 1))
            .await
            .0,
        202
    );
    assert_eq!(
        serve
            .ingest("klikit.order.created.v2", harness::order(7201, 72, 1, 1))
            .await
            .0,
        202
    );
    let got_a = receiver
        .wait_for("/a", 1, std::time::Duration::from_secs(20))
        .await;
    let got_b = receiver
        .wait_for("/b", 1, std::time::Duration::from_secs(20))
        .await;
    let (event_a, event_b) = (
        got_a[0].event_id().to_owned(),
        got_b[0].event_id().to_owned(),
    );

    let mut console = Console::new(&serve);
    let key = issued_a["partner_key"].as_str().expect("key");
    let secret = issued_a["secret_key"].as_str().expect("secret");
    assert_eq!(console.partner_login(key, secret).await.status, 303);
    let list = console
        .get(&format!("/console/partner/deliveries?partner_id={b}"))
        .await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains(&event_a), "its own delivery is listed");
    assert!(
        !list.text.contains(&event_b),
        "another partner's is not, whatever the query"
    );
    let own = console
        .get(&format!("/console/partner/deliveries/{event_a}"))
        .await;
    assert_eq!(own.status, 200);
    assert!(own.text.contains("7101"));
    let other = console
        .get(&format!("/console/partner/deliveries/{event_b}"))
        .await;
    let missing = console
        .get("/console/partner/deliveries/evt_0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(missing.status, 404);
    assert_eq!(
        other.text.replace(&event_b, "ID"),
        missing
            .text
            .replace("evt_0123456789abcdef0123456789abcdef", "ID"),
        "another partner's delivery answers exactly as a missing one"
    );
    let download = console
        .get(&format!("/console/partner/deliveries/{event_a}?download"))
        .await;
    assert_eq!(
        download.text.as_bytes(),
        got_a[0].body.as_slice(),
        "the exact bytes sent"
    );
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = fast_env();
    env.push(("HOOKIT_CONSOLE", "off".into()));
    let serve = Serve::start(dir.path(), &env);
    let mut console = Console::new(&serve);
    let answer = console.get("/console/").await;
    assert_eq!(answer.status, 404);
    assert!(answer.text.contains("route_not_found"));
    let (status, _) = serve.operator(Method::GET, "/partners", None).await;
    assert_eq!(status, 200, "the APIs are still served");
}

#[tokio::test]
async fn failed_console_logins_are_throttled_like_the_apis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = fast_env();
    env.push(("HOOKIT_AUTH_FAILURES_PER_KEY", "2".into()));
    let serve = Serve::start(dir.path(), &env);
    let mut console = Console::new(&serve);
    // More than the limit of failures is throttled, as on the APIs.
    for _ in 0..3 {
        assert_eq!(console.operator_login("hkop_guess").await.status, 401);
    }
    let throttled = console.operator_login("hkop_guess").await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert!(throttled.text.contains("rate_limited"));
    // Another key from the same address still gets in.
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
}

#[tokio::test]
async fn bulk_replay_by_the_filter_replays_the_partners_dead_deliveries_under_the_operators_name() {
    // One order a delivery, so the two orders die as two deliveries even when they
    // are ingested within one tick.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = fast_env();
    env.push(("HOOKIT_MAX_BATCH_ORDERS", "1".into()));
    let serve = Serve::start(dir.path(), &env);
    let receiver = harness::receiver::Receiver::start().await;
    receiver.set("/down", harness::receiver::Behaviour::FailAll);
    let (id, _, _) = serve.create_partner("Bulk").await;
    serve
        .map(
            &id,
            61,
            Some(1),
            "klikit.order.created.v2",
            &receiver.url("/down"),
        )
        .await;
    for order_id in [6101, 6102] {
        let (status, _) = serve
            .ingest(
                "klikit.order.created.v2",
                harness::order(order_id, 61, 1, 1),
            )
            .await;
        assert_eq!(status, 202);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, page) = serve
            .operator(
                Method::GET,
                &format!("/deliveries?partner_id={id}&state=dead"),
                None,
            )
            .await;
        if page["data"]["deliveries"].as_array().map_or(0, Vec::len) == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both deliveries die: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    receiver.set("/down", harness::receiver::Behaviour::Ok);
    let before = receiver.on("/down").len();

    let mut console = Console::new(&serve);
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let list = console
        .get(&format!("/console/deliveries?state=dead&partner_id={id}"))
        .await;
    assert_eq!(list.status, 200);
    let answer = console
        .post(
            "/console/deliveries/replay",
            &[
                ("csrf", &list.csrf()),
                ("partner_id", &id),
                ("state", "dead"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert_eq!(answer.location(), "/console/deliveries?done=bulk:2:0");
    let notice = console.get(answer.location()).await;
    assert!(
        notice.text.contains("Replayed 2 deliveries"),
        "{}",
        notice.text
    );
    receiver
        .wait_for("/down", before + 2, std::time::Duration::from_secs(30))
        .await;
    let (_, audit) = serve
        .operator(Method::GET, "/audit?action=deliveries.replayed", None)
        .await;
    assert_eq!(audit["data"]["entries"][0]["actor"], "root", "{audit}");
    assert_eq!(
        audit["data"]["entries"][0]["target"],
        id.as_str(),
        "{audit}"
    );
}

#[tokio::test]
async fn the_overview_lists_unhealthy_urls_and_the_portal_shows_its_own_urls_health() {
    let (_dir, serve) = start();
    let receiver = harness::receiver::Receiver::start().await;
    receiver.set("/gone", harness::receiver::Behaviour::Status(410));
    let (id, _, issued) = serve.create_partner("Gone").await;
    let (other, _, _) = serve.create_partner("Fine").await;
    let gone = receiver.url("/gone");
    let fine = receiver.url("/fine");
    serve
        .map(&id, 81, Some(1), "klikit.order.created.v2", &gone)
        .await;
    serve
        .map(&other, 82, Some(1), "klikit.order.created.v2", &fine)
        .await;
    let mut console = Console::new(&serve);
    assert_eq!(console.operator_login(OPERATOR_TOKEN).await.status, 303);
    let healthy = console.get("/console/").await;
    assert!(
        healthy.text.contains("Every mapped URL is healthy."),
        "{}",
        healthy.text
    );
    assert_eq!(
        serve
            .ingest("klikit.order.created.v2", harness::order(8101, 81, 1, 1))
            .await
            .0,
        202
    );
    // A 410 disables the URL at once.
    harness::eventually_async(std::time::Duration::from_secs(15), || async {
        let (_, body) = serve.operator(Method::GET, "/endpoints", None).await;
        body["data"]
            .as_array()
            .is_some_and(|all| all.iter().any(|e| e["state"] == "disabled"))
            .then_some(())
    })
    .await;

    let overview = console.get("/console/").await;
    let health = overview
        .text
        .split("id=\"health-title\"")
        .nth(1)
        .expect("the endpoint health section");
    assert!(health.contains(&gone), "{health}");
    assert!(health.contains("disabled"), "{health}");
    assert!(
        !health.contains(&fine),
        "healthy URLs are not listed: {health}"
    );

    let mut portal = Console::new(&serve);
    let key = issued["partner_key"].as_str().expect("key");
    let secret = issued["secret_key"].as_str().expect("secret");
    assert_eq!(portal.partner_login(key, secret).await.status, 303);
    let home = portal.get("/console/partner/").await;
    let urls = home
        .text
        .split("URL health")
        .nth(1)
        .expect("the URL health section");
    assert!(urls.contains(&gone) && urls.contains("disabled"), "{urls}");
    assert!(
        !home.text.contains(&fine),
        "another partner's URL is never shown"
    );
}
