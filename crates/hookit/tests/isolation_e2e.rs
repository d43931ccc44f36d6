//! Isolation under pressure: hosts that hang — however many URLs they have, however
//! much is due for them — cannot keep another partner's webhooks waiting.

mod harness;

use harness::receiver::Receiver;
use harness::{Serve, order};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP listener on 127.0.0.1 that accepts every connection and never answers.
/// Every listener counts its open connections into the same counters.
struct HangingHost {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl HangingHost {
    async fn start(
        total_open: Arc<AtomicUsize>,
        most_open: Arc<AtomicUsize>,
        first_accept: Arc<Mutex<Option<Instant>>>,
    ) -> HangingHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (open, most, first) = (total_open, most_open, first_accept);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                first.lock().expect("lock").get_or_insert_with(Instant::now);
                let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now_open, Ordering::SeqCst);
                let open = Arc::clone(&open);
                tokio::spawn(async move {
                    // Read and drop the request; never answer; notice when the client
                    // gives up.
                    let mut sink = tokio::io::sink();
                    let _ = tokio::io::copy(&mut socket, &mut sink).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        HangingHost { port, task }
    }
}

impl Drop for HangingHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HANGING_HOSTS: i64 = 5;
const URLS_PER_HOST: i64 = 20;
const DUE_PER_HOST: i64 = 1_000;
const HEALTHY_ORDERS: i64 = 20;
/// The attempt timeout, left at its default.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_hosts_with_many_urls_and_a_deep_backlog_do_not_hold_up_a_healthy_partner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = Serve::start(
        dir.path(),
        &[
            ("HOOKIT_ALLOW_PRIVATE_TARGETS", "true".into()),
            ("HOOKIT_TICK", "20ms".into()),
            ("HOOKIT_MAX_BATCH_ORDERS", "1".into()),
        ],
    );
    let receiver = Receiver::start().await;

    // A partner with a healthy receiver, which has answered before.
    let (healthy, _, _) = serve.create_partner("Healthy POS").await;
    serve
        .map(
            &healthy,
            1,
            None,
            "klikit.order.created.v2",
            &receiver.url("/healthy"),
        )
        .await;
    let (status, body) = serve
        .ingest("klikit.order.created.v2", order(1, 1, 1, 1))
        .await;
    assert_eq!(status, 202, "{body}");
    receiver
        .wait_for("/healthy", 1, Duration::from_secs(10))
        .await;

    // Five hosts that accept and never answer, each a partner with one URL per branch.
    let open = Arc::new(AtomicUsize::new(0));
    let most_open = Arc::new(AtomicUsize::new(0));
    let first_accept = Arc::new(Mutex::new(None));
    let mut hosts = Vec::new();
    for host in 0..HANGING_HOSTS {
        let hanging = HangingHost::start(
            Arc::clone(&open),
            Arc::clone(&most_open),
            Arc::clone(&first_accept),
        )
        .await;
        let (partner, _, _) = serve.create_partner(&format!("Hanging {host}")).await;
        for branch in 1..=URLS_PER_HOST {
            let url = format!("http://127.0.0.1:{}/branch/{branch}", hanging.port);
            serve
                .map(
                    &partner,
                    100 + host,
                    Some(branch),
                    "klikit.order.created.v2",
                    &url,
                )
                .await;
        }
        hosts.push(hanging);
    }
    // 1,000 due deliveries per host, spread evenly over its 20 URLs, one bulk push each.
    for host in 0..HANGING_HOSTS {
        let items: Vec<_> = (0..DUE_PER_HOST)
            .map(|n| {
                let branch = n % URLS_PER_HOST + 1;
                let id = 1_000_000 * (host + 1) + n;
                json!({ "event": "klikit.order.created.v2", "order": order(id, 100 + host, branch, 1) })
            })
            .collect();
        let (status, body) = serve.ingest_batch(items).await;
        assert_eq!(status, 202, "{body}");
    }
    let slow_pool = 64; // HOOKIT_SLOW_HOST_SHARE 0.5 of HOOKIT_WORKERS 128
    let host_share = 32; // 4 × HOOKIT_PER_URL_CONCURRENCY 8
    harness::eventually(
        Duration::from_secs(8),
        "a hanging host to hold its share",
        || (open.load(Ordering::SeqCst) >= host_share).then_some(()),
    )
    .await;
    let first_hanging = first_accept
        .lock()
        .expect("lock")
        .expect("an attempt started");

    // The healthy partner's new orders, while every hanging attempt is still open.
    let items: Vec<_> = (0..HEALTHY_ORDERS)
        .map(|n| json!({ "event": "klikit.order.created.v2", "order": order(10 + n, 1, 1 + n % 3, 1) }))
        .collect();
    let (status, body) = serve.ingest_batch(items).await;
    assert_eq!(status, 202, "{body}");
    let deadline = first_hanging + ATTEMPT_TIMEOUT - Duration::from_millis(500);
    loop {
        let got = receiver.on("/healthy").len() as i64;
        if got > HEALTHY_ORDERS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the healthy partner got {} of its {HEALTHY_ORDERS} new orders before the first \
             hanging attempt could time out; {} hanging attempts open",
            got - 1,
            open.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        Instant::now() < first_hanging + ATTEMPT_TIMEOUT,
        "acknowledged before any hanging attempt timed out"
    );
    let still_open = open.load(Ordering::SeqCst);
    assert!(
        still_open >= host_share,
        "the hanging hosts still hold their attempts open ({still_open})"
    );
    let most = most_open.load(Ordering::SeqCst);
    assert!(
        most <= slow_pool,
        "slow hosts held {most} workers, more than their share of {slow_pool}"
    );
    drop(hosts);
}
