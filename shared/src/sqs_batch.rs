//! SQS batches with partial failures: every message of a batch is handled at once, and only the ones that failed
//! are reported back (`ReportBatchItemFailures`), so that only they return to the queue; and sending many messages,
//! ten per `SendMessageBatch`.

use std::fmt::Display;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;
use futures::future::join_all;
use jiff::SignedDuration;
use tracing::{Instrument, error, info, info_span, warn};

use crate::clock::SharedClock;
use crate::config::{ConfigError, EnvSource};

/// Set by the local stack only: requeued copies wait by their [`NOT_BEFORE_ATTRIBUTE`] on the stack's clock, which
/// the stack's event sources honour, instead of by SQS's `DelaySeconds` (moto holds those on wall time).
pub const DELAY_ON_STACK_CLOCK_ENV: &str = "SQS_DELAY_ON_STACK_CLOCK";
/// When a requeued copy is due, in epoch milliseconds.
pub const NOT_BEFORE_ATTRIBUTE: &str = "notBefore";
/// How many times a message has been requeued.
pub const REQUEUES_ATTRIBUTE: &str = "requeues";
/// After this many requeues a message fails as any other would, and so dead-letters in the end: a lease that never
/// runs out, or a dependency down for hours, is for a person to look at, not a reason to wait forever.
pub const MAX_REQUEUES: u32 = 20;
/// SQS's longest `DelaySeconds`.
const MAX_DELAY: SignedDuration = SignedDuration::from_secs(900);
/// The first wait for a dependency that is down; doubled at each requeue up to [`MAX_DELAY`], so the 20 requeues
/// span about four hours.
const FIRST_OUTAGE_DELAY: SignedDuration = SignedDuration::from_secs(30);

/// Why a failed message waits as a delayed copy instead of failing (which uses up one of its receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Another worker holds what it names: due when that lease has run out.
    Busy,
    /// A dependency it needs is down (ServiceTitan answering 5xx, say): due after a backoff that grows with each
    /// requeue, so an outage of hours dead-letters nothing while the receives would be spent in minutes.
    Unavailable,
}

/// Where and how long a consumer's busy messages wait (see [`Requeue`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequeueConfig {
    pub queue_url: String,
    /// The holder's lease, at most: the copy is due once it has passed (1 s to SQS's 15 minutes).
    pub delay: SignedDuration,
    /// [`DELAY_ON_STACK_CLOCK_ENV`].
    pub on_stack_clock: bool,
}

impl RequeueConfig {
    /// The queue the consumer reads (`queue_url_key`), and the lease its holders take.
    pub fn from_env(env: &impl EnvSource, queue_url_key: &str, lease: SignedDuration) -> Result<Self, ConfigError> {
        Ok(Self {
            queue_url: env.required(queue_url_key)?,
            delay: lease.clamp(SignedDuration::from_secs(1), MAX_DELAY),
            on_stack_clock: crate::config::parse_bool(
                DELAY_ON_STACK_CLOCK_ENV,
                env.var(DELAY_ON_STACK_CLOCK_ENV),
                false,
            )?,
        })
    }
}

/// Where a consumer sends a message back when another worker holds what it names (a lease): a fresh copy, delayed
/// until that lease has run out, and the original acknowledged. Waiting for another worker then uses up none of
/// the receives that dead-letter a message that fails. A crash between the two leaves two copies, which every
/// consumer's claims make harmless.
#[derive(Clone)]
pub struct Requeue {
    sqs: aws_sdk_sqs::Client,
    config: RequeueConfig,
    clock: SharedClock,
}

impl Requeue {
    pub fn new(sqs: aws_sdk_sqs::Client, config: RequeueConfig, clock: SharedClock) -> Self {
        Self { sqs, config, clock }
    }

    /// Sends the copy, or says why not (the limit reached, or SQS refused): the message then fails as usual.
    async fn send(&self, message: &SqsMessage, wait: Wait) -> Result<SignedDuration, String> {
        let requeues: u32 = message
            .message_attributes
            .get(REQUEUES_ATTRIBUTE)
            .and_then(|a| a.string_value.as_deref()?.parse().ok())
            .unwrap_or(0);
        if requeues >= MAX_REQUEUES {
            return Err(format!("requeued {requeues} times already"));
        }
        let RequeueConfig {
            queue_url,
            delay,
            on_stack_clock,
        } = &self.config;
        let delay = &match wait {
            Wait::Busy => *delay,
            Wait::Unavailable => outage_delay(requeues),
        };
        let not_before = self.clock.now() + *delay;
        let mut req = self
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(message.body.as_deref().unwrap_or(""))
            .delay_seconds(if *on_stack_clock { 0 } else { delay.as_secs() as i32 })
            .message_attributes(REQUEUES_ATTRIBUTE, number_attribute(u64::from(requeues) + 1))
            .message_attributes(
                NOT_BEFORE_ATTRIBUTE,
                number_attribute(not_before.as_millisecond() as u64),
            );
        for (name, value) in &message.message_attributes {
            if name == REQUEUES_ATTRIBUTE || name == NOT_BEFORE_ATTRIBUTE {
                continue;
            }
            if let (Some(kind), Some(text)) = (value.data_type.as_deref(), value.string_value.as_deref()) {
                req = req.message_attributes(name, attribute(kind, text));
            }
        }
        req.send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(*delay)
    }
}

/// The wait before the `requeues`+1-th try of a message whose dependency is down.
fn outage_delay(requeues: u32) -> SignedDuration {
    let secs = FIRST_OUTAGE_DELAY.as_secs().saturating_mul(1 << requeues.min(16));
    SignedDuration::from_secs(secs).min(MAX_DELAY)
}

fn number_attribute(n: u64) -> MessageAttributeValue {
    attribute("Number", &n.to_string())
}

/// Handles every message of `batch` concurrently, each in a span with its message id, and lists the failed ones.
/// A failure that should [`Wait`] (another worker holds what the message names, or a dependency is down) goes back
/// through `requeue` as a delayed copy when it can, and is not reported; otherwise it is reported and logged at
/// warn. Every other failure is reported and logged as an error.
pub async fn handle<'a, T, E, F, Fut>(
    batch: &'a SqsEvent,
    handle: F,
    wait: impl Fn(&E) -> Option<Wait>,
    requeue: &Requeue,
) -> SqsBatchResponse
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
        let message_id = message.message_id.as_deref().unwrap_or("");
        if let Some(w) = wait(&e) {
            match requeue.send(message, w).await {
                Ok(delay) => {
                    info!(message_id, error = %e, wait = ?w, delay_seconds = delay.as_secs(), "requeued as a delayed copy");
                    continue;
                }
                Err(why) => warn!(message_id, error = %e, wait = ?w, why, "not requeued: the message will be retried"),
            }
        } else {
            error!(message_id, error = %e, "message failed");
        }
        // A message without an id cannot be reported; an empty identifier would fail the whole batch.
        if let Some(id) = message.message_id.clone().filter(|id| !id.is_empty()) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
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
    attribute("String", value)
}

fn attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
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
    use aws_lambda_events::event::sqs::SqsMessageAttribute;

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
        // "c" has been requeued as often as it may: it fails as any other message would (no SQS call is made).
        let mut spent = SqsMessageAttribute::default();
        spent.data_type = Some("Number".into());
        spent.string_value = Some(MAX_REQUEUES.to_string());
        batch.records[4]
            .message_attributes
            .insert(REQUEUES_ATTRIBUTE.into(), spent);
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .build(),
        );
        let env = std::collections::HashMap::from([("Q".to_owned(), "unused".to_owned())]);
        let config = RequeueConfig::from_env(&env, "Q", SignedDuration::from_secs(60)).unwrap();
        let requeue = Requeue::new(sqs, config, crate::clock::system());
        let response = handle(
            &batch,
            |m| async move {
                match m.body.as_deref() {
                    Some("ok") => Ok(()),
                    Some(other) => Err(other.to_owned()),
                    None => Err("no body".to_owned()),
                }
            },
            |e: &String| (e == "busy").then_some(Wait::Busy),
            &requeue,
        )
        .await;
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, vec!["b", "c"]);
    }

    #[test]
    fn a_requeue_waits_out_the_lease_within_sqs_limits() {
        let mut env = std::collections::HashMap::from([("Q".to_owned(), "https://q".to_owned())]);
        let delay = |env: &std::collections::HashMap<String, String>, secs| {
            RequeueConfig::from_env(env, "Q", SignedDuration::from_secs(secs)).unwrap()
        };
        assert_eq!(delay(&env, 120).delay, SignedDuration::from_secs(120));
        assert_eq!(delay(&env, 3600).delay, MAX_DELAY, "SQS delays at most 15 minutes");
        assert_eq!(delay(&env, 0).delay, SignedDuration::from_secs(1));
        assert!(
            !delay(&env, 60).on_stack_clock,
            "SQS's own delay unless the local stack says otherwise"
        );
        env.insert(DELAY_ON_STACK_CLOCK_ENV.into(), "true".into());
        assert!(delay(&env, 60).on_stack_clock);
        assert!(RequeueConfig::from_env(&env, "MISSING", SignedDuration::from_secs(1)).is_err());
    }

    #[test]
    fn waiting_out_an_outage_backs_off_to_sqs_longest_delay_and_spans_hours() {
        let delays: Vec<i64> = (0..MAX_REQUEUES).map(|n| outage_delay(n).as_secs()).collect();
        assert_eq!(&delays[..6], &[30, 60, 120, 240, 480, 900]);
        assert!(delays.iter().all(|d| *d <= MAX_DELAY.as_secs()));
        let total: i64 = delays.iter().sum();
        assert!((4 * 3600..5 * 3600).contains(&total), "{total} s");
    }
}
