//! Property tests of the decisions: whatever the order of the events delivered together, and however often any
//! event is delivered again later, the engine ends in the same state and sends the same messages.
//!
//! The model: ServiceTitan's truth is a timeline per entity (an estimate open, then perhaps sold or dismissed; an
//! invoice billed, then perhaps paid). Webhooks are hints delivered in batches; processing one reads the truth at
//! that moment (as the event processor does), merges it into the snapshot and applies [`decide`]'s actions with
//! the same conditional rules the processor's DynamoDB writes enforce. Between batches time advances and due steps
//! go through [`gate::check`] with the truth at fire time, as the runner does.

use std::collections::{BTreeMap, BTreeSet};

use domain::event::{EntityKind, EventName};
use domain::tenant_settings::{AiCallConsent, Channel};
use followups::decide::{Action, ActiveRun, EventInput, HaltReason, Slot, Subject, decide};
use followups::facts::{Facts, Status, merge};
use followups::gate::{self, Cap, OptOuts, SendInput, Verdict};
use followups::recipe::{Catalogue, MessageClass, Recipe};
use followups::timing::{self, Position};
use followups::window::Policy;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn start() -> Timestamp {
    "2027-01-04T15:00:00Z".parse().unwrap()
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

/// What happens in ServiceTitan, in hours from the start.
#[derive(Debug, Clone)]
struct Truth {
    viewed_at: Option<i64>,
    /// (hour, sold) — sold or dismissed.
    closed_at: Option<(i64, bool)>,
    /// Days from the start the invoice is due.
    due_in_days: i64,
    paid_at: Option<i64>,
}

const ESTIMATE: &str = "90211";
const INVOICE: &str = "7713";

impl Truth {
    fn estimate(&self, now: Timestamp) -> Facts {
        let at = |h: i64| start() + hours(h);
        let mut status = Status::Open;
        let mut modified = start();
        if let Some((h, sold)) = self.closed_at
            && at(h) <= now
        {
            status = if sold { Status::Sold } else { Status::Dismissed };
            modified = at(h);
        }
        let mut f = Facts::new(EntityKind::Estimate, ESTIMATE, modified, status);
        f.amount_cents = Some(842_000);
        f
    }

    fn invoice(&self, now: Timestamp) -> Facts {
        let paid = self.paid_at.is_some_and(|h| start() + hours(h) <= now);
        let modified = match self.paid_at {
            Some(h) if paid => start() + hours(h),
            _ => start(),
        };
        let mut f = Facts::new(
            EntityKind::Invoice,
            INVOICE,
            modified,
            Status::of_invoice(50_000, if paid { 0 } else { 50_000 }),
        );
        f.amount_cents = Some(50_000);
        f.due_date = Some(start() + hours(24 * self.due_in_days));
        f
    }

    fn facts(&self, subject: &Subject, now: Timestamp) -> Facts {
        match subject.kind {
            EntityKind::Estimate => self.estimate(now),
            _ => self.invoice(now),
        }
    }

    /// Every event ServiceTitan sends, with the hour it happens.
    fn events(&self) -> Vec<(i64, EventName, Subject)> {
        let est = Subject::new(EntityKind::Estimate, ESTIMATE);
        let inv = Subject::new(EntityKind::Invoice, INVOICE);
        let mut out = vec![
            (0, EventName::EstimateSent, est.clone()),
            (0, EventName::InvoiceCreated, inv.clone()),
        ];
        if let Some(h) = self.viewed_at {
            out.push((h, EventName::EstimateViewed, est.clone()));
        }
        if let Some((h, sold)) = self.closed_at {
            out.push((
                h,
                if sold {
                    EventName::EstimateSold
                } else {
                    EventName::EstimateDismissed
                },
                est,
            ));
        }
        if let Some(h) = self.paid_at {
            out.push((h, EventName::PaymentPosted, inv));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    recipe: String,
    subject: Subject,
    anchor: Timestamp,
    position: Position,
    due: Timestamp,
    held_since: Option<Timestamp>,
    ended: Option<String>,
}

/// The engine's state, held as the processor and runner hold it in DynamoDB and the Scheduler.
#[derive(Default)]
struct Engine {
    snapshots: BTreeMap<String, Facts>,
    slots: BTreeMap<(String, String), Slot>,
    runs: BTreeMap<String, Run>,
    watches: BTreeMap<String, (Subject, EventName, Timestamp)>,
    /// (run id, step, round) of every message sent, and when.
    sent: BTreeMap<(String, usize, u32), Timestamp>,
    recent: Vec<gate::Sent>,
}

fn tz() -> TimeZone {
    TimeZone::get("America/Chicago").unwrap()
}

fn policy(class: MessageClass) -> Policy {
    Policy {
        zones: vec![tz()],
        state: Some("TX".into()),
        class,
        tenant_quiet: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
        recipe_window: None,
    }
}

impl Engine {
    fn process(&mut self, recipes: &[Recipe], truth: &Truth, event: EventName, subject: &Subject, now: Timestamp) {
        // The subject of a payment is the invoice it paid; this model has one.
        let live = truth.facts(subject, now);
        let (facts, _) = merge(self.snapshots.get(&subject.key()).cloned(), live);
        self.snapshots.insert(subject.key(), facts.clone());
        let slots: Vec<Slot> = self
            .slots
            .iter()
            .filter(|((_, s), _)| *s == subject.key())
            .map(|(_, slot)| slot.clone())
            .collect();
        let actions = decide(&EventInput {
            now,
            event,
            occurred_at: now,
            subject,
            facts: &facts,
            recipes,
            slots: &slots,
            time_zone: &tz(),
            found_in_lookback: None,
            include_existing_overdue: false,
            watched_since: &BTreeMap::new(),
        });
        for action in actions {
            self.apply(action, subject);
        }
    }

    /// The conditional writes of the processor.
    fn apply(&mut self, action: Action, subject: &Subject) {
        match action {
            Action::Enroll(e) => {
                let key = (e.recipe.clone(), subject.key());
                let slot = self.slots.entry(key).or_insert_with(|| Slot::empty(&e.recipe));
                // Condition: the slot is still where decide saw it.
                if slot.generation + 1 != e.generation || slot.active.is_some() {
                    return;
                }
                slot.generation = e.generation;
                slot.active = Some(ActiveRun {
                    run_id: e.run_id.clone(),
                    anchor: e.anchor,
                });
                slot.last_anchor = Some(e.anchor);
                self.runs.insert(
                    e.run_id,
                    Run {
                        recipe: e.recipe,
                        subject: subject.clone(),
                        anchor: e.anchor,
                        position: e.first.position,
                        due: e.first.at,
                        held_since: None,
                        ended: None,
                    },
                );
            }
            Action::Halt { run_id, reason, .. } => self.end(&run_id, reason),
            Action::Watch {
                subject,
                event,
                at,
                fire_at,
                ..
            } => {
                let name = followups::ids::watch_schedule("1001", &subject, at);
                self.watches.entry(name).or_insert((subject, event, fire_at));
            }
            Action::Skip { .. } => {}
        }
    }

    fn end(&mut self, run_id: &str, reason: HaltReason) {
        let Some(run) = self.runs.get_mut(run_id).filter(|r| r.ended.is_none()) else {
            return;
        };
        run.ended = Some(reason.code());
        if let Some(slot) = self.slots.get_mut(&(run.recipe.clone(), run.subject.key()))
            && slot.active.as_ref().is_some_and(|a| a.run_id == run_id)
        {
            slot.active = None;
        }
    }

    /// Fires watches and steps due before `until`, in time order, as the Scheduler and the runner would.
    fn fire_until(&mut self, recipes: &[Recipe], truth: &Truth, until: Timestamp) {
        loop {
            let next_step = self
                .runs
                .iter()
                .filter(|(_, r)| r.ended.is_none() && r.due < until)
                .min_by_key(|(id, r)| (r.due, (*id).clone()))
                .map(|(id, r)| (r.due, id.clone()));
            let next_watch = self
                .watches
                .iter()
                .filter(|(_, w)| w.2 < until)
                .min_by_key(|(name, w)| (w.2, (*name).clone()))
                .map(|(name, w)| (w.2, name.clone()));
            match (next_step, next_watch) {
                (Some((ts, _)), Some((tw, name))) if tw <= ts => self.fire_watch(recipes, truth, &name),
                (None, Some((_, name))) => self.fire_watch(recipes, truth, &name),
                (Some((_, id)), _) => self.fire_step(recipes, truth, &id),
                (None, None) => return,
            }
        }
    }

    fn fire_watch(&mut self, recipes: &[Recipe], truth: &Truth, name: &str) {
        let (subject, event, at) = self.watches.remove(name).unwrap();
        self.process(recipes, truth, event, &subject, at);
    }

    fn fire_step(&mut self, recipes: &[Recipe], truth: &Truth, run_id: &str) {
        let run = self.runs[run_id].clone();
        let now = run.due;
        let recipe = recipes.iter().find(|r| r.id == run.recipe).unwrap();
        let facts = truth.facts(&run.subject, now);
        let policy = policy(recipe.message_class);
        // Every variable a template may use has a value; AI calls rest on the tenant's attestation.
        let vars: BTreeMap<&str, String> = followups::render::variables(recipe.subject)
            .into_iter()
            .map(|v| (v, "x".to_owned()))
            .collect();
        let attested = AiCallConsent::Attested {
            attested_by: "Owner".into(),
            attested_at: None,
        };
        let subject = run.subject.key();
        let verdict = gate::check(&SendInput {
            anchor: run.anchor,
            now,
            recipe,
            position: run.position,
            deadline: timing::deadline(recipe, run.position, run.anchor, &tz()),
            held_since: run.held_since,
            subject: &subject,
            tenant: gate::TenantRules {
                connected: true,
                recipe_enabled: true,
                channels: &[Channel::Sms, Channel::Email, Channel::Voice],
                cap: Cap::default(),
                after_hours_notice: false,
                ai_call_consent: &attested,
            },
            live: gate::Live::Facts(Some(&facts)),
            recipient: Ok("+15125550100"),
            vars: &vars,
            opt_outs: OptOuts::default(),
            consent: None,
            recent_sends: &self.recent,
            window: &policy,
            first_text: false,
        });
        let advance = |engine: &mut Engine, from: Position| {
            let next = timing::plan_after(recipe, from, run.anchor, &tz(), now + SignedDuration::from_secs(1));
            match next.ok() {
                Some(planned) => {
                    let r = engine.runs.get_mut(run_id).unwrap();
                    r.position = planned.position;
                    r.due = planned.at;
                    r.held_since = None;
                }
                None => engine.end(run_id, HaltReason::Finished),
            }
        };
        match verdict {
            Verdict::Send(_) => {
                let key = (run_id.to_owned(), run.position.step, run.position.round);
                assert!(self.sent.insert(key, now).is_none(), "a step is sent at most once");
                self.recent.push(gate::Sent {
                    at: now,
                    subject: Some(subject.clone()),
                });
                advance(self, run.position);
            }
            Verdict::Defer { until, reason } => {
                let r = self.runs.get_mut(run_id).unwrap();
                assert!(until > now, "a deferral moves forward");
                r.due = until;
                if reason == gate::DeferReason::Held {
                    r.held_since.get_or_insert(now);
                }
            }
            Verdict::Skip { .. } => advance(self, run.position),
            Verdict::Halt { reason, .. } => self.end(run_id, reason),
        }
    }

    /// What a test compares: the snapshots, each run's ending and position, and every message sent.
    fn outcome(&self) -> String {
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|(id, r)| {
                format!(
                    "{id} {:?} {:?}",
                    r.ended,
                    if r.ended.is_none() { Some(r.position) } else { None }
                )
            })
            .collect();
        format!("{:?}\n{runs:?}\n{:?}", self.snapshots, self.sent)
    }
}

/// Batches every 7 hours for three weeks.
fn batch_time(i: usize) -> Timestamp {
    start() + hours(7 * i as i64)
}

const BATCHES: usize = 72;

fn simulate(truth: &Truth, plan: &[(usize, EventName, Subject)]) -> Engine {
    let catalogue = Catalogue::load().unwrap();
    let recipes: Vec<Recipe> = ["estimate_follow_up", "estimate_viewed", "invoice_dunning"]
        .iter()
        .map(|id| catalogue.get(id).unwrap().clone())
        .collect();
    let mut engine = Engine::default();
    for batch in 0..BATCHES {
        let now = batch_time(batch);
        engine.fire_until(&recipes, truth, now);
        for (_, event, subject) in plan.iter().filter(|(b, _, _)| *b == batch) {
            engine.process(&recipes, truth, *event, subject, now);
        }
    }
    engine.fire_until(&recipes, truth, batch_time(BATCHES));
    engine
}

fn first_batch(hour: i64) -> usize {
    (0..BATCHES)
        .find(|b| batch_time(*b) >= start() + hours(hour))
        .unwrap_or(BATCHES - 1)
}

fn truths() -> impl Strategy<Value = Truth> {
    (
        proptest::option::of(1i64..120),
        proptest::option::of((1i64..200, any::<bool>())),
        0i64..10,
        proptest::option::of(1i64..400),
    )
        .prop_map(|(viewed_at, closed_at, due_in_days, paid_at)| Truth {
            viewed_at,
            closed_at,
            due_in_days,
            paid_at,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The canonical delivery (each event once, in order, in the first batch after it happens) against the same
    /// events shuffled within their batch, each delivered one to five times, the copies in later batches.
    #[test]
    fn order_within_a_batch_and_duplicates_change_nothing(
        truth in truths(),
        seed in any::<u64>(),
        copies in proptest::collection::vec((1usize..5, 0usize..30), 5),
    ) {
        let events = truth.events();
        let canonical: Vec<(usize, EventName, Subject)> =
            events.iter().map(|(h, e, s)| (first_batch(*h), *e, s.clone())).collect();
        let mut noisy = Vec::new();
        for (i, (b, e, s)) in canonical.iter().enumerate() {
            let (n, spread) = copies[i % copies.len()];
            for k in 0..n {
                let later = (*b + (k * spread) % 30).min(BATCHES - 1);
                noisy.push((if k == 0 { *b } else { later }, *e, s.clone()));
            }
        }
        // A deterministic shuffle from the seed; processing is by batch, so this reorders within batches.
        let mut x = seed | 1;
        for i in (1..noisy.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            noisy.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let expected = simulate(&truth, &canonical);
        let actual = simulate(&truth, &noisy);
        prop_assert_eq!(actual.outcome(), expected.outcome());
    }

    /// Snapshots: any order of any versions merges to the same snapshot.
    #[test]
    fn snapshots_merge_to_the_same_version_in_any_order(
        versions in proptest::collection::vec((0i64..50, 0usize..3), 1..12),
        seed in any::<u64>(),
    ) {
        let statuses = [Status::Open, Status::Sold, Status::Dismissed];
        let facts: Vec<Facts> = versions
            .iter()
            .map(|(h, s)| Facts::new(EntityKind::Estimate, "1", start() + hours(*h), statuses[*s]))
            .collect();
        let fold = |list: &[Facts]| {
            list.iter().fold(None, |acc: Option<Facts>, f| Some(merge(acc, f.clone()).0)).unwrap()
        };
        let mut shuffled = facts.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(fold(&facts), fold(&shuffled));
    }
}

#[test]
fn sold_before_sent_sends_nothing_and_sold_between_steps_cancels_the_call() {
    let est = Subject::new(EntityKind::Estimate, ESTIMATE);
    // Sold at hour 2, the "sent" webhook arriving after the "sold" one.
    let truth = Truth {
        viewed_at: None,
        closed_at: Some((2, true)),
        due_in_days: 30,
        paid_at: Some(1),
    };
    let plan = vec![
        (1, EventName::EstimateSold, est.clone()),
        (2, EventName::EstimateSent, est.clone()),
    ];
    let engine = simulate(&truth, &plan);
    assert!(
        engine.sent.keys().all(|(run, _, _)| !run.starts_with("estimate")),
        "{:?}",
        engine.sent
    );

    // Sold at hour 30: the 24 h SMS went, the 72 h call did not.
    let truth = Truth {
        closed_at: Some((30, true)),
        ..truth
    };
    let plan = vec![
        (0, EventName::EstimateSent, est.clone()),
        (first_batch(30), EventName::EstimateSold, est),
    ];
    let engine = simulate(&truth, &plan);
    let estimate_steps: BTreeSet<usize> = engine
        .sent
        .keys()
        .filter(|(run, _, _)| run.starts_with("estimate_follow_up"))
        .map(|(_, step, _)| *step)
        .collect();
    assert_eq!(estimate_steps, BTreeSet::from([0]));
    let run = &engine.runs["estimate_follow_up.estimate-90211.1"];
    assert_eq!(run.ended.as_deref(), Some("estimate.sold"));
}

#[test]
fn an_unpaid_invoice_is_dunned_in_rounds_until_paid() {
    let inv = Subject::new(EntityKind::Invoice, INVOICE);
    let truth = Truth {
        viewed_at: None,
        closed_at: None,
        due_in_days: 1,
        paid_at: Some(24 * 17),
    };
    let plan = vec![
        (0, EventName::InvoiceCreated, inv.clone()),
        (first_batch(24 * 17), EventName::PaymentPosted, inv),
    ];
    let engine = simulate(&truth, &plan);
    let dunning: Vec<(usize, u32)> = engine
        .sent
        .keys()
        .filter(|(run, _, _)| run.starts_with("invoice_dunning"))
        .map(|(_, s, r)| (*s, *r))
        .collect();
    // Overdue from day 8: round 1 (SMS, email a day later), round 2 a week on; paid on day 17 before round 3.
    assert_eq!(dunning, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert_eq!(
        engine.runs["invoice_dunning.invoice-7713.1"].ended.as_deref(),
        Some("invoice.paid"),
        "paid in full: the state, whichever event said so first"
    );
}
