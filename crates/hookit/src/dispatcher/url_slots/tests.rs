use super::*;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Two slots per URL, a roomy slow pool.
fn roomy() -> UrlSlots {
    UrlSlots::new(Limits::new(1000, 2, 1.0, TIMEOUT))
}

/// Marks a host fast, as an attempt that answered quickly would.
fn answered_fast(slots: &UrlSlots, url: &str) {
    slots.try_enter(url).expect("slot").finish(Pace::Fast);
}

#[test]
fn a_url_gets_its_limit_and_a_host_its_share() {
    let slots = roomy();
    let a1 = slots
        .try_enter("http://slow.example/a")
        .expect("first slot");
    let _a2 = slots
        .try_enter("http://slow.example/a")
        .expect("second slot");
    assert!(
        slots.try_enter("http://slow.example/a").is_none(),
        "URL full"
    );
    assert_eq!(
        slots.claim_filter().saturated_urls,
        ["http://slow.example/a"]
    );
    let held: Vec<Slot> = (0..6)
        .filter_map(|n| slots.try_enter(&format!("http://slow.example/{n}")))
        .collect();
    assert_eq!(held.len(), 6, "the host allows 4 × 2 in all");
    assert!(
        slots.try_enter("http://slow.example/other").is_none(),
        "host full"
    );
    assert_eq!(
        slots.claim_filter().saturated_hosts,
        ["slow.example:80"],
        "a host at its share is skipped by the query, all its URLs with it"
    );
    assert!(
        slots.try_enter("http://fast.example/a").is_some(),
        "other hosts unaffected"
    );
    drop(a1);
    drop(held);
    assert_eq!(slots.claim_filter(), ClaimFilter::default());
    assert!(slots.try_enter("http://slow.example/a").is_some());
}

#[test]
fn admission_counts_what_it_accepts_on_top_of_what_is_in_flight() {
    let slots = roomy();
    let _held = slots.try_enter("http://busy.example/a").expect("slot");
    let mut admit = slots.admission();
    assert!(admit("http://busy.example/a"));
    assert!(
        !admit("http://busy.example/a"),
        "one in flight plus one accepted"
    );
    assert!(
        admit("http://busy.example/b"),
        "another URL of the host has room"
    );
    assert!(admit("http://idle.example/"));
    assert!(admit("http://idle.example/"));
    assert!(!admit("http://idle.example/"));
}

#[test]
fn slow_hosts_share_one_pool_and_fast_hosts_keep_the_rest() {
    // 10 workers, half of them for slow hosts: 5.
    let slots = UrlSlots::new(Limits::new(10, 8, 0.5, TIMEOUT));
    answered_fast(&slots, "http://fast.example/");
    let hanging: Vec<Slot> = (0..20)
        .filter_map(|n| slots.try_enter(&format!("http://hang{}.example/{n}", n % 4)))
        .collect();
    assert_eq!(
        hanging.len(),
        5,
        "hosts that never answered share the slow pool"
    );
    let filter = slots.claim_filter();
    assert_eq!(filter.only_hosts, Some(vec!["fast.example:80".to_owned()]));
    assert_eq!(filter.saturated_hosts.len(), 4, "{filter:?}");
    let mut admit = slots.admission();
    assert!(!admit("http://hang0.example/x"));
    assert!(!admit("http://new.example/"), "an unknown host is slow too");
    assert!(admit("http://fast.example/"), "a fast host is not held up");
    drop(admit);
    assert!(slots.try_enter("http://fast.example/").is_some());
    for slot in hanging {
        slot.finish(Pace::Slow);
    }
    assert_eq!(
        slots.claim_filter().only_hosts,
        None,
        "the pool has room again"
    );
}

#[test]
fn a_fast_host_turns_slow_when_it_times_out_or_an_attempt_runs_long() {
    let limits = Limits::new(10, 8, 0.5, Duration::from_millis(40));
    let slots = UrlSlots::new(limits);
    answered_fast(&slots, "http://turns.example/");
    answered_fast(&slots, "http://stays.example/");
    let long = slots.try_enter("http://turns.example/").expect("slot");
    let counts = slots.counts();
    assert!(!counts.is_slow("turns.example:80", Instant::now(), &limits));
    assert!(
        counts.is_slow(
            "turns.example:80",
            Instant::now() + Duration::from_millis(21),
            &limits
        ),
        "in flight for over half the timeout"
    );
    drop(counts);
    long.finish(Pace::Slow);
    let counts = slots.counts();
    assert!(counts.is_slow("turns.example:80", Instant::now(), &limits));
    assert!(!counts.is_slow("stays.example:80", Instant::now(), &limits));
}
