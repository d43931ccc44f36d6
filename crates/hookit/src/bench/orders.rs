//! The klikit side of the bench: realistic order records and the batch pushes that
//! carry them, as klikit's order platform would send them.
//!
//! Each scenario owns an [`OrderSpace`]: a fresh random range of order ids and brand
//! ids (so a shared, long-lived database never mixes runs), the (brand, branch) routes
//! the orders spread over round-robin, and how many changes each order goes through.
//! Change 0 is `klikit.order.created.v2`; later ones are `klikit.order.status.updated`
//! with a later `updated_at`, so versions 1, 2, … must reach the partner in order.

use super::BenchError;
use super::system::System;
use klikit_webhook::EventType;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The most items in one push: the ingest API's own limit (`MAX_BATCH_ITEMS`).
pub const MAX_PUSH_ITEMS: usize = 1000;
/// The most changes per order the timestamps can express (minutes of one hour).
pub const MAX_CHANGES_PER_ORDER: u32 = 50;

/// The orders of one scenario.
#[derive(Debug, Clone)]
pub struct OrderSpace {
    pub first_id: i64,
    pub orders: usize,
    pub changes_per_order: u32,
    /// (brand id, branch id) pairs, used round-robin by order index.
    pub routes: Vec<(i64, i64)>,
}

/// A random base for ids: far from real klikit ids and from any earlier run.
pub fn random_base() -> i64 {
    (1 + i64::from(rand::random::<u32>() >> 2)) << 32
}

impl OrderSpace {
    /// `orders` orders over `brands × branches` routes with fresh random ids.
    pub fn new(orders: usize, changes_per_order: u32, brands: &[i64], branches: usize) -> Self {
        let branch_base = 1 + i64::from(rand::random::<u16>()) * 10_000;
        let routes = brands
            .iter()
            .flat_map(|&brand| (0..branches as i64).map(move |b| (brand, branch_base + b)))
            .collect();
        OrderSpace {
            first_id: random_base(),
            orders,
            changes_per_order: changes_per_order.clamp(1, MAX_CHANGES_PER_ORDER),
            routes,
        }
    }

    /// Like [`Self::new`], but brand `p` gets `weights[p]` route entries (cycling over
    /// its branches), so order index `i` belongs to brand `p` when `i % sum(weights)`
    /// falls in `p`'s share: a way to give partners different rates in one stream.
    pub fn weighted(
        orders: usize,
        changes_per_order: u32,
        brands: &[i64],
        branches: usize,
        weights: &[usize],
    ) -> Self {
        let mut space = OrderSpace::new(orders, changes_per_order, brands, branches);
        let branch_base = space.routes.first().map_or(1, |(_, branch)| *branch);
        space.routes = brands
            .iter()
            .zip(weights)
            .flat_map(|(&brand, &weight)| {
                (0..weight).map(move |n| (brand, branch_base + (n % branches.max(1)) as i64))
            })
            .collect();
        space
    }

    /// Every change of every order.
    pub fn total_changes(&self) -> u64 {
        self.orders as u64 * u64::from(self.changes_per_order)
    }

    /// One `{"event", "order"}` item: change `change` of the order at `index`.
    pub fn item(&self, index: usize, change: u32) -> String {
        let id = self.first_id + index as i64;
        let (brand, branch) = self.routes[index % self.routes.len()];
        let (event, status) = match change {
            0 => (EventType::OrderCreated, 1),
            n => (
                EventType::OrderStatusUpdated,
                [2, 4, 9][(n as usize - 1) % 3],
            ),
        };
        format!(
            r#"{{"event":"{event}","order":{{"id":{id},"external_id":"GF-{id}","business_id":737,"brands":[{{"id":{brand},"title":"Bali Bites"}}],"branch_id":{branch},"status":{status},"cart":[{{"id":1,"name":"Nasi Goreng Spesial","quantity":2,"unit_price":"45000.00","price":"90000.00","modifier_groups":[{{"id":11,"name":"Spice level","modifiers":[{{"id":111,"name":"Extra hot","quantity":1,"price":"0.00"}}]}}]}},{{"id":2,"name":"Es Teh Manis","quantity":1,"unit_price":"8000.00","price":"8000.00"}}],"payment":{{"status":1,"method":14,"channel":8}},"placed_at":"2026-11-28T10:00:00Z","updated_at":"2026-11-28T10:{change:02}:00Z","currency":"IDR","total":"98000.00"}}}}"#,
            event = event.as_str(),
        )
    }
}

/// `{"items": [...]}` around pre-rendered items.
pub fn push_body(items: &[String]) -> String {
    let mut body = String::with_capacity(16 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    body.push_str(r#"{"items":["#);
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    body
}

/// Counts shared by concurrent pushers.
#[derive(Debug, Default)]
pub struct PushCounters {
    pub items: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

/// Pushes `items`, and checks that every one was stored and routed to exactly one
/// partner (each bench order has exactly one mapped partner).
pub async fn push(
    system: &System,
    items: &[String],
    key: &str,
    counters: &PushCounters,
) -> Result<(), BenchError> {
    let (outcome, retries) = system.ingest_batch(push_body(items), key).await?;
    if outcome.results.len() != items.len() {
        return Err(format!(
            "ingest answered {} results for {} items",
            outcome.results.len(),
            items.len()
        )
        .into());
    }
    if let Some(bad) = outcome
        .results
        .iter()
        .find(|r| r.result != "stored" || r.routed_to != 1)
    {
        return Err(format!(
            "ingest did not store and route order {} as expected: result {:?}, routed to {} partners",
            bad.order_id, bad.result, bad.routed_to
        )
        .into());
    }
    counters.items.fetch_add(items.len() as u64, Relaxed);
    counters.requests.fetch_add(1, Relaxed);
    counters.retries.fetch_add(u64::from(retries), Relaxed);
    Ok(())
}

/// Pushes every change of `space` as fast as `clients` concurrent clients can.
///
/// The orders are cut into blocks of `1000 / changes` orders; client `w` owns blocks
/// `w, w + clients, …` and its j-th push carries change `c` of its block `j - c`, so
/// change `c` of an order is sent only after change `c - 1` was acknowledged (a
/// platform never pushes an order's later state before the earlier one was stored).
pub async fn push_all(
    system: &Arc<System>,
    space: &Arc<OrderSpace>,
    clients: usize,
    counters: &Arc<PushCounters>,
) -> Result<(), BenchError> {
    let changes = space.changes_per_order as usize;
    let block = (MAX_PUSH_ITEMS / changes).max(1);
    let blocks = space.orders.div_ceil(block);
    let clients = clients.clamp(1, blocks.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (system, space, counters) =
            (Arc::clone(system), Arc::clone(space), Arc::clone(counters));
        tasks.spawn(async move {
            let owned: Vec<usize> = (client..blocks).step_by(clients).collect();
            let run = rand::random::<u64>();
            for step in 0..owned.len() + changes - 1 {
                let mut items = Vec::with_capacity(MAX_PUSH_ITEMS);
                for change in 0..changes {
                    let Some(&b) = step.checked_sub(change).and_then(|j| owned.get(j)) else {
                        continue;
                    };
                    let orders = b * block..((b + 1) * block).min(space.orders);
                    items.extend(orders.map(|index| space.item(index, change as u32)));
                }
                if !items.is_empty() {
                    let key = format!("bench-{run:016x}-{client}-{step}");
                    push(&system, &items, &key, &counters).await?;
                }
            }
            Ok::<(), BenchError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|err| format!("an ingest client failed: {err}"))??;
    }
    Ok(())
}
