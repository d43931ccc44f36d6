//! The order stream, planned up front from a seed: when each order arrives and what
//! happens to it afterwards, round by round.
//!
//! Most orders go PLACED → ACCEPTED → (cart edited) → READY → PICKED_UP, or, for
//! delivery orders, → DRIVER_ASSIGNED → DELIVERED. Some are rejected or cancelled with
//! a reason code. Some steps come from the partner (its POS calls the partner API);
//! the rest from klikit's order platform (the ingest API). A few orders get a late,
//! stale push that hookit must ignore (at least one, however few the orders). The
//! first order goes to the pop-up branch: its `created` delivery is the one that goes
//! dead, and its later changes go on to the brand's head office once it has.

use super::orders::{DELIVERY, OrderModel};
use super::topology::{BRANCHES, BRANDS, POPUP_BRANCH, POPUP_BRAND};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Rounds over which new orders arrive; later steps follow within a few rounds.
pub const ARRIVAL_ROUNDS: u32 = 60;
/// The id of the first demo order (the seed page's example order), the pop-up's.
pub const FIRST_ORDER_ID: i64 = 7_585_307;
/// How many changes the pop-up order gets after being placed.
pub const POPUP_LATER_CHANGES: usize = 2;

/// What happens to one order in one round.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// The platform pushes the new order (`klikit.order.created.v2`, PLACED).
    Place,
    /// The platform pushes a status change (`klikit.order.status.updated`).
    Status {
        code: i64,
        reason: Option<&'static str>,
    },
    /// The platform pushes an edited cart (`klikit.order.cart.updated`).
    EditCart,
    /// The partner's POS changes the status through the partner API.
    Partner {
        status: &'static str,
        reason: Option<&'static str>,
        code: i64,
    },
    /// The platform re-sends the order as first placed, after it moved on: a stale
    /// push that must be acknowledged and ignored.
    LatePush,
}

/// The whole stream.
pub struct Plan {
    pub orders: Vec<OrderModel>,
    /// `rounds[r]`: the (order index, action) pairs of round `r`; an order appears at
    /// most once per round.
    pub rounds: Vec<Vec<(usize, Action)>>,
    /// Order changes planned (every action but the late pushes).
    pub changes: usize,
    pub late_pushes: usize,
}

/// Plans `count` orders (at least one) from `seed`.
pub fn plan(count: usize, seed: u64) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut orders = Vec::with_capacity(count);
    let mut steps: Vec<(u32, usize, Action)> = Vec::new();
    for index in 0..count.max(1) {
        let id = FIRST_ORDER_ID + index as i64;
        if index == 0 {
            orders.push(OrderModel::random(id, POPUP_BRAND, POPUP_BRANCH, &mut rng));
            steps.push((0, index, Action::Place));
            steps.push((1, index, status(2, None)));
            steps.push((2, index, status(4, None)));
            continue;
        }
        let brand = rng.gen_range(0..BRANDS.len());
        let branch = BRANCHES[rng.gen_range(0..BRANCHES.len())];
        let order = OrderModel::random(id, brand, branch, &mut rng);
        let arrival = (index as u64 * u64::from(ARRIVAL_ROUNDS) / count as u64) as u32;
        for (round, action) in lifecycle(&order, arrival, &mut rng) {
            steps.push((round, index, action));
        }
        orders.push(order);
    }
    let late = |(_, _, action): &(u32, usize, Action)| matches!(action, Action::LatePush);
    if count >= 2 && !steps.iter().any(late) {
        // Every stream shows a stale push: the second order's, after its last change.
        let after = steps
            .iter()
            .filter(|(_, index, _)| *index == 1)
            .map(|(round, _, _)| *round)
            .max()
            .unwrap_or(0);
        steps.push((after + 1, 1, Action::LatePush));
    }
    let last = steps.iter().map(|(round, _, _)| *round).max().unwrap_or(0);
    let mut rounds = vec![Vec::new(); last as usize + 1];
    let late_pushes = steps
        .iter()
        .filter(|(_, _, action)| matches!(action, Action::LatePush))
        .count();
    let changes = steps.len() - late_pushes;
    for (round, index, action) in steps {
        rounds[round as usize].push((index, action));
    }
    Plan {
        orders,
        rounds,
        changes,
        late_pushes,
    }
}

/// The rounds and actions of one order's life, from its arrival.
fn lifecycle(order: &OrderModel, arrival: u32, rng: &mut StdRng) -> Vec<(u32, Action)> {
    let mut round = arrival;
    let mut steps = vec![(round, Action::Place)];
    let mut then = |action: Action, rng: &mut StdRng| {
        round += rng.gen_range(1..=3);
        steps.push((round, action));
    };
    let by_partner = |rng: &mut StdRng| rng.gen_bool(0.3);
    match rng.gen_range(0..100) {
        0..=5 => {
            let reasons = ["out_of_items", "store_too_busy", "kitchen_closed"];
            let reason = reasons[rng.gen_range(0..reasons.len())];
            then(partner("rejected", Some(reason), 3), rng);
        }
        6..=8 => then(status(3, Some("customer_requested")), rng),
        _ => {
            let accept = if by_partner(rng) {
                partner("accepted", None, 2)
            } else {
                status(2, None)
            };
            then(accept, rng);
            if rng.gen_bool(0.3) {
                then(Action::EditCart, rng);
            }
            if rng.gen_bool(0.04) {
                let cancel = if by_partner(rng) {
                    partner("cancelled", Some("out_of_items"), 3)
                } else {
                    status(3, Some("customer_requested"))
                };
                then(cancel, rng);
            } else {
                let ready = if by_partner(rng) {
                    partner("ready", None, 4)
                } else {
                    status(4, None)
                };
                then(ready, rng);
                if order.order_type == DELIVERY {
                    if rng.gen_bool(0.6) {
                        then(status(7, None), rng);
                    }
                    then(status(5, None), rng);
                } else if by_partner(rng) {
                    then(partner("picked_up", None, 9), rng);
                } else {
                    then(status(9, None), rng);
                }
            }
        }
    }
    if rng.gen_bool(0.02) {
        then(Action::LatePush, rng);
    }
    steps
}

fn status(code: i64, reason: Option<&'static str>) -> Action {
    Action::Status { code, reason }
}

fn partner(status: &'static str, reason: Option<&'static str>, code: i64) -> Action {
    Action::Partner {
        status,
        reason,
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_is_placed_first_and_appears_once_per_round() {
        let plan = plan(300, 7);
        assert_eq!(plan.orders.len(), 300);
        let mut placed = vec![false; 300];
        for round in &plan.rounds {
            let mut seen = std::collections::HashSet::new();
            for (index, action) in round {
                assert!(seen.insert(*index), "order {index} twice in a round");
                match action {
                    Action::Place => placed[*index] = true,
                    _ => assert!(placed[*index], "order {index} changed before placed"),
                }
            }
        }
        assert!(placed.iter().all(|p| *p));
        assert!(plan.changes > 3 * 300, "{}", plan.changes);
    }

    #[test]
    fn a_small_stream_still_plans_every_case() {
        let plan = plan(5, 663);
        assert!(plan.late_pushes >= 1);
        let popup_changes = plan
            .rounds
            .iter()
            .flatten()
            .filter(|(index, _)| *index == 0)
            .count();
        assert_eq!(popup_changes, 1 + POPUP_LATER_CHANGES);
    }

    #[test]
    fn the_same_seed_plans_the_same_stream() {
        let a = plan(50, 42);
        let b = plan(50, 42);
        assert_eq!(a.changes, b.changes);
        assert_eq!(
            a.orders.iter().map(|o| o.branch_id).collect::<Vec<_>>(),
            b.orders.iter().map(|o| o.branch_id).collect::<Vec<_>>()
        );
    }
}
