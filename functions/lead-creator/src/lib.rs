//! Makes leads' ServiceTitan records from the leads queue ([`lead_runtime::create`] has the steps).
//!
//! A message that is not a lead message is parked in the leads dead-letter queue with its reason. ServiceTitan
//! unavailable fails the message, which SQS redelivers; on the queue's last delivery the lead is marked failed with
//! the reason (visible in `GET /leads/{id}`, retried with `POST /leads/{id}/retry`) and the message dead-letters.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lead_runtime::create::{CreateError, Creator, Done};
use lead_runtime::messages::LeadMessage;
use lead_runtime::store::LeadStore;
use servicetitan::{Connections, CredentialStore, DynamoDbTokenStore};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::servicetitan_env::HostsByEnvironment;
use shared::sqs_batch::Wait;
use shared::tenants::TenantRegistry;
use tracing::{Instrument, info_span};

#[derive(Debug, Clone)]
pub struct CreatorConfig {
    pub leads_table: String,
    pub tenants_table: String,
    pub tokens_table: String,
    /// The tenants' request budget shared by every function (`None`: only this process's own limiter).
    pub budget: Option<servicetitan::BudgetLimits>,
    pub tenant_secret_prefix: String,
    pub hosts: HostsByEnvironment,
    pub events_queue_url: String,
    pub dead_letter_queue_url: String,
    /// The leads queue's `maxReceiveCount`: a dependency failure on that delivery fails the lead.
    pub max_receive_count: u32,
    /// The app's GUID from ServiceTitan's developer portal, under which our records carry the lead id.
    pub application_guid: String,
    /// Where a lead's message goes back, delayed past the lease, when another worker is creating it.
    pub requeue: shared::sqs_batch::RequeueConfig,
}

impl CreatorConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            leads_table: env.required("LEADS_TABLE")?,
            tenants_table: env.required("TENANTS_TABLE")?,
            tokens_table: env.required("TOKENS_TABLE")?,
            budget: servicetitan::BudgetLimits::from_env(env)?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            hosts: HostsByEnvironment::from_env(env),
            events_queue_url: env.required("EVENTS_QUEUE_URL")?,
            dead_letter_queue_url: env.required("LEADS_DEAD_LETTER_QUEUE_URL")?,
            max_receive_count: env.parsed_or("LEADS_MAX_RECEIVE_COUNT", 5)?,
            application_guid: env.required("SERVICETITAN_APPLICATION_GUID")?,
            requeue: shared::sqs_batch::RequeueConfig::from_env(env, "LEADS_QUEUE_URL", lead_runtime::create::LEASE)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct CreatorClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Another worker holds the lead.
    #[error("another worker is creating this lead")]
    Busy,
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error("{0}")]
    Dependency(String),
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Lead(Done),
    Attached,
    Parked(String),
}

pub struct LeadCreator {
    creator: Creator,
    requeue: shared::sqs_batch::Requeue,
    sqs: aws_sdk_sqs::Client,
    config: CreatorConfig,
}

impl LeadCreator {
    pub fn new(config: CreatorConfig, clients: CreatorClients, clock: SharedClock) -> Self {
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
        let connections = Arc::new(
            Connections::new(
                tenants.clone(),
                CredentialStore::new(clients.secrets, config.tenant_secret_prefix.clone()),
                tokens,
                config.hosts.clone(),
                clock.clone(),
            )
            .with_budget(budget, servicetitan::Priority::Interactive),
        );
        Self {
            requeue: shared::sqs_batch::Requeue::new(clients.sqs.clone(), config.requeue.clone(), clock.clone()),
            creator: Creator::new(
                LeadStore::new(clients.dynamodb, config.leads_table.clone()),
                tenants,
                connections,
                clients.sqs.clone(),
                config.events_queue_url.clone(),
                config.application_guid.clone(),
                clock,
            ),
            sqs: clients.sqs,
            config,
        }
    }

    pub fn creator(&self) -> &Creator {
        &self.creator
    }

    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        shared::sqs_batch::handle(
            &batch,
            |m| self.handle_message(m),
            |e| match e {
                MessageError::Busy => Some(Wait::Busy),
                // ServiceTitan down: wait it out as delayed copies; the lead keeps what it made so far.
                MessageError::Create(CreateError::Unavailable(_)) => Some(Wait::Unavailable),
                _ => None,
            },
            &self.requeue,
        )
        .await
    }

    pub async fn handle_message(&self, message: &SqsMessage) -> Result<Outcome, MessageError> {
        let body = message.body.as_deref().unwrap_or("");
        let parsed: LeadMessage = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => {
                let reason = format!("not a lead message: {e}");
                shared::sqs_batch::park(&self.sqs, &self.config.dead_letter_queue_url, body, &reason, &[])
                    .await
                    .map_err(MessageError::Dependency)?;
                return Ok(Outcome::Parked(reason));
            }
        };
        let last = shared::sqs_batch::receive_count(message) >= self.config.max_receive_count;
        let span = info_span!("lead", tenant_id = %parsed.tenant_id(), lead_id = %parsed.lead_id());
        async {
            match &parsed {
                LeadMessage::Create { tenant_id, lead_id } => {
                    match self.creator.create(tenant_id, lead_id, last).await? {
                        Done::Busy => Err(MessageError::Busy),
                        done => Ok(Outcome::Lead(done)),
                    }
                }
                LeadMessage::Attachment { tenant_id, lead_id, .. } => {
                    // The lead's own completion attaches what is pending; here only a lead already created.
                    if let Some(rec) = self
                        .creator
                        .store()
                        .get(tenant_id, lead_id)
                        .await
                        .map_err(CreateError::from)?
                    {
                        if rec.status == lead_runtime::store::LeadStatus::Created {
                            self.creator.attach_pending(&rec).await?;
                        }
                    }
                    Ok(Outcome::Attached)
                }
            }
        }
        .instrument(span)
        .await
    }
}
