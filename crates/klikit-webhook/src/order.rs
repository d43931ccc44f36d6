//! [`Order`]: the order record, as getOrder returns it and as every webhook carries it.
//!
//! Parsing is tolerant and lossless. Only `id` is required. A known field that is null
//! or of an unexpected type (`"status": "x"`) is not an error: its typed field stays
//! `None` and the value is kept verbatim in [`Order::extra`], where a validator can find
//! it with [`Order::extra_get`]. Unknown fields are kept in input order with their
//! exact JSON text, so parse → serialise never loses data and money never becomes a
//! float.
//!
//! Serialisation is compact: the known fields in the order of the spec's table (absent
//! ones omitted), then the extra fields in input order. A known field with a typed value
//! is written once, as that value: a second value of the same key (given twice, or left
//! in `extra` before the typed field was set, as hookit sets `version`) is dropped, so
//! no written order ever repeats a key. Payment fields are read flat or
//! nested (`payment: {status, method, channel}`) and always written flat.

mod brand;
mod payment;

pub use brand::Brand;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::cart::Cart;
use crate::codes::{OrderStatus, PaymentStatus};
use crate::raw_fields::{
    ObjectWriter, RawFields, read_i64, read_string, serialize_json_text, take_into,
};
use crate::timestamp::Timestamp;

/// One order record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// `id`: klikit's order id. The only required field.
    pub id: i64,
    /// `external_id`: the source platform's order id.
    pub external_id: Option<String>,
    /// `business_id`
    pub business_id: Option<i64>,
    /// `brands`: the first one is the order's brand (the envelope's `brand_id`).
    pub brands: Option<Vec<Brand>>,
    /// `branch_id`
    pub branch_id: Option<i64>,
    /// `status`
    pub status: Option<OrderStatus>,
    /// `cart`: the line items, kept as raw JSON.
    pub cart: Option<Cart>,
    /// `payment_status` (or nested `payment.status`).
    pub payment_status: Option<PaymentStatus>,
    /// `payment_channel` (or nested `payment.channel`): an opaque klikit id.
    pub payment_channel: Option<i64>,
    /// `payment_method` (or nested `payment.method`): an opaque klikit id.
    pub payment_method: Option<i64>,
    /// `placed_at`
    pub placed_at: Option<Timestamp>,
    /// `updated_at`
    pub updated_at: Option<Timestamp>,
    /// `version`: +1 on every change, so receivers can drop stale states.
    pub version: Option<i64>,
    /// Every other field, and known fields whose value was null or of an unexpected
    /// type, in input order, as exact minified JSON.
    pub extra: RawFields,
}

/// The fields [`Order`] reads into typed slots, in the order it writes them.
const KNOWN_FIELDS: [&str; 13] = [
    "id",
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
];

/// Why bytes are not an order record.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The bytes are not JSON.
    #[error("order is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The JSON is not an object.
    #[error("an order must be a JSON object, found {found}")]
    NotAnObject {
        /// The start of what was found.
        found: String,
    },
    /// A required field is absent.
    #[error("order field `{field}` is missing: every order needs an integer `{field}`")]
    Missing {
        /// The field name.
        field: &'static str,
    },
    /// A required field is not an integer.
    #[error("order field `{field}` must be an integer, found {found}")]
    NotAnInteger {
        /// The field name.
        field: &'static str,
        /// The start of the value found.
        found: String,
    },
}

/// The first characters of a JSON value, for error messages.
pub(crate) fn excerpt(json: &str) -> String {
    const LIMIT: usize = 40;
    let mut short: String = json.chars().take(LIMIT).collect();
    if json.chars().nth(LIMIT).is_some() {
        short.push('…');
    }
    short
}

impl Order {
    /// An order with only its id.
    pub fn new(id: i64) -> Order {
        Order {
            id,
            external_id: None,
            business_id: None,
            brands: None,
            branch_id: None,
            status: None,
            cart: None,
            payment_status: None,
            payment_channel: None,
            payment_method: None,
            placed_at: None,
            updated_at: None,
            version: None,
            extra: RawFields::new(),
        }
    }

    /// The order's brand: the id of the first entry of `brands`.
    pub fn brand_id(&self) -> Option<i64> {
        self.brands
            .as_ref()
            .and_then(|brands| brands.first())
            .map(|brand| brand.id)
    }

    /// The raw value of an extra field, e.g. to report that `status` was not an integer.
    pub fn extra_get(&self, key: &str) -> Option<&RawValue> {
        self.extra.get(key)
    }

    /// Parses an order record from JSON bytes.
    pub fn from_json_bytes(json: &[u8]) -> Result<Order, OrderError> {
        let raw: Box<RawValue> = serde_json::from_slice(json)?;
        Order::from_raw(&raw)
    }

    /// Parses an order record from a raw JSON value.
    pub fn from_raw(raw: &RawValue) -> Result<Order, OrderError> {
        if !raw.get().starts_with('{') {
            return Err(OrderError::NotAnObject {
                found: excerpt(raw.get()),
            });
        }
        Order::from_fields(RawFields::from_json(raw.get())?)
    }

    /// Builds an order from the fields of a JSON object.
    pub fn from_fields(fields: RawFields) -> Result<Order, OrderError> {
        let mut order = Order::new(0);
        let mut id = None;
        let mut nested_payment_at = None;
        for (key, value) in fields {
            let taken = match key.as_str() {
                "id" if id.is_none() => {
                    let parsed = read_i64(&value).ok_or_else(|| OrderError::NotAnInteger {
                        field: "id",
                        found: excerpt(value.get()),
                    })?;
                    id = Some(parsed);
                    true
                }
                "external_id" => take_into(&mut order.external_id, read_string(&value)),
                "business_id" => take_into(&mut order.business_id, read_i64(&value)),
                "brands" => take_into(&mut order.brands, Brand::read_list(&value)),
                "branch_id" => take_into(&mut order.branch_id, read_i64(&value)),
                "status" => take_into(
                    &mut order.status,
                    read_i64(&value).map(OrderStatus::from_code),
                ),
                "cart" if order.cart.is_none() && value.get().starts_with('[') => {
                    take_into(&mut order.cart, Cart::from_raw(value.clone()).ok())
                }
                "payment_status" => take_into(
                    &mut order.payment_status,
                    read_i64(&value).map(PaymentStatus::from_code),
                ),
                "payment_channel" => take_into(&mut order.payment_channel, read_i64(&value)),
                "payment_method" => take_into(&mut order.payment_method, read_i64(&value)),
                "placed_at" => take_into(&mut order.placed_at, read_timestamp(&value)),
                "updated_at" => take_into(&mut order.updated_at, read_timestamp(&value)),
                "version" => take_into(&mut order.version, read_i64(&value)),
                "payment" => {
                    nested_payment_at.get_or_insert(order.extra.len());
                    false
                }
                _ => false,
            };
            if !taken {
                order.extra.push(key, value);
            }
        }
        order.id = id.ok_or(OrderError::Missing { field: "id" })?;
        if let Some(index) = nested_payment_at {
            payment::fold_nested_payment(&mut order, index);
        }
        let typed: Vec<&str> = KNOWN_FIELDS
            .into_iter()
            .filter(|key| order.has_typed(key))
            .collect();
        order.extra.retain(|key| !typed.contains(&key));
        Ok(order)
    }

    /// Whether the known field `key` holds a typed value (and so is written as it).
    fn has_typed(&self, key: &str) -> bool {
        match key {
            "id" => true,
            "external_id" => self.external_id.is_some(),
            "business_id" => self.business_id.is_some(),
            "brands" => self.brands.is_some(),
            "branch_id" => self.branch_id.is_some(),
            "status" => self.status.is_some(),
            "cart" => self.cart.is_some(),
            "payment_status" => self.payment_status.is_some(),
            "payment_channel" => self.payment_channel.is_some(),
            "payment_method" => self.payment_method.is_some(),
            "placed_at" => self.placed_at.is_some(),
            "updated_at" => self.updated_at.is_some(),
            "version" => self.version.is_some(),
            _ => false,
        }
    }

    /// The order as compact JSON text.
    pub fn to_json_string(&self) -> String {
        let mut object = ObjectWriter::new();
        object.i64("id", Some(self.id));
        object.str("external_id", self.external_id.as_deref());
        object.i64("business_id", self.business_id);
        if let Some(brands) = &self.brands {
            object.raw("brands", &brand::brands_to_json(brands));
        }
        object.i64("branch_id", self.branch_id);
        object.i64("status", self.status.map(OrderStatus::code));
        if let Some(cart) = &self.cart {
            object.raw("cart", cart.as_raw().get());
        }
        object.i64(
            "payment_status",
            self.payment_status.map(PaymentStatus::code),
        );
        object.i64("payment_channel", self.payment_channel);
        object.i64("payment_method", self.payment_method);
        object.str("placed_at", self.placed_at.as_ref().map(Timestamp::as_str));
        object.str(
            "updated_at",
            self.updated_at.as_ref().map(Timestamp::as_str),
        );
        object.i64("version", self.version);
        for (key, value) in self.extra.iter() {
            if !self.has_typed(key) {
                object.raw(key, value.get());
            }
        }
        object.finish()
    }

    /// The order as compact JSON bytes.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json_string().into_bytes()
    }
}

fn read_timestamp(raw: &RawValue) -> Option<Timestamp> {
    read_string(raw).and_then(|text| Timestamp::parse(&text).ok())
}

impl Serialize for Order {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_json_text(self.to_json_string(), serializer)
    }
}

impl<'de> Deserialize<'de> for Order {
    /// Requires `serde_json` as the deserializer (the extra fields are raw values).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = RawFields::deserialize(deserializer)?;
        Order::from_fields(fields).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
