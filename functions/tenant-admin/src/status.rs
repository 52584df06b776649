//! What a dashboard shows about a tenant: connection, token health, last webhook, and its events.

use serde_json::json;

use shared::clock::iso_millis;
use shared::tenants::TenantStatus;

use crate::{Admin, Handled, ok, storage_error};

impl Admin {
    pub(crate) async fn status(&self, tenant_id: &str) -> Handled {
        let record = self.record(tenant_id).await?;
        let numeric: i64 = tenant_id.parse().expect("validated tenant id");
        let (tokens, counts, followups, leads, reconcile) = tokio::join!(
            self.tokens.tenant_tokens(numeric),
            self.events.counts(tenant_id),
            self.followup_figures(tenant_id),
            self.leads.counts(tenant_id),
            self.reconcile_status(tenant_id)
        );
        let reconcile = reconcile?;
        let followups = followups?;
        let leads = leads.map_err(|e| storage_error("counting the tenant's leads", e))?;
        let tokens = tokens.map_err(|e| storage_error("reading the tenant's tokens", e))?;
        let counts = counts.map_err(|e| storage_error("counting the tenant's events", e))?;
        // Every function that fetches a token stores it in the tokens table; the newest-expiring one is current.
        let newest = tokens.first();
        let last_refresh = newest.and_then(|t| t.refreshed_at);
        let expires_at = newest.map(|t| t.expires_at);
        let connected = record.tenant.status == TenantStatus::Connected;
        ok(&json!({
            "tenantId": tenant_id,
            "connected": connected,
            "status": record.tenant.status.as_str(),
            "environment": record.tenant.environment.as_str(),
            "connectedAt": record.connected_at.map(iso_millis),
            "disconnectedAt": record.disconnected_at.map(iso_millis),
            "settingsComplete": record.settings.is_some(),
            "token": {
                "health": record.token.state.as_str(),
                "lastRefreshAt": last_refresh.map(iso_millis),
                "expiresAt": expires_at.map(iso_millis),
                "lastError": record.token.error,
                "lastErrorAt": record.token.error_at.map(iso_millis),
                "consecutiveFailures": record.token.failures,
                "nextAttemptAt": record.token.retry_at.map(iso_millis),
            },
            "lastWebhookAt": record.last_webhook_at.map(iso_millis),
            "lastWebhookEventId": record.last_webhook_event_id,
            "lastReconcileAt": reconcile["lastSuccessAt"].clone(),
            "events": {
                "queued": counts.queued,
                "failed": counts.failed,
                "parked": counts.parked,
                "processed": counts.done,
            },
            "followUps": followups,
            // What AI calls rest on: recorded consent per number, or the tenant's attestation (who, and when).
            "aiCallConsent": record
                .settings
                .as_ref()
                .and_then(|s| s.get("aiCallConsent").cloned())
                .unwrap_or_else(|| json!({"basis": "recorded"})),
            "leads": leads,
            "reconcile": reconcile,
        }))
    }
}
