//! `hookit bench` works end to end at toy sizes and its `--json` output has the
//! fields BENCHMARKS.md and scripts rely on. Speed is never asserted here: these runs
//! are far too small (and usually a debug build) to mean anything.

use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookit"))
        .arg("bench")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run hookit bench")
}

#[test]
fn every_scenario_runs_at_toy_size_and_reports_its_fields() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = bench(
        &[
            "--json",
            "--orders=400",
            "--fanout-orders=150",
            "--partners=3",
            "--fanout-branches=5",
            "--duration-s=1",
            "--rate=200",
            "--backlog=1000",
            "--backlog-branches=5",
            "--changes=300",
            "--connections=8",
            "--stall-s=20",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("stdout is not one JSON object ({err}):\n{stdout}"));
    assert_eq!(report["database"], "sqlite");
    assert!(report["machine"]["cpus"].as_u64().is_some_and(|n| n >= 1));
    let scenarios = &report["scenarios"];
    let expect = [
        (
            "batched",
            &[
                "orders_per_s",
                "deliveries_per_s",
                "duration_s",
                "deliveries",
            ][..],
        ),
        (
            "fanout",
            &["deliveries_per_s", "orders_per_s", "orders_per_delivery"][..],
        ),
        (
            "latency",
            &[
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "first_attempt_p99_ms",
                "first_attempt_target_ms",
            ][..],
        ),
        (
            "backlog",
            &[
                "peak_rss_mib",
                "rss_at_backlog_mib",
                "drain_s",
                "pending_events",
            ][..],
        ),
        ("single", SINGLE_FIELDS),
    ];
    for (name, fields) in expect {
        let scenario = &scenarios[name];
        assert_eq!(scenario["ok"], true, "{name}: {scenario}");
        for field in fields {
            assert!(
                scenario[*field].is_number(),
                "{name}.{field} missing: {scenario}"
            );
        }
        // Nothing lost: every pushed change came back exactly once.
        assert_eq!(
            scenario["order_records_delivered"], scenario["order_changes"],
            "{name}: {scenario}"
        );
    }
    assert_eq!(scenarios["fanout"]["orders_per_delivery"], 1.0);
    // single: one order per delivery, every one of them made by the server.
    assert_eq!(scenarios["single"]["deliveries"], 300);
    assert_eq!(scenarios["backlog"]["pending_events"], 1000);
    assert!(
        scenarios["backlog"]["attempts_refused_while_down"]
            .as_u64()
            .is_some(),
        "{}",
        scenarios["backlog"]
    );
    // The backlog shows its progress on stderr.
    assert!(stderr.contains("backlog: "), "{stderr}");
}

/// The figures `single` reports (BENCHMARKS.md documents them).
const SINGLE_FIELDS: &[&str] = &[
    "changes_per_s",
    "request_p50_ms",
    "request_p99_ms",
    "deliveries_per_s",
    "orders_per_s",
    "deliveries_during_ingest_per_s",
    "lag_s",
    "ingest_to_ack_p50_ms",
    "ingest_to_ack_p99_ms",
    "server_cpu_s",
    "cpu_us_per_change",
    "cpu_us_per_delivery",
];

#[test]
fn single_in_its_batched_mode_runs_at_toy_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = bench(
        &[
            "--json",
            "--scenario=single",
            "--batched",
            "--changes=200",
            "--connections=4",
            "--stall-s=20",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let scenario = &report["scenarios"]["single_batched"];
    assert_eq!(scenario["ok"], true, "{scenario}");
    for field in SINGLE_FIELDS {
        assert!(scenario[*field].is_number(), "{field} missing: {scenario}");
    }
    assert_eq!(scenario["order_records_delivered"], 200, "{scenario}");
    assert_eq!(scenario["connections"], 4, "{scenario}");
}

#[test]
fn latency_with_a_background_load_measures_only_its_own_partner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = bench(
        &[
            "--json",
            "--scenario=latency",
            "--duration-s=0.5",
            "--rate=200",
            "--background-rate=300",
            "--connections=4",
            "--stall-s=20",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let scenario = &report["scenarios"]["latency"];
    assert_eq!(scenario["ok"], true, "{scenario}");
    // 100 measured orders (200/s for 0.5 s) and 150 background ones (2 : 3), all
    // delivered, but only the measured ones sampled.
    assert_eq!(scenario["samples"], 100, "{scenario}");
    assert_eq!(scenario["background_changes"], 150, "{scenario}");
    assert_eq!(scenario["order_records_delivered"], 250, "{scenario}");
    assert!(
        scenario["background_achieved_per_s"].is_number(),
        "{scenario}"
    );
}

#[test]
fn a_single_scenario_prints_a_table_and_a_bad_database_url_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = bench(
        &["--scenario=batched", "--orders=100", "--branches=2"],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("orders_per_s") && stdout.contains("20,000"),
        "{stdout}"
    );
    assert!(!stdout.contains("fanout"), "{stdout}");

    let output = bench(
        &["--scenario=batched", "--database-url=ftp://nowhere"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--database-url"), "{stderr}");
}

#[test]
fn the_server_under_test_runs_without_its_console_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |console: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_hookit"))
            .args([
                "bench",
                "--json",
                "--scenario=single",
                "--changes=100",
                "--connections=2",
                "--stall-s=20",
                "--data-dir",
            ])
            .arg(dir.path())
            .env("HOOKIT_CONSOLE", console)
            .output()
            .expect("run hookit bench");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "bench failed\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
        report["scenarios"]["single"].clone()
    };
    // `HOOKIT_CONSOLE` reaches the `hookit serve` child, whose figures say which it was.
    for (setting, served) in [("off", false), ("on", true)] {
        let scenario = run(setting);
        assert_eq!(scenario["ok"], true, "{scenario}");
        assert_eq!(scenario["server"]["console"], served, "{scenario}");
        assert_eq!(scenario["order_records_delivered"], 100, "{scenario}");
    }
}

#[test]
fn the_soak_scenario_prunes_as_it_goes_and_samples_size_and_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = bench(
        &[
            "--json",
            "--scenario=soak",
            "--duration=4s",
            "--retention=500ms",
            "--sample-every=250ms",
            "--rate=100",
            "--stall-s=20",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let soak = &report["scenarios"]["soak"];
    assert_eq!(soak["problems"], serde_json::json!([]), "{soak}");
    assert_eq!(soak["order_records_delivered"], 400);
    assert_eq!(
        soak["prune_interval_ms"], 100,
        "a twelfth of the retention, at least 100ms"
    );
    let samples = soak["samples"].as_array().expect("samples");
    assert!(samples.len() >= 8, "{samples:?}");
    assert!(
        samples
            .iter()
            .all(|s| s["database_mib"].as_f64().is_some_and(|mib| mib > 0.0)),
        "{samples:?}"
    );
    assert!(
        soak["first_attempt_while_pruning_samples"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
}
