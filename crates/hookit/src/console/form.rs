//! Reading URL-encoded forms and query strings into named fields. An empty field is
//! an absent one, as HTML forms send every input.

use super::ConsoleError;
use std::collections::HashMap;

/// The fields of one form or query string; the last value of a repeated name wins.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields(HashMap<String, String>);

impl Fields {
    /// Parses `application/x-www-form-urlencoded` bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        Fields(
            url::form_urlencoded::parse(bytes)
                .map(|(name, value)| (name.into_owned(), value.trim().to_owned()))
                .collect(),
        )
    }

    /// Parses an optional query string.
    pub(crate) fn query(raw: Option<&str>) -> Self {
        raw.map(|q| Fields::parse(q.as_bytes())).unwrap_or_default()
    }

    /// The field's value, unless it is absent or blank.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// The field's value, or an error naming it.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ConsoleError> {
        self.get(name)
            .ok_or_else(|| ConsoleError::invalid(name, "is required; fill it in"))
    }

    /// The field as an integer, if given.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, ConsoleError> {
        self.get(name)
            .map(|text| {
                text.parse::<i64>().map_err(|_| {
                    ConsoleError::invalid(name, format!("must be a whole number, got {text:?}"))
                })
            })
            .transpose()
    }

    /// Whether a checkbox was ticked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), Some("on" | "true" | "1"))
    }
}
