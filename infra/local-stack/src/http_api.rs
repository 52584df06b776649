//! The HTTP API: the template's `HttpApi` routes, served by the hosted functions, plus the local-only control
//! routes under `/_local/` (never part of the deployed template).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Request as AxumRequest};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{MethodFilter, MethodRouter, any, on};
use http::StatusCode;
use lambda_http::{Body, RequestExt};

use std::sync::Arc;

use aws_lambda_events::event::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use shared::clock::SharedClock;

use crate::functions::{HttpHandler, RouteAuth};
use crate::issuer::{Issuer, claim_strings};

/// API Gateway HTTP APIs accept payloads up to 10 MB.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// One template route: method, path, handler, and who may call it.
pub struct ApiRoute {
    pub method: String,
    pub path: String,
    pub handler: HttpHandler,
    pub auth: RouteAuth,
}

/// The principal the admin token signs as. The stack binds it to every tenant (`MachineCallers`) unless told
/// otherwise.
pub const LOCAL_OPERATOR: &str = "arn:aws:iam::123456789012:role/local-operator";

/// A widget backend the stack binds to the demo tenant (1001) only, unless a test binds callers itself.
pub const LOCAL_WIDGET: &str = "arn:aws:iam::123456789012:role/local-widget-1001";

/// With the admin token, a request signs as this principal instead of [`LOCAL_OPERATOR`]: how tests play the AI
/// platform, a widget backend bound to one tenant, or an unbound caller.
pub const LOCAL_PRINCIPAL_HEADER: &str = "x-local-principal";

/// `admin_token` stands in for SigV4 on `AWS_IAM` routes: requests must send `Authorization: Bearer <token>`, and
/// the function sees the principal API Gateway's IAM authorizer would name. JWT routes take a token of `issuer`,
/// checked as API Gateway's JWT authorizer would, and hand its claims on.
pub fn routes(
    routes: Vec<ApiRoute>,
    admin_token: &str,
    issuer: Arc<Issuer>,
    clock: SharedClock,
) -> anyhow::Result<Router> {
    let mut by_path: HashMap<String, MethodRouter> = HashMap::new();
    for ApiRoute {
        method,
        path,
        handler,
        auth,
    } in routes
    {
        let token = admin_token.to_owned();
        let issuer = issuer.clone();
        let clock = clock.clone();
        let endpoint = move |params: Option<Path<HashMap<String, String>>>, req: AxumRequest| {
            let handler = handler.clone();
            let token = token.clone();
            let issuer = issuer.clone();
            let clock = clock.clone();
            async move {
                let params = params.map(|p| p.0).unwrap_or_default();
                match auth {
                    RouteAuth::None => invoke(handler, params, None, req).await,
                    RouteAuth::Iam if !bearer_matches(&req, &token) => forbidden(),
                    RouteAuth::Iam => {
                        let principal = req
                            .headers()
                            .get(LOCAL_PRINCIPAL_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or(LOCAL_OPERATOR)
                            .to_owned();
                        invoke(handler, params, Some(iam_context(principal)), req).await
                    }
                    RouteAuth::Jwt => {
                        let header = req
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok());
                        match issuer.verify(header, clock.now()) {
                            Ok(claims) => invoke(handler, params, Some(jwt_context(claim_strings(&claims))), req).await,
                            Err(_) => unauthorized(),
                        }
                    }
                }
            }
        };
        let route = if method == "ANY" {
            any(endpoint)
        } else {
            let m = http::Method::from_bytes(method.as_bytes())?;
            on(MethodFilter::try_from(m).map_err(|e| anyhow::anyhow!("{e}"))?, endpoint)
        };
        let merged = match by_path.remove(&path) {
            Some(existing) => existing.merge(route),
            None => route,
        };
        by_path.insert(path, merged);
    }
    Ok(by_path
        .into_iter()
        .fold(Router::new(), |r, (path, route)| r.route(&path, route)))
}

fn bearer_matches(req: &AxumRequest, token: &str) -> bool {
    let sent = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    same_secret(sent, token)
}

/// Compares in constant time, so the token cannot be guessed byte by byte from response times.
pub fn same_secret(sent: &str, token: &str) -> bool {
    sent.len() == token.len() && sent.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// What API Gateway answers an unsigned request to an `AWS_IAM` route, plus a local hint.
fn forbidden() -> AxumResponse {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({
            "message": "Forbidden (local stack: send Authorization: Bearer <admin_token from .local/endpoints.json>)"
        })),
    )
        .into_response()
}

/// What API Gateway answers a request to a JWT route without a valid token.
fn unauthorized() -> AxumResponse {
    (
        StatusCode::UNAUTHORIZED,
        [(http::header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({"message": "Unauthorized"})),
    )
        .into_response()
}

/// Turns an HTTP request into what `lambda_http` hands a function behind an HTTP API (with what its authorizer
/// found in the request context), and back.
async fn invoke(
    handler: HttpHandler,
    path_params: HashMap<String, String>,
    context: Option<RequestContext>,
    req: AxumRequest,
) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PAYLOAD).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({"message": "Request Entity Too Large"})),
            )
                .into_response();
        }
    };
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let raw_path = parts.uri.path().to_owned();
    let mut request = http::Request::from_parts(parts, body)
        .with_path_parameters(path_params)
        .with_raw_http_path(raw_path);
    if let Some(context) = context {
        request = request.with_request_context(context);
    }
    let response = handler(request).await;
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, axum::body::Body::from(bytes))
}

/// The request context API Gateway gives a function behind its IAM authorizer: the signer.
fn iam_context(principal: String) -> RequestContext {
    let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
    iam.account_id = principal.split(':').nth(4).map(str::to_owned);
    iam.user_arn = Some(principal);
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.iam = Some(iam);
    authorized(authorizer)
}

/// The request context API Gateway gives a function behind a JWT authorizer: the token's claims.
fn jwt_context(claims: HashMap<String, String>) -> RequestContext {
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = claims;
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    authorized(authorizer)
}

fn authorized(authorizer: ApiGatewayRequestAuthorizer) -> RequestContext {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    RequestContext::ApiGatewayV2(context)
}

/// `/_local/` routes anyone may call: liveness, the issuer's public keys (API Gateway fetches them), and the sink,
/// which checks each delivery's Standard Webhooks signature as the AI platform would.
const OPEN_LOCAL_ROUTES: [&str; 3] = ["/_local/health", "/_local/issuer/", "/_local/sink"];

/// The other `/_local/` routes move the whole stack (its clock, queues, sink and sign-in), so they take the admin
/// token as the admin API does. A body must be JSON, and any other content type is refused: a web page's
/// cross-site "simple" request can send neither the token nor that type, so it cannot move the clock.
pub async fn local_control_guard(
    axum::extract::State(admin_token): axum::extract::State<Arc<str>>,
    req: AxumRequest,
    next: axum::middleware::Next,
) -> AxumResponse {
    let path = req.uri().path();
    let open = OPEN_LOCAL_ROUTES
        .iter()
        .any(|p| path == *p || (p.ends_with('/') && path.starts_with(p)));
    if !path.starts_with("/_local/") || open {
        return next.run(req).await;
    }
    if !bearer_matches(&req, &admin_token) {
        return local_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "send Authorization: Bearer <admin_token from .local/endpoints.json>",
        );
    }
    let content_type = req.headers().get(http::header::CONTENT_TYPE).map(|v| {
        v.to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let has_body = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.to_str().ok() != Some("0"))
        || req.headers().contains_key(http::header::TRANSFER_ENCODING);
    match content_type.as_deref() {
        Some("application/json") => next.run(req).await,
        None if !has_body => next.run(req).await,
        _ => local_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ),
    }
}

fn local_error(status: StatusCode, code: &str, message: &str) -> AxumResponse {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}
