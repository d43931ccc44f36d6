//! Standard Webhooks headers, per partner opt-in, checked by a verifier written here
//! from the Standard Webhooks specification (standardwebhooks.com), not from hookit's
//! code: the secret is base64 after a `whsec_` prefix; the signed content is
//! `{msg_id}.{timestamp}.{payload}`; a signature is `v1,` + base64 of its
//! HMAC-SHA256; the header may list several, separated by spaces, and any may match;
//! a timestamp too far from now is refused.

mod harness;

use base64::Engine as _;
use harness::receiver::{Behaviour, Received, Receiver};
use harness::{Serve, fast_env, order};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

const STATUS: &str = "klikit.order.status.updated";
const WAIT: Duration = Duration::from_secs(30);
/// The specification's suggested tolerance for `webhook-timestamp`.
const TOLERANCE_SECS: i64 = 5 * 60;

/// Why the independent verifier refused a message.
#[derive(Debug, PartialEq)]
enum Refused {
    MissingHeader(&'static str),
    BadSecret,
    BadTimestamp,
    TimestampOutOfTolerance,
    NoMatchingSignature,
}

/// A Standard Webhooks verifier, as a partner would write one from the specification.
fn standard_verify(
    whsec: &str,
    headers: &dyn Fn(&str) -> Option<String>,
    payload: &[u8],
    now_secs: i64,
) -> Result<(), Refused> {
    let msg_id = headers("webhook-id").ok_or(Refused::MissingHeader("webhook-id"))?;
    let timestamp =
        headers("webhook-timestamp").ok_or(Refused::MissingHeader("webhook-timestamp"))?;
    let signatures =
        headers("webhook-signature").ok_or(Refused::MissingHeader("webhook-signature"))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(whsec.strip_prefix("whsec_").ok_or(Refused::BadSecret)?)
        .map_err(|_| Refused::BadSecret)?;
    let seconds: i64 = timestamp.parse().map_err(|_| Refused::BadTimestamp)?;
    if (now_secs - seconds).abs() > TOLERANCE_SECS {
        return Err(Refused::TimestampOutOfTolerance);
    }
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(payload);
    for candidate in signatures.split(' ') {
        let Some(("v1", signature)) = candidate.split_once(',') else {
            continue;
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| Refused::BadSecret)?;
        mac.update(&content);
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(Refused::NoMatchingSignature)
}

fn verify_request(whsec: &str, request: &Received, now_secs: i64) -> Result<(), Refused> {
    let lookup = |name: &str| request.headers.get(name).cloned();
    standard_verify(whsec, &lookup, &request.body, now_secs)
}

fn now_secs() -> i64 {
    harness::now_millis() / 1000
}

fn signature_count(request: &Received) -> usize {
    request.header("webhook-signature").split(' ').count()
}

async fn create_partner(serve: &Serve, body: Value) -> Value {
    let (status, answer) = serve
        .operator(reqwest::Method::POST, "/partners", Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
    answer["data"].clone()
}

/// Retries every 200 ms (±20 %) for about 12 s, so attempts straddle a short grace.
fn retrying_env() -> Vec<(&'static str, String)> {
    let mut env = fast_env();
    env.retain(|(name, _)| *name != "HOOKIT_RETRY_SCHEDULE");
    env.push(("HOOKIT_RETRY_SCHEDULE", vec!["200ms"; 60].join(",")));
    env
}

#[tokio::test]
async fn standard_signatures_verify_with_an_independent_verifier_and_carry_both_during_a_grace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &retrying_env());
    let receiver = Receiver::start().await;
    let created = create_partner(
        &serve,
        json!({ "name": "Standard", "signature_scheme": "klikit+standard" }),
    )
    .await;
    assert_eq!(created["signature_scheme"], "klikit+standard");
    let partner = created["id"].as_str().expect("id").to_owned();
    let old_key = created["webhook_secret_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let old = created["webhook_secret_standard"]
        .as_str()
        .expect("standard form")
        .to_owned();
    serve
        .map(&partner, 1, Some(10), STATUS, &receiver.url("/hooks"))
        .await;

    serve.ingest(STATUS, order(61, 1, 10, 2)).await;
    let plain = receiver.wait_for("/hooks", 1, WAIT).await.remove(0);
    assert_eq!(plain.header("webhook-id"), plain.event_id());
    assert_eq!(verify_request(&old, &plain, now_secs()), Ok(()));
    assert_eq!(signature_count(&plain), 1);
    // The klikit header is sent as ever, with the same key.
    assert!(
        klikit_webhook::verify(
            old_key.as_bytes(),
            &plain.body,
            Some(plain.header("x-klikit-signature"))
        )
        .is_ok()
    );
    // The verifier is not a pushover: a captured request expires, and a changed body
    // or another secret fails.
    assert_eq!(
        verify_request(&old, &plain, now_secs() + TOLERANCE_SECS + 60),
        Err(Refused::TimestampOutOfTolerance)
    );
    let mut tampered = plain.clone();
    tampered.body.push(b' ');
    assert_eq!(
        verify_request(&old, &tampered, now_secs()),
        Err(Refused::NoMatchingSignature)
    );

    // A grace rotation: both signatures until the switch, then only the new one.
    receiver.set("/hooks", Behaviour::FailAll);
    let (status, answer) = serve
        .operator(
            reqwest::Method::POST,
            &format!("/partners/{partner}/webhook-secret/rotate"),
            Some(json!({ "grace": "2000ms" })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let new = answer["data"]["webhook_secret_standard"]
        .as_str()
        .expect("standard form")
        .to_owned();
    assert_eq!(
        verify_request(&new, &plain, now_secs()),
        Err(Refused::NoMatchingSignature),
        "the new secret is another key"
    );
    serve.ingest(STATUS, order(62, 1, 10, 2)).await;
    harness::eventually(WAIT, "an attempt with one signature again", || {
        let got = receiver.on("/hooks");
        got.iter()
            .any(|r| r.order_ids() == vec![62] && signature_count(r) == 1)
            .then_some(())
    })
    .await;
    receiver.set("/hooks", Behaviour::Ok);
    let attempts: Vec<Received> = receiver
        .on("/hooks")
        .into_iter()
        .filter(|r| r.order_ids() == vec![62])
        .collect();
    assert!(
        signature_count(&attempts[0]) == 2,
        "the first attempt, during the grace window, carries both signatures"
    );
    let now = now_secs();
    let mut switched = false;
    for request in &attempts {
        let number = request.header("x-klikit-delivery-attempt");
        assert_eq!(
            verify_request(&new, request, now),
            Ok(()),
            "attempt {number}"
        );
        match signature_count(request) {
            2 => {
                assert!(
                    !switched,
                    "attempt {number}: two signatures after the switch"
                );
                assert_eq!(
                    verify_request(&old, request, now),
                    Ok(()),
                    "attempt {number}"
                );
            }
            1 => {
                switched = true;
                assert_eq!(
                    verify_request(&old, request, now),
                    Err(Refused::NoMatchingSignature),
                    "attempt {number}: after the switch the old secret verifies nothing"
                );
            }
            n => panic!("attempt {number}: {n} signatures"),
        }
    }
}

#[tokio::test]
async fn the_scheme_is_opt_in_and_changed_by_patch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let created = create_partner(&serve, json!({ "name": "Plain" })).await;
    assert_eq!(created["signature_scheme"], "klikit");
    let partner = created["id"].as_str().expect("id").to_owned();
    let whsec = created["webhook_secret_standard"]
        .as_str()
        .expect("shown to every partner")
        .to_owned();
    serve
        .map(&partner, 1, Some(10), STATUS, &receiver.url("/hooks"))
        .await;
    serve.ingest(STATUS, order(71, 1, 10, 2)).await;
    let plain = receiver.wait_for("/hooks", 1, WAIT).await.remove(0);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(
            !plain.headers.contains_key(name),
            "{name} without opting in"
        );
    }

    let path = format!("/partners/{partner}");
    for (body, field) in [
        (
            json!({ "signature_scheme": "standard" }),
            "signature_scheme",
        ),
        (json!({ "signature_scheme": 1 }), "signature_scheme"),
        (json!({ "name": "x" }), "name"),
    ] {
        let (status, answer) = serve
            .operator(reqwest::Method::PATCH, &path, Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "request_invalid");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {message}");
    }
    let (status, answer) = serve
        .operator(
            reqwest::Method::PATCH,
            &path,
            Some(json!({ "signature_scheme": "klikit+standard" })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["signature_scheme"], "klikit+standard");

    serve.ingest(STATUS, order(72, 1, 10, 2)).await;
    let got = receiver.wait_for("/hooks", 2, WAIT).await;
    let opted = got.iter().find(|r| r.order_ids() == vec![72]).expect("72");
    assert_eq!(verify_request(&whsec, opted, now_secs()), Ok(()));
}
