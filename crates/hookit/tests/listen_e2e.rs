//! End-to-end tests of `hookit listen`: the real binary on `127.0.0.1:0`, driven over
//! HTTP with the seed's example body exactly as the seed page prints it.

mod harness;

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

    /// Waits until stderr has a line containing `needle` (the line is written before
    /// the answer is sent, but the reader thread may lag a little); returns it all.
    fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stderr = self.stderr_lines().join("\n");
            if stderr.contains(needle) || Instant::now() > deadline {
                return stderr;
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
    post_attempt(url, event_id, 1, signature, body).await
}

async fn post_attempt(
    url: &str,
    event_id: &str,
    attempt: u32,
    signature: Option<&str>,
    body: &[u8],
) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut request = client
        .post(format!("{url}/klikit/webhooks"))
        .header("content-type", "application/json")
        .header(header::EVENT_ID, event_id)
        .header(header::EVENT_TYPE, STATUS_UPDATED)
        .header(header::DELIVERY_ATTEMPT, attempt.to_string())
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(header::SIGNATURE, signature);
    }
    let response = request.send().await.expect("hookit listen answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    // hookit listen answers JSON; a forwarded answer is the application's own body.
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
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
    let stdout = listener.wait_for_stdout(3);
    assert_eq!(
        stdout.len(),
        3,
        "the first event, its duplicate and the sentinel, nothing for the refused ones: \
         {stdout:?}"
    );
    assert!(
        stdout[1].contains("evt_seed_1") && stdout[1].contains("duplicate"),
        "{stdout:?}"
    );
    assert!(stdout[2].contains("evt_seed_6"), "{stdout:?}");
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
    let lines = listener.wait_for_stdout(5);
    assert_eq!(lines.len(), 5, "every delivery is printed: {lines:?}");
    for (line, expected) in lines.iter().zip([
        "failure 1 of 2",
        "failure 2 of 2",
        "attempt=1",
        "duplicate",
        "failure 1 of 2",
    ]) {
        assert!(line.contains(expected), "{expected:?} not in {line:?}");
    }
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

#[tokio::test]
async fn retries_duplicates_and_rejections_are_printed_with_event_id_and_attempt() {
    let seed = seed_case();
    let listener = Listener::start(&["--fail-first", "1"], &seed.secret);
    let url = listener.url.clone();
    let sig = Some(seed.signature.as_str());
    let statuses = [
        post_attempt(&url, "evt_story", 1, sig, &seed.body)
            .await
            .status,
        post_attempt(&url, "evt_story", 2, sig, &seed.body)
            .await
            .status,
        post_attempt(&url, "evt_story", 3, sig, &seed.body)
            .await
            .status,
    ];
    assert_eq!(statuses, [500, 200, 200]);
    let forged = sign(b"not the secret", &seed.body);
    let refused = post_attempt(&url, "evt_forged", 4, Some(&forged), &seed.body).await;
    assert_eq!(refused.status, 403);

    let lines = listener.wait_for_stdout(3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("evt_story") && lines[0].contains("attempt=1 answered 500"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("evt_story") && lines[1].contains("attempt=2 retry"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("evt_story") && lines[2].contains("attempt=3 duplicate"),
        "{lines:?}"
    );
    let rejected = "rejected evt_forged attempt=4 (403 signature_mismatch)";
    let stderr = listener.wait_for_stderr(rejected);
    assert!(stderr.contains(rejected), "{stderr}");
}

#[tokio::test]
async fn a_signature_mismatch_tells_a_reserialised_body_from_a_wrong_secret() {
    let seed = seed_case();
    let listener = Listener::start(&[], &seed.secret);
    let compact = br#"{"brand_id":663,"branch_id":1062,"orders":[{"id":7585307,"status":2}]}"#;

    // Signed by hookit over the compact bytes, then pretty-printed on the way.
    let signature = sign(seed.secret.as_bytes(), compact);
    let pretty = "{\n  \"brand_id\": 663,\n  \"branch_id\": 1062,\n  \"orders\": [\n    \
                  {\"id\": 7585307, \"status\": 2}\n  ]\n}";
    let reserialised = post(
        &listener.url,
        "evt_pretty",
        Some(&signature),
        pretty.as_bytes(),
    )
    .await;
    assert_eq!(reserialised.status, 403);
    let message = reserialised.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("body_reserialised"), "{message}");

    // The bytes hookit sent, untouched, signed with another secret.
    let other = sign(b"whsk_someone_elses_secret", compact);
    let wrong = post(&listener.url, "evt_wrong_secret", Some(&other), compact).await;
    assert_eq!(wrong.status, 403);
    let message = wrong.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("wrong_secret_likely"), "{message}");

    let stderr = listener.wait_for_stderr("rejected evt_wrong_secret");
    assert!(
        stderr.contains("rejected evt_pretty") && stderr.contains("body_reserialised"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rejected evt_wrong_secret") && stderr.contains("wrong_secret_likely"),
        "{stderr}"
    );
}

#[tokio::test]
async fn delay_holds_each_answer_back() {
    let seed = seed_case();
    let listener = Listener::start(&["--delay", "400ms"], &seed.secret);
    let stderr = listener.wait_for_stderr("--delay 400ms");
    assert!(stderr.contains("--delay 400ms"), "{stderr}");
    // A sender that waits less than the delay gives up, as hookit does after its
    // timeout.
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(50))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(format!("{}/slow", listener.url))
        .header("content-type", "application/json")
        .header(header::EVENT_ID, "evt_slow")
        .header(header::EVENT_TYPE, STATUS_UPDATED)
        .header(header::SIGNATURE, &seed.signature)
        .body(seed.body.clone())
        .send()
        .await;
    assert!(
        gave_up.as_ref().is_err_and(reqwest::Error::is_timeout),
        "answered within 50 ms despite --delay 400ms: {gave_up:?}"
    );
    let started = Instant::now();
    let answer = post(
        &listener.url,
        "evt_patient",
        Some(&seed.signature),
        &seed.body,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered after {:?}, before the delay",
        started.elapsed()
    );
}

#[tokio::test]
async fn forward_to_hands_the_delivery_unchanged_to_the_app_and_answers_with_its_status() {
    let seed = seed_case();
    let app = harness::receiver::Receiver::start().await;
    app.set("/app/hooks", harness::receiver::Behaviour::FailFirst(1));
    let target = app.url("/app/hooks");
    let listener = Listener::start(&["--forward-to", &target], &seed.secret);
    let url = listener.url.clone();
    let sig = Some(seed.signature.as_str());

    let first = post_attempt(&url, "evt_fwd", 1, sig, &seed.body).await;
    let retry = post_attempt(&url, "evt_fwd", 2, sig, &seed.body).await;
    let again = post_attempt(&url, "evt_fwd", 3, sig, &seed.body).await;
    assert_eq!(
        [first.status, retry.status, again.status],
        [500, 200, 200],
        "the app's own answers"
    );
    let forged = sign(b"not the secret", &seed.body);
    let refused = post(&url, "evt_fwd_forged", Some(&forged), &seed.body).await;
    assert_eq!(refused.status, 403);

    let received = app.on("/app/hooks");
    assert_eq!(received.len(), 3, "a refused delivery is never forwarded");
    for (request, attempt) in received.iter().zip(["1", "2", "3"]) {
        assert_eq!(request.body, seed.body, "the raw body, byte for byte");
        assert_eq!(request.header("x-klikit-signature"), seed.signature);
        assert_eq!(request.header("x-klikit-event-id"), "evt_fwd");
        assert_eq!(request.header("x-klikit-event-type"), STATUS_UPDATED);
        assert_eq!(request.header("x-klikit-delivery-attempt"), attempt);
        assert_eq!(request.header("content-type"), "application/json");
    }
    let lines = listener.wait_for_stdout(3);
    assert!(
        lines[0].contains("your application answered 500"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("your application answered 200"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("answered 200") && lines[2].contains("a duplicate"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn forward_to_an_app_that_is_not_running_answers_502() {
    let seed = seed_case();
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("http://{}/hooks", closed.local_addr().expect("addr"));
    drop(closed);
    let listener = Listener::start(&["--forward-to", &target], &seed.secret);
    let answer = post(
        &listener.url,
        "evt_nowhere",
        Some(&seed.signature),
        &seed.body,
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (502, "forward_failed")
    );
    let lines = listener.wait_for_stdout(1);
    assert!(
        lines[0].contains("evt_nowhere") && lines[0].contains("not forwarded"),
        "{lines:?}"
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
