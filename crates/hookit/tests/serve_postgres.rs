//! `hookit serve` on PostgreSQL refuses to start when the processes sharing a database
//! could not share its secrets: without the master key and both tokens given, or with
//! a master key other than the one the database was set up with.
//!
//! The master-key test needs `HOOKIT_TEST_DATABASE_URL`; without it, it says so and skips.

mod harness;

use harness::postgres::TestDatabase;
use harness::{Serve, fast_env};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Runs `hookit serve` with exactly `env` and expects it to exit on its own; returns
/// whether it succeeded and its stderr.
fn serve_until_exit(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookit"));
    command
        .arg("serve")
        .env_clear()
        .env("HOOKIT_DATA_DIR", dir.path())
        .env("HOOKIT_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn hookit serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hookit serve kept running although it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn assert_ready(serve: &Serve) {
    let (status, body) = serve
        .call(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(status, 200, "{body}\n{}", serve.log_text());
}

#[test]
fn postgres_without_the_shared_secrets_refuses_to_start() {
    // The configuration is refused before any connection is tried.
    let (ok, stderr) = serve_until_exit(&[
        (
            "HOOKIT_DATABASE_URL",
            "postgres://hookit:hunter2@127.0.0.1:1/hookit",
        ),
        ("HOOKIT_OPERATOR_TOKEN", "hkop_x"),
    ]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("HOOKIT_MASTER_KEY") && stderr.contains("HOOKIT_INGEST_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_key_other_than_the_databases_is_refused() {
    let Some(database) = TestDatabase::create("masterkey").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_DATABASE_URL", database.url.clone()));
    let with_key = |key: &str| {
        let mut env = env.clone();
        env.push(("HOOKIT_MASTER_KEY", key.to_owned()));
        env
    };
    // The first process stores the key's check value.
    let first = Serve::start(dir.path(), &with_key(KEY_A));
    assert_ready(&first).await;
    first.kill();

    let (ok, stderr) = serve_until_exit(&[
        ("HOOKIT_DATABASE_URL", &database.url),
        ("HOOKIT_MASTER_KEY", KEY_B),
        ("HOOKIT_OPERATOR_TOKEN", harness::OPERATOR_TOKEN),
        ("HOOKIT_INGEST_TOKEN", harness::INGEST_TOKEN),
    ]);
    assert!(!ok, "started with another master key: {stderr}");
    assert!(
        stderr.contains("HOOKIT_MASTER_KEY is not the key"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(KEY_B) && !stderr.contains(KEY_A),
        "{stderr}"
    );

    // The right key still starts.
    let again = Serve::start(dir.path(), &with_key(KEY_A));
    assert_ready(&again).await;
    again.kill();
    database.drop_now().await;
}
