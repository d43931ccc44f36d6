//! `hookit demo`, run as a new user would run it: the real binary, a small stream, and
//! a summary that shows every guarantee held — exercised, not vacuously "0 of 0" —
//! even with as few as five orders.

use std::process::Command;
use std::time::{Duration, Instant};

/// The summary's line for a row or a guarantee, or a panic showing the whole output.
fn line_with<'a>(stdout: &'a str, needle: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in the demo's output:\n{stdout}"))
}

/// The first number after `label` on its line.
fn number_after(line: &str, label: &str) -> u64 {
    let rest = line
        .split_once(label)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{label:?} not in {line:?}"));
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|part| !part.is_empty())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

/// Every guarantee of the demo.
const GUARANTEES: [&str; 11] = [
    "every signature verified",
    "independent verifier agrees",
    "every order change delivered",
    "per-order ordering",
    "dead delivery recovered by replay",
    "replay after newer changes dropped",
    "replayed duplicates ignored",
    "webhook-secret rotation",
    "slow handler timed out, retried",
    "stale pushes ignored",
    "retried ingest push is idempotent",
];

/// Every guarantee is marked as held: none broken, none left unexercised.
fn every_guarantee_held_and_exercised(stdout: &str) {
    for guarantee in GUARANTEES {
        let line = line_with(stdout, guarantee);
        assert!(line.trim_start().starts_with('✓'), "not held: {line}");
    }
    assert!(!stdout.contains("\n  ✗ "), "a guarantee broke:\n{stdout}");
    assert!(
        !stdout.contains("not exercised"),
        "a guarantee had nothing to show:\n{stdout}"
    );
}

fn run_demo(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hookit"))
        .arg("demo")
        .args(args)
        .output()
        .expect("run hookit demo");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "hookit demo failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn five_orders_still_exercise_every_guarantee() {
    let stdout = run_demo(&["--orders", "5", "--timeout", "45"]);
    every_guarantee_held_and_exercised(&stdout);

    // One delivery is shown as the partner received it, headers and raw body.
    let shown = stdout
        .split_once("One delivery, as the partner received it")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no delivery shown:\n{stdout}"));
    for header in [
        "content-type: application/json",
        "x-klikit-signature: ",
        "x-klikit-event-id: evt_",
        "x-klikit-event-type: klikit.order.created.v2",
        "x-klikit-delivery-attempt: ",
        "user-agent: hookit/",
    ] {
        assert!(shown.contains(header), "{header:?} not shown:\n{stdout}");
    }
    assert!(
        shown.contains(r#"{"brand_id":"#),
        "no raw body shown:\n{stdout}"
    );

    // The dead delivery's order moved on; its replay came after, and was dropped.
    let dropped = line_with(&stdout, "replay after newer changes dropped");
    assert!(
        dropped.contains("order 7585307 version 1 arrived after version 3"),
        "{dropped}"
    );
    let rotation = line_with(&stdout, "webhook-secret rotation");
    assert!(
        number_after(rotation, "requests signed with the first secret,") >= 1,
        "{rotation}"
    );
    let slow = line_with(&stdout, "slow handler timed out");
    assert!(
        slow.contains("recorded the slow attempt as a timeout"),
        "{slow}"
    );
    let independent = line_with(&stdout, "independent verifier agrees");
    let ok = number_after(independent, "independent verifier agrees");
    assert!(
        ok > 0 && ok == number_after(independent, " of "),
        "{independent}"
    );
}

#[test]
fn demo_shows_every_guarantee_holding() {
    let started = Instant::now();
    let stdout = run_demo(&["--orders", "200", "--timeout", "45"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the demo took {:?}",
        started.elapsed()
    );

    every_guarantee_held_and_exercised(&stdout);

    let signatures = line_with(&stdout, "signatures verified:");
    let verified = number_after(signatures, "signatures verified:");
    let requests = number_after(signatures, " of ");
    assert!(verified > 0 && verified == requests, "{signatures}");
    assert_eq!(number_after(signatures, "requests,"), 0, "{signatures}");

    let ordering = line_with(&stdout, "ordering violations");
    assert_eq!(
        number_after(ordering, "per-order ordering"),
        0,
        "{ordering}"
    );

    let delivered = line_with(&stdout, "(order, version) acknowledged");
    let got = number_after(delivered, "every order change delivered");
    let expected = number_after(delivered, " of ");
    assert!(got >= 600 && got == expected, "{delivered}");

    let dead = line_with(&stdout, "dead → replayed");
    let died = number_after(dead, "dead → replayed");
    let (_, value) = dead.split_once("dead → replayed").expect("label");
    let replayed = number_after(value, "→ ");
    assert!(died >= 1 && replayed >= 1, "{dead}");
    assert!(dead.contains("0 still dead now"), "{dead}");

    let duplicates = line_with(&stdout, "duplicates ignored");
    assert!(
        number_after(duplicates, "duplicates ignored") >= 1,
        "{duplicates}"
    );

    let attempts = line_with(&stdout, "failed and retried");
    assert!(
        number_after(attempts, "acknowledged ·") >= 1,
        "no retries: {attempts}"
    );
    assert!(line_with(&stdout, "mean batch size").contains("orders per delivery"));
    assert!(line_with(&stdout, "ingest → ack p50 / p99").contains("ms"));
    assert!(
        stdout.contains("allows private targets"),
        "the demo must say why loopback targets are allowed:\n{stdout}"
    );
    assert!(stdout.contains("hookit stopped cleanly"), "{stdout}");
}
