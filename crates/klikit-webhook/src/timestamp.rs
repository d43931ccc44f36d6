//! [`Timestamp`]: an RFC 3339 time that keeps its exact original text.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An RFC 3339 timestamp such as `2026-11-28T15:04:05.123+07:00`.
///
/// It serialises as the exact text it was parsed from (offset and precision kept), and
/// offers the parsed instant for comparisons.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    instant: DateTime<FixedOffset>,
}

/// A string that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 timestamp (e.g. 2026-11-28T15:04:05Z): {reason}")]
pub struct TimestampError {
    /// The rejected text.
    pub text: String,
    /// What chrono objected to.
    pub reason: String,
}

impl Timestamp {
    /// Parses an RFC 3339 timestamp, keeping `text` as given.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        DateTime::parse_from_rfc3339(text)
            .map(|instant| Timestamp {
                text: text.to_owned(),
                instant,
            })
            .map_err(|err| TimestampError {
                text: text.to_owned(),
                reason: err.to_string(),
            })
    }

    /// A timestamp for `instant`, written as RFC 3339 with the given offset.
    pub fn from_instant(instant: DateTime<FixedOffset>) -> Timestamp {
        Timestamp {
            text: instant.to_rfc3339(),
            instant,
        }
    }

    /// The exact original text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed instant, with the offset it was written in.
    pub fn instant(&self) -> DateTime<FixedOffset> {
        self.instant
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_original_text() {
        let stamp = Timestamp::parse("2026-11-28T22:04:05.120+07:00").expect("valid");
        assert_eq!(stamp.as_str(), "2026-11-28T22:04:05.120+07:00");
        let utc = Timestamp::parse("2026-11-28T15:04:05.12Z").expect("valid");
        assert_eq!(stamp.instant(), utc.instant());
        let json = serde_json::to_string(&stamp).expect("serialises");
        assert_eq!(json, "\"2026-11-28T22:04:05.120+07:00\"");
    }

    #[test]
    fn rejects_non_rfc3339() {
        let err = Timestamp::parse("28/11/2026").expect_err("not RFC 3339");
        assert!(err.to_string().contains("28/11/2026"));
    }
}
