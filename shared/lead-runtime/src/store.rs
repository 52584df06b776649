//! Leads in DynamoDB (`LeadsTable`, keyed by `tenant_id` and `sk`):
//!
//! | `sk` | what |
//! |---|---|
//! | `lead#<lead id>` | the lead as accepted, its status, the match decision and every ServiceTitan id made for it |
//! | `lead#<lead id>#att#<fingerprint>` | a transcript or summary sent later, and whether it is attached yet |
//! | `transcript#<lead id>#<fingerprint>` | the transcript the lead came with (up to 100,000 characters) |
//!
//! The transcript is an item of its own so the lead's item stays small however long the conversation was (a tenant's
//! lead list reads every lead item), and outside the `lead#` prefix so listing leads never reads transcripts.
//!
//! A lead's ServiceTitan ids are recorded the moment each record exists, and an *intent* is recorded just before
//! each create, so a worker that dies between the two finds the record by its external data (or note marker) on
//! the next attempt instead of making it twice.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use leads::lead::Lead;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::api_error::FieldError;
use shared::aws::is_conditional_check_failed;
use shared::clock::iso_millis;
use shared::dynamo_item::{Item, flag, n, num, s, string_set, text, time};

/// How long leads are kept.
pub const RETENTION: SignedDuration = SignedDuration::from_hours(400 * 24);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("leads table unavailable: {0}")]
    Unavailable(String),
    #[error("lead record {key} is malformed: {reason}")]
    Malformed { key: String, reason: String },
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    /// Stored and queued.
    Accepted,
    /// The worker is matching and creating.
    Matching,
    Created,
    /// Stopped with a reason; the retry route starts it again.
    Failed,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Matching => "matching",
            Self::Created => "created",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Accepted, Self::Matching, Self::Created, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The ServiceTitan records made (or found) for a lead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ids {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<i64>,
    /// A ServiceTitan CRM lead, when there was too little to make a customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicetitan_lead_id: Option<i64>,
}

/// The record kinds [`Ids`] holds, by attribute name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Customer,
    Location,
    Job,
    Estimate,
    Booking,
    ServiceTitanLead,
}

impl Record {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Customer => "customer_id",
            Self::Location => "location_id",
            Self::Job => "job_id",
            Self::Estimate => "estimate_id",
            Self::Booking => "booking_id",
            Self::ServiceTitanLead => "st_lead_id",
        }
    }
}

/// Why a lead failed, as `GET /leads/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FailureField>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureField {
    pub field: String,
    pub reason: String,
}

impl From<&FieldError> for FailureField {
    fn from(e: &FieldError) -> Self {
        Self {
            field: e.field.clone(),
            reason: e.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadRecord {
    pub lead: Lead,
    #[serde(skip)]
    pub fingerprint: String,
    pub status: LeadStatus,
    /// The queue message was sent (a repeat of `POST /leads` sends it again while this is false).
    #[serde(skip)]
    pub queued: bool,
    pub received_at: Timestamp,
    pub updated_at: Timestamp,
    pub attempts: u32,
    pub ids: Ids,
    /// Creates started (`customer`, `location`, `job`, `estimate`, `booking`, `st_lead`, `note:<key>`).
    #[serde(skip)]
    pub intents: BTreeSet<String>,
    /// Notes written (`conversation`, `review`, `repeat`, `att:<fingerprint>`).
    pub notes: BTreeSet<String>,
    /// The match decision with its evidence.
    pub decision: Option<Value>,
    /// What became of the lead: `new_customer`, `matched_customer`, `repeat_request`, `booking`, `servicetitan_lead`.
    pub outcome: Option<String>,
    pub error: Option<Failure>,
}

impl LeadRecord {
    /// The lead as `GET /leads/{id}` shows it.
    pub fn view(&self, attachments: &[Attachment]) -> Value {
        serde_json::json!({
            "leadId": self.lead.lead_id,
            "tenantId": self.lead.tenant_id,
            "source": self.lead.source,
            "status": self.status,
            "receivedAt": iso_millis(self.received_at),
            "updatedAt": iso_millis(self.updated_at),
            "attempts": self.attempts,
            "outcome": self.outcome,
            "decision": self.decision,
            "servicetitan": self.ids,
            "notes": self.notes,
            "error": self.error,
            "attachments": attachments.iter().map(|a| serde_json::json!({
                "id": a.fingerprint, "receivedAt": iso_millis(a.received_at), "attached": a.attached,
            })).collect::<Vec<_>>(),
            "links": {"self": format!("/leads/{}?tenantId={}", self.lead.lead_id, self.lead.tenant_id)},
        })
    }
}

/// A transcript or summary sent after the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    pub received_at: Timestamp,
    #[serde(default)]
    pub attached: bool,
}

/// What `accept` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A new lead, stored.
    New,
    /// The same lead again (same id, same content).
    Repeat(Box<LeadRecord>),
    /// Another lead under a used id.
    Conflict,
}

/// Leads per status, for the admin status page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub accepted: u32,
    pub matching: u32,
    pub created: u32,
    pub failed: u32,
}

#[derive(Clone, Debug)]
pub struct LeadStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(tenant_id: &str, sk: &str) -> Item {
    Item::from([("tenant_id".to_owned(), s(tenant_id)), ("sk".to_owned(), s(sk))])
}

fn lead_sk(lead_id: &str) -> String {
    format!("lead#{lead_id}")
}

fn transcript_sk(lead_id: &str, fingerprint: &str) -> String {
    format!("transcript#{lead_id}#{fingerprint}")
}

fn expiry(at: Timestamp) -> AttributeValue {
    n((at + RETENTION).as_second())
}

fn id_of(item: &Item, k: &str) -> Option<i64> {
    num(item, k)
}

fn record_of(item: &Item) -> Result<LeadRecord, StoreError> {
    let key = text(item, "sk").unwrap_or("?").to_owned();
    let malformed = |reason: &str| StoreError::Malformed {
        key: key.clone(),
        reason: reason.to_owned(),
    };
    let lead: Lead = text(item, "lead_json")
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| malformed("no lead"))?;
    Ok(LeadRecord {
        lead,
        fingerprint: text(item, "fingerprint").unwrap_or_default().to_owned(),
        status: text(item, "status")
            .and_then(LeadStatus::parse)
            .ok_or_else(|| malformed("no status"))?,
        queued: flag(item, "queued"),
        received_at: time(item, "received_at").ok_or_else(|| malformed("no received_at"))?,
        updated_at: time(item, "updated_at").ok_or_else(|| malformed("no updated_at"))?,
        attempts: num(item, "attempts").unwrap_or(0),
        ids: Ids {
            customer_id: id_of(item, "customer_id"),
            location_id: id_of(item, "location_id"),
            job_id: id_of(item, "job_id"),
            estimate_id: id_of(item, "estimate_id"),
            booking_id: id_of(item, "booking_id"),
            servicetitan_lead_id: id_of(item, "st_lead_id"),
        },
        intents: string_set(item, "intents").into_iter().collect(),
        notes: string_set(item, "notes_done").into_iter().collect(),
        decision: text(item, "decision").and_then(|d| serde_json::from_str(d).ok()),
        outcome: text(item, "outcome").map(str::to_owned),
        error: text(item, "error").and_then(|e| serde_json::from_str(e).ok()),
    })
}

impl LeadStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new lead (status accepted, not yet queued), or says what is there already under its id.
    pub async fn accept(&self, lead: &Lead, fingerprint: &str, now: Timestamp) -> Result<Accepted, StoreError> {
        let mut item = key(&lead.tenant_id, &lead_sk(&lead.lead_id));
        let mut short = lead.clone();
        if let Some(transcript) = short.transcript.take() {
            // First, so a lead item never names a transcript that is not there. Keyed by the fingerprint: a
            // conflicting lead under the same id cannot overwrite this one's, and a retry writes the same item.
            let sk = transcript_sk(&lead.lead_id, fingerprint);
            let mut t = key(&lead.tenant_id, &sk);
            t.insert("transcript".into(), s(transcript));
            t.insert("expires_at".into(), expiry(now));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(t))
                .send()
                .await
                .map_err(unavailable)?;
            item.insert("transcript_sk".into(), s(sk));
        }
        item.insert(
            "lead_json".into(),
            s(serde_json::to_string(&short).expect("a lead serialises")),
        );
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("status".into(), s(LeadStatus::Accepted.as_str()));
        item.insert("queued".into(), AttributeValue::Bool(false));
        item.insert("received_at".into(), s(iso_millis(now)));
        item.insert("updated_at".into(), s(iso_millis(now)));
        item.insert("attempts".into(), n(0));
        item.insert("expires_at".into(), expiry(now));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Accepted::New),
            Err(e) if is_conditional_check_failed(&e) => {
                let existing = self
                    .get(&lead.tenant_id, &lead.lead_id)
                    .await?
                    .ok_or_else(|| StoreError::Unavailable("the lead vanished between two reads".into()))?;
                Ok(if existing.fingerprint == fingerprint {
                    Accepted::Repeat(Box::new(existing))
                } else {
                    Accepted::Conflict
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn get(&self, tenant_id: &str, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_id, &lead_sk(lead_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let mut record = record_of(item)?;
        if let Some(sk) = text(item, "transcript_sk") {
            let t = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(tenant_id, sk)))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?;
            record.lead.transcript = Some(
                t.item()
                    .and_then(|t| text(t, "transcript"))
                    .ok_or_else(|| StoreError::Malformed {
                        key: sk.to_owned(),
                        reason: "the lead's transcript is missing".into(),
                    })?
                    .to_owned(),
            );
        }
        Ok(Some(record))
    }

    fn update(
        &self,
        tenant_id: &str,
        sk: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_id, sk)))
    }

    async fn apply(
        &self,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn mark_queued(&self, tenant_id: &str, lead_id: &str) -> Result<(), StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("SET queued = :t")
                .condition_expression("attribute_exists(sk)")
                .expression_attribute_values(":t", AttributeValue::Bool(true)),
        )
        .await
        .map(drop)
    }

    /// A worker takes the lead up for `lease`: accepted → matching, or matching whose last worker's lease ran out
    /// (it died part-way). `false` when another worker holds it, or it is created or failed already.
    pub async fn start_attempt(
        &self,
        tenant_id: &str,
        lead_id: &str,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Result<bool, StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("SET #st = :matching, updated_at = :now, lease_until = :until ADD attempts :one")
                .condition_expression(
                    "#st = :accepted OR (#st = :matching AND (attribute_not_exists(lease_until) OR lease_until < :now))",
                )
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":matching", s(LeadStatus::Matching.as_str()))
                .expression_attribute_values(":accepted", s(LeadStatus::Accepted.as_str()))
                .expression_attribute_values(":now", s(iso_millis(now)))
                .expression_attribute_values(":until", s(iso_millis(now + lease)))
                .expression_attribute_values(":one", n(1)),
        )
        .await
    }

    /// Gives the lead up after a dependency failure, for the queue's next delivery to take it at once.
    pub async fn release(&self, tenant_id: &str, lead_id: &str) -> Result<(), StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("REMOVE lease_until")
                .condition_expression("attribute_exists(sk)"),
        )
        .await
        .map(drop)
    }

    /// Keeps the first match decision: a retry goes on with the decision made, not a new one.
    pub async fn record_decision(&self, tenant_id: &str, lead_id: &str, decision: &Value) -> Result<Value, StoreError> {
        let out = self
            .update(tenant_id, &lead_sk(lead_id))
            .update_expression("SET decision = if_not_exists(decision, :d)")
            .expression_attribute_values(":d", s(decision.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .attributes()
            .and_then(|a| text(a, "decision"))
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_else(|| decision.clone()))
    }

    /// Records that a create is about to be sent (`customer`, `job`, `note:conversation`, ...).
    pub async fn intend(&self, tenant_id: &str, lead_id: &str, what: &str) -> Result<(), StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("ADD intents :w")
                .expression_attribute_values(":w", AttributeValue::Ss(vec![what.to_owned()])),
        )
        .await
        .map(drop)
    }

    /// Records a ServiceTitan id, keeping the first one recorded.
    pub async fn record_id(&self, tenant_id: &str, lead_id: &str, record: Record, id: i64) -> Result<i64, StoreError> {
        let attr = record.attribute();
        let out = self
            .update(tenant_id, &lead_sk(lead_id))
            .update_expression(format!("SET {attr} = if_not_exists({attr}, :id)"))
            .expression_attribute_values(":id", n(id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes().and_then(|a| id_of(a, attr)).unwrap_or(id))
    }

    pub async fn note_done(&self, tenant_id: &str, lead_id: &str, note: &str) -> Result<(), StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("ADD notes_done :k")
                .expression_attribute_values(":k", AttributeValue::Ss(vec![note.to_owned()])),
        )
        .await
        .map(drop)
    }

    /// The lead is done: `outcome` says what it became.
    pub async fn finish(
        &self,
        tenant_id: &str,
        lead_id: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("SET #st = :created, outcome = :o, updated_at = :now REMOVE #err, lease_until")
                .condition_expression("#st = :matching")
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#err", "error")
                .expression_attribute_values(":created", s(LeadStatus::Created.as_str()))
                .expression_attribute_values(":matching", s(LeadStatus::Matching.as_str()))
                .expression_attribute_values(":o", s(outcome))
                .expression_attribute_values(":now", s(iso_millis(now))),
        )
        .await
    }

    /// The lead stops with a reason (ServiceTitan refused a record, the settings lack something, the retries ran out).
    pub async fn fail(&self, tenant_id: &str, lead_id: &str, failure: &Failure) -> Result<bool, StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("SET #st = :failed, #err = :e, updated_at = :now REMOVE lease_until")
                .condition_expression("#st IN (:accepted, :matching)")
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#err", "error")
                .expression_attribute_values(":failed", s(LeadStatus::Failed.as_str()))
                .expression_attribute_values(":accepted", s(LeadStatus::Accepted.as_str()))
                .expression_attribute_values(":matching", s(LeadStatus::Matching.as_str()))
                .expression_attribute_values(":e", s(serde_json::to_string(failure).expect("serialises")))
                .expression_attribute_values(":now", s(iso_millis(failure.at))),
        )
        .await
    }

    /// A failed lead goes back to accepted (not queued) for another attempt, which resumes where it stopped. The
    /// match decision is forgotten unless a customer was already taken or made, so a fixed address is used. So does
    /// a lead left `matching` by a worker that died or timed out holding it, once its lease has run out.
    pub async fn retry(&self, tenant_id: &str, lead_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.apply(
            self.update(tenant_id, &lead_sk(lead_id))
                .update_expression("SET #st = :accepted, queued = :f, updated_at = :now REMOVE #err, lease_until")
                .condition_expression(
                    "#st = :failed OR (#st = :matching AND (attribute_not_exists(lease_until) OR lease_until < :now))",
                )
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#err", "error")
                .expression_attribute_values(":accepted", s(LeadStatus::Accepted.as_str()))
                .expression_attribute_values(":failed", s(LeadStatus::Failed.as_str()))
                .expression_attribute_values(":matching", s(LeadStatus::Matching.as_str()))
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .expression_attribute_values(":now", s(iso_millis(now))),
        )
        .await
    }

    /// Leads per status (a query over the tenant's leads).
    pub async fn counts(&self, tenant_id: &str) -> Result<Counts, StoreError> {
        let items = self.lead_rows(tenant_id, Some("sk, #st")).await?;
        let mut c = Counts::default();
        for item in &items {
            match text(item, "status").and_then(LeadStatus::parse) {
                Some(LeadStatus::Accepted) => c.accepted += 1,
                Some(LeadStatus::Matching) => c.matching += 1,
                Some(LeadStatus::Created) => c.created += 1,
                Some(LeadStatus::Failed) => c.failed += 1,
                None => {}
            }
        }
        Ok(c)
    }

    /// The tenant's latest leads, newest first. Leads are keyed by their id, so this reads the tenant's whole
    /// partition (lead rows only); a record that cannot be read is logged and left out.
    pub async fn recent(&self, tenant_id: &str, limit: usize) -> Result<Vec<LeadRecord>, StoreError> {
        let items = self.lead_rows(tenant_id, None).await?;
        let mut records: Vec<LeadRecord> = items
            .iter()
            .filter_map(|item| {
                record_of(item)
                    .inspect_err(|e| tracing::warn!(error = %e, "a lead record left out of the list"))
                    .ok()
            })
            .collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.received_at));
        records.truncate(limit);
        Ok(records)
    }

    /// The tenant's lead rows (not their attachments: those have no status), with only `projection` if given
    /// (`#st` names the status).
    async fn lead_rows(&self, tenant_id: &str, projection: Option<&str>) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t AND begins_with(sk, :p)")
            .filter_expression("attribute_exists(#st)")
            .expression_attribute_names("#st", "status")
            .set_projection_expression(projection.map(str::to_owned))
            .expression_attribute_values(":t", s(tenant_id))
            .expression_attribute_values(":p", s("lead#"))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)
    }

    // ------------------------------------------------------------------------------------------------ attachments

    fn attachment_sk(lead_id: &str, fingerprint: &str) -> String {
        format!("lead#{lead_id}#att#{fingerprint}")
    }

    /// Stores a later transcript or summary; `false` when the same one was stored before.
    pub async fn add_attachment(&self, tenant_id: &str, lead_id: &str, a: &Attachment) -> Result<bool, StoreError> {
        let mut item = key(tenant_id, &Self::attachment_sk(lead_id, &a.fingerprint));
        item.insert("attachment".into(), s(serde_json::to_string(a).expect("serialises")));
        item.insert("attached".into(), AttributeValue::Bool(false));
        item.insert("expires_at".into(), expiry(a.received_at));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The lead's attachments, oldest first.
    pub async fn attachments(&self, tenant_id: &str, lead_id: &str) -> Result<Vec<Attachment>, StoreError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t AND begins_with(sk, :p)")
            .expression_attribute_values(":t", s(tenant_id))
            .expression_attribute_values(":p", s(format!("lead#{lead_id}#att#")))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut out: Vec<Attachment> = items
            .iter()
            .filter_map(|item| {
                let mut a: Attachment = serde_json::from_str(text(item, "attachment")?).ok()?;
                a.attached = flag(item, "attached");
                Some(a)
            })
            .collect();
        out.sort_by_key(|a| a.received_at);
        Ok(out)
    }

    /// Takes an attachment up for `lease` (two messages may try to attach it at once); `false` when attached already
    /// or another worker holds it.
    pub async fn claim_attachment(
        &self,
        tenant_id: &str,
        lead_id: &str,
        fingerprint: &str,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Result<bool, StoreError> {
        self.apply(
            self.update(tenant_id, &Self::attachment_sk(lead_id, fingerprint))
                .update_expression("SET lease_until = :until")
                .condition_expression("attached = :f AND (attribute_not_exists(lease_until) OR lease_until < :now)")
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .expression_attribute_values(":now", s(iso_millis(now)))
                .expression_attribute_values(":until", s(iso_millis(now + lease))),
        )
        .await
    }

    pub async fn mark_attached(&self, tenant_id: &str, lead_id: &str, fingerprint: &str) -> Result<(), StoreError> {
        self.apply(
            self.update(tenant_id, &Self::attachment_sk(lead_id, fingerprint))
                .update_expression("SET attached = :t REMOVE lease_until")
                .condition_expression("attribute_exists(sk)")
                .expression_attribute_values(":t", AttributeValue::Bool(true)),
        )
        .await
        .map(drop)
    }
}
