//! The order state machine a partner moves orders through (`PATCH …/status`).
//!
//! From klikit's codes (reference file): PLACED → ACCEPTED → READY → PICKED_UP or
//! DELIVERED; SCHEDULED precedes ACCEPTED; the driver states sit between READY and
//! PICKED_UP; CANCELLED from any non-final state. A rejection is a cancellation before
//! acceptance. Cancelling or rejecting needs one of the documented reason codes.

use klikit_webhook::OrderStatus;

/// What a partner may ask an order to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedStatus {
    Accepted,
    Ready,
    PickedUp,
    Rejected,
    Cancelled,
}

/// The reason codes klikit documents for cancelling or rejecting.
pub const REASON_CODES: &[&str] = &[
    "out_of_items",
    "kitchen_closed",
    "store_too_busy",
    "customer_requested",
    "cannot_complete_request",
    "system_error",
    "other",
];

impl RequestedStatus {
    /// Every wire name, for error messages.
    pub const NAMES: &'static str = "accepted, ready, picked_up, rejected, cancelled";

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "accepted" => Some(Self::Accepted),
            "ready" => Some(Self::Ready),
            "picked_up" => Some(Self::PickedUp),
            "rejected" => Some(Self::Rejected),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Ready => "ready",
            Self::PickedUp => "picked_up",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether this request must carry a reason code.
    pub fn needs_reason(self) -> bool {
        matches!(self, Self::Rejected | Self::Cancelled)
    }
}

/// A transition that the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order in state {} cannot become {}", current.name(), requested.as_str())]
pub struct InvalidTransition {
    pub current: OrderStatus,
    pub requested: RequestedStatus,
}

/// The status an order moves to, if `requested` is allowed from `current`.
pub fn transition(
    current: OrderStatus,
    requested: RequestedStatus,
) -> Result<OrderStatus, InvalidTransition> {
    use OrderStatus as S;
    use RequestedStatus as R;
    let allowed = match requested {
        R::Accepted => matches!(current, S::Placed | S::Scheduled),
        R::Ready => matches!(current, S::Accepted),
        R::PickedUp => matches!(current, S::Ready | S::DriverAssigned | S::DriverArrived),
        R::Rejected => matches!(current, S::Placed | S::Scheduled),
        R::Cancelled => !current.is_final() && !matches!(current, S::Unknown(_)),
    };
    if !allowed {
        return Err(InvalidTransition { current, requested });
    }
    Ok(match requested {
        R::Accepted => S::Accepted,
        R::Ready => S::Ready,
        R::PickedUp => S::PickedUp,
        R::Rejected | R::Cancelled => S::Cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as S;
    use RequestedStatus as R;

    const ALL: [OrderStatus; 9] = [
        S::Placed,
        S::Accepted,
        S::Cancelled,
        S::Ready,
        S::Delivered,
        S::Scheduled,
        S::DriverAssigned,
        S::DriverArrived,
        S::PickedUp,
    ];

    fn allowed_from(requested: RequestedStatus) -> Vec<OrderStatus> {
        ALL.into_iter()
            .filter(|&current| transition(current, requested).is_ok())
            .collect()
    }

    #[test]
    fn every_transition_follows_the_reference_state_machine() {
        assert_eq!(allowed_from(R::Accepted), [S::Placed, S::Scheduled]);
        assert_eq!(allowed_from(R::Ready), [S::Accepted]);
        assert_eq!(
            allowed_from(R::PickedUp),
            [S::Ready, S::DriverAssigned, S::DriverArrived]
        );
        assert_eq!(allowed_from(R::Rejected), [S::Placed, S::Scheduled]);
        assert_eq!(
            allowed_from(R::Cancelled),
            [
                S::Placed,
                S::Accepted,
                S::Ready,
                S::Scheduled,
                S::DriverAssigned,
                S::DriverArrived
            ]
        );
    }

    #[test]
    fn rejection_and_cancellation_end_cancelled() {
        assert_eq!(transition(S::Placed, R::Rejected), Ok(S::Cancelled));
        assert_eq!(transition(S::Ready, R::Cancelled), Ok(S::Cancelled));
        assert_eq!(transition(S::Placed, R::Accepted), Ok(S::Accepted));
        let err = transition(S::Delivered, R::Cancelled).expect_err("final");
        assert_eq!(
            err.to_string(),
            "an order in state DELIVERED cannot become cancelled"
        );
    }

    #[test]
    fn names_round_trip() {
        for name in RequestedStatus::NAMES.split(", ") {
            let parsed = RequestedStatus::parse(name).expect("known");
            assert_eq!(parsed.as_str(), name);
        }
        assert_eq!(RequestedStatus::parse("delivered"), None);
    }
}
