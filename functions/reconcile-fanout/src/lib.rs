//! Every interval, one reconcile request per connected tenant onto the reconcile queue, ten per `SendMessageBatch`.
//! The per-tenant work happens in the reconciler, one message at a time, so a slow or broken tenant delays no other.
//!
//! Scale: listing the registry is one paginated Scan, and 10,000 tenants are 1,000 batch sends, a few seconds in all.
//! Past a few hundred thousand tenants the fan-out itself would need splitting (by registry segment).

use serde::Serialize;
use tracing::info;

use reconcile::messages::{Reason, ReconcileRequest};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::tenants::{TenantRegistry, TenantStoreError};

#[derive(Debug, Clone)]
pub struct FanOutConfig {
    pub tenants_table: String,
    pub reconcile_queue_url: String,
}

impl FanOutConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            reconcile_queue_url: env.required("RECONCILE_QUEUE_URL")?,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FanOutSummary {
    pub tenants: usize,
    pub queued: usize,
    /// Tenant records that could not be read: skipped (each logged), the others reconciled.
    pub malformed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error(transparent)]
    Tenants(#[from] TenantStoreError),
    /// The schedule retries the whole run; tenants queued twice are reconciled once (the second is stale).
    #[error("the reconcile queue refused requests: {0}")]
    Queue(String),
}

pub struct FanOut {
    config: FanOutConfig,
    tenants: TenantRegistry,
    sqs: aws_sdk_sqs::Client,
    clock: SharedClock,
}

impl FanOut {
    pub fn new(
        config: FanOutConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        clock: SharedClock,
    ) -> Self {
        Self {
            tenants: TenantRegistry::new(dynamodb, config.tenants_table.clone()),
            config,
            sqs,
            clock,
        }
    }

    pub async fn run(&self) -> Result<FanOutSummary, FanOutError> {
        let now = self.clock.now();
        let connected = self.tenants.connected().await?;
        let tenants = connected.tenants;
        let malformed = connected.malformed.len();
        if malformed > 0 {
            shared::metrics::emit(
                "reconcile-fanout",
                "",
                &[("MalformedTenantRecords", malformed as u64)],
                now,
            );
        }
        let bodies: Vec<String> = tenants
            .iter()
            .map(|t| ReconcileRequest::new(&t.tenant.tenant_id, Reason::Schedule, now).to_body())
            .collect();
        shared::sqs_batch::send_all(&self.sqs, &self.config.reconcile_queue_url, &bodies)
            .await
            .map_err(FanOutError::Queue)?;
        let queued = bodies.len();
        info!(tenants = tenants.len(), queued, malformed, "reconciles requested");
        Ok(FanOutSummary {
            tenants: tenants.len(),
            queued,
            malformed,
        })
    }
}
