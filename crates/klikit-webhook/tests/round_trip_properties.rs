//! Property tests: signing round-trips, and order serialisation is a lossless fixed
//! point.

use klikit_webhook::{Order, SignatureError, sign, verify};
use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON values, numbers written as text (including decimals like `12.50`).
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..100_000, 0u32..100).prop_map(|(units, cents)| format!("{units}.{cents:02}")),
        "[a-zA-Z0-9 éü\"\\\\/\n\t]{0,12}".prop_map(|s| Value::String(s).to_string()),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[ {} ]", items.join(" , "))),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(key, value)| format!("{}: {value}", Value::String(key)))
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }),
        ]
    })
}

const KNOWN: [&str; 14] = [
    "external_id",
    "business_id",
    "brands",
    "branch_id",
    "status",
    "cart",
    "payment_status",
    "payment_channel",
    "payment_method",
    "placed_at",
    "updated_at",
    "version",
    "payment",
    "id",
];

/// Arbitrary orders: an integer id, then known and unknown keys with any values, plus
/// some well-typed known fields.
fn order_json() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ];
    let typed = prop_oneof![
        (1i64..10).prop_map(|code| format!("\"status\": {code}")),
        Just("\"brands\": [{\"id\": 663, \"title\": \"Bali\"}]".to_owned()),
        Just("\"placed_at\": \"2026-11-28T15:04:05+07:00\"".to_owned()),
        Just("\"cart\": [\"...\", {\"price\": \"12.50\"}]".to_owned()),
        Just("\"payment\": {\"status\": 1, \"method\": 2, \"x\": 1.10}".to_owned()),
    ];
    (
        any::<i64>(),
        prop::collection::vec((key, json_value()), 0..6),
        prop::collection::vec(typed, 0..3),
    )
        .prop_map(|(id, fields, typed)| {
            let mut parts = vec![format!("\"id\": {id}")];
            parts.extend(typed);
            parts.extend(
                fields
                    .into_iter()
                    .map(|(key, value)| format!("{}: {value}", Value::String(key))),
            );
            format!("{{\n  {}\n}}", parts.join(",\n  "))
        })
}

/// Whether a known integer field given as an integral float (`5.00`) was written as
/// that integer (`5`): the same number to JSON Schema, which counts both as integers.
fn integral_float_written_as_integer(written: Option<&Value>, given: &Value) -> bool {
    match (written.and_then(Value::as_i64), given.as_f64()) {
        (Some(written), Some(given)) => given.fract() == 0.0 && written as f64 == given,
        _ => false,
    }
}

proptest! {
    #[test]
    fn sign_then_verify(secret in prop::collection::vec(any::<u8>(), 0..100),
                        body in prop::collection::vec(any::<u8>(), 0..500)) {
        let signature = sign(&secret, &body);
        prop_assert_eq!(signature.len(), 64);
        prop_assert_eq!(verify(&secret, &body, Some(&signature)), Ok(()));
        let mut other = body.clone();
        other.push(0);
        prop_assert_eq!(verify(&secret, &other, Some(&signature)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn serialise_is_a_fixed_point(json in order_json()) {
        let order = Order::from_json_bytes(json.as_bytes()).expect("generated orders are valid");
        let once = order.to_json_bytes();
        let reparsed = Order::from_json_bytes(&once).expect("output parses");
        prop_assert_eq!(&reparsed, &order);
        prop_assert_eq!(reparsed.to_json_bytes(), once);
    }

    #[test]
    fn unknown_fields_survive(json in order_json()) {
        // Keys repeated in the input collapse in a JSON value, so compare only inputs
        // without repeated keys and without a nested payment (written flat by design).
        let input: Value = serde_json::from_str(&json).expect("generated JSON");
        let order = Order::from_json_bytes(json.as_bytes()).expect("valid");
        let output: Value = serde_json::from_slice(&order.to_json_bytes()).expect("JSON");
        let input_object = input.as_object().expect("object");
        for (key, value) in input_object {
            if key == "payment" || key.starts_with("payment_") {
                continue;
            }
            if json.matches(&format!("{}:", Value::String(key.clone()))).count() == 1 {
                let kept = output.get(key);
                prop_assert!(
                    kept == Some(value) || integral_float_written_as_integer(kept, value),
                    "field {}: {:?} became {:?}", key, value, kept
                );
            }
        }
    }
}
