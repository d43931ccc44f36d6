//! Entry points for coverage-guided fuzzing (the targets in `fuzz/`) and for the test
//! that replays the committed corpora on the stable toolchain
//! (`tests/fuzz_corpora.rs`). Each takes arbitrary bytes and returns nothing; it panics
//! only when a parser breaks a promise (a panic of its own, or an invariant checked
//! here), which is what a fuzzer reports as a crash.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{format_duration, parse_byte_size, parse_duration, parse_retry_schedule};
use crate::target_policy::{forbidden_reason, validate_target_url};
use klikit_webhook::{Envelope, header, receive, sign, verify};

/// One fuzz entry point: arbitrary bytes in, a panic on a broken promise.
pub type EntryPoint = fn(&[u8]);

/// The fuzz targets by name, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` call them.
pub const TARGETS: [(&str, EntryPoint); 5] = [
    ("signature", signature),
    ("webhook_envelope", webhook_envelope),
    ("ingest_item", ingest_item),
    ("config_values", config_values),
    ("target_policy", target_policy),
];

/// Splits off a field whose length is the first byte: a fuzzer finds the layout fast,
/// and every input means something.
fn take_field(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        None => (&[], &[]),
        Some((&len, rest)) => rest.split_at(usize::from(len).min(rest.len())),
    }
}

/// Signature header parsing and verification, and `receive` (signature first, then
/// headers, then the body). Input: secret field, header field, body.
pub fn signature(data: &[u8]) {
    let (secret, rest) = take_field(data);
    let (header_value, body) = take_field(rest);
    let header_text = String::from_utf8_lossy(header_value);
    let correct = sign(secret, body);
    assert_eq!(correct.len(), 64, "a signature is 64 hex characters");
    assert!(
        verify(secret, body, Some(&correct)).is_ok(),
        "sign then verify"
    );
    if verify(secret, body, Some(&header_text)).is_ok() {
        assert_eq!(header_text, correct, "only the exact signature verifies");
    }
    let headers = [
        (header::SIGNATURE, correct.as_bytes()),
        (header::EVENT_ID, header_value),
        (header::EVENT_TYPE, b"klikit.order.created.v2".as_slice()),
    ];
    let _ = receive(secret, &headers, body);
    let forged = [(header::SIGNATURE, header_value)];
    if receive(secret, &forged, body).is_ok() {
        assert_eq!(
            header_value,
            correct.as_bytes(),
            "a forged signature passed"
        );
    }
}

/// Receiver-side envelope and order parsing: what parses writes back out and parses
/// again to the same orders.
pub fn webhook_envelope(data: &[u8]) {
    let Ok(envelope) = Envelope::from_json_bytes(data) else {
        return;
    };
    let written = envelope.to_json_bytes();
    let again = Envelope::from_json_bytes(&written)
        .unwrap_or_else(|err| panic!("a written envelope does not parse again: {err}"));
    assert_eq!(
        (again.brand_id, again.branch_id),
        (envelope.brand_id, envelope.branch_id)
    );
    let ids = |e: &Envelope| e.orders.iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&envelope));
}

/// Ingest-side parsing: the check for unreadable JSON (keys given twice, lone
/// surrogates, numbers beyond a double, deep nesting) every body passes first, then one
/// `{"event", "order"}` item with its validation.
pub fn ingest_item(data: &[u8]) {
    if crate::api::first_flaw(data).is_some() {
        return;
    }
    if let Ok(item) = crate::api::parse_ingest_item(data, "", i64::MAX) {
        assert!(
            item.order.id > 0,
            "ingest accepted order id {}",
            item.order.id
        );
    }
}

/// Duration, byte size and retry schedule syntax: a parsed duration formats to text
/// that parses back to it.
pub fn config_values(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = parse_duration(text) {
        let formatted = format_duration(duration);
        assert_eq!(
            parse_duration(&formatted).ok(),
            Some(duration),
            "{text:?} formatted as {formatted:?}"
        );
    }
    let _ = parse_byte_size(text);
    if let Ok(schedule) = parse_retry_schedule(text) {
        assert!(!schedule.is_empty() && schedule.len() <= 100);
    }
}

/// The URL and IP target policy: IPv4 forms embedded in IPv6 are judged as the IPv4
/// address, and a URL accepted without private targets is `https` to no forbidden
/// literal address.
pub fn target_policy(data: &[u8]) {
    if let Some(octets) = data.first_chunk::<4>() {
        let v4 = Ipv4Addr::from(*octets);
        assert_eq!(
            forbidden_reason(IpAddr::V6(v4.to_ipv6_mapped())).is_some(),
            forbidden_reason(IpAddr::V4(v4)).is_some(),
            "{v4} and its IPv4-mapped form are judged alike"
        );
    }
    if let Some(octets) = data.first_chunk::<16>() {
        let _ = forbidden_reason(IpAddr::V6(Ipv6Addr::from(*octets)));
    }
    let text = String::from_utf8_lossy(data);
    let _ = validate_target_url(&text, true);
    if let Ok(url) = validate_target_url(&text, false) {
        let url = url.as_url();
        assert_eq!(url.scheme(), "https", "{text:?} accepted as {url}");
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            assert_eq!(forbidden_reason(ip), None, "{text:?} reaches {ip}");
        }
    }
}
