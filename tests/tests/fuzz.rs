//! Fuzzing the parsers that take outside input: arbitrary bytes, and arbitrary JSON documents built from random
//! bytes to look like what each parser expects (so that runs get past "not JSON"). Each target must never panic,
//! and must answer bad input with field-level reasons, never by accepting it silently.
//!
//! cargo-fuzz needs a nightly compiler, so these are seeded random runs on stable: a fast generator instead of
//! proptest's (whose strategies run at a few thousand cases a second unoptimised). `make test` runs a short pass
//! (`FUZZ_CASES`, 2,000 per target by default); `make fuzz` runs the long one. Each target prints its count, rate
//! and seed (`FUZZ_SEED` repeats a run); `docs/reliability.md` records the long run's figures.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

fn cases() -> u64 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}

/// xorshift64*: fast, and enough spread for fuzzing.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, max: u64) -> String {
        match self.below(4) {
            0 => String::from_utf8_lossy(&self.bytes(max)).into_owned(),
            1 => (0..self.below(max + 1))
                .map(|_| char::from(b' ' + self.below(95) as u8))
                .collect(),
            2 => (0..self.below(max / 4 + 1))
                .filter_map(|_| char::from_u32(self.below(0x11_0000) as u32))
                .collect(),
            _ => SAMPLES[self.below(SAMPLES.len() as u64) as usize].to_owned(),
        }
    }
    fn scalar(&mut self) -> Value {
        match self.below(6) {
            0 => Value::Null,
            1 => Value::from(self.below(2) == 0),
            2 => Value::from(self.next() as i64),
            3 => serde_json::Number::from_f64(f64::from_bits(self.next())).map_or(Value::Null, Value::Number),
            _ => Value::from(self.text(40)),
        }
    }
    /// A JSON document up to `depth` levels deep, its keys mostly the parsers' own.
    fn document(&mut self, depth: u32) -> Value {
        if depth == 0 || self.below(3) == 0 {
            return self.scalar();
        }
        if self.below(4) == 0 {
            return Value::Array((0..self.below(5)).map(|_| self.document(depth - 1)).collect());
        }
        let mut map = Map::new();
        for _ in 0..self.below(10) {
            let key = if self.below(5) == 0 {
                self.text(12)
            } else {
                KEYS[self.below(KEYS.len() as u64) as usize].to_owned()
            };
            map.insert(key, self.document(depth - 1));
        }
        Value::Object(map)
    }
    fn object(&mut self) -> Value {
        match self.document(4) {
            d @ Value::Object(_) => d,
            other => json!({"data": other}),
        }
    }
}

/// Runs `target` [`cases`] times on generated input; counts panics (each printed) and fails if there was any.
fn fuzz(name: &str, mut target: impl FnMut(&mut Gen)) {
    let (n, seed) = (cases(), seed());
    let mut g = Gen(seed);
    let started = Instant::now();
    let mut panics = 0u64;
    for _ in 0..n {
        if catch_unwind(AssertUnwindSafe(|| target(&mut g))).is_err() {
            panics += 1;
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
    eprintln!("fuzz {name}: {n} executions, {panics} panics, {rate:.0}/s, FUZZ_SEED={seed}");
    assert_eq!(
        panics, 0,
        "fuzz {name}: {panics} of {n} inputs panicked (FUZZ_SEED={seed})"
    );
}

/// Words the parsers look for, so generated objects hit their fields.
const KEYS: &[&str] = &[
    "tenantId",
    "eventId",
    "eventType",
    "occurredAt",
    "data",
    "id",
    "leadId",
    "source",
    "name",
    "phone",
    "email",
    "address",
    "street",
    "unit",
    "city",
    "state",
    "zip",
    "country",
    "summary",
    "transcript",
    "recordingUrl",
    "consent",
    "channel",
    "from",
    "to",
    "text",
    "businessUnitId",
    "jobTypeId",
    "campaignId",
    "timeZone",
    "bookingUrl",
    "followupSinkUrl",
    "recipes",
    "channels",
    "quietHours",
    "start",
    "end",
    "cap",
    "companyName",
    "steps",
    "after",
    "message",
    "enabled",
    "__tenantInfo",
    "__eventInfo",
    "webhookType",
    "modifiedOn",
    "serviceRequested",
    "sms",
];

/// Values the parsers treat specially.
const SAMPLES: &[&str] = &[
    "1001",
    "+15125550100",
    "512-555-0100",
    "2026-12-03T10:00:00Z",
    "22:00",
    "https://a.example.com/x",
    "http://127.0.0.1/",
    "https://169.254.169.254/",
    "sms",
    "voice",
    "email",
    "chat",
    "estimate.sent",
    "America/Chicago",
    "",
    " ",
    "9999999999999999999999",
    "-1",
    "0",
    "78704",
    "TX",
];

fn now() -> Timestamp {
    "2026-12-03T12:00:00Z".parse().unwrap()
}

#[test]
fn webhook_intake_parse_and_normalise() {
    let scheme = shared::webhook_scheme::EnvelopeScheme::default();
    let normaliser = webhook_intake::normalise::Normaliser::new(&scheme);
    let check = |path: Option<String>, body: &[u8]| {
        if let Err(e) = normaliser.normalise(path.as_deref(), body, now()) {
            assert!(e.status.is_client_error(), "{e:?}");
        }
    };
    fuzz("webhook intake (bytes)", |g| {
        let path = (g.below(2) == 0).then(|| g.text(20));
        check(path, &g.bytes(512));
    });
    fuzz("webhook intake (JSON)", |g| {
        let path = (g.below(2) == 0).then(|| g.text(16));
        check(path, g.object().to_string().as_bytes());
    });
}

#[test]
fn lead_and_inbound_parsers() {
    fuzz("lead parser", |g| {
        if let Err(fields) = leads::lead::parse(&g.object(), "US", now()) {
            assert!(!fields.is_empty(), "a refusal names its fields");
        }
    });
    fuzz("inbound parser", |g| {
        if let Err(fields) = inbound_messages::parse(&g.object()) {
            assert!(!fields.is_empty());
        }
    });
    fuzz("lead and inbound parsers (bytes)", |g| {
        if let Ok(v) = serde_json::from_slice::<Value>(&g.bytes(256)) {
            let _ = leads::lead::parse(&v, "US", now());
            let _ = inbound_messages::parse(&v);
        }
    });
}

#[test]
fn settings() {
    let catalogue = followups::recipe::Catalogue::load().unwrap();
    let recipes = catalogue.ids();
    fuzz("settings", |g| {
        match shared::tenant_settings::parse(&g.object(), &recipes) {
            Ok(s) => {
                // What is accepted serialises and reads back.
                let again = serde_json::to_value(&s).unwrap();
                assert!(shared::tenant_settings::parse(&again, &recipes).is_ok(), "{again}");
            }
            Err(fields) => assert!(!fields.is_empty()),
        }
    });
}

#[test]
fn recipe_overrides() {
    let catalogue = followups::recipe::Catalogue::load().unwrap();
    let recipe = catalogue.get("estimate_follow_up").unwrap().clone();
    fuzz("recipe overrides", |g| {
        if let Err(fields) = recipe.with_override(&g.object()) {
            assert!(!fields.is_empty());
        }
    });
}

#[test]
fn signature_verifiers() {
    let secret = shared::standard_webhooks::SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    fuzz("Standard Webhooks verifier", |g| {
        let id = (g.below(4) != 0).then(|| g.text(40));
        let ts = (g.below(4) != 0).then(|| match g.below(2) {
            0 => now().as_second().to_string(),
            _ => g.text(12),
        });
        let sig = (g.below(4) != 0).then(|| match g.below(2) {
            0 => format!("v1,{}", base64_of(&g.bytes(40))),
            _ => g.text(80),
        });
        let body = g.bytes(256);
        // A random signature never verifies.
        assert!(
            secret
                .verify(id.as_deref(), ts.as_deref(), sig.as_deref(), &body, now())
                .is_err()
        );
    });
    let keys = [shared::signing_keys::SigningKey {
        id: "k1".into(),
        secret: "demo-webhook-hmac-key-0123456789abcdef".into(),
        not_after: None,
    }];
    fuzz("ServiceTitan HMAC verifier", |g| {
        let header = (g.below(4) != 0).then(|| match g.below(2) {
            0 => base64_of(&g.bytes(32)),
            _ => g.text(90),
        });
        let body = g.bytes(256);
        for encoding in [
            shared::signing::SignatureEncoding::Base64,
            shared::signing::SignatureEncoding::Hex,
        ] {
            assert!(shared::signing::verify(header.as_deref(), encoding, &body, &keys).is_err());
        }
    });
}

fn base64_of(bytes: &[u8]) -> String {
    shared::signing::encode(bytes, shared::signing::SignatureEncoding::Base64)
}
