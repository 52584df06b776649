//! Consumes normalised ServiceTitan events from the events queue.
//!
//! Each message is claimed in the events table before anything happens and marked done after, so duplicates on
//! the queue (ServiceTitan retries, manual replays, SQS's own at-least-once delivery, an intake crash between
//! enqueue and record) have exactly one effect. A failed message is reported in `batchItemFailures`; after the
//! queue's `maxReceiveCount` SQS moves it to the dead-letter queue, and the events table keeps the last error.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use jiff::SignedDuration;
use tracing::{Instrument, error, info, info_span, warn};

use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::event::ServiceTitanEvent;
use shared::event_log::{Claim, EventLog};
use shared::tenants::{TenantRegistry, TenantStatus};

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub tenants_table: String,
    pub events_table: String,
    /// How long a claim is held before another worker may take the event over (covers a crashed worker).
    pub lease: SignedDuration,
    /// The events queue's `maxReceiveCount`: a failure on this attempt sends the message to the dead-letter queue,
    /// so the event is marked `failed` for the status page.
    pub max_receive_count: u32,
}

impl ProcessorConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            events_table: env.required("EVENTS_TABLE")?,
            lease: SignedDuration::from_secs(env.parsed_or("EVENT_LEASE_SECONDS", 120)?),
            max_receive_count: env.parsed_or("EVENTS_MAX_RECEIVE_COUNT", 5)?,
        })
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    Duplicate,
    /// The tenant disconnected after the delivery was accepted: recorded, not acted on.
    SkippedDisconnected,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("message body is not a ServiceTitan event: {0}")]
    Poison(String),
    #[error("another worker holds this event; retry later")]
    Busy,
    #[error("{0}")]
    Dependency(String),
}

pub struct Processor {
    config: ProcessorConfig,
    events: EventLog,
    tenants: TenantRegistry,
    clock: SharedClock,
}

impl Processor {
    pub fn new(config: ProcessorConfig, dynamodb: aws_sdk_dynamodb::Client, clock: SharedClock) -> Self {
        Self {
            events: EventLog::new(dynamodb.clone(), config.events_table.clone()),
            tenants: TenantRegistry::new(dynamodb, config.tenants_table.clone()),
            config,
            clock,
        }
    }

    /// Handles a batch; failed messages are listed so that only they return to the queue.
    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        let results = join_all(batch.records.iter().map(|m| {
            let span = info_span!("message", message_id = m.message_id.as_deref().unwrap_or(""));
            self.handle_message(m).instrument(span)
        }))
        .await;
        let mut response = SqsBatchResponse::default();
        for (message, result) in batch.records.iter().zip(results) {
            if let Err(e) = result {
                // A message without an id cannot be reported; an empty identifier would fail the whole batch.
                if let Some(id) = message.message_id.clone().filter(|id| !id.is_empty()) {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
                match e {
                    ProcessError::Busy => info!(error = %e, "message will be retried"),
                    _ => error!(error = %e, "message failed"),
                }
            }
        }
        response
    }

    pub async fn handle_message(&self, message: &SqsMessage) -> Result<Outcome, ProcessError> {
        let body = message.body.as_deref().unwrap_or("");
        let event: ServiceTitanEvent = serde_json::from_str(body).map_err(|e| ProcessError::Poison(e.to_string()))?;
        let span = info_span!("event", tenant_id = %event.tenant_id, event_id = %event.event_id, event_name = %event.event_name);
        self.process(&event).instrument(span).await
    }

    pub async fn process(&self, event: &ServiceTitanEvent) -> Result<Outcome, ProcessError> {
        let now = self.clock.now();
        let dependency = |e: &dyn std::fmt::Display| ProcessError::Dependency(e.to_string());
        let attempt = match self
            .events
            .claim(event, now, self.config.lease)
            .await
            .map_err(|e| dependency(&e))?
        {
            Claim::AlreadyDone => {
                info!("duplicate; already processed");
                return Ok(Outcome::Duplicate);
            }
            Claim::HeldElsewhere => return Err(ProcessError::Busy),
            Claim::Acquired { attempt } => {
                info!(attempt, "claimed");
                attempt
            }
        };

        match self.apply(event).await {
            Ok(outcome) => {
                let label = match outcome {
                    Outcome::SkippedDisconnected => "skipped_disconnected",
                    _ => "processed",
                };
                self.events
                    .complete(&event.tenant_id, &event.event_id, self.clock.now(), label)
                    .await
                    .map_err(|e| dependency(&e))?;
                Ok(outcome)
            }
            Err(e) => {
                if let Err(release) = self
                    .events
                    .release(
                        &event.tenant_id,
                        &event.event_id,
                        &e.to_string(),
                        attempt >= self.config.max_receive_count,
                    )
                    .await
                {
                    // The lease expires on its own; the retry will take the event over then.
                    warn!(error = %release, "could not release the claim");
                }
                Err(e)
            }
        }
    }

    /// The effect of an event. Today: note it on the tenant. The follow-up engine starts and stops recipes here.
    async fn apply(&self, event: &ServiceTitanEvent) -> Result<Outcome, ProcessError> {
        let dependency = |e: &dyn std::fmt::Display| ProcessError::Dependency(e.to_string());
        let tenant = self.tenants.get(&event.tenant_id).await.map_err(|e| dependency(&e))?;
        if tenant.is_none_or(|t| t.status != TenantStatus::Connected) {
            info!("tenant is no longer connected; event recorded but not acted on");
            return Ok(Outcome::SkippedDisconnected);
        }
        self.tenants
            .record_webhook(&event.tenant_id, event.occurred_at, &event.event_id)
            .await
            .map_err(|e| dependency(&e))?;
        Ok(Outcome::Processed)
    }
}
