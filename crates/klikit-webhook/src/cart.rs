//! [`Cart`]: an order's line items, carried faithfully as the raw JSON array, with
//! typed, tolerant read access through [`Cart::lines`].
//!
//! A cart update replaces the whole array, so the array is never rewritten: it is
//! serialised exactly as received (minified). The typed view ([`CartLine`],
//! [`ModifierGroup`], [`Modifier`]) reads what it recognises and keeps the rest in
//! `extra`; prices are [`Money`], never floats.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::money::Money;
use crate::raw_fields::{RawFields, minify_raw, read_i64, read_string, take_into};

/// The `cart` array of an order, kept as raw JSON.
#[derive(Debug, Clone)]
pub struct Cart {
    raw: Box<RawValue>,
}

/// A `cart` value that is not a JSON array.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// The text is not JSON at all.
    #[error("cart is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The JSON is not an array.
    #[error("cart must be a JSON array of line items, found {found}")]
    NotAnArray {
        /// The start of what was found instead.
        found: String,
    },
}

impl Cart {
    /// Wraps a raw JSON array (minifying it). Errors if it is not an array.
    pub fn from_raw(raw: Box<RawValue>) -> Result<Cart, CartError> {
        if !raw.get().starts_with('[') {
            return Err(CartError::NotAnArray {
                found: raw.get().chars().take(40).collect(),
            });
        }
        Ok(Cart {
            raw: minify_raw(raw)?,
        })
    }

    /// Parses a JSON array of line items.
    pub fn from_json(json: &str) -> Result<Cart, CartError> {
        Cart::from_raw(serde_json::from_str(json)?)
    }

    /// The array exactly as it will be serialised.
    pub fn as_raw(&self) -> &RawValue {
        &self.raw
    }

    /// The entries of the array: objects as [`CartLine`]s, anything else (such as the
    /// seed example's placeholder string `"..."`) as [`CartEntry::Other`].
    pub fn lines(&self) -> Vec<CartEntry> {
        let items: Vec<Box<RawValue>> = serde_json::from_str(self.raw.get()).unwrap_or_default();
        items
            .into_iter()
            .map(|item| match RawFields::from_json(item.get()) {
                Ok(fields) => CartEntry::Line(CartLine::from_fields(fields)),
                Err(_) => CartEntry::Other(item),
            })
            .collect()
    }
}

impl PartialEq for Cart {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl Eq for Cart {}

impl Serialize for Cart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Cart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Cart::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

/// One entry of a cart array.
#[derive(Debug, Clone)]
pub enum CartEntry {
    /// A JSON object, read as a line item.
    Line(CartLine),
    /// Anything that is not an object, kept raw.
    Other(Box<RawValue>),
}

/// The id of a line item or modifier: klikit may send an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemId {
    /// An integer id.
    Number(i64),
    /// A string id.
    Text(String),
}

impl ItemId {
    fn from_json(raw: &RawValue) -> Option<ItemId> {
        read_i64(raw)
            .map(ItemId::Number)
            .or_else(|| read_string(raw).map(ItemId::Text))
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemId::Number(id) => write!(f, "{id}"),
            ItemId::Text(id) => f.write_str(id),
        }
    }
}

/// A line item. Every field is optional; what is not recognised stays in `extra`.
#[derive(Debug, Clone, Default)]
pub struct CartLine {
    /// `id`
    pub id: Option<ItemId>,
    /// `name`
    pub name: Option<String>,
    /// `quantity`
    pub quantity: Option<i64>,
    /// `unit_price`: the price of one unit.
    pub unit_price: Option<Money>,
    /// `price`: the price of the whole line.
    pub price: Option<Money>,
    /// `comment`
    pub comment: Option<String>,
    /// `brand_id`, or the `id` of a `brand` object (which is also kept in `extra`).
    pub brand_id: Option<i64>,
    /// `modifier_groups`
    pub modifier_groups: Vec<ModifierGroup>,
    /// Every other field (and any recognised field of an unexpected type), in order.
    pub extra: RawFields,
}

/// A group of modifiers on a line item or on a modifier ("Toppings", "Size").
#[derive(Debug, Clone, Default)]
pub struct ModifierGroup {
    /// `id`
    pub id: Option<ItemId>,
    /// `name`
    pub name: Option<String>,
    /// `modifiers`
    pub modifiers: Vec<Modifier>,
    /// Every other field, in order.
    pub extra: RawFields,
}

/// One chosen modifier; it may carry further modifier groups.
#[derive(Debug, Clone, Default)]
pub struct Modifier {
    /// `id`
    pub id: Option<ItemId>,
    /// `name`
    pub name: Option<String>,
    /// `quantity`
    pub quantity: Option<i64>,
    /// `price`
    pub price: Option<Money>,
    /// `modifier_groups`: nested groups.
    pub modifier_groups: Vec<ModifierGroup>,
    /// Every other field, in order.
    pub extra: RawFields,
}

/// Reads a JSON array whose every element is an object; `None` otherwise.
fn read_objects<T>(raw: &RawValue, read: fn(RawFields) -> T) -> Option<Vec<T>> {
    let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get()).ok()?;
    items
        .iter()
        .map(|item| RawFields::from_json(item.get()).ok().map(read))
        .collect()
}

fn take_groups(slot: &mut Vec<ModifierGroup>, seen: &mut bool, raw: &RawValue) -> bool {
    if *seen {
        return false;
    }
    match read_objects(raw, ModifierGroup::from_fields) {
        Some(groups) => {
            *slot = groups;
            *seen = true;
            true
        }
        None => false,
    }
}

fn brand_id_of(raw: &RawValue) -> Option<i64> {
    read_i64(raw).or_else(|| {
        let brand = RawFields::from_json(raw.get()).ok()?;
        brand.get("id").and_then(read_i64)
    })
}

impl CartLine {
    /// Reads a line item from the fields of a JSON object.
    pub fn from_fields(fields: RawFields) -> CartLine {
        let mut line = CartLine::default();
        let mut groups_seen = false;
        for (key, value) in fields {
            let taken = match key.as_str() {
                "id" => take_into(&mut line.id, ItemId::from_json(&value)),
                "name" => take_into(&mut line.name, read_string(&value)),
                "quantity" => take_into(&mut line.quantity, read_i64(&value)),
                "unit_price" => take_into(&mut line.unit_price, Money::from_json(&value)),
                "price" => take_into(&mut line.price, Money::from_json(&value)),
                "comment" => take_into(&mut line.comment, read_string(&value)),
                "brand_id" => take_into(&mut line.brand_id, read_i64(&value)),
                "brand" => {
                    if line.brand_id.is_none() {
                        line.brand_id = brand_id_of(&value);
                    }
                    false
                }
                "modifier_groups" => {
                    take_groups(&mut line.modifier_groups, &mut groups_seen, &value)
                }
                _ => false,
            };
            if !taken {
                line.extra.push(key, value);
            }
        }
        line
    }
}

impl ModifierGroup {
    /// Reads a modifier group from the fields of a JSON object.
    pub fn from_fields(fields: RawFields) -> ModifierGroup {
        let mut group = ModifierGroup::default();
        let mut modifiers_seen = false;
        for (key, value) in fields {
            let taken = match key.as_str() {
                "id" => take_into(&mut group.id, ItemId::from_json(&value)),
                "name" => take_into(&mut group.name, read_string(&value)),
                "modifiers" if !modifiers_seen => {
                    match read_objects(&value, Modifier::from_fields) {
                        Some(modifiers) => {
                            group.modifiers = modifiers;
                            modifiers_seen = true;
                            true
                        }
                        None => false,
                    }
                }
                _ => false,
            };
            if !taken {
                group.extra.push(key, value);
            }
        }
        group
    }
}

impl Modifier {
    /// Reads a modifier from the fields of a JSON object.
    pub fn from_fields(fields: RawFields) -> Modifier {
        let mut modifier = Modifier::default();
        let mut groups_seen = false;
        for (key, value) in fields {
            let taken = match key.as_str() {
                "id" => take_into(&mut modifier.id, ItemId::from_json(&value)),
                "name" => take_into(&mut modifier.name, read_string(&value)),
                "quantity" => take_into(&mut modifier.quantity, read_i64(&value)),
                "price" => take_into(&mut modifier.price, Money::from_json(&value)),
                "modifier_groups" => {
                    take_groups(&mut modifier.modifier_groups, &mut groups_seen, &value)
                }
                _ => false,
            };
            if !taken {
                modifier.extra.push(key, value);
            }
        }
        modifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CART: &str = r#"[
        {"id": 11, "name": "Nasi Goreng", "quantity": 2, "unit_price": "12.50",
         "price": "25.00", "comment": "no chili", "brand": {"id": 663, "title": "Bali Bites"},
         "sku": "NG-1",
         "modifier_groups": [{"id": "g1", "name": "Egg", "modifiers": [
            {"id": 5, "name": "Fried egg", "quantity": 1, "price": 3.10,
             "modifier_groups": [{"id": 9, "name": "Done", "modifiers": [{"name": "Runny"}]}]}
         ]}]},
        "...",
        {"quantity": 1.5}
    ]"#;

    #[test]
    fn keeps_the_array_minified_and_unchanged() {
        let cart = Cart::from_json(CART).expect("array");
        let value: serde_json::Value = serde_json::from_str(CART).expect("json");
        let back: serde_json::Value = serde_json::from_str(cart.as_raw().get()).expect("json");
        assert_eq!(value, back);
        assert!(!cart.as_raw().get().contains('\n'));
        assert!(cart.as_raw().get().contains("3.10"));
    }

    #[test]
    fn typed_lines() {
        let cart = Cart::from_json(CART).expect("array");
        let lines = cart.lines();
        assert_eq!(lines.len(), 3);
        let CartEntry::Line(line) = &lines[0] else {
            panic!("first entry is an object");
        };
        assert_eq!(line.id, Some(ItemId::Number(11)));
        assert_eq!(line.quantity, Some(2));
        assert_eq!(line.unit_price.as_ref().map(Money::as_str), Some("12.50"));
        assert_eq!(line.brand_id, Some(663));
        assert!(line.extra.get("sku").is_some());
        assert!(line.extra.get("brand").is_some());
        let modifier = &line.modifier_groups[0].modifiers[0];
        assert_eq!(line.modifier_groups[0].id, Some(ItemId::Text("g1".into())));
        assert_eq!(modifier.price.as_ref().map(Money::as_str), Some("3.10"));
        assert_eq!(
            modifier.modifier_groups[0].modifiers[0].name.as_deref(),
            Some("Runny")
        );
        assert!(matches!(&lines[1], CartEntry::Other(raw) if raw.get() == "\"...\""));
        let CartEntry::Line(odd) = &lines[2] else {
            panic!("third entry is an object");
        };
        assert_eq!(odd.quantity, None);
        assert_eq!(odd.extra.get("quantity").map(RawValue::get), Some("1.5"));
    }

    #[test]
    fn rejects_non_arrays() {
        assert!(matches!(
            Cart::from_json(r#"{"a":1}"#),
            Err(CartError::NotAnArray { .. })
        ));
    }
}
