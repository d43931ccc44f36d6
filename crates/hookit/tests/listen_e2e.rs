//! End-to-end tests of `hookit listen`: the real binary on `127.0.0.1:0`, driven over
//! HTTP with the seed's example body exactly as the seed page prints it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use klikit_webhook::{header, sign};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../klikit-webhook/tests/data/signature-vectors.json"
));
const STATUS_UPDATED: &str = "klikit.order.status.updated";

/// The first signature vector: the seed's example body, byte for byte as printed.
struct SeedCase {
    secret: String,
    body: Vec<u8>,
    signature: String,
}

fn seed_case() -> SeedCase {
    let json: serde_json::Value = serde_json::from_str(VECTORS).expect("vectors are JSON");
    let case = &json["cases"][0];
    assert_eq!(case["name"], "seed_example_pretty");
    let body = base64::engine::general_purpose::STANDARD
        .decode(case["body_b64"].as_str().expect("body_b64"))
        .expect("base64");
    SeedCase {
        secret: case["secret"].as_str().expect("secret").to_owned(),
        body,
        signature: case["signature"].as_str().expect("signature").to_owned(),
    }
}

type Lines = Arc<Mutex<Vec<String>>>;

/// A running `hookit listen`; killed when dropped.
struct Listener {
    child: Child,
    url: String,
    stdout: Lines,
    stderr: Lines,
}

/// Copies every line of `pipe` into `lines`; reports the bound address when seen.
fn collect_lines(
    pipe: impl Read + Send + 'static,
    lines: Lines,
    bound: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let addr = line
                .split_once("listening on http://")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(str::to_owned);
            lines.lock().expect("lines lock").push(line);
            if let (Some(bound), Some(addr)) = (&bound, addr) {
                let _ = bound.send(addr);
            }
        }
    });
}

fn spawn(args: &[&str], secret: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookit"));
    command
        .arg("listen")
        .args(args)
        .env_remove("KLIKIT_WEBHOOK_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        command.env("KLIKIT_WEBHOOK_SECRET", secret);
    }
    command.spawn().expect("spawn hookit listen")
}

impl Listener {
    fn start(args: &[&str], secret: &str) -> Listener {
        let mut all_args = vec!["--listen", "127.0.0.1:0"];
        all_args.extend_from_slice(args);
        let mut child = spawn(&all_args, Some(secret));
        let stdout = Lines::default();
        let stderr = Lines::default();
        let (bound_tx, bound_rx) = mpsc::channel();
        collect_lines(
            child.stdout.take().expect("stdout"),
            Arc::clone(&stdout),
            None,
        );
        collect_lines(
            child.stderr.take().expect("stderr"),
            Arc::clone(&stderr),
            Some(bound_tx),
        );
        let listener = |url| Listener {
            child,
            url,
            stdout,
            stderr,
        };
        match bound_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => listener(format!("http://{addr}")),
            Err(_) => {
                let listener = listener(String::new());
                panic!("no start-up line; stderr: {:?}", listener.stderr_lines());
            }
        }
    }

    fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("lines lock").clone()
    }

    fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("lines lock").clone()
    }

    /// Waits until stdout has `count` lines (printing happens before the 200, but the
    /// reader thread may lag a little).
    fn wait_for_stdout(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.stdout_lines();
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.is_ok_and(|status| status.success()),
            "kill -TERM {pid}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hookit listen did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: u16,
    json: serde_json::Value,
}

impl Answer {
    fn error_code(&self) -> &str {
        self.json["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }
}

async fn post(url: &str, event_id: &str, signature: Option<&str>, body: &[u8]) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut request = client
        .post(format!("{url}/klikit/webhooks"))
        .header("content-type", "application/json")
        .header(header::EVENT_ID, event_id)
        .header(header::EVENT_TYPE, STATUS_UPDATED)
        .header(header::DELIVERY_ATTEMPT, "1")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(header::SIGNATURE, signature);
    }
    let response = request.send().await.expect("hookit listen answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("JSON body, got {:?}", String::from_utf8_lossy(&bytes)));
    Answer { status, json }
}

#[tokio::test]
async fn seed_body_is_verified_printed_once_and_bad_deliveries_are_refused() {
    let seed = seed_case();
    assert_eq!(sign(seed.secret.as_bytes(), &seed.body), seed.signature);
    let listener = Listener::start(&[], &seed.secret);
    let url = listener.url.clone();

    let first = post(&url, "evt_seed_1", Some(&seed.signature), &seed.body).await;
    assert_eq!(
        (first.status, &first.json),
        (200, &serde_json::json!({"status": "ok"}))
    );
    let again = post(&url, "evt_seed_1", Some(&seed.signature), &seed.body).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json,
        serde_json::json!({"status": "duplicate-ignored"})
    );

    let forged = sign(b"not the secret", &seed.body);
    let wrong = post(&url, "evt_seed_2", Some(&forged), &seed.body).await;
    assert_eq!(
        (wrong.status, wrong.error_code()),
        (403, "signature_mismatch")
    );
    let unsigned = post(&url, "evt_seed_3", None, &seed.body).await;
    assert_eq!(
        (unsigned.status, unsigned.error_code()),
        (403, "signature_missing")
    );
    let upper = post(
        &url,
        "evt_seed_4",
        Some(&seed.signature.to_uppercase()),
        &seed.body,
    )
    .await;
    assert_eq!(
        (upper.status, upper.error_code()),
        (403, "signature_not_hex")
    );

    let garbage = b"this is not JSON";
    let signed_garbage = sign(seed.secret.as_bytes(), garbage);
    let bad_body = post(&url, "evt_seed_5", Some(&signed_garbage), garbage).await;
    assert_eq!(
        (bad_body.status, bad_body.error_code()),
        (400, "envelope_invalid")
    );

    // A last good event: listen prints each event before answering it, in the order
    // the requests came, so once this one's line is there every earlier request has
    // printed all it ever will.
    let sentinel = post(&url, "evt_seed_6", Some(&seed.signature), &seed.body).await;
    assert_eq!(sentinel.status, 200);
    let stdout = listener.wait_for_stdout(2);
    assert_eq!(
        stdout.len(),
        2,
        "the first event and the sentinel, nothing for the duplicate or the refused ones: \
         {stdout:?}"
    );
    assert!(stdout[1].contains("evt_seed_6"), "{stdout:?}");
    let line = &stdout[0];
    assert!(
        line.contains(
            " klikit.order.status.updated evt_seed_1 brand=663 branch=1062 orders=[7585307 ACCEPTED]"
        ),
        "{line}"
    );
    let stderr = listener.stderr_lines().join("\n");
    assert!(
        stderr.contains("in-memory (duplicates return after restart"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&seed.secret),
        "the secret must never be printed"
    );
}

#[tokio::test]
async fn fail_first_answers_500_until_the_nth_delivery() {
    let seed = seed_case();
    let listener = Listener::start(&["--fail-first", "2"], &seed.secret);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            post(
                &listener.url,
                "evt_retry",
                Some(&seed.signature),
                &seed.body,
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses, [500, 500, 200]);
    let after = post(
        &listener.url,
        "evt_retry",
        Some(&seed.signature),
        &seed.body,
    )
    .await;
    assert_eq!(after.json["status"], "duplicate-ignored");
    let other = post(
        &listener.url,
        "evt_other",
        Some(&seed.signature),
        &seed.body,
    )
    .await;
    assert_eq!(other.status, 500, "failures are counted per event id");
    assert_eq!(listener.wait_for_stdout(1).len(), 1);
}

#[tokio::test]
async fn dedupe_db_survives_a_restart_and_sigterm_exits_cleanly() {
    let seed = seed_case();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("seen.db");
    let db_arg = db.to_str().expect("UTF-8 path");

    let mut first = Listener::start(&["--dedupe-db", db_arg], &seed.secret);
    let stderr = first.stderr_lines().join("\n");
    assert!(stderr.contains("persistent"), "{stderr}");
    let answer = post(&first.url, "evt_persist", Some(&seed.signature), &seed.body).await;
    assert_eq!(answer.json["status"], "ok");
    let status = first.terminate();
    assert!(status.success(), "SIGTERM exits 0, got {status}");

    let second = Listener::start(&["--dedupe-db", db_arg], &seed.secret);
    let answer = post(
        &second.url,
        "evt_persist",
        Some(&seed.signature),
        &seed.body,
    )
    .await;
    assert_eq!(answer.json["status"], "duplicate-ignored");
    let fresh = post(&second.url, "evt_fresh", Some(&seed.signature), &seed.body).await;
    assert_eq!(fresh.json["status"], "ok");
}

#[tokio::test]
async fn json_output_is_one_object_per_event() {
    let seed = seed_case();
    let listener = Listener::start(&["--json"], &seed.secret);
    let answer = post(&listener.url, "evt_json", Some(&seed.signature), &seed.body).await;
    assert_eq!(answer.status, 200);
    let lines = listener.wait_for_stdout(1);
    let record: serde_json::Value = serde_json::from_str(&lines[0]).expect("NDJSON line");
    assert_eq!(record["event_id"], "evt_json");
    assert_eq!(record["event_type"], STATUS_UPDATED);
    assert_eq!(record["orders"][0]["status_name"], "ACCEPTED");
    assert_eq!(record["envelope"]["orders"][0]["external_id"], "ABC-123");
}

#[test]
fn missing_secret_is_a_clear_error() {
    let output = spawn(&["--listen", "127.0.0.1:0"], None)
        .wait_with_output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KLIKIT_WEBHOOK_SECRET"), "{stderr}");
}

#[test]
fn secret_with_a_trailing_newline_warns_loudly() {
    let secret = "whsk_trailing_newline_secret\n";
    let listener = Listener::start(&[], secret);
    let stderr = listener.stderr_lines().join("\n");
    assert!(stderr.contains("WARNING"), "{stderr}");
    assert!(
        !stderr.contains(secret.trim()),
        "the secret must never be printed"
    );
}

/// Around a webhook-secret rotation a partner gives `listen` both secrets, as a
/// comma-separated `KLIKIT_WEBHOOK_SECRET` or `--secret` repeated: a delivery signed
/// with either is accepted, one signed with neither refused.
#[tokio::test]
async fn several_secrets_each_verify_from_the_environment_or_repeated_flags() {
    let seed = seed_case();
    let new = "whsk_the_new_secret_after_rotation";
    let by_new = sign(new.as_bytes(), &seed.body);
    let by_neither = sign(b"whsk_someone_else", &seed.body);
    let from_env = Listener::start(&[], &format!("{new},{}", seed.secret));
    let from_flags = Listener::start(&["--secret", new, "--secret", &seed.secret], "unused");
    for listener in [&from_env, &from_flags] {
        let answer = post(&listener.url, "evt_old", Some(&seed.signature), &seed.body).await;
        assert_eq!(answer.status, 200, "signed with the previous secret");
        let answer = post(&listener.url, "evt_new", Some(&by_new), &seed.body).await;
        assert_eq!(answer.status, 200, "signed with the new secret");
        let answer = post(&listener.url, "evt_other", Some(&by_neither), &seed.body).await;
        assert_eq!(answer.status, 403);
        assert_eq!(answer.error_code(), "signature_mismatch");
        let stderr = listener.stderr_lines().join("\n");
        assert!(stderr.contains("any of 2 webhook secrets"), "{stderr}");
        assert!(!stderr.contains(new), "a secret must never be printed");
    }
}
