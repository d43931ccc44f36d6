//! Refusing JSON that receivers would read differently, or not at all, in one pass
//! over the body before it is parsed.
//!
//! JSON parsers disagree on `{"id": 1, "id": 2}`: serde keeps the first value where a
//! field is borrowed, Python, JavaScript and Go keep the last. An order routed and
//! scoped by one value and read by its partner with the other would reach, or show,
//! the wrong brand, branch or status. Lone UTF-16 surrogate escapes (`"\ud800"`) are
//! not text, numbers beyond a double (`1e400`) overflow every common parser, and deep
//! nesting blows parsers' stacks; hookit stores and forwards what it is given, so
//! each of these is a 400 naming the field, with nesting capped at [`MAX_DEPTH`].

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// Objects with more keys than this are checked with a hash set, not a scan.
const SCAN_KEYS: usize = 16;

/// The deepest nesting of arrays and objects accepted (the body itself is level 1).
pub const MAX_DEPTH: usize = 64;

/// What is wrong at a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// The key is given twice in one object.
    Duplicate,
    /// A string holds a lone UTF-16 surrogate escape.
    LoneSurrogate,
    /// A number is too large for a double.
    NumberOverflow,
    /// Arrays and objects nest deeper than [`MAX_DEPTH`] here.
    TooDeep,
}

impl Flaw {
    /// What is wrong and what to do, said after the field's name.
    pub fn problem(self) -> String {
        match self {
            Flaw::Duplicate => "is given more than once in its object; give each key once".into(),
            Flaw::LoneSurrogate => "holds a lone UTF-16 surrogate escape (such as \\ud800), which is not text and which receivers cannot decode; send valid Unicode".into(),
            Flaw::NumberOverflow => "is a number too large for a double (such as 1e400), which receivers cannot read; send a smaller number, or the value as a string".into(),
            Flaw::TooDeep => format!("nests arrays and objects deeper than {MAX_DEPTH} levels; flatten the data"),
        }
    }

    /// The flaw a parser error from serde_json reports, if it is one of these.
    fn of_parser_error(message: &str) -> Option<Flaw> {
        if message.contains("surrogate") || message.contains("end of hex escape") {
            Some(Flaw::LoneSurrogate)
        } else if message.contains("number out of range") {
            Some(Flaw::NumberOverflow)
        } else {
            None
        }
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

/// The flaw found, with the path to it (innermost segment first).
struct Found {
    flaw: Flaw,
    path: Vec<Segment>,
}

/// The field (`items[2].order.id`) and flaw of the first flaw in `raw`, if any.
/// Otherwise malformed JSON is not this check's business: it answers `None` and
/// leaves the error to the parser that follows.
pub fn first_flaw(raw: &[u8]) -> Option<(String, Flaw)> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let walked = Walk {
        found: &found,
        depth: 0,
    }
    .deserialize(&mut deserializer);
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
    if field.is_empty() {
        field.push('.');
    }
    Some((field, found.flaw))
}

/// The field of the first key given twice in one object of `raw`, if that is its
/// first flaw.
#[cfg(test)]
fn first_duplicate(raw: &[u8]) -> Option<String> {
    first_flaw(raw).and_then(|(field, flaw)| (flaw == Flaw::Duplicate).then_some(field))
}

#[derive(Clone, Copy)]
struct Walk<'a> {
    found: &'a RefCell<Option<Found>>,
    /// How many arrays and objects enclose the value walked.
    depth: usize,
}

impl Walk<'_> {
    /// The walk of a value one level further in.
    fn inner(self) -> Self {
        Walk {
            depth: self.depth + 1,
            ..self
        }
    }

    /// Records `flaw` at `segment` (when nothing was found yet), for an error just
    /// returned by the parser or by this walk.
    fn record(self, flaw: Flaw, segment: Option<Segment>) {
        let mut found = self.found.borrow_mut();
        if found.is_none() {
            *found = Some(Found {
                flaw,
                path: segment.into_iter().collect(),
            });
        }
    }

    /// A child at `segment` failed: records a flaw the parser reported there, else
    /// adds this level's segment to the path of one found further in.
    fn child_failed(self, message: String, segment: impl FnOnce() -> Segment) {
        let nothing_yet = self.found.borrow().is_none();
        match Flaw::of_parser_error(&message) {
            Some(flaw) if nothing_yet => self.record(flaw, Some(segment())),
            _ => self.unwind(segment),
        }
    }

    /// Refuses a container nested deeper than [`MAX_DEPTH`].
    fn check_depth<E: de::Error>(self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            self.record(Flaw::TooDeep, None);
            return Err(E::custom("nested too deep"));
        }
        Ok(())
    }

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
        self.check_depth()?;
        let mut index = 0;
        loop {
            match seq.next_element_seed(self.inner()) {
                Ok(Some(())) => index += 1,
                Ok(None) => return Ok(()),
                Err(err) => {
                    self.child_failed(err.to_string(), || Segment::Index(index));
                    return Err(err);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.check_depth()?;
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let repeated = if many.is_empty() {
                keys.contains(&key)
            } else {
                many.contains(&key)
            };
            if repeated {
                self.record(Flaw::Duplicate, Some(Segment::Key(key.into_owned())));
                return Err(de::Error::custom("a key is given twice"));
            }
            if let Err(err) = map.next_value_seed(self.inner()) {
                self.child_failed(err.to_string(), || Segment::Key(key.into_owned()));
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
    use super::{Flaw, MAX_DEPTH, first_duplicate, first_flaw};

    #[test]
    fn lone_surrogates_overflowing_numbers_and_deep_nesting_are_named() {
        assert_eq!(
            first_flaw(br#"{"order": {"note": "a\ud800b"}}"#),
            Some(("order.note".into(), Flaw::LoneSurrogate))
        );
        assert_eq!(
            first_flaw(br#"{"order": {"cart": ["\udc00"]}}"#),
            Some(("order.cart[0]".into(), Flaw::LoneSurrogate))
        );
        assert_eq!(
            first_flaw(br#"{"total": 1e400}"#),
            Some(("total".into(), Flaw::NumberOverflow))
        );
        assert_eq!(first_flaw(br#"{"pair": "\ud83d\ude00", "n": 1e300}"#), None);
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert_eq!(first_flaw(deep(MAX_DEPTH).as_bytes()), None);
        let (field, flaw) = first_flaw(deep(MAX_DEPTH + 1).as_bytes()).expect("too deep");
        assert_eq!(flaw, Flaw::TooDeep);
        assert!(field.starts_with("[0][0]"), "{field}");
        let (_, flaw) = first_flaw(deep(100_000).as_bytes()).expect("far too deep");
        assert_eq!(flaw, Flaw::TooDeep);
    }

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
