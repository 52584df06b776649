//! The dead-letter queues, read per tenant: what is parked there and why, and a redrive that moves one tenant's
//! messages (or every tenant's) back to the queue they came from once the cause is fixed.
//!
//! The queues are shared by every tenant. A message belongs to the tenant in its `tenant_id` attribute, or else in
//! its body's `tenantId`/`tenant_id` (EventBridge Scheduler delivers a schedule's input without attributes).
//!
//! A scan receives a queue ten messages at a time and keeps each message it passes over invisible until the scan
//! is done, so that it sees every message once; then it makes those visible again at once. Two scans of one queue
//! at the same moment hide messages from each other: a scan that may have missed some says so (`complete: false`).
//! Moving a message is send-then-delete. A crash in between leaves it in both queues, and every consumer absorbs
//! a duplicate (the events table's claim, a run's position and sequence, a lead's intents).

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// The queues a redrive can empty, by the name the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Queue {
    /// Events the processor gave up on.
    Events,
    /// Follow-up steps the runner gave up on.
    FollowUps,
    /// Step schedules EventBridge Scheduler could not deliver to the follow-ups queue.
    Schedules,
    /// Leads the creator gave up on.
    Leads,
    /// Reconcile passes the reconciler gave up on.
    Reconcile,
}

impl Queue {
    pub const ALL: [Queue; 5] = [
        Queue::Events,
        Queue::FollowUps,
        Queue::Schedules,
        Queue::Leads,
        Queue::Reconcile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::FollowUps => "followUps",
            Self::Schedules => "schedules",
            Self::Leads => "leads",
            Self::Reconcile => "reconcile",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == name)
    }
}

/// A dead-letter queue and the queue its messages go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub queue: Queue,
    pub dead_letter_url: String,
    pub source_url: String,
}

/// Whose messages a scan takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select<'a> {
    Tenant(&'a str),
    /// Every tenant's, and messages whose tenant cannot be told (an operator's redrive).
    All,
}

impl Select<'_> {
    fn takes(&self, tenant: Option<&str>) -> bool {
        match self {
            Self::Tenant(t) => tenant == Some(*t),
            Self::All => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Look only: describe the selected messages and leave every message where it is.
    Peek,
    /// Move the selected messages back to their source queue.
    Redrive,
}

/// One parked message, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parked {
    pub tenant_id: Option<String>,
    /// What the message is about: an event's name and entity, a run, a lead, a feed.
    pub about: String,
    /// Why it was parked, as the function that parked it wrote (absent when SQS moved it after too many receives).
    pub reason: Option<String>,
    /// When it was first sent to the dead-letter queue.
    pub parked_at: Option<Timestamp>,
}

/// What one scan of one queue found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scan {
    pub queue: Queue,
    /// Messages looked at (every tenant's).
    pub scanned: u32,
    /// Of those, the selected ones.
    pub selected: u32,
    /// Of those, the ones moved back to the source queue.
    pub redriven: u32,
    /// The first few selected messages.
    pub samples: Vec<Parked>,
    /// False when the scan stopped at its limit or another scan was running: run it again to see the rest.
    pub complete: bool,
}

/// How many selected messages a scan describes.
pub const SAMPLES: usize = 20;

#[derive(Debug, thiserror::Error)]
#[error("the {queue} dead-letter queue: {message}")]
pub struct DeadLetterError {
    pub queue: &'static str,
    pub message: String,
}

/// The tenant a message belongs to: its `tenant_id` attribute, else its body's `tenantId` or `tenant_id`.
pub fn tenant_of(attributes: Option<&HashMap<String, MessageAttributeValue>>, body: &str) -> Option<String> {
    if let Some(t) = attributes
        .and_then(|a| a.get("tenant_id"))
        .and_then(|v| v.string_value())
        .filter(|t| !t.is_empty())
    {
        return Some(t.to_owned());
    }
    let body: Value = serde_json::from_str(body).ok()?;
    ["tenantId", "tenant_id"].iter().find_map(|k| match body.get(*k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A short description of a message body, for people: never the payload itself.
pub fn about(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return "a message that is not JSON".into();
    };
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    let text = if let Some(name) = field("event_name") {
        let entity = v.get("entity").map(|e| {
            let kind = e.get("kind").and_then(Value::as_str).unwrap_or("?");
            match e.get("id").and_then(Value::as_str) {
                Some(id) => format!(" ({kind} {id})"),
                None => format!(" ({kind})"),
            }
        });
        format!("event {name}{}", entity.unwrap_or_default())
    } else if let Some(run) = field("runId") {
        format!(
            "follow-up step {} of run {run}",
            v.get("step").and_then(Value::as_u64).unwrap_or(0) + 1
        )
    } else if let Some(lead) = field("leadId") {
        format!("{} for lead {lead}", field("kind").unwrap_or("lead"))
    } else if let Some(kind) = field("kind") {
        match field("reason") {
            Some(reason) => format!("{kind} ({reason})"),
            None => kind.to_owned(),
        }
    } else {
        "a message of unknown shape".into()
    };
    text.chars().take(160).collect()
}

/// Scans `route`'s dead-letter queue for `select`'s messages, looking at most `limit` messages in all, and peeks
/// at or redrives them.
pub async fn scan(
    sqs: &aws_sdk_sqs::Client,
    route: &Route,
    select: Select<'_>,
    action: Action,
    limit: u32,
) -> Result<Scan, DeadLetterError> {
    let fail = |e: String| DeadLetterError {
        queue: route.queue.as_str(),
        message: e,
    };
    let mut report = Scan {
        queue: route.queue,
        scanned: 0,
        selected: 0,
        redriven: 0,
        samples: Vec::new(),
        complete: true,
    };
    // Receipt handles of the messages passed over, made visible again when the scan ends.
    let mut held: Vec<String> = Vec::new();
    let result = async {
        loop {
            if report.scanned >= limit {
                report.complete = false;
                break;
            }
            let out = sqs
                .receive_message()
                .queue_url(&route.dead_letter_url)
                .max_number_of_messages(10.min(limit - report.scanned) as i32)
                // Long enough to finish the scan, short enough that a crash hides nothing for long.
                .visibility_timeout(120)
                .wait_time_seconds(0)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                report.scanned += 1;
                let body = m.body().unwrap_or_default();
                let Some(handle) = m.receipt_handle().map(str::to_owned) else {
                    continue;
                };
                let attributes = m.message_attributes();
                let tenant = tenant_of(attributes, body);
                if !select.takes(tenant.as_deref()) {
                    held.push(handle);
                    continue;
                }
                report.selected += 1;
                if report.samples.len() < SAMPLES {
                    report.samples.push(Parked {
                        tenant_id: tenant.clone(),
                        about: about(body),
                        reason: attributes
                            .and_then(|a| a.get("reason"))
                            .and_then(|v| v.string_value())
                            .map(|r| r.chars().take(300).collect()),
                        parked_at: m
                            .attributes()
                            .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                            .and_then(|ms| ms.parse::<i64>().ok())
                            .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
                    });
                }
                match action {
                    Action::Peek => held.push(handle),
                    Action::Redrive => {
                        redrive_one(sqs, route, body, attributes, tenant.as_deref()).await?;
                        sqs.delete_message()
                            .queue_url(&route.dead_letter_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
                        report.redriven += 1;
                    }
                }
            }
        }
        Ok::<(), String>(())
    }
    .await;
    // Whatever happened, what was passed over is made visible again (a failure here only delays it).
    release(sqs, &route.dead_letter_url, &held).await;
    result.map_err(fail)?;
    Ok(report)
}

/// Sends a parked message back to its source queue with its attributes, less the reason it was parked for.
async fn redrive_one(
    sqs: &aws_sdk_sqs::Client,
    route: &Route,
    body: &str,
    attributes: Option<&HashMap<String, MessageAttributeValue>>,
    tenant: Option<&str>,
) -> Result<(), String> {
    let mut req = sqs.send_message().queue_url(&route.source_url).message_body(body);
    for (k, v) in attributes.into_iter().flatten().filter(|(k, _)| k.as_str() != "reason") {
        req = req.message_attributes(k, v.clone());
    }
    if let Some(t) = tenant.filter(|_| !attributes.is_some_and(|a| a.contains_key("tenant_id"))) {
        req = req.message_attributes("tenant_id", crate::sqs_batch::string_attribute(t));
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

async fn release(sqs: &aws_sdk_sqs::Client, queue_url: &str, handles: &[String]) {
    for (n, chunk) in handles.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("{n}-{i}"))
                    .receipt_handle(h)
                    .visibility_timeout(0)
                    .build()
                    .expect("id and handle are set")
            })
            .collect();
        if let Err(e) = sqs
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "passed-over messages stay hidden until their visibility timeout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sqs_batch::string_attribute as attr;

    #[test]
    fn the_tenant_comes_from_the_attribute_then_the_body() {
        let attrs = HashMap::from([("tenant_id".to_owned(), attr("7"))]);
        assert_eq!(tenant_of(Some(&attrs), r#"{"tenantId":"8"}"#).as_deref(), Some("7"));
        assert_eq!(tenant_of(None, r#"{"tenantId":"8"}"#).as_deref(), Some("8"));
        assert_eq!(tenant_of(None, r#"{"tenant_id":"9"}"#).as_deref(), Some("9"));
        assert_eq!(tenant_of(None, r#"{"tenantId":1001}"#).as_deref(), Some("1001"));
        assert_eq!(tenant_of(None, "not json"), None);
        assert_eq!(tenant_of(None, r#"{"tenantId":""}"#), None);
        let empty = HashMap::from([("tenant_id".to_owned(), attr(""))]);
        assert_eq!(tenant_of(Some(&empty), r#"{"tenantId":"8"}"#).as_deref(), Some("8"));
    }

    #[test]
    fn a_tenant_selection_takes_only_that_tenant() {
        assert!(Select::Tenant("7").takes(Some("7")));
        assert!(!Select::Tenant("7").takes(Some("8")));
        assert!(!Select::Tenant("7").takes(None));
        assert!(Select::All.takes(None));
    }

    #[test]
    fn messages_are_described_without_their_payload() {
        let event = r#"{"tenant_id":"1","event_name":"estimate.sent","entity":{"kind":"estimate","id":"90"},
            "payload":{"customer":"Ada Secret"}}"#;
        assert_eq!(about(event), "event estimate.sent (estimate 90)");
        assert_eq!(
            about(r#"{"kind":"followup.step","tenantId":"1","runId":"r1","step":1}"#),
            "follow-up step 2 of run r1"
        );
        assert_eq!(
            about(r#"{"kind":"lead.create","tenantId":"1","leadId":"L9"}"#),
            "lead.create for lead L9"
        );
        assert_eq!(
            about(r#"{"kind":"reconcile","tenantId":"1","reason":"rerun"}"#),
            "reconcile (rerun)"
        );
        assert_eq!(about("{"), "a message that is not JSON");
        assert!(!about(event).contains("Ada"));
    }

    #[test]
    fn queue_names_round_trip() {
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.as_str()), Some(q));
        }
        assert_eq!(Queue::parse("nope"), None);
    }
}
