//! The tenant registry: which ServiceTitan tenants are connected to this deployment.
//!
//! One DynamoDB item per tenant, keyed by `tenant_id`. The tenants issue adds the admin API that fills it; the
//! webhook intake only reads it.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::TenantId;
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
        let Some(item) = out.item else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let malformed = |reason: String| TenantStoreError::Malformed {
            tenant_id: tenant_id.to_owned(),
            reason,
        };
        let status = match text("status").as_str() {
            "connected" => TenantStatus::Connected,
            "disconnected" => TenantStatus::Disconnected,
            other => return Err(malformed(format!("unknown status {other:?}"))),
        };
        let environment = text("environment").parse().map_err(malformed)?;
        Ok(Some(Tenant {
            tenant_id: tenant_id.to_owned(),
            status,
            environment,
        }))
    }

    /// Creates or replaces the registry entry. Used by tests and the demo until the admin API exists.
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
}
