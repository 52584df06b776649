//! The intake's hot path (verify the signature, normalise, build the queue message) on a 4 KB body, against a bare
//! HMAC-SHA256 of the same body, measured side by side in one run. Prints medians and their ratio.
//!
//! Run with `cargo bench -p webhook-intake` (or `make bench`).

use std::hint::black_box;
use std::time::Instant;

use shared::signing::{self, SignatureEncoding};
use shared::signing_keys::SigningKey;
use shared::webhook_scheme::EnvelopeScheme;
use webhook_intake::handler::queue_message;
use webhook_intake::normalise::{Normalised, Normaliser};

const ROUNDS: usize = 301;
const ITERS: usize = 200;

fn body_of_about(bytes: usize) -> String {
    let mut items = Vec::new();
    let mut body = String::new();
    for i in 0.. {
        items.push(serde_json::json!({
            "id": 1000 + i, "skuName": "AC-CONDENSER-2T", "description": "2-ton condenser, 14 SEER, install and haul-away",
            "qty": 1, "unitRate": 3120.5, "total": 3120.5
        }));
        body = serde_json::json!({
            "eventId": "evt-0001", "eventType": "estimate.sent", "tenantId": "1001",
            "occurredAt": "2026-11-28T10:00:00.1234567Z",
            "data": { "id": 90211, "jobId": 4411, "status": { "value": 0, "name": "Open" }, "items": items }
        })
        .to_string();
        if body.len() >= bytes {
            break;
        }
    }
    body
}

fn median_ns(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let body = body_of_about(4096);
    let key = "bench-webhook-hmac-key-0123456789abcdef";
    let one_key = vec![SigningKey {
        id: "k1".into(),
        secret: key.into(),
        not_after: None,
    }];
    // During a rotation two keys are active; the worst case is a match on the second key tried.
    let two_keys = vec![
        SigningKey {
            id: "k0".into(),
            secret: "older-webhook-hmac-key-0123456789abcd".into(),
            not_after: None,
        },
        one_key[0].clone(),
    ];
    let header = signing::encode(
        &signing::sign(key.as_bytes(), body.as_bytes()),
        SignatureEncoding::Base64,
    );
    let normaliser = Normaliser::new(&EnvelopeScheme::default());
    let now = jiff::Timestamp::now();

    let hot_path = |keys: &[SigningKey]| {
        signing::verify(Some(&header), SignatureEncoding::Auto, body.as_bytes(), keys).expect("verifies");
        let Normalised::Known(event) = normaliser.normalise(None, body.as_bytes(), now).expect("normalises") else {
            panic!("known event")
        };
        queue_message(&event).expect("fits a message")
    };
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..ITERS {
            f();
        }
        start.elapsed().as_nanos() as f64 / ITERS as f64
    };

    let (mut bare, mut one, mut two) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved rounds, so that machine noise hits all three alike.
    for _ in 0..ROUNDS {
        bare.push(time(&mut || {
            black_box(signing::sign(black_box(key.as_bytes()), black_box(body.as_bytes())));
        }));
        one.push(time(&mut || {
            black_box(hot_path(black_box(&one_key)));
        }));
        two.push(time(&mut || {
            black_box(hot_path(black_box(&two_keys)));
        }));
    }
    let (bare, one, two) = (median_ns(bare), median_ns(one), median_ns(two));
    println!(
        "intake hot path on a {} byte body ({ROUNDS} rounds x {ITERS} iterations, medians):",
        body.len()
    );
    let (r1, r2) = (one / bare, two / bare);
    println!("  bare HMAC-SHA256                           {bare:>9.0} ns");
    println!("  verify + normalise + queue message, 1 key  {one:>9.0} ns   ratio {r1:.2}");
    println!("  same, 2 active keys, match on the 2nd      {two:>9.0} ns   ratio {r2:.2}");
}
