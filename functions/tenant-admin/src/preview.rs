//! `GET /admin/tenants/{id}/preview?days=7&recipes=a,b`: what the enabled recipes (or the ones named, before
//! switching them on) would send in the next days, without sending. It reads the tenant's export feeds over the
//! reconciler's lookback, as a first reconcile would, without moving any cursor; plans from what it finds the
//! way backfill does (only steps still ahead); and adds the pending steps of runs already active.

use std::collections::{BTreeMap, HashMap, HashSet};

use http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

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
        let overrides = self.overrides(&record).await?;
        let recipes = self.catalogue.for_tenant(&ids, &overrides).enabled;
        let client = self
            .connections
            .client_for(&record)
            .await
            .map_err(|e| crate::settings::connection_error(tenant_id, e))?;
        let now = self.clock.now();
        let until = now + SignedDuration::from_hours(24 * days);
        let tz = jiff::tz::TimeZone::get(&settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let view = followup_runtime::TenantView::new(&self.catalogue, record.clone(), &overrides);
        let quiet = view.quiet_hours();
        let rules = preview::Rules {
            channels: &settings.channels,
            quiet_hours: quiet,
            ai_call_consent: &settings.ai_call_consent,
        };
        // Recipes not yet switched on are previewed as if switched on now.
        let mut watched_since = view.watched_since();
        for r in &recipes {
            watched_since.entry(r.id.clone()).or_insert(now);
        }
        let mut people = People::new(&client, &self.followups, tenant_id, tz.clone());

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
                let recipient = people
                    .of_run(run)
                    .await
                    .map_err(|e| storage_error("reading the ledgers", e))?;
                sends.extend(preview::run_steps(
                    recipe,
                    &run.subject,
                    run.position,
                    due.max(now),
                    run.anchor,
                    &recipient,
                    &rules,
                    until,
                ));
            }
        }
        let mut found = self
            .lookback(&client, &recipes, &settings, &tz, now)
            .await
            .map_err(unavailable)?;
        for f in &mut found {
            f.recipient = people
                .of_facts(&f.facts)
                .await
                .map_err(|e| storage_error("reading the ledgers", e))?;
        }
        let found_count = found.len();
        sends.extend(
            preview::lookback(
                &found,
                &recipes,
                &rules,
                settings.include_existing_overdue,
                &watched_since,
                now,
                until,
            )
            .into_iter()
            .filter(|p| !taken.contains(&(p.recipe.clone(), p.entity.clone()))),
        );
        preview::sort(&mut sends);
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
            "recipientsRead": people.read,
            "byRecipe": by_recipe,
            "byReason": preview::by_reason(&sends),
            "sends": sends.iter().map(|s| {
                let mut v = json!({
                    "recipe": s.recipe, "entity": s.entity, "step": s.step, "round": s.round, "stepId": s.step_id,
                    "channel": s.channel, "plannedAt": iso_millis(s.planned_at), "at": iso_millis(s.at),
                });
                if let Some(map) = v.as_object_mut()
                    && let Ok(Value::Object(outcome)) = serde_json::to_value(&s.outcome)
                {
                    map.extend(outcome);
                }
                v
            }).collect::<Vec<_>>(),
            "note": "Each send is judged by the tenant's channels, the opt-out ledger, AI-call consent and the \
                     recipient's window (quiet hours, the state's rule for sales messages). The contact cap may still \
                     move a send later, and a sale, payment, reply or opt-out meanwhile stops it.",
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
            recipient: preview::Recipient::in_zone(tz.clone()),
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

/// At most this many people are looked up (their address, contacts and ledgers) in one preview; beyond it, a
/// recipient is previewed in the tenant's zone with nothing recorded.
const MAX_PEOPLE: usize = 100;

/// Who the previewed runs would write to: their zones, state, AI-call consent and opt-outs, read once each.
struct People<'a> {
    client: &'a Client,
    store: &'a followup_runtime::store::Store,
    tenant_id: &'a str,
    tenant_zone: jiff::tz::TimeZone,
    known: HashMap<(Option<i64>, Option<i64>), preview::Recipient>,
    read: usize,
}

impl<'a> People<'a> {
    fn new(
        client: &'a Client,
        store: &'a followup_runtime::store::Store,
        tenant_id: &'a str,
        tenant_zone: jiff::tz::TimeZone,
    ) -> Self {
        Self {
            client,
            store,
            tenant_id,
            tenant_zone,
            known: HashMap::new(),
            read: 0,
        }
    }

    /// A run's recipient: its profile's zones and state, and the ledgers for the customer's addresses.
    async fn of_run(
        &mut self,
        run: &followup_runtime::store::RunRecord,
    ) -> Result<preview::Recipient, followup_runtime::store::StoreError> {
        let mut r = preview::Recipient {
            zones: run.profile.zones(),
            state: run.profile.state.clone(),
            voice_consent: None,
            opted_out: Vec::new(),
        };
        let phone = run.profile.phone.clone();
        let addresses = match (run.profile.customer_id, phone) {
            (_, Some(p)) => vec![p],
            (Some(id), None) => self.addresses(id).await,
            (None, None) => Vec::new(),
        };
        self.ledgers(&mut r, &addresses).await?;
        Ok(r)
    }

    /// An entity's recipient, from its location's address and its customer's contacts.
    async fn of_facts(
        &mut self,
        facts: &::followups::facts::Facts,
    ) -> Result<preview::Recipient, followup_runtime::store::StoreError> {
        let key = (facts.customer_id, facts.location_id);
        if let Some(r) = self.known.get(&key) {
            return Ok(r.clone());
        }
        let mut r = preview::Recipient::in_zone(self.tenant_zone.clone());
        if self.read < MAX_PEOPLE {
            self.read += 1;
            if let Some(id) = facts.location_id
                && let Ok(l) = self.client.location(id).await
                && let Some(z) = ::followups::geo::for_address(&l.address.state, &l.address.zip, &l.address.country)
            {
                r.zones = z.zones.iter().filter_map(|z| jiff::tz::TimeZone::get(z).ok()).collect();
                r.state = ::followups::geo::region_code(&l.address.state, &l.address.country).map(str::to_owned);
            }
            if r.zones.is_empty() {
                r.zones = vec![self.tenant_zone.clone()];
            }
            let addresses = match facts.customer_id {
                Some(id) => self.addresses(id).await,
                None => facts.phone.iter().cloned().collect(),
            };
            self.ledgers(&mut r, &addresses).await?;
        }
        self.known.insert(key, r.clone());
        Ok(r)
    }

    /// The customer's phone for calls and texts, and email, as the runner would pick them.
    async fn addresses(&mut self, customer_id: i64) -> Vec<String> {
        let Ok(contacts) = st::contacts(self.client, customer_id).await else {
            return Vec::new();
        };
        use shared::tenant_settings::Channel;
        [Channel::Voice, Channel::Email]
            .iter()
            .filter_map(|c| ::followups::recipient::pick(*c, &contacts, false).ok())
            .collect()
    }

    async fn ledgers(
        &self,
        r: &mut preview::Recipient,
        addresses: &[String],
    ) -> Result<(), followup_runtime::store::StoreError> {
        use shared::tenant_settings::Channel;
        for address in addresses {
            if let Some(entry) = self.store.opt_out_of(self.tenant_id, address).await? {
                for c in [Channel::Sms, Channel::Voice, Channel::Email] {
                    if entry.covers(::followups::optout::channel_name(c)).channel && !r.opted_out.contains(&c) {
                        r.opted_out.push(c);
                    }
                }
            }
            if !address.contains('@') {
                r.voice_consent = self.store.consent_of(self.tenant_id, address, "voice").await?;
            }
        }
        Ok(())
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
