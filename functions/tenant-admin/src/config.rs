//! The tenant-admin function's configuration, from its environment (see the README's configuration reference).

use shared::config::{ConfigError, EnvSource};
use shared::servicetitan_env::HostsByEnvironment;

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub tenants_table: String,
    pub events_table: String,
    pub tokens_table: String,
    /// The tenants' request budget shared by every function (`None`: only this process's own limiter).
    pub budget: Option<servicetitan::BudgetLimits>,
    pub followups_table: String,
    pub leads_table: String,
    /// Where a missed-call test lead's text-back event goes.
    pub events_queue_url: String,
    /// The app's GUID from ServiceTitan's developer portal (test leads' records carry the lead id under it).
    pub application_guid: String,
    /// Tenants' credentials secrets are named `<prefix><tenant id>/servicetitan`.
    pub tenant_secret_prefix: String,
    pub webhook_keys_secret_id: String,
    pub schedule_group: String,
    /// Days a disconnected tenant's secret can still be restored (Secrets Manager allows 7–30).
    pub secret_recovery_days: i64,
    pub hosts: HostsByEnvironment,
    pub reconcile_table: String,
    /// Where a re-run (or a connect's first reconcile) is queued.
    pub reconcile_queue_url: String,
    pub reconcile_interval: jiff::SignedDuration,
    /// How far back a preview reads, as a tenant's first reconcile does.
    pub reconcile_lookback: jiff::SignedDuration,
    /// The dead-letter queues a redrive reads, and the queues they go back to.
    pub dead_letters: DeadLetterUrls,
    /// Which IAM principals may act for which tenants on `/admin` (`MACHINE_CALLERS`).
    pub machine_callers: shared::callers::MachineCallers,
    /// The dashboard token's claim names (`DASHBOARD_TENANT_CLAIM`, `DASHBOARD_ROLE_CLAIM`).
    pub dashboard_claims: crate::access::Claims,
    /// Where settings' URLs may point (the runner's rules, checked when they are saved).
    pub egress: shared::egress::EgressPolicy,
}

/// The dead-letter queues' URLs, and the source queues a redrive needs beyond the events and reconcile queues.
#[derive(Debug, Clone)]
pub struct DeadLetterUrls {
    pub events: String,
    pub followups: String,
    pub schedules: String,
    pub leads: String,
    pub reconcile: String,
    pub followups_queue_url: String,
    pub leads_queue_url: String,
}

impl AdminConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let secret_recovery_days: i64 = env.parsed_or("TENANT_SECRET_RECOVERY_DAYS", 7)?;
        if !(7..=30).contains(&secret_recovery_days) {
            return Err(ConfigError::Invalid {
                key: "TENANT_SECRET_RECOVERY_DAYS".into(),
                reason: "Secrets Manager accepts a recovery window of 7 to 30 days".into(),
            });
        }
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            leads_table: env.required("LEADS_TABLE")?,
            events_queue_url: env.required("EVENTS_QUEUE_URL")?,
            application_guid: env.required("SERVICETITAN_APPLICATION_GUID")?,
            events_table: env.required("EVENTS_TABLE")?,
            tokens_table: env.required("TOKENS_TABLE")?,
            budget: servicetitan::BudgetLimits::from_env(env)?,
            followups_table: env.required("FOLLOWUPS_TABLE")?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            webhook_keys_secret_id: env.required("WEBHOOK_KEYS_SECRET_ID")?,
            schedule_group: env.required("FOLLOWUP_SCHEDULE_GROUP")?,
            secret_recovery_days,
            hosts: HostsByEnvironment::from_env(env),
            reconcile_table: env.required("RECONCILE_TABLE")?,
            reconcile_queue_url: env.required("RECONCILE_QUEUE_URL")?,
            reconcile_interval: jiff::SignedDuration::from_mins(env.parsed_or("RECONCILE_INTERVAL_MINUTES", 5)?),
            reconcile_lookback: jiff::SignedDuration::from_hours(
                24 * env.parsed_or::<i64>("RECONCILE_LOOKBACK_DAYS", 14)?,
            ),
            dead_letters: DeadLetterUrls {
                events: env.required("EVENTS_DEAD_LETTER_QUEUE_URL")?,
                followups: env.required("FOLLOWUPS_DEAD_LETTER_QUEUE_URL")?,
                schedules: env.required("SCHEDULER_DEAD_LETTER_QUEUE_URL")?,
                leads: env.required("LEADS_DEAD_LETTER_QUEUE_URL")?,
                reconcile: env.required("RECONCILE_DEAD_LETTER_QUEUE_URL")?,
                followups_queue_url: env.required("FOLLOWUPS_QUEUE_URL")?,
                leads_queue_url: env.required("LEADS_QUEUE_URL")?,
            },
            machine_callers: shared::callers::MachineCallers::from_env(env)?,
            dashboard_claims: {
                let default = crate::access::Claims::default();
                let name =
                    |key: &str, fallback: String| env.var(key).filter(|v| !v.trim().is_empty()).unwrap_or(fallback);
                crate::access::Claims {
                    tenant: name("DASHBOARD_TENANT_CLAIM", default.tenant),
                    role: name("DASHBOARD_ROLE_CLAIM", default.role),
                }
            },
            egress: shared::egress::EgressPolicy::from_env(env)?,
        })
    }
}
