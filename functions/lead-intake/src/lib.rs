//! Leads from the AI platform (chat widget, voice agent, phone system), on the HTTP API with AWS_IAM:
//!
//! | route | what |
//! |---|---|
//! | `POST /leads` | a lead: checked, stored, queued for the creator; 202 with its id |
//! | `GET /leads/{leadId}?tenantId=` | its status, the match decision and evidence, the ServiceTitan ids |
//! | `POST /leads/{leadId}/transcript` | a later summary, transcript or recording, for the lead's customer and job |
//! | `POST /leads/{leadId}/retry` | a failed lead tried again (after the settings were fixed, say) |
//!
//! The caller's `leadId` is the idempotency key: the same lead twice is one lead (200 with its status), another
//! lead under a used id is a 409. A lead is stored before it is queued and the queueing is recorded, so a repeat
//! of a request that failed between the two queues it then.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use lead_runtime::messages::LeadMessage;
use lead_runtime::store::{Attachment, LeadRecord, LeadStatus, LeadStore};
use lead_runtime::submit::{Submitted, Submitter};
use leads::lead::{self, MAX_SUMMARY, MAX_TRANSCRIPT};
use serde_json::{Value, json};
use shared::api_error::{ApiError, FieldError, IntoResponse as _, json_response};
use shared::callers::{MachineCallers, principal};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::tenant_settings::TenantSettings;
use shared::tenants::{TenantRecord, TenantRegistry, TenantStatus};
use tracing::{Instrument, info, info_span, warn};

/// Transcripts make leads large; the queue message only names the lead.
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct LeadIntakeConfig {
    pub tenants_table: String,
    pub leads_table: String,
    pub leads_queue_url: String,
    pub followups_table: String,
    /// Which IAM principals may send leads for which tenants (`MACHINE_CALLERS`).
    pub machine_callers: MachineCallers,
}

impl LeadIntakeConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            leads_table: env.required("LEADS_TABLE")?,
            leads_queue_url: env.required("LEADS_QUEUE_URL")?,
            followups_table: env.required("FOLLOWUPS_TABLE")?,
            machine_callers: MachineCallers::from_env(env)?,
        })
    }
}

pub struct LeadIntake {
    tenants: TenantRegistry,
    store: LeadStore,
    /// The consent and opt-out ledgers a lead's `consent` goes into.
    ledgers: followup_runtime::store::Store,
    sqs: aws_sdk_sqs::Client,
    config: LeadIntakeConfig,
    clock: SharedClock,
}

type Handled = Result<Response<Body>, ApiError>;

fn unavailable(e: &dyn std::fmt::Display) -> ApiError {
    warn!(error = %e, "a dependency failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "try again shortly; a lead already accepted is kept",
    )
    .with_header(http::header::RETRY_AFTER, "5")
}

impl LeadIntake {
    pub fn new(
        config: LeadIntakeConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        clock: SharedClock,
    ) -> Self {
        Self {
            tenants: TenantRegistry::new(dynamodb.clone(), config.tenants_table.clone()),
            ledgers: followup_runtime::store::Store::new(dynamodb.clone(), config.followups_table.clone()),
            store: LeadStore::new(dynamodb, config.leads_table.clone()),
            sqs,
            config,
            clock,
        }
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let span = info_span!("leads", method = %req.method(), path = %req.uri().path());
        async move {
            let response = self.route(&req).await.unwrap_or_else(ApiError::into_response);
            info!(status = response.status().as_u16(), "lead request");
            response
        }
        .instrument(span)
        .await
    }

    async fn route(&self, req: &Request) -> Handled {
        let path = req.uri().path().trim_end_matches('/');
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = req.method().clone();
        let caller = principal(req);
        let not_allowed = |allow: &str| {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this route accepts {allow}"),
            )
            .with_header(http::header::ALLOW, allow.to_owned())
        };
        match parts.as_slice() {
            ["leads"] if method == Method::POST => {
                self.accept(caller, &shared::http_request::json(req, MAX_BODY)?).await
            }
            ["leads"] => Err(not_allowed("POST")),
            ["leads", id] if method == Method::GET => {
                let query = shared::http_request::query(req);
                self.status(caller, id, query.get("tenantId").map(String::as_str)).await
            }
            ["leads", _] => Err(not_allowed("GET")),
            ["leads", id, "transcript"] if method == Method::POST => {
                self.transcript(caller, id, &shared::http_request::json(req, MAX_BODY)?)
                    .await
            }
            ["leads", id, "retry"] if method == Method::POST => {
                self.retry(caller, id, &shared::http_request::json(req, 4096)?).await
            }
            ["leads", _, "transcript" | "retry"] => Err(not_allowed("POST")),
            _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")),
        }
    }

    /// The tenant the request names, connected (the same answers as the webhook intake's), once the caller is
    /// known to act for it: an unbound caller learns nothing about which tenants exist.
    async fn tenant(&self, caller: Option<&str>, tenant_id: &str) -> Result<TenantRecord, ApiError> {
        self.config.machine_callers.check(caller, tenant_id)?;
        let record = self
            .tenants
            .get_record(tenant_id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_tenant",
                    "this tenant is not connected to this app",
                )
                .with_field("/tenantId", format!("no tenant {tenant_id}"))
            })?;
        if record.tenant.status != TenantStatus::Connected {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "tenant_disconnected",
                "this tenant disconnected; reconnect it before sending leads",
            ));
        }
        Ok(record)
    }

    async fn enqueue(&self, message: &LeadMessage) -> Result<(), ApiError> {
        self.sqs
            .send_message()
            .queue_url(&self.config.leads_queue_url)
            .message_body(serde_json::to_string(message).expect("messages serialise"))
            .send()
            .await
            .map_err(|e| unavailable(&aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn accept(&self, caller: Option<&str>, body: &Value) -> Handled {
        let now = self.clock.now();
        // The tenant first (its country reads the phone numbers); a malformed id is reported with the rest.
        let tenant_id = body
            .get("tenantId")
            .and_then(Value::as_str)
            .filter(|t| t.chars().all(|c| c.is_ascii_digit()));
        let record = match tenant_id {
            Some(t) if !t.is_empty() => Some(self.tenant(caller, t).await?),
            _ => None,
        };
        let region = record
            .as_ref()
            .and_then(|r| r.settings.as_ref())
            .and_then(|s| serde_json::from_value::<TenantSettings>(s.clone()).ok())
            .map_or_else(|| "US".to_owned(), |s| s.leads.country);
        let lead = lead::parse(body, &region, now).map_err(|fields| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_lead", "the lead is invalid").with_fields(fields)
        })?;
        let span =
            info_span!("lead", tenant_id = %lead.tenant_id, lead_id = %lead.lead_id, source = lead.source.as_str());
        async {
            let fingerprint = lead::fingerprint(body);
            let submitter = Submitter {
                store: &self.store,
                sqs: &self.sqs,
                queue_url: &self.config.leads_queue_url,
            };
            let submitted = submitter
                .submit(&lead, &fingerprint, now)
                .await
                .map_err(|e| unavailable(&e))?;
            if !matches!(submitted, Submitted::Conflict) {
                // Repeated on a retry, which writes the same again.
                self.record_consent(&lead, now).await.map_err(|e| unavailable(&e))?;
            }
            match submitted {
                Submitted::New => {
                    info!("lead accepted");
                    Ok(json_response(
                        StatusCode::ACCEPTED,
                        &json!({
                            "leadId": lead.lead_id, "tenantId": lead.tenant_id, "status": LeadStatus::Accepted,
                            "links": {"self": format!("/leads/{}?tenantId={}", lead.lead_id, lead.tenant_id)},
                        }),
                    ))
                }
                Submitted::Repeat(existing) => {
                    let mut answer = existing.view(&[]);
                    answer["duplicate"] = json!(true);
                    Ok(json_response(StatusCode::OK, &answer))
                }
                Submitted::Conflict => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "lead_conflict",
                    "another lead was sent with this leadId; use a new leadId for a new lead",
                )
                .with_field("/leadId", "already used for a lead with different content")),
            }
        }
        .instrument(span)
        .await
    }

    /// A lead's `consent` into the ledgers: given consent is recorded for the channel's address (for AI calls,
    /// the number's voice consent), and a `false` is an opt-out of that channel.
    async fn record_consent(
        &self,
        lead: &leads::lead::Lead,
        now: jiff::Timestamp,
    ) -> Result<(), followup_runtime::store::StoreError> {
        let c = &lead.consent;
        let channels = [
            ("sms", c.sms, lead.phone.as_deref()),
            ("voice", c.voice, lead.phone.as_deref()),
            ("email", c.email, lead.email.as_deref()),
        ];
        for (channel, given, address) in channels {
            let Some(address) = address.and_then(contact::address_key) else {
                continue;
            };
            let detail = json!({"leadId": lead.lead_id, "source": lead.source.as_str()});
            match given {
                Some(true) => {
                    let consent = followups::consent::Recorded {
                        written: c.written == Some(true),
                        source: "lead".into(),
                        at: lead.occurred_at,
                    };
                    self.ledgers
                        .record_consent(&lead.tenant_id, &address, channel, &consent, &detail)
                        .await?
                }
                Some(false) => {
                    let reason = json!({"source": "lead_declined", "leadId": lead.lead_id, "at": shared::clock::iso_millis(now)});
                    self.ledgers
                        .add_opt_out(&lead.tenant_id, &address, &[channel], &reason, now)
                        .await?
                }
                None => {}
            }
        }
        Ok(())
    }

    async fn existing(
        &self,
        caller: Option<&str>,
        lead_id: &str,
        tenant_id: Option<&str>,
    ) -> Result<LeadRecord, ApiError> {
        let Some(tenant_id) = tenant_id.filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "name the tenant the lead was sent for",
            )
            .with_field("tenantId", "is required"));
        };
        self.tenant(caller, tenant_id).await?;
        self.store
            .get(tenant_id, lead_id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "lead_not_found",
                    format!("tenant {tenant_id} has no lead {lead_id}"),
                )
            })
    }

    async fn status(&self, caller: Option<&str>, lead_id: &str, tenant_id: Option<&str>) -> Handled {
        let rec = self.existing(caller, lead_id, tenant_id).await?;
        let attachments = self
            .store
            .attachments(&rec.lead.tenant_id, lead_id)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(json_response(StatusCode::OK, &rec.view(&attachments)))
    }

    async fn transcript(&self, caller: Option<&str>, lead_id: &str, body: &Value) -> Handled {
        let mut errors = Vec::new();
        let obj = body.as_object().expect("http_request::json gives objects");
        for k in obj
            .keys()
            .filter(|k| !["tenantId", "summary", "transcript", "recordingUrl"].contains(&k.as_str()))
        {
            errors.push(FieldError::new(
                format!("/{k}"),
                "unknown field; expected tenantId, summary, transcript, recordingUrl",
            ));
        }
        let text = |k: &str, max: usize, errors: &mut Vec<FieldError>| match obj.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= max => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Some(_) => {
                errors.push(FieldError::new(
                    format!("/{k}"),
                    format!("must be a string of at most {max} characters"),
                ));
                None
            }
        };
        let summary = text("summary", MAX_SUMMARY, &mut errors);
        let transcript = text("transcript", MAX_TRANSCRIPT, &mut errors);
        let recording_url = text("recordingUrl", 2000, &mut errors);
        // Kept with the lead and linked from ServiceTitan: the same rules as every link the product hands out.
        if let Some(Err(e)) = recording_url
            .as_deref()
            .map(|u| shared::egress::EgressPolicy::default().check_link(u))
        {
            errors.push(FieldError::new("/recordingUrl", e.to_string()));
        }
        if summary.is_none() && transcript.is_none() && recording_url.is_none() && errors.is_empty() {
            errors.push(FieldError::new(
                "",
                "send at least one of summary, transcript, recordingUrl",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_transcript",
                "the transcript is invalid",
            )
            .with_fields(errors));
        }
        let rec = self
            .existing(caller, lead_id, obj.get("tenantId").and_then(Value::as_str))
            .await?;
        let attachment = Attachment {
            fingerprint: lead::fingerprint(body),
            summary,
            transcript,
            recording_url,
            received_at: self.clock.now(),
            attached: false,
        };
        let tenant_id = rec.lead.tenant_id.clone();
        let new = self
            .store
            .add_attachment(&tenant_id, lead_id, &attachment)
            .await
            .map_err(|e| unavailable(&e))?;
        // Queued every time (a repeat after a failure between the two steps queues it then); attaching is idempotent.
        self.enqueue(&LeadMessage::Attachment {
            tenant_id: tenant_id.clone(),
            lead_id: lead_id.to_owned(),
            fingerprint: attachment.fingerprint.clone(),
        })
        .await?;
        Ok(json_response(
            if new { StatusCode::ACCEPTED } else { StatusCode::OK },
            &json!({"leadId": lead_id, "tenantId": tenant_id, "attachment": attachment.fingerprint, "duplicate": !new}),
        ))
    }

    async fn retry(&self, caller: Option<&str>, lead_id: &str, body: &Value) -> Handled {
        let rec = self
            .existing(caller, lead_id, body.get("tenantId").and_then(Value::as_str))
            .await?;
        let tenant_id = rec.lead.tenant_id.clone();
        let retried = self
            .store
            .retry(&tenant_id, lead_id, self.clock.now())
            .await
            .map_err(|e| unavailable(&e))?;
        // A retry whose queueing failed last time is accepted and not queued: queue it now.
        let unqueued = rec.status == LeadStatus::Accepted && !rec.queued;
        if !retried && !unqueued {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_failed",
                format!(
                    "the lead is {}; only a failed lead is retried, or one left matching by a worker whose lease \
                     has run out",
                    rec.status.as_str()
                ),
            ));
        }
        self.enqueue(&LeadMessage::Create {
            tenant_id: tenant_id.clone(),
            lead_id: lead_id.to_owned(),
        })
        .await?;
        self.store
            .mark_queued(&tenant_id, lead_id)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"leadId": lead_id, "tenantId": tenant_id, "status": LeadStatus::Accepted}),
        ))
    }
}
