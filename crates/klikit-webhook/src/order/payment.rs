//! Folding a nested `payment: {status, method, channel}` object into the flat
//! `payment_status`, `payment_method` and `payment_channel` fields.
//!
//! The flat fields win when both are present, even when the flat one is of the wrong
//! type (it stays in `extra`, where a validator finds it, rather than be hidden behind
//! the nested value). A nested value is consumed when it fills an empty flat field or
//! repeats it; a conflicting value, a value of another type and
//! any other key stay under `payment`, which is dropped only once empty.

use crate::codes::PaymentStatus;
use crate::order::Order;
use crate::raw_fields::{RawFields, raw_from_trusted, read_i64};

/// Folds the nested `payment` object kept at `index` of `order.extra` into the flat
/// fields. Leaves it untouched if it is not an object.
pub(crate) fn fold_nested_payment(order: &mut Order, index: usize) {
    let Some(mut nested) = order
        .extra
        .value_at(index)
        .and_then(|raw| RawFields::from_json(raw.get()).ok())
    else {
        return;
    };
    let mut changed = false;
    if let Some(code) = nested.get("status").and_then(read_i64) {
        let status = PaymentStatus::from_code(code);
        if fold_one(
            &mut order.payment_status,
            status,
            given(&order.extra, "payment_status"),
        ) {
            nested.remove("status");
            changed = true;
        }
    }
    if let Some(method) = nested.get("method").and_then(read_i64) {
        if fold_one(
            &mut order.payment_method,
            method,
            given(&order.extra, "payment_method"),
        ) {
            nested.remove("method");
            changed = true;
        }
    }
    if let Some(channel) = nested.get("channel").and_then(read_i64) {
        if fold_one(
            &mut order.payment_channel,
            channel,
            given(&order.extra, "payment_channel"),
        ) {
            nested.remove("channel");
            changed = true;
        }
    }
    if !changed {
        return;
    }
    if nested.is_empty() {
        order.extra.remove_at(index);
    } else if let Some(rest) = raw_from_trusted(nested.to_json()) {
        order.extra.set_value_at(index, rest);
    }
}

/// Whether a flat field was given with a value that did not parse (it is left in
/// `extra`; null counts as not given).
fn given(extra: &RawFields, key: &str) -> bool {
    extra.get(key).is_some_and(|raw| raw.get() != "null")
}

/// Fills an empty flat field with the nested value, unless the flat field was given
/// with a value of another type. Returns true when the nested value is now redundant
/// (it filled the field or equals what the flat field holds).
fn fold_one<T: PartialEq + Copy>(flat: &mut Option<T>, nested: T, flat_given: bool) -> bool {
    match flat {
        None if flat_given => false,
        None => {
            *flat = Some(nested);
            true
        }
        Some(existing) => *existing == nested,
    }
}
