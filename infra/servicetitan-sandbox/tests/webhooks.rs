//! Webhook emission: envelopes, signatures, per-event URLs and the retry schedule on the sandbox clock.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use common::{Api, customer_and_job, start};
use domain::VirtualClock;
use domain::signing::{SignatureEncoding, VerificationKey, verify};
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use servicetitan_sandbox::{Sandbox, WebhookConfig, WebhookEnvelope};

const KEY: &str = "whsec-test-key";

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1:0 answering `status`; returns it and its base URL.
    async fn start(status: u16) -> (Receiver, String) {
        let rx = Receiver::default();
        rx.status.store(status, Ordering::SeqCst);
        let app = axum::Router::new().fallback(record).with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (rx, format!("http://{addr}"))
    }

    fn all(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

async fn record(State(rx): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes) -> AxumStatus {
    rx.requests.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    AxumStatus::from_u16(rx.status.load(Ordering::SeqCst)).unwrap()
}

struct Key(&'static str);

impl VerificationKey for Key {
    fn key_id(&self) -> &str {
        "test"
    }
    fn key_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..100 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn of_type(sb: &Sandbox, event_type: &str) -> Vec<Value> {
    sb.deliveries()
        .into_iter()
        .filter(|d| d["eventType"] == event_type)
        .collect()
}

/// Creates a job and an Open estimate on it; returns the estimate id.
async fn open_estimate(api: &Api) -> i64 {
    let (_, _, job) = customer_and_job(api, "Lee Ortega", "512-555-0190").await;
    let e = api
        .post(
            "sales",
            "/estimates",
            &json!({ "jobId": job["id"], "name": "AC", "items": [{ "skuName": "AC", "unitPrice": 100.0 }] }),
        )
        .await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.text);
    e.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn sold_estimate_is_delivered_signed_with_the_default_envelope() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (rx, url) = Receiver::start(200).await;
    let estimate = open_estimate(&api).await;
    sb.configure_webhooks(WebhookConfig {
        callback_url: format!("{url}/hooks/st"),
        hmac_key: Some(KEY.into()),
        ..WebhookConfig::default()
    });
    let t = api.creds.tenant_id;
    let sold = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/estimates/{estimate}/sell"),
            Some(&json!({ "soldBy": 7 })),
        )
        .await;
    assert_eq!(sold.status, StatusCode::OK, "{}", sold.text);
    assert_eq!(sold.json["status"]["name"], "Sold");

    wait_for("delivery", || {
        of_type(&sb, "estimate.sold")
            .first()
            .is_some_and(|d| d["state"] == "delivered")
    })
    .await;
    let reqs = rx.all();
    assert_eq!(reqs.len(), 1, "exactly one webhook");
    let r = &reqs[0];
    assert_eq!(r.path, "/hooks/st");
    let sig = r.headers.get("X-ServiceTitan-Signature").and_then(|v| v.to_str().ok());
    assert_eq!(verify(sig, SignatureEncoding::Base64, &r.body, &[Key(KEY)]), Ok("test"));
    assert!(verify(sig, SignatureEncoding::Base64, &r.body, &[Key("wrong")]).is_err());

    let body = r.json();
    assert_eq!(body["eventType"], "estimate.sold");
    assert_eq!(body["tenantId"], t.to_string());
    assert!(body["eventId"].as_str().is_some_and(|s| !s.is_empty()));
    let occurred = body["occurredAt"].as_str().unwrap();
    assert!(
        occurred.ends_with('Z') && occurred.parse::<jiff::Timestamp>().is_ok(),
        "{occurred}"
    );
    let get = api.get("sales", &format!("/estimates/{estimate}")).await;
    assert_eq!(body["data"], get.json, "data is the entity as GET returns it");

    let d = &of_type(&sb, "estimate.sold")[0];
    assert_eq!(d["eventId"], body["eventId"]);
    assert_eq!(d["tenantId"], t);
    assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(d["attempts"][0]["status"], 200);

    // The HTTP control shows the same list.
    let listed = api.control(Method::GET, "/webhooks/deliveries", None).await;
    assert_eq!(listed.json, json!(sb.deliveries()));
    sb.stop().await;
}

#[tokio::test]
async fn per_event_urls_hex_encoding_and_v1_envelope_via_http_control() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (rx, url) = Receiver::start(200).await;
    let estimate = open_estimate(&api).await;
    let t = api.creds.tenant_id;
    let cfg = api
        .control(
            Method::PUT,
            "/webhooks",
            Some(&json!({
                "callbackUrl": format!("{url}/cb"), "hmacKey": KEY, "header": "X-Sig", "encoding": "hex",
                "envelope": "v1", "perEventUrls": true, "tenantId": t,
            })),
        )
        .await;
    assert_eq!(cfg.status, StatusCode::OK, "{}", cfg.text);
    // The API's own sell emits too.
    let sold = api
        .put(
            "sales",
            &format!("/estimates/{estimate}/sell"),
            Some(&json!({ "soldBy": 7 })),
        )
        .await;
    assert_eq!(sold.status, StatusCode::OK, "{}", sold.text);
    wait_for("delivery", || rx.all().len() == 1).await;
    let r = &rx.all()[0];
    assert_eq!(r.path, "/cb/estimate.sold");
    let sig = r.headers.get("X-Sig").and_then(|v| v.to_str().ok());
    assert_eq!(sig.map(str::len), Some(64), "hex digest");
    assert_eq!(verify(sig, SignatureEncoding::Hex, &r.body, &[Key(KEY)]), Ok("test"));

    let body = r.json();
    assert_eq!(body["id"], estimate, "entity fields at top level");
    assert_eq!(body["status"]["name"], "Sold");
    assert!(body["eventId"].is_string());
    assert_eq!(body["__eventInfo"]["eventId"], body["eventId"]);
    assert_eq!(body["__eventInfo"]["webhookType"], "EstimateSold");
    assert_eq!(body["__tenantInfo"]["id"], t);
    assert!(body["__tenantInfo"]["name"].is_string());
    assert!(body.get("data").is_none());

    // Another tenant's events are filtered out; DELETE turns emission off.
    let other = sb.create_tenant("Other Co");
    let other_api = Api::new(&sb, other).await;
    let _ = customer_and_job(&other_api, "Pat", "512-555-0101").await;
    let off = api.control(Method::DELETE, "/webhooks", None).await;
    assert_eq!(off.status, StatusCode::OK);
    let _ = customer_and_job(&api, "Sam", "512-555-0102").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sb.deliveries().len(), 1, "{:?}", sb.deliveries());
    sb.stop().await;
}

#[tokio::test]
async fn failed_deliveries_retry_on_the_sandbox_clock_then_fail() {
    let clock = Arc::new(VirtualClock::new());
    let sb = start(true, Some(clock.clone())).await;
    let api = Api::demo(&sb).await;
    let (rx, url) = Receiver::start(500).await;
    let estimate = open_estimate(&api).await;
    sb.configure_webhooks(WebhookConfig {
        callback_url: url,
        hmac_key: Some(KEY.into()),
        envelope: WebhookEnvelope::Default,
        ..WebhookConfig::default()
    });
    let t = api.creds.tenant_id;
    let sold = api
        .control(Method::POST, &format!("/tenants/{t}/estimates/{estimate}/sell"), None)
        .await;
    assert_eq!(sold.status, StatusCode::OK, "{}", sold.text);

    let attempts = |sb: &Sandbox| of_type(sb, "estimate.sold")[0]["attempts"].as_array().unwrap().len();
    wait_for("first attempt", || attempts(&sb) == 1).await;
    for (expected, delay) in (1..).zip([10, 30, 60, 300]) {
        // Just short of the delay: no retry.
        clock.advance(SignedDuration::from_secs(delay - 2));
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(attempts(&sb), expected, "no retry before +{delay}s");
        assert_eq!(rx.all().len(), expected);
        assert_eq!(of_type(&sb, "estimate.sold")[0]["state"], "pending");
        clock.advance(SignedDuration::from_secs(2));
        wait_for("retry", || attempts(&sb) == expected + 1).await;
    }
    wait_for("failed", || of_type(&sb, "estimate.sold")[0]["state"] == "failed").await;
    clock.advance(SignedDuration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let d = &of_type(&sb, "estimate.sold")[0];
    assert_eq!(d["attempts"].as_array().unwrap().len(), 5);
    assert!(d["attempts"].as_array().unwrap().iter().all(|a| a["status"] == 500));

    let reqs = rx.all();
    assert_eq!(reqs.len(), 5);
    assert!(
        reqs.iter().all(|r| r.body == reqs[0].body),
        "retries carry the same body"
    );
    assert!(reqs.iter().all(|r| r.json()["eventId"] == d["eventId"]));
    sb.stop().await;
}

#[tokio::test]
async fn payment_control_and_job_scenarios_emit() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (rx, url) = Receiver::start(200).await;
    sb.configure_webhooks(WebhookConfig {
        callback_url: url,
        ..WebhookConfig::default()
    });
    let t = api.creds.tenant_id;
    let (_, _, job) = customer_and_job(&api, "Morgan Ellis", "512-555-0166").await;
    let job_id = job["id"].as_i64().unwrap();
    let appointment = job["firstAppointmentId"].as_i64().unwrap();
    let invoice_id = job["invoiceId"].as_i64().unwrap();

    let d = api
        .control(Method::POST, &format!("/tenants/{t}/jobs/{job_id}/dispatch"), None)
        .await;
    assert_eq!(d.json["jobStatus"], "Dispatched", "{}", d.text);
    let ns = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/appointments/{appointment}/no-show"),
            None,
        )
        .await;
    assert_eq!(ns.json["status"], "Dispatched", "no-show leaves the status");
    let done = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/jobs/{job_id}/complete"),
            Some(&json!({ "total": "250.00" })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let pay = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/payments"),
            Some(&json!({ "invoiceId": invoice_id, "amount": "100.00" })),
        )
        .await;
    assert_eq!(pay.status, StatusCode::OK, "{}", pay.text);

    wait_for("payment.posted", || {
        rx.all().iter().any(|r| r.json()["eventType"] == "payment.posted")
    })
    .await;
    let posted = rx
        .all()
        .into_iter()
        .find(|r| r.json()["eventType"] == "payment.posted")
        .unwrap();
    assert!(
        posted.headers.get("X-ServiceTitan-Signature").is_none(),
        "no key, no signature"
    );
    assert_eq!(posted.json()["data"], pay.json);
    for ty in [
        "job.scheduled",
        "job.dispatched",
        "appointment.changed",
        "appointment.no_show",
        "invoice.created",
        "job.completed",
        "payment.posted",
    ] {
        assert!(!of_type(&sb, ty).is_empty(), "{ty} emitted");
    }
    // Sent/viewed are webhook-only: the estimate stays Open.
    let estimate = open_estimate(&api).await;
    for action in ["send", "view"] {
        let r = api
            .control(
                Method::POST,
                &format!("/tenants/{t}/estimates/{estimate}/{action}"),
                None,
            )
            .await;
        assert_eq!(r.json["status"]["name"], "Open", "{}", r.text);
    }
    let dismissed = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/estimates/{estimate}/dismiss"),
            None,
        )
        .await;
    assert_eq!(dismissed.json["status"]["name"], "Dismissed");
    let (_, _, job2) = customer_and_job(&api, "Sam Park", "512-555-0177").await;
    let canceled = api
        .put(
            "jpm",
            &format!("/jobs/{}/cancel", job2["id"]),
            Some(&json!({ "reasonId": 1, "memo": "customer called" })),
        )
        .await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.text);
    assert_eq!(of_type(&sb, "job.canceled").len(), 1);
    for ty in [
        "estimate.created",
        "estimate.sent",
        "estimate.viewed",
        "estimate.dismissed",
    ] {
        assert_eq!(of_type(&sb, ty).len(), 1, "{ty}");
    }
    sb.stop().await;
}
