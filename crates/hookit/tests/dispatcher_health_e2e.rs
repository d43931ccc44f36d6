//! Readiness tells the truth about the dispatcher, and shutdown is bounded: a store
//! that refuses every write shows as a stalled recorder, and stops the process no
//! later than the attempt timeout plus a small bound.
//!
//! The store is made to refuse writes the way another process can do it to a real
//! SQLite file: by holding its write lock. Tests run as root, for whom file modes
//! change nothing; the lock makes every write of hookit fail (`database is locked`
//! after its busy timeout) while reads go on, as with a full disk.

mod harness;

use harness::receiver::{Behaviour, Receiver};
use harness::{Serve, fast_env, order};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The attempt timeout of `fast_env`.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Holds the database's write lock until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(serve: &Serve) -> WriteLock {
        let conn = rusqlite::Connection::open(serve.data_dir.join("hookit.db")).expect("open");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

/// A server with one partner mapped to a path of `receiver` that never answers, and
/// one attempt in flight to it.
async fn hanging_attempt(dir: &std::path::Path, receiver: &Receiver) -> Serve {
    let serve = Serve::start(dir, &fast_env());
    receiver.set("/hang", Behaviour::Hang);
    let (partner, _, _) = serve.create_partner("Hanging").await;
    serve
        .map(
            &partner,
            1,
            None,
            "klikit.order.created.v2",
            &receiver.url("/hang"),
        )
        .await;
    let (status, body) = serve
        .ingest("klikit.order.created.v2", order(1, 1, 1, 1))
        .await;
    assert_eq!(status, 202, "{body}");
    receiver.wait_for("/hang", 1, Duration::from_secs(10)).await;
    serve
}

async fn readyz(serve: &Serve) -> (u16, Value) {
    serve
        .call(reqwest::Method::GET, "/readyz", None, None)
        .await
}

#[tokio::test]
async fn readyz_reports_a_stalled_recorder_while_the_store_refuses_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start().await;
    let serve = hanging_attempt(dir.path(), &receiver).await;
    let (status, ready) = readyz(&serve).await;
    assert_eq!(status, 200, "{ready}");
    for name in ["batcher", "claimer", "recorder"] {
        assert_eq!(ready[name], "ok", "{ready}");
    }

    // The attempt times out within 2 s; its outcome cannot be written.
    let lock = WriteLock::take(&serve);
    let stalled = harness::eventually_async(Duration::from_secs(20), || async {
        let (status, ready) = readyz(&serve).await;
        (status == 503 && ready["recorder"] == "stalled").then_some(ready)
    })
    .await;
    assert_eq!(stalled["status"], "not_ready", "{stalled}");
    assert_eq!(stalled["store"], "ok", "reads still work: {stalled}");
    let metrics = serve.metrics_text().await;
    assert!(
        metrics.contains(r#"hookit_dispatcher_loop_ok{loop="recorder"} 0"#),
        "{metrics}"
    );

    // Once writes work again, the outcome is written and readiness recovers.
    drop(lock);
    let recovered = harness::eventually_async(Duration::from_secs(30), || async {
        let (status, ready) = readyz(&serve).await;
        (status == 200).then_some(ready)
    })
    .await;
    for name in ["batcher", "claimer", "recorder"] {
        assert_eq!(recovered[name], "ok", "{recovered}");
    }
    let metrics = serve.metrics_text().await;
    assert!(
        metrics.contains(r#"hookit_dispatcher_loop_ok{loop="recorder"} 1"#),
        "{metrics}"
    );
}

/// How much longer than the attempt timeout a stop may take: the recorder's second,
/// the runtime's second for a blocked store call, and process start-up slack.
const STOP_SLACK: Duration = Duration::from_secs(3);

#[tokio::test]
async fn shutdown_with_a_hanging_attempt_ends_within_the_attempt_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start().await;
    let serve = hanging_attempt(dir.path(), &receiver).await;
    let asked = Instant::now();
    let status = serve.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < ATTEMPT_TIMEOUT + STOP_SLACK,
        "stopping took {took:?} with one hanging attempt"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_even_when_outcomes_cannot_be_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start().await;
    let serve = hanging_attempt(dir.path(), &receiver).await;
    let _lock = WriteLock::take(&serve);
    let asked = Instant::now();
    let status = serve.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < ATTEMPT_TIMEOUT + STOP_SLACK,
        "stopping took {took:?} while the store refused writes"
    );
}
