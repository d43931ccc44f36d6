//! Failover: three real `hookit serve` processes share one PostgreSQL database; ingest
//! is spread across all three, and one is killed with `kill -9` while thousands of
//! changes are in flight. Every acknowledged change must still be delivered, duplicates
//! may only repeat an event id, no order may go out of sequence, and the deliveries the
//! dead process had claimed must be re-claimed and settled by the survivors once their
//! leases expire.
//!
//! Needs `HOOKIT_TEST_DATABASE_URL`; without it the test says so and skips.

mod harness;

use harness::postgres::TestDatabase;
use harness::receiver::{Behaviour, Receiver};
use harness::{Serve, fast_env};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CREATED: &str = "klikit.order.created.v2";
const UPDATED: &str = "klikit.order.status.updated";
const MASTER_KEY: &str = "4f1c0d5e9a7b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d";
/// Orders pushed before and after the kill (two changes each).
const ORDERS_BEFORE: i64 = 1200;
const ORDERS_AFTER: i64 = 1200;
/// Orders whose first attempt the receiver never answers, so that each process holds
/// some of them, claimed and in flight, when one process is killed.
const HELD_ORDERS: i64 = 45;
const HELD_BRAND: i64 = 2;
const LEASE: Duration = Duration::from_millis(2500);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
const TICK: Duration = Duration::from_millis(20);

fn serve_env(database_url: &str) -> Vec<(&'static str, String)> {
    let mut env = fast_env();
    env.retain(|(name, _)| {
        !matches!(
            *name,
            "HOOKIT_ATTEMPT_TIMEOUT" | "HOOKIT_CLAIM_LEASE" | "HOOKIT_TICK"
        )
    });
    env.extend([
        ("HOOKIT_DATABASE_URL", database_url.to_owned()),
        ("HOOKIT_MASTER_KEY", MASTER_KEY.to_owned()),
        ("HOOKIT_ATTEMPT_TIMEOUT", "1500ms".to_owned()),
        ("HOOKIT_CLAIM_LEASE", "2500ms".to_owned()),
        ("HOOKIT_TICK", "20ms".to_owned()),
        ("HOOKIT_DATABASE_POOL_SIZE", "8".to_owned()),
    ]);
    env
}

/// Pushes `order`'s `event` to the process `first`, moving on to the next live one
/// when a process cannot be reached; returns whether some process acknowledged it.
async fn push(
    serves: &[Arc<Serve>],
    alive: &[bool],
    first: usize,
    event: &str,
    order: Value,
) -> bool {
    for step in 0..serves.len() {
        let index = (first + step) % serves.len();
        if !alive[index] {
            continue;
        }
        let client = reqwest::Client::new();
        let sent = client
            .post(format!("{}/v1/ingest/orders", serves[index].base))
            .bearer_auth(harness::INGEST_TOKEN)
            .json(&serde_json::json!({ "event": event, "order": order }))
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        if let Ok(response) = sent {
            if response.status().as_u16() == 202 {
                return true;
            }
        }
    }
    false
}

/// Pushes orders `ids` (created, then a status change, one order at a time per task)
/// over the processes, and returns the acknowledged (order id, event type) pairs.
async fn push_orders(
    serves: Vec<Arc<Serve>>,
    alive: Vec<bool>,
    brand: i64,
    ids: std::ops::Range<i64>,
) -> Vec<(i64, &'static str)> {
    let ids: Vec<i64> = ids.collect();
    let mut tasks = Vec::new();
    for chunk in ids.chunks(ids.len().div_ceil(24).max(1)) {
        let chunk = chunk.to_vec();
        let serves = serves.clone();
        let alive = alive.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for id in chunk {
                let first = usize::try_from(id).unwrap_or(0) % serves.len();
                let created = harness::order(id, brand, id % 40, 1);
                if !push(&serves, &alive, first, CREATED, created).await {
                    continue;
                }
                acked.push((id, CREATED));
                let updated = harness::order(id, brand, id % 40, 2);
                if push(&serves, &alive, first + 1, UPDATED, updated).await {
                    acked.push((id, UPDATED));
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.expect("push task"));
    }
    acked
}

/// Event ids each (order id, version) was delivered under.
type EventIds = HashMap<(i64, i64), HashSet<String>>;
/// (order id, event type) pairs delivered.
type Seen = HashSet<(i64, String)>;

/// (order id, version) → event ids, and (order id, event type) seen, over answered
/// (2xx) requests.
fn delivered(receiver: &Receiver) -> (EventIds, Seen) {
    let mut events = HashMap::new();
    let mut seen = HashSet::new();
    for request in receiver.received() {
        if request.answered != 200 {
            continue;
        }
        let event_type = request.header("x-klikit-event-type").to_owned();
        for order in request.json()["orders"].as_array().expect("orders") {
            let id = order["id"].as_i64().expect("id");
            let version = order["version"].as_i64().expect("version");
            events
                .entry((id, version))
                .or_insert_with(HashSet::new)
                .insert(request.event_id().to_owned());
            seen.insert((id, event_type.clone()));
        }
    }
    (events, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_of_three_processes_loses_and_reorders_nothing() {
    let Some(database) = TestDatabase::create("failover").await else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let env = serve_env(&database.url);
    // All three start at once: migrations must be safe to run concurrently.
    let starting: Vec<_> = dirs
        .iter()
        .map(|dir| {
            let (path, env) = (dir.path().to_owned(), env.clone());
            std::thread::spawn(move || Serve::start(&path, &env))
        })
        .collect();
    let serves: Vec<Arc<Serve>> = starting
        .into_iter()
        .map(|start| Arc::new(start.join().expect("start thread")))
        .collect();

    let receiver = Receiver::start().await;
    receiver.set("/held", Behaviour::HangFirst(1));
    let (partner, _, _) = serves[0].create_partner("failover").await;
    for event in [CREATED, UPDATED] {
        serves[1]
            .map(&partner, 1, None, event, &receiver.url("/orders"))
            .await;
    }
    serves[2]
        .map(&partner, HELD_BRAND, None, CREATED, &receiver.url("/held"))
        .await;

    let mut acked = push_orders(serves.clone(), vec![true; 3], 1, 1..ORDERS_BEFORE + 1).await;

    // Held orders go to the process about to be killed while the other two are
    // stopped (SIGSTOP), so it alone forms and claims them: once one of their first
    // attempts hangs at the receiver, that process holds deliveries in flight.
    signal(&serves[0], "STOP");
    signal(&serves[1], "STOP");
    let held_ids = 1_000_000..1_000_000 + HELD_ORDERS;
    let held_acked = push_orders(
        serves.clone(),
        vec![false, false, true],
        HELD_BRAND,
        held_ids.clone(),
    )
    .await;
    let held_created: Vec<i64> = held_acked
        .iter()
        .filter(|(_, event)| *event == CREATED)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        held_created.len(),
        usize::try_from(HELD_ORDERS).unwrap_or(0)
    );
    receiver.wait_for("/held", 1, Duration::from_secs(60)).await;

    // Kill one process while the second wave is being pushed.
    let after = ORDERS_BEFORE + 1..ORDERS_BEFORE + ORDERS_AFTER + 1;
    let wave = tokio::spawn(push_orders(
        serves.clone(),
        vec![true, true, false],
        1,
        after,
    ));
    let killed_at = Instant::now();
    kill_hard(&serves[2]);
    signal(&serves[0], "CONT");
    signal(&serves[1], "CONT");
    // From now on /held answers at once, so the orphans are delivered as soon as the
    // survivors take them over.
    receiver.set("/held", Behaviour::Ok);
    acked.extend(wave.await.expect("second wave"));

    // Everything acknowledged arrives.
    let expected: HashSet<(i64, String)> = acked
        .iter()
        .map(|(id, event)| (*id, (*event).to_owned()))
        .collect();
    harness::eventually(
        Duration::from_secs(180),
        "every acknowledged change delivered",
        || {
            let (_, seen) = delivered(&receiver);
            expected.is_subset(&seen).then_some(())
        },
    )
    .await;

    // The held deliveries the dead process had in flight: re-claimed after their
    // lease and settled within lease + attempt timeout + a tick of the kill. The killed
    // process alone was running when they were formed, so it held every one.
    let bound = LEASE + ATTEMPT_TIMEOUT + TICK + Duration::from_secs(2);
    let mut orphaned = 0;
    let held = receiver.on("/held");
    for hung in held.iter().filter(|r| r.answered == 0) {
        let event_id = hung.event_id();
        let delivery = serves[0]
            .wait_delivery(event_id, Duration::from_secs(30), |d| {
                d["state"] == "delivered"
            })
            .await;
        // A survivor's hung attempt timed out and was recorded; the dead process's
        // never was, so its delivery shows only the successful attempt.
        if delivery["attempts"].as_array().map_or(0, Vec::len) != 1 {
            continue;
        }
        orphaned += 1;
        let settled = held
            .iter()
            .find(|r| r.event_id() == event_id && r.answered == 200)
            .expect("the delivered attempt reached the receiver");
        let took = settled.at.saturating_duration_since(killed_at);
        assert!(
            took <= bound,
            "{event_id} settled {took:?} after the kill, beyond lease + attempt timeout + tick"
        );
    }
    assert!(
        orphaned > 0,
        "the killed process held none of the held deliveries"
    );

    // Duplicates only under one event id; first sightings of an order's versions ascend.
    let (events, _) = delivered(&receiver);
    for ((id, version), ids) in &events {
        assert_eq!(
            ids.len(),
            1,
            "order {id} v{version} under several event ids: {ids:?}"
        );
    }
    let mut highest: HashMap<i64, i64> = HashMap::new();
    let mut first_seen: HashSet<(i64, i64)> = HashSet::new();
    for request in receiver.received().iter().filter(|r| r.path == "/orders") {
        for order in request.json()["orders"].as_array().expect("orders") {
            let (id, version) = (
                order["id"].as_i64().expect("id"),
                order["version"].as_i64().expect("v"),
            );
            if first_seen.insert((id, version)) {
                let last = highest.entry(id).or_insert(0);
                assert!(
                    version > *last,
                    "order {id}: v{version} first seen after v{last}"
                );
                *last = version;
            }
        }
    }
    drop(serves);
    database.drop_now().await;
}

/// Sends `SIG{name}` to a serving process (`STOP` and `CONT` pause and resume it).
fn signal(serve: &Serve, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), serve.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

/// `kill -9` of a process the test still holds other handles to.
fn kill_hard(serve: &Serve) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &serve.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}
