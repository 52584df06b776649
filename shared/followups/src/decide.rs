//! On an event: which runs to enroll, halt or re-plan, and which watches to set.
//!
//! The input is the entity's merged snapshot (never the webhook's payload), the tenant's enabled recipes and the
//! entity's slots (one per recipe: how many runs it has had and which is active). The output is a list of actions
//! the event processor carries out with conditional writes, so a retried or duplicated event decides the same
//! thing again and the writes turn the repeats into no-ops.

use std::collections::BTreeMap;

use domain::event::{EntityKind, EventName};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::facts::{Condition, Facts};
use crate::ids;
pub use crate::ids::Subject;
use crate::recipe::{Anchor, Enrollment, Recipe};
use crate::timing::{self, Planned, Position};

/// One recipe's history on one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub recipe: String,
    /// Runs enrolled so far; the next is `generation + 1`.
    pub generation: u32,
    pub active: Option<ActiveRun>,
    /// The latest run's anchor: a per-anchor recipe enrolls again only for another one.
    pub last_anchor: Option<Timestamp>,
}

impl Slot {
    pub fn empty(recipe: &str) -> Self {
        Self {
            recipe: recipe.to_owned(),
            generation: 0,
            active: None,
            last_anchor: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRun {
    pub run_id: String,
    pub anchor: Timestamp,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HaltReason {
    /// A stop event arrived (e.g. `payment.posted`).
    Event(EventName),
    /// A stop state holds (e.g. `estimate.sold`).
    State(Condition),
    /// The appointment moved; a new run is planned for the new time.
    Rescheduled,
    Replied,
    OptedOut,
    TenantDisconnected,
    RecipeDisabled,
    /// ServiceTitan no longer has the entity.
    EntityGone,
    /// The entity is in a state this build does not know (or has none): nothing is sent on a guess.
    StateUnknown,
    /// Every step was sent or passed over.
    Finished,
}

impl HaltReason {
    pub fn code(self) -> String {
        match self {
            Self::Event(e) => e.as_str().to_owned(),
            Self::State(c) => c.as_str().to_owned(),
            Self::Rescheduled => "rescheduled".into(),
            Self::Replied => "replied".into(),
            Self::OptedOut => "opted_out".into(),
            Self::TenantDisconnected => "tenant_disconnected".into(),
            Self::RecipeDisabled => "recipe_disabled".into(),
            Self::EntityGone => "entity_gone".into(),
            Self::StateUnknown => "state_unknown".into(),
            Self::Finished => "finished".into(),
        }
    }
}

impl Serialize for HaltReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

/// A run reached its goal (the estimate was sold, the invoice paid) while it was active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalReached {
    pub label: String,
    pub amount_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enroll {
    pub recipe: String,
    pub run_id: String,
    pub generation: u32,
    pub anchor: Timestamp,
    /// The first step to fire and when.
    pub first: Planned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Enroll(Enroll),
    Halt {
        recipe: String,
        run_id: String,
        reason: HaltReason,
        goal: Option<GoalReached>,
    },
    /// Re-read the entity at `at` by delivering `event` about it then (a one-shot schedule).
    Watch {
        subject: Subject,
        event: EventName,
        /// The watched moment (it names the watch and its event).
        at: Timestamp,
        /// When to fire: the watched moment, or now if it has passed.
        fire_at: Timestamp,
        /// Set from an entity found in the reconciler's lookback whose moment had passed (an invoice already
        /// overdue, which the tenant chose to include): its event is dated when it fires, so the recipe starts
        /// from then rather than catching up on every step that went by.
        from_lookback: bool,
    },
    /// The event could have started the recipe but did not, and why (for the audit trail).
    Skip {
        recipe: String,
        reason: String,
    },
}

pub struct EventInput<'a> {
    pub now: Timestamp,
    pub event: EventName,
    /// When the event happened in ServiceTitan (the anchor of `event`-anchored runs).
    pub occurred_at: Timestamp,
    pub subject: &'a Subject,
    /// The merged snapshot of `subject`.
    pub facts: &'a Facts,
    /// The tenant's enabled recipes.
    pub recipes: &'a [Recipe],
    /// The subject's slots (missing ones are empty).
    pub slots: &'a [Slot],
    /// The recipient's time zone (for steps at a local time of day).
    pub time_zone: &'a TimeZone,
    /// When the event was found in the reconciler's lookback (a tenant connecting, a re-read from a date) rather
    /// than as it happened: only steps still ahead of that moment are planned, so nothing old is chased.
    pub found_in_lookback: Option<Timestamp>,
    /// The tenant's choice for invoices already overdue when it started dunning: join from then, or leave them.
    pub include_existing_overdue: bool,
    /// Since when the tenant has run each recipe: the later of connecting and switching the recipe on. An invoice
    /// whose overdue moment (due date + `overdueDays`) came before it was already overdue; one after is dunned
    /// whichever way it is found (webhook or reconcile).
    pub watched_since: &'a BTreeMap<String, Timestamp>,
}

impl EventInput<'_> {
    /// Whether a moment came before the tenant started running `recipe`.
    fn before_watching(&self, recipe: &Recipe, at: Timestamp) -> bool {
        self.watched_since.get(&recipe.id).is_some_and(|since| at < *since)
    }
}

const EXISTING_OVERDUE: &str = "overdue before the tenant started dunning (existing overdue invoices are not included)";

/// Watches older than this are not set: their moment has gone by.
const STALE_WATCH: SignedDuration = SignedDuration::from_hours(24);

/// The goal, if it holds on `facts`.
pub fn goal_reached(recipe: &Recipe, facts: &Facts, now: Timestamp) -> Option<GoalReached> {
    let goal = recipe.goal.as_ref()?;
    goal.state.holds(facts, &recipe.eval(now)).then(|| GoalReached {
        label: goal.label.clone(),
        amount_cents: facts.amount_cents,
    })
}

/// Why an active run must stop now, if it must: a stop state on the (live) facts, or a stop event. The state comes
/// first, so the reason recorded does not depend on which of the events about it arrived first (a payment and the
/// invoice's own update both find the invoice paid).
pub fn stop_reason(recipe: &Recipe, event: Option<EventName>, facts: &Facts, now: Timestamp) -> Option<HaltReason> {
    let eval = recipe.eval(now);
    if let Some(c) = recipe.stop_states().find(|c| c.holds(facts, &eval)) {
        return Some(HaltReason::State(*c));
    }
    event.filter(|e| recipe.stops_on(*e)).map(HaltReason::Event)
}

/// The run's anchor for these facts.
pub fn anchor(recipe: &Recipe, facts: &Facts, occurred_at: Timestamp, now: Timestamp) -> Option<Timestamp> {
    match recipe.anchor {
        Anchor::Event => Some(occurred_at.min(now)),
        Anchor::AppointmentStart => facts.start,
        Anchor::AppointmentWindowEnd => facts.window_end,
    }
}

pub fn decide(input: &EventInput<'_>) -> Vec<Action> {
    let mut actions = Vec::new();
    for recipe in input.recipes.iter().filter(|r| r.subject == input.subject.kind) {
        let mut slot = input
            .slots
            .iter()
            .find(|s| s.recipe == recipe.id)
            .cloned()
            .unwrap_or_else(|| Slot::empty(&recipe.id));
        if let Some(active) = slot.active.clone() {
            if let Some(reason) = stop_reason(recipe, Some(input.event), input.facts, input.now) {
                actions.push(Action::Halt {
                    recipe: recipe.id.clone(),
                    run_id: active.run_id,
                    reason,
                    goal: goal_reached(recipe, input.facts, input.now),
                });
                continue;
            }
            let current = anchor(recipe, input.facts, input.occurred_at, input.now);
            if recipe.replan_on_anchor_change && current.is_some() && current != Some(active.anchor) {
                actions.push(Action::Halt {
                    recipe: recipe.id.clone(),
                    run_id: active.run_id,
                    reason: HaltReason::Rescheduled,
                    goal: None,
                });
                slot.active = None;
                if let Some(a) = enroll(input, recipe, &slot, true) {
                    actions.push(a);
                }
            }
            continue;
        }
        watch(input, recipe, &slot, &mut actions);
        if let Some(a) = enroll(input, recipe, &slot, false) {
            actions.push(a);
        }
    }
    actions
}

/// Enrollment on a slot with no active run, or the reason it does not happen (only for the recipe's own triggers,
/// or a re-plan, which enrolls on whatever event moved the appointment).
fn enroll(input: &EventInput<'_>, recipe: &Recipe, slot: &Slot, replan: bool) -> Option<Action> {
    if !recipe.trigger.events.contains(&input.event) && !replan {
        return None;
    }
    let skip = |reason: String| {
        Some(Action::Skip {
            recipe: recipe.id.clone(),
            reason,
        })
    };
    if let Err(reason) = recipe.trigger.filters.admit(input.facts) {
        return skip(reason);
    }
    let eval = recipe.eval(input.now);
    if let Some(c) = recipe.enroll_when.iter().find(|c| !c.holds(input.facts, &eval)) {
        return skip(format!(
            "{c} does not hold (the {} is {:?})",
            input.subject.kind.as_str(),
            input.facts.status
        ));
    }
    // A run that its own stop rules would end at once never starts (a zero balance, an invoice past its age).
    if let Some(c) = recipe.stop_states().find(|c| c.holds(input.facts, &eval)) {
        return skip(format!("{c} holds already"));
    }
    if input.event == EventName::InvoiceOverdue
        && !input.include_existing_overdue
        && let Some(due) = input.facts.due_date
        && input.before_watching(recipe, due + SignedDuration::from_hours(24 * eval.overdue_days))
    {
        return skip(EXISTING_OVERDUE.into());
    }
    let anchor = anchor(recipe, input.facts, input.occurred_at, input.now)?;
    match recipe.enrollment {
        Enrollment::Once if slot.generation > 0 => return skip("already followed up once".into()),
        Enrollment::PerAnchor if slot.last_anchor == Some(anchor) => {
            return skip("already planned for this time".into());
        }
        _ => {}
    }
    let planned = if let Some(found) = input.found_in_lookback {
        timing::plan_ahead(recipe, Position::START, anchor, input.time_zone, input.now, found)
    } else {
        timing::plan(recipe, Position::START, anchor, input.time_zone, input.now)
    };
    let Ok(first) = planned else {
        return skip(if input.found_in_lookback.is_some() {
            "found in the reconciler's lookback after every step's moment had passed".into()
        } else {
            "too late: every step's moment has passed".into()
        });
    };
    let generation = slot.generation + 1;
    Some(Action::Enroll(Enroll {
        recipe: recipe.id.clone(),
        run_id: ids::run_id(&recipe.id, input.subject, generation),
        generation,
        anchor,
        first,
    }))
}

/// Derived triggers: an unpaid invoice is watched at its due date + N days, a pending appointment at the end of its
/// arrival window + the recipe's `after`.
fn watch(input: &EventInput<'_>, recipe: &Recipe, slot: &Slot, actions: &mut Vec<Action>) {
    let facts = input.facts;
    let at = match input.subject.kind {
        EntityKind::Invoice if recipe.trigger.events.contains(&EventName::InvoiceOverdue) => {
            if slot.generation > 0 || !Condition::InvoiceUnpaid.holds(facts, &recipe.eval(input.now)) {
                return;
            }
            let days = recipe.trigger.overdue_days.unwrap_or(0);
            facts
                .due_date
                .map(|d| (EventName::InvoiceOverdue, d + SignedDuration::from_hours(24 * days)))
        }
        EntityKind::Appointment if recipe.trigger.events.contains(&EventName::AppointmentOverdue) => {
            if !Condition::AppointmentPending.holds(facts, &recipe.eval(input.now))
                || facts.window_end.is_none()
                || slot.last_anchor == facts.window_end
            {
                return;
            }
            let after = recipe.trigger.after.unwrap_or(SignedDuration::ZERO);
            facts.window_end.map(|w| (EventName::AppointmentOverdue, w + after))
        }
        _ => None,
    };
    let Some((event, at)) = at else { return };
    if input.event == event || (event == EventName::AppointmentOverdue && at + STALE_WATCH < input.now) {
        // The watch's own event does not set it again; an old window is not worth a call any more.
        return;
    }
    // An invoice overdue before the tenant started dunning is decided by that moment, not by which of its webhook
    // and the reconciler came first: not chased, unless the tenant asked for its existing overdue invoices (which
    // then join dunning from the moment the watch fires). A missed visit found by the reconciler after its window
    // is not chased.
    let from_lookback = if event == EventName::InvoiceOverdue {
        input.before_watching(recipe, at)
    } else {
        input.found_in_lookback.is_some_and(|found| at < found)
    };
    if from_lookback && (event != EventName::InvoiceOverdue || !input.include_existing_overdue) {
        let reason = if event == EventName::InvoiceOverdue {
            EXISTING_OVERDUE
        } else {
            "past its window before the reconciler found it"
        };
        actions.push(Action::Skip {
            recipe: recipe.id.clone(),
            reason: reason.into(),
        });
        return;
    }
    let fire_at = crate::window::ceil_second(at.max(input.now));
    let watch = Action::Watch {
        subject: input.subject.clone(),
        event,
        at,
        fire_at,
        from_lookback,
    };
    if !actions.contains(&watch) {
        actions.push(watch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Status;
    use crate::recipe::Catalogue;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn recipes(ids: &[&str]) -> Vec<Recipe> {
        let c = Catalogue::load().unwrap();
        ids.iter().map(|id| c.get(id).unwrap().clone()).collect()
    }

    fn estimate(status: Status, at: Timestamp) -> Facts {
        let mut f = Facts::new(EntityKind::Estimate, "90211", at, status);
        f.amount_cents = Some(842_000);
        f
    }

    fn run(event: EventName, facts: &Facts, recipes: &[Recipe], slots: &[Slot], now: Timestamp) -> Vec<Action> {
        let subject = Subject::new(facts.kind, facts.id.clone());
        decide(&EventInput {
            now,
            event,
            occurred_at: now,
            subject: &subject,
            facts,
            recipes,
            slots,
            time_zone: &TimeZone::get("America/Chicago").unwrap(),
            found_in_lookback: None,
            include_existing_overdue: false,
            watched_since: &BTreeMap::new(),
        })
    }

    #[test]
    fn a_sent_open_estimate_enrolls_once() {
        let now = t("2026-12-01T15:00:00Z");
        let rs = recipes(&["estimate_follow_up", "estimate_viewed"]);
        let actions = run(EventName::EstimateSent, &estimate(Status::Open, now), &rs, &[], now);
        let [Action::Enroll(e)] = actions.as_slice() else {
            panic!("{actions:?}")
        };
        assert_eq!(e.run_id, "estimate_follow_up.estimate-90211.1");
        assert_eq!(e.first.at, t("2026-12-02T15:00:00Z"));
        // Once enrolled (even if that run has ended), another "sent" starts nothing.
        let slot = Slot {
            recipe: "estimate_follow_up".into(),
            generation: 1,
            active: None,
            last_anchor: Some(now),
        };
        let again = run(EventName::EstimateSent, &estimate(Status::Open, now), &rs, &[slot], now);
        assert!(matches!(again.as_slice(), [Action::Skip { .. }]), "{again:?}");
    }

    #[test]
    fn sold_halts_with_the_goal_and_a_late_sent_starts_nothing() {
        let now = t("2026-12-01T15:00:00Z");
        let rs = recipes(&["estimate_follow_up"]);
        let slot = Slot {
            recipe: "estimate_follow_up".into(),
            generation: 1,
            active: Some(ActiveRun {
                run_id: "r1".into(),
                anchor: now,
            }),
            last_anchor: Some(now),
        };
        let sold = estimate(Status::Sold, now);
        let actions = run(EventName::EstimateSold, &sold, &rs, std::slice::from_ref(&slot), now);
        assert_eq!(
            actions,
            vec![Action::Halt {
                recipe: "estimate_follow_up".into(),
                run_id: "r1".into(),
                reason: HaltReason::State(Condition::EstimateSold),
                goal: Some(GoalReached {
                    label: "sold".into(),
                    amount_cents: Some(842_000)
                }),
            }]
        );
        // The snapshot says sold: a "sent" arriving late (no run yet) enrolls nothing.
        let late = run(EventName::EstimateSent, &sold, &rs, &[], now);
        assert!(matches!(late.as_slice(), [Action::Skip { .. }]), "{late:?}");
    }

    #[test]
    fn unpaid_invoices_are_watched_and_enroll_once_overdue() {
        let now = t("2026-12-01T15:00:00Z");
        let rs = recipes(&["invoice_dunning"]);
        let mut invoice = Facts::new(EntityKind::Invoice, "7713", now, Status::Unpaid);
        invoice.due_date = Some(t("2026-11-28T00:00:00Z"));
        let actions = run(EventName::InvoiceCreated, &invoice, &rs, &[], now);
        assert_eq!(
            actions,
            vec![Action::Watch {
                subject: Subject::new(EntityKind::Invoice, "7713"),
                event: EventName::InvoiceOverdue,
                at: t("2026-12-05T00:00:00Z"),
                fire_at: t("2026-12-05T00:00:00Z"),
                from_lookback: false,
            }]
        );
        // The watch fires a week past due: dunning starts.
        let later = t("2026-12-05T00:00:00Z");
        let actions = run(EventName::InvoiceOverdue, &invoice, &rs, &[], later);
        assert!(matches!(actions.as_slice(), [Action::Enroll(_)]), "{actions:?}");
        // ServiceTitan's own "overdue" two days past due: too early, the watch takes it from here.
        let early = run(EventName::InvoiceOverdue, &invoice, &rs, &[], t("2026-11-30T00:00:00Z"));
        assert!(matches!(early.as_slice(), [Action::Skip { .. }]), "{early:?}");
        // Paid before the watch fires: no watch, no enrollment.
        invoice.status = Status::Paid;
        assert!(matches!(
            run(EventName::InvoiceOverdue, &invoice, &rs, &[], later).as_slice(),
            [Action::Skip { .. }]
        ));
    }

    #[test]
    fn a_moved_appointment_replans_its_reminder() {
        let now = t("2026-12-01T15:00:00Z");
        let rs = recipes(&["appointment_reminder"]);
        let mut visit = Facts::new(EntityKind::Appointment, "501", now, Status::Scheduled);
        visit.start = Some(t("2026-12-10T15:00:00Z"));
        let slot = Slot {
            recipe: "appointment_reminder".into(),
            generation: 1,
            active: Some(ActiveRun {
                run_id: "appointment_reminder.appointment-501.1".into(),
                anchor: t("2026-12-08T15:00:00Z"),
            }),
            last_anchor: Some(t("2026-12-08T15:00:00Z")),
        };
        let actions = run(EventName::AppointmentChanged, &visit, &rs, &[slot], now);
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert!(matches!(
            &actions[0],
            Action::Halt {
                reason: HaltReason::Rescheduled,
                ..
            }
        ));
        let Action::Enroll(e) = &actions[1] else { panic!() };
        assert_eq!((e.generation, e.anchor), (2, t("2026-12-10T15:00:00Z")));
        assert_eq!(e.first.at, t("2026-12-10T00:00:00Z"));
        // Canceled: halted, not replanned.
        visit.status = Status::Canceled;
        let slot = Slot {
            recipe: "appointment_reminder".into(),
            generation: 2,
            active: Some(ActiveRun {
                run_id: e.run_id.clone(),
                anchor: e.anchor,
            }),
            last_anchor: Some(e.anchor),
        };
        let actions = run(EventName::JobCanceled, &visit, &rs, &[slot], now);
        assert!(matches!(
            actions.as_slice(),
            [Action::Halt {
                reason: HaltReason::State(Condition::AppointmentCanceled),
                ..
            }]
        ));
    }

    fn found(event: EventName, facts: &Facts, recipes: &[Recipe], now: Timestamp, include: bool) -> Vec<Action> {
        let subject = Subject::new(facts.kind, facts.id.clone());
        decide(&EventInput {
            now,
            event,
            occurred_at: facts.modified_on,
            subject: &subject,
            facts,
            recipes,
            slots: &[],
            time_zone: &TimeZone::get("America/Chicago").unwrap(),
            found_in_lookback: Some(now),
            include_existing_overdue: include,
            watched_since: &recipes.iter().map(|r| (r.id.clone(), now)).collect(),
        })
    }

    #[test]
    fn existing_overdue_is_decided_by_the_moment_not_by_which_came_first() {
        let connected = t("2026-12-10T15:00:00Z");
        let rs = recipes(&["invoice_dunning"]);
        let since: BTreeMap<String, Timestamp> = [("invoice_dunning".to_owned(), connected)].into();
        let decide_at = |invoice: &Facts, now: Timestamp, lookback: bool| {
            let subject = Subject::new(invoice.kind, invoice.id.clone());
            decide(&EventInput {
                now,
                event: EventName::InvoiceCreated,
                occurred_at: invoice.modified_on,
                subject: &subject,
                facts: invoice,
                recipes: &rs,
                slots: &[],
                time_zone: &TimeZone::get("America/Chicago").unwrap(),
                found_in_lookback: lookback.then_some(now),
                include_existing_overdue: false,
                watched_since: &since,
            })
        };
        // Due a month before the tenant connected: overdue already, by webhook (first) or by the reconciler alike.
        let mut old = Facts::new(EntityKind::Invoice, "1", connected, Status::Unpaid);
        old.due_date = Some(t("2026-11-10T00:00:00Z"));
        for lookback in [false, true] {
            let actions = decide_at(&old, connected + SignedDuration::from_mins(1), lookback);
            assert!(
                matches!(actions.as_slice(), [Action::Skip { .. }]),
                "{lookback}: {actions:?}"
            );
        }
        // Due after the tenant connected: watched either way.
        let mut new = old.clone();
        new.due_date = Some(t("2026-12-12T00:00:00Z"));
        for lookback in [false, true] {
            let actions = decide_at(&new, connected + SignedDuration::from_mins(1), lookback);
            assert!(
                matches!(actions.as_slice(), [Action::Watch { .. }]),
                "{lookback}: {actions:?}"
            );
        }
    }

    #[test]
    fn a_run_its_stop_rules_would_end_never_starts() {
        let now = t("2026-12-20T15:00:00Z");
        let rs = recipes(&["invoice_dunning"]);
        // Overdue by the watch, but written off to a zero balance meanwhile.
        let mut invoice = Facts::new(EntityKind::Invoice, "9", now, Status::Unpaid);
        invoice.due_date = Some(t("2026-12-01T00:00:00Z"));
        invoice.balance_cents = Some(0);
        let actions = run(EventName::InvoiceOverdue, &invoice, &rs, &[], now);
        assert!(
            matches!(actions.as_slice(), [Action::Skip { reason, .. }] if reason.contains("invoice.settled")),
            "{actions:?}"
        );
    }

    #[test]
    fn a_lookback_estimate_gets_only_the_steps_still_ahead() {
        let now = t("2026-12-10T15:00:00Z");
        let rs = recipes(&["estimate_follow_up"]);
        // Sent two days ago: the 24-hour text has passed, the 72-hour call is tomorrow.
        let recent = estimate(Status::Open, t("2026-12-08T15:00:00Z"));
        let actions = found(EventName::EstimateSent, &recent, &rs, now, false);
        let [Action::Enroll(e)] = actions.as_slice() else {
            panic!("{actions:?}")
        };
        assert_eq!(e.first.position, Position { step: 1, round: 0 });
        assert_eq!(e.first.at, t("2026-12-11T15:00:00Z"));
        assert_eq!(e.first.passed, vec![(Position::START, timing::Passed::BeforeEnrolment)]);
        // Sent last month: nothing.
        let old = estimate(Status::Open, t("2026-11-10T15:00:00Z"));
        let actions = found(EventName::EstimateSent, &old, &rs, now, false);
        assert!(matches!(actions.as_slice(), [Action::Skip { .. }]), "{actions:?}");
    }

    #[test]
    fn a_lookback_overdue_invoice_joins_dunning_only_when_the_tenant_asks() {
        let now = t("2026-12-10T15:00:00Z");
        let rs = recipes(&["invoice_dunning"]);
        let mut invoice = Facts::new(EntityKind::Invoice, "7713", now, Status::Unpaid);
        invoice.due_date = Some(t("2026-11-10T00:00:00Z"));
        let left = found(EventName::InvoiceCreated, &invoice, &rs, now, false);
        assert!(matches!(left.as_slice(), [Action::Skip { .. }]), "{left:?}");
        let joined = found(EventName::InvoiceCreated, &invoice, &rs, now, true);
        assert_eq!(
            joined,
            vec![Action::Watch {
                subject: Subject::new(EntityKind::Invoice, "7713"),
                event: EventName::InvoiceOverdue,
                at: t("2026-11-17T00:00:00Z"),
                fire_at: now,
                from_lookback: true,
            }]
        );
        // The watch's event (a lookback one, dated when it fires) starts dunning from now: one reminder, not the
        // burst of every round that went by.
        let subject = Subject::new(EntityKind::Invoice, "7713");
        let actions = decide(&EventInput {
            now,
            event: EventName::InvoiceOverdue,
            occurred_at: now,
            subject: &subject,
            facts: &invoice,
            recipes: &rs,
            slots: &[],
            time_zone: &TimeZone::get("America/Chicago").unwrap(),
            found_in_lookback: Some(now),
            include_existing_overdue: true,
            watched_since: &[("invoice_dunning".to_owned(), now)].into(),
        });
        let [Action::Enroll(e)] = actions.as_slice() else {
            panic!("{actions:?}")
        };
        assert_eq!((e.first.position, e.first.at), (Position::START, now), "{e:?}");
    }
}
