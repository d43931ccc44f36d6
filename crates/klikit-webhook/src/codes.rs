//! Numeric codes in an order record: [`OrderStatus`] and [`PaymentStatus`].
//!
//! Both serialise as their integer code. Codes this crate does not know are kept as
//! `Unknown(code)` rather than rejected, so a receiver keeps working when klikit adds one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where an order is in its life (klikit's `OrderStatus` codes 1..9).
///
/// Forward path: PLACED → ACCEPTED → READY → PICKED_UP or DELIVERED; SCHEDULED precedes
/// ACCEPTED for future orders; driver states sit between READY and PICKED_UP; CANCELLED
/// from any non-final state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// 1
    Placed,
    /// 2
    Accepted,
    /// 3
    Cancelled,
    /// 4
    Ready,
    /// 5
    Delivered,
    /// 6
    Scheduled,
    /// 7
    DriverAssigned,
    /// 8
    DriverArrived,
    /// 9
    PickedUp,
    /// A code this crate does not know. Build it with [`OrderStatus::from_code`] so that
    /// known codes never end up here.
    Unknown(i64),
}

impl OrderStatus {
    /// The integer code on the wire.
    pub fn code(self) -> i64 {
        match self {
            OrderStatus::Placed => 1,
            OrderStatus::Accepted => 2,
            OrderStatus::Cancelled => 3,
            OrderStatus::Ready => 4,
            OrderStatus::Delivered => 5,
            OrderStatus::Scheduled => 6,
            OrderStatus::DriverAssigned => 7,
            OrderStatus::DriverArrived => 8,
            OrderStatus::PickedUp => 9,
            OrderStatus::Unknown(code) => code,
        }
    }

    /// The status for a wire code; unknown codes become [`OrderStatus::Unknown`].
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => OrderStatus::Placed,
            2 => OrderStatus::Accepted,
            3 => OrderStatus::Cancelled,
            4 => OrderStatus::Ready,
            5 => OrderStatus::Delivered,
            6 => OrderStatus::Scheduled,
            7 => OrderStatus::DriverAssigned,
            8 => OrderStatus::DriverArrived,
            9 => OrderStatus::PickedUp,
            other => OrderStatus::Unknown(other),
        }
    }

    /// The upper-case name klikit uses, e.g. `"DRIVER_ASSIGNED"`; `"UNKNOWN"` for unknown codes.
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Accepted => "ACCEPTED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Ready => "READY",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Scheduled => "SCHEDULED",
            OrderStatus::DriverAssigned => "DRIVER_ASSIGNED",
            OrderStatus::DriverArrived => "DRIVER_ARRIVED",
            OrderStatus::PickedUp => "PICKED_UP",
            OrderStatus::Unknown(_) => "UNKNOWN",
        }
    }

    /// True for DELIVERED, PICKED_UP and CANCELLED: nothing follows them.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Delivered | OrderStatus::PickedUp | OrderStatus::Cancelled
        )
    }
}

/// Whether an order has been paid (codes 1..4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// 1
    Paid,
    /// 2
    Failed,
    /// 3
    Pending,
    /// 4
    Refunded,
    /// A code this crate does not know.
    Unknown(i64),
}

impl PaymentStatus {
    /// The integer code on the wire.
    pub fn code(self) -> i64 {
        match self {
            PaymentStatus::Paid => 1,
            PaymentStatus::Failed => 2,
            PaymentStatus::Pending => 3,
            PaymentStatus::Refunded => 4,
            PaymentStatus::Unknown(code) => code,
        }
    }

    /// The status for a wire code; unknown codes become [`PaymentStatus::Unknown`].
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => PaymentStatus::Paid,
            2 => PaymentStatus::Failed,
            3 => PaymentStatus::Pending,
            4 => PaymentStatus::Refunded,
            other => PaymentStatus::Unknown(other),
        }
    }

    /// The upper-case name, e.g. `"PAID"`; `"UNKNOWN"` for unknown codes.
    pub fn name(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "PAID",
            PaymentStatus::Failed => "FAILED",
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Refunded => "REFUNDED",
            PaymentStatus::Unknown(_) => "UNKNOWN",
        }
    }

    /// True for PAID, FAILED and REFUNDED: the payment will not change by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::Paid | PaymentStatus::Failed | PaymentStatus::Refunded
        )
    }
}

macro_rules! serde_as_code {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_i64(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                i64::deserialize(deserializer).map(Self::from_code)
            }
        }
    };
}

serde_as_code!(OrderStatus);
serde_as_code!(PaymentStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_status_codes_round_trip() {
        for code in 0..=11 {
            assert_eq!(OrderStatus::from_code(code).code(), code);
        }
        assert_eq!(OrderStatus::from_code(4).name(), "READY");
        assert_eq!(OrderStatus::from_code(5).name(), "DELIVERED");
        assert_eq!(OrderStatus::from_code(42), OrderStatus::Unknown(42));
        assert_eq!(OrderStatus::Unknown(42).name(), "UNKNOWN");
    }

    #[test]
    fn final_states() {
        let finals: Vec<_> = (1..=9)
            .map(OrderStatus::from_code)
            .filter(|status| status.is_final())
            .map(OrderStatus::name)
            .collect();
        assert_eq!(finals, ["CANCELLED", "DELIVERED", "PICKED_UP"]);
    }

    #[test]
    fn payment_status_codes_round_trip() {
        for code in 0..=6 {
            assert_eq!(PaymentStatus::from_code(code).code(), code);
        }
        assert_eq!(PaymentStatus::from_code(4), PaymentStatus::Refunded);
    }

    #[test]
    fn serde_as_integer() {
        let json = serde_json::to_string(&OrderStatus::PickedUp).expect("serialises");
        assert_eq!(json, "9");
        let back: OrderStatus = serde_json::from_str("77").expect("parses");
        assert_eq!(back, OrderStatus::Unknown(77));
        let paid: PaymentStatus = serde_json::from_str("1").expect("parses");
        assert_eq!(paid, PaymentStatus::Paid);
    }
}
