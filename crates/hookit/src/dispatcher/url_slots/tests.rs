use super::*;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Two slots per URL, a roomy slow pool.
fn roomy() -> UrlSlots<u32> {
    UrlSlots::new(Limits::new(1000, 2, 1.0, TIMEOUT))
}

/// Marks a host fast, as an attempt that answered quickly would.
fn answered_fast(slots: &UrlSlots<u32>, url: &str) {
    slots
        .try_enter(url)
        .expect("slot")
        .finish(Pace::Fast, Duration::from_millis(100));
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
    let held: Vec<Slot<u32>> = (0..6)
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
    let slots: UrlSlots<u32> = UrlSlots::new(Limits::new(10, 8, 0.5, TIMEOUT));
    answered_fast(&slots, "http://fast.example/");
    let hanging: Vec<Slot<u32>> = (0..20)
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
        slot.finish(Pace::Slow, TIMEOUT);
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
    let slots: UrlSlots<u32> = UrlSlots::new(limits);
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
    long.finish(Pace::Slow, Duration::from_millis(40));
    let counts = slots.counts();
    assert!(counts.is_slow("turns.example:80", Instant::now(), &limits));
    assert!(!counts.is_slow("stays.example:80", Instant::now(), &limits));
}

/// Marks a host as answering in `took`, as a finished attempt would.
fn answered_in(slots: &UrlSlots<u32>, url: &str, took: Duration) {
    slots.try_enter(url).expect("slot").finish(Pace::Fast, took);
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[test]
fn a_fast_url_holds_about_a_second_of_work_ahead_and_a_slow_one_none() {
    // Two slots per URL. A host answering in 250 ms may hold 4 × its slots ahead.
    let slots = roomy();
    answered_in(&slots, "http://quick.example/", Duration::from_millis(250));
    let mut admit = slots.admission();
    let taken = (0..100).filter(|_| admit("http://quick.example/")).count();
    assert_eq!(
        taken,
        2 * (1 + 4),
        "its slots plus four times them held ahead"
    );
    // One answering in 1 ms is capped at AHEAD_FACTOR times its slots.
    answered_in(&slots, "http://instant.example/", Duration::from_millis(1));
    let taken = (0..1000)
        .filter(|_| admit("http://instant.example/"))
        .count();
    assert_eq!(taken, 2 * (1 + AHEAD_FACTOR));
    // A host that never answered, or answered slowly, gets only its slots.
    let taken = (0..100)
        .filter(|_| admit("http://unknown.example/"))
        .count();
    assert_eq!(taken, 2, "nothing ahead for a host not heard from");
    slots
        .try_enter("http://crawl.example/")
        .expect("slot")
        .finish(Pace::Slow, TIMEOUT);
    let taken = (0..100).filter(|_| admit("http://crawl.example/")).count();
    assert_eq!(taken, 2, "nothing ahead for a slow host");
}

#[test]
fn held_deliveries_count_against_the_room_and_start_as_slots_free() {
    let slots = roomy();
    answered_in(&slots, "http://quick.example/", Duration::from_millis(500));
    // 500 ms a attempt: twice the slots ahead, so 2 + 4 in all.
    for n in 0..6 {
        slots
            .hold("http://quick.example/", n, 10, far())
            .expect("room to hold");
    }
    assert_eq!(slots.held(), 6);
    assert_eq!(
        slots.claim_filter().saturated_urls,
        ["http://quick.example/"],
        "a URL whose slots and held room are full is skipped by the claim query"
    );
    let mut admit = slots.admission();
    assert!(!admit("http://quick.example/"));
    drop(admit);
    let min_left = Duration::from_secs(12);
    let first = slots.take_ready(Instant::now(), min_left);
    let (item, slot_a) = first.start.expect("a free slot");
    assert_eq!(item, 0, "oldest first");
    let (item, _slot_b) = slots
        .take_ready(Instant::now(), min_left)
        .start
        .expect("the second slot");
    assert_eq!(item, 1);
    assert!(
        slots.take_ready(Instant::now(), min_left).start.is_none(),
        "both slots busy: the rest wait"
    );
    assert_eq!(slots.held(), 4);
    slot_a.finish(Pace::Fast, Duration::from_millis(500));
    let (item, _slot_c) = slots
        .take_ready(Instant::now(), min_left)
        .start
        .expect("a freed slot goes to the next held one");
    assert_eq!(item, 2);
    assert_eq!(slots.held(), 3);
}

#[test]
fn urls_take_turns_for_free_workers() {
    let slots = roomy();
    for url in ["http://a.example/", "http://b.example/"] {
        answered_in(&slots, url, Duration::from_millis(1));
    }
    for n in 0..3 {
        slots.hold("http://a.example/", n, 1, far()).expect("hold");
    }
    slots.hold("http://b.example/", 10, 1, far()).expect("hold");
    let mut started = Vec::new();
    let mut held_slots = Vec::new();
    while let Some((item, slot)) = slots.take_ready(Instant::now(), Duration::ZERO).start {
        started.push(item);
        held_slots.push(slot);
    }
    assert_eq!(
        started,
        [0, 10, 1],
        "b's first goes before a's second; a's third waits for a slot"
    );
    assert_eq!(slots.held(), 1);
}

#[test]
fn a_held_delivery_whose_lease_ends_too_soon_is_handed_back_not_started() {
    let slots = roomy();
    answered_in(&slots, "http://quick.example/", Duration::from_millis(1));
    let now = Instant::now();
    slots
        .hold("http://quick.example/", 1, 1, now + Duration::from_secs(5))
        .expect("hold");
    slots
        .hold("http://quick.example/", 2, 1, now + Duration::from_secs(30))
        .expect("hold");
    let ready = slots.take_ready(now, Duration::from_secs(12));
    assert_eq!(ready.expired, [1], "5 s left is less than an attempt needs");
    assert_eq!(ready.start.map(|(item, _)| item), Some(2));
    assert_eq!(slots.held(), 0);
}

#[test]
fn what_is_held_is_bounded_and_drained_whole() {
    let slots = roomy();
    for n in 0..AHEAD_MAX as u32 {
        slots
            .hold(&format!("http://h{}.example/", n % 7), n, 1, far())
            .expect("room");
    }
    assert_eq!(
        slots.hold("http://h0.example/", 0, 1, far()),
        Err(0),
        "no more than AHEAD_MAX held"
    );
    let mut drained = slots.drain();
    drained.sort_unstable();
    assert_eq!(drained, (0..AHEAD_MAX as u32).collect::<Vec<_>>());
    assert_eq!(slots.held(), 0);
    assert_eq!(slots.claim_filter(), ClaimFilter::default());
    let big = AHEAD_MAX_BYTES / 2 + 1;
    slots
        .hold("http://h0.example/", 1, big, far())
        .expect("one big body fits");
    assert_eq!(
        slots.hold("http://h0.example/", 2, big, far()),
        Err(2),
        "bytes are bounded too"
    );
}
