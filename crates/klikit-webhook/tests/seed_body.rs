//! The seed's example body, exactly as the seed page prints it, and the other vector
//! bodies, parse as envelopes.

use base64::Engine;
use klikit_webhook::{CartEntry, Envelope, OrderStatus, PaymentStatus};

fn vector_bodies() -> Vec<(String, Vec<u8>)> {
    let text = include_str!("data/signature-vectors.json");
    let json: serde_json::Value = serde_json::from_str(text).expect("vectors file is JSON");
    json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| {
            let body = base64::engine::general_purpose::STANDARD
                .decode(case["body_b64"].as_str().expect("body_b64"))
                .expect("base64");
            (case["name"].as_str().expect("name").to_owned(), body)
        })
        .collect()
}

#[test]
fn seed_example_parses_exactly_as_printed() {
    let (name, body) = vector_bodies().into_iter().next().expect("first case");
    assert_eq!(name, "seed_example_pretty");
    let envelope = Envelope::from_json_bytes(&body).expect("the seed body is valid");
    assert_eq!((envelope.brand_id, envelope.branch_id), (663, 1062));
    let order = &envelope.orders[0];
    assert_eq!(order.id, 7585307);
    assert_eq!(order.external_id.as_deref(), Some("ABC-123"));
    assert_eq!(order.business_id, Some(737));
    assert_eq!(order.brand_id(), Some(663));
    assert_eq!(order.branch_id, Some(1062));
    assert_eq!(order.status, Some(OrderStatus::Accepted));
    assert_eq!(order.payment_status, Some(PaymentStatus::Paid));
    assert_eq!(
        (order.payment_channel, order.payment_method),
        (Some(8), Some(14))
    );
    let lines = order.cart.as_ref().expect("cart").lines();
    assert!(matches!(&lines[..], [CartEntry::Other(raw)] if raw.get() == "\"...\""));
}

#[test]
fn seed_example_round_trips_to_the_compact_vector() {
    let bodies = vector_bodies();
    let pretty = &bodies[0].1;
    let (compact_name, compact) = &bodies[1];
    assert_eq!(compact_name, "seed_example_compact");
    let envelope = Envelope::from_json_bytes(pretty).expect("valid");
    assert_eq!(&envelope.to_json_bytes(), compact);
}

#[test]
fn every_json_vector_body_parses() {
    for (name, body) in vector_bodies() {
        if body.is_empty() {
            assert!(Envelope::from_json_bytes(&body).is_err(), "{name}");
            continue;
        }
        let envelope = Envelope::from_json_bytes(&body).expect(&name);
        let original: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let written: serde_json::Value =
            serde_json::from_slice(&envelope.to_json_bytes()).expect("JSON");
        assert_eq!(original, written, "{name}");
    }
}
