//! Tenants' ServiceTitan credentials in Secrets Manager: one secret per tenant, named
//! `<prefix><tenant id>/servicetitan`, holding the environment, client id and secret, and app key.
//!
//! A connect writes a new version and the tenant registry then records its version id, so readers always load the
//! credentials the connection was validated with: a connect that fails between the two steps leaves the registry on
//! the previous, working version. Error messages never quote the secret's content.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::auth::Credentials;
use crate::environment::Environment;

#[derive(Debug, thiserror::Error)]
pub enum CredentialStoreError {
    #[error("no ServiceTitan credentials are stored for tenant {0}")]
    NotFound(i64),
    /// The secret under tenant A's name is for tenant B: never use it.
    #[error("the credentials stored for tenant {expected} belong to tenant {found}")]
    TenantMismatch { expected: i64, found: i64 },
    #[error("the credentials secret of tenant {tenant_id} is malformed ({reason})")]
    Malformed { tenant_id: i64, reason: String },
    /// A disconnect scheduled the secret for deletion, and no connect has restored it since.
    #[error("the credentials of tenant {0} were scheduled for deletion when it was disconnected")]
    Deleted(i64),
    #[error("Secrets Manager is unavailable: {0}")]
    Unavailable(String),
}

impl CredentialStoreError {
    /// Whether asking again can succeed (Secrets Manager being down), as opposed to a state that only a reconnect
    /// changes.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDocument {
    tenant_id: i64,
    environment: Environment,
    client_id: String,
    client_secret: String,
    app_key: String,
}

/// A tenant's credentials and the environment they are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCredentials {
    pub environment: Environment,
    pub credentials: Credentials,
}

#[derive(Debug, Clone)]
pub struct CredentialStore {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
}

impl CredentialStore {
    /// `prefix` is e.g. `<stack name>/tenants/`; the function's IAM policy is limited to it.
    pub fn new(client: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    pub fn secret_name(&self, tenant_id: i64) -> String {
        format!("{}{tenant_id}/servicetitan", self.prefix)
    }

    /// Stores a new version and returns its version id. Creates the secret on first connect, and restores it if a
    /// disconnect had scheduled it for deletion.
    pub async fn save(&self, creds: &TenantCredentials) -> Result<String, CredentialStoreError> {
        let c = &creds.credentials;
        let document = serde_json::to_string(&SecretDocument {
            tenant_id: c.tenant_id,
            environment: creds.environment,
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            app_key: c.app_key.clone(),
        })
        .expect("plain strings serialise");
        let name = self.secret_name(c.tenant_id);
        // A disconnect scheduled the secret for deletion: restore it first. (Secrets Manager refuses a put on such a
        // secret, but not every implementation of its API does, and a put that lands on a deleted secret leaves
        // the tenant with credentials nobody can read.)
        self.restore_if_deleted(&name).await?;
        // Two rounds at most: a restore or a create race is followed by one more put.
        for _ in 0..3 {
            let put = self
                .client
                .put_secret_value()
                .secret_id(&name)
                .secret_string(&document)
                .send()
                .await;
            let e = match put {
                Ok(out) => return Ok(out.version_id.unwrap_or_default()),
                Err(e) => e,
            };
            let Some(service) = e.as_service_error() else {
                return Err(unavailable(e));
            };
            if service.is_resource_not_found_exception() {
                let created = self
                    .client
                    .create_secret()
                    .name(&name)
                    .description(format!("ServiceTitan credentials of tenant {}", c.tenant_id))
                    .secret_string(&document)
                    .tags(
                        aws_sdk_secretsmanager::types::Tag::builder()
                            .key("tenant_id")
                            .value(c.tenant_id.to_string())
                            .build(),
                    )
                    .send()
                    .await;
                match created {
                    Ok(out) => return Ok(out.version_id.unwrap_or_default()),
                    // Another connect created it first: put over it.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => continue,
                    Err(e) => return Err(unavailable(e)),
                }
            }
            if service.is_invalid_request_exception() {
                // Scheduled for deletion by a disconnect: bring it back, then put.
                self.client
                    .restore_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(unavailable)?;
                continue;
            }
            return Err(unavailable(e));
        }
        Err(CredentialStoreError::Unavailable(format!(
            "could not store the credentials of tenant {} after retries",
            c.tenant_id
        )))
    }

    async fn restore_if_deleted(&self, name: &str) -> Result<(), CredentialStoreError> {
        let described = match self.client.describe_secret().secret_id(name).send().await {
            Ok(d) => d,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(unavailable(e)),
        };
        if described.deleted_date.is_some() {
            self.client
                .restore_secret()
                .secret_id(name)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Loads the given version (the one the registry recorded), or the current one.
    pub async fn load(&self, tenant_id: i64, version: Option<&str>) -> Result<TenantCredentials, CredentialStoreError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(self.secret_name(tenant_id))
            .set_version_id(version.map(str::to_owned))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Err(CredentialStoreError::NotFound(tenant_id));
            }
            // Secrets Manager's answer for a secret scheduled for deletion.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_request_exception()) => {
                return Err(CredentialStoreError::Deleted(tenant_id));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let doc: SecretDocument = serde_json::from_str(out.secret_string().unwrap_or_default()).map_err(|e| {
            CredentialStoreError::Malformed {
                tenant_id,
                // Category and position only: serde's messages can quote the value.
                reason: format!(
                    "{:?} JSON error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            }
        })?;
        if doc.tenant_id != tenant_id {
            return Err(CredentialStoreError::TenantMismatch {
                expected: tenant_id,
                found: doc.tenant_id,
            });
        }
        Ok(TenantCredentials {
            environment: doc.environment,
            credentials: Credentials {
                tenant_id,
                client_id: doc.client_id,
                client_secret: doc.client_secret,
                app_key: doc.app_key,
            },
        })
    }

    /// Schedules the secret for deletion after `recovery_days` (7–30) and returns the deletion date; `None` when
    /// there is no secret. Safe to repeat: an already scheduled deletion keeps its date.
    pub async fn schedule_deletion(
        &self,
        tenant_id: i64,
        recovery_days: i64,
    ) -> Result<Option<Timestamp>, CredentialStoreError> {
        let name = self.secret_name(tenant_id);
        let deleted = self
            .client
            .delete_secret()
            .secret_id(&name)
            .recovery_window_in_days(recovery_days)
            .send()
            .await;
        match deleted {
            Ok(out) => Ok(out.deletion_date.and_then(|d| Timestamp::from_second(d.secs()).ok())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_request_exception()) => {
                let described = self
                    .client
                    .describe_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(unavailable)?;
                Ok(described
                    .deleted_date
                    .and_then(|d| Timestamp::from_second(d.secs()).ok()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> CredentialStoreError {
    CredentialStoreError::Unavailable(DisplayErrorContext(e).to_string())
}
