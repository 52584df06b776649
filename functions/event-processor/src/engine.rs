//! From an entity's live facts to the engine's decisions, carried out. The snapshot merge, enrollment, halting and
//! the watches are each conditional or idempotent, so an event processed twice (a retry after a crash between any
//! two steps, or a duplicate delivery) changes nothing the second time but to finish what the first left undone.

use followup_runtime::TenantView;
use followup_runtime::profile::Profile;
use followup_runtime::schedules::Schedules;
use followup_runtime::servicetitan_facts as st;
use followup_runtime::store::{Enrolled, RunStatus, Store};
use followups::decide::{self, Action, EventInput, HaltReason, Subject};
use followups::facts::Facts;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use servicetitan::Client;
use shared::event::{EntityKind, ServiceTitanEvent};
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] followup_runtime::store::StoreError),
    #[error(transparent)]
    Schedule(#[from] followup_runtime::schedules::ScheduleError),
    #[error("reading the customer from ServiceTitan failed: {0}")]
    ServiceTitan(#[from] servicetitan::Error),
}

/// What an event did, for the log and the events table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    pub enrolled: usize,
    pub halted: usize,
    pub watches: usize,
    pub not_enrolled: usize,
}

impl Effects {
    pub fn add(&mut self, other: Effects) {
        self.enrolled += other.enrolled;
        self.halted += other.halted;
        self.watches += other.watches;
        self.not_enrolled += other.not_enrolled;
    }
}

pub struct Engine<'a> {
    pub store: &'a Store,
    pub schedules: &'a Schedules,
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

impl Engine<'_> {
    /// Merges `live` into the entity's snapshot, decides, and carries the decisions out.
    pub async fn handle(
        &self,
        tenant: &TenantView,
        client: &Client,
        event: &ServiceTitanEvent,
        live: Facts,
        now: Timestamp,
    ) -> Result<Effects, EngineError> {
        let tenant_id = tenant.tenant_id();
        let (facts, cached) = self.store.merge_snapshot(tenant_id, live, now).await?;
        let subject = Subject::new(facts.kind, facts.id.clone());
        let slots = self.store.slots(tenant_id, &subject).await?;
        let watched_since = tenant.watched_since();
        let decide_in = |tz: &TimeZone| {
            decide::decide(&EventInput {
                now,
                event: event.event_name,
                occurred_at: event.occurred_at,
                subject: &subject,
                facts: &facts,
                recipes: &tenant.recipes.enabled,
                slots: &slots,
                time_zone: tz,
                found_in_lookback: (event.source == shared::event::EventSource::Backfill).then_some(event.received_at),
                include_existing_overdue: tenant.settings.as_ref().is_some_and(|s| s.include_existing_overdue),
                watched_since: &watched_since,
            })
        };
        let mut zone_name = cached
            .as_ref()
            .map_or(tenant.time_zone().to_owned(), |p| p.time_zone.clone());
        let mut actions = decide_in(&zone(&zone_name));
        let mut profile = cached;
        if profile.is_none() && actions.iter().any(|a| matches!(a, Action::Enroll(_))) {
            let p = match subject.kind {
                // A caller a lead matched or made has a customer: read it like any other's.
                EntityKind::Call if facts.customer_id.is_none() => {
                    let mut p = Profile {
                        phone: facts.phone.clone(),
                        ..Profile::default()
                    };
                    p.resolve_time_zone(tenant.time_zone());
                    p
                }
                _ => st::profile(client, &facts, tenant.time_zone()).await?,
            };
            self.store.set_profile(tenant_id, &subject, &p).await?;
            if p.time_zone != zone_name {
                // Steps at a local time of day are planned in the recipient's zone.
                zone_name = p.time_zone.clone();
                actions = decide_in(&zone(&zone_name));
            }
            profile = Some(p);
        }
        let mut effects = Effects::default();
        let touched: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Halt { run_id, .. } => Some(run_id.clone()),
                _ => None,
            })
            .collect();
        for action in actions {
            self.apply(tenant_id, &subject, event, profile.as_ref(), action, now, &mut effects)
                .await?;
        }
        // A run enrolled by an earlier attempt of this event that crashed before its schedule was created: this
        // retry finishes it. (Runs the decision left alone are otherwise not read.)
        for slot in slots.iter().filter(|s| s.active.is_some()) {
            let run_id = &slot.active.as_ref().expect("filtered").run_id;
            if touched.contains(run_id) {
                continue;
            }
            if let Some(run) = self.store.run(tenant_id, run_id).await?
                && run.status == RunStatus::Active
                && !run.scheduled
            {
                info!(%run_id, "scheduling a run whose schedule was never created");
                self.schedules
                    .step(tenant_id, run_id, run.position, run.seq, run.due_at.unwrap_or(now))
                    .await?;
                self.store
                    .mark_scheduled(tenant_id, run_id, run.position, run.seq)
                    .await?;
            }
        }
        Ok(effects)
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        tenant_id: &str,
        subject: &Subject,
        event: &ServiceTitanEvent,
        profile: Option<&Profile>,
        action: Action,
        now: Timestamp,
        effects: &mut Effects,
    ) -> Result<(), EngineError> {
        match action {
            Action::Enroll(e) => {
                let profile = profile.cloned().unwrap_or_default();
                let run = match self
                    .store
                    .enroll(tenant_id, subject, &e, &profile, &event.event_id, now)
                    .await?
                {
                    Enrolled::Created => {
                        info!(run_id = %e.run_id, recipe = %e.recipe, first_at = %e.first.at, "enrolled");
                        effects.enrolled += 1;
                        None
                    }
                    Enrolled::AlreadyThere(run) => Some(run),
                    Enrolled::Lost => {
                        info!(recipe = %e.recipe, "another event enrolled this entity first");
                        return Ok(());
                    }
                };
                // A retry of this event finds its run: it only finishes what the first attempt left (the schedule).
                let (position, seq, due) = match &run {
                    None => (e.first.position, 0, e.first.at),
                    Some(r) if r.status == RunStatus::Active && !r.scheduled => {
                        (r.position, r.seq, r.due_at.unwrap_or(now))
                    }
                    Some(_) => return Ok(()),
                };
                self.schedules.step(tenant_id, &e.run_id, position, seq, due).await?;
                self.store.mark_scheduled(tenant_id, &e.run_id, position, seq).await?;
            }
            Action::Halt {
                run_id, reason, goal, ..
            } => {
                let Some(run) = self.store.run(tenant_id, &run_id).await? else {
                    warn!(%run_id, "the slot names a run that does not exist");
                    return Ok(());
                };
                if run.status != RunStatus::Active {
                    return Ok(());
                }
                if self
                    .store
                    .end_run(tenant_id, &run, RunStatus::Halted, reason, goal.as_ref(), now)
                    .await?
                {
                    info!(%run_id, reason = %reason.code(), goal = ?goal, "halted");
                    effects.halted += 1;
                }
                // A schedule that survives this (the delete failing) fires into a halted run and does nothing.
                if let Err(e) = self
                    .schedules
                    .cancel_step(tenant_id, &run_id, run.position, run.seq)
                    .await
                {
                    warn!(error = %e, "could not delete a halted run's schedule; it will fire and do nothing");
                }
            }
            Action::Watch {
                subject,
                event: watched,
                at,
                fire_at,
                from_lookback,
            } => {
                self.schedules
                    .watch(tenant_id, &subject, watched, at, fire_at, from_lookback)
                    .await?;
                effects.watches += 1;
            }
            Action::Skip { recipe, reason } => {
                self.store
                    .record_not_enrolled(tenant_id, subject, &recipe, &event.event_id, &reason, now)
                    .await?;
                effects.not_enrolled += 1;
            }
        }
        Ok(())
    }

    /// ServiceTitan no longer has the entity: its active runs end.
    pub async fn gone(&self, tenant_id: &str, subject: &Subject, now: Timestamp) -> Result<Effects, EngineError> {
        let mut effects = Effects::default();
        for slot in self.store.slots(tenant_id, subject).await? {
            let Some(active) = slot.active else { continue };
            if let Some(run) = self.store.run(tenant_id, &active.run_id).await?
                && self
                    .store
                    .end_run(tenant_id, &run, RunStatus::Halted, HaltReason::EntityGone, None, now)
                    .await?
            {
                effects.halted += 1;
                let _ = self
                    .schedules
                    .cancel_step(tenant_id, &run.run_id, run.position, run.seq)
                    .await;
            }
        }
        Ok(effects)
    }
}
