//! Endpoint health: the circuit breaker, disabling, and what waits on an endpoint.
//! Explicit clocks throughout: the policy is 3 failures over at least 10 s, a 1 s
//! first cool-down, disabled after 100 s of failing.

use super::*;

pub fn health_policy() -> EndpointPolicy {
    EndpointPolicy {
        failures: 3,
        min_failing: Duration::from_secs(10),
        cooldown: Duration::from_secs(1),
        disable_after: Duration::from_secs(100),
    }
}

/// Records outcomes as the dispatcher's recorder does: the outcomes, then their
/// endpoints' health.
pub async fn settle(store: &dyn Store, outcomes: Vec<AttemptOutcome>) -> Vec<EndpointTransition> {
    store
        .record_outcomes(outcomes.clone())
        .await
        .expect("record");
    store
        .record_endpoint_health(outcomes, health_policy())
        .await
        .expect("health")
}

/// A failed attempt at `now`, due again 100 ms later.
fn failed(delivery: &ClaimedDelivery, now: Millis) -> AttemptOutcome {
    outcome(delivery, failure(), Some(now + 100), now)
}

fn gone(delivery: &ClaimedDelivery, now: Millis) -> AttemptOutcome {
    let result = AttemptResult::Failed {
        status: Some(410),
        error_kind: "http_status".into(),
        error: "HTTP 410".into(),
        retry_after: None,
    };
    outcome(delivery, result, Some(now + 100), now)
}

/// A partner mapped brand-wide for created orders to `url`, with two pending
/// deliveries (orders 901 and 902, on two branches), both claimed at `T0`.
async fn two_claimed(store: &dyn Store, url: &str) -> (Partner, Vec<ClaimedDelivery>) {
    let p = partner(store, "Health").await;
    map(store, &p, 9, None, EventType::OrderCreated, url).await;
    let orders = [(901, 1), (902, 2)].map(|(id, branch)| {
        item(
            EventType::OrderCreated,
            order(id, 9, branch, 1, "2026-01-01T00:00:00Z"),
        )
    });
    ingest(store, orders.to_vec(), T0).await;
    assert_eq!(store.form_deliveries(LIMITS, T0).await.expect("form"), 2);
    let claimed = claim(store, T0).await;
    assert_eq!(claimed.len(), 2);
    (p, claimed)
}

async fn health(store: &dyn Store, partner: &Partner, url: &str) -> EndpointHealth {
    store
        .list_endpoints(Some(&partner.id))
        .await
        .expect("list endpoints")
        .into_iter()
        .find(|e| e.url == url)
        .expect("the endpoint is listed")
}

pub async fn the_breaker_opens_only_after_enough_failures_over_long_enough(store: &dyn Store) {
    let url = "https://trip.example/";
    let (p, claimed) = two_claimed(store, url).await;
    assert_eq!(health(store, &p, url).await.state, EndpointState::Healthy);
    // Six failures within 8 s: enough of them, not long enough.
    let mut now = T0;
    let mut current = claimed;
    for step in [1_000, 8_000] {
        let outcomes: Vec<_> = current.iter().map(|d| failed(d, now)).collect();
        assert!(
            settle(store, outcomes).await.is_empty(),
            "no change at {now}"
        );
        now = T0 + step;
        current = claim(store, now).await;
        assert_eq!(current.len(), 2, "still healthy: both are claimed at {now}");
    }
    let outcomes: Vec<_> = current.iter().map(|d| failed(d, now)).collect();
    assert!(settle(store, outcomes).await.is_empty());
    // The next failure spans 10 s: the circuit opens.
    now = T0 + 10_000;
    let current = claim(store, now).await;
    assert_eq!(current.len(), 2);
    let opened = settle(store, vec![failed(&current[0], now)]).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(
        (opened[0].from, opened[0].to, opened[0].reason),
        (
            EndpointState::Healthy,
            EndpointState::Open,
            "breaker_tripped"
        )
    );
    let listed = health(store, &p, url).await;
    assert_eq!(listed.state, EndpointState::Open);
    assert_eq!(listed.since, Some(now));
    assert_eq!(listed.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(listed.pending, 2);
    // The other attempt was in flight: its failure counts, but is not a probe.
    assert!(
        settle(store, vec![failed(&current[1], now)])
            .await
            .is_empty()
    );
    assert!(
        claim(store, now + 999).await.is_empty(),
        "nothing is sent to an open circuit before its cool-down ends"
    );
}

/// Opens the circuit of `url` at `T0 + 10 s` with both deliveries due by then.
async fn open_circuit(store: &dyn Store, url: &str) -> Partner {
    let (p, claimed) = two_claimed(store, url).await;
    settle(store, claimed.iter().map(|d| failed(d, T0)).collect()).await;
    let again = claim(store, T0 + 10_000).await;
    let opened = settle(
        store,
        again.iter().map(|d| failed(d, T0 + 10_000)).collect(),
    )
    .await;
    assert_eq!(opened.len(), 1, "the circuit opened: {opened:?}");
    p
}

pub async fn an_open_circuit_lets_one_probe_per_cooldown_and_a_success_closes_it(
    store: &dyn Store,
) {
    let url = "https://probe.example/";
    let p = open_circuit(store, url).await;
    // First cool-down (1 s): one probe, however often and by whomever it is claimed.
    assert!(claim(store, T0 + 10_999).await.is_empty());
    let first = claim(store, T0 + 11_000).await;
    assert_eq!(first.len(), 1, "exactly one probe");
    assert!(first[0].probe);
    assert!(
        claim(store, T0 + 11_000).await.is_empty(),
        "one per cool-down"
    );
    let probe_index = first[0].retry_index;
    assert!(
        settle(store, vec![failed(&first[0], T0 + 11_000)])
            .await
            .is_empty()
    );
    // The cool-down doubled (2 s).
    assert!(claim(store, T0 + 12_999).await.is_empty());
    // An operator's retry-now of the other delivery is the probe, now.
    let other = store
        .list_deliveries(DeliveryFilter {
            partner_id: Some(p.id.clone()),
            limit: 10,
            ..DeliveryFilter::default()
        })
        .await
        .expect("list")
        .deliveries
        .into_iter()
        .find(|d| d.event_id != first[0].event_id)
        .expect("the other delivery");
    store
        .retry_delivery_now(&other.event_id, audit("delivery.retried"))
        .await
        .expect("retry now");
    let retried = claim(store, T0 + 12_000).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(
        retried[0].event_id, other.event_id,
        "the retried one probes"
    );
    assert!(retried[0].probe);
    assert!(
        settle(store, vec![failed(&retried[0], T0 + 12_000)])
            .await
            .is_empty()
    );
    // Doubled again (4 s from the failed probe).
    assert!(claim(store, T0 + 15_999).await.is_empty());
    let third = claim(store, T0 + 16_000).await;
    assert_eq!(third.len(), 1);
    if third[0].event_id == first[0].event_id {
        assert_eq!(
            third[0].retry_index, probe_index,
            "waiting on the circuit does not use up the retry schedule"
        );
    }
    let closed = settle(store, vec![outcome(&third[0], ACK, None, T0 + 16_000)]).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (closed[0].to, closed[0].reason),
        (EndpointState::Healthy, "probe_succeeded")
    );
    let rest = claim(store, T0 + 16_001).await;
    assert_eq!(rest.len(), 1, "the rest goes out at once");
    assert!(!rest[0].probe);
    assert_eq!(health(store, &p, url).await.state, EndpointState::Healthy);
}

pub async fn a_probe_failure_keeps_the_retry_schedule_where_it_was(store: &dyn Store) {
    let url = "https://schedule.example/";
    open_circuit(store, url).await;
    let mut at = T0 + 11_000;
    let mut cooldown = 1_000;
    let mut indexes = std::collections::HashMap::new();
    // More failed probes than the schedule has steps; each outcome says the schedule
    // has ended (`retry_at: None`), as it would for a delivery at its last step.
    for _ in 0..6 {
        let probe = claim(store, at).await;
        assert_eq!(probe.len(), 1, "one probe at {at}");
        assert!(probe[0].probe);
        let first_seen = *indexes
            .entry(probe[0].event_id.clone())
            .or_insert(probe[0].retry_index);
        assert_eq!(
            probe[0].retry_index, first_seen,
            "the schedule did not move"
        );
        settle(store, vec![outcome(&probe[0], failure(), None, at)]).await;
        cooldown *= 2;
        at += cooldown;
    }
    let deliveries = store
        .list_deliveries(DeliveryFilter {
            limit: 10,
            ..DeliveryFilter::default()
        })
        .await
        .expect("list")
        .deliveries;
    assert!(
        deliveries.iter().all(|d| d.state == DeliveryState::Pending),
        "probing never kills a delivery"
    );
}

pub async fn a_410_disables_at_once_and_deliveries_wait_for_enable_or_a_new_url(store: &dyn Store) {
    let url = "https://gone.example/";
    let (p, claimed) = two_claimed(store, url).await;
    let disabled = settle(store, vec![gone(&claimed[0], T0 + 5)]).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(
        (disabled[0].to, disabled[0].reason),
        (EndpointState::Disabled, "gone")
    );
    let audited = store
        .list_audit(AuditQuery {
            action: Some("endpoint.disabled".into()),
            page: 1,
            size: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.entries.len(), 1, "disabling is audited");
    assert_eq!(audited.entries[0].target, p.id);
    store
        .release_leases(&[HeldLease {
            event_id: claimed[1].event_id.clone(),
            lease_token: claimed[1].lease_token.clone(),
        }])
        .await
        .expect("release");
    // Nothing goes out, however late; the deliveries are pending, not dead.
    assert!(claim(store, T0 + 86_400_000).await.is_empty());
    let listed = health(store, &p, url).await;
    assert_eq!(
        (listed.state, listed.pending, listed.since),
        (EndpointState::Disabled, 2, Some(T0 + 5))
    );
    let refused = store
        .retry_delivery_now(&claimed[0].event_id, audit("delivery.retried"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    // An operator enables it: both go out.
    let enabled = store
        .enable_endpoint(&p.id, url, audit("endpoint.enabled"))
        .await
        .expect("enable");
    assert_eq!(enabled.state, EndpointState::Healthy);
    let resumed = claim(store, T0 + 86_400_000).await;
    assert_eq!(resumed.len(), 2, "waiting deliveries resume on enable");
    // Gone again: changing the mapping's URL lets them go to the new one.
    settle(
        store,
        resumed.iter().map(|d| gone(d, T0 + 86_400_001)).collect(),
    )
    .await;
    assert!(claim(store, T0 + 86_500_000).await.is_empty());
    let moved = "https://moved.example/";
    map(store, &p, 9, None, EventType::OrderCreated, moved).await;
    let after_move = claim(store, T0 + 86_500_000).await;
    assert_eq!(after_move.len(), 2, "a new URL is a new endpoint");
    assert!(after_move.iter().all(|d| d.url == moved));
    let missing = store
        .enable_endpoint(&p.id, "https://never.example/", audit("endpoint.enabled"))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

pub async fn failing_for_disable_after_disables_and_the_orders_later_events_wait_behind_it(
    store: &dyn Store,
) {
    let created_url = "https://slow-death.example/created";
    let status_url = "https://healthy.example/status";
    let p = partner(store, "Ordered").await;
    map(store, &p, 9, None, EventType::OrderCreated, created_url).await;
    map(
        store,
        &p,
        9,
        None,
        EventType::OrderStatusUpdated,
        status_url,
    )
    .await;
    let created = item(
        EventType::OrderCreated,
        order(950, 9, 1, 1, "2026-01-01T00:00:00Z"),
    );
    ingest(store, vec![created], T0).await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let first = claim(store, T0).await.remove(0);
    assert!(settle(store, vec![failed(&first, T0)]).await.is_empty());
    // A later event of the same order, bound for the partner's other URL.
    let status = item(
        EventType::OrderStatusUpdated,
        order(950, 9, 1, 2, "2026-01-01T00:01:00Z"),
    );
    ingest(store, vec![status], T0 + 1).await;
    assert_eq!(
        store.form_deliveries(LIMITS, T0 + 2).await.expect("form"),
        0
    );
    // Two failures, 100 s apart: not enough for the breaker, long enough to disable.
    let again = claim(store, T0 + 100_000).await.remove(0);
    let disabled = settle(store, vec![failed(&again, T0 + 100_000)]).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(
        (disabled[0].to, disabled[0].reason),
        (EndpointState::Disabled, "failing_too_long")
    );
    assert_eq!(
        store
            .form_deliveries(LIMITS, T0 + 200_000)
            .await
            .expect("form"),
        0,
        "the later event waits behind the disabled endpoint's delivery"
    );
    assert!(claim(store, T0 + 200_000).await.is_empty());
    store
        .enable_endpoint(&p.id, created_url, audit("endpoint.enabled"))
        .await
        .expect("enable");
    let resumed = claim(store, T0 + 200_000).await.remove(0);
    assert_eq!(resumed.event_id, first.event_id);
    settle(store, vec![outcome(&resumed, ACK, None, T0 + 200_001)]).await;
    assert_eq!(
        store
            .form_deliveries(LIMITS, T0 + 200_002)
            .await
            .expect("form"),
        1
    );
    let next = claim(store, T0 + 200_002).await.remove(0);
    assert_eq!(next.url, status_url, "then the later event goes out");
}

/// Two processes claiming at the same moment: of all the claims at each probe time,
/// exactly one takes the probe. For backends shared by several processes.
pub async fn an_open_circuits_probe_is_claimed_by_one_process(a: &dyn Store, b: &dyn Store) {
    let p = partner(a, "Probed").await;
    let url = "https://contended.example/";
    map(a, &p, 9, None, EventType::OrderCreated, url).await;
    let orders: Vec<_> = (1..=10)
        .map(|branch| {
            item(
                EventType::OrderCreated,
                order(960 + branch, 9, branch, 1, "2026-01-01T00:00:00Z"),
            )
        })
        .collect();
    ingest(a, orders, T0).await;
    a.form_deliveries(LIMITS, T0).await.expect("form");
    for at in [T0, T0 + 10_000] {
        let claimed = claim(a, at).await;
        assert_eq!(claimed.len(), 10);
        settle(a, claimed.iter().map(|d| failed(d, at)).collect()).await;
    }
    // Five probe times (the last at 41 s, within the 100 s that would disable it).
    let (mut at, mut cooldown) = (T0 + 11_000, 1_000);
    for _ in 0..5 {
        let (left, right) = tokio::join!(claim(a, at), claim(b, at));
        let probes: Vec<_> = left.into_iter().chain(right).collect();
        assert_eq!(probes.len(), 1, "one probe of all the claims at {at}");
        let mut failed_probe = outcome(&probes[0], failure(), Some(at), at);
        failed_probe.probe = true;
        settle(a, vec![failed_probe]).await;
        cooldown *= 2;
        at += cooldown;
    }
}

/// How many deliveries a backend has marked held, read beside the store: the mark is
/// not part of the `Store` trait, it only decides what a claim reads.
pub type HeldFuture = std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>>;
pub type HeldCount<'a> = &'a (dyn Fn() -> HeldFuture + Sync);

/// A change of order `id` (brand 9, branch `id % 10`) to `status`, pushed at `at`.
fn created(id: i64, status: i64, at: Millis) -> IngestItem {
    item(
        EventType::OrderCreated,
        order(id, 9, id % 10, status, &rfc3339(at)),
    )
}

pub async fn deliveries_waiting_on_a_disabled_endpoint_are_held_and_released_in_order(
    store: &dyn Store,
    held: HeldCount<'_>,
) {
    let url = "https://held.example/";
    let (p, claimed) = two_claimed(store, url).await;
    assert_eq!(
        held().await,
        0,
        "nothing is held while the endpoint is healthy"
    );
    settle(store, vec![gone(&claimed[0], T0 + 5)]).await;
    // The other attempt's lease ran out before its outcome came back; a claim after
    // that marks both held, taking the expired lease back.
    let later = T0 + 60_000;
    assert!(claim(store, later).await.is_empty());
    assert_eq!(held().await, 2, "both waiting deliveries are held");
    let stale = store
        .record_outcomes(vec![failed(&claimed[1], later)])
        .await
        .expect("record");
    assert_eq!(stale, 1, "a held delivery's old lease moves nothing");
    // Formed while the endpoint is disabled: a new order, and a later change of 901
    // waiting behind its first.
    ingest(
        store,
        vec![created(903, 1, later), created(901, 2, later)],
        later,
    )
    .await;
    assert_eq!(store.form_deliveries(LIMITS, later).await.expect("form"), 1);
    assert!(claim(store, later + 1).await.is_empty());
    assert_eq!(held().await, 3, "a delivery formed while disabled is held");
    assert_eq!(health(store, &p, url).await.pending, 3);
    // Enabled: all three are due again at once; 901's later change goes only after.
    store
        .enable_endpoint(&p.id, url, audit("endpoint.enabled"))
        .await
        .expect("enable");
    assert_eq!(held().await, 0, "enabling releases what was held");
    let resumed = claim(store, later + 2).await;
    let mut orders: Vec<i64> = resumed.iter().flat_map(order_ids).collect();
    orders.sort();
    assert_eq!(orders, [901, 902, 903]);
    assert!(
        resumed
            .iter()
            .all(|d| body_json(d)["orders"][0]["version"] == 1)
    );
    settle(
        store,
        resumed
            .iter()
            .map(|d| outcome(d, ACK, None, later + 3))
            .collect(),
    )
    .await;
    assert_eq!(
        store
            .form_deliveries(LIMITS, later + 4)
            .await
            .expect("form"),
        1
    );
    let next = claim(store, later + 4).await;
    assert_eq!(next.len(), 1);
    assert_eq!(order_ids(&next[0]), [901]);
    assert_eq!(body_json(&next[0])["orders"][0]["version"], 2);
}

pub async fn a_new_url_releases_held_deliveries_unless_it_is_disabled_too(
    store: &dyn Store,
    held: HeldCount<'_>,
) {
    let first = "https://first.example/";
    let (p, claimed) = two_claimed(store, first).await;
    // Gone at 1 s: both due again at 1.1 s, on a disabled endpoint.
    settle(store, claimed.iter().map(|d| gone(d, T0 + 1_000)).collect()).await;
    assert!(claim(store, T0 + 2_000).await.is_empty());
    assert_eq!(held().await, 2);
    // A new URL: released, and sent there.
    let second = "https://second.example/";
    map(store, &p, 9, None, EventType::OrderCreated, second).await;
    assert_eq!(held().await, 0, "a new URL releases them");
    let moved = claim(store, T0 + 3_000).await;
    assert_eq!(moved.len(), 2);
    assert!(moved.iter().all(|d| d.url == second));
    // That one is gone too; moving back to the first, still disabled, releases nothing.
    settle(store, moved.iter().map(|d| gone(d, T0 + 4_000)).collect()).await;
    assert!(claim(store, T0 + 5_000).await.is_empty());
    assert_eq!(held().await, 2);
    map(store, &p, 9, None, EventType::OrderCreated, first).await;
    assert_eq!(held().await, 2, "a disabled URL keeps them held");
    assert!(claim(store, T0 + 6_000).await.is_empty());
    store
        .enable_endpoint(&p.id, first, audit("endpoint.enabled"))
        .await
        .expect("enable");
    assert_eq!(held().await, 0);
    let resumed = claim(store, T0 + 7_000).await;
    assert_eq!(resumed.len(), 2);
    assert!(resumed.iter().all(|d| d.url == first));
}
