//! The auth host (`POST /connect/token`) and the API host's gate: app key + token checks, tenant check,
//! per (app key, tenant) rate limiting and fault injection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::model::{Bucket, World};
use crate::util::ApiError;
use crate::{AppState, RATE_LIMIT_PER_SECOND, TOKEN_LIFETIME_SECONDS};

/// Scopes granted to sandbox clients (the resources the sandbox serves), in ServiceTitan's `tn.<module>.<resource>:<r|w>` form.
pub const SCOPES: &str = "tn.crm.customers:r tn.crm.customers:w tn.crm.locations:r tn.crm.locations:w \
tn.crm.contacts:r tn.crm.contacts:w tn.crm.leads:r tn.crm.leads:w tn.jpm.jobs:r tn.jpm.jobs:w \
tn.jpm.appointments:r tn.jpm.appointments:w tn.jpm.jobtypes:r tn.jpm.jobnotes:r tn.jpm.jobcancelreasons:r \
tn.sal.estimates:r tn.sal.estimates:w tn.acc.invoices:r tn.acc.invoices:w tn.acc.payments:r tn.acc.payments:w \
tn.stt.businessunits:r tn.stt.technicians:r tn.stt.employees:r tn.mrk.campaigns:r tn.dis.appointmentassignments:r";

fn token_error(error: &str, description: Option<&str>) -> Response {
    let mut body = json!({ "error": error });
    if let Some(d) = description {
        body["error_description"] = json!(d);
    }
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

/// `POST /connect/token` — OAuth2 client credentials only, form-encoded body.
pub async fn token(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form: Option<HashMap<String, String>> = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(&body).ok()
    } else {
        None
    };
    // Count every request per client id, including the rejected ones (a JSON body still names its client).
    let client_id = match &form {
        Some(f) => f.get("client_id").cloned(),
        None => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("client_id").and_then(Value::as_str).map(str::to_string)),
    };
    let now = st.now();
    let fault = {
        let mut w = st.lock();
        if let Some(c) = &client_id {
            *w.token_requests.entry(c.clone()).or_default() += 1;
        }
        match_faults(&mut w, "/connect/token", now)
    };
    if let Some(resp) = apply_fault(fault).await {
        return resp;
    }
    let Some(form) = form else {
        return token_error(
            "invalid_request",
            Some("The request body must be application/x-www-form-urlencoded."),
        );
    };
    match form.get("grant_type").map(String::as_str) {
        None | Some("") => return token_error("invalid_request", Some("grant_type is missing.")),
        Some("client_credentials") => {}
        Some(_) => return token_error("unsupported_grant_type", None),
    }
    let (Some(client_id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) else {
        return token_error("invalid_client", None);
    };
    let mut w = st.lock();
    let Some(&tenant_id) = w.clients.get(client_id) else {
        return token_error("invalid_client", None);
    };
    let valid = w
        .tenants
        .get(&tenant_id)
        .is_some_and(|t| &t.creds.client_secret == secret);
    if !valid {
        return token_error("invalid_client", None);
    }
    let access_token = format!("st1.{}", w.rng.token(48));
    let expires_at = now + SignedDuration::from_secs(TOKEN_LIFETIME_SECONDS);
    w.tokens.insert(
        access_token.clone(),
        crate::model::TokenInfo {
            tenant_id,
            client_id: client_id.clone(),
            expires_at,
            revoked: false,
        },
    );
    let body = json!({
        "access_token": access_token,
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "token_type": "Bearer",
        "scope": SCOPES,
    });
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")],
        Json(body),
    )
        .into_response()
}

fn unauthorized(title: &str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, title)
        .with_header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
        .into_response()
}

/// The tenant segment of `/{module}/v2/tenant/{tenant}/...`.
fn path_tenant(path: &str) -> Option<&str> {
    let mut segs = path.trim_start_matches('/').split('/');
    let _module = segs.next()?;
    let _version = segs.next()?;
    (segs.next()? == "tenant").then_some(())?;
    segs.next()
}

/// Middleware in front of every API route.
pub async fn gate(State(st): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let now = st.now();
    let path = req.uri().path().to_string();
    let app_key = req
        .headers()
        .get("st-app-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .map(str::to_string);
    let raw_auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    // Both `Bearer <token>` and the raw token (as in ServiceTitan's own curl sample) are accepted.
    let token = raw_auth
        .map(|a| match a.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim().to_string(),
            _ => a.to_string(),
        })
        .filter(|t| !t.is_empty());

    let fault = {
        let mut w = st.lock();
        w.api_requests += 1;
        let Some(app_key) = app_key.filter(|k| !k.is_empty()) else {
            return unauthorized("The ST-App-Key header is missing. Every API request needs the application key.");
        };
        let Some(token) = token else {
            return unauthorized("The Authorization header is missing. Send the access token from /connect/token.");
        };
        let Some(info) = w.tokens.get(&token).cloned() else {
            return unauthorized("The access token is invalid.");
        };
        if info.revoked {
            return unauthorized("The access token has been revoked.");
        }
        if now >= info.expires_at {
            return unauthorized("The access token has expired.");
        }
        let Some(tenant) = w.tenants.get(&info.tenant_id) else {
            return unauthorized("The access token is invalid.");
        };
        if tenant.creds.app_key != app_key {
            return unauthorized("The ST-App-Key is invalid for this client.");
        }
        let path_tenant_id = path_tenant(&path).and_then(|s| s.parse::<i64>().ok());
        if path_tenant_id != Some(info.tenant_id) {
            let shown = path_tenant(&path).unwrap_or("?");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "The access token was issued for tenant {}; it cannot access tenant {shown}.",
                    info.tenant_id
                ),
            )
            .into_response();
        }
        if let Some(wait) = take_rate_token(&mut w, app_key, info.tenant_id) {
            w.rate_limited += 1;
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Rate limit is exceeded. Try again in {secs} seconds."),
            )
            .with_header(header::RETRY_AFTER, secs.to_string())
            .into_response();
        }
        match_faults(&mut w, &path, now)
    };
    if let Some(resp) = apply_fault(fault).await {
        return resp;
    }
    next.run(req).await
}

/// Takes one request from the (app key, tenant) bucket; `Some(wait)` when empty.
fn take_rate_token(w: &mut World, app_key: String, tenant_id: i64) -> Option<Duration> {
    let rate = f64::from(RATE_LIMIT_PER_SECOND);
    let now = Instant::now();
    let b = w.buckets.entry((app_key, tenant_id)).or_insert(Bucket {
        tokens: rate,
        last: now,
    });
    let elapsed = now.duration_since(b.last).as_secs_f64();
    b.tokens = (b.tokens + elapsed * rate).min(rate);
    b.last = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        None
    } else {
        Some(Duration::from_secs_f64((1.0 - b.tokens) / rate))
    }
}

/// What the matching fault rules do to this request: (error status, latency).
pub struct FaultHit {
    status: Option<(u16, String)>,
    latency: Duration,
}

/// Deterministic error rate: the n-th matching request fails when ⌊n·rate⌋ > ⌊(n−1)·rate⌋
/// (1.0 → every request, 0.5 → every second one).
pub fn match_faults(w: &mut World, path: &str, now: Timestamp) -> Option<FaultHit> {
    let mut hit = FaultHit {
        status: None,
        latency: Duration::ZERO,
    };
    let mut any = false;
    for rule in w.faults.iter_mut().filter(|r| path.contains(&r.path_contains)) {
        any = true;
        rule.matched += 1;
        hit.latency += Duration::from_millis(rule.latency_ms);
        if hit.status.is_some() {
            continue;
        }
        if rule.outage_until.is_some_and(|until| now < until) {
            hit.status = Some((503, "Service Unavailable: the sandbox is simulating an outage.".into()));
            continue;
        }
        let n = rule.matched as f64;
        let rate = rule.error_rate.clamp(0.0, 1.0);
        if rate > 0.0 && (n * rate).floor() > ((n - 1.0) * rate).floor() {
            hit.status = Some((rule.status, format!("Injected fault (sandbox rule {}).", rule.id)));
        }
    }
    any.then_some(hit)
}

pub async fn apply_fault(hit: Option<FaultHit>) -> Option<Response> {
    let hit = hit?;
    if !hit.latency.is_zero() {
        tokio::time::sleep(hit.latency).await;
    }
    let (status, title) = hit.status?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    Some(ApiError::new(status, title).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_segment() {
        assert_eq!(path_tenant("/crm/v2/tenant/1001/customers"), Some("1001"));
        assert_eq!(path_tenant("/crm/v2/nope/1001/customers"), None);
    }
}
