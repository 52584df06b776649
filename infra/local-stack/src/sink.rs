//! A local stand-in for the AI platform: it receives follow-ups at `POST /_local/sink`, verifies each Standard
//! Webhooks signature with the stack's signing secret on the virtual clock, and records every delivery for
//! `GET /_local/outbox`. Like a careful receiver it answers a repeated `webhook-id` with 200 and does not perform
//! it twice (the outbox marks it a duplicate).
//!
//! `PUT /_local/sink/behaviour` makes it misbehave for tests and demos: fail with a status for a while, or answer
//! with an opt-out for some recipients. `DELETE` restores it; `DELETE /_local/outbox` empties the outbox.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::SharedClock;
use shared::clock::iso_millis;
use shared::standard_webhooks::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningSecret};

/// How the sink answers, until told otherwise.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Behaviour {
    /// Answer this status (e.g. 503) instead of 200...
    pub status: Option<u16>,
    /// ...for this long on the virtual clock from now (forever when absent).
    pub for_seconds: Option<i64>,
    /// Sent with a 429 or 503.
    pub retry_after: Option<u64>,
    /// Recipients (E.164 or email) whose delivery is answered `{"optOut": true}`.
    pub opt_out: BTreeSet<String>,
    /// Answer `307 Temporary Redirect` to this URL (for `for_seconds`), as a misbehaving or hostile receiver might.
    pub redirect_to: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    pub webhook_id: Option<String>,
    /// `webhook-timestamp`, as an instant.
    pub timestamp: Option<String>,
    pub received_at: String,
    pub verified: bool,
    pub verify_error: Option<String>,
    /// What the sink answered.
    pub status: u16,
    /// Answered 200 for a `webhook-id` already delivered.
    pub duplicate: bool,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Recorded>,
    delivered_ids: HashSet<String>,
    behaviour: Behaviour,
    failing_until: Option<Timestamp>,
}

#[derive(Clone)]
pub struct LocalSink {
    secret: Arc<SigningSecret>,
    clock: SharedClock,
    inner: Arc<Mutex<Inner>>,
}

impl LocalSink {
    pub fn new(secret: SigningSecret, clock: SharedClock) -> Self {
        Self {
            secret: Arc::new(secret),
            clock,
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<Recorded> {
        self.lock().deliveries.clone()
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.failing_until = b.for_seconds.map(|s| now + SignedDuration::from_secs(s));
        inner.behaviour = b;
    }

    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, HeaderMap, Value) {
        let now = self.clock.now();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verified = self.secret.verify(
            header(HEADER_ID),
            header(HEADER_TIMESTAMP),
            header(HEADER_SIGNATURE),
            body,
            now,
        );
        let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let webhook_id = header(HEADER_ID).map(str::to_owned);
        let timestamp = header(HEADER_TIMESTAMP)
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|s| Timestamp::from_second(s).ok())
            .map(iso_millis);
        let mut inner = self.lock();
        let mut reply_headers = HeaderMap::new();
        let (status, reply, duplicate) = if let Err(e) = &verified {
            (StatusCode::UNAUTHORIZED, json!({"error": e.to_string()}), false)
        } else if let Some(location) = inner
            .behaviour
            .redirect_to
            .clone()
            .filter(|_| inner.failing_until.is_none_or(|until| now < until))
        {
            if let Ok(value) = location.parse() {
                reply_headers.insert(axum::http::header::LOCATION, value);
            }
            (StatusCode::TEMPORARY_REDIRECT, json!({"redirect": location}), false)
        } else if let Some(code) = inner
            .behaviour
            .status
            .filter(|_| inner.failing_until.is_none_or(|until| now < until))
        {
            if let Some(secs) = inner.behaviour.retry_after {
                reply_headers.insert(
                    "retry-after",
                    secs.to_string().parse().expect("a number is a header value"),
                );
            }
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (status, json!({"error": "the local sink is told to fail"}), false)
        } else {
            let id = webhook_id.clone().unwrap_or_default();
            let duplicate = !inner.delivered_ids.insert(id);
            let recipient = &json_body["data"]["recipient"];
            let opted = [&recipient["phone"], &recipient["email"]]
                .iter()
                .filter_map(|v| v.as_str())
                .any(|a| inner.behaviour.opt_out.contains(a));
            let mut reply = json!({"accepted": true, "duplicate": duplicate});
            if opted {
                reply["optOut"] = json!(true);
            }
            (StatusCode::OK, reply, duplicate)
        };
        inner.deliveries.push(Recorded {
            webhook_id,
            timestamp,
            received_at: iso_millis(now),
            verified: verified.is_ok(),
            verify_error: verified.err().map(|e| e.to_string()),
            status: status.as_u16(),
            duplicate,
            body: json_body,
        });
        (status, reply_headers, reply)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutboxQuery {
    tenant_id: Option<String>,
}

/// The sink's routes under `/_local/`.
pub fn routes(sink: LocalSink) -> Router {
    Router::new()
        .route(
            "/_local/sink",
            post(
                |State(sink): State<LocalSink>, headers: HeaderMap, body: Bytes| async move {
                    let (status, headers, reply) = sink.receive(&headers, &body);
                    (status, headers, Json(reply))
                },
            ),
        )
        .route(
            "/_local/sink/behaviour",
            put(|State(sink): State<LocalSink>, Json(b): Json<Behaviour>| async move {
                sink.set_behaviour(b.clone());
                Json(json!({"behaviour": b}))
            })
            .delete(|State(sink): State<LocalSink>| async move {
                sink.set_behaviour(Behaviour::default());
                Json(json!({"behaviour": Behaviour::default()}))
            }),
        )
        .route(
            "/_local/outbox",
            get(
                |State(sink): State<LocalSink>, Query(q): Query<OutboxQuery>| async move {
                    let deliveries: Vec<Recorded> = sink
                        .deliveries()
                        .into_iter()
                        .filter(|d| {
                            q.tenant_id
                                .as_deref()
                                .is_none_or(|t| d.body["data"]["tenantId"].as_str() == Some(t))
                        })
                        .collect();
                    let delivered = deliveries.iter().filter(|d| d.status == 200 && !d.duplicate).count();
                    Json(json!({"delivered": delivered, "deliveries": deliveries}))
                },
            )
            .delete(|State(sink): State<LocalSink>| async move {
                let mut inner = sink.lock();
                let cleared = inner.deliveries.len();
                inner.deliveries.clear();
                Json(json!({"cleared": cleared}))
            }),
        )
        .with_state(sink)
}
