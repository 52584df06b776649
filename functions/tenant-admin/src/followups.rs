//! The follow-up engine seen from the admin API: an entity's timeline and one run, the opt-out ledger, the
//! tenant's recipes with their overrides, and the figures the status page shows.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use followup_runtime::store::{RunRecord, RunStatus};
use followups::decide::Subject;
use followups::money;
use shared::api_error::{ApiError, FieldError};
use shared::clock::iso_millis;

use crate::{Admin, Handled, ok, storage_error};

/// Percent-decodes a path segment (`%2B15125550100` → `+15125550100`).
pub(crate) fn decode_segment(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Days the status's `sendsByDay` covers, ending today.
const SENDS_BY_DAY: i64 = 14;

fn run_json(r: &RunRecord) -> Value {
    json!({
        "runId": r.run_id,
        "recipe": r.recipe,
        "entity": r.subject.key(),
        "status": r.status,
        "reason": r.reason,
        "anchor": iso_millis(r.anchor),
        "enrolledAt": iso_millis(r.enrolled_at),
        "endedAt": r.ended_at.map(iso_millis),
        "nextStep": (r.status == RunStatus::Active).then(|| json!({
            "step": r.position.step, "round": r.position.round, "dueAt": r.due_at.map(iso_millis),
            "scheduled": r.scheduled, "retries": r.retries, "stalled": r.stalled, "lastError": r.last_error,
        })),
        "sends": r.sends,
        "skips": r.skips,
        "failures": r.failures,
        "goal": r.goal,
        "timeZone": r.profile.time_zone,
    })
}

fn bad_query(message: impl Into<String>, field: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(field, "see the message")
}

impl Admin {
    /// `GET .../runs?entity=estimate:90211` (an entity's runs and timeline) or `?status=active|halted|finished`.
    pub(crate) async fn runs(&self, tenant_id: &str, query: &BTreeMap<String, String>) -> Handled {
        self.record(tenant_id).await?;
        if let Some(key) = query.get("entity") {
            let subject = Subject::parse(key).ok_or_else(|| {
                bad_query(
                    "entity must be kind:id, e.g. estimate:90211 (kinds: estimate, invoice, appointment, job, call)",
                    "entity",
                )
            })?;
            let (runs, timeline) = tokio::join!(
                self.followups.runs(tenant_id),
                self.followups.timeline(tenant_id, &subject)
            );
            let runs = runs.map_err(|e| storage_error("reading runs", e))?;
            let timeline = timeline.map_err(|e| storage_error("reading the timeline", e))?;
            let mine: Vec<Value> = runs.iter().filter(|r| r.subject == subject).map(run_json).collect();
            return ok(&json!({"tenantId": tenant_id, "entity": subject.key(), "runs": mine, "timeline": timeline}));
        }
        let status = query.get("status").map(String::as_str);
        if let Some(s) = status
            && !matches!(s, "active" | "halted" | "finished")
        {
            return Err(bad_query("status must be active, halted or finished", "status"));
        }
        let runs = self
            .followups
            .runs(tenant_id)
            .await
            .map_err(|e| storage_error("reading runs", e))?;
        let listed: Vec<Value> = runs
            .iter()
            .filter(|r| status.is_none_or(|s| serde_json::to_value(r.status).ok() == Some(Value::from(s))))
            .map(run_json)
            .collect();
        ok(&json!({"tenantId": tenant_id, "runs": listed}))
    }

    /// `GET .../runs/{runId}`: one run and its part of the entity's timeline.
    pub(crate) async fn run(&self, tenant_id: &str, run_id: &str) -> Handled {
        self.record(tenant_id).await?;
        let run = self
            .followups
            .run(tenant_id, run_id)
            .await
            .map_err(|e| storage_error("reading the run", e))?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_run",
                    format!("tenant {tenant_id} has no run {run_id}"),
                )
            })?;
        let timeline: Vec<_> = self
            .followups
            .timeline(tenant_id, &run.subject)
            .await
            .map_err(|e| storage_error("reading the timeline", e))?
            .into_iter()
            .filter(|e| e.run_id.as_deref() == Some(run_id))
            .collect();
        ok(&json!({"tenantId": tenant_id, "run": run_json(&run), "timeline": timeline}))
    }

    pub(crate) async fn opt_outs(&self, tenant_id: &str) -> Handled {
        self.record(tenant_id).await?;
        let entries = self
            .followups
            .opt_outs(tenant_id)
            .await
            .map_err(|e| storage_error("reading the opt-out ledger", e))?;
        ok(&json!({"tenantId": tenant_id, "optOuts": entries}))
    }

    /// `DELETE .../opt-outs/{address}[?channel=sms]`: the customer opted back in another way (a signed form, a call).
    pub(crate) async fn remove_opt_out(&self, tenant_id: &str, raw: &str, query: &BTreeMap<String, String>) -> Handled {
        self.record(tenant_id).await?;
        let address = decode_segment(raw)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad_query("the address is not a percent-encoded phone number or email", "address"))?;
        // What is neither a phone number nor an email address cannot be in the ledger.
        let address = contact::address_key(&address).ok_or_else(not_opted_out)?;
        // `all` (or no channel) lifts every channel; a channel lifts only itself.
        let channel = query.get("channel").map(String::as_str).filter(|c| *c != "all");
        if let Some(c) = channel
            && !matches!(c, "sms" | "voice" | "email")
        {
            return Err(bad_query("channel must be sms, voice, email or all", "channel"));
        }
        let removed = self
            .followups
            .remove_opt_out(tenant_id, &address, channel.map(|c| vec![c]).as_deref())
            .await
            .map_err(|e| storage_error("changing the opt-out ledger", e))?;
        if !removed {
            return Err(not_opted_out());
        }
        info!(channel = channel.unwrap_or("every"), "opt-out removed");
        ok(&json!({"tenantId": tenant_id, "address": address, "removed": channel.unwrap_or("every channel")}))
    }

    /// Every recipe, with whether the tenant runs it and its override.
    pub(crate) async fn recipes(&self, tenant_id: &str) -> Handled {
        let record = self.record(tenant_id).await?;
        let overrides = self.overrides(&record).await?;
        let view = followup_runtime::TenantView::new(&self.catalogue, record, &overrides);
        let list: Vec<Value> = self
            .catalogue
            .all()
            .iter()
            .map(|r| {
                let effective = view.recipes.get(&r.id).cloned().unwrap_or_else(|| r.clone());
                json!({
                    "id": r.id,
                    "enabled": view.recipes.get(&r.id).is_some(),
                    "override": overrides.get(&r.id),
                    "recipe": effective,
                })
            })
            .collect();
        ok(&json!({"tenantId": tenant_id, "recipes": list}))
    }

    pub(crate) async fn recipe(&self, tenant_id: &str, recipe_id: &str) -> Handled {
        let record = self.record(tenant_id).await?;
        let recipe = self.known_recipe(recipe_id)?;
        let overrides = self.overrides(&record).await?;
        let effective = match overrides.get(recipe_id) {
            Some(o) => recipe.with_override(o).unwrap_or_else(|_| recipe.clone()),
            None => recipe.clone(),
        };
        ok(&json!({
            "tenantId": tenant_id,
            "id": recipe_id,
            "override": overrides.get(recipe_id),
            "recipe": effective,
            "defaults": recipe,
        }))
    }

    /// `PUT .../recipes/{id}` with an override document (`null` body fields reset); `DELETE` returns to defaults.
    pub(crate) async fn put_recipe(&self, tenant_id: &str, recipe_id: &str, body: Option<&Value>) -> Handled {
        let recipe = self.known_recipe(recipe_id)?.clone();
        if let Some(doc) = body {
            recipe.with_override(doc).map_err(|fields| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_override",
                    format!("the override of {recipe_id} is invalid"),
                )
                .with_fields(fields)
            })?;
        }
        let record = self.record(tenant_id).await?;
        if record.tenant.status != shared::tenants::TenantStatus::Connected {
            return Err(crate::settings::not_connected(tenant_id));
        }
        let now = self.clock.now();
        let storage = |e: followup_runtime::store::StoreError| storage_error("storing the override", e);
        if !record.legacy_recipe_overrides.is_empty() {
            self.followups
                .move_legacy_overrides(&record, now)
                .await
                .map_err(storage)?;
            self.registry
                .drop_legacy_recipe_overrides(tenant_id, &record.legacy_recipe_overrides)
                .await
                .map_err(|e| storage_error("storing the override", e))?;
        }
        self.followups
            .put_recipe_override(tenant_id, recipe_id, body, now)
            .await
            .map_err(storage)?;
        info!(recipe = recipe_id, reset = body.is_none(), "recipe override stored");
        self.recipe(tenant_id, recipe_id).await
    }

    /// `GET|POST .../recipes/{id}/sample {"override"?}`: every step of the recipe (with the unsaved override applied)
    /// rendered on made-up values and the tenant's own company name and booking link, for a live preview while
    /// editing. Nothing is stored; an invalid override gets its field reasons, as a `PUT` would.
    pub(crate) async fn sample(&self, tenant_id: &str, recipe_id: &str, body: Option<&Value>) -> Handled {
        let recipe = self.known_recipe(recipe_id)?;
        let record = self.record(tenant_id).await?;
        let doc = body.and_then(|b| b.get("override")).filter(|o| !o.is_null());
        let overrides = self.overrides(&record).await?;
        let effective = match doc.or(overrides.get(recipe_id)) {
            Some(o) => recipe.with_override(o).map_err(|fields| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_override",
                    format!("the override of {recipe_id} is invalid"),
                )
                .with_fields(
                    fields
                        .into_iter()
                        .map(|f| FieldError::new(format!("/override{}", f.field), f.reason)),
                )
            })?,
            None => recipe.clone(),
        };
        let settings = record
            .settings
            .as_ref()
            .and_then(|v| serde_json::from_value::<shared::tenant_settings::TenantSettings>(v.clone()).ok());
        let company = settings
            .as_ref()
            .and_then(|s| s.company_name.clone())
            .unwrap_or_else(|| "Your company".to_owned());
        let booking = settings
            .as_ref()
            .and_then(|s| s.booking_url.clone())
            .unwrap_or_else(|| "https://book.example.com/you".to_owned());
        let vars = followups::render::sample_vars(effective.subject, &company, &booking);
        let steps: Vec<Value> = effective
            .steps
            .iter()
            .map(|step| {
                let rendered = step.template.render(&vars);
                json!({
                    "id": step.id,
                    "channel": step.channel,
                    "delay": step.delay.to_string(),
                    "enabled": step.enabled,
                    "text": rendered.as_ref().ok(),
                    "missing": rendered.err(),
                })
            })
            .collect();
        ok(&json!({"tenantId": tenant_id, "id": recipe_id, "class": effective.message_class, "steps": steps}))
    }

    fn known_recipe(&self, recipe_id: &str) -> Result<&followups::Recipe, ApiError> {
        self.catalogue.get(recipe_id).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_recipe",
                format!("there is no recipe {recipe_id:?}"),
            )
            .with_field(
                "recipeId",
                format!(
                    "one of {}",
                    self.catalogue
                        .all()
                        .iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// The status page's follow-up figures.
    pub(crate) async fn followup_figures(&self, tenant_id: &str) -> Result<Value, ApiError> {
        let runs = self
            .followups
            .runs(tenant_id)
            .await
            .map_err(|e| storage_error("reading runs", e))?;
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        let mut suppressed: BTreeMap<String, u64> = BTreeMap::new();
        let mut goals: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        let (mut active, mut sends, mut skips, mut failures, mut stalled) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for r in &runs {
            if r.status == RunStatus::Active {
                active += 1;
                stalled += u64::from(r.stalled);
            }
            sends += u64::from(r.sends);
            skips += u64::from(r.skips);
            failures += u64::from(r.failures);
            if let Some(reason) = &r.reason {
                *by_reason.entry(reason.clone()).or_default() += 1;
            }
            for (reason, n) in &r.skipped_by {
                *suppressed.entry(reason.clone()).or_default() += u64::from(*n);
            }
            if let Some(goal) = &r.goal {
                let g = goals.entry(goal.label.clone()).or_default();
                g.0 += 1;
                g.1 += goal.amount_cents.unwrap_or(0);
            }
        }
        let revenue = |label: &str| goals.get(label).map_or("0.00".to_owned(), |g| money(g.1));
        // The last two weeks, for the page's chart: every day listed, sends or not. Days are the recipients',
        // which may run a day ahead of UTC's.
        let today = jiff::tz::TimeZone::UTC.to_datetime(self.clock.now()).date();
        let since = today.saturating_sub(jiff::Span::new().days(SENDS_BY_DAY - 1));
        let counted = self
            .followups
            .sends_by_day(tenant_id, since)
            .await
            .map_err(|e| storage_error("reading the sends per day", e))?;
        let last = counted.last().map_or(today, |(d, _)| (*d).max(today));
        let mut by_day: Vec<Value> = Vec::new();
        let mut day = since;
        while day <= last {
            let counts = counted
                .iter()
                .find(|(d, _)| *d == day)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            by_day.push(json!({"date": day.to_string(), "byRecipe": counts}));
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        Ok(json!({
            "runs": runs.len(),
            "activeRuns": active,
            "stalledRuns": stalled,
            "sends": sends,
            "suppressions": skips,
            "suppressedBy": suppressed,
            "failures": failures,
            "ended": by_reason,
            "goals": goals.iter().map(|(k, (n, c))| (k.clone(), json!({"count": n, "amount": money(*c)}))).collect::<serde_json::Map<_, _>>(),
            "revenue": {"estimatesSold": revenue("sold"), "invoicesPaid": revenue("paid")},
            "sendsByDay": by_day,
        }))
    }
}

fn not_opted_out() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_opted_out",
        "that address is not in the opt-out ledger",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(super::decode_segment("%2B15125550100").as_deref(), Some("+15125550100"));
        assert_eq!(
            super::decode_segment("mary%40example.com").as_deref(),
            Some("mary@example.com")
        );
        assert_eq!(super::decode_segment("%ZZ"), None);
    }
}
