//! Retention: how long finished work is kept, and what a prune removes.
//!
//! Five kinds of record go once they are past their time: delivered deliveries (with
//! their bodies, attempts and queue rows), dead ones (the same), orders with their
//! change snapshots, the tombstones of pruned orders, and idempotency keys. Pending
//! work never goes, nor does an order that a kept delivery (pending, or finished but
//! still within its own retention) was formed from. A pruned order leaves a tombstone
//! — its id, last version and the platform's last times — so that a later change of it
//! continues its version and its staleness rule; the tombstone is kept for the orders'
//! retention again after the order went (an order changed again later than that starts
//! over at version 1), so that nothing is kept for ever. The audit log is never pruned.
//!
//! Each backend prunes in batches of at most [`PRUNE_BATCH`] records of one kind per
//! transaction, so one transaction's size is bounded; the caller loops while a batch
//! says there is more. Where one writer serves everything (SQLite), a batch also stops
//! once it has held the writer for [`PRUNE_WRITE_BUDGET`], so that ingest and the
//! dispatcher never wait long behind it.

use super::Millis;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most records of one kind (deliveries, orders or idempotency keys) one prune
/// transaction removes. A delivery takes its attempts and queue rows with it, an order
/// its change snapshots and stopped queue rows, so a transaction touches at most this
/// many records and what belongs to them.
pub const PRUNE_BATCH: usize = 100;

/// How long one prune write may hold a single writer (SQLite's) before it stops at the
/// next record and leaves the rest to the next batch. It is checked after each record,
/// so a batch always removes at least one record and may run over by one record's
/// work. Writes queued meanwhile (an ingest, a lease) wait at most about this long for
/// it, well within a dispatcher tick.
pub const PRUNE_WRITE_BUDGET: Duration = Duration::from_millis(5);

/// How long finished work is kept (`HOOKIT_RETAIN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delivered deliveries, from when they were acknowledged.
    pub delivered: Duration,
    /// Dead deliveries, from when they died.
    pub dead: Duration,
    /// Orders, from their last change, once no kept delivery needs them.
    pub orders: Duration,
    /// Idempotency keys, from their first use.
    pub idempotency_keys: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionPolicy {
            delivered: Duration::from_secs(30 * DAY),
            dead: Duration::from_secs(90 * DAY),
            orders: Duration::from_secs(90 * DAY),
            idempotency_keys: Duration::from_secs(DAY),
        }
    }
}

/// The times before which each kind of record is past its retention at some `now`:
/// a record goes when its time is strictly earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub delivered: Millis,
    pub dead: Millis,
    pub orders: Millis,
    pub idempotency_keys: Millis,
}

impl RetentionPolicy {
    /// The cutoffs of this policy at `now`.
    pub fn cutoffs(&self, now: Millis) -> Cutoffs {
        let before = |kept: Duration| {
            now.saturating_sub(Millis::try_from(kept.as_millis()).unwrap_or(Millis::MAX))
        };
        Cutoffs {
            delivered: before(self.delivered),
            dead: before(self.dead),
            orders: before(self.orders),
            idempotency_keys: before(self.idempotency_keys),
        }
    }
}

/// A kind of record the pruner removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneKind {
    Delivered,
    Dead,
    Orders,
    Tombstones,
    IdempotencyKeys,
}

impl PruneKind {
    /// Every kind, in the order a prune takes them: deliveries first, so that the
    /// orders they held are free by the time orders are looked at.
    pub const ALL: [PruneKind; 5] = [
        PruneKind::Delivered,
        PruneKind::Dead,
        PruneKind::Orders,
        PruneKind::Tombstones,
        PruneKind::IdempotencyKeys,
    ];

    /// The name used in answers, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PruneKind::Delivered => "delivered",
            PruneKind::Dead => "dead",
            PruneKind::Orders => "orders",
            PruneKind::Tombstones => "tombstones",
            PruneKind::IdempotencyKeys => "idempotency_keys",
        }
    }
}

/// How many records of each kind a prune removed (or would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneCounts {
    /// Delivered deliveries, with their bodies and attempts.
    pub delivered: u64,
    /// Dead deliveries, with their bodies and attempts.
    pub dead: u64,
    /// Orders, with their change snapshots (each leaves a tombstone).
    pub orders: u64,
    /// Tombstones of orders pruned longer ago than the orders' retention.
    #[serde(default)]
    pub tombstones: u64,
    /// Idempotency keys.
    pub idempotency_keys: u64,
}

impl PruneCounts {
    /// The count of one kind.
    pub fn get(&self, kind: PruneKind) -> u64 {
        match kind {
            PruneKind::Delivered => self.delivered,
            PruneKind::Dead => self.dead,
            PruneKind::Orders => self.orders,
            PruneKind::Tombstones => self.tombstones,
            PruneKind::IdempotencyKeys => self.idempotency_keys,
        }
    }

    /// Adds `count` to one kind.
    pub fn add(&mut self, kind: PruneKind, count: u64) {
        let slot = match kind {
            PruneKind::Delivered => &mut self.delivered,
            PruneKind::Dead => &mut self.dead,
            PruneKind::Orders => &mut self.orders,
            PruneKind::Tombstones => &mut self.tombstones,
            PruneKind::IdempotencyKeys => &mut self.idempotency_keys,
        };
        *slot += count;
    }

    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.delivered + self.dead + self.orders + self.tombstones + self.idempotency_keys
    }
}

/// What one prune transaction removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneBatch {
    /// Records of the kind asked for (at most [`PRUNE_BATCH`]).
    pub records: u64,
    /// Rows deleted in all: the records and what belonged to them (attempts, queue
    /// rows, change snapshots).
    pub rows: u64,
    /// The batch stopped before it ran out of records past their time (it reached
    /// [`PRUNE_BATCH`] or [`PRUNE_WRITE_BUDGET`]): another batch of the kind follows.
    pub more: bool,
}

impl PruneBatch {
    /// A batch of one statement that deleted `deleted` records of one row each, picking
    /// at most [`PRUNE_BATCH`]: a full pick means more may be left.
    pub fn of_rows(deleted: u64) -> Self {
        PruneBatch {
            records: deleted,
            rows: deleted,
            more: deleted == PRUNE_BATCH as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_are_now_minus_each_retention_and_never_overflow() {
        let policy = RetentionPolicy {
            delivered: Duration::from_millis(10),
            dead: Duration::from_millis(20),
            orders: Duration::from_millis(30),
            idempotency_keys: Duration::MAX,
        };
        let cut = policy.cutoffs(1_000);
        assert_eq!(
            (cut.delivered, cut.dead, cut.orders),
            (990, 980, 970),
            "each cutoff is its own retention before now"
        );
        assert_eq!(cut.idempotency_keys, 1_000 - Millis::MAX);
    }

    #[test]
    fn counts_add_up_by_kind() {
        let mut counts = PruneCounts::default();
        for (n, kind) in PruneKind::ALL.into_iter().enumerate() {
            counts.add(kind, n as u64 + 1);
        }
        assert_eq!(counts.get(PruneKind::Orders), 3);
        assert_eq!(counts.get(PruneKind::Tombstones), 4);
        assert_eq!(counts.total(), 15);
    }
}
