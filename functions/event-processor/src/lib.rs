//! Consumes normalised ServiceTitan events from the events queue and turns them into follow-up decisions.
//!
//! Each message is claimed in the events table before anything happens and marked done after, so duplicates on
//! the queue (ServiceTitan retries, manual replays, SQS's own at-least-once delivery, an intake crash between
//! enqueue and record) have exactly one effect. A failed message is reported in `batchItemFailures`; after the
//! queue's `maxReceiveCount` SQS moves it to the dead-letter queue, and the events table keeps the last error. A
//! message that is not an event at all goes to the dead-letter queue at once, with the reason as an attribute.
//!
//! Between the claim and the completion, an event is a hint: [`subjects`] reads the entities it concerns live from
//! ServiceTitan, and [`engine`] merges them into their snapshots, decides (the `followups` crate) and carries the
//! decisions out: runs enrolled or halted, schedules created or deleted, watches set.

pub mod engine;
pub mod subjects;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use jiff::SignedDuration;
use tracing::{Instrument, debug, info, info_span, warn};

use followup_runtime::TenantView;
use followup_runtime::schedules::{ScheduleConfig, Schedules};
use followup_runtime::store::Store;
use followups::decide::Subject;
use followups::recipe::Catalogue;
use servicetitan::{Connections, CredentialStore, DynamoDbTokenStore};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::event::{EventIdSource, ServiceTitanEvent};
use shared::event_log::{Claim, EventLog};
use shared::servicetitan_env::HostsByEnvironment;
use shared::tenants::{TenantRegistry, TenantStatus};

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub tenants_table: String,
    pub events_table: String,
    pub followups_table: String,
    pub tokens_table: String,
    /// The tenants' request budget shared by every function (`None`: only this process's own limiter).
    pub budget: Option<servicetitan::BudgetLimits>,
    /// Tenants' credentials secrets are named `<prefix><tenant id>/servicetitan`.
    pub tenant_secret_prefix: String,
    pub hosts: HostsByEnvironment,
    pub schedules: ScheduleConfig,
    /// Where a message that is not an event goes at once, with the reason (retrying it could never help).
    pub dead_letter_queue_url: String,
    /// How long a claim is held before another worker may take the event over (covers a crashed worker).
    pub lease: SignedDuration,
    /// The events queue's `maxReceiveCount`: a failure on this attempt sends the message to the dead-letter queue,
    /// so the event is marked `failed` for the status page.
    pub max_receive_count: u32,
    /// ServiceTitan unavailable (429, 5xx, no answer, after the client's own retries): the event is tried again
    /// through a one-shot schedule, this many times with backoff (1 minute doubling to an hour, about 7 hours in
    /// all for 12), rather than burning the queue's few quick redeliveries; then it is failed and dead-lettered.
    pub servicetitan_retries: u32,
    /// Where a message goes back, delayed past the lease, when another worker holds its event.
    pub requeue: shared::sqs_batch::RequeueConfig,
}

impl ProcessorConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let lease = SignedDuration::from_secs(env.parsed_or("EVENT_LEASE_SECONDS", 120)?);
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            events_table: env.required("EVENTS_TABLE")?,
            followups_table: env.required("FOLLOWUPS_TABLE")?,
            tokens_table: env.required("TOKENS_TABLE")?,
            budget: servicetitan::BudgetLimits::from_env(env)?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            hosts: HostsByEnvironment::from_env(env),
            schedules: ScheduleConfig::from_env(env)?,
            dead_letter_queue_url: env.required("EVENTS_DEAD_LETTER_QUEUE_URL")?,
            lease,
            max_receive_count: env.parsed_or("EVENTS_MAX_RECEIVE_COUNT", 5)?,
            servicetitan_retries: env.parsed_or("EVENT_SERVICETITAN_RETRIES", 12)?,
            requeue: shared::sqs_batch::RequeueConfig::from_env(env, "EVENTS_QUEUE_URL", lease)?,
        })
    }
}

/// The AWS clients the function uses.
#[derive(Debug, Clone)]
pub struct ProcessorClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub sqs: aws_sdk_sqs::Client,
}

pub use followup_runtime::StartError;

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed(engine::Effects),
    Duplicate,
    /// The tenant disconnected after the delivery was accepted: recorded, not acted on.
    SkippedDisconnected,
    /// Not an event at all, or ServiceTitan stayed unavailable through every retry: moved to the dead-letter queue
    /// with the reason.
    Parked(String),
    /// ServiceTitan is unavailable: the event is tried again later through a schedule.
    Retrying,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("another worker holds this event; retry later")]
    Busy,
    /// One of our own dependencies (DynamoDB, Secrets Manager, the Scheduler): the queue redelivers.
    #[error("{0}")]
    Dependency(String),
    /// ServiceTitan could not be read for now.
    #[error("ServiceTitan unavailable: {0}")]
    ServiceTitan(String),
}

pub struct Processor {
    config: ProcessorConfig,
    requeue: shared::sqs_batch::Requeue,
    events: EventLog,
    tenants: TenantRegistry,
    store: Store,
    schedules: Schedules,
    connections: Connections,
    catalogue: Catalogue,
    sqs: aws_sdk_sqs::Client,
    clock: SharedClock,
}

impl Processor {
    pub fn new(config: ProcessorConfig, clients: ProcessorClients, clock: SharedClock) -> Result<Self, StartError> {
        // ServiceTitan's 60 requests/s per tenant are shared with every other function calling it.
        let budget = config.budget.map(|limits| {
            Arc::new(servicetitan::SharedBudget::new(
                clients.dynamodb.clone(),
                config.tokens_table.clone(),
                limits,
            ))
        });
        let tenants = TenantRegistry::new(clients.dynamodb.clone(), config.tenants_table.clone());
        let tokens = Arc::new(
            DynamoDbTokenStore::new(clients.dynamodb.clone(), config.tokens_table.clone()).with_clock(clock.clone()),
        );
        Ok(Self {
            events: EventLog::new(clients.dynamodb.clone(), config.events_table.clone()),
            store: Store::new(clients.dynamodb, config.followups_table.clone()),
            schedules: Schedules::new(
                config.schedules.clone(),
                clients.scheduler,
                clients.sqs.clone(),
                clock.clone(),
            ),
            requeue: shared::sqs_batch::Requeue::new(clients.sqs.clone(), config.requeue.clone(), clock.clone()),
            sqs: clients.sqs,
            connections: Connections::new(
                tenants.clone(),
                CredentialStore::new(clients.secrets, config.tenant_secret_prefix.clone()),
                tokens,
                config.hosts.clone(),
                clock.clone(),
            )
            .with_budget(budget, servicetitan::Priority::Interactive),
            catalogue: Catalogue::load()?,
            tenants,
            config,
            clock,
        })
    }

    /// Handles a batch; failed messages are listed so that only they return to the queue.
    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        shared::sqs_batch::handle(
            &batch,
            |m| self.handle_message(m),
            |e| matches!(e, ProcessError::Busy).then_some(shared::sqs_batch::Wait::Busy),
            &self.requeue,
        )
        .await
    }

    pub async fn handle_message(&self, message: &SqsMessage) -> Result<Outcome, ProcessError> {
        let body = message.body.as_deref().unwrap_or("");
        let event: ServiceTitanEvent = match serde_json::from_str(body) {
            Ok(e) => e,
            Err(e) => return self.park(body, &format!("not a ServiceTitan event: {e}")).await,
        };
        let receive_count = shared::sqs_batch::receive_count(message);
        let span = info_span!("event", tenant_id = %event.tenant_id, event_id = %event.event_id, event_name = %event.event_name);
        self.process(&event, receive_count).instrument(span).await
    }

    /// Moves a message that can never be processed to the dead-letter queue with its reason as an attribute.
    async fn park(&self, body: &str, reason: &str) -> Result<Outcome, ProcessError> {
        shared::sqs_batch::park(&self.sqs, &self.config.dead_letter_queue_url, body, reason, &[])
            .await
            .map_err(ProcessError::Dependency)?;
        Ok(Outcome::Parked(reason.chars().take(1000).collect()))
    }

    /// Claims, applies and completes one event; `receive_count` is the queue message's (its last one fails the event).
    pub async fn process(&self, event: &ServiceTitanEvent, receive_count: u32) -> Result<Outcome, ProcessError> {
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
                // Per-message lines are debug: at a million events a month, each info line is log bytes billed.
                debug!(attempt, "claimed");
                attempt
            }
        };

        match self.apply(event).await {
            Ok(outcome) => {
                let label = match &outcome {
                    Outcome::SkippedDisconnected => "skipped_disconnected",
                    Outcome::Parked(_) => "parked",
                    Outcome::Processed(e) => {
                        debug!(
                            enrolled = e.enrolled,
                            halted = e.halted,
                            watches = e.watches,
                            not_enrolled = e.not_enrolled,
                            "processed"
                        );
                        "processed"
                    }
                    Outcome::Duplicate => "duplicate",
                    Outcome::Retrying => unreachable!("retries are not applied outcomes"),
                };
                self.events
                    .complete(&event.tenant_id, &event.event_id, self.clock.now(), label)
                    .await
                    .map_err(|e| dependency(&e))?;
                Ok(outcome)
            }
            Err(ProcessError::ServiceTitan(reason)) => {
                let gave_up = attempt > self.config.servicetitan_retries;
                self.release(event, &reason, gave_up).await;
                if gave_up {
                    let body = serde_json::to_string(event).expect("events serialise");
                    return self
                        .park(
                            &body,
                            &format!("ServiceTitan stayed unavailable through {attempt} attempts: {reason}"),
                        )
                        .await;
                }
                let wait = followups::timing::retry_delay(attempt - 1, now.as_millisecond() as u64 ^ attempt as u64);
                let at = now + wait;
                self.schedules
                    .retry_event(event, attempt, at)
                    .await
                    .map_err(|e| dependency(&e))?;
                warn!(attempt, %at, reason, "ServiceTitan unavailable; the event is tried again later");
                Ok(Outcome::Retrying)
            }
            Err(e) => {
                self.release(event, &e.to_string(), receive_count >= self.config.max_receive_count)
                    .await;
                Err(e)
            }
        }
    }

    async fn release(&self, event: &ServiceTitanEvent, reason: &str, last_attempt: bool) {
        if let Err(e) = self
            .events
            .release(&event.tenant_id, &event.event_id, reason, last_attempt)
            .await
        {
            // The lease expires on its own; the retry will take the event over then.
            warn!(error = %e, "could not release the claim");
        }
    }

    /// The effect of an event: note it on the tenant, read what it concerns, decide and act.
    async fn apply(&self, event: &ServiceTitanEvent) -> Result<Outcome, ProcessError> {
        let dependency = |e: &dyn std::fmt::Display| ProcessError::Dependency(e.to_string());
        let Some(record) = self
            .tenants
            .get_record(&event.tenant_id)
            .await
            .map_err(|e| dependency(&e))?
        else {
            info!("tenant is not known; event recorded but not acted on");
            return Ok(Outcome::SkippedDisconnected);
        };
        if record.tenant.status != TenantStatus::Connected {
            info!("tenant is no longer connected; event recorded but not acted on");
            return Ok(Outcome::SkippedDisconnected);
        }
        if event.event_id_source != EventIdSource::Derived && record.webhook_note_due(event.occurred_at) {
            self.tenants
                .record_webhook(&event.tenant_id, event.occurred_at, &event.event_id)
                .await
                .map_err(|e| dependency(&e))?;
        }
        let tenant = TenantView::load(&self.catalogue, &self.store, record)
            .await
            .map_err(|e| dependency(&e))?;
        let wanted: BTreeSet<&'static str> = tenant
            .recipes
            .enabled
            .iter()
            .map(|r| r.subject.as_str())
            .filter(|k| {
                subjects::kinds_reached(event.event_name)
                    .iter()
                    .any(|r| r.as_str() == *k)
            })
            .collect();
        if wanted.is_empty() {
            info!("no enabled recipe concerns this event");
            return Ok(Outcome::Processed(engine::Effects::default()));
        }
        let client = self
            .connections
            .client_for(&tenant.record)
            .await
            .map_err(|e| dependency(&e))?;
        let now = self.clock.now();
        let Some(concerned) = subjects::read(&client, event, &wanted, now)
            .await
            .map_err(|e| servicetitan_error(&e.0))?
        else {
            warn!("the event names no entity id; nothing to read");
            return Ok(Outcome::Processed(engine::Effects::default()));
        };
        let engine = engine::Engine {
            store: &self.store,
            schedules: &self.schedules,
        };
        let mut effects = engine::Effects::default();
        for subject in &concerned.gone {
            info!(subject = %subject, "ServiceTitan no longer has this entity");
            effects.add(
                engine
                    .gone(&event.tenant_id, subject, now)
                    .await
                    .map_err(|e| dependency(&e))?,
            );
        }
        for facts in concerned.facts {
            let subject = Subject::new(facts.kind, facts.id.clone());
            let done = engine
                .handle(&tenant, &client, event, facts, now)
                .instrument(info_span!("subject", subject = %subject))
                .await
                .map_err(|e| match e {
                    engine::EngineError::ServiceTitan(st) => servicetitan_error(&st),
                    other => dependency(&other),
                })?;
            effects.add(done);
        }
        Ok(Outcome::Processed(effects))
    }
}

/// A ServiceTitan failure: transient ones are retried later through a schedule; the others (a 4xx that will not
/// change, refused credentials) fail the message like any error, so the queue retries it and then dead-letters it.
fn servicetitan_error(e: &servicetitan::Error) -> ProcessError {
    if e.is_transient() {
        ProcessError::ServiceTitan(e.to_string())
    } else {
        ProcessError::Dependency(format!("ServiceTitan: {e}"))
    }
}
