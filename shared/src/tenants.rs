//! The tenant registry: which ServiceTitan tenants are connected to this deployment.
//!
//! One DynamoDB item per tenant, keyed by `tenant_id`: its connection (status, environment, which version of its
//! credentials secret is current), its settings, and what the status page shows (token health, last webhook). The
//! tenant-admin function writes the connection and settings, token-refresh the token health, the event processor
//! the last webhook; the webhook intake only reads the status.
//!
//! Every write is an `UpdateItem` of its own attributes, so the writers never overwrite each other's, and the ones
//! that only make sense for a connected tenant are conditioned on it (a late token refresh cannot resurrect a
//! tenant that was just disconnected).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::TenantId;

/// A ServiceTitan tenant id as written in paths and bodies: a positive 64-bit integer in decimal, without sign or
/// leading zeros.
pub fn is_tenant_id(s: &str) -> bool {
    !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<i64>().is_ok_and(|n| n > 0)
}

pub use crate::servicetitan_env::ServiceTitanEnvironment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Connected,
    Disconnected,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub status: TenantStatus,
    pub environment: ServiceTitanEnvironment,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantStoreError {
    #[error("tenant registry unavailable: {0}")]
    Unavailable(String),
    #[error("tenant record {tenant_id} is malformed: {reason}")]
    Malformed { tenant_id: String, reason: String },
}

/// The connected tenants, and the ids of those whose records could not be read (skipped, each logged).
#[derive(Debug, Default)]
pub struct Connected {
    pub tenants: Vec<TenantRecord>,
    pub malformed: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TenantRegistry {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl TenantRegistry {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn get(&self, tenant_id: &str) -> Result<Option<Tenant>, TenantStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("tenant_id", AttributeValue::S(tenant_id.to_owned()))
            .projection_expression("tenant_id, #s, environment")
            .expression_attribute_names("#s", "status")
            .send()
            .await
            .map_err(|e| TenantStoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
        out.item.map(|item| Tenant::from_item(tenant_id, &item)).transpose()
    }

    /// Creates or replaces the registry entry's status and environment. The admin API uses [`TenantRegistry::connect`];
    /// tests use this to set up tenants directly.
    pub async fn put(&self, tenant: &Tenant, now: Timestamp) -> Result<(), TenantStoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("tenant_id", AttributeValue::S(tenant.tenant_id.clone()))
            .item("status", AttributeValue::S(tenant.status.as_str().to_owned()))
            .item("environment", AttributeValue::S(tenant.environment.as_str().to_owned()))
            .item("updated_at", AttributeValue::S(crate::clock::iso_millis(now)))
            .send()
            .await
            .map_err(|e| TenantStoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Notes the latest processed webhook on the tenant, for the status page. Never moves backwards.
    pub async fn record_webhook(&self, tenant_id: &str, at: Timestamp, event_id: &str) -> Result<(), TenantStoreError> {
        let at = crate::clock::iso_millis(at);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("tenant_id", AttributeValue::S(tenant_id.to_owned()))
            .update_expression("SET last_webhook_at = :at, last_webhook_event_id = :id")
            .condition_expression(
                "attribute_exists(tenant_id) AND (attribute_not_exists(last_webhook_at) OR last_webhook_at <= :at)",
            )
            .expression_attribute_values(":at", AttributeValue::S(at))
            .expression_attribute_values(":id", AttributeValue::S(event_id.to_owned()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // An older event arriving late, or a tenant deleted meanwhile: nothing to note.
            Err(e) if crate::aws::is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(TenantStoreError::Unavailable(
                aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }

    /// The whole record, read consistently (the admin API answers from it right after writing).
    pub async fn get_record(&self, tenant_id: &str) -> Result<Option<TenantRecord>, TenantStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("tenant_id", AttributeValue::S(tenant_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item
            .map(|item| TenantRecord::from_item(tenant_id, &item))
            .transpose()
    }

    /// Marks the tenant connected with the given credentials version, keeping its settings and history, and clears
    /// any token failure of the previous connection.
    pub async fn connect(
        &self,
        tenant_id: &str,
        environment: ServiceTitanEnvironment,
        credentials_version: &str,
        now: Timestamp,
    ) -> Result<(), TenantStoreError> {
        let now = crate::clock::iso_millis(now);
        self.update(tenant_id)
            .update_expression(
                "SET #s = :connected, environment = :env, credentials_version = :v, connected_at = :now, \
                 updated_at = :now, token_health = :healthy \
                 REMOVE disconnected_at, token_error, token_error_at, token_failures, token_retry_at",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":connected", s(TenantStatus::Connected.as_str()))
            .expression_attribute_values(":env", s(environment.as_str()))
            .expression_attribute_values(":v", s(credentials_version))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":healthy", s(TokenHealthState::Healthy.as_str()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Marks the tenant disconnected; `false` when there is no such tenant. Repeating it keeps the first time.
    pub async fn disconnect(&self, tenant_id: &str, now: Timestamp) -> Result<bool, TenantStoreError> {
        let res = self
            .update(tenant_id)
            .update_expression(
                "SET #s = :disconnected, disconnected_at = if_not_exists(disconnected_at, :now), updated_at = :now",
            )
            .condition_expression("attribute_exists(tenant_id)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":disconnected", s(TenantStatus::Disconnected.as_str()))
            .expression_attribute_values(":now", s(&crate::clock::iso_millis(now)))
            .send()
            .await;
        applied(res)
    }

    /// Stores the tenant's settings (a JSON document); `false` when the tenant is not connected.
    pub async fn put_settings(
        &self,
        tenant_id: &str,
        settings: &serde_json::Value,
        now: Timestamp,
    ) -> Result<bool, TenantStoreError> {
        let res = self
            .update(tenant_id)
            .update_expression("SET settings = :settings, settings_updated_at = :now, updated_at = :now")
            .condition_expression("#s = :connected")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":connected", s(TenantStatus::Connected.as_str()))
            .expression_attribute_values(":settings", s(&settings.to_string()))
            .expression_attribute_values(":now", s(&crate::clock::iso_millis(now)))
            .send()
            .await;
        applied(res)
    }

    /// Drops the recipe overrides an earlier version kept in the tenant's item, once they are copied to their own
    /// items (`followup_runtime::overrides`). Only if they are still the ones read.
    pub async fn drop_legacy_recipe_overrides(
        &self,
        tenant_id: &str,
        read: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<bool, TenantStoreError> {
        let res = self
            .update(tenant_id)
            .update_expression("REMOVE recipe_overrides")
            .condition_expression("recipe_overrides = :read")
            .expression_attribute_values(":read", s(&serde_json::to_string(read).expect("JSON serialises")))
            .send()
            .await;
        applied(res)
    }

    /// A token was obtained for the tenant: healthy again, failures forgotten. Ignored for a disconnected tenant.
    /// (When, and until when, is the tokens table's to say: every function that refreshes writes it there.)
    pub async fn record_token_healthy(&self, tenant_id: &str) -> Result<(), TenantStoreError> {
        let res = self
            .update(tenant_id)
            .update_expression(
                "SET token_health = :healthy REMOVE token_error, token_error_at, token_failures, token_retry_at",
            )
            .condition_expression("#s = :connected")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":connected", s(TenantStatus::Connected.as_str()))
            .expression_attribute_values(":healthy", s(TokenHealthState::Healthy.as_str()))
            .send()
            .await;
        applied(res).map(|_| ())
    }

    /// A token request failed. `failure.unhealthy` (the credentials were refused) marks the tenant unhealthy until
    /// a refresh succeeds; `retry_at` is when the next attempt may be made.
    pub async fn record_token_failure(&self, tenant_id: &str, failure: &TokenFailure) -> Result<(), TenantStoreError> {
        let health = if failure.unhealthy {
            TokenHealthState::Unhealthy
        } else {
            TokenHealthState::Degraded
        };
        let mut req = self
            .update(tenant_id)
            .condition_expression("#s = :connected")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":connected", s(TenantStatus::Connected.as_str()))
            .expression_attribute_values(":health", s(health.as_str()))
            .expression_attribute_values(":error", s(&failure.reason))
            .expression_attribute_values(":at", s(&crate::clock::iso_millis(failure.at)))
            .expression_attribute_values(":failures", AttributeValue::N(failure.failures.to_string()));
        req = match failure.retry_at {
            Some(retry_at) => req
                .update_expression(
                    "SET token_health = :health, token_error = :error, token_error_at = :at, \
                     token_failures = :failures, token_retry_at = :retry",
                )
                .expression_attribute_values(":retry", s(&crate::clock::iso_millis(retry_at))),
            None => req.update_expression(
                "SET token_health = :health, token_error = :error, token_error_at = :at, token_failures = :failures \
                 REMOVE token_retry_at",
            ),
        };
        applied(req.send().await).map(|_| ())
    }

    /// Every connected tenant (a paginated scan; the table holds one item per tenant). A record that cannot be read
    /// is logged and listed apart, so one bad item never stops the fleet's reconcile or token refresh.
    pub async fn connected(&self) -> Result<Connected, TenantStoreError> {
        let items: Vec<HashMap<String, AttributeValue>> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#s = :connected")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":connected", s(TenantStatus::Connected.as_str()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut connected = Connected::default();
        for item in &items {
            let id = item
                .get("tenant_id")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            match TenantRecord::from_item(&id, item) {
                Ok(record) => connected.tenants.push(record),
                Err(e) => {
                    tracing::error!(tenant_id = id, error = %e, "skipping a malformed tenant record");
                    connected.malformed.push(id);
                }
            }
        }
        Ok(connected)
    }

    fn update(&self, tenant_id: &str) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("tenant_id", AttributeValue::S(tenant_id.to_owned()))
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Whether a conditional update was applied: `Ok(false)` when its condition did not hold.
fn applied<T>(
    res: Result<T, aws_sdk_dynamodb::error::SdkError<UpdateItemError, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<bool, TenantStoreError> {
    match res {
        Ok(_) => Ok(true),
        Err(e) if crate::aws::is_conditional_check_failed(&e) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> TenantStoreError {
    TenantStoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

/// How the tenant's ServiceTitan token is doing, as token-refresh (or a connect) last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenHealthState {
    /// No refresh has been attempted since the tenant connected.
    Unknown,
    Healthy,
    /// The last request failed for a reason that may pass (ServiceTitan down, throttled).
    Degraded,
    /// ServiceTitan refused the credentials: a person has to reconnect the tenant.
    Unhealthy,
}

impl TokenHealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFailure {
    pub at: Timestamp,
    /// Why, for people: never a credential value.
    pub reason: String,
    /// Consecutive failures, this one included.
    pub failures: u32,
    pub retry_at: Option<Timestamp>,
    pub unhealthy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHealth {
    pub state: TokenHealthState,
    pub error: Option<String>,
    pub error_at: Option<Timestamp>,
    pub failures: u32,
    pub retry_at: Option<Timestamp>,
}

/// Everything the registry keeps about a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRecord {
    pub tenant: Tenant,
    /// The Secrets Manager version id of the credentials this connection was validated with.
    pub credentials_version: Option<String>,
    pub connected_at: Option<Timestamp>,
    pub disconnected_at: Option<Timestamp>,
    pub settings: Option<serde_json::Value>,
    pub settings_updated_at: Option<Timestamp>,
    pub token: TokenHealth,
    pub last_webhook_at: Option<Timestamp>,
    pub last_webhook_event_id: Option<String>,
    pub last_reconcile_at: Option<Timestamp>,
    /// Recipe overrides as versions before `followup_runtime::overrides` kept them, in this item; read beneath the
    /// override items and moved into them by the tenant's next override change.
    pub legacy_recipe_overrides: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Tenant {
    /// The status and environment of a registry item, which every reader needs.
    fn from_item(tenant_id: &str, item: &HashMap<String, AttributeValue>) -> Result<Self, TenantStoreError> {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str);
        let malformed = |reason: String| TenantStoreError::Malformed {
            tenant_id: tenant_id.to_owned(),
            reason,
        };
        let status = match text("status") {
            Some("connected") => TenantStatus::Connected,
            Some("disconnected") => TenantStatus::Disconnected,
            other => return Err(malformed(format!("unknown status {other:?}"))),
        };
        let environment = text("environment").unwrap_or_default().parse().map_err(malformed)?;
        Ok(Self {
            tenant_id: tenant_id.to_owned(),
            status,
            environment,
        })
    }
}

/// The tenant's item notes its latest webhook at most this often: each note is a write billed at the tenant item's
/// size, and "the last webhook" on the status page needs no finer grain.
pub const WEBHOOK_NOTE_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

fn webhook_note_due(last: Option<Timestamp>, at: Timestamp) -> bool {
    last.is_none_or(|last| at.duration_since(last) >= WEBHOOK_NOTE_EVERY)
}

impl TenantRecord {
    /// Whether a webhook that occurred at `at` is worth noting on the tenant's item: the first one, or one a
    /// [`WEBHOOK_NOTE_EVERY`] or more after the one noted.
    pub fn webhook_note_due(&self, at: Timestamp) -> bool {
        webhook_note_due(self.last_webhook_at, at)
    }

    fn from_item(tenant_id: &str, item: &HashMap<String, AttributeValue>) -> Result<Self, TenantStoreError> {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let time = |k: &str| text(k).and_then(|t| t.parse::<Timestamp>().ok());
        let malformed = |reason: String| TenantStoreError::Malformed {
            tenant_id: tenant_id.to_owned(),
            reason,
        };
        let settings = match text("settings") {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| malformed(format!("settings: {e}")))?),
            None => None,
        };
        let state = match text("token_health").as_deref() {
            Some("healthy") => TokenHealthState::Healthy,
            Some("degraded") => TokenHealthState::Degraded,
            Some("unhealthy") => TokenHealthState::Unhealthy,
            _ => TokenHealthState::Unknown,
        };
        Ok(Self {
            tenant: Tenant::from_item(tenant_id, item)?,
            credentials_version: text("credentials_version"),
            connected_at: time("connected_at"),
            disconnected_at: time("disconnected_at"),
            settings,
            settings_updated_at: time("settings_updated_at"),
            token: TokenHealth {
                state,
                error: text("token_error"),
                error_at: time("token_error_at"),
                failures: item
                    .get("token_failures")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                retry_at: time("token_retry_at"),
            },
            last_webhook_at: time("last_webhook_at"),
            last_webhook_event_id: text("last_webhook_event_id"),
            last_reconcile_at: time("last_reconcile_at"),
            legacy_recipe_overrides: match text("recipe_overrides") {
                Some(json) => serde_json::from_str(&json).map_err(|e| malformed(format!("recipe_overrides: {e}")))?,
                None => Default::default(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_noted_at_most_once_a_minute() {
        let t0: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        assert!(webhook_note_due(None, t0), "the first one");
        assert!(!webhook_note_due(Some(t0), t0 + jiff::SignedDuration::from_secs(59)));
        assert!(webhook_note_due(Some(t0), t0 + WEBHOOK_NOTE_EVERY));
        assert!(
            !webhook_note_due(Some(t0), t0 - jiff::SignedDuration::from_secs(5)),
            "an older one arriving late"
        );
    }
}
