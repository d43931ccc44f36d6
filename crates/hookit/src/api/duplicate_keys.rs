//! Refusing JSON objects that give a key twice.
//!
//! JSON parsers disagree on `{"id": 1, "id": 2}`: serde keeps the first value where a
//! field is borrowed, Python, JavaScript and Go keep the last. An order routed and
//! scoped by one value and read by its partner with the other would reach, or show,
//! the wrong brand, branch or status; so every request body is checked before it is
//! parsed, and a duplicate is a 400 naming the field.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// Objects with more keys than this are checked with a hash set, not a scan.
const SCAN_KEYS: usize = 16;

enum Segment {
    Key(String),
    Index(usize),
}

/// The duplicate found, with the path to its object (innermost segment first).
struct Found {
    key: String,
    path: Vec<Segment>,
}

/// The field (`items[2].order.id`) of the first key given twice in one object of
/// `raw`, if any. Malformed JSON is not this check's business: it answers `None` and
/// leaves the error to the parser that follows.
pub fn first_duplicate(raw: &[u8]) -> Option<String> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let walked = Walk { found: &found }.deserialize(&mut deserializer);
    let found = found.into_inner()?;
    debug_assert!(walked.is_err());
    let mut field = String::new();
    for segment in found.path.iter().rev() {
        match segment {
            Segment::Key(key) => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Index(index) => field.push_str(&format!("[{index}]")),
        }
    }
    if !field.is_empty() {
        field.push('.');
    }
    field.push_str(&found.key);
    Some(field)
}

#[derive(Clone, Copy)]
struct Walk<'a> {
    found: &'a RefCell<Option<Found>>,
}

impl Walk<'_> {
    /// On the way out of a failed child: adds this level's segment to the path.
    fn unwind(self, segment: impl FnOnce() -> Segment) {
        if let Some(found) = self.found.borrow_mut().as_mut() {
            found.path.push(segment());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(())) => index += 1,
                Ok(None) => return Ok(()),
                Err(err) => {
                    self.unwind(|| Segment::Index(index));
                    return Err(err);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let repeated = if many.is_empty() {
                keys.contains(&key)
            } else {
                many.contains(&key)
            };
            if repeated {
                *self.found.borrow_mut() = Some(Found {
                    key: key.into_owned(),
                    path: Vec::new(),
                });
                return Err(de::Error::custom("a key is given twice"));
            }
            if let Err(err) = map.next_value_seed(self) {
                self.unwind(|| Segment::Key(key.into_owned()));
                return Err(err);
            }
            if many.is_empty() && keys.len() < SCAN_KEYS {
                keys.push(key);
            } else {
                many.extend(keys.drain(..));
                many.insert(key);
            }
        }
        Ok(())
    }
}

/// Reads an object key, borrowing it from the input where it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate;

    #[test]
    fn a_key_given_twice_is_named_with_its_path() {
        assert_eq!(
            first_duplicate(br#"{"id": 1, "id": 2}"#).as_deref(),
            Some("id")
        );
        assert_eq!(
            first_duplicate(br#"{"event": "x", "order": {"id": 1, "brands": [], "brands": []}}"#)
                .as_deref(),
            Some("order.brands")
        );
        assert_eq!(
            first_duplicate(
                br#"{"items": [{"order": {"id": 1}}, {"order": {"b": [{"s": 1, "s": 2}]}}]}"#
            )
            .as_deref(),
            Some("items[1].order.b[0].s")
        );
    }

    #[test]
    fn escapes_spell_the_same_key() {
        assert_eq!(
            first_duplicate(br#"{"status": 1, "st\u0061tus": 9}"#).as_deref(),
            Some("status")
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine_and_so_is_bad_json() {
        assert_eq!(
            first_duplicate(br#"{"a": {"id": 1}, "b": {"id": 1}, "c": [{"id": 1}, {"id": 2}]}"#),
            None
        );
        assert_eq!(first_duplicate(br#"{"id": 1,"#), None, "left to the parser");
        assert_eq!(first_duplicate(b"[1, 2, 3]"), None);
    }

    #[test]
    fn wide_objects_are_checked_too() {
        let mut body: String = (0..100).map(|n| format!("\"k{n}\": {n},")).collect();
        body.push_str("\"k57\": 0");
        assert_eq!(
            first_duplicate(format!("{{{body}}}").as_bytes()).as_deref(),
            Some("k57")
        );
        let unique: Vec<String> = (0..100).map(|n| format!("\"k{n}\": {n}")).collect();
        assert_eq!(
            first_duplicate(format!("{{{}}}", unique.join(",")).as_bytes()),
            None
        );
    }
}
