//! `GET /admin/tenants/{id}/webhooks`: the ServiceTitan webhook subscriptions the tenant's recipes use, each with the
//! path to paste into ServiceTitan's developer portal (per event, under this API's URL), and whether deliveries
//! arrive: how many the intake took and the last one, so a contractor sees which subscriptions work.

use serde_json::json;

use shared::clock::iso_millis;

use crate::{Admin, Handled, ok, storage_error};

/// ServiceTitan's retries of a delivery that got no 200 (seconds after the first attempt).
const RETRIES: [u32; 4] = [10, 30, 60, 300];

impl Admin {
    pub(crate) async fn webhooks(&self, tenant_id: &str) -> Handled {
        let record = self.record(tenant_id).await?;
        let view = followup_runtime::TenantView::new(&self.catalogue, record.clone(), &self.overrides(&record).await?);
        let stats = self
            .events
            .webhook_stats(tenant_id)
            .await
            .map_err(|e| storage_error("counting the tenant's webhooks", e))?;
        let mut events: Vec<(shared::event::EventName, Vec<&str>)> = Vec::new();
        for recipe in &view.recipes.enabled {
            for event in recipe.webhook_events() {
                match events.iter_mut().find(|(e, _)| *e == event) {
                    Some((_, by)) => by.push(recipe.id.as_str()),
                    None => events.push((event, vec![recipe.id.as_str()])),
                }
            }
        }
        events.sort_by_key(|(e, _)| e.as_str());
        let listed: Vec<serde_json::Value> = events
            .iter()
            .map(|(event, recipes)| {
                let s = stats.get(event.as_str()).copied().unwrap_or_default();
                json!({
                    "event": event.as_str(),
                    "path": format!("/webhooks/servicetitan/{}", event.as_str()),
                    "recipes": recipes,
                    "count": s.count,
                    "lastReceivedAt": s.last_received_at.map(iso_millis),
                })
            })
            .collect();
        ok(&json!({
            "tenantId": tenant_id,
            "events": listed,
            "lastWebhookAt": record.last_webhook_at.map(iso_millis),
            "retriesSeconds": RETRIES,
            "reconcileIntervalMinutes": self.config.reconcile_interval.as_mins(),
        }))
    }
}
