//! SQS batches with partial failures: every message of a batch is handled at once, and only the ones that failed
//! are reported back (`ReportBatchItemFailures`), so that only they return to the queue; and sending many messages,
//! ten per `SendMessageBatch`.

use std::fmt::Display;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;
use futures::future::join_all;
use tracing::{Instrument, error, info, info_span, warn};

/// Handles every message of `batch` concurrently, each in a span with its message id, and lists the failed ones.
/// Failures for which `expected` is true (another worker holds the message, say) are logged at info, the rest as
/// errors.
pub async fn handle<'a, T, E, F, Fut>(batch: &'a SqsEvent, handle: F, expected: impl Fn(&E) -> bool) -> SqsBatchResponse
where
    E: Display,
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let results = join_all(batch.records.iter().map(|m| {
        let span = info_span!("message", message_id = m.message_id.as_deref().unwrap_or(""));
        handle(m).instrument(span)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in batch.records.iter().zip(results) {
        let Err(e) = result else { continue };
        // A message without an id cannot be reported; an empty identifier would fail the whole batch.
        if let Some(id) = message.message_id.clone().filter(|id| !id.is_empty()) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
        if expected(&e) {
            info!(error = %e, "message will be retried");
        } else {
            error!(error = %e, "message failed");
        }
    }
    response
}

/// How many times SQS has delivered the message (1 on the first delivery).
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// A `String` message attribute.
pub fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("type and value are set")
}

/// Moves a message to a dead-letter queue with its `reason` (and any other `attributes`, e.g. the tenant) as
/// message attributes, for a person to look at and redrive.
pub async fn park(
    sqs: &aws_sdk_sqs::Client,
    dead_letter_queue_url: &str,
    body: &str,
    reason: &str,
    attributes: &[(&str, &str)],
) -> Result<(), String> {
    let attr = string_attribute;
    let reason: String = reason.chars().take(1000).collect();
    let mut req = sqs
        .send_message()
        .queue_url(dead_letter_queue_url)
        .message_body(body)
        .message_attributes("reason", attr(&reason));
    for (k, v) in attributes.iter().filter(|(_, v)| !v.is_empty()) {
        req = req.message_attributes(*k, attr(v));
    }
    req.send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    warn!(reason, "parked in a dead-letter queue");
    Ok(())
}

/// Sends every body to the queue, ten per `SendMessageBatch`. Any entry SQS refuses is an error: the caller
/// repeats the whole send, so its messages must be safe to receive twice.
pub async fn send_all(sqs: &aws_sdk_sqs::Client, queue_url: &str, bodies: &[String]) -> Result<(), String> {
    for (n, chunk) in bodies.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("{n}-{i}"))
                    .message_body(body)
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        if let Some(f) = out.failed.first() {
            return Err(format!(
                "SQS refused a message: {} {}",
                f.code,
                f.message.as_deref().unwrap_or("")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: Option<&str>, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = id.map(str::to_owned);
        m.body = Some(body.to_owned());
        m
    }

    #[tokio::test]
    async fn only_failed_messages_with_ids_are_reported() {
        let mut batch = SqsEvent::default();
        batch.records = vec![
            message(Some("a"), "ok"),
            message(Some("b"), "fail"),
            message(None, "fail"),
            message(Some(""), "fail"),
            message(Some("c"), "busy"),
        ];
        let response = handle(
            &batch,
            |m| async move {
                match m.body.as_deref() {
                    Some("ok") => Ok(()),
                    Some(other) => Err(other.to_owned()),
                    None => Err("no body".to_owned()),
                }
            },
            |e: &String| e == "busy",
        )
        .await;
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, vec!["b", "c"]);
    }
}
