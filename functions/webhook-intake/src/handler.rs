//! The HTTP handler: checks in the order size → signature → parse → tenant, so that an unauthenticated caller
//! learns nothing about which tenants exist.

use std::time::Duration;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use shared::sqs_batch::string_attribute;
use tracing::{info, warn};

use shared::api_error::{ApiError, IntoResponse as _, json_response};
use shared::clock::SharedClock;
use shared::event::ServiceTitanEvent;
use shared::event_log::{EventLog, EventSummary, Recorded, status};
use shared::signing::{self, VerifyError};
use shared::signing_keys::SigningKeyStore;
use shared::tenants::{TenantRegistry, TenantStatus};

use crate::config::IntakeConfig;
use crate::normalise::{Normalised, Normaliser};

/// SQS's hard limit on a message body.
pub const SQS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// After a failed verification, re-read the keys if the cached copy is at least this old: a rotation may have just
/// added a key. What holds: a key added at least this long before a delivery signed with it arrives verifies it
/// on its first attempt, whatever unknown signatures came before. The cost is bounded too: deliveries with unknown
/// signatures cause at most one Secrets Manager read per second per running intake.
const KEY_REFRESH_MIN_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct IntakeClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl IntakeClients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

pub struct Intake {
    config: IntakeConfig,
    normaliser: Normaliser,
    keys: SigningKeyStore,
    tenants: TenantRegistry,
    events: EventLog,
    sqs: aws_sdk_sqs::Client,
    clock: SharedClock,
}

fn unavailable(what: &str, detail: impl std::fmt::Display) -> ApiError {
    warn!(dependency = what, error = %detail, "dependency failed; answering 503 so that ServiceTitan retries");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        format!("{what} is unavailable; the delivery was not accepted, retry later"),
    )
    .with_header(http::header::RETRY_AFTER, "10")
}

impl Intake {
    /// Takes only the clients it uses, so a function links only the SDKs it needs.
    pub fn new(config: IntakeConfig, clients: IntakeClients, clock: SharedClock) -> Self {
        Self {
            normaliser: Normaliser::new(&config.scheme.envelope),
            keys: SigningKeyStore::new(
                clients.secrets,
                config.keys_secret_id.clone(),
                config.key_cache_ttl,
                clock.clone(),
            ),
            tenants: TenantRegistry::new(clients.dynamodb.clone(), config.tenants_table.clone()),
            events: EventLog::new(clients.dynamodb, config.events_table.clone()),
            sqs: clients.sqs,
            config,
            clock,
        }
    }

    /// Answers one request. Never fails: every outcome, including dependency failures, is an HTTP response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        match self.accept(&req).await {
            Ok(resp) => resp,
            Err(e) => {
                if e.status.is_client_error() {
                    info!(status = e.status.as_u16(), code = e.code, "delivery rejected");
                }
                e.into_response()
            }
        }
    }

    async fn accept(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        if req.method() != Method::POST {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "webhooks are delivered with POST",
            )
            .with_header(http::header::ALLOW, "POST"));
        }
        let body: &[u8] = req.body().as_ref();
        let max = self.config.scheme.max_body_bytes;
        if body.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is {} bytes; the limit is {max}", body.len()),
            ));
        }
        check_content_type(req)?;
        self.verify_signature(req, body).await?;

        let now = self.clock.now();
        let path_event = req
            .path_parameters_ref()
            .and_then(|p| p.first("event"))
            .map(str::to_owned);
        let normalised = self.normaliser.normalise(path_event.as_deref(), body, now)?;
        let tenant_id = normalised.tenant_id().to_owned();
        match self
            .tenants
            .get(&tenant_id)
            .await
            .map_err(|e| unavailable("the tenant registry", e))?
        {
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_tenant",
                    "this tenant is not connected to this app",
                )
                .with_field("tenantId", format!("no tenant {tenant_id}")));
            }
            Some(t) if t.status != TenantStatus::Connected => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "tenant_disconnected",
                    "this tenant has disconnected; its webhooks are not processed",
                )
                .with_field("tenantId", format!("tenant {tenant_id} is {}", t.status.as_str())));
            }
            Some(_) => {}
        }

        // Fast path for retries and replays of an event already accepted. Correctness does not rest on this read:
        // the processor's claim is what guarantees one effect.
        let event_id = normalised.event_id().to_owned();
        if self
            .events
            .contains(&tenant_id, &event_id)
            .await
            .map_err(|e| unavailable("the events table", e))?
        {
            info!(tenant_id, event_id, "duplicate delivery; already accepted");
            return Ok(accepted("duplicate", &tenant_id, &event_id));
        }

        match normalised {
            Normalised::Unknown(summary) => self.park(summary).await,
            Normalised::Known(event) => self.enqueue(event).await,
        }
    }

    async fn verify_signature(&self, req: &Request, body: &[u8]) -> Result<(), ApiError> {
        let scheme = &self.config.scheme.signature;
        let header = req
            .headers()
            .get(scheme.header.as_str())
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        if header.is_none() && scheme.allow_unsigned {
            return Ok(());
        }
        let mut refreshed = false;
        loop {
            let ring = self
                .keys
                .ring()
                .await
                .map_err(|e| unavailable("the signing key store", e))?;
            let active = ring.active(self.clock.now());
            match signing::verify(header, scheme.encoding, body, &active) {
                Ok(key_id) => {
                    tracing::debug!(key_id, "signature verified");
                    return Ok(());
                }
                // A key added by a rotation moments ago may not be in the cache yet: re-read once.
                Err(VerifyError::Mismatch | VerifyError::NoActiveKey) if !refreshed => {
                    refreshed = true;
                    let reloaded = self
                        .keys
                        .refresh_if_older_than(KEY_REFRESH_MIN_AGE)
                        .await
                        .map_err(|e| unavailable("the signing key store", e))?;
                    if !reloaded {
                        return Err(signature_error(VerifyError::Mismatch, &scheme.header));
                    }
                }
                Err(e) => return Err(signature_error(e, &scheme.header)),
            }
        }
    }

    async fn park(&self, summary: EventSummary) -> Result<Response<Body>, ApiError> {
        let note = "unknown event name: kept for review, not processed";
        self.events
            .record(&summary, status::PARKED, Some(note))
            .await
            .map_err(|e| unavailable("the events table", e))?;
        warn!(
            tenant_id = summary.tenant_id,
            event_id = summary.event_id,
            event_name = summary.event_name,
            "parked an unknown event"
        );
        Ok(accepted("parked", &summary.tenant_id, &summary.event_id))
    }

    async fn enqueue(&self, event: ServiceTitanEvent) -> Result<Response<Body>, ApiError> {
        let message = queue_message(&event)?;
        self.sqs
            .send_message()
            .queue_url(&self.config.events_queue_url)
            .message_body(message)
            .message_attributes("tenant_id", string_attribute(&event.tenant_id))
            .message_attributes("event_name", string_attribute(event.event_name.as_str()))
            .send()
            .await
            .map_err(|e| unavailable("the events queue", aws_sdk_sqs::error::DisplayErrorContext(e)))?;

        // The event is durable now. Failing to note it only costs a duplicate message on a retry, which the
        // processor absorbs, so it is logged rather than turned into a 5xx.
        let summary = EventSummary::from(&event);
        match self.events.record(&summary, status::ACCEPTED, None).await {
            Ok(Recorded::New | Recorded::AlreadyPresent) => {}
            Err(e) => {
                warn!(tenant_id = event.tenant_id, event_id = event.event_id, error = %e, "queued but not recorded")
            }
        }
        info!(tenant_id = event.tenant_id, event_id = event.event_id, event_name = %event.event_name, "accepted");
        Ok(accepted("accepted", &event.tenant_id, &event.event_id))
    }
}

/// The SQS message body for an event; refuses what SQS would refuse.
pub fn queue_message(event: &ServiceTitanEvent) -> Result<String, ApiError> {
    let message = serde_json::to_string(event).expect("events serialise");
    if message.len() > SQS_MAX_MESSAGE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the normalised event is {} bytes; the queue takes at most {SQS_MAX_MESSAGE_BYTES}",
                message.len()
            ),
        ));
    }
    Ok(message)
}

fn accepted(status: &str, tenant_id: &str, event_id: &str) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "status": status, "tenantId": tenant_id, "eventId": event_id }),
    )
}

fn signature_error(e: VerifyError, header: &str) -> ApiError {
    let (code, message) = match e {
        VerifyError::Missing => ("missing_signature", format!("the {header} header is required")),
        VerifyError::Malformed => (
            "invalid_signature",
            format!("the {header} header holds no HMAC-SHA256 digest in an accepted encoding"),
        ),
        VerifyError::Mismatch | VerifyError::NoActiveKey => {
            ("invalid_signature", "the signature does not match".to_owned())
        }
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let value = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type application/json, got {value:?}"),
        )
        .with_field("Content-Type", "must be application/json"))
    }
}
