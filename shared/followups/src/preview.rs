//! What recipes would send in the coming days, without sending: for the entities the reconciler's lookback would
//! find, the same decisions backfill makes (only steps still ahead), each run's steps followed to the horizon, and
//! the watches that would fire before it (an invoice becoming overdue next week starts dunning then).
//!
//! A preview assumes nothing changes meanwhile: a sale, a payment or a reply would stop a run it lists, and quiet
//! hours or the contact cap may move a send later than the moment shown.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use shared::event::EventName;

use crate::decide::{self, Action, EventInput, Subject};
use crate::facts::Facts;
use crate::recipe::Recipe;
use crate::timing;
use shared::tenant_settings::Channel;

/// An entity as the reconciler would find it: the event its record stands for, when that happened, its facts and
/// the recipient's time zone.
#[derive(Debug, Clone)]
pub struct Found {
    pub event: EventName,
    pub occurred_at: Timestamp,
    pub facts: Facts,
    pub time_zone: TimeZone,
}

/// One send the preview expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedSend {
    pub recipe: String,
    /// `estimate:90211`.
    pub entity: String,
    pub step: usize,
    pub round: u32,
    pub step_id: String,
    pub channel: Channel,
    pub at: Timestamp,
}

/// The sends planned from `found` between `now` and `until`, in time order.
pub fn lookback(
    found: &[Found],
    recipes: &[Recipe],
    include_existing_overdue: bool,
    now: Timestamp,
    until: Timestamp,
) -> Vec<PlannedSend> {
    let mut out = Vec::new();
    for f in found {
        let subject = Subject::new(f.facts.kind, f.facts.id.clone());
        let decided = |event: EventName, occurred_at: Timestamp, at: Timestamp, lookback: bool| {
            decide::decide(&EventInput {
                now: at,
                event,
                occurred_at,
                subject: &subject,
                facts: &f.facts,
                recipes,
                slots: &[],
                time_zone: &f.time_zone,
                found_in_lookback: lookback.then_some(at),
                include_existing_overdue,
            })
        };
        for action in decided(f.event, f.occurred_at, now, true) {
            match action {
                Action::Enroll(e) => follow(&mut out, recipes, &subject, &e, &f.time_zone, until),
                Action::Watch {
                    event,
                    at,
                    fire_at,
                    from_lookback,
                    ..
                } if fire_at <= until => {
                    let occurred = if from_lookback { fire_at } else { at };
                    for later in decided(event, occurred, fire_at, from_lookback) {
                        if let Action::Enroll(e) = later {
                            follow(&mut out, recipes, &subject, &e, &f.time_zone, until);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| (a.at, &a.entity, a.round, a.step).cmp(&(b.at, &b.entity, b.round, b.step)));
    out
}

fn follow(
    out: &mut Vec<PlannedSend>,
    recipes: &[Recipe],
    subject: &Subject,
    e: &decide::Enroll,
    tz: &TimeZone,
    until: Timestamp,
) {
    if let Some(recipe) = recipes.iter().find(|r| r.id == e.recipe) {
        out.extend(run_steps(
            recipe,
            subject,
            e.first.position,
            e.first.at,
            e.anchor,
            tz,
            until,
        ));
    }
}

/// A run's steps from `position` (due `at`), each planned after the one before, up to `until`: for a new run, or
/// an active one's pending step.
pub fn run_steps(
    recipe: &Recipe,
    subject: &Subject,
    position: timing::Position,
    at: Timestamp,
    anchor: Timestamp,
    tz: &TimeZone,
    until: Timestamp,
) -> Vec<PlannedSend> {
    let mut out = Vec::new();
    let mut next = Some((position, at));
    while let Some((position, at)) = next.filter(|(_, at)| *at <= until) {
        let step = &recipe.steps[position.step];
        out.push(PlannedSend {
            recipe: recipe.id.clone(),
            entity: subject.key(),
            step: position.step,
            round: position.round,
            step_id: step.id.clone(),
            channel: step.channel,
            at,
        });
        next = timing::plan_after(recipe, position, anchor, tz, at)
            .ok()
            .map(|p| (p.position, p.at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Status;
    use crate::recipe::Catalogue;
    use jiff::SignedDuration;
    use shared::event::EntityKind;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn lists_what_backfill_would_send_within_the_horizon() {
        let c = Catalogue::load().unwrap();
        let recipes = vec![
            c.get("estimate_follow_up").unwrap().clone(),
            c.get("invoice_dunning").unwrap().clone(),
        ];
        let now = t("2026-12-10T15:00:00Z");
        let tz = TimeZone::get("America/Chicago").unwrap();
        let sent_two_days_ago = Found {
            event: EventName::EstimateSent,
            occurred_at: t("2026-12-08T15:00:00Z"),
            facts: Facts::new(EntityKind::Estimate, "1", t("2026-12-08T15:00:00Z"), Status::Open),
            time_zone: tz.clone(),
        };
        let mut invoice = Facts::new(EntityKind::Invoice, "2", now, Status::Unpaid);
        // Due yesterday: overdue a week on the 16th, inside the horizon.
        invoice.due_date = Some(t("2026-12-09T06:00:00Z"));
        let unpaid = Found {
            event: EventName::InvoiceCreated,
            occurred_at: now,
            facts: invoice,
            time_zone: tz,
        };
        let planned = lookback(
            &[sent_two_days_ago, unpaid],
            &recipes,
            false,
            now,
            now + SignedDuration::from_hours(24 * 7),
        );
        let summary: Vec<(String, String, Timestamp)> = planned
            .iter()
            .map(|p| (p.entity.clone(), p.step_id.clone(), p.at))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("estimate:1".into(), "call_72h".into(), t("2026-12-11T15:00:00Z")),
                ("invoice:2".into(), "sms".into(), t("2026-12-16T06:00:00Z")),
                ("invoice:2".into(), "email".into(), t("2026-12-17T06:00:00Z")),
            ]
        );
    }
}
