//! What the follow-up functions (event processor, runner, inbound messages, admin API) share around the engine's
//! pure rules in `followups`:
//! - [`store`]: the engine's state in DynamoDB, every change a conditional write;
//! - [`overrides`]: a tenant's recipe overrides, one item each;
//! - [`schedules`]: one-shot EventBridge Scheduler schedules for steps and watches;
//! - [`servicetitan_facts`]: live reads from ServiceTitan, as the engine's facts;
//! - [`profile`]: what a run keeps about the person it follows up;
//! - [`messages`]: the follow-ups queue's messages;
//! - [`TenantView`]: a tenant's settings and effective recipes, from its registry record.

pub mod messages;
pub mod overrides;
pub mod profile;
pub mod schedules;
pub mod servicetitan_facts;
pub mod store;

use followups::recipe::{Catalogue, TenantRecipes};
use shared::tenant_settings::TenantSettings;
use shared::tenants::{TenantRecord, TenantStatus};

/// Why a follow-up function could not start: its configuration, or a shipped recipe that does not load.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] shared::config::ConfigError),
    #[error(transparent)]
    Recipes(#[from] followups::recipe::InvalidRecipe),
}

/// The zone used when a tenant has no settings yet (it has no recipes either, so nothing is sent by it).
pub const DEFAULT_TIME_ZONE: &str = "America/Chicago";

/// A tenant as the engine sees it.
#[derive(Debug, Clone)]
pub struct TenantView {
    pub record: TenantRecord,
    pub settings: Option<TenantSettings>,
    pub recipes: TenantRecipes,
}

impl TenantView {
    /// The tenant's view with its overrides read from the follow-ups table.
    pub async fn load(
        catalogue: &Catalogue,
        store: &store::Store,
        record: TenantRecord,
    ) -> Result<Self, store::StoreError> {
        let overrides = store.recipe_overrides(&record).await?;
        Ok(Self::new(catalogue, record, &overrides))
    }

    pub fn new(
        catalogue: &Catalogue,
        record: TenantRecord,
        overrides: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Self {
        let settings: Option<TenantSettings> = record
            .settings
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let recipes = match &settings {
            Some(s) => catalogue.for_tenant(&s.recipes, overrides),
            None => TenantRecipes::default(),
        };
        for (id, problems) in &recipes.ignored_overrides {
            tracing::warn!(
                tenant_id = %record.tenant.tenant_id,
                recipe = %id,
                problems = ?problems.iter().map(|p| format!("{} {}", p.field, p.reason)).collect::<Vec<_>>(),
                "a recipe override no longer applies; the recipe runs with its defaults"
            );
        }
        Self {
            record,
            settings,
            recipes,
        }
    }

    pub fn tenant_id(&self) -> &str {
        &self.record.tenant.tenant_id
    }

    pub fn connected(&self) -> bool {
        self.record.tenant.status == TenantStatus::Connected
    }

    pub fn time_zone(&self) -> &str {
        self.settings
            .as_ref()
            .map_or(DEFAULT_TIME_ZONE, |s| s.time_zone.as_str())
    }

    /// Since when the tenant has run each recipe: the later of connecting and switching the recipe on.
    pub fn watched_since(&self) -> std::collections::BTreeMap<String, jiff::Timestamp> {
        let connected = self.record.connected_at;
        self.recipes
            .enabled
            .iter()
            .filter_map(|r| {
                let enabled = self
                    .settings
                    .as_ref()
                    .and_then(|s| s.recipes_enabled_at.get(&r.id).copied());
                let since = match (connected, enabled) {
                    (Some(c), Some(e)) => c.max(e),
                    (c, e) => c.or(e)?,
                };
                Some((r.id.clone(), since))
            })
            .collect()
    }

    /// The send rules the tenant's settings set (a tenant without settings has no recipes, so they never apply).
    pub fn rules<'a>(&'a self, recipe_enabled: bool) -> followups::gate::TenantRules<'a> {
        const NONE: &[shared::tenant_settings::Channel] = &[];
        static RECORDED: shared::tenant_settings::AiCallConsent = shared::tenant_settings::AiCallConsent::Recorded;
        let s = self.settings.as_ref();
        let cap = s.map(|s| s.contact_cap).unwrap_or_default();
        followups::gate::TenantRules {
            connected: self.connected(),
            recipe_enabled,
            channels: s.map_or(NONE, |s| s.channels.as_slice()),
            cap: followups::gate::Cap {
                messages: cap.messages,
                per: jiff::SignedDuration::from_hours(i64::from(cap.hours)),
            },
            after_hours_notice: s
                .is_some_and(|s| s.leads.missed_call_after_hours == shared::tenant_settings::AfterHours::ClosedNotice),
            ai_call_consent: s.map_or(&RECORDED, |s| &s.ai_call_consent),
        }
    }

    /// The tenant's quiet hours as times.
    pub fn quiet_hours(&self) -> Option<(jiff::civil::Time, jiff::civil::Time)> {
        let q = &self.settings.as_ref()?.quiet_hours;
        followups::gate::quiet_hours(&q.start, &q.end)
    }
}

/// Halts an active run and deletes its pending schedule (a schedule the delete misses fires into a halted run and
/// does nothing); `because` goes into the timeline entry (an opt-out's words). `Ok(false)` when the run had ended
/// already.
#[allow(clippy::too_many_arguments)]
pub async fn halt(
    store: &store::Store,
    schedules: &schedules::Schedules,
    tenant_id: &str,
    run: &store::RunRecord,
    reason: followups::HaltReason,
    goal: Option<&followups::GoalReached>,
    because: &serde_json::Value,
    now: jiff::Timestamp,
) -> Result<bool, store::StoreError> {
    if run.status != store::RunStatus::Active {
        return Ok(false);
    }
    let halted = store
        .end_run_because(tenant_id, run, store::RunStatus::Halted, reason, goal, because, now)
        .await?;
    if let Err(e) = schedules
        .cancel_step(tenant_id, &run.run_id, run.position, run.seq)
        .await
    {
        tracing::warn!(error = %e, run_id = %run.run_id, "could not delete a halted run's schedule; it will fire and do nothing");
    }
    Ok(halted)
}
