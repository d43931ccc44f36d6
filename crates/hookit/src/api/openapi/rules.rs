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

/// Writes the server's rules into `document`.
pub(super) fn state(document: &mut Value) {
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
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for closed in ["IngestChange", "IngestBatch"] {
        if let Some(schema) = schemas.get_mut(closed) {
            schema["additionalProperties"] = json!(false);
        }
    }
    if let Some(order) = schemas
        .get_mut("IngestOrder")
        .and_then(|schema| schema.get_mut("properties"))
    {
        order["id"]["minimum"] = json!(1);
        order["brands"]["minItems"] = json!(1);
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
        ("header", "Idempotency-Key") => {
            *schema = json!({ "type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN });
        }
        _ => {}
    }
}
