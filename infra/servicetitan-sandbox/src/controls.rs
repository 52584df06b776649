//! Test controls under `/_sandbox/` (no auth, JSON in and out): tenants, fault rules, token revocation, stats, the
//! request log and scenario helpers (overdue invoice, payment, job completion).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post, put};
use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::accounting::{apply_payment, invoice_json, payment_json};
use crate::api::jpm::{appointment_json, complete_job_emitting, dispatch_job};
use crate::api::sales;
use crate::model::FaultRule;
use crate::util::{ApiError, ApiResult, P, day_start, ok, parse_money, typed};
use crate::webhooks::WebhookConfig;
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
        .route("/_sandbox/tenants/{tenant}/calls", post(create_call))
        .route("/_sandbox/tenants/{tenant}/jobs/{id}/complete", post(complete))
        .route("/_sandbox/tenants/{tenant}/jobs/{id}/dispatch", post(dispatch))
        .route("/_sandbox/tenants/{tenant}/estimates/{id}/send", post(estimate_send))
        .route("/_sandbox/tenants/{tenant}/estimates/{id}/view", post(estimate_view))
        .route("/_sandbox/tenants/{tenant}/estimates/{id}/sell", post(estimate_sell))
        .route(
            "/_sandbox/tenants/{tenant}/estimates/{id}/dismiss",
            post(estimate_dismiss),
        )
        .route("/_sandbox/tenants/{tenant}/appointments/{id}/no-show", post(no_show))
        .route(
            "/_sandbox/tenants/{tenant}/customers/{id}/do-not-text",
            post(do_not_text),
        )
        .route(
            "/_sandbox/webhooks",
            put(configure_webhooks).get(get_webhooks).delete(disable_webhooks),
        )
        .route("/_sandbox/webhooks/deliveries", get(deliveries))
        .route("/_sandbox/requests", get(list_requests).delete(clear_requests))
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
        let out = invoice_json(t, &t.invoices[&p.id]);
        st.emit(t, "invoice.overdue", &out, now);
        ok(out)
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
        let out = payment_json(t, &t.payments[&id]);
        st.emit(t, "payment.posted", &out, now);
        ok(out)
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CallReq {
    from: Option<String>,
    to: Option<String>,
    /// Someone picked up (an agent is set and the call is classified `Unbooked`); default: nobody did.
    #[serde(default)]
    answered: bool,
    /// The classification; default `Abandoned` for an unanswered call.
    #[serde(rename = "type")]
    kind: Option<String>,
    duration_seconds: Option<i64>,
}

/// An inbound call that just ended, in the phone log (`GET /telecom/v2/.../export/calls`). ServiceTitan sends no
/// webhook for a missed call, so none is emitted: the phone log is how the product learns of one.
async fn create_call(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let req: CallReq = typed(&json_body(&body)?)?;
    let from = req
        .from
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| ApiError::field("from", "The from field (the caller's number) is required."))?;
    st.tenant(p.tenant, |t, now| {
        let duration = req.duration_seconds.unwrap_or(if req.answered { 180 } else { 12 });
        let agent = if req.answered {
            t.technicians.values().next().map(|x| (x.user_id, x.name.clone()))
        } else {
            None
        };
        let kind = req
            .kind
            .clone()
            .unwrap_or_else(|| if req.answered { "Unbooked" } else { "Abandoned" }.into());
        let id = t.next_id();
        let call = crate::model::Call {
            id,
            received_on: now - SignedDuration::from_secs(duration),
            duration_seconds: duration,
            from: from.clone(),
            to: req.to.clone().unwrap_or_else(|| "5125550100".into()),
            direction: "Inbound".into(),
            status: "Completed".into(),
            call_type: Some(kind),
            customer: None,
            location: None,
            campaign: None,
            job: None,
            agent,
            active: true,
            created_on: now,
            modified_on: now,
        };
        let out = crate::api::telecom::call_export_json(&call);
        t.calls.insert(id, call);
        ok(out)
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CompleteReq {
    total: Option<Value>,
    /// Only its absence matters (see [`complete`]).
    #[serde(default)]
    #[allow(dead_code)]
    reference_number: Option<String>,
}

async fn complete(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let raw = json_body(&body)?;
    // `"referenceNumber": null`: the invoice has none (nullable in ServiceTitan's schema).
    let no_reference = raw.get("referenceNumber").is_some_and(Value::is_null);
    let req: CompleteReq = typed(&raw)?;
    let total = req.total.as_ref().and_then(parse_money);
    st.tenant(p.tenant, |t, now| {
        let mut out = complete_job_emitting(&st, t, p.id, total, now)?;
        if no_reference && let Some(inv) = t.invoices.get_mut(&t.jobs[&p.id].invoice_id) {
            inv.reference_number = None;
            out["invoiceReferenceNumber"] = Value::Null;
        }
        ok(out)
    })
}

async fn dispatch(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| ok(dispatch_job(&st, t, p.id, now)?))
}

async fn estimate_send(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| {
        ok(sales::notify(&st, t, p.id, "estimate.sent", now)?)
    })
}

async fn estimate_view(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| {
        ok(sales::notify(&st, t, p.id, "estimate.viewed", now)?)
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SellReq {
    sold_by: Option<i64>,
}

async fn estimate_sell(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let req: SellReq = typed(&json_body(&body)?)?;
    st.tenant(p.tenant, |t, now| ok(sales::sell(&st, t, p.id, req.sold_by, now)?))
}

async fn estimate_dismiss(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| ok(sales::dismiss(&st, t, p.id, now)?))
}

/// ServiceTitan has no "no show" appointment status: the appointment is left as it is and only the
/// `appointment.no_show` webhook is emitted.
async fn no_show(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| {
        let a = t
            .appointments
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Appointment", p.id))?;
        let out = appointment_json(a);
        st.emit(t, "appointment.no_show", &out, now);
        ok(out)
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DoNotTextReq {
    do_not_text: Option<bool>,
    /// Only the phone contact with these digits (every phone contact when absent).
    phone: Option<String>,
}

/// What a CSR does in ServiceTitan's UI: mark a customer's phone numbers do-not-text (or clear it).
async fn do_not_text(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let req: DoNotTextReq = typed(&json_body(&body)?)?;
    let flag = req.do_not_text.unwrap_or(true);
    st.tenant(p.tenant, |t, now| {
        let c = t
            .customers
            .get_mut(&p.id)
            .ok_or_else(|| ApiError::not_found("Customer", p.id))?;
        let mut changed = 0;
        for contact in c.contacts.iter_mut().filter(|x| x.kind != "Email" && x.kind != "Fax") {
            if req
                .phone
                .as_deref()
                .is_none_or(|p| crate::util::phone_matches(p, &contact.value))
            {
                contact.do_not_text = flag;
                contact.modified_on = now;
                changed += 1;
            }
        }
        ok(json!({ "customerId": p.id, "doNotText": flag, "contactsChanged": changed }))
    })
}

async fn configure_webhooks(State(st): State<AppState>, body: Bytes) -> ApiResult {
    let cfg: WebhookConfig = typed(&json_body(&body)?)?;
    if cfg.callback_url.trim().is_empty() {
        return Err(ApiError::field("callbackUrl", "The callbackUrl field is required."));
    }
    st.webhooks().configure(Some(cfg.clone()));
    ok(serde_json::to_value(cfg).unwrap_or_default())
}

async fn get_webhooks(State(st): State<AppState>) -> ApiResult {
    ok(serde_json::to_value(st.webhooks().config()).unwrap_or_default())
}

async fn disable_webhooks(State(st): State<AppState>) -> ApiResult {
    st.webhooks().configure(None);
    ok(json!({ "enabled": false }))
}

async fn deliveries(State(st): State<AppState>) -> ApiResult {
    ok(json!(st.webhooks().deliveries()))
}

async fn list_requests(State(st): State<AppState>) -> ApiResult {
    ok(json!(st.requests().entries()))
}

async fn clear_requests(State(st): State<AppState>) -> ApiResult {
    ok(json!({ "cleared": st.requests().clear() }))
}
