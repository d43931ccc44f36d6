//! Whether each dispatcher loop is making progress, for `/readyz` and `/metrics`.
//!
//! A loop is `ok` when it made progress within the stall window — max(3 ticks, 5 s) —
//! or had nothing to do; otherwise it is `stalled`. The batcher and the claimer make
//! progress each time a store call of theirs succeeds (finding nothing to batch or
//! claim counts: the loop works). The recorder makes progress each time it writes a
//! batch of outcomes, and has nothing to do while no outcome waits.

use crate::store::Millis;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// The dispatcher's loops, by the names readiness and metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchLoop {
    Batcher,
    Claimer,
    Recorder,
}

impl DispatchLoop {
    pub const ALL: [DispatchLoop; 3] = [
        DispatchLoop::Batcher,
        DispatchLoop::Claimer,
        DispatchLoop::Recorder,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DispatchLoop::Batcher => "batcher",
            DispatchLoop::Claimer => "claimer",
            DispatchLoop::Recorder => "recorder",
        }
    }
}

#[derive(Debug)]
struct Beat {
    last_progress: AtomicI64,
    /// Whether the loop has work it has not finished (always, for ticking loops).
    busy: AtomicBool,
}

/// Progress marks of the three loops. Cheap to clone; all clones share the marks.
#[derive(Debug, Clone)]
pub struct LoopHealth {
    beats: Arc<[Beat; 3]>,
    window: Millis,
}

impl LoopHealth {
    /// Marks for loops that tick every `tick`, all counted as having made progress at
    /// `now`. The recorder starts with nothing to do.
    pub fn new(tick: Duration, now: Millis) -> Self {
        let window = (tick * 3).max(Duration::from_secs(5));
        let beat = |busy| Beat {
            last_progress: AtomicI64::new(now),
            busy: AtomicBool::new(busy),
        };
        LoopHealth {
            beats: Arc::new([beat(true), beat(true), beat(false)]),
            window: window.as_millis() as Millis,
        }
    }

    fn beat(&self, which: DispatchLoop) -> &Beat {
        &self.beats[which as usize]
    }

    /// The loop made progress at `now`.
    pub fn progressed(&self, which: DispatchLoop, now: Millis) {
        self.beat(which).last_progress.store(now, Ordering::Relaxed);
    }

    /// The loop has work waiting (`true`) or has done all it had (`false`). Becoming
    /// busy after idling starts the stall window afresh.
    pub fn set_busy(&self, which: DispatchLoop, busy: bool, now: Millis) {
        let beat = self.beat(which);
        if busy && !beat.busy.swap(true, Ordering::Relaxed) {
            beat.last_progress.store(now, Ordering::Relaxed);
        } else if !busy {
            beat.busy.store(false, Ordering::Relaxed);
        }
    }

    /// Whether the loop is `ok` at `now`.
    pub fn is_ok(&self, which: DispatchLoop, now: Millis) -> bool {
        let beat = self.beat(which);
        !beat.busy.load(Ordering::Relaxed)
            || now - beat.last_progress.load(Ordering::Relaxed) <= self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_800_000_000_000;

    #[test]
    fn a_loop_without_progress_for_the_window_is_stalled() {
        let health = LoopHealth::new(Duration::from_millis(100), T0);
        assert!(
            DispatchLoop::ALL
                .iter()
                .all(|l| health.is_ok(*l, T0 + 5_000))
        );
        assert!(
            !health.is_ok(DispatchLoop::Batcher, T0 + 5_001),
            "5 s window"
        );
        health.progressed(DispatchLoop::Batcher, T0 + 5_000);
        assert!(health.is_ok(DispatchLoop::Batcher, T0 + 9_000));
        let slow_ticks = LoopHealth::new(Duration::from_secs(4), T0);
        assert!(
            slow_ticks.is_ok(DispatchLoop::Claimer, T0 + 12_000),
            "three ticks when they are longer"
        );
        assert!(!slow_ticks.is_ok(DispatchLoop::Claimer, T0 + 12_001));
    }

    #[test]
    fn the_recorder_is_ok_while_idle_and_stalls_on_work_it_cannot_write() {
        let health = LoopHealth::new(Duration::from_millis(100), T0);
        let recorder = DispatchLoop::Recorder;
        assert!(health.is_ok(recorder, T0 + 60_000), "nothing to do");
        health.set_busy(recorder, true, T0 + 60_000);
        assert!(health.is_ok(recorder, T0 + 65_000));
        assert!(
            !health.is_ok(recorder, T0 + 65_001),
            "outcomes wait unwritten"
        );
        health.progressed(recorder, T0 + 66_000);
        health.set_busy(recorder, false, T0 + 66_000);
        assert!(health.is_ok(recorder, T0 + 99_000));
    }
}
