//! [`Envelope`]: the body of every delivery, `{"brand_id", "branch_id", "orders"}`.
//!
//! A receiver needs only `brand_id`, `branch_id` (integers) and `orders` (an array of
//! objects, each with an integer `id`); everything else is optional and kept.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::order::{Order, OrderError, excerpt};
use crate::raw_fields::{ObjectWriter, RawFields, read_i64, serialize_json_text};

/// The body klikit POSTs for all three order events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The brand of the orders; route on it together with `branch_id`.
    pub brand_id: i64,
    /// The branch of the orders.
    pub branch_id: i64,
    /// One or more order records (usually one).
    pub orders: Vec<Order>,
    /// Every other top-level field, in input order.
    pub extra: RawFields,
}

/// Why a body is not an envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object with brand_id, branch_id and orders, found {found}")]
    NotAnObject {
        /// The start of what was found.
        found: String,
    },
    /// A required field is absent.
    #[error("body field `{field}` is missing")]
    Missing {
        /// The field name.
        field: &'static str,
    },
    /// `brand_id` or `branch_id` is not an integer.
    #[error("body field `{field}` must be an integer, found {found}")]
    NotAnInteger {
        /// The field name.
        field: &'static str,
        /// The start of the value found.
        found: String,
    },
    /// `orders` is not an array.
    #[error("body field `orders` must be an array of orders, found {found}")]
    OrdersNotAnArray {
        /// The start of the value found.
        found: String,
    },
    /// One of the orders is invalid.
    #[error("orders[{index}]: {source}")]
    InvalidOrder {
        /// Its position in `orders`.
        index: usize,
        /// What is wrong with it.
        source: OrderError,
    },
}

impl Envelope {
    /// An envelope of `orders` for a brand and branch.
    pub fn new(brand_id: i64, branch_id: i64, orders: Vec<Order>) -> Envelope {
        Envelope {
            brand_id,
            branch_id,
            orders,
            extra: RawFields::new(),
        }
    }

    /// Parses a delivery body. Verify its signature first: see [`crate::receive`].
    pub fn from_json_bytes(body: &[u8]) -> Result<Envelope, EnvelopeError> {
        let raw: Box<RawValue> = serde_json::from_slice(body)?;
        if !raw.get().starts_with('{') {
            return Err(EnvelopeError::NotAnObject {
                found: excerpt(raw.get()),
            });
        }
        Envelope::from_fields(RawFields::from_json(raw.get())?)
    }

    /// Builds an envelope from the fields of a JSON object.
    pub fn from_fields(fields: RawFields) -> Result<Envelope, EnvelopeError> {
        let mut brand_id = None;
        let mut branch_id = None;
        let mut orders = None;
        let mut extra = RawFields::new();
        for (key, value) in fields {
            match key.as_str() {
                "brand_id" if brand_id.is_none() => {
                    brand_id = Some(required_integer("brand_id", &value)?);
                }
                "branch_id" if branch_id.is_none() => {
                    branch_id = Some(required_integer("branch_id", &value)?);
                }
                "orders" if orders.is_none() => orders = Some(read_orders(&value)?),
                _ => extra.push(key, value),
            }
        }
        Ok(Envelope {
            brand_id: brand_id.ok_or(EnvelopeError::Missing { field: "brand_id" })?,
            branch_id: branch_id.ok_or(EnvelopeError::Missing { field: "branch_id" })?,
            orders: orders.ok_or(EnvelopeError::Missing { field: "orders" })?,
            extra,
        })
    }

    /// The envelope as compact JSON text: `brand_id`, `branch_id`, `orders`, then extras.
    pub fn to_json_string(&self) -> String {
        let orders: Vec<String> = self.orders.iter().map(Order::to_json_string).collect();
        let mut object = ObjectWriter::new();
        object.i64("brand_id", Some(self.brand_id));
        object.i64("branch_id", Some(self.branch_id));
        object.raw("orders", &format!("[{}]", orders.join(",")));
        object.fields(&self.extra);
        object.finish()
    }

    /// The envelope as compact JSON bytes (sign these exact bytes when sending).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json_string().into_bytes()
    }
}

fn required_integer(field: &'static str, value: &RawValue) -> Result<i64, EnvelopeError> {
    read_i64(value).ok_or_else(|| EnvelopeError::NotAnInteger {
        field,
        found: excerpt(value.get()),
    })
}

fn read_orders(value: &RawValue) -> Result<Vec<Order>, EnvelopeError> {
    if !value.get().starts_with('[') {
        return Err(EnvelopeError::OrdersNotAnArray {
            found: excerpt(value.get()),
        });
    }
    let items: Vec<Box<RawValue>> = serde_json::from_str(value.get())?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            Order::from_raw(item).map_err(|source| EnvelopeError::InvalidOrder { index, source })
        })
        .collect()
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_json_text(self.to_json_string(), serializer)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    /// Requires `serde_json` as the deserializer (the extra fields are raw values).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = RawFields::deserialize(deserializer)?;
        Envelope::from_fields(fields).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_brand_branch_and_orders() {
        let missing = Envelope::from_json_bytes(br#"{"brand_id": 1, "orders": []}"#);
        assert!(matches!(
            missing,
            Err(EnvelopeError::Missing { field: "branch_id" })
        ));
        let text = Envelope::from_json_bytes(br#"{"brand_id": "1", "branch_id": 2, "orders": []}"#);
        assert!(matches!(
            text,
            Err(EnvelopeError::NotAnInteger {
                field: "brand_id",
                ..
            })
        ));
        let bad_order = Envelope::from_json_bytes(
            br#"{"brand_id": 1, "branch_id": 2, "orders": [{"id": 1}, {}]}"#,
        )
        .expect_err("second order has no id");
        assert!(matches!(
            bad_order,
            EnvelopeError::InvalidOrder { index: 1, .. }
        ));
        assert!(bad_order.to_string().starts_with("orders[1]: "));
        assert!(matches!(
            Envelope::from_json_bytes(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::from_json_bytes(b"[]"),
            Err(EnvelopeError::NotAnObject { .. })
        ));
    }

    #[test]
    fn keeps_unknown_top_level_fields() {
        let body = br#"{"orders": [], "trace": {"a": 1.50}, "brand_id": 1, "branch_id": 2}"#;
        let envelope = Envelope::from_json_bytes(body).expect("valid");
        assert_eq!(
            envelope.to_json_string(),
            r#"{"brand_id":1,"branch_id":2,"orders":[],"trace":{"a":1.50}}"#
        );
    }
}
