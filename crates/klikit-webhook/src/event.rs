//! The event types klikit sends, as named in the `x-klikit-event-type` header.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of the three order events klikit delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// `klikit.order.created.v2`: the order is confirmed; ring the kitchen.
    OrderCreated,
    /// `klikit.order.status.updated`: the order moved forward or was cancelled.
    OrderStatusUpdated,
    /// `klikit.order.cart.updated`: the items changed; the cart array is a full replacement.
    OrderCartUpdated,
}

impl EventType {
    /// Every event type, in the order the documentation lists them.
    pub const ALL: [EventType; 3] = [
        EventType::OrderCreated,
        EventType::OrderStatusUpdated,
        EventType::OrderCartUpdated,
    ];

    /// The wire name, exactly as sent in `x-klikit-event-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "klikit.order.created.v2",
            EventType::OrderStatusUpdated => "klikit.order.status.updated",
            EventType::OrderCartUpdated => "klikit.order.cart.updated",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the three event types. Carries the name as received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event type {name:?}: expected one of \"klikit.order.created.v2\", \
     \"klikit.order.status.updated\", \"klikit.order.cart.updated\""
)]
pub struct UnknownEventType {
    /// The name that was received (lossily decoded if it was not UTF-8).
    pub name: String,
}

impl FromStr for EventType {
    type Err = UnknownEventType;

    /// Parses a wire name exactly (case-sensitive, no trimming).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|event_type| event_type.as_str() == name)
            .ok_or_else(|| UnknownEventType {
                name: name.to_owned(),
            })
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for event_type in EventType::ALL {
            assert_eq!(event_type.as_str().parse(), Ok(event_type));
            assert_eq!(event_type.to_string(), event_type.as_str());
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "klikit.order.created"
            .parse::<EventType>()
            .expect_err("must be rejected");
        let message = err.to_string();
        for event_type in EventType::ALL {
            assert!(message.contains(event_type.as_str()), "{message}");
        }
    }

    #[test]
    fn serde_uses_the_wire_name() {
        let json = serde_json::to_string(&EventType::OrderCreated).expect("serialises");
        assert_eq!(json, "\"klikit.order.created.v2\"");
        let back: EventType = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, EventType::OrderCreated);
        assert!(serde_json::from_str::<EventType>("\"nope\"").is_err());
    }
}
