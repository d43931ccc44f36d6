//! End to end: retention on a real `hookit serve` with millisecond settings. The
//! background pruner removes an acknowledged delivery and its order (both then answer
//! 404 `resource_not_found`, to the operator and to the partner) while a pending
//! delivery and its order stay; `hookit prune --dry-run` counts without removing, and
//! `hookit prune` removes and is audited.

mod harness;

use harness::partner_client::{self, Creds};
use harness::receiver::{Behaviour, Receiver};
use harness::{OPERATOR_TOKEN, Serve, eventually_async, fast_env, order};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

const CREATED: &str = "klikit.order.created.v2";
const WAIT: Duration = Duration::from_secs(20);

/// `fast_env` with a retry schedule long enough that a failing delivery stays
/// pending for the whole test, and the given retention settings.
fn env(retention: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = fast_env();
    env.retain(|(name, _)| *name != "HOOKIT_RETRY_SCHEDULE");
    env.push(("HOOKIT_RETRY_SCHEDULE", "1h".into()));
    env.extend(retention.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

/// A partner mapped for brand 1, `branch`, to `url`.
async fn mapped_partner(serve: &Serve, name: &str, branch: i64, url: &str) -> Creds {
    let creds = partner_client::onboard(serve, name).await;
    serve.map(&creds.id, 1, Some(branch), CREATED, url).await;
    creds
}

async fn delivery_status(serve: &Serve, event_id: &str) -> (u16, Value) {
    serve
        .operator(Method::GET, &format!("/deliveries/{event_id}"), None)
        .await
}

async fn partner_order(serve: &Serve, creds: &Creds, id: i64) -> (u16, Value) {
    partner_client::call(
        serve,
        creds,
        Method::GET,
        &format!("/orders/{id}"),
        None,
        None,
    )
    .await
}

/// The value of `hookit_pruned_total{kind="…"}`, 0 while absent.
fn pruned_total(metrics: &str, kind: &str) -> u64 {
    let prefix = format!("hookit_pruned_total{{kind=\"{kind}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

#[tokio::test]
async fn the_background_pruner_removes_what_is_past_its_time_and_keeps_pending_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start().await;
    receiver.set("/down", Behaviour::FailAll);
    let serve = Serve::start(
        dir.path(),
        &env(&[
            ("HOOKIT_RETAIN_DELIVERED", "300ms"),
            ("HOOKIT_RETAIN_DEAD", "300ms"),
            ("HOOKIT_RETAIN_ORDERS", "300ms"),
            ("HOOKIT_RETAIN_IDEMPOTENCY_KEYS", "300ms"),
            ("HOOKIT_PRUNE_INTERVAL", "50ms"),
        ]),
    );
    let up = mapped_partner(&serve, "Up", 10, &receiver.url("/up")).await;
    let down = mapped_partner(&serve, "Down", 20, &receiver.url("/down")).await;
    assert_eq!(serve.ingest(CREATED, order(1, 1, 10, 1)).await.0, 202);
    assert_eq!(serve.ingest(CREATED, order(2, 1, 20, 1)).await.0, 202);

    let delivered = receiver.wait_for("/up", 1, WAIT).await[0]
        .event_id()
        .to_owned();
    let failing = receiver.wait_for("/down", 1, WAIT).await[0]
        .event_id()
        .to_owned();

    let gone = eventually_async(WAIT, || async {
        let (status, body) = delivery_status(&serve, &delivered).await;
        (status == 404).then_some(body)
    })
    .await;
    assert_eq!(gone["error"]["code"], "resource_not_found", "{gone}");
    let order_gone = eventually_async(WAIT, || async {
        let (status, body) = partner_order(&serve, &up, 1).await;
        (status == 404).then_some(body)
    })
    .await;
    assert_eq!(order_gone["error"]["code"], "resource_not_found");
    let (status, body) = partner_client::call(
        &serve,
        &up,
        Method::GET,
        &format!("/deliveries/{delivered}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("resource_not_found")),
        "{body}"
    );

    // The pending delivery has been past every retention many times over by now, and
    // stays, with its order.
    let (status, pending) = delivery_status(&serve, &failing).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["data"]["state"], "pending");
    assert_eq!(partner_order(&serve, &down, 2).await.0, 200);

    let metrics = serve.metrics_text().await;
    assert_eq!(pruned_total(&metrics, "delivered"), 1, "{metrics}");
    assert_eq!(pruned_total(&metrics, "orders"), 1, "{metrics}");
    assert_eq!(pruned_total(&metrics, "dead"), 0);
    assert!(
        serve
            .log_text()
            .contains("pruned what was past its retention"),
        "a run that removed something is logged"
    );
}

#[tokio::test]
async fn hookit_prune_dry_run_counts_and_prune_removes_and_is_audited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start().await;
    // The background pruner runs once at start, then not again within the test.
    let serve = Serve::start(
        dir.path(),
        &env(&[
            ("HOOKIT_RETAIN_DELIVERED", "1ms"),
            ("HOOKIT_RETAIN_ORDERS", "1ms"),
            ("HOOKIT_PRUNE_INTERVAL", "1d"),
        ]),
    );
    let up = mapped_partner(&serve, "Up", 10, &receiver.url("/up")).await;
    assert_eq!(serve.ingest(CREATED, order(1, 1, 10, 1)).await.0, 202);
    let event_id = receiver.wait_for("/up", 1, WAIT).await[0]
        .event_id()
        .to_owned();
    serve
        .wait_delivery(&event_id, WAIT, |d| d["state"] == "delivered")
        .await;

    let dry = hookit(&serve, &["prune", "--dry-run"]).await;
    assert!(dry.contains("dry run, nothing removed"), "{dry}");
    assert!(count_line(&dry, "delivered deliveries") == 1, "{dry}");
    assert!(count_line(&dry, "orders") == 1, "{dry}");
    assert_eq!(
        delivery_status(&serve, &event_id).await.0,
        200,
        "a dry run removes nothing"
    );
    assert_eq!(partner_order(&serve, &up, 1).await.0, 200);

    let json = hookit(&serve, &["prune", "--dry-run", "--json"]).await;
    let json: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["data"]["dry_run"], true);
    assert_eq!(json["data"]["counts"]["delivered"], 1);

    let real = hookit(&serve, &["prune"]).await;
    assert!(real.contains("Removed past its retention"), "{real}");
    assert_eq!(count_line(&real, "delivered deliveries"), 1, "{real}");
    assert_eq!(delivery_status(&serve, &event_id).await.0, 404);
    assert_eq!(partner_order(&serve, &up, 1).await.0, 404);
    let again = hookit(&serve, &["prune", "--dry-run"]).await;
    assert_eq!(count_line(&again, "delivered deliveries"), 0, "{again}");

    let (status, audit) = serve
        .operator(Method::GET, "/audit?action=retention.pruned", None)
        .await;
    assert_eq!(status, 200);
    let entries = audit["data"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "only the real prune is audited: {audit}");
    assert_eq!(entries[0]["details"]["delivered"], 1);
    assert_eq!(entries[0]["actor"], "root");

    let (status, refused) = serve
        .operator(
            Method::POST,
            "/prune",
            Some(serde_json::json!({"dry": true})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["code"], "request_invalid");
}

/// The number on the line of `hookit prune`'s output that names `what`.
fn count_line(output: &str, what: &str) -> u64 {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix(what))
        .unwrap_or_else(|| panic!("no {what} line in {output}"))
        .trim()
        .parse()
        .expect("a count")
}

/// Runs `hookit <args>` against `serve`; asserts success and returns stdout.
async fn hookit(serve: &Serve, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOKIT_SERVER", &serve.base)
        .env("HOOKIT_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run hookit");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "hookit {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn hookit_db_vacuum_turns_incremental_auto_vacuum_on_for_an_older_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookit.db");
    {
        // As an earlier hookit left it: WAL, no auto-vacuum, free pages after deletes.
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT randomblob(2000) FROM n;
             DELETE FROM t;",
        )
        .expect("fill");
    }
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(["db", "vacuum", "--database"])
        .arg(&path)
        .env_clear()
        .output()
        .await
        .expect("run hookit");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("incremental auto-vacuum on"), "{stdout}");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let (mode, free): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT auto_vacuum FROM pragma_auto_vacuum), \
                    (SELECT freelist_count FROM pragma_freelist_count)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("pragmas");
    assert_eq!(
        (mode, free),
        (2, 0),
        "incremental, and the free pages are gone"
    );
}
