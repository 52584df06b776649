//! `POST /inbound`: what the AI platform relays from customers.
//!
//! ```json
//! {"tenantId": "1001", "channel": "sms", "from": "+15125550100", "text": "STOP",
//!  "kind": "reply", "runId": "estimate_follow_up.estimate-90211.1"}
//! ```
//!
//! - An opt-out, read as people write it ([`followups::optout::read`]: STOP, ALTO, ARRÊT, "please stop texting me",
//!   "wrong number"…) goes into the tenant's ledger first, channel by channel (a STOP by text covers AI calls to the
//!   number too), with the words that decided; then every run that has written to the address halts. The ledger
//!   is written and the answer is 200 even when the tenant is disconnected or unknown, or no run wrote to the
//!   address: an opt-out is never lost, and it holds after a reconnect. START lifts only its own channel.
//! - `"kind": "delivery_error"` (the number is unreachable, the email bounced) puts the address's channel in the
//!   ledger as unreachable.
//! - `"kind": "consent"` records the person's consent for the channel (`"consentType": "written"` for prior
//!   express written consent, else express), for AI calls.
//! - Anything else is a reply: a person is talking now, so the runs on the entities the address was written about
//!   halt (recipes that stop on replies; all shipped ones do).
//!
//! Addresses are keyed as the person is: an email sender's bare address ("Mary <Mary@Example.com>" is
//! mary@example.com), a phone number in E.164 without its extension. Repeating a message changes nothing more.
//! Answers are JSON; refusals are `{"error": {code, message, fields}}`.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tracing::{Instrument, info, info_span, warn};

use followup_runtime::TenantView;
use followup_runtime::schedules::{ScheduleConfig, Schedules};
use followup_runtime::store::{RunStatus, Store};
use followups::HaltReason;
use followups::decide::Subject;
use followups::optout::{Meaning, Rule, channel_name, read};
use followups::recipe::Catalogue;
use shared::api_error::{ApiError, FieldError, IntoResponse as _, json_response};
use shared::callers::MachineCallers;
use shared::clock::{SharedClock, iso_millis};
use shared::config::{ConfigError, EnvSource};
use shared::tenant_settings::Channel;
use shared::tenants::{TenantRegistry, TenantStatus};

const MAX_BODY: usize = 16 * 1024;
const MAX_TEXT: usize = 2000;

#[derive(Debug, Clone)]
pub struct InboundConfig {
    pub tenants_table: String,
    pub followups_table: String,
    pub schedules: ScheduleConfig,
    /// Which IAM principals may relay messages for which tenants (`MACHINE_CALLERS`).
    pub machine_callers: MachineCallers,
}

impl InboundConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            followups_table: env.required("FOLLOWUPS_TABLE")?,
            schedules: ScheduleConfig::from_env(env)?,
            machine_callers: MachineCallers::from_env(env)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct InboundClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub sqs: aws_sdk_sqs::Client,
}

pub use followup_runtime::StartError;

pub struct Inbound {
    machine_callers: MachineCallers,
    tenants: TenantRegistry,
    store: Store,
    schedules: Schedules,
    catalogue: Catalogue,
    clock: SharedClock,
}

/// What the platform says it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Reply,
    DeliveryError,
    /// The person gave consent (express, or written).
    Consent {
        written: bool,
    },
}

/// A checked inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tenant_id: String,
    pub channel: Channel,
    /// E.164 for SMS and voice, a bare lowercase email address for email.
    pub from: String,
    pub text: String,
    pub kind: Kind,
    pub run_id: Option<String>,
    pub received_at: Option<jiff::Timestamp>,
}

/// Checks an inbound body, reporting every problem at once by JSON pointer; values are not quoted back.
pub fn parse(body: &Value) -> Result<Message, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    };
    const FIELDS: &[&str] = &[
        "tenantId",
        "channel",
        "from",
        "text",
        "kind",
        "runId",
        "receivedAt",
        "consentType",
    ];
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(
            format!("/{key}"),
            format!("unknown field; expected {}", FIELDS.join(", ")),
        ));
    }
    let tenant_id = match obj.get("tenantId") {
        Some(Value::String(s)) if shared::tenants::is_tenant_id(s) => s.clone(),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n > 0) => n.to_string(),
        _ => {
            errors.push(FieldError::new("/tenantId", "is required: the ServiceTitan tenant id"));
            String::new()
        }
    };
    let channel = match obj.get("channel").and_then(Value::as_str) {
        Some("sms") => Some(Channel::Sms),
        Some("voice") => Some(Channel::Voice),
        Some("email") => Some(Channel::Email),
        _ => {
            errors.push(FieldError::new("/channel", "must be sms, voice or email"));
            None
        }
    };
    let from = match (obj.get("from").and_then(Value::as_str), channel) {
        (Some(addr), Some(Channel::Email)) => match contact::email_key(addr) {
            Some(a) => a,
            None => {
                errors.push(FieldError::rule(
                    "/from",
                    "must be an email address (\"mary@example.com\" or \"Mary <mary@example.com>\")",
                ));
                String::new()
            }
        },
        (Some(addr), Some(Channel::Sms | Channel::Voice)) => match contact::e164(addr) {
            Some(p) => p,
            None => {
                errors.push(FieldError::rule(
                    "/from",
                    "must be a phone number (E.164, e.g. +15125550100)",
                ));
                String::new()
            }
        },
        (_, Some(Channel::Email)) => {
            errors.push(FieldError::new("/from", "must be an email address"));
            String::new()
        }
        (_, _) => {
            errors.push(FieldError::new("/from", "is required: who the message came from"));
            String::new()
        }
    };
    // A field present but not a string is refused, not read as its default: a mistyped kind must not pass for a
    // reply (which halts runs), nor a mistyped consentType for express consent.
    let text_of = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(()),
    };
    let kind = match text_of("kind").unwrap_or(Some("")) {
        None | Some("reply") => Kind::Reply,
        Some("delivery_error") => Kind::DeliveryError,
        Some("consent") => match text_of("consentType").unwrap_or(Some("")) {
            None | Some("express") => Kind::Consent { written: false },
            Some("written") => Kind::Consent { written: true },
            Some(_) => {
                errors.push(FieldError::new("/consentType", "must be express or written"));
                Kind::Consent { written: false }
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/kind", "must be reply, delivery_error or consent"));
            Kind::Reply
        }
    };
    if obj.contains_key("consentType") && !matches!(kind, Kind::Consent { .. }) {
        errors.push(FieldError::new("/consentType", "only goes with kind consent"));
    }
    let text = match obj.get("text") {
        Some(Value::String(t)) if t.chars().count() <= MAX_TEXT => t.clone(),
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                "/text",
                format!("is longer than {MAX_TEXT} characters"),
            ));
            String::new()
        }
        None | Some(Value::Null) if kind != Kind::Reply => String::new(),
        _ => {
            errors.push(FieldError::new("/text", "is required: what the customer sent"));
            String::new()
        }
    };
    let received_at = match obj.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => match shared::clock::parse_flexible(t) {
            Some(at) => Some(at),
            None => {
                errors.push(FieldError::new("/receivedAt", "must be an RFC 3339 timestamp"));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/receivedAt", "must be an RFC 3339 timestamp"));
            None
        }
    };
    let run_id = match obj.get("runId") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.chars().count() <= 200 => Some(r.clone()),
        Some(_) => {
            errors.push(FieldError::new("/runId", "must be a run id"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Message {
        tenant_id,
        channel: channel.expect("checked"),
        from,
        text,
        kind,
        run_id,
        received_at,
    })
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

impl Inbound {
    pub fn new(config: InboundConfig, clients: InboundClients, clock: SharedClock) -> Result<Self, StartError> {
        Ok(Self {
            machine_callers: config.machine_callers.clone(),
            tenants: TenantRegistry::new(clients.dynamodb.clone(), config.tenants_table.clone()),
            store: Store::new(clients.dynamodb, config.followups_table.clone()),
            schedules: Schedules::new(config.schedules, clients.scheduler, clients.sqs, clock.clone()),
            catalogue: Catalogue::load()?,
            clock,
        })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let span = info_span!("inbound", method = %req.method());
        async move {
            let response = self.respond(&req).await.unwrap_or_else(|e| {
                if e.status.is_server_error() {
                    warn!(code = e.code, message = %e.message, "inbound failed");
                }
                e.into_response()
            });
            info!(status = response.status().as_u16(), "inbound");
            response
        }
        .instrument(span)
        .await
    }

    async fn respond(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        if req.method() != Method::POST {
            return Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route accepts POST",
            )
            .with_header(http::header::ALLOW, "POST"));
        }
        let body = shared::http_request::json(req, MAX_BODY)?;
        let message = parse(&body).map_err(|fields| {
            ApiError::invalid_body("invalid_message", "the inbound message is invalid", fields)
                .expect("parse lists why it refused")
        })?;
        self.machine_callers
            .check(shared::callers::principal(req), &message.tenant_id)?;
        let span = info_span!("tenant", tenant_id = %message.tenant_id, channel = ?message.channel);
        self.apply(&message).instrument(span).await
    }

    async fn apply(&self, m: &Message) -> Result<Response<Body>, ApiError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            warn!(error = %e, "a dependency failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again shortly; nothing was lost",
            )
            .with_header(http::header::RETRY_AFTER, "5")
        };
        let now = self.clock.now();
        let excerpt: String = m.text.chars().take(160).collect();
        let reading = match m.kind {
            Kind::Consent { .. } => None,
            Kind::Reply => Some(read(m.channel, &m.text, false)),
            Kind::DeliveryError => Some(read(m.channel, &m.text, true)),
        };
        // 1. The ledgers first, whatever the tenant's state: an opt-out is never lost.
        let (label, channels) = match (&reading, m.kind) {
            (_, Kind::Consent { written }) => {
                let consent = followups::consent::Recorded {
                    written,
                    source: "inbound".into(),
                    at: m.received_at.unwrap_or(now),
                };
                let channel = channel_name(m.channel);
                self.store
                    .record_consent(&m.tenant_id, &m.from, channel, &consent, &json!({"text": excerpt}))
                    .await
                    .map_err(|e| unavailable(&e))?;
                ("consent", vec![channel])
            }
            (Some(r), _) => match &r.meaning {
                Meaning::OptOut { scope } | Meaning::Unreachable { scope } => {
                    let names = scope.names();
                    let source = if r.rule == Rule::DeliveryError {
                        "delivery_error"
                    } else {
                        "inbound"
                    };
                    let reason = json!({
                        "source": source, "channel": channel_name(m.channel), "rule": r.rule,
                        "decidedBy": r.decided_by, "text": excerpt, "at": iso_millis(now),
                    });
                    self.store
                        .add_opt_out(&m.tenant_id, &m.from, &names, &reason, now)
                        .await
                        .map_err(|e| unavailable(&e))?;
                    let label = if r.rule == Rule::DeliveryError {
                        "unreachable"
                    } else {
                        "opted_out"
                    };
                    (label, names)
                }
                Meaning::OptIn { scope } => {
                    let names = scope.names();
                    self.store
                        .remove_opt_out(&m.tenant_id, &m.from, Some(&names))
                        .await
                        .map_err(|e| unavailable(&e))?;
                    ("opted_in", names)
                }
                Meaning::Reply => ("reply", Vec::new()),
            },
            (None, _) => unreachable!("only consent has no reading"),
        };
        // 2. Then the runs, when the tenant has any.
        let record = self
            .tenants
            .get_record(&m.tenant_id)
            .await
            .map_err(|e| unavailable(&e))?;
        let tenant_status = match &record {
            None => "unknown",
            Some(r) if r.tenant.status == TenantStatus::Connected => "connected",
            Some(_) => "disconnected",
        };
        let mut halted = Vec::new();
        // The run's timeline says what decided: the rule and the words.
        let because = json!({
            "channel": channel_name(m.channel),
            "rule": reading.as_ref().map(|r| r.rule),
            "decidedBy": reading.as_ref().and_then(|r| r.decided_by.clone()),
        });
        if let Some(record) = record {
            let tenant = TenantView::load(&self.catalogue, &self.store, record)
                .await
                .map_err(|e| unavailable(&e))?;
            match label {
                "opted_out" => {
                    halted = self
                        .halt_for_address(&tenant, &m.from, HaltReason::OptedOut, &because, |_| true, now)
                        .await
                        .map_err(|e| unavailable(&e))?;
                }
                "reply" => {
                    halted = self
                        .halt_for_address(
                            &tenant,
                            &m.from,
                            HaltReason::Replied,
                            &because,
                            |recipe| tenant.recipes.get(recipe).is_none_or(|r| r.stop_when.on_reply),
                            now,
                        )
                        .await
                        .map_err(|e| unavailable(&e))?;
                }
                _ => {}
            }
        }
        info!(
            meaning = label,
            tenant_status,
            halted = halted.len(),
            "inbound message applied"
        );
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "tenantId": m.tenant_id,
                "tenantStatus": tenant_status,
                "meaning": label,
                "channels": channels,
                "rule": reading.as_ref().map(|r| r.rule),
                "decidedBy": reading.as_ref().and_then(|r| r.decided_by.clone()),
                "haltedRuns": halted,
            }),
        ))
    }

    /// Halts the active runs on every entity the address was written about (and the runs that wrote to it).
    async fn halt_for_address(
        &self,
        tenant: &TenantView,
        address: &str,
        reason: HaltReason,
        because: &Value,
        applies: impl Fn(&str) -> bool,
        now: jiff::Timestamp,
    ) -> Result<Vec<String>, followup_runtime::store::StoreError> {
        let tenant_id = tenant.tenant_id();
        let written = self.store.runs_for_address(tenant_id, address).await?;
        let mut run_ids: BTreeSet<String> = written.iter().map(|(r, _)| r.clone()).collect();
        let subjects: BTreeSet<String> = written.iter().map(|(_, s)| s.key()).collect();
        for key in &subjects {
            let subject = Subject::parse(key).expect("keys come from Subject::key");
            for slot in self.store.slots(tenant_id, &subject).await? {
                if let Some(active) = slot.active {
                    run_ids.insert(active.run_id);
                }
            }
        }
        let mut halted = Vec::new();
        for run_id in run_ids {
            let Some(run) = self.store.run(tenant_id, &run_id).await? else {
                continue;
            };
            if run.status != RunStatus::Active || !applies(&run.recipe) {
                continue;
            }
            if followup_runtime::halt(
                &self.store,
                &self.schedules,
                tenant_id,
                &run,
                reason,
                None,
                because,
                now,
            )
            .await?
            {
                halted.push(run_id);
            }
        }
        Ok(halted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Vec<String> {
        parse(&v).unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_kind_or_consent_type_that_is_not_a_string_is_refused_not_read_as_a_default() {
        let base = json!({"tenantId": "1001", "channel": "sms", "from": "+15125550100", "text": "yes"});
        for (extra, field) in [
            (json!({"kind": {}}), "/kind"),
            (json!({"kind": 5}), "/kind"),
            (json!({"kind": "consent", "consentType": true}), "/consentType"),
        ] {
            let mut body = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let errors = parse(&body).unwrap_err();
            assert!(errors.iter().any(|e| e.field == field && !e.rule), "{body}: {errors:?}");
        }
        let mut null_kind = base.clone();
        null_kind["kind"] = Value::Null;
        assert_eq!(parse(&null_kind).unwrap().kind, Kind::Reply, "null is the default");
        // A well-formed `from` that is no phone number is refused by a rule, not by the document's schema.
        let mut bad_from = base;
        bad_from["from"] = json!("+10000000");
        assert!(parse(&bad_from).unwrap_err().iter().all(|e| e.rule));
    }

    #[test]
    fn inbound_messages_are_checked_field_by_field() {
        let m = parse(&json!({"tenantId": "1001", "channel": "sms", "from": "(512) 555-0100 x12", "text": "STOP"}))
            .unwrap();
        assert_eq!(
            (m.from.as_str(), m.channel, m.kind),
            ("+15125550100", Channel::Sms, Kind::Reply)
        );
        let m = parse(
            &json!({"tenantId": 1001, "channel": "email", "from": "Mary <Mary@Example.com>", "kind": "delivery_error"}),
        )
        .unwrap();
        assert_eq!(
            (m.from.as_str(), m.kind, m.text.as_str()),
            ("mary@example.com", Kind::DeliveryError, "")
        );
        let m = parse(
            &json!({"tenantId": "7", "channel": "voice", "from": "+15125550100", "kind": "consent",
            "consentType": "written", "receivedAt": "2026-12-01T15:00:00Z"}),
        )
        .unwrap();
        assert_eq!(m.kind, Kind::Consent { written: true });
        assert_eq!(
            fields(json!({"tenantId": "01", "channel": "fax", "text": 5, "colour": "red"})),
            vec!["/colour", "/tenantId", "/channel", "/from", "/text"]
        );
        assert_eq!(
            fields(json!({"tenantId": "7", "channel": "sms", "from": "12", "text": "hi"})),
            vec!["/from"]
        );
        assert_eq!(
            fields(
                json!({"tenantId": "7", "channel": "sms", "from": "+15125550100", "text": "hi", "consentType": "written"})
            ),
            vec!["/consentType"]
        );
        assert_eq!(fields(json!([])), vec![""]);
    }
}
