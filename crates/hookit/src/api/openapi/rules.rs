//! The rules the server enforces that utoipa's derives do not state, written into the
//! finished document so that it says what the server does: id prefixes as patterns,
//! the Idempotency-Key's alphabet, closed request objects, non-empty brand lists and
//! positive order ids. An API fuzzer holds the server to exactly these.

use crate::ids::IdKind;
use serde_json::{Value, json};

/// The pattern of an id of `kind`: its prefix and 32 lowercase hex digits.
fn id_pattern(kind: IdKind) -> String {
    format!("^{}[0-9a-f]{{32}}$", kind.prefix())
}

/// What an `Idempotency-Key` must be: 1 to 255 visible ASCII characters.
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// A minted operator token's name: not `root`, the bootstrap token's (said as a
/// pattern: the 3.1 model the document is checked against has no `not`).
const MINTED_TOKEN_NAME_PATTERN: &str = "^(?!root$)[a-z0-9_-]{1,64}$";

/// Writes the server's rules into `document`.
pub(super) fn state(document: &mut Value) {
    optional_bodies(document);
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(parameters) = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for parameter in parameters {
                    parameter_rules(path, parameter);
                }
            }
        }
    }
    let mut set = |pointer: &str, key: &str, value: Value| {
        if let Some(schema) = document.pointer_mut(&format!("/components/schemas/{pointer}")) {
            schema[key] = value;
        }
    };
    // A duration with its unit, as every duration setting takes it.
    set(
        "RotateWebhookSecret/properties/grace",
        "pattern",
        json!("^[0-9]+(ms|s|m|h|d)$"),
    );
    set(
        "TestWebhookRequest/properties/event_type",
        "enum",
        json!(klikit_webhook::EventType::ALL.map(|event| event.as_str())),
    );
    set("IngestChange", "additionalProperties", json!(false));
    set("IngestBatch", "additionalProperties", json!(false));
    set("IngestOrder/properties/id", "minimum", json!(1));
    set("IngestOrder/properties/brands", "minItems", json!(1));
    // An OrderStatus code.
    set("IngestOrder/properties/status", "minimum", json!(1));
    set("IngestOrder/properties/status", "maximum", json!(9));
    // Trimmed, then 1 to 200 characters.
    set("CreatePartner/properties/name", "pattern", json!("\\S"));
    set("CreatePartner/properties/name", "maxLength", json!(200));
    set(
        "MintToken/properties/name",
        "pattern",
        json!(MINTED_TOKEN_NAME_PATTERN),
    );
    set(
        "PutMapping/properties/url",
        "pattern",
        json!("^https?://[^\\s/?#]+"),
    );
    set(
        "PutMapping/properties/url",
        "maxLength",
        json!(crate::target_policy::MAX_URL_LEN),
    );
    set(
        "EnableEndpoint/properties/partner_id",
        "pattern",
        json!(id_pattern(IdKind::Partner)),
    );
    set(
        "EnableEndpoint/properties/url",
        "pattern",
        json!("^https?://[^\\s/?#]+"),
    );
    // Ingest takes null for an optional field as its absence.
    for field in [
        "business_id",
        "cart",
        "payment_status",
        "payment_channel",
        "payment_method",
        "placed_at",
        "updated_at",
        "payment",
        "payment/properties/status",
        "payment/properties/method",
        "payment/properties/channel",
    ] {
        let pointer = format!("/components/schemas/IngestOrder/properties/{field}");
        if let Some(schema) = document.pointer_mut(&pointer) {
            if let Some(kind) = schema
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                schema["type"] = json!([kind, "null"]);
            }
        }
    }
    // Any value: hookit numbers versions itself (whatever `version` is sent is
    // replaced), and a brand's title is the platform's business (kept as sent).
    for field in ["version", "brands/items/properties/title"] {
        let pointer = format!("/components/schemas/IngestOrder/properties/{field}");
        if let Some(schema) = document
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
        {
            schema.remove("format");
            schema.remove("type");
        }
    }
}

/// Request bodies the server takes as optional.
pub(super) fn optional_bodies(document: &mut Value) {
    for path in ["replay", "retry"] {
        let pointer = format!("/paths/~1v1~1operator~1deliveries~1{path}/post/requestBody");
        if let Some(body) = document.pointer_mut(&pointer) {
            body["required"] = json!(false);
        }
    }
    retry_filter(document);
}

/// A bulk retry takes the list's filters but not its paging, and only pending
/// deliveries can be retried: its body is the list's query without `cursor` and
/// `limit`, and with `state` only `pending`.
fn retry_filter(document: &mut Value) {
    let Some(mut filter) = document
        .pointer("/components/schemas/DeliveryQuery")
        .cloned()
    else {
        return;
    };
    if let Some(properties) = filter.get_mut("properties").and_then(Value::as_object_mut) {
        properties.remove("cursor");
        properties.remove("limit");
        properties.insert(
            "state".into(),
            json!({ "type": ["string", "null"], "enum": ["pending", null] }),
        );
        if let Some(partner) = properties.get_mut("partner_id") {
            partner["pattern"] = json!(id_pattern(IdKind::Partner));
        }
    }
    filter["description"] = json!("Filters selecting the pending deliveries to retry now.");
    document["components"]["schemas"]["RetryFilter"] = filter;
    if let Some(schema) = document.pointer_mut(
        "/paths/~1v1~1operator~1deliveries~1retry/post/requestBody/content/application~1json/schema",
    ) {
        *schema = json!({ "$ref": "#/components/schemas/RetryFilter" });
    }
}

fn parameter_rules(path: &str, parameter: &mut Value) {
    let name = parameter["name"].as_str().unwrap_or_default().to_owned();
    let place = parameter["in"].as_str().unwrap_or_default().to_owned();
    let schema = &mut parameter["schema"];
    match (place.as_str(), name.as_str()) {
        ("path", "event_id") => schema["pattern"] = json!(id_pattern(IdKind::Event)),
        ("path", "mapping_id") => schema["pattern"] = json!(id_pattern(IdKind::Mapping)),
        ("path", "id") if path.starts_with("/v1/operator/partners/") => {
            schema["pattern"] = json!(id_pattern(IdKind::Partner));
        }
        ("path", "id") if path.starts_with("/v1/partner/orders/") => {
            schema["minimum"] = json!(1);
        }
        ("query", "cursor") => schema["pattern"] = json!(id_pattern(IdKind::Event)),
        // `root` is configured, not minted: it cannot be revoked through the API.
        ("path", "name") if path.starts_with("/v1/operator/tokens/") => {
            schema["pattern"] = json!(MINTED_TOKEN_NAME_PATTERN);
        }
        // Where a filter is declared as plain text, it still takes only these names.
        ("query", "event_type") if schema.get("$ref").is_none() => {
            schema["enum"] = json!(klikit_webhook::EventType::ALL.map(|event| event.as_str()));
        }
        ("query", "state") if schema.get("$ref").is_none() => {
            schema["enum"] = json!(["pending", "delivered", "dead"]);
        }
        ("query", "partner_id") => schema["pattern"] = json!(id_pattern(IdKind::Partner)),
        ("query", "page") if path == "/v1/operator/audit" => {
            schema["format"] = json!("int64");
            schema["maximum"] = json!(u32::MAX);
        }
        ("header", "Idempotency-Key") => {
            *schema = json!({ "type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN });
        }
        _ => {}
    }
}
