//! Trouble made on purpose while the stream runs, and the operator's answer to it:
//! the down branch's POS goes offline for a while; the pop-up's delivery goes dead,
//! its order's later changes go on without it, and it is noticed through the operator
//! API, fixed and replayed; and the partner's webhook secret is rotated mid-stream.

use super::client::Client;
use super::plan::{FIRST_ORDER_ID, POPUP_LATER_CHANGES};
use super::receiver::ReceiverState;
use super::topology::{DOWN_BRANCH, POPUP_BRANCH};
use crate::credentials::Secret;
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

/// Rotates the partner's webhook secret `after` the stream starts, as an operator
/// would; the receiver accepts the old and the new secret around the switch. Returns
/// an error text if the operator API refused.
pub fn rotate_webhook_secret(
    client: Client,
    partner_id: String,
    receiver: Arc<ReceiverState>,
    narrator: Narrator,
    after: Duration,
) -> tokio::task::JoinHandle<Option<String>> {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let path = format!("/v1/operator/partners/{partner_id}/webhook-secret/rotate");
        narrator.say(&format!(
            "🔑 the operator rotates the partner's webhook secret: POST {path}"
        ));
        receiver.rotating.store(true, Ordering::SeqCst);
        let rotated = client.operator(reqwest::Method::POST, &path, None).await;
        let outcome = match rotated {
            Ok(data) => match data["webhook_secret_key"].as_str() {
                Some(secret) => {
                    receiver.add_secret(Secret::new(secret));
                    narrator.say(
                        "  the partner's receiver now accepts the new secret and, for a while, the old",
                    );
                    None
                }
                None => Some(format!("{path} answered without webhook_secret_key")),
            },
            Err(err) => Some(err.to_string()),
        };
        receiver.rotating.store(false, Ordering::SeqCst);
        outcome
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
                    await_later_changes(&receiver, &narrator).await;
                    receiver.popup_fixed.store(true, Ordering::Relaxed);
                    narrator.say("  the operator fixes the pop-up's misconfigured endpoint");
                }
                receiver.note_replayed_dead(&event_id);
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

/// Waits (a bounded while) until the pop-up order's later changes, held back while its
/// `created` delivery was being retried, reached the receiver once it went dead.
async fn await_later_changes(receiver: &ReceiverState, narrator: &Narrator) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let versions: Vec<i64> = receiver
            .books()
            .sequences
            .get(&FIRST_ORDER_ID)
            .map(|seen| seen.iter().map(|(version, _)| *version).collect())
            .unwrap_or_default();
        if versions.len() >= POPUP_LATER_CHANGES || Instant::now() >= deadline {
            let listed = versions
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            narrator.say(&format!(
                "  order {FIRST_ORDER_ID}'s later changes went on without it (versions {listed}); \
                 the replay brings its first version after them, and the partner drops it as older"
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
