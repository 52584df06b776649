//! `GET /admin/tenants/{id}/preview?days=7&recipes=a,b`: what the enabled recipes (or the ones named, before
//! switching them on) would send in the next days, without sending. It reads the tenant's export feeds over the
//! reconciler's lookback, as a first reconcile would, without moving any cursor; plans from what it finds the
//! way backfill does (only steps still ahead); and adds the pending steps of runs already active.

use std::collections::{BTreeMap, HashMap, HashSet};

use http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use ::followups::preview::{self, Found, PlannedSend};
use ::followups::recipe::Recipe;
use followup_runtime::servicetitan_facts as st;
use followup_runtime::store::RunStatus;
use reconcile::changes;
use servicetitan::Client;
use servicetitan::models::jpm::{Appointment, Job};
use shared::api_error::ApiError;
use shared::clock::iso_millis;
use shared::event::EntityKind;
use shared::tenant_settings::TenantSettings;
use shared::tenants::TenantStatus;

use crate::{Admin, Handled, ok, storage_error};

/// Pages read per feed: a preview is a look, not a full reconcile.
const MAX_PAGES: usize = 50;
const MAX_DAYS: i64 = 30;

fn bad(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "the preview query is invalid").with_field(field, reason)
}

fn unavailable(e: servicetitan::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "servicetitan_unavailable",
        format!("reading the tenant's ServiceTitan data failed: {e}"),
    )
    .with_header(http::header::RETRY_AFTER, "30")
}

impl Admin {
    pub(crate) async fn preview(&self, tenant_id: &str, query: &BTreeMap<String, String>) -> Handled {
        let days = match query.get("days") {
            None => 7,
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_DAYS).contains(d))
                .ok_or_else(|| bad("days", format!("must be a whole number of days from 1 to {MAX_DAYS}")))?,
        };
        let record = self.record(tenant_id).await?;
        if record.tenant.status != TenantStatus::Connected {
            return Err(crate::settings::not_connected(tenant_id));
        }
        let settings: TenantSettings = record
            .settings
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "settings_incomplete",
                    "choose the business unit, job type and campaign first (PUT .../settings)",
                )
            })?;
        let ids: Vec<String> = match query.get("recipes") {
            Some(list) => {
                let ids: Vec<String> = list
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(unknown) = ids.iter().find(|id| self.catalogue.get(id).is_none()) {
                    return Err(bad("recipes", format!("no recipe {unknown:?}")));
                }
                ids
            }
            None => settings.recipes.clone(),
        };
        let recipes = self.catalogue.for_tenant(&ids, &record.recipe_overrides).enabled;
        let client = self
            .connections
            .client_for(&record)
            .await
            .map_err(|e| storage_error("reading the tenant's credentials", e))?;
        let now = self.clock.now();
        let until = now + SignedDuration::from_hours(24 * days);
        let tz = jiff::tz::TimeZone::get(&settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);

        // Runs that exist already: their pending steps, and no second plan for their entities.
        let runs = self
            .followups
            .runs(tenant_id)
            .await
            .map_err(|e| storage_error("reading runs", e))?;
        let mut sends: Vec<PlannedSend> = Vec::new();
        let mut taken: HashSet<(String, String)> = HashSet::new();
        for run in &runs {
            taken.insert((run.recipe.clone(), run.subject.key()));
            let Some(recipe) = recipes.iter().find(|r| r.id == run.recipe) else {
                continue;
            };
            if run.status == RunStatus::Active
                && let Some(due) = run.due_at
            {
                let zone = jiff::tz::TimeZone::get(&run.profile.time_zone).unwrap_or(tz.clone());
                sends.extend(preview::run_steps(
                    recipe,
                    &run.subject,
                    run.position,
                    due.max(now),
                    run.anchor,
                    &zone,
                    until,
                ));
            }
        }
        let found = self
            .lookback(&client, &recipes, &settings, &tz, now)
            .await
            .map_err(unavailable)?;
        let found_count = found.len();
        sends.extend(
            preview::lookback(&found, &recipes, settings.include_existing_overdue, now, until)
                .into_iter()
                .filter(|p| !taken.contains(&(p.recipe.clone(), p.entity.clone()))),
        );
        sends.sort_by(|a, b| (a.at, &a.entity, a.step).cmp(&(b.at, &b.entity, b.step)));
        let mut by_recipe: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &sends {
            *by_recipe.entry(s.recipe.as_str()).or_default() += 1;
        }
        ok(&json!({
            "tenantId": tenant_id,
            "from": iso_millis(now),
            "until": iso_millis(until),
            "recipes": recipes.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            "entitiesRead": found_count,
            "byRecipe": by_recipe,
            "sends": sends.iter().map(|s| json!({
                "recipe": s.recipe, "entity": s.entity, "step": s.step, "round": s.round, "stepId": s.step_id,
                "channel": s.channel, "at": iso_millis(s.at),
            })).collect::<Vec<_>>(),
            "note": "Planned moments: quiet hours and the contact cap may move a send later, and a sale, payment, \
                     reply or opt-out meanwhile stops it.",
        }))
    }

    /// What the reconciler's first read would find: the records of the lookback, as entities with their events.
    async fn lookback(
        &self,
        client: &Client,
        recipes: &[Recipe],
        settings: &TenantSettings,
        tz: &jiff::tz::TimeZone,
        now: Timestamp,
    ) -> Result<Vec<Found>, servicetitan::Error> {
        let wants = |k: EntityKind| recipes.iter().any(|r| r.subject == k);
        let from = iso_millis(now - self.config.reconcile_lookback);
        let found = |event, occurred_at, facts| Found {
            event,
            occurred_at,
            facts,
            time_zone: tz.clone(),
        };
        let mut out = Vec::new();
        if wants(EntityKind::Estimate) {
            for e in all(
                |f: String| async move { client.export_estimates(Some(&f)).await },
                &from,
            )
            .await?
            {
                let c = changes::estimate(&e);
                out.push(found(c.event, c.occurred_at, st::estimate_facts(&e)));
            }
        }
        if wants(EntityKind::Invoice) {
            let mut invoices = all(|f: String| async move { client.export_invoices(Some(&f)).await }, &from).await?;
            if settings.include_existing_overdue {
                invoices.extend(client.unpaid_past_due(now).await?);
            }
            let mut seen = HashSet::new();
            for i in invoices.iter().rev().filter(|i| seen.insert(i.id)) {
                let c = changes::invoice(i);
                out.push(found(c.event, c.occurred_at, st::invoice_facts(i)));
            }
        }
        if wants(EntityKind::Job) || wants(EntityKind::Appointment) {
            let jobs: HashMap<i64, Job> = all(|f: String| async move { client.export_jobs(Some(&f)).await }, &from)
                .await?
                .into_iter()
                .map(|j| (j.id, j))
                .collect();
            if wants(EntityKind::Job) {
                for j in jobs.values() {
                    let c = changes::job(j);
                    out.push(found(c.event, c.occurred_at, st::job_facts(j)));
                }
            }
            if wants(EntityKind::Appointment) {
                let appointments = all(
                    |f: String| async move { client.export_appointments(Some(&f)).await },
                    &from,
                )
                .await?;
                let mut by_job: HashMap<i64, Vec<Appointment>> = HashMap::new();
                for a in &appointments {
                    by_job.entry(a.job_id).or_default().push(a.clone());
                }
                for a in &appointments {
                    let c = changes::appointment(a);
                    let facts = st::appointment_facts(a, jobs.get(&a.job_id), &by_job[&a.job_id], now);
                    out.push(found(c.event, c.occurred_at, facts));
                }
            }
        }
        Ok(out)
    }
}

/// Every record of an export feed from `from`, up to [`MAX_PAGES`] pages.
async fn all<T, F, Fut>(read: F, from: &str) -> Result<Vec<T>, servicetitan::Error>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<servicetitan::ExportPage<T>, servicetitan::Error>>,
{
    let mut out = Vec::new();
    let mut cursor = from.to_owned();
    for _ in 0..MAX_PAGES {
        let page = read(cursor.clone()).await?;
        out.extend(page.data);
        match (page.has_more, page.continue_from) {
            (true, Some(next)) => cursor = next,
            _ => break,
        }
    }
    Ok(out)
}
