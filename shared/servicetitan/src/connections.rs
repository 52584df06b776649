//! From a tenant id to a ready [`Client`]: the registry says whether the tenant is connected and which credentials
//! version is current, Secrets Manager has the credentials, DynamoDB the shared token. Clients are kept per warm
//! Lambda and rebuilt when the tenant reconnects with new credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use shared::SharedClock;
use shared::servicetitan_env::HostsByEnvironment;
use shared::tenants::{TenantRecord, TenantRegistry, TenantStatus, TenantStoreError};

use crate::client::{Client, ClientOptions};
use crate::credential_store::{CredentialStore, CredentialStoreError};
use crate::token_store::DynamoDbTokenStore;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("tenant {0} is not known")]
    UnknownTenant(String),
    #[error("tenant {0} is not connected to ServiceTitan")]
    NotConnected(String),
    #[error("tenant id {0:?} is not a ServiceTitan tenant id")]
    InvalidTenantId(String),
    #[error(transparent)]
    Credentials(#[from] CredentialStoreError),
    #[error(transparent)]
    Registry(#[from] TenantStoreError),
}

pub struct Connections {
    registry: TenantRegistry,
    credentials: CredentialStore,
    tokens: Arc<DynamoDbTokenStore>,
    hosts: HostsByEnvironment,
    clock: SharedClock,
    /// tenant id → (credentials version, client).
    clients: Mutex<HashMap<String, (String, Arc<Client>)>>,
    budget: Option<(Arc<crate::SharedBudget>, crate::Priority)>,
}

impl Connections {
    pub fn new(
        registry: TenantRegistry,
        credentials: CredentialStore,
        tokens: Arc<DynamoDbTokenStore>,
        hosts: HostsByEnvironment,
        clock: SharedClock,
    ) -> Self {
        Self {
            registry,
            credentials,
            tokens,
            hosts,
            clock,
            clients: Mutex::new(HashMap::new()),
            budget: None,
        }
    }

    /// Every client made from now on takes its tokens from the tenants' shared budget (if any), at `priority`.
    pub fn with_budget(mut self, budget: Option<Arc<crate::SharedBudget>>, priority: crate::Priority) -> Self {
        self.budget = budget.map(|b| (b, priority));
        self
    }

    /// A client for a connected tenant.
    pub async fn client(&self, tenant_id: &str) -> Result<Arc<Client>, ConnectionError> {
        let record = self
            .registry
            .get_record(tenant_id)
            .await?
            .ok_or_else(|| ConnectionError::UnknownTenant(tenant_id.to_owned()))?;
        self.client_for(&record).await
    }

    /// A client for a registry record already read (token-refresh scans them).
    pub async fn client_for(&self, record: &TenantRecord) -> Result<Arc<Client>, ConnectionError> {
        let tenant_id = &record.tenant.tenant_id;
        if record.tenant.status != TenantStatus::Connected {
            return Err(ConnectionError::NotConnected(tenant_id.clone()));
        }
        let numeric: i64 = tenant_id
            .parse()
            .map_err(|_| ConnectionError::InvalidTenantId(tenant_id.clone()))?;
        let version = record.credentials_version.clone().unwrap_or_default();
        if let Some((v, client)) = self.clients.lock().expect("client cache lock").get(tenant_id)
            && *v == version
        {
            return Ok(client.clone());
        }
        let stored = self
            .credentials
            .load(numeric, Some(version.as_str()).filter(|v| !v.is_empty()))
            .await?;
        // The registry's environment is the one validated at connect; the secret carries it too.
        let hosts = self.hosts.get(stored.environment).clone();
        let mut client = Client::new(
            ClientOptions::new(hosts),
            stored.credentials,
            self.tokens.clone(),
            self.clock.clone(),
        );
        if let Some((budget, priority)) = &self.budget {
            client = client.with_budget(budget.clone(), *priority);
        }
        let client = Arc::new(client);
        self.clients
            .lock()
            .expect("client cache lock")
            .insert(tenant_id.clone(), (version, client.clone()));
        Ok(client)
    }

    /// Forgets a tenant's client (after a disconnect).
    pub fn forget(&self, tenant_id: &str) {
        self.clients.lock().expect("client cache lock").remove(tenant_id);
    }
}
