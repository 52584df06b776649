//! What recipes would send in the coming days, without sending: for the entities the reconciler's lookback would
//! find, the same decisions backfill makes (only steps still ahead), each run's steps followed to the horizon, and
//! the watches that would fire before it (an invoice becoming overdue next week starts dunning then).
//!
//! Each planned send is then judged by the rules that do not depend on what happens meanwhile: the tenant's
//! channels, the opt-out ledger, AI-call consent, and the window in the recipient's local time (quiet hours and the
//! state's rule for sales messages), so the preview shows the skips and the deferrals with their reasons. It
//! assumes nothing else changes: a sale, a payment or a reply would stop a run it lists, and the contact cap may
//! move a send later than shown.

use std::collections::BTreeMap;

use domain::event::EventName;
use domain::tenant_settings::{AiCallConsent, Channel};
use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::Value;

use crate::consent::{self, Recorded};
use crate::decide::{self, Action, EventInput, Subject};
use crate::facts::Facts;
use crate::recipe::Recipe;
use crate::timing;
use crate::window::{Closed, Policy};

/// What is known of the person a run would write to.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Their zone, or the candidates (never empty).
    pub zones: Vec<TimeZone>,
    pub state: Option<String>,
    /// Consent recorded for their phone number's AI calls.
    pub voice_consent: Option<Recorded>,
    /// Channels their addresses are opted out of.
    pub opted_out: Vec<Channel>,
}

impl Recipient {
    /// Someone in one zone, with nothing recorded.
    pub fn in_zone(tz: TimeZone) -> Self {
        Self {
            zones: vec![tz],
            state: None,
            voice_consent: None,
            opted_out: Vec::new(),
        }
    }
}

/// The tenant's rules a preview applies.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub channels: &'a [Channel],
    pub quiet_hours: Option<(Time, Time)>,
    pub ai_call_consent: &'a AiCallConsent,
}

/// An entity as the reconciler would find it: the event its record stands for, when that happened, its facts and
/// who it is about.
#[derive(Debug, Clone)]
pub struct Found {
    pub event: EventName,
    pub occurred_at: Timestamp,
    pub facts: Facts,
    pub recipient: Recipient,
}

/// What the rules say of a planned send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Send,
    /// Moved to `at` by quiet hours or a state's rule.
    Deferred {
        reason: &'static str,
        #[serde(skip_serializing_if = "Value::is_null")]
        detail: Value,
    },
    Skipped {
        reason: &'static str,
    },
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
    /// The recipe's moment for the step.
    pub planned_at: Timestamp,
    /// When it would go (later than planned when the window moves it).
    pub at: Timestamp,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The sends planned from `found` between `now` and `until`, in time order. `watched_since` is when each recipe
/// started (or would start) running for the tenant.
pub fn lookback(
    found: &[Found],
    recipes: &[Recipe],
    rules: &Rules<'_>,
    include_existing_overdue: bool,
    watched_since: &BTreeMap<String, Timestamp>,
    now: Timestamp,
    until: Timestamp,
) -> Vec<PlannedSend> {
    let mut out = Vec::new();
    for f in found {
        let subject = Subject::new(f.facts.kind, f.facts.id.clone());
        let tz = &f.recipient.zones[0];
        let decided = |event: EventName, occurred_at: Timestamp, at: Timestamp, lookback: bool| {
            decide::decide(&EventInput {
                now: at,
                event,
                occurred_at,
                subject: &subject,
                facts: &f.facts,
                recipes,
                slots: &[],
                time_zone: tz,
                found_in_lookback: lookback.then_some(at),
                include_existing_overdue,
                watched_since,
            })
        };
        let mut follow = |e: &decide::Enroll| {
            if let Some(recipe) = recipes.iter().find(|r| r.id == e.recipe) {
                out.extend(run_steps(
                    recipe,
                    &subject,
                    e.first.position,
                    e.first.at,
                    e.anchor,
                    &f.recipient,
                    rules,
                    until,
                ));
            }
        };
        for action in decided(f.event, f.occurred_at, now, true) {
            match action {
                Action::Enroll(e) => follow(&e),
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
                            follow(&e);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    sort(&mut out);
    out
}

/// Time order, then entity, round and step.
pub fn sort(sends: &mut [PlannedSend]) {
    sends.sort_by(|a, b| (a.at, &a.entity, a.round, a.step).cmp(&(b.at, &b.entity, b.round, b.step)));
}

/// A run's steps from `position` (due `at`), each planned after the one before, up to `until`, each judged: for a
/// new run, or an active one's pending step.
#[allow(clippy::too_many_arguments)]
pub fn run_steps(
    recipe: &Recipe,
    subject: &Subject,
    position: timing::Position,
    at: Timestamp,
    anchor: Timestamp,
    recipient: &Recipient,
    rules: &Rules<'_>,
    until: Timestamp,
) -> Vec<PlannedSend> {
    let mut out = Vec::new();
    let tz = &recipient.zones[0];
    let mut next = Some((position, at));
    while let Some((position, at)) = next.filter(|(_, at)| *at <= until) {
        let step = &recipe.steps[position.step];
        let (when, outcome) = judge(recipe, position, at, recipient, rules);
        out.push(PlannedSend {
            recipe: recipe.id.clone(),
            entity: subject.key(),
            step: position.step,
            round: position.round,
            step_id: step.id.clone(),
            channel: step.channel,
            planned_at: at,
            at: when,
            outcome,
        });
        next = timing::plan_after(recipe, position, anchor, tz, at)
            .ok()
            .map(|p| (p.position, p.at));
    }
    out
}

/// What the send rules would do with a step planned at `at`, and when it would go.
pub fn judge(
    recipe: &Recipe,
    position: timing::Position,
    at: Timestamp,
    recipient: &Recipient,
    rules: &Rules<'_>,
) -> (Timestamp, Outcome) {
    let step = &recipe.steps[position.step];
    let skipped = |reason| (at, Outcome::Skipped { reason });
    if !rules.channels.contains(&step.channel) {
        return skipped("channel_disabled");
    }
    if recipient.opted_out.contains(&step.channel) {
        return skipped("opted_out");
    }
    if let Err(no) = consent::basis(
        step.channel,
        recipe.message_class,
        rules.ai_call_consent,
        recipient.voice_consent.as_ref(),
    ) {
        return skipped(no.code());
    }
    let policy = Policy {
        zones: recipient.zones.clone(),
        state: recipient.state.clone(),
        class: recipe.message_class,
        tenant_quiet: rules.quiet_hours,
        recipe_window: recipe.window,
    };
    match policy.next_opening(at) {
        None => skipped("no_send_window"),
        Some(opening) if opening == at => (at, Outcome::Send),
        Some(opening) => {
            let (reason, detail) = match policy.closed_by(at) {
                Some(Closed::StateRule(rule)) => (
                    "state_rule",
                    serde_json::json!({"state": rule.state, "statute": rule.statute, "rule": rule.summary}),
                ),
                _ => ("quiet_hours", Value::Null),
            };
            (opening, Outcome::Deferred { reason, detail })
        }
    }
}

/// Counts of skips and deferrals by reason.
pub fn by_reason(sends: &[PlannedSend]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for s in sends {
        match &s.outcome {
            Outcome::Send => {}
            Outcome::Deferred { reason, .. } | Outcome::Skipped { reason } => *out.entry(*reason).or_default() += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Status;
    use crate::recipe::Catalogue;
    use domain::event::EntityKind;
    use jiff::SignedDuration;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const ALL: &[Channel] = &[Channel::Sms, Channel::Email, Channel::Voice];

    #[test]
    fn lists_what_backfill_would_send_within_the_horizon_with_the_rules_applied() {
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
            recipient: Recipient::in_zone(tz.clone()),
        };
        let mut invoice = Facts::new(EntityKind::Invoice, "2", now, Status::Unpaid);
        // Due yesterday: overdue a week on the 16th, inside the horizon.
        invoice.due_date = Some(t("2026-12-09T06:00:00Z"));
        invoice.balance_cents = Some(10_000);
        let unpaid = Found {
            event: EventName::InvoiceCreated,
            occurred_at: now,
            facts: invoice,
            recipient: Recipient::in_zone(tz),
        };
        let rules = Rules {
            channels: ALL,
            quiet_hours: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
            ai_call_consent: &AiCallConsent::Recorded,
        };
        let since = recipes.iter().map(|r| (r.id.clone(), now)).collect();
        let planned = lookback(
            &[sent_two_days_ago, unpaid],
            &recipes,
            &rules,
            false,
            &since,
            now,
            now + SignedDuration::from_hours(24 * 7),
        );
        let summary: Vec<(String, String, Timestamp, &str)> = planned
            .iter()
            .map(|p| {
                let outcome = match &p.outcome {
                    Outcome::Send => "send",
                    Outcome::Deferred { reason, .. } | Outcome::Skipped { reason } => reason,
                };
                (p.entity.clone(), p.step_id.clone(), p.at, outcome)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                // No consent for the AI call on record, and no attestation.
                (
                    "estimate:1".into(),
                    "call_72h".into(),
                    t("2026-12-11T15:00:00Z"),
                    "no_call_consent"
                ),
                // Midnight in Chicago: at 08:00.
                (
                    "invoice:2".into(),
                    "sms".into(),
                    t("2026-12-16T14:00:00Z"),
                    "quiet_hours"
                ),
                (
                    "invoice:2".into(),
                    "email".into(),
                    t("2026-12-17T14:00:00Z"),
                    "quiet_hours"
                ),
            ]
        );
        assert_eq!(by_reason(&planned).get("no_call_consent"), Some(&1));
    }

    #[test]
    fn a_florida_sales_text_waits_for_the_state_window() {
        let c = Catalogue::load().unwrap();
        let recipe = c.get("estimate_follow_up").unwrap();
        let recipient = Recipient {
            state: Some("FL".into()),
            ..Recipient::in_zone(TimeZone::get("America/New_York").unwrap())
        };
        let rules = Rules {
            channels: ALL,
            quiet_hours: None,
            ai_call_consent: &AiCallConsent::Recorded,
        };
        // 20:30 in Miami.
        let (at, outcome) = judge(
            recipe,
            timing::Position::START,
            t("2026-12-11T01:30:00Z"),
            &recipient,
            &rules,
        );
        assert_eq!(at, t("2026-12-11T13:00:00Z"));
        assert!(
            matches!(
                outcome,
                Outcome::Deferred {
                    reason: "state_rule",
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
}
