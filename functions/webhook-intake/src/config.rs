use std::time::Duration;

use shared::config::{ConfigError, EnvSource};
use shared::webhook_scheme::WebhookScheme;

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub tenants_table: String,
    pub events_table: String,
    pub events_queue_url: String,
    pub keys_secret_id: String,
    /// How long signing keys are cached before Secrets Manager is read again.
    pub key_cache_ttl: Duration,
    pub scheme: WebhookScheme,
}

impl IntakeConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            events_table: env.required("EVENTS_TABLE")?,
            events_queue_url: env.required("EVENTS_QUEUE_URL")?,
            keys_secret_id: env.required("WEBHOOK_KEYS_SECRET_ID")?,
            key_cache_ttl: Duration::from_secs(env.parsed_or("WEBHOOK_KEY_CACHE_SECONDS", 300)?),
            scheme: WebhookScheme::from_env(env)?,
        })
    }
}
