//! What a pushed order must be: ingest is where klikit's own data is held to the
//! contract, so every field hookit relies on is checked here and named when wrong.

use crate::api::error::ApiError;
use crate::store::Millis;
use klikit_webhook::raw_fields::read_i64;
use klikit_webhook::{Order, OrderStatus, RawFields};

/// Known fields and what they must be. A field that parsed into its typed slot is
/// fine; one left in `extra` had the wrong type (or was null) and is refused here.
const OPTIONAL_FIELDS: &[(&str, &str)] = &[
    ("business_id", "an integer"),
    ("cart", "an array of line items"),
    ("payment_status", "an integer payment status code"),
    ("payment_channel", "an integer"),
    ("payment_method", "an integer"),
    ("placed_at", "an RFC 3339 timestamp"),
    ("updated_at", "an RFC 3339 timestamp"),
];

/// The nested payment keys and the flat field each one stands for.
const NESTED_PAYMENT: &[(&str, &str)] = &[
    ("status", "payment_status"),
    ("method", "payment_method"),
    ("channel", "payment_channel"),
];

/// Checks one pushed order; `field` is its path in the body (`order`, `items[3].order`)
/// and `latest_updated_at` the latest `updated_at` accepted.
pub(super) fn order(order: &Order, field: &str, latest_updated_at: Millis) -> Result<(), ApiError> {
    let at = |name: &str| format!("{field}.{name}");
    if order.id <= 0 {
        return Err(ApiError::invalid_field(
            &at("id"),
            "must be a positive integer",
        ));
    }
    if order.brands.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid_field(
            &at("brands"),
            "is required: a non-empty array of {\"id\": integer, \"title\": string}; the first brand is the order's brand",
        ));
    }
    if order.branch_id.is_none() {
        return Err(ApiError::invalid_field(
            &at("branch_id"),
            "is required and must be an integer",
        ));
    }
    match order.status {
        None => {
            return Err(ApiError::invalid_field(
                &at("status"),
                format!(
                    "is required and must be an integer OrderStatus code: {}",
                    status_codes()
                ),
            ));
        }
        Some(OrderStatus::Unknown(code)) => {
            return Err(ApiError::invalid_field(
                &at("status"),
                format!(
                    "is {code}, which is not an OrderStatus code; use one of {}",
                    status_codes()
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(raw) = order.extra_get("external_id") {
        if raw.get() != "null" {
            return Err(ApiError::invalid_field(
                &at("external_id"),
                "must be a string or null",
            ));
        }
    }
    for (name, expected) in OPTIONAL_FIELDS {
        if let Some(raw) = order.extra_get(name) {
            if raw.get() != "null" {
                return Err(ApiError::invalid_field(
                    &at(name),
                    format!("must be {expected}"),
                ));
            }
        }
    }
    nested_payment(order, field)?;
    if let Some(updated_at) = &order.updated_at {
        if updated_at.instant().timestamp_millis() > latest_updated_at {
            return Err(ApiError::invalid_field(
                &at("updated_at"),
                format!(
                    "is {updated_at}, more than a day ahead of this server's clock (beyond \
                     HOOKIT_FRESHNESS_SKEW); a record dated in the future would make every \
                     later push of the order look stale. Send the platform's time of the change"
                ),
            ));
        }
    }
    Ok(())
}

/// The OrderStatus codes klikit defines, as `1 PLACED, 2 ACCEPTED, …`.
fn status_codes() -> String {
    (1..=9)
        .map(OrderStatus::from_code)
        .map(|status| format!("{} {}", status.code(), status.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A nested `payment` must be an object, and may only repeat what the flat fields say:
/// parsing folds every nested value that fills or equals its flat field, so a `status`,
/// `method` or `channel` still under `payment` either conflicts with the flat field or
/// is not an integer.
fn nested_payment(order: &Order, field: &str) -> Result<(), ApiError> {
    let Some(raw) = order.extra_get("payment") else {
        return Ok(());
    };
    if raw.get() == "null" {
        return Ok(());
    }
    let nested = RawFields::from_json(raw.get()).map_err(|_| {
        ApiError::invalid_field(
            &format!("{field}.payment"),
            "must be an object {\"status\", \"method\", \"channel\"} (or send the flat payment_* fields)",
        )
    })?;
    for (key, flat) in NESTED_PAYMENT {
        let Some(value) = nested.get(key) else {
            continue;
        };
        let path = format!("{field}.payment.{key}");
        if value.get() == "null" {
            continue;
        }
        if read_i64(value).is_none() {
            return Err(ApiError::invalid_field(&path, "must be an integer"));
        }
        let flat_value = match *flat {
            "payment_status" => order.payment_status.map(|status| status.code()),
            "payment_method" => order.payment_method,
            _ => order.payment_channel,
        };
        let flat_text = flat_value.map_or_else(|| "null".to_owned(), |v| v.to_string());
        return Err(ApiError::invalid_field(
            &path,
            format!(
                "is {}, but `{flat}` is {flat_text}; send the payment once (flat or nested), \
                 or the same values both ways",
                value.get()
            ),
        ));
    }
    Ok(())
}
