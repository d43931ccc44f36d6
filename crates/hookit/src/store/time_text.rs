//! How store times read on the wire: RFC 3339 in UTC, to the millisecond
//! (`2026-11-28T10:00:00.123Z`). The store keeps [`Millis`]; every value it hands out
//! for an answer serialises its times through these functions, so no API ever answers
//! with epoch milliseconds.

use super::Millis;
use chrono::{DateTime, SecondsFormat};
use serde::Serializer;

/// A time as RFC 3339 UTC text, to the millisecond. A value outside chrono's range
/// (which no clock produces) is written as its number of milliseconds.
pub fn rfc3339(millis: Millis) -> String {
    match DateTime::from_timestamp_millis(millis) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => millis.to_string(),
    }
}

/// Serialises a time as RFC 3339 text (for `#[serde(serialize_with)]`).
pub fn serialize<S: Serializer>(millis: &Millis, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*millis))
}

/// Serialises an optional time as RFC 3339 text or null.
pub fn serialize_option<S: Serializer>(
    millis: &Option<Millis>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match millis {
        Some(millis) => serializer.serialize_str(&rfc3339(*millis)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn times_read_as_rfc3339_utc_to_the_millisecond() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_860_000_123), "2026-11-28T10:00:00.123Z");
    }
}
