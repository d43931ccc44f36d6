//! `hookit demo` and `hookit bench` on PostgreSQL: each runs in a schema of its own and
//! drops it at the end, and both refuse a database that already holds partners.
//!
//! Needs `HOOKIT_TEST_DATABASE_URL`; without it the test says so and skips.

mod harness;

use harness::postgres::TestDatabase;
use harness::{Serve, fast_env};
use sqlx::Connection as _;
use std::process::{Command, Output};

fn hookit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(args)
        .env_remove("HOOKIT_DATABASE_URL")
        .output()
        .expect("run hookit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The schemas of the database whose names start with `hookit_`.
async fn hookit_schemas(url: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let names = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata \
         WHERE schema_name LIKE 'hookit\\_%' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list schemas");
    let _ = conn.close().await;
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_and_bench_use_a_schema_of_their_own_and_refuse_a_database_in_use() {
    let Some(database) = TestDatabase::create("benchdemo").await else {
        return;
    };
    let url = database.url.clone();

    let demo = hookit(&["demo", "--database-url", &url, "--orders", "40"]);
    assert!(
        demo.status.success(),
        "demo failed:\n{}",
        text(&demo.stderr)
    );
    let bench = hookit(&[
        "bench",
        "--database-url",
        &url,
        "--scenario",
        "batched",
        "--orders",
        "400",
        "--json",
    ]);
    assert!(
        bench.status.success(),
        "bench failed:\n{}",
        text(&bench.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).expect("JSON report");
    assert_eq!(report["database"], "postgres");
    assert_eq!(
        hookit_schemas(&url).await,
        Vec::<String>::new(),
        "demo and bench leave no schema behind"
    );

    // A served database with a partner in it is refused by both.
    let dir = tempfile::tempdir().expect("dir");
    let mut env = fast_env();
    env.push(("HOOKIT_DATABASE_URL", url.clone()));
    env.push(("HOOKIT_MASTER_KEY", "cd".repeat(32)));
    let serve = Serve::start(dir.path(), &env);
    serve.create_partner("real partner").await;
    for args in [
        vec!["demo", "--database-url", &url, "--orders", "10"],
        vec![
            "bench",
            "--database-url",
            &url,
            "--scenario",
            "batched",
            "--orders",
            "100",
        ],
    ] {
        let refused = hookit(&args);
        let stderr = text(&refused.stderr);
        assert!(
            !refused.status.success(),
            "{} ran beside a partner",
            args[0]
        );
        assert!(
            stderr.contains("already holds hookit partners") && stderr.contains("public"),
            "{}: {stderr}",
            args[0]
        );
    }
    drop(serve);
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_two_serving_processes_on_one_database_and_refuses_them_on_sqlite() {
    let sqlite = hookit(&[
        "bench",
        "--scenario",
        "batched",
        "--orders",
        "10",
        "--processes",
        "2",
    ]);
    assert!(!sqlite.status.success(), "two processes ran on SQLite");
    assert!(
        text(&sqlite.stderr).contains("--processes above 1 needs a shared database"),
        "{}",
        text(&sqlite.stderr)
    );

    let Some(database) = TestDatabase::create("benchtwo").await else {
        return;
    };
    let url = database.url.clone();
    let bench = hookit(&[
        "bench",
        "--database-url",
        &url,
        "--scenario",
        "batched,fanout",
        "--orders",
        "400",
        "--fanout-orders",
        "200",
        "--processes",
        "2",
        "--json",
    ]);
    assert!(
        bench.status.success(),
        "bench failed:\n{}",
        text(&bench.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).expect("JSON report");
    for scenario in ["batched", "fanout"] {
        let result = &report["scenarios"][scenario];
        assert_eq!(result["server_processes"], 2, "{result}");
        assert_eq!(result["problems"], serde_json::json!([]), "{result}");
        let database_cpu = result["database_cpu_s"].as_f64();
        assert!(
            database_cpu.is_some_and(|s| s > 0.0),
            "the database's CPU is read from its backends: {result}"
        );
    }
    assert_eq!(hookit_schemas(&url).await, Vec::<String>::new());
    database.drop_now().await;
}
