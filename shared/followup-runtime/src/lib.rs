//! What the follow-up functions (event processor, runner, inbound messages, admin API) share around the engine's
//! pure rules in `followups`:
//! - [`store`]: the engine's state in DynamoDB, every change a conditional write;
//! - [`schedules`]: one-shot EventBridge Scheduler schedules for steps and watches;
//! - [`servicetitan_facts`]: live reads from ServiceTitan, as the engine's facts;
//! - [`profile`]: what a run keeps about the person it follows up;
//! - [`messages`]: the follow-ups queue's messages;
//! - [`TenantView`]: a tenant's settings and effective recipes, from its registry record.

pub mod messages;
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
    pub fn new(catalogue: &Catalogue, record: TenantRecord) -> Self {
        let settings: Option<TenantSettings> = record
            .settings
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let recipes = match &settings {
            Some(s) => catalogue.for_tenant(&s.recipes, &record.recipe_overrides),
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
}

/// Halts an active run and deletes its pending schedule (a schedule the delete misses fires into a halted run and
/// does nothing). `Ok(false)` when the run had ended already.
pub async fn halt(
    store: &store::Store,
    schedules: &schedules::Schedules,
    tenant_id: &str,
    run: &store::RunRecord,
    reason: followups::HaltReason,
    goal: Option<&followups::GoalReached>,
    now: jiff::Timestamp,
) -> Result<bool, store::StoreError> {
    if run.status != store::RunStatus::Active {
        return Ok(false);
    }
    let halted = store
        .end_run(tenant_id, run, store::RunStatus::Halted, reason, goal, now)
        .await?;
    if let Err(e) = schedules
        .cancel_step(tenant_id, &run.run_id, run.position, run.seq)
        .await
    {
        tracing::warn!(error = %e, run_id = %run.run_id, "could not delete a halted run's schedule; it will fire and do nothing");
    }
    Ok(halted)
}
