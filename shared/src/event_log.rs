//! The events table: one item per (tenant, event id), kept for [`RETENTION`].
//!
//! It carries the two halves of "one effect per event":
//! - the intake records an event as `accepted` only *after* it is on the queue, and skips enqueueing a delivery it
//!   has already recorded. A crash between enqueue and record just means the retry enqueues again;
//! - the processor claims each event with a conditional write before acting and marks it `done` after, so
//!   duplicates on the queue (from that crash, from SQS itself, or from a replay) have no second effect.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use jiff::{SignedDuration, Timestamp};

use crate::clock::iso_millis;
use crate::event::{ServiceTitanEvent, TenantId};

/// What the events table keeps about a delivery (never the payload itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub tenant_id: TenantId,
    pub event_id: String,
    /// The canonical name, or the name as delivered when it is not one the product knows.
    pub event_name: String,
    pub entity_kind: Option<&'static str>,
    pub entity_id: Option<String>,
    pub occurred_at: Timestamp,
    pub received_at: Timestamp,
}

impl From<&ServiceTitanEvent> for EventSummary {
    fn from(e: &ServiceTitanEvent) -> Self {
        Self {
            tenant_id: e.tenant_id.clone(),
            event_id: e.event_id.clone(),
            event_name: e.event_name.as_str().to_owned(),
            entity_kind: Some(e.entity.kind.as_str()),
            entity_id: e.entity.id.clone(),
            occurred_at: e.occurred_at,
            received_at: e.received_at,
        }
    }
}

/// ServiceTitan can replay failed deliveries by hand long after the fact; 30 days is the floor, plus margin.
pub const RETENTION: SignedDuration = SignedDuration::from_hours(35 * 24);

/// The oldest event (by its occurred-at) the intake accepts: ServiceTitan's manual replay of failed deliveries.
/// Shorter than [`RETENTION`], which counts from receipt: a copy arriving after an event's dedupe record expired
/// is older than the window, so a captured delivery can never take effect twice.
pub const REPLAY_WINDOW: SignedDuration = SignedDuration::from_hours(30 * 24);
const _: () = assert!(REPLAY_WINDOW.as_secs() < RETENTION.as_secs());

pub mod status {
    pub const ACCEPTED: &str = "accepted";
    pub const PARKED: &str = "parked";
    pub const PROCESSING: &str = "processing";
    pub const DONE: &str = "done";
    /// Failed on the queue's last delivery: the message is in the dead-letter queue. A redrive claims it again.
    pub const FAILED: &str = "failed";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    AlreadyPresent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker owns the event until the lease runs out. `attempt` counts from 1.
    Acquired {
        attempt: u32,
    },
    AlreadyDone,
    /// Another worker holds a live lease; try again later.
    HeldElsewhere,
}

#[derive(Debug, thiserror::Error)]
#[error("events table unavailable: {0}")]
pub struct EventLogError(pub String);

fn err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> EventLogError {
    EventLogError(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

#[derive(Debug, Clone)]
pub struct EventLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl EventLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(tenant_id: &str, event_id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("tenant_id".to_owned(), AttributeValue::S(tenant_id.to_owned())),
            ("event_id".to_owned(), AttributeValue::S(event_id.to_owned())),
        ])
    }

    /// Strongly consistent read of one record's attributes.
    pub async fn get(
        &self,
        tenant_id: &str,
        event_id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, EventLogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(err)?;
        Ok(out.item)
    }

    pub async fn contains(&self, tenant_id: &str, event_id: &str) -> Result<bool, EventLogError> {
        Ok(self.get(tenant_id, event_id).await?.is_some())
    }

    /// Records a delivery as accepted (queued) or parked, unless a record already exists.
    pub async fn record(
        &self,
        event: &EventSummary,
        status: &str,
        note: Option<&str>,
    ) -> Result<Recorded, EventLogError> {
        let mut item = Self::key(&event.tenant_id, &event.event_id);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        item.insert("status".into(), s(status));
        item.insert("event_name".into(), s(&event.event_name));
        if let Some(kind) = event.entity_kind {
            item.insert("entity_kind".into(), s(kind));
        }
        if let Some(id) = &event.entity_id {
            item.insert("entity_id".into(), s(id));
        }
        item.insert("occurred_at".into(), s(&iso_millis(event.occurred_at)));
        item.insert("received_at".into(), s(&iso_millis(event.received_at)));
        item.insert(
            "expires_at".into(),
            AttributeValue::N(expiry(event.received_at).to_string()),
        );
        if let Some(note) = note {
            item.insert("note".into(), s(note));
        }
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(event_id)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(Recorded::New),
            Err(e) if crate::aws::is_conditional_check_failed(&e) => Ok(Recorded::AlreadyPresent),
            Err(e) => Err(err(e)),
        }
    }

    /// Claims an event for processing. Creates the record if the intake never got to write it.
    pub async fn claim(
        &self,
        event: &ServiceTitanEvent,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Result<Claim, EventLogError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&event.tenant_id, &event.event_id)))
            .update_expression(
                "SET #status = :processing, lease_until = :lease, attempts = if_not_exists(attempts, :zero) + :one, \
                 event_name = if_not_exists(event_name, :name), received_at = if_not_exists(received_at, :received), \
                 expires_at = if_not_exists(expires_at, :expires)",
            )
            .condition_expression(
                "attribute_not_exists(#status) OR #status IN (:accepted, :failed) OR \
                 (#status = :processing AND lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", AttributeValue::S(status::PROCESSING.into()))
            .expression_attribute_values(":accepted", AttributeValue::S(status::ACCEPTED.into()))
            .expression_attribute_values(":failed", AttributeValue::S(status::FAILED.into()))
            .expression_attribute_values(":lease", AttributeValue::N((now + lease).as_millisecond().to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.as_millisecond().to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":name", AttributeValue::S(event.event_name.as_str().into()))
            .expression_attribute_values(":received", AttributeValue::S(iso_millis(event.received_at)))
            .expression_attribute_values(":expires", AttributeValue::N(expiry(event.received_at).to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => {
                let attempt = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("attempts"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(Claim::Acquired { attempt })
            }
            Err(e) => {
                let Some(service) = e.as_service_error() else {
                    return Err(err(e));
                };
                if !service.is_conditional_check_failed_exception() {
                    return Err(err(e));
                }
                let current = match service {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c
                        .item()
                        .and_then(|i| i.get("status"))
                        .and_then(|v| v.as_s().ok())
                        .cloned(),
                    _ => None,
                };
                Ok(match current.as_deref() {
                    Some(status::DONE) => Claim::AlreadyDone,
                    _ => Claim::HeldElsewhere,
                })
            }
        }
    }

    /// Marks a claimed event done. Conditional on still being `processing`, so a late worker whose lease ran out
    /// cannot overwrite anything but its own claim.
    pub async fn complete(
        &self,
        tenant_id: &str,
        event_id: &str,
        now: Timestamp,
        outcome: &str,
    ) -> Result<(), EventLogError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, event_id)))
            .update_expression(
                "SET #status = :done, processed_at = :now, outcome = :outcome REMOVE lease_until, last_error",
            )
            .condition_expression("#status = :processing")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", AttributeValue::S(status::DONE.into()))
            .expression_attribute_values(":processing", AttributeValue::S(status::PROCESSING.into()))
            .expression_attribute_values(":now", AttributeValue::S(iso_millis(now)))
            .expression_attribute_values(":outcome", AttributeValue::S(outcome.into()))
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Gives up a claim after a failure, keeping the reason, so the next delivery of the message can retry. On the
    /// queue's last delivery (`last_attempt`) the event is marked `failed`: it is on its way to the dead-letter queue.
    pub async fn release(
        &self,
        tenant_id: &str,
        event_id: &str,
        reason: &str,
        last_attempt: bool,
    ) -> Result<(), EventLogError> {
        let next = if last_attempt { status::FAILED } else { status::ACCEPTED };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, event_id)))
            .update_expression("SET #status = :accepted, last_error = :reason REMOVE lease_until")
            .condition_expression("#status = :processing")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":accepted", AttributeValue::S(next.into()))
            .expression_attribute_values(":processing", AttributeValue::S(status::PROCESSING.into()))
            .expression_attribute_values(":reason", AttributeValue::S(reason.chars().take(1000).collect()))
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }
}

impl EventLog {
    /// Every record of the tenant's partition, with only the `projection`'s attributes (`#status` names the status).
    async fn tenant_items(
        &self,
        tenant_id: &str,
        projection: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, EventLogError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", AttributeValue::S(tenant_id.to_owned()))
            .projection_expression(projection);
        if projection.contains("#status") {
            query = query.expression_attribute_names("#status", "status");
        }
        query.into_paginator().items().send().try_collect().await.map_err(err)
    }

    /// How many of the tenant's events (within [`RETENTION`]) are waiting, failed or parked, for the status page.
    /// Reads the tenant's partition only; events done are the bulk of it and are only counted, not returned.
    pub async fn counts(&self, tenant_id: &str) -> Result<EventCounts, EventLogError> {
        let items = self.tenant_items(tenant_id, "#status").await?;
        let mut counts = EventCounts::default();
        for item in &items {
            match item.get("status").and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(status::ACCEPTED | status::PROCESSING) => counts.queued += 1,
                Some(status::FAILED) => counts.failed += 1,
                Some(status::PARKED) => counts.parked += 1,
                Some(status::DONE) => counts.done += 1,
                _ => {}
            }
        }
        Ok(counts)
    }
}

/// One webhook subscription's deliveries: how many the intake took (within [`RETENTION`]) and the last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub count: u64,
    pub last_received_at: Option<Timestamp>,
}

impl EventLog {
    /// The tenant's webhook deliveries by event name: only what came through the intake (which records when the
    /// event occurred), not the reconciler's or the product's own events.
    pub async fn webhook_stats(
        &self,
        tenant_id: &str,
    ) -> Result<std::collections::BTreeMap<String, WebhookStats>, EventLogError> {
        let items = self
            .tenant_items(tenant_id, "event_name, received_at, occurred_at")
            .await?;
        let mut out: std::collections::BTreeMap<String, WebhookStats> = std::collections::BTreeMap::new();
        for item in items.iter().filter(|i| i.contains_key("occurred_at")) {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
            let Some(name) = text("event_name") else { continue };
            let stats = out.entry(name.clone()).or_default();
            stats.count += 1;
            let at = text("received_at").and_then(|t| t.parse::<Timestamp>().ok());
            stats.last_received_at = stats.last_received_at.max(at);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EventCounts {
    /// Accepted or being processed.
    pub queued: u64,
    /// In the dead-letter queue.
    pub failed: u64,
    /// Unknown event names, kept but not processed.
    pub parked: u64,
    pub done: u64,
}

fn expiry(received_at: Timestamp) -> i64 {
    (received_at + RETENTION).as_second()
}
