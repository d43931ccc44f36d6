//! Failed-authentication throttling is keyed by (client, presented key): one client's
//! bad tries cannot lock out another client behind the same address, and behind a
//! trusted proxy the client is the one `X-Forwarded-For` names.

mod harness;

use base64::Engine;
use harness::{OPERATOR_TOKEN, Serve, fast_env};

/// Failures allowed per (client, key) in a window, by default.
const PER_KEY: usize = 20;

fn basic(key: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
    format!("Basic {encoded}")
}

/// The status of `GET /v1/partner/webhooks` with `authorization`, optionally sent
/// with an `X-Forwarded-For` header.
async fn partner_get(serve: &Serve, authorization: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .get(format!("{}/v1/partner/webhooks", serve.base))
        .header("authorization", authorization);
    if let Some(forwarded) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.expect("send").status().as_u16()
}

/// A partner's Basic credential.
async fn onboard(serve: &Serve) -> String {
    let (_, _, data) = serve.create_partner("Acme").await;
    basic(
        data["partner_key"].as_str().expect("partner_key"),
        data["secret_key"].as_str().expect("secret_key"),
    )
}

/// Sends `tries` bad credentials; returns their statuses.
async fn bad_tries(serve: &Serve, tries: usize, forwarded_for: Option<&str>) -> Vec<u16> {
    let bogus = basic("pk_bogus_key", "sk_wrong");
    let mut statuses = Vec::new();
    for _ in 0..tries {
        statuses.push(partner_get(serve, &bogus, forwarded_for).await);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bogus_key_is_throttled_without_locking_out_a_valid_partner() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let valid = onboard(&serve).await;
    let statuses = bad_tries(&serve, 25, None).await;
    assert!(
        statuses[..=PER_KEY].iter().all(|status| *status == 401),
        "up to the limit, each failure is answered 401: {statuses:?}"
    );
    assert!(
        statuses[PER_KEY + 1..].iter().all(|status| *status == 429),
        "past the limit, the bogus key is throttled: {statuses:?}"
    );
    assert_eq!(
        partner_get(&serve, &valid, None).await,
        200,
        "a valid partner from the same address still gets in"
    );
    assert_eq!(
        partner_get(
            &serve,
            &basic("pk_bogus_key", "sk_wrong"),
            Some("203.0.113.7")
        )
        .await,
        429,
        "with no trusted proxy, X-Forwarded-For does not change the client"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_x_forwarded_for_decides_the_client() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_TRUSTED_PROXIES", "127.0.0.1/32".into()));
    let serve = Serve::start(dir.path(), &env);
    let statuses = bad_tries(&serve, 25, Some("203.0.113.7")).await;
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(
        partner_get(
            &serve,
            &basic("pk_bogus_key", "sk_wrong"),
            Some("198.51.100.2")
        )
        .await,
        401,
        "another forwarded client with the same key is not throttled"
    );
    assert_eq!(
        partner_get(
            &serve,
            &basic("pk_bogus_key", "sk_wrong"),
            Some("203.0.113.7, 127.0.0.1")
        )
        .await,
        429,
        "the right-most address that is not a trusted proxy is the client"
    );
    assert_eq!(
        partner_get(&serve, &basic("pk_bogus_key", "sk_wrong"), None).await,
        401,
        "the proxy itself is a different client"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_token_guesses_are_throttled_but_the_right_token_gets_in() {
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_AUTH_FAILURES_PER_KEY", "3".into()));
    let serve = Serve::start(dir.path(), &env);
    let client = reqwest::Client::new();
    let call = |token: &'static str| {
        client
            .get(format!("{}/v1/operator/partners", serve.base))
            .bearer_auth(token)
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(call("hkop_guess").await.expect("send").status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429]);
    let throttled = call("hkop_guess").await.expect("send");
    assert!(throttled.headers().get("retry-after").is_some());
    assert_eq!(
        call(OPERATOR_TOKEN).await.expect("send").status().as_u16(),
        200
    );
}
