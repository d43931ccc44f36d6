//! Trouble made on purpose while the stream runs, and the operator's answer to it:
//! the down branch's POS goes offline for a while, and the pop-up's delivery goes
//! dead, is noticed through the operator API, fixed and replayed.

use super::client::Client;
use super::receiver::ReceiverState;
use super::topology::{DOWN_BRANCH, POPUP_BRANCH};
use indicatif::MultiProgress;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Prints timestamped lines of what happens, above the progress bars.
#[derive(Clone)]
pub struct Narrator {
    bars: MultiProgress,
    started: Instant,
}

impl Narrator {
    pub fn new(bars: MultiProgress) -> Narrator {
        Narrator {
            bars,
            started: Instant::now(),
        }
    }

    /// One line on stdout, stamped with the seconds since the stream started.
    pub fn say(&self, text: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.bars.suspend(|| println!("  {elapsed:5.1}s  {text}"));
    }
}

/// Takes the down branch's POS offline after `after`, for `length`.
pub fn outage(
    receiver: Arc<ReceiverState>,
    narrator: Narrator,
    after: Duration,
    length: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        receiver.branch_down.store(true, Ordering::Relaxed);
        narrator.say(&format!(
            "⚠ branch {DOWN_BRANCH}'s POS goes offline: 503 + Retry-After: 1 for {:.0} s; its deliveries back up",
            length.as_secs_f64()
        ));
        tokio::time::sleep(length).await;
        receiver.branch_down.store(false, Ordering::Relaxed);
        narrator.say(&format!(
            "✓ branch {DOWN_BRANCH}'s POS is back: its backlog catches up, each order in order"
        ));
    })
}

/// A dead delivery the operator replayed.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub event_id: String,
    pub attempts_before: u64,
}

/// What the watching operator did.
#[derive(Debug, Default)]
pub struct Watch {
    pub replayed: Vec<Replayed>,
    pub errors: Vec<String>,
}

/// Watches `GET /v1/operator/deliveries?state=dead` like an operator on call: each dead
/// delivery is reported, its endpoint fixed, and the delivery replayed.
pub fn watch_dead(
    client: Client,
    receiver: Arc<ReceiverState>,
    narrator: Narrator,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Watch>>) {
    let watch = Arc::new(Mutex::new(Watch::default()));
    let record = Arc::clone(&watch);
    let task = tokio::spawn(async move {
        let note = |update: &dyn Fn(&mut Watch)| {
            let mut watch = record.lock().unwrap_or_else(|p| p.into_inner());
            update(&mut watch);
        };
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let page = match client.deliveries("state=dead&limit=100").await {
                Ok(page) => page,
                Err(err) => {
                    note(&|w| w.errors.push(err.to_string()));
                    continue;
                }
            };
            for dead in page["deliveries"].as_array().into_iter().flatten() {
                let event_id = dead["event_id"].as_str().unwrap_or_default().to_owned();
                let attempts_before = dead["attempt_count"].as_u64().unwrap_or_default();
                let branch = dead["branch_id"].as_i64().unwrap_or_default();
                narrator.say(&format!(
                    "✗ delivery {event_id} to branch {branch} is dead: its endpoint failed all {attempts_before} attempts"
                ));
                if branch == POPUP_BRANCH {
                    receiver.popup_fixed.store(true, Ordering::Relaxed);
                    narrator.say("  the operator fixes the pop-up's misconfigured endpoint");
                }
                narrator.say(&format!(
                    "↻ and replays the delivery: POST /v1/operator/deliveries/{event_id}/replay"
                ));
                match client.replay(&event_id).await {
                    Ok(_) => note(&|w| {
                        w.replayed.push(Replayed {
                            event_id: event_id.clone(),
                            attempts_before,
                        })
                    }),
                    Err(err) => note(&|w| w.errors.push(err.to_string())),
                }
            }
        }
    });
    (task, watch)
}
