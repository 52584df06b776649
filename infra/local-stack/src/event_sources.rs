//! SQS event source mappings, as Lambda runs them: poll, batch, invoke, delete what succeeded, and leave what
//! failed invisible for the queue's visibility timeout, after which it is received again. moto moves a message
//! to the dead-letter queue once it has been received `maxReceiveCount` times.
//!
//! The visibility timeout runs on the virtual clock: a failed message is hidden in moto and released by this
//! module once virtual time has passed its timeout, so a test can step over retries by advancing the clock. A
//! message delayed by its `notBefore` attribute (a busy consumer's requeued copy; the functions send those without
//! `DelaySeconds` here, see `shared::sqs_batch`) is held the same way until virtual time reaches it.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::functions::{SqsHandler, SqsSource};

/// Longest SQS visibility timeout: long enough that moto never re-shows a held message by itself.
const HIDDEN: i32 = 43_200;

struct Held {
    receipt_handle: String,
    visible_at: Timestamp,
}

pub struct SqsEventSource {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    batch_size: i32,
    report_batch_item_failures: bool,
    visibility_timeout: SignedDuration,
    region: String,
    handler: SqsHandler,
    /// One poller at a time, as with a mapping of concurrency one; drain relies on it.
    poll_lock: Mutex<()>,
    held: Mutex<Vec<Held>>,
    faults: std::sync::Arc<crate::faults::Faults>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PollStats {
    pub received: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Received before their `notBefore`, and held until then without being delivered.
    pub delayed: usize,
}

impl SqsEventSource {
    pub async fn new(
        sqs: &aws_sdk_sqs::Client,
        function: String,
        queue_url: String,
        source: &SqsSource,
        region: String,
        handler: SqsHandler,
        faults: std::sync::Arc<crate::faults::Faults>,
    ) -> anyhow::Result<Self> {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let visibility: i64 = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        Ok(Self {
            function,
            queue_url,
            queue_arn: source.queue_arn.clone(),
            batch_size: source.batch_size.clamp(1, 10),
            report_batch_item_failures: source.report_batch_item_failures,
            visibility_timeout: SignedDuration::from_secs(visibility),
            region,
            handler,
            poll_lock: Mutex::new(()),
            held: Mutex::new(Vec::new()),
            faults,
        })
    }

    /// Makes failed messages whose visibility timeout has passed (in virtual time) receivable again.
    pub async fn release_due(&self, sqs: &aws_sdk_sqs::Client, now: Timestamp) -> usize {
        let due: Vec<Held> = {
            let mut held = self.held.lock().await;
            let (due, keep) = std::mem::take(&mut *held)
                .into_iter()
                .partition(|h| h.visible_at <= now);
            *held = keep;
            due
        };
        for h in &due {
            if let Err(e) = sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(&h.receipt_handle)
                .visibility_timeout(0)
                .send()
                .await
            {
                warn!(queue = self.queue_url, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not release a message");
            }
        }
        due.len()
    }

    /// When the next held message becomes visible again, if any.
    pub async fn next_release(&self) -> Option<Timestamp> {
        self.held.lock().await.iter().map(|h| h.visible_at).min()
    }

    /// Receives and processes batches until the queue has no visible message.
    pub async fn poll_until_empty(&self, sqs: &aws_sdk_sqs::Client, now: Timestamp) -> anyhow::Result<PollStats> {
        let _guard = self.poll_lock.lock().await;
        let mut total = PollStats::default();
        loop {
            let stats = self.poll_once(sqs, now).await?;
            total.received += stats.received;
            total.succeeded += stats.succeeded;
            total.failed += stats.failed;
            total.delayed += stats.delayed;
            if stats.received + stats.delayed == 0 {
                return Ok(total);
            }
        }
    }

    async fn poll_once(&self, sqs: &aws_sdk_sqs::Client, now: Timestamp) -> anyhow::Result<PollStats> {
        let out = sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(0)
            .visibility_timeout(HIDDEN)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let mut messages = Vec::new();
        let mut delayed = 0;
        {
            let mut held = self.held.lock().await;
            for m in out.messages.unwrap_or_default() {
                match (not_before(&m), m.receipt_handle.clone()) {
                    (Some(at), Some(receipt)) if at > now => {
                        delayed += 1;
                        held.push(Held {
                            receipt_handle: receipt,
                            visible_at: at,
                        });
                    }
                    _ => messages.push(m),
                }
            }
        }
        if messages.is_empty() {
            return Ok(PollStats {
                delayed,
                ..PollStats::default()
            });
        }
        let receipts: HashMap<String, String> = messages
            .iter()
            .filter_map(|m| Some((m.message_id.clone()?, m.receipt_handle.clone()?)))
            .collect();
        let chaos = self.faults.sqs_batch();
        if chaos.reorder {
            self.faults.shuffle(&mut messages);
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.to_lambda_message(m)).collect();
        let failed_ids = if chaos.duplicate {
            // Two invocations at once, as two pollers receiving the same message; done if either succeeds.
            let (a, b) = tokio::join!(self.invoke(event.clone(), &receipts), self.invoke(event, &receipts));
            a.into_iter().filter(|id| b.contains(id)).collect()
        } else {
            self.invoke(event, &receipts).await
        };

        let succeeded: Vec<(&String, &String)> = receipts.iter().filter(|(id, _)| !failed_ids.contains(id)).collect();
        if !succeeded.is_empty() {
            let entries = succeeded
                .iter()
                .enumerate()
                .map(|(i, (_, receipt))| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .build()
                        .expect("id and receipt are set")
                })
                .collect();
            sqs.delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        }
        let mut held = self.held.lock().await;
        for id in &failed_ids {
            if let Some(receipt) = receipts.get(id) {
                held.push(Held {
                    receipt_handle: receipt.clone(),
                    visible_at: now + self.visibility_timeout,
                });
            }
        }
        let stats = PollStats {
            received: receipts.len(),
            succeeded: succeeded.len(),
            failed: failed_ids.len(),
            delayed,
        };
        info!(
            function = self.function,
            received = stats.received,
            failed = stats.failed,
            "batch delivered"
        );
        Ok(stats)
    }

    /// One invocation of the function with `event`: the ids of the messages that failed.
    async fn invoke(&self, event: SqsEvent, receipts: &HashMap<String, String>) -> Vec<String> {
        match (self.handler)(event).await {
            Ok(resp) if self.report_batch_item_failures => {
                let ids: Vec<String> = resp
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect();
                // Lambda treats an unknown identifier as a failure of the whole batch.
                if ids.iter().any(|id| !receipts.contains_key(id)) {
                    warn!(
                        function = self.function,
                        "batchItemFailures named an unknown message; retrying the whole batch"
                    );
                    receipts.keys().cloned().collect()
                } else {
                    ids
                }
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                warn!(
                    function = self.function,
                    error = e,
                    "function failed; the whole batch returns to the queue"
                );
                receipts.keys().cloned().collect()
            }
        }
    }

    fn to_lambda_message(&self, m: &aws_sdk_sqs::types::Message) -> SqsMessage {
        // (Lambda hands a function every message attribute, `notBefore` included.)
        let mut out = SqsMessage::default();
        out.message_id = m.message_id.clone();
        out.receipt_handle = m.receipt_handle.clone();
        out.body = m.body.clone();
        out.md5_of_body = m.md5_of_body.clone();
        out.md5_of_message_attributes = m.md5_of_message_attributes.clone();
        out.attributes = m
            .attributes()
            .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
            .unwrap_or_default();
        out.message_attributes = m
            .message_attributes()
            .map(|attrs| {
                attrs
                    .iter()
                    .map(|(k, v)| {
                        let mut a = SqsMessageAttribute::default();
                        a.data_type = Some(v.data_type().to_owned());
                        a.string_value = v.string_value().map(str::to_owned);
                        (k.clone(), a)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.event_source = Some("aws:sqs".into());
        out.event_source_arn = Some(self.queue_arn.clone());
        out.aws_region = Some(self.region.clone());
        out
    }
}

/// A requeued copy's due time (`shared::sqs_batch::NOT_BEFORE_ATTRIBUTE`, epoch milliseconds).
fn not_before(m: &aws_sdk_sqs::types::Message) -> Option<Timestamp> {
    let millis: i64 = m
        .message_attributes()?
        .get(shared::sqs_batch::NOT_BEFORE_ATTRIBUTE)?
        .string_value()?
        .parse()
        .ok()?;
    Timestamp::from_millisecond(millis).ok()
}
