//! [`RawFields`]: the fields of a JSON object kept in input order as exact raw JSON
//! text, and the small readers and writer the wire types are built from.
//!
//! Raw values are minified (whitespace outside strings removed) but otherwise kept
//! byte for byte, so numbers keep their exact text (`12.50` stays `12.50`; nothing
//! goes through `f64`).

mod integral;

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// The fields of a JSON object, in input order, values as raw minified JSON.
///
/// Used for the keys a typed record does not know, so that they survive a round trip.
/// Deserialising requires `serde_json` as the deserializer (raw values need it).
#[derive(Debug, Clone, Default)]
pub struct RawFields {
    fields: Vec<(String, Box<RawValue>)>,
}

impl RawFields {
    /// No fields.
    pub fn new() -> RawFields {
        RawFields::default()
    }

    /// Parses a JSON object. Errors if `json` is not JSON or not an object.
    pub fn from_json(json: &str) -> Result<RawFields, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Parses a JSON object from bytes. Errors if not JSON or not an object.
    pub fn from_slice(json: &[u8]) -> Result<RawFields, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// The value of the first field called `key`.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_ref())
    }

    /// Appends a field (even if one of that name exists: duplicates are kept in order).
    pub fn push(&mut self, key: String, value: Box<RawValue>) {
        self.fields.push((key, value));
    }

    /// Removes the first field called `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        let at = self.fields.iter().position(|(name, _)| name == key)?;
        Some(self.fields.remove(at).1)
    }

    /// Iterates over the fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_ref()))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of the field at `index`.
    pub(crate) fn value_at(&self, index: usize) -> Option<&RawValue> {
        self.fields.get(index).map(|(_, value)| value.as_ref())
    }

    /// Replaces the value of the field at `index` (no-op if out of range).
    pub(crate) fn set_value_at(&mut self, index: usize, value: Box<RawValue>) {
        if let Some(field) = self.fields.get_mut(index) {
            field.1 = value;
        }
    }

    /// Keeps only the fields whose key `keep` accepts, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.fields.retain(|(key, _)| keep(key));
    }

    /// Removes the field at `index` (no-op if out of range).
    pub(crate) fn remove_at(&mut self, index: usize) {
        if index < self.fields.len() {
            self.fields.remove(index);
        }
    }

    /// The fields as a compact JSON object.
    pub fn to_json(&self) -> String {
        let mut object = ObjectWriter::new();
        object.fields(self);
        object.finish()
    }
}

impl IntoIterator for RawFields {
    type Item = (String, Box<RawValue>);
    type IntoIter = std::vec::IntoIter<(String, Box<RawValue>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}

impl PartialEq for RawFields {
    /// Equal when the same keys hold the same raw text, in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((key, value), (other_key, other_value))| {
                    key == other_key && value.get() == other_value.get()
                })
    }
}

impl Eq for RawFields {}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = RawFields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<String>()? {
                    let value: Box<RawValue> = map.next_value()?;
                    let value = minify_raw(value).map_err(serde::de::Error::custom)?;
                    fields.push((key, value));
                }
                Ok(RawFields { fields })
            }
        }

        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl Serialize for RawFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_json_text(self.to_json(), serializer)
    }
}

/// Serialises already-valid JSON text as itself (through a raw value).
pub(crate) fn serialize_json_text<S: Serializer>(
    json: String,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let raw = RawValue::from_string(json).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

/// Removes whitespace outside strings from valid JSON text; everything else is kept.
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in json.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !matches!(ch, ' ' | '\t' | '\n' | '\r') {
            out.push(ch);
        }
    }
    out
}

/// Minifies a raw value, reusing it when it has no insignificant whitespace.
pub fn minify_raw(value: Box<RawValue>) -> Result<Box<RawValue>, serde_json::Error> {
    let minified = minify(value.get());
    if minified.len() == value.get().len() {
        Ok(value)
    } else {
        RawValue::from_string(minified)
    }
}

/// A raw value holding `json`, which the caller guarantees is valid JSON.
pub(crate) fn raw_from_trusted(json: String) -> Option<Box<RawValue>> {
    RawValue::from_string(json).ok()
}

/// The value as an `i64`, if it is a JSON number whose value is an integer that fits.
/// As JSON Schema counts integers, `2.0` and `2e0` are the integer 2; `2.5` and
/// `1e400` are not integers (see [`integral`]).
pub fn read_i64(raw: &RawValue) -> Option<i64> {
    integral::integral_value(raw.get())
}

/// The value as a string, if it is a JSON string.
pub fn read_string(raw: &RawValue) -> Option<String> {
    if raw.get().starts_with('"') {
        serde_json::from_str(raw.get()).ok()
    } else {
        None
    }
}

/// Sets `slot` from `parsed` if it is empty and `parsed` is `Some`; returns whether the
/// value was taken (otherwise the caller keeps the raw value as an extra field).
pub(crate) fn take_into<T>(slot: &mut Option<T>, parsed: Option<T>) -> bool {
    match (slot.is_none(), parsed) {
        (true, Some(value)) => {
            *slot = Some(value);
            true
        }
        _ => false,
    }
}

/// Writes one compact JSON object, field by field. Infallible: values are either typed
/// scalars or already-valid raw JSON.
pub(crate) struct ObjectWriter {
    out: String,
    empty: bool,
}

impl ObjectWriter {
    pub(crate) fn new() -> ObjectWriter {
        ObjectWriter {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_json_string(&mut self.out, key);
        self.out.push(':');
    }

    pub(crate) fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.push_str(json);
    }

    pub(crate) fn i64(&mut self, key: &str, value: Option<i64>) {
        if let Some(value) = value {
            self.key(key);
            self.out.push_str(&value.to_string());
        }
    }

    pub(crate) fn str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.key(key);
            push_json_string(&mut self.out, value);
        }
    }

    pub(crate) fn fields(&mut self, fields: &RawFields) {
        for (key, value) in fields.iter() {
            self.raw(key, value.get());
        }
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends `text` as a JSON string literal.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::from(text).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_numbers() {
        let pretty = "{\n  \"a b\": [ 1.50 , \"x \\\" y\" ],\n\t\"c\": { }\n}";
        assert_eq!(minify(pretty), "{\"a b\":[1.50,\"x \\\" y\"],\"c\":{}}");
    }

    #[test]
    fn fields_keep_order_and_text() {
        let fields =
            RawFields::from_json(r#"{"z": 1.10, "a": {"k" : null}, "z": 2}"#).expect("object");
        let keys: Vec<_> = fields.iter().map(|(key, _)| key).collect();
        assert_eq!(keys, ["z", "a", "z"]);
        assert_eq!(fields.to_json(), r#"{"z":1.10,"a":{"k":null},"z":2}"#);
        assert!(RawFields::from_json("[1]").is_err());
    }

    #[test]
    fn readers() {
        let raw = |text: &str| RawValue::from_string(text.to_owned()).expect("valid");
        assert_eq!(read_i64(&raw("42")), Some(42));
        assert_eq!(read_i64(&raw("-7")), Some(-7));
        assert_eq!(read_i64(&raw("42.0")), Some(42));
        assert_eq!(read_i64(&raw("1e3")), Some(1000));
        assert_eq!(read_i64(&raw("42.5")), None);
        assert_eq!(read_i64(&raw("1e400")), None);
        assert_eq!(read_i64(&raw("\"42\"")), None);
        assert_eq!(read_i64(&raw("18446744073709551615")), None);
        assert_eq!(read_string(&raw("\"a\\u00e9\"")), Some("aé".to_owned()));
        assert_eq!(read_string(&raw("null")), None);
    }
}
