//! [`Brand`]: an entry of an order's `brands` array.

use serde_json::value::RawValue;

use crate::raw_fields::{ObjectWriter, RawFields, read_i64, read_string, take_into};

/// A brand of an order: `{"id": 663, "title": "Bali Bites"}`. The first brand of an
/// order is the order's brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// `id`
    pub id: i64,
    /// `title`
    pub title: Option<String>,
    /// Every other field (and a `title` that is not a string), in input order.
    pub extra: RawFields,
}

impl Brand {
    /// A brand with just an id.
    pub fn new(id: i64) -> Brand {
        Brand {
            id,
            title: None,
            extra: RawFields::new(),
        }
    }

    /// Reads a brand object; `None` unless it has an integer `id`.
    pub fn from_fields(fields: RawFields) -> Option<Brand> {
        let mut id = None;
        let mut title = None;
        let mut extra = RawFields::new();
        for (key, value) in fields {
            let taken = match key.as_str() {
                "id" => take_into(&mut id, read_i64(&value)),
                "title" => take_into(&mut title, read_string(&value)),
                _ => false,
            };
            if !taken {
                extra.push(key, value);
            }
        }
        Some(Brand {
            id: id?,
            title,
            extra,
        })
    }

    /// Reads a `brands` array; `None` unless every element is a brand object.
    pub(crate) fn read_list(raw: &RawValue) -> Option<Vec<Brand>> {
        let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get()).ok()?;
        items
            .iter()
            .map(|item| {
                RawFields::from_json(item.get())
                    .ok()
                    .and_then(Brand::from_fields)
            })
            .collect()
    }

    /// The brand as a compact JSON object: `id`, `title`, then the extra fields.
    pub fn to_json(&self) -> String {
        let mut object = ObjectWriter::new();
        object.i64("id", Some(self.id));
        object.str("title", self.title.as_deref());
        object.fields(&self.extra);
        object.finish()
    }
}

/// Writes a list of brands as a compact JSON array.
pub(crate) fn brands_to_json(brands: &[Brand]) -> String {
    let items: Vec<String> = brands.iter().map(Brand::to_json).collect();
    format!("[{}]", items.join(","))
}
