use serde_json::Value;

use super::*;

fn parse(json: &str) -> Order {
    Order::from_json_bytes(json.as_bytes()).expect("valid order")
}

fn value(json: &str) -> Value {
    serde_json::from_str(json).expect("valid JSON")
}

#[test]
fn seed_order_parses() {
    let order = parse(
        r#"{"id": 7585307, "external_id": "ABC-123", "business_id": 737,
            "brands": [{"id": 663, "title": "Bali Bites"}], "branch_id": 1062,
            "status": 2, "cart": ["..."], "payment_status": 1, "payment_channel": 8,
            "payment_method": 14}"#,
    );
    assert_eq!(order.id, 7585307);
    assert_eq!(order.external_id.as_deref(), Some("ABC-123"));
    assert_eq!(order.brand_id(), Some(663));
    assert_eq!(order.status, Some(OrderStatus::Accepted));
    assert_eq!(order.payment_status, Some(PaymentStatus::Paid));
    assert_eq!(order.payment_channel, Some(8));
    assert_eq!(order.payment_method, Some(14));
    assert_eq!(
        order.cart.as_ref().map(|cart| cart.as_raw().get()),
        Some(r#"["..."]"#)
    );
    assert!(order.extra.is_empty());
}

#[test]
fn unknown_fields_round_trip() {
    let input = r#"{"id": 1, "currency": "IDR", "customer": {"name": "Ayu", "tags": [1, 2]},
        "status": 4, "total": 12.50, "brands": [{"id": 5, "title": "B", "logo": null}],
        "notes": null, "big": 123456789012345678901234567890}"#;
    let order = parse(input);
    let output = order.to_json_string();
    assert_eq!(value(&output), value(input));
    assert!(output.contains(r#""big":123456789012345678901234567890"#));
}

#[test]
fn money_keeps_its_exact_text() {
    let order = parse(r#"{"id": 1, "total": 12.50, "tax": 1.0e2, "tip": "0.10"}"#);
    assert_eq!(
        order.to_json_string(),
        r#"{"id":1,"total":12.50,"tax":1.0e2,"tip":"0.10"}"#
    );
}

#[test]
fn nested_payment_is_written_flat() {
    let order = parse(r#"{"id": 1, "payment": {"status": 3, "method": 2, "channel": 31}}"#);
    assert_eq!(order.payment_status, Some(PaymentStatus::Pending));
    assert_eq!(order.payment_method, Some(2));
    assert_eq!(order.payment_channel, Some(31));
    assert_eq!(
        order.to_json_string(),
        r#"{"id":1,"payment_status":3,"payment_channel":31,"payment_method":2}"#
    );
}

#[test]
fn flat_payment_wins_and_other_nested_keys_stay() {
    let order = parse(
        r#"{"id": 1, "payment": {"status": 2, "method": 17, "ref": "x"}, "payment_status": 1}"#,
    );
    assert_eq!(order.payment_status, Some(PaymentStatus::Paid));
    assert_eq!(order.payment_method, Some(17));
    assert_eq!(
        order.to_json_string(),
        r#"{"id":1,"payment_status":1,"payment_method":17,"payment":{"status":2,"ref":"x"}}"#
    );
    let agreeing = parse(r#"{"id": 1, "payment_status": 1, "payment": {"status": 1}}"#);
    assert_eq!(agreeing.to_json_string(), r#"{"id":1,"payment_status":1}"#);
}

#[test]
fn a_flat_payment_of_the_wrong_type_is_not_hidden_by_the_nested_one() {
    let order = parse(r#"{"id": 1, "payment_status": "paid", "payment": {"status": 1}}"#);
    assert_eq!(order.payment_status, None);
    assert_eq!(
        order.extra_get("payment_status").map(|raw| raw.get()),
        Some(r#""paid""#)
    );
    let null_flat = parse(r#"{"id": 1, "payment_status": null, "payment": {"status": 1}}"#);
    assert_eq!(null_flat.payment_status, Some(PaymentStatus::Paid));
}

#[test]
fn null_external_id_is_kept() {
    let order = parse(r#"{"id": 1, "external_id": null}"#);
    assert_eq!(order.external_id, None);
    assert_eq!(
        order.extra_get("external_id").map(RawValue::get),
        Some("null")
    );
    assert_eq!(order.to_json_string(), r#"{"id":1,"external_id":null}"#);
}

#[test]
fn wrong_types_are_kept_not_rejected() {
    let order = parse(
        r#"{"id": 1, "status": "x", "cart": "none", "placed_at": "yesterday",
            "brands": [{"title": "no id"}], "version": 1.5}"#,
    );
    assert_eq!(order.status, None);
    assert_eq!(order.cart, None);
    assert_eq!(order.placed_at, None);
    assert_eq!(order.brands, None);
    assert_eq!(order.version, None);
    assert_eq!(order.extra_get("status").map(RawValue::get), Some("\"x\""));
    assert_eq!(order.extra.len(), 5);
}

#[test]
fn known_fields_come_first_in_table_order() {
    let order = parse(
        r#"{"zz": true, "version": 3, "updated_at": "2026-11-28T15:04:05Z",
            "placed_at": "2026-11-28T15:00:00+07:00", "status": 1, "branch_id": 2, "id": 9}"#,
    );
    assert_eq!(
        order.to_json_string(),
        r#"{"id":9,"branch_id":2,"status":1,"placed_at":"2026-11-28T15:00:00+07:00","updated_at":"2026-11-28T15:04:05Z","version":3,"zz":true}"#
    );
}

#[test]
fn pretty_input_serialises_compactly() {
    let order = parse(
        "{\n  \"id\": 1,\n  \"customer\": {\n    \"name\": \"A B\"\n  },\n  \"cart\": [ {\"id\": 1} ]\n}",
    );
    assert_eq!(
        order.to_json_string(),
        r#"{"id":1,"cart":[{"id":1}],"customer":{"name":"A B"}}"#
    );
}

#[test]
fn id_is_required_and_an_integer() {
    let missing = Order::from_json_bytes(br#"{"status": 1}"#).expect_err("no id");
    assert!(matches!(missing, OrderError::Missing { field: "id" }));
    assert!(missing.to_string().contains("`id`"));
    let text = Order::from_json_bytes(br#"{"id": "7"}"#).expect_err("string id");
    assert!(matches!(text, OrderError::NotAnInteger { field: "id", .. }));
    let fraction = Order::from_json_bytes(br#"{"id": 7.5}"#).expect_err("fractional id");
    assert!(matches!(
        fraction,
        OrderError::NotAnInteger { field: "id", .. }
    ));
    let huge = Order::from_json_bytes(br#"{"id": 1e400}"#).expect_err("id beyond i64");
    assert!(matches!(huge, OrderError::NotAnInteger { field: "id", .. }));
    assert!(matches!(
        Order::from_json_bytes(b"[1]"),
        Err(OrderError::NotAnObject { .. })
    ));
    assert!(matches!(
        Order::from_json_bytes(b"{"),
        Err(OrderError::NotJson(_))
    ));
}

#[test]
fn integral_floats_are_integers_and_written_as_integers() {
    // JSON Schema counts 2.0 as an integer: so does the parser. The typed fields are
    // written as plain integers; unknown fields keep their exact text.
    let order = parse(
        r#"{"id": 7585307.0, "brands": [{"id": 663.0}], "branch_id": 1062e0,
            "status": 2.0, "payment": {"status": 1.0, "method": 14, "channel": 8.00},
            "business_id": 737.0, "version": 3.0, "total": 2.0}"#,
    );
    assert_eq!(order.id, 7585307);
    assert_eq!(order.brand_id(), Some(663));
    assert_eq!(order.branch_id, Some(1062));
    assert_eq!(order.status, Some(OrderStatus::Accepted));
    assert_eq!(order.payment_status, Some(PaymentStatus::Paid));
    assert_eq!(order.payment_channel, Some(8));
    assert_eq!(order.business_id, Some(737));
    assert_eq!(order.version, Some(3));
    assert_eq!(
        order.to_json_string(),
        r#"{"id":7585307,"business_id":737,"brands":[{"id":663}],"branch_id":1062,"status":2,"payment_status":1,"payment_channel":8,"payment_method":14,"version":3,"total":2.0}"#
    );
    // A fraction is not an integer: the value is kept as sent, the typed field empty.
    let order = parse(r#"{"id": 1, "status": 2.5, "branch_id": 1e400}"#);
    assert_eq!(order.status, None);
    assert_eq!(order.branch_id, None);
    assert_eq!(order.extra_get("status").map(RawValue::get), Some("2.5"));
    assert_eq!(
        order.extra_get("branch_id").map(RawValue::get),
        Some("1e400")
    );
}

#[test]
fn serde_round_trip() {
    let order = parse(r#"{"id": 1, "status": 9, "x": [1.10]}"#);
    let json = serde_json::to_string(&order).expect("serialises");
    assert_eq!(json, r#"{"id":1,"status":9,"x":[1.10]}"#);
    let back: Order = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, order);
}

#[test]
fn a_written_order_never_repeats_a_key() {
    // A value left beside a known field (not an integer, or null) is dropped once the
    // typed field is set, as hookit sets `version` and a status change `updated_at`.
    let mut order = parse(r#"{"id": 1, "version": "7", "updated_at": null, "x": 1}"#);
    assert_eq!(
        order.to_json_string(),
        r#"{"id":1,"version":"7","updated_at":null,"x":1}"#
    );
    order.version = Some(2);
    order.updated_at = Some(Timestamp::parse("2026-12-02T10:00:00Z").expect("time"));
    assert_eq!(
        order.to_json_string(),
        r#"{"id":1,"updated_at":"2026-12-02T10:00:00Z","version":2,"x":1}"#
    );
    // A key given twice: the typed value is the order's, the other is not kept.
    let order = parse(r#"{"id": 1, "status": "x", "status": 3, "id": 9}"#);
    assert_eq!(order.status, Some(OrderStatus::from_code(3)));
    assert_eq!(order.to_json_string(), r#"{"id":1,"status":3}"#);
}
