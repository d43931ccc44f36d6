//! End to end: the operator commands (`hookit partner`, `map`, `deliveries`) run as
//! child processes against a real `hookit serve`, delivering to a real receiver.

mod cli_support;
mod harness;

use cli_support::{create_partner, hookit, hookit_with, text};
use harness::receiver::{Behaviour, Receiver};
use harness::{OPERATOR_TOKEN, Serve, fast_env, order};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const CREATED: &str = "klikit.order.created.v2";
const WAIT: Duration = Duration::from_secs(15);
const UNKNOWN_PARTNER: &str = "prt_00000000000000000000000000000000";

/// Polls `deliveries list --json` with `filters` until a delivery is listed.
async fn wait_listed(serve: &Serve, filters: &[&str]) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut args = vec!["deliveries", "list", "--json"];
    args.extend_from_slice(filters);
    loop {
        let page = hookit(serve, &args).await.json();
        if let Some(first) = page["data"]["deliveries"]
            .as_array()
            .and_then(|d| d.first())
        {
            return first.clone();
        }
        assert!(Instant::now() < deadline, "nothing matched {filters:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The attempt lines `deliveries show` prints (`attempt N  TIME  MS ms  STATUS`), split.
fn attempt_rows(shown: &str) -> Vec<Vec<String>> {
    shown
        .lines()
        .filter(|line| line.starts_with("attempt "))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_maps_watches_a_delivery_die_and_replays_it() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    receiver.set("/down", Behaviour::FailAll);

    let created = create_partner(&serve, "Acme POS").await;
    let partner = text(&created, "id");
    assert!(text(&created, "secret_key").starts_with("sk_"));
    assert!(text(&created, "webhook_secret_key").starts_with("whsk_"));

    let url = receiver.url("/down");
    let mapped = hookit(
        &serve,
        &[
            "map",
            "--partner",
            partner,
            "--brand",
            "663",
            "--event",
            "created",
            "--url",
            &url,
        ],
    )
    .await
    .ok();
    assert!(mapped.contains("mapping id: map_"), "{mapped}");
    let human = hookit(&serve, &["map", "list", "--partner", partner])
        .await
        .ok();
    assert!(human.contains(CREATED) && human.contains(&url), "{human}");
    // Without --partner, one answer per partner, in an array.
    let answers = hookit(&serve, &["map", "--json", "list"]).await.json();
    assert_eq!(answers.as_array().map(Vec::len), Some(1), "{answers}");
    let mappings = &answers[0]["data"];
    assert_eq!(mappings.as_array().map(Vec::len), Some(1), "{mappings}");
    assert_eq!(mappings[0]["url"], url.as_str());
    assert_eq!(mappings[0]["branch_id"], Value::Null);

    let (status, answer) = serve.ingest(CREATED, order(7585307, 663, 1062, 1)).await;
    assert_eq!(status, 202, "{answer}");
    let dead = wait_listed(&serve, &["--partner", partner, "--state", "dead"]).await;
    let event_id = text(&dead, "event_id").to_owned();
    let listed = hookit(&serve, &["deliveries", "list", "--order", "7585307"])
        .await
        .ok();
    assert!(
        listed.contains(&event_id) && listed.contains("dead"),
        "{listed}"
    );
    assert!(listed.contains("663/1062"), "{listed}");

    let shown = hookit(&serve, &["deliveries", "show", &event_id])
        .await
        .ok();
    assert!(shown.contains("retries_exhausted"), "{shown}");
    let rows = attempt_rows(&shown);
    assert_eq!(rows.len(), 3, "one first attempt and two retries:\n{shown}");
    assert!(
        rows.iter()
            .all(|row| row.ends_with(&["HTTP".into(), "500".into()])),
        "{shown}"
    );

    receiver.set("/down", Behaviour::Ok);
    let before = receiver.on("/down").len();
    let replayed = hookit(&serve, &["deliveries", "replay", &event_id])
        .await
        .ok();
    assert!(replayed.contains(&event_id), "{replayed}");
    let got = receiver.wait_for("/down", before + 1, WAIT).await;
    assert_eq!(
        got[before].event_id(),
        event_id,
        "a replay keeps the event id"
    );
    assert_eq!(got[before].answered, 200);

    // A second dead delivery, replayed in bulk by filter.
    receiver.set("/down", Behaviour::FailAll);
    let (status, answer) = serve.ingest(CREATED, order(7585308, 663, 1062, 1)).await;
    assert_eq!(status, 202, "{answer}");
    wait_listed(&serve, &["--order", "7585308", "--state", "dead"]).await;
    let refused = hookit(&serve, &["deliveries", "replay"]).await.failed();
    assert!(refused.contains("--all-dead"), "{refused}");
    let bulk = hookit(
        &serve,
        &[
            "deliveries",
            "replay",
            "--partner",
            partner,
            "--state",
            "dead",
        ],
    )
    .await
    .ok();
    assert!(bulk.contains("Replayed 1 delivery."), "{bulk}");

    // Re-sending delivered deliveries needs --include-delivered.
    let plain = hookit(
        &serve,
        &[
            "deliveries",
            "replay",
            "--partner",
            partner,
            "--state",
            "delivered",
        ],
    )
    .await
    .failed();
    assert!(plain.contains("include_delivered"), "{plain}");
    // Once both deliveries are acknowledged, both are re-sent on request.
    receiver.set("/down", Behaviour::Ok);
    let delivered = || async {
        hookit(
            &serve,
            &[
                "deliveries",
                "list",
                "--json",
                "--partner",
                partner,
                "--state",
                "delivered",
            ],
        )
        .await
        .json()["data"]["deliveries"]
            .as_array()
            .map_or(0, Vec::len)
    };
    harness::eventually_async(WAIT, || async { (delivered().await == 2).then_some(()) }).await;
    let sent = |id: &str| {
        receiver
            .on("/down")
            .iter()
            .filter(|r| r.event_id() == id)
            .count()
    };
    let sent_before = sent(&event_id);
    let resent = hookit(
        &serve,
        &[
            "deliveries",
            "replay",
            "--partner",
            partner,
            "--state",
            "delivered",
            "--include-delivered",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(resent["data"]["replayed"], 2, "{resent}");
    assert_eq!(
        resent["data"]["skipped"],
        Value::Array(Vec::new()),
        "{resent}"
    );
    harness::eventually(WAIT, "the delivered delivery sent again", || {
        (sent(&event_id) > sent_before).then_some(())
    })
    .await;
    // Both acknowledged again, so the mapping's deletion stops nothing.
    harness::eventually_async(WAIT, || async { (delivered().await == 2).then_some(()) }).await;

    // Deleting without --partner finds the mapping's partner by itself.
    let mapping_id = text(&mappings[0], "id");
    let deleted = hookit(&serve, &["map", "delete", mapping_id]).await.ok();
    assert!(deleted.contains(mapping_id), "{deleted}");
    let left = hookit(&serve, &["map", "list", "--partner", partner, "--json"])
        .await
        .json();
    assert_eq!(left["data"], Value::Array(Vec::new()), "{left}");

    // With the mapping gone nothing of it can be sent again: a bulk replay says so.
    let gone = hookit(
        &serve,
        &[
            "deliveries",
            "replay",
            "--partner",
            partner,
            "--include-delivered",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(gone["data"]["replayed"], 0, "{gone}");
    assert_eq!(gone["data"]["skipped_total"], 2, "{gone}");
    let reasons: Vec<&Value> = gone["data"]["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| &s["reason"])
        .collect();
    assert_eq!(reasons, [&Value::from("mapping_deleted"); 2], "{gone}");
    let human = hookit(
        &serve,
        &[
            "deliveries",
            "replay",
            "--partner",
            partner,
            "--include-delivered",
        ],
    )
    .await
    .ok();
    assert!(human.contains("Replayed 0 deliveries."), "{human}");
    assert!(human.contains("Skipped 2 deliveries:"), "{human}");
    assert!(
        human.contains(&format!("{event_id}  mapping_deleted")),
        "{human}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partner_commands_rotate_switch_and_report_server_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let created = create_partner(&serve, "Bali Bites").await;
    let partner = text(&created, "id");

    let human = hookit(&serve, &["partner", "create", "--name", "Second"]).await;
    assert!(human.stderr.contains("cannot show"), "{}", human.stderr);
    let human = human.ok();
    assert!(
        human.contains("secret_key") && human.contains("whsk_"),
        "{human}"
    );

    let rotated = hookit(&serve, &["partner", "rotate-secret", partner])
        .await
        .ok();
    assert!(rotated.contains("stopped working"), "{rotated}");
    let new_secret = rotated
        .split_whitespace()
        .find(|word| word.starts_with("sk_"))
        .unwrap_or_else(|| panic!("no new secret in {rotated}"));
    assert_ne!(new_secret, text(&created, "secret_key"));
    let rotated = hookit(
        &serve,
        &["partner", "rotate-webhook-secret", partner, "--json"],
    )
    .await
    .json();
    assert!(text(&rotated["data"], "webhook_secret_key").starts_with("whsk_"));

    let disabled = hookit(&serve, &["partner", "disable", partner]).await.ok();
    assert!(disabled.contains("now disabled"), "{disabled}");
    assert!(
        disabled.contains("kept and delivered in order once it is enabled"),
        "{disabled}"
    );
    let listed = hookit(&serve, &["partner", "list", "--json"]).await.json();
    let row = listed["data"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["id"] == partner))
        .unwrap_or_else(|| panic!("{partner} not listed: {listed}"));
    assert_eq!(row["enabled"], false);
    let enabled = hookit(&serve, &["partner", "enable", partner]).await.ok();
    assert!(enabled.contains("now enabled"), "{enabled}");
    let table = hookit(&serve, &["partner", "list"]).await.ok();
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains("Bali Bites") && table.contains("Second"),
        "{table}"
    );

    let unknown = hookit(&serve, &["partner", "disable", UNKNOWN_PARTNER])
        .await
        .failed();
    assert!(unknown.contains("not found"), "{unknown}");
    assert!(unknown.contains("resource_not_found"), "{unknown}");
    let malformed = hookit(&serve, &["map", "list", "--partner", "nope"])
        .await
        .failed();
    assert!(malformed.contains("request_invalid"), "{malformed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_comes_from_env_or_data_dir_and_is_never_printed() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let clients = tempfile::tempdir().expect("dir");
    let data_dir = clients.path().to_string_lossy().into_owned();

    let missing = hookit_with(
        &[
            ("HOOKIT_SERVER", &serve.base),
            ("HOOKIT_DATA_DIR", &data_dir),
        ],
        &["partner", "list"],
    )
    .await
    .failed();
    assert!(missing.contains("HOOKIT_OPERATOR_TOKEN"), "{missing}");
    assert!(missing.contains("operator-token"), "{missing}");

    let wrong = "hkop_not_the_token";
    let refused = hookit_with(
        &[
            ("HOOKIT_SERVER", &serve.base),
            ("HOOKIT_OPERATOR_TOKEN", wrong),
        ],
        &["partner", "list"],
    )
    .await
    .failed();
    assert!(
        refused.contains("refused") && refused.contains("HOOKIT_OPERATOR_TOKEN"),
        "{refused}"
    );
    assert!(!refused.contains(wrong), "the token was printed: {refused}");

    write_token(clients.path(), OPERATOR_TOKEN);
    let from_file = hookit_with(
        &[("HOOKIT_SERVER", &serve.base)],
        &["partner", "list", "--data-dir", &data_dir],
    )
    .await
    .ok();
    assert!(from_file.contains("No partners"), "{from_file}");
    assert!(!from_file.contains(OPERATOR_TOKEN));

    write_token(clients.path(), wrong);
    let refused = hookit_with(
        &[
            ("HOOKIT_SERVER", &serve.base),
            ("HOOKIT_DATA_DIR", &data_dir),
        ],
        &["deliveries", "list"],
    )
    .await
    .failed();
    assert!(refused.contains("operator-token"), "{refused}");
    assert!(!refused.contains(wrong), "the token was printed: {refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_named_with_how_to_point_elsewhere() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let stderr = hookit_with(
        &[
            ("HOOKIT_SERVER", &server),
            ("HOOKIT_OPERATOR_TOKEN", OPERATOR_TOKEN),
        ],
        &["deliveries", "show", "evt_00000000000000000000000000000000"],
    )
    .await
    .failed();
    assert!(stderr.contains("not reachable"), "{stderr}");
    assert!(
        stderr.contains(&server) && stderr.contains("--server"),
        "{stderr}"
    );
}

fn write_token(data_dir: &Path, token: &str) {
    std::fs::write(data_dir.join("operator-token"), format!("{token}\n")).expect("write token");
}

#[tokio::test(flavor = "multi_thread")]
async fn map_takes_all_three_events_at_once_and_says_when_it_replaces_a_url() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let receiver = Receiver::start().await;
    let created = create_partner(&serve, "Acme POS").await;
    let partner = text(&created, "id");
    let first = receiver.url("/first");
    let second = receiver.url("/second");
    let map = |event: &'static str, url: String| {
        let serve = &serve;
        async move {
            hookit(
                serve,
                &[
                    "map",
                    "--partner",
                    partner,
                    "--brand",
                    "663",
                    "--branch",
                    "1062",
                    "--event",
                    event,
                    "--url",
                    &url,
                ],
            )
            .await
        }
    };

    let all = map("all", first.clone()).await.ok();
    assert_eq!(all.matches("Mapped ").count(), 3, "{all}");
    for event in [
        "klikit.order.created.v2",
        "klikit.order.status.updated",
        "klikit.order.cart.updated",
    ] {
        assert!(
            all.contains(&format!("Mapped {event} for brand 663")),
            "{all}"
        );
    }
    let listed = hookit(&serve, &["map", "--json", "list", "--partner", partner])
        .await
        .json();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3), "{listed}");

    let moved = map("created,status", second.clone()).await.ok();
    assert!(
        moved.contains(&format!(
            "Re-mapped klikit.order.created.v2 for brand 663, branch 1062, of partner {partner} from {first} to {second}"
        )),
        "{moved}"
    );
    assert!(
        moved.contains("Re-mapped klikit.order.status.updated"),
        "{moved}"
    );
    assert!(!moved.contains("cart"), "only the events listed: {moved}");
    let same = map("status", second.clone()).await.ok();
    assert!(
        same.contains(&format!(
            "klikit.order.status.updated for brand 663, branch 1062, of partner {partner} was already mapped to {second}"
        )),
        "{same}"
    );
    let listed = hookit(&serve, &["map", "--json", "list", "--partner", partner])
        .await
        .json();
    let urls: Vec<(&str, &str)> = listed["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| (text(m, "event_type"), text(m, "url")))
        .collect();
    assert_eq!(
        urls.len(),
        3,
        "re-mapping replaced, it did not add: {listed}"
    );
    assert!(urls.contains(&("klikit.order.cart.updated", first.as_str())));
    assert!(urls.contains(&("klikit.order.created.v2", second.as_str())));

    let several = hookit(
        &serve,
        &[
            "map",
            "--json",
            "--partner",
            partner,
            "--brand",
            "663",
            "--event",
            "created,cart",
            "--url",
            &first,
        ],
    )
    .await
    .json();
    // Two events are two calls: an array of both answers, in the order given.
    assert_eq!(several.as_array().map(Vec::len), Some(2), "{several}");
    assert_eq!(several[0]["data"]["event_type"], CREATED, "{several}");
    assert_eq!(
        several[1]["data"]["event_type"], "klikit.order.cart.updated",
        "{several}"
    );
    let bad = map("created,,status", first.clone()).await.failed();
    assert!(bad.contains("empty event type"), "{bad}");
    let unknown = map("created,shipped", first.clone()).await.failed();
    assert!(unknown.contains("created, status, cart"), "{unknown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_lists_what_operators_did_with_filters() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let created = create_partner(&serve, "Acme POS").await;
    let partner = text(&created, "id");
    hookit(&serve, &["partner", "disable", partner]).await.ok();
    hookit(&serve, &["partner", "enable", partner]).await.ok();

    let all = hookit(&serve, &["audit", "--json"]).await.json();
    let actions: Vec<&str> = all["data"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| text(e, "action"))
        .collect();
    assert_eq!(
        actions,
        ["partner.enabled", "partner.disabled", "partner.created"],
        "newest first: {all}"
    );
    let disabled = hookit(&serve, &["audit", "--action", "partner.disabled", "--json"])
        .await
        .json();
    assert_eq!(disabled["data"]["total"], 1, "{disabled}");
    assert_eq!(
        disabled["data"]["entries"][0]["target"], partner,
        "{disabled}"
    );
    let by_root = hookit(&serve, &["audit", "--token", "root", "--json"])
        .await
        .json();
    assert_eq!(by_root["data"]["total"], 3, "{by_root}");
    let by_other = hookit(&serve, &["audit", "--token", "someone-else", "--json"])
        .await
        .json();
    assert_eq!(by_other["data"]["total"], 0, "{by_other}");
    let future = hookit(&serve, &["audit", "--since", "2999-01-01T00:00:00Z"])
        .await
        .ok();
    assert!(future.contains("No audit entries match"), "{future}");
    let table = hookit(&serve, &["audit", "--action", "partner.created"])
        .await
        .ok();
    assert!(
        table.contains("partner.created") && table.contains(partner) && table.contains("root"),
        "{table}"
    );
    assert!(table.contains("1 of 1 matching"), "{table}");
    let bad = hookit(&serve, &["audit", "--since", "yesterday"])
        .await
        .failed();
    assert!(bad.contains("since"), "{bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_webhook_secret_says_when_the_switch_happens_and_update_sets_the_scheme() {
    let dir = tempfile::tempdir().expect("dir");
    let serve = Serve::start(dir.path(), &fast_env());
    let created = create_partner(&serve, "Rotating").await;
    let partner = text(&created, "id");
    assert!(text(&created, "webhook_secret_standard").starts_with("whsec_"));

    let immediate = hookit(&serve, &["partner", "rotate-webhook-secret", partner]).await;
    assert!(
        immediate.stderr.contains("cannot show"),
        "{}",
        immediate.stderr
    );
    let immediate = immediate.ok();
    assert!(
        immediate.contains("The very next delivery is signed with it"),
        "{immediate}"
    );
    assert!(immediate.contains("whsec_"), "{immediate}");

    let graced = hookit(
        &serve,
        &[
            "partner",
            "rotate-webhook-secret",
            partner,
            "--grace",
            "24h",
        ],
    )
    .await
    .ok();
    assert!(
        graced.contains("stay signed with the previous secret for 24h"),
        "{graced}"
    );
    let too_long = hookit(
        &serve,
        &["partner", "rotate-webhook-secret", partner, "--grace", "8d"],
    )
    .await
    .failed();
    assert!(too_long.contains("7d"), "{too_long}");

    let updated = hookit(
        &serve,
        &[
            "partner",
            "update",
            partner,
            "--signature-scheme",
            "klikit+standard",
        ],
    )
    .await
    .ok();
    assert!(updated.contains("klikit+standard"), "{updated}");
    let listed = hookit(&serve, &["partner", "list", "--json"]).await.json();
    assert_eq!(listed["data"][0]["signature_scheme"], "klikit+standard");
    let refused = hookit(
        &serve,
        &["partner", "update", partner, "--signature-scheme", "svix"],
    )
    .await
    .failed();
    assert!(refused.contains("signature_scheme"), "{refused}");
}
