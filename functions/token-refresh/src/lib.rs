//! Keeps every connected tenant's ServiceTitan token ahead of its expiry, and its health visible.
//!
//! Runs on a schedule (every 5 minutes in the template). For each connected tenant whose stored token expires within
//! [`RefreshConfig::ahead`], it fetches a new one through the same DynamoDB lease the other functions use, so it
//! never races them into a second token request. Outcomes go on the tenant record for the status page:
//! - refused credentials mark the tenant `unhealthy` with the reason, and back off exponentially (a person has to
//!   reconnect it; asking ServiceTitan every 5 minutes would only get the app throttled);
//! - a ServiceTitan outage marks it `degraded`, and the next run simply tries again.

use std::sync::Arc;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;
use tracing::{Instrument, info, info_span, warn};

use servicetitan::{ConnectionError, Connections, CredentialStore, CredentialStoreError, DynamoDbTokenStore};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::servicetitan_env::HostsByEnvironment;
use shared::tenants::{TenantRecord, TenantRegistry, TenantStoreError, TokenFailure};

#[derive(Debug, Clone)]
pub struct RefreshConfig {
    pub tenants_table: String,
    pub tokens_table: String,
    pub tenant_secret_prefix: String,
    pub hosts: HostsByEnvironment,
    /// Refresh tokens that expire within this much. More than the schedule's period plus the clients' 60 s margin,
    /// so no function ever finds its tenant's token expired between two runs.
    pub ahead: SignedDuration,
    /// Tenants refreshed at once.
    pub concurrency: usize,
    /// First wait after refused credentials; doubles per failure up to `backoff_max`.
    pub backoff_base: SignedDuration,
    pub backoff_max: SignedDuration,
    /// Write one EMF metric line per tenant and run to stdout (`METRICS_ENABLED`, default on).
    pub metrics: bool,
}

impl RefreshConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            tokens_table: env.required("TOKENS_TABLE")?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            hosts: HostsByEnvironment::from_env(env),
            ahead: SignedDuration::from_secs(env.parsed_or("TOKEN_REFRESH_AHEAD_SECONDS", 420)?),
            concurrency: env.parsed_or("TOKEN_REFRESH_CONCURRENCY", 8)?,
            backoff_base: SignedDuration::from_secs(env.parsed_or("TOKEN_REFRESH_BACKOFF_SECONDS", 300)?),
            backoff_max: SignedDuration::from_secs(env.parsed_or("TOKEN_REFRESH_BACKOFF_MAX_SECONDS", 6 * 3600)?),
            metrics: shared::config::parse_bool("METRICS_ENABLED", env.var("METRICS_ENABLED"), true)?,
        })
    }
}

/// What one tenant's refresh came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Refreshed,
    StillFresh,
    BackingOff,
    CredentialsRejected,
    Unavailable,
}

impl Outcome {
    /// The CloudWatch metric counting this outcome (an EMF line per tenant and run).
    pub fn metric(self) -> &'static str {
        match self {
            Self::Refreshed => "TokenRefreshed",
            Self::StillFresh => "TokenStillFresh",
            Self::BackingOff => "TokenRefreshBackingOff",
            Self::CredentialsRejected => "TokenCredentialsRejected",
            Self::Unavailable => "TokenRefreshUnavailable",
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub tenants: usize,
    pub refreshed: usize,
    pub still_fresh: usize,
    pub backing_off: usize,
    pub credentials_rejected: usize,
    pub unavailable: usize,
    /// Tenant records that could not be read: skipped (each logged).
    pub malformed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The tenant list itself could not be read: the whole run fails, and the scheduler retries it.
    #[error(transparent)]
    Registry(#[from] TenantStoreError),
}

pub struct Refresher {
    config: RefreshConfig,
    registry: TenantRegistry,
    connections: Connections,
    clock: SharedClock,
}

impl Refresher {
    pub fn new(
        config: RefreshConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
        clock: SharedClock,
    ) -> Self {
        let registry = TenantRegistry::new(dynamodb.clone(), config.tenants_table.clone());
        let tokens = Arc::new(DynamoDbTokenStore::new(dynamodb, config.tokens_table.clone()).with_clock(clock.clone()));
        let connections = Connections::new(
            registry.clone(),
            CredentialStore::new(secrets, config.tenant_secret_prefix.clone()),
            tokens,
            config.hosts.clone(),
            clock.clone(),
        );
        Self {
            config,
            registry,
            connections,
            clock,
        }
    }

    /// One scheduled run. The event may name `{"tenantIds": [...]}` to limit the run (for operators); the
    /// scheduler's own input is ignored otherwise.
    pub async fn run(&self, event: &Value) -> Result<RunSummary, RefreshError> {
        let only: Option<Vec<String>> = event.get("tenantIds").and_then(Value::as_array).map(|ids| {
            ids.iter()
                .filter_map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_i64().map(|n| n.to_string()))
                })
                .collect()
        });
        let connected = self.registry.connected().await?;
        let tenants: Vec<TenantRecord> = connected
            .tenants
            .into_iter()
            .filter(|r| only.as_ref().is_none_or(|ids| ids.contains(&r.tenant.tenant_id)))
            .collect();
        let mut summary = RunSummary {
            tenants: tenants.len(),
            malformed: connected.malformed.len(),
            ..RunSummary::default()
        };
        let outcomes: Vec<Outcome> = futures::stream::iter(tenants)
            .map(|record| self.refresh_owned(record))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        for o in outcomes {
            match o {
                Outcome::Refreshed => summary.refreshed += 1,
                Outcome::StillFresh => summary.still_fresh += 1,
                Outcome::BackingOff => summary.backing_off += 1,
                Outcome::CredentialsRejected => summary.credentials_rejected += 1,
                Outcome::Unavailable => summary.unavailable += 1,
            }
        }
        info!(
            tenants = summary.tenants,
            refreshed = summary.refreshed,
            still_fresh = summary.still_fresh,
            backing_off = summary.backing_off,
            credentials_rejected = summary.credentials_rejected,
            unavailable = summary.unavailable,
            "token refresh run"
        );
        Ok(summary)
    }

    async fn refresh_owned(&self, record: TenantRecord) -> Outcome {
        let span = info_span!("tenant", tenant_id = %record.tenant.tenant_id);
        let outcome = self.refresh(&record).instrument(span).await;
        if self.config.metrics {
            shared::metrics::emit(
                "token-refresh",
                &record.tenant.tenant_id,
                &[(outcome.metric(), 1)],
                self.clock.now(),
            );
        }
        outcome
    }

    /// One tenant. Never fails the run: every failure is recorded on the tenant instead.
    pub async fn refresh(&self, record: &TenantRecord) -> Outcome {
        let now = self.clock.now();
        if record.token.retry_at.is_some_and(|t| t > now) {
            info!(retry_at = ?record.token.retry_at, "backing off after refused credentials");
            return Outcome::BackingOff;
        }
        let tenant_id = &record.tenant.tenant_id;
        let client = match self.connections.client_for(record).await {
            Ok(c) => c,
            Err(
                e @ (ConnectionError::Credentials(CredentialStoreError::Unavailable(_)) | ConnectionError::Registry(_)),
            ) => {
                return self
                    .failed(record, now, format!("could not load the credentials: {e}"), false)
                    .await;
            }
            Err(e) => {
                return self
                    .failed(
                        record,
                        now,
                        format!("no usable credentials: {e}; reconnect the tenant"),
                        true,
                    )
                    .await;
            }
        };
        match client.tokens().refresh_ahead(self.config.ahead).await {
            Ok(Some(_)) => {
                if let Err(e) = self.registry.record_token_healthy(tenant_id).await {
                    warn!(error = %e, "token refreshed but its health could not be recorded");
                }
                Outcome::Refreshed
            }
            Ok(None) => Outcome::StillFresh,
            Err(servicetitan::Error::Auth { status, error }) => {
                let reason = format!(
                    "ServiceTitan refused the client credentials ({status} {error}); reconnect the tenant with its current client ID and secret"
                );
                self.failed(record, now, reason, true).await
            }
            Err(e) => {
                self.failed(record, now, format!("ServiceTitan token request failed: {e}"), false)
                    .await
            }
        }
    }

    async fn failed(&self, record: &TenantRecord, now: Timestamp, reason: String, unhealthy: bool) -> Outcome {
        let failures = record.token.failures.saturating_add(1);
        let retry_at = unhealthy.then(|| now + backoff(self.config.backoff_base, self.config.backoff_max, failures));
        warn!(reason, failures, retry_at = ?retry_at, unhealthy, "token refresh failed");
        let failure = TokenFailure {
            at: now,
            reason,
            failures,
            retry_at,
            unhealthy,
        };
        if let Err(e) = self
            .registry
            .record_token_failure(&record.tenant.tenant_id, &failure)
            .await
        {
            warn!(error = %e, "could not record the token failure");
        }
        if unhealthy {
            Outcome::CredentialsRejected
        } else {
            Outcome::Unavailable
        }
    }
}

/// `base × 2^(failures−1)`, at most `max`.
pub fn backoff(base: SignedDuration, max: SignedDuration, failures: u32) -> SignedDuration {
    let factor = 2i32.saturating_pow(failures.saturating_sub(1).min(20));
    base.checked_mul(factor).unwrap_or(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = SignedDuration::from_secs(300);
        let max = SignedDuration::from_hours(6);
        let waits: Vec<i64> = (1..=9).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(waits, vec![300, 600, 1200, 2400, 4800, 9600, 19200, 21600, 21600]);
        assert_eq!(backoff(base, max, u32::MAX), max);
    }
}
