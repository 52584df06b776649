//! The request log (`GET /_sandbox/requests`, [`crate::Sandbox::requests`]): every API request the sandbox answered,
//! so tests can check what a client sent. Controls (`/_sandbox/...`) and the token endpoint are not logged.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::AppState;
use crate::util::{ApiError, ts};

/// Entries kept; older ones are dropped first.
pub const MAX_LOGGED_REQUESTS: usize = 10_000;
/// Largest request body read (axum's default body limit, which the handlers apply anyway).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Entry {
    /// Arrival order: entries are kept sorted by it, so concurrent requests list in the order they came in.
    seq: u64,
    method: String,
    path: String,
    query: String,
    status: u16,
    body: Value,
    at: Timestamp,
}

impl Entry {
    fn json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "body": self.body,
            "at": ts(self.at),
        })
    }
}

#[derive(Debug)]
pub(crate) struct RequestLog {
    next_seq: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
    cap: usize,
}

impl RequestLog {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            next_seq: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
            cap,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, entry: Entry) {
        let mut log = self.lock();
        let at = log.iter().rposition(|e| e.seq < entry.seq).map_or(0, |i| i + 1);
        log.insert(at, entry);
        while log.len() > self.cap {
            log.pop_front();
        }
    }

    /// Oldest first.
    pub(crate) fn entries(&self) -> Vec<Value> {
        self.lock().iter().map(Entry::json).collect()
    }

    /// Forgets every entry; returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        let mut log = self.lock();
        let n = log.len();
        log.clear();
        n
    }
}

fn logged(path: &str) -> bool {
    path != "/connect/token" && path != "/_sandbox" && !path.starts_with("/_sandbox/")
}

/// Middleware around the whole router: records the request (its body parsed as JSON, or `null`) and the status
/// answered, including the gate's 401/403/429 and unknown paths.
pub(crate) async fn record(State(st): State<AppState>, req: Request<Body>, next: Next) -> Response {
    if !logged(req.uri().path()) {
        return next.run(req).await;
    }
    let log = st.requests();
    let seq = log.next_seq.fetch_add(1, Ordering::Relaxed);
    let at = st.now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (parts, body) = req.into_parts();
    let (response, body) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let parsed = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
            (next.run(Request::from_parts(parts, Body::from(bytes))).await, parsed)
        }
        Err(_) => (
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large.").into_response(),
            Value::Null,
        ),
    };
    log.push(Entry {
        seq,
        method,
        path,
        query,
        status: response.status().as_u16(),
        body,
        at,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            method: "GET".into(),
            path: format!("/crm/v2/tenant/1/customers/{seq}"),
            query: String::new(),
            status: 200,
            body: Value::Null,
            at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn keeps_arrival_order_and_the_newest_entries() {
        let log = RequestLog::new(3);
        // Answered out of order: 2 finished before 1.
        for seq in [0, 2, 1, 3] {
            log.push(entry(seq));
        }
        let paths: Vec<String> = log
            .entries()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            paths,
            ["1", "2", "3"].map(|n| format!("/crm/v2/tenant/1/customers/{n}"))
        );
        assert_eq!(log.clear(), 3);
        assert!(log.entries().is_empty());
    }

    #[test]
    fn the_default_cap_is_ten_thousand() {
        let log = RequestLog::new(MAX_LOGGED_REQUESTS);
        for seq in 0..(MAX_LOGGED_REQUESTS as u64 + 5) {
            log.push(entry(seq));
        }
        let entries = log.entries();
        assert_eq!(entries.len(), MAX_LOGGED_REQUESTS);
        assert_eq!(entries[0]["path"], "/crm/v2/tenant/1/customers/5");
    }

    #[test]
    fn controls_and_the_token_endpoint_are_not_logged() {
        assert!(logged("/crm/v2/tenant/1001/customers"));
        assert!(logged("/nope"));
        assert!(!logged("/connect/token"));
        assert!(!logged("/_sandbox/requests"));
        assert!(!logged("/_sandbox"));
    }
}
