//! Webhook emission: configuration, the outbox of deliveries and the background delivery engine.
//!
//! ServiceTitan V2 webhooks POST a JSON body to a callback URL on state changes and retry anything but 200 at 10, 30,
//! 60 and 300 seconds before giving up. The envelope and the signature scheme are not publicly documented, so both are
//! configurable; the defaults match this project's webhook intake (see the README).
//!
//! Events are queued under the world lock by the handlers (the webhook lock is always taken after the world lock, and
//! the engine never takes the world lock). The engine polls every 100 ms and schedules retries on the sandbox clock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use domain::SharedClock;
use domain::signing::{SignatureEncoding, encode, sign};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::Tenant;

/// Default signature header (what the project's intake reads).
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-ServiceTitan-Signature";
/// Delays before the 2nd..5th attempt, from the previous attempt, on the sandbox clock.
pub const RETRY_DELAYS_SECONDS: [i64; 4] = [10, 30, 60, 300];
/// Attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: usize = 1 + RETRY_DELAYS_SECONDS.len();
/// A due delivery handed to the engine: (index in the outbox, url, body, headers, extra copies).
type Due = (usize, String, Vec<u8>, Vec<(String, String)>, u32);

/// An event's first-attempt delay under [`WebhookConfig::reorder_seconds`]: a splitmix64 share of the window.
fn hold_back(event: u64, window: u32) -> i64 {
    if window == 0 {
        return 0;
    }
    let mut z = event.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % (u64::from(window) + 1)) as i64
}

const TICK: Duration = Duration::from_millis(100);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Body shape of emitted webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookEnvelope {
    /// `{eventId, eventType, tenantId, occurredAt, data}`.
    #[default]
    Default,
    /// ServiceTitan V1 style: the entity's fields at top level plus `eventId`, `__eventInfo`, `__tenantInfo`.
    V1,
}

/// Webhook emission settings (`PUT /_sandbox/webhooks`, [`crate::Sandbox::configure_webhooks`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookConfig {
    /// Where to POST (or the prefix of per-event URLs).
    pub callback_url: String,
    /// HMAC-SHA256 key; no signature header when absent.
    pub hmac_key: Option<String>,
    /// Signature header name.
    pub header: String,
    /// Digest encoding in the header (`auto` signs as base64).
    pub encoding: SignatureEncoding,
    pub envelope: WebhookEnvelope,
    /// POST to `{callbackUrl}/{eventType}` instead of `{callbackUrl}`.
    pub per_event_urls: bool,
    /// Only this tenant's events (all tenants when absent).
    pub tenant_id: Option<i64>,
    /// Chaos: every attempt is sent this many more times at once (a sender's duplicates).
    pub duplicates: u32,
    /// Chaos: each event's first attempt waits up to this many seconds (a fixed pseudo-random share per event), so
    /// events close together arrive out of order.
    pub reorder_seconds: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            callback_url: String::new(),
            hmac_key: None,
            header: DEFAULT_SIGNATURE_HEADER.into(),
            encoding: SignatureEncoding::Base64,
            envelope: WebhookEnvelope::Default,
            per_event_urls: false,
            tenant_id: None,
            duplicates: 0,
            reorder_seconds: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Attempt {
    at: Timestamp,
    status: Option<u16>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone)]
struct Delivery {
    event_id: String,
    event_type: String,
    tenant_id: i64,
    url: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    attempts: Vec<Attempt>,
    state: DeliveryState,
    next_at: Timestamp,
    in_flight: bool,
    /// Extra copies of each attempt ([`WebhookConfig::duplicates`]).
    copies: u32,
}

impl Delivery {
    fn json(&self) -> Value {
        let attempts: Vec<Value> = self
            .attempts
            .iter()
            .map(|a| {
                let mut o = json!({ "at": a.at.to_string() });
                if let Some(s) = a.status {
                    o["status"] = json!(s);
                }
                if let Some(e) = &a.error {
                    o["error"] = json!(e);
                }
                o
            })
            .collect();
        json!({
            "eventId": self.event_id,
            "eventType": self.event_type,
            "tenantId": self.tenant_id,
            "url": self.url,
            "attempts": attempts,
            "state": match self.state {
                DeliveryState::Pending => "pending",
                DeliveryState::Delivered => "delivered",
                DeliveryState::Failed => "failed",
            },
            "nextAttemptAt": (self.state == DeliveryState::Pending).then(|| self.next_at.to_string()),
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    config: Option<WebhookConfig>,
    deliveries: Vec<Delivery>,
    next_event: u64,
    /// Makes event ids unique across sandbox instances.
    nonce: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Webhooks(Mutex<Outbox>);

impl Webhooks {
    pub(crate) fn new(nonce: u64) -> Self {
        Self(Mutex::new(Outbox {
            nonce,
            ..Outbox::default()
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn configure(&self, config: Option<WebhookConfig>) {
        self.lock().config = config;
    }

    pub(crate) fn config(&self) -> Option<WebhookConfig> {
        self.lock().config.clone()
    }

    pub(crate) fn deliveries(&self) -> Vec<Value> {
        self.lock().deliveries.iter().map(Delivery::json).collect()
    }

    /// Queues `event_type` about `data` (the entity as the API's GET returns it) when emission is on for the tenant.
    pub(crate) fn emit(&self, t: &Tenant, event_type: &str, data: &Value, now: Timestamp) {
        let mut o = self.lock();
        let Some(cfg) = o.config.clone() else { return };
        if cfg.tenant_id.is_some_and(|id| id != t.id) {
            return;
        }
        o.next_event += 1;
        let event_id = format!("evt_{:016x}_{:06}", o.nonce, o.next_event);
        let body = match cfg.envelope {
            WebhookEnvelope::Default => json!({
                "eventId": event_id,
                "eventType": event_type,
                "tenantId": t.id.to_string(),
                "occurredAt": now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "data": data,
            }),
            WebhookEnvelope::V1 => {
                let mut m = data.as_object().cloned().unwrap_or_else(Map::new);
                m.insert("eventId".into(), json!(event_id));
                m.insert(
                    "__eventInfo".into(),
                    json!({ "eventId": event_id, "webhookType": v1_webhook_type(event_type) }),
                );
                m.insert("__tenantInfo".into(), json!({ "id": t.id, "name": t.name }));
                Value::Object(m)
            }
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(key) = cfg.hmac_key.as_deref() {
            let header = if cfg.header.trim().is_empty() {
                DEFAULT_SIGNATURE_HEADER.to_string()
            } else {
                cfg.header.clone()
            };
            headers.push((header, encode(&sign(key.as_bytes(), &body), cfg.encoding)));
        }
        let base = cfg.callback_url.trim_end_matches('/');
        let url = if cfg.per_event_urls {
            format!("{base}/{event_type}")
        } else {
            cfg.callback_url.clone()
        };
        let held_back = hold_back(o.next_event, cfg.reorder_seconds);
        o.deliveries.push(Delivery {
            event_id,
            event_type: event_type.to_string(),
            tenant_id: t.id,
            url,
            body,
            headers,
            attempts: Vec::new(),
            state: DeliveryState::Pending,
            next_at: now + SignedDuration::from_secs(held_back),
            in_flight: false,
            copies: cfg.duplicates,
        });
    }

    /// Marks due deliveries in flight and returns (index, url, body, headers) for each.
    fn take_due(&self, now: Timestamp) -> Vec<Due> {
        let mut o = self.lock();
        o.deliveries
            .iter_mut()
            .enumerate()
            .filter(|(_, d)| d.state == DeliveryState::Pending && !d.in_flight && d.next_at <= now)
            .map(|(i, d)| {
                d.in_flight = true;
                (i, d.url.clone(), d.body.clone(), d.headers.clone(), d.copies)
            })
            .collect()
    }

    fn record(&self, index: usize, attempt: Attempt) {
        let mut o = self.lock();
        let Some(d) = o.deliveries.get_mut(index) else { return };
        d.in_flight = false;
        let success = attempt.status.is_some_and(|s| (200..300).contains(&s));
        let at = attempt.at;
        d.attempts.push(attempt);
        let n = d.attempts.len();
        if success {
            d.state = DeliveryState::Delivered;
        } else if n >= MAX_ATTEMPTS {
            d.state = DeliveryState::Failed;
        } else {
            d.next_at = at + SignedDuration::from_secs(RETRY_DELAYS_SECONDS[n - 1]);
        }
    }
}

/// `estimate.sold` → `EstimateSold`, `appointment.no_show` → `AppointmentNoShow`.
pub fn v1_webhook_type(event_type: &str) -> String {
    event_type
        .split(['.', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Starts the delivery engine; it stops when `stop` fires or its sender is dropped.
pub(crate) fn spawn_engine(
    webhooks: Arc<Webhooks>,
    clock: SharedClock,
    mut stop: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder().timeout(SEND_TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client failed to build; emission disabled");
                return;
            }
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            let now = clock.now();
            for (index, url, body, headers, copies) in webhooks.take_due(now) {
                let post = {
                    let http = http.clone();
                    move || {
                        let mut req = http.post(&url).body(body.clone());
                        for (k, v) in &headers {
                            req = req.header(k.as_str(), v.as_str());
                        }
                        req
                    }
                };
                // A sender's duplicates: the same attempt again, at once; only the first one's answer counts.
                for _ in 0..copies {
                    let req = post();
                    tokio::spawn(async move {
                        let _ = req.send().await;
                    });
                }
                let webhooks = webhooks.clone();
                let req = post();
                tokio::spawn(async move {
                    let attempt = match req.send().await {
                        Ok(r) => Attempt {
                            at: now,
                            status: Some(r.status().as_u16()),
                            error: None,
                        },
                        Err(e) => Attempt {
                            at: now,
                            status: None,
                            error: Some(e.to_string()),
                        },
                    };
                    webhooks.record(index, attempt);
                });
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_types() {
        assert_eq!(v1_webhook_type("estimate.sold"), "EstimateSold");
        assert_eq!(v1_webhook_type("appointment.no_show"), "AppointmentNoShow");
    }
}
