//! Micro-benchmarks of the contract's hot paths: signing and verifying bodies of
//! typical sizes, and parsing / serialising a realistic order record and envelope.
//!
//! Run with `cargo bench -p klikit-webhook`; results land in `target/criterion/`.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use klikit_webhook::{Envelope, Order, header, receive, sign, verify};
use std::hint::black_box;

const SECRET: &[u8] = b"whsk_bench_0123456789abcdef0123456789abcdef";

/// The seed's example order, with a real cart instead of its `"..."` placeholder and
/// the fields klikit's platform adds (timestamps, version, currency, total).
const ORDER: &str = r#"{"id":7585307,"external_id":"ABC-123","business_id":737,"brands":[{"id":663,"title":"Bali Bites"}],"branch_id":1062,"status":2,"cart":[{"id":1,"name":"Nasi Goreng Spesial","quantity":2,"unit_price":"45000.00","price":"90000.00","modifier_groups":[{"id":11,"name":"Spice level","modifiers":[{"id":111,"name":"Extra hot","quantity":1,"price":"0.00"}]}]},{"id":2,"name":"Es Teh Manis","quantity":1,"unit_price":"8000.00","price":"8000.00"}],"payment_status":1,"payment_channel":8,"payment_method":14,"placed_at":"2026-11-28T10:00:00Z","updated_at":"2026-11-28T10:02:00Z","version":2,"currency":"IDR","total":"98000.00"}"#;

/// An envelope of `orders` copies of [`ORDER`], as hookit forms it.
fn envelope_body(orders: usize) -> Vec<u8> {
    let records = vec![ORDER; orders].join(",");
    format!(r#"{{"brand_id":663,"branch_id":1062,"orders":[{records}]}}"#).into_bytes()
}

/// A body of exactly `size` bytes (JSON-ish filler; signing does not care).
fn body_of(size: usize) -> Vec<u8> {
    ORDER.bytes().cycle().take(size).collect()
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature");
    for (label, size) in [
        ("100B", 100),
        ("1KiB", 1024),
        ("10KiB", 10 * 1024),
        ("100KiB", 100 * 1024),
    ] {
        let body = body_of(size);
        let signature = sign(SECRET, &body);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sign", label), &body, |b, body| {
            b.iter(|| sign(black_box(SECRET), black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("verify", label), &body, |b, body| {
            b.iter(|| {
                verify(
                    black_box(SECRET),
                    black_box(body),
                    Some(black_box(&signature)),
                )
            })
        });
    }
    group.finish();
}

fn orders(c: &mut Criterion) {
    let mut group = c.benchmark_group("order");
    let order = Order::from_json_bytes(ORDER.as_bytes()).expect("the bench order parses");
    group.throughput(Throughput::Bytes(ORDER.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| Order::from_json_bytes(black_box(ORDER.as_bytes())))
    });
    group.bench_function("serialise", |b| {
        b.iter(|| black_box(&order).to_json_bytes())
    });
    group.finish();
}

fn envelopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    for orders in [1, 50] {
        let body = envelope_body(orders);
        let envelope = Envelope::from_json_bytes(&body).expect("the bench envelope parses");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", orders), &body, |b, body| {
            b.iter(|| Envelope::from_json_bytes(black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("serialise", orders), &envelope, |b, e| {
            b.iter(|| black_box(e).to_json_bytes())
        });
        let signature = sign(SECRET, &body);
        let headers = [
            (header::SIGNATURE, signature.clone()),
            (
                header::EVENT_ID,
                "evt_0123456789abcdef0123456789abcdef".to_owned(),
            ),
            (header::EVENT_TYPE, "klikit.order.status.updated".to_owned()),
        ];
        group.bench_with_input(BenchmarkId::new("receive", orders), &body, |b, body| {
            b.iter_batched(
                || headers.clone(),
                |headers| receive(SECRET, &headers, black_box(body)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Short warm-up and measurement: these functions take micro- to milliseconds, so a
/// couple of seconds each gives stable medians and keeps the whole run near a minute.
fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = quick();
    targets = signatures, orders, envelopes
}
criterion_main!(benches);
