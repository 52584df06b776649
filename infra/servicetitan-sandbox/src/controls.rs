//! Test controls under `/_sandbox/` (no auth, JSON in and out): tenants, fault rules, token revocation, stats and
//! scenario helpers (overdue invoice, payment, job completion).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::accounting::{apply_payment, invoice_json, payment_json};
use crate::api::jpm::{complete_job, job_json};
use crate::model::FaultRule;
use crate::util::{ApiError, ApiResult, P, day_start, ok, parse_money, typed};
use crate::{AppState, seed};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/_sandbox/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_sandbox/tokens/revoke", post(revoke_tokens))
        .route("/_sandbox/stats", get(stats))
        .route(
            "/_sandbox/tenants/{tenant}/invoices/{id}/overdue",
            post(invoice_overdue),
        )
        .route("/_sandbox/tenants/{tenant}/payments", post(create_payment))
        .route("/_sandbox/tenants/{tenant}/jobs/{id}/complete", post(complete))
}

/// A JSON object body; empty means `{}`.
fn json_body(bytes: &[u8]) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::field("$", format!("The body is not valid JSON: {e}")))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::field("$", "The body must be a JSON object."))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TenantReq {
    name: Option<String>,
}

async fn create_tenant(State(st): State<AppState>, body: Bytes) -> ApiResult {
    let req: TenantReq = typed(&json_body(&body)?)?;
    let now = st.now();
    let mut w = st.lock();
    let creds = seed::create_basic_tenant(&mut w, req.name.as_deref().unwrap_or(""), now);
    ok(serde_json::to_value(creds).unwrap_or_default())
}

async fn list_tenants(State(st): State<AppState>) -> ApiResult {
    let w = st.lock();
    let v: Vec<Value> = w
        .tenants
        .values()
        .map(|t| json!({ "name": t.name, "credentials": t.creds }))
        .collect();
    ok(json!(v))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FaultReq {
    path_contains: Option<String>,
    error_rate: Option<f64>,
    status: Option<u16>,
    latency_ms: Option<u64>,
    outage_seconds: Option<i64>,
}

async fn add_fault(State(st): State<AppState>, body: Bytes) -> ApiResult {
    let req: FaultReq = typed(&json_body(&body)?)?;
    let rate = req.error_rate.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&rate) {
        return Err(ApiError::field("errorRate", "errorRate must be between 0.0 and 1.0."));
    }
    let status = req.status.unwrap_or(503);
    if !(400..=599).contains(&status) {
        return Err(ApiError::field(
            "status",
            "status must be an HTTP error status (400-599).",
        ));
    }
    let now = st.now();
    let mut w = st.lock();
    let id = w.next_fault_id;
    w.next_fault_id += 1;
    let rule = FaultRule {
        id,
        path_contains: req.path_contains.unwrap_or_default(),
        error_rate: rate,
        status,
        latency_ms: req.latency_ms.unwrap_or(0),
        outage_until: req
            .outage_seconds
            .filter(|s| *s > 0)
            .map(|s| now + SignedDuration::from_secs(s)),
        matched: 0,
    };
    let out = serde_json::to_value(&rule).unwrap_or_default();
    w.faults.push(rule);
    ok(out)
}

async fn list_faults(State(st): State<AppState>) -> ApiResult {
    let w = st.lock();
    ok(serde_json::to_value(&w.faults).unwrap_or_default())
}

async fn clear_faults(State(st): State<AppState>) -> ApiResult {
    let mut w = st.lock();
    let n = w.faults.len();
    w.faults.clear();
    ok(json!({ "cleared": n }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RevokeReq {
    tenant_id: Option<i64>,
    client_id: Option<String>,
}

async fn revoke_tokens(State(st): State<AppState>, body: Bytes) -> ApiResult {
    let req: RevokeReq = typed(&json_body(&body)?)?;
    let mut w = st.lock();
    let mut n = 0;
    for info in w.tokens.values_mut() {
        let tenant_ok = req.tenant_id.is_none_or(|t| t == info.tenant_id);
        let client_ok = req.client_id.as_deref().is_none_or(|c| c == info.client_id);
        if !info.revoked && tenant_ok && client_ok {
            info.revoked = true;
            n += 1;
        }
    }
    ok(json!({ "revoked": n }))
}

async fn stats(State(st): State<AppState>) -> ApiResult {
    let w = st.lock();
    ok(json!({
        "tokenRequests": w.token_requests,
        "apiRequests": w.api_requests,
        "rateLimited": w.rate_limited,
    }))
}

async fn invoice_overdue(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| {
        let inv = t
            .invoices
            .get_mut(&p.id)
            .ok_or_else(|| ApiError::not_found("Invoice", p.id))?;
        inv.due_date = day_start(now - SignedDuration::from_hours(24 * 8));
        inv.modified_on = now;
        ok(invoice_json(t, &t.invoices[&p.id]))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PaymentReq {
    invoice_id: Option<i64>,
    amount: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
    memo: Option<String>,
}

async fn create_payment(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let req: PaymentReq = typed(&json_body(&body)?)?;
    let invoice_id = req
        .invoice_id
        .ok_or_else(|| ApiError::field("InvoiceId", "The InvoiceId field is required."))?;
    let amount = req
        .amount
        .as_ref()
        .and_then(parse_money)
        .ok_or_else(|| ApiError::field("Amount", "The Amount field is required (a decimal, e.g. \"100.00\")."))?;
    st.tenant(p.tenant, |t, now| {
        let kind = req.kind.clone().unwrap_or_else(|| "Credit Card".into());
        let id = apply_payment(t, invoice_id, amount, &kind, req.memo.clone(), now)?;
        ok(payment_json(t, &t.payments[&id]))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CompleteReq {
    total: Option<Value>,
}

async fn complete(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let req: CompleteReq = typed(&json_body(&body)?)?;
    let total = req.total.as_ref().and_then(parse_money);
    st.tenant(p.tenant, |t, now| {
        complete_job(t, p.id, total, now)?;
        ok(job_json(t, &t.jobs[&p.id], None))
    })
}
