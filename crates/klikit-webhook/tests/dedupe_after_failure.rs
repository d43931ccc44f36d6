//! A handler that fails after asking the de-dupe store must not make klikit's retry
//! look like a duplicate: only a recorded (handled) event id is one.

use klikit_webhook::{Dedupe, MemoryDedupe};
use std::time::Duration;

/// What a receiver does with one delivery of `event_id`: returns the HTTP status.
/// `handler_fails` stands for the partner's own processing failing.
fn deliver(seen: &dyn Dedupe, event_id: &str, handler_fails: bool, handled: &mut u32) -> u16 {
    if seen.already_handled(event_id).expect("de-dupe lookup") {
        return 200;
    }
    if handler_fails {
        return 500;
    }
    *handled += 1;
    seen.record_handled(event_id).expect("de-dupe record");
    200
}

fn a_failed_handler_leaves_the_retry_to_be_handled(seen: &dyn Dedupe) {
    let mut handled = 0;
    assert_eq!(deliver(seen, "evt_1", true, &mut handled), 500);
    assert!(
        !seen.already_handled("evt_1").expect("lookup"),
        "asking must not record the id"
    );
    assert_eq!(deliver(seen, "evt_1", false, &mut handled), 200);
    assert_eq!(handled, 1, "the retry after the failure was handled");
    assert_eq!(deliver(seen, "evt_1", false, &mut handled), 200);
    assert_eq!(handled, 1, "once handled, a further retry is a duplicate");
    assert!(!seen.already_handled("evt_2").expect("lookup"));
}

#[test]
fn memory_store_records_only_handled_events() {
    let seen = MemoryDedupe::new(100, Duration::from_secs(60));
    a_failed_handler_leaves_the_retry_to_be_handled(&seen);
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_records_only_handled_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seen = klikit_webhook::SqliteDedupe::open(dir.path().join("seen.db")).expect("open");
    a_failed_handler_leaves_the_retry_to_be_handled(&seen);
}
