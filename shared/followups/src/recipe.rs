//! Recipes are data: one reviewed JSON document per recipe in `shared/followups/recipes/`, described by
//! `docs/recipe.schema.json`, embedded in the binaries and checked when loaded ([`Catalogue::load`]). A tenant
//! overrides a recipe's delays, channels, templates, windows and filters with a partial document
//! ([`Recipe::with_override`]), checked by the same rules; the settings' `recipes` list stays the switch.

use std::collections::BTreeMap;

use domain::api_error::FieldError;
use domain::event::{EntityKind, EventName};
use domain::tenant_settings::Channel;
use jiff::civil::Time;
use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::facts::{Condition, Eval, Facts};
use crate::render::{Template, variables};

/// The shipped recipes, in the order the admin API lists them.
const DOCUMENTS: &[(&str, &str)] = &[
    ("estimate_follow_up", include_str!("../recipes/estimate_follow_up.json")),
    ("estimate_viewed", include_str!("../recipes/estimate_viewed.json")),
    ("invoice_dunning", include_str!("../recipes/invoice_dunning.json")),
    (
        "appointment_reminder",
        include_str!("../recipes/appointment_reminder.json"),
    ),
    (
        "job_complete_review",
        include_str!("../recipes/job_complete_review.json"),
    ),
    ("no_show_recovery", include_str!("../recipes/no_show_recovery.json")),
    ("job_overdue", include_str!("../recipes/job_overdue.json")),
    (
        "missed_call_text_back",
        include_str!("../recipes/missed_call_text_back.json"),
    ),
];

/// What kind of message a recipe sends, from the least to the most restricted:
/// - transactional: about the customer's own job or bill (reminders, dunning, the missed-call text back, "running
///   late"); the federal window and the tenant's quiet hours apply;
/// - solicitation: asks for a sale (an open estimate's follow-up); the states' rules for sales messages and AI-call
///   consent for sales apply as well;
/// - marketing: promotes the business (the review request); as solicitation.
///
/// A tenant's override may move a recipe to a stricter class, never to a looser one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageClass {
    Transactional,
    Solicitation,
    Marketing,
}

impl MessageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Solicitation => "solicitation",
            Self::Marketing => "marketing",
        }
    }

    /// Solicitation and marketing: the classes the states' telemarketing rules and written consent cover.
    pub fn is_sales(self) -> bool {
        self != Self::Transactional
    }
}

/// The moment a run's step delays count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anchor {
    /// When the triggering event happened.
    #[serde(rename = "event")]
    Event,
    #[serde(rename = "appointment.start")]
    AppointmentStart,
    #[serde(rename = "appointment.window_end")]
    AppointmentWindowEnd,
}

/// How often one entity can be enrolled in a recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enrollment {
    /// At most one run per entity, ever: a resent estimate is not chased twice.
    Once,
    /// One run per anchor: an appointment moved to a new time gets a new reminder, but only one per time.
    PerAnchor,
}

/// What the runner re-reads from ServiceTitan right before sending (one call), besides the customer's contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckAtSend {
    /// The run's own entity.
    Subject,
    /// The invoice of the run's job.
    Invoice,
    /// Every appointment of the run's job (to see whether a missed visit was rebooked).
    JobAppointments,
    /// Nothing (a missed call has no state to change).
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub business_unit_ids: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub job_type_ids: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_money")]
    pub min_amount_cents: Option<i64>,
    /// A job's estimates are separate offers, not options of one (Good/Better/Best): selling one does not end the
    /// others' follow-ups.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub independent_options: bool,
}

impl Filters {
    /// `Err(reason)` when the entity is outside the filters. A filter on a field the entity does not carry fails.
    pub fn admit(&self, facts: &Facts) -> Result<(), String> {
        if !self.business_unit_ids.is_empty()
            && !facts
                .business_unit_id
                .is_some_and(|b| self.business_unit_ids.contains(&b))
        {
            return Err(format!(
                "business unit {:?} is not in the recipe's filter",
                facts.business_unit_id
            ));
        }
        if !self.job_type_ids.is_empty() && !facts.job_type_id.is_some_and(|j| self.job_type_ids.contains(&j)) {
            return Err(format!(
                "job type {:?} is not in the recipe's filter",
                facts.job_type_id
            ));
        }
        if let Some(min) = self.min_amount_cents
            && facts.amount_cents.is_none_or(|a| a < min)
        {
            return Err(format!(
                "amount {:?} cents is below the recipe's minimum of {min}",
                facts.amount_cents
            ));
        }
        Ok(())
    }
}

fn ser_money<S: serde::Serializer>(cents: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match cents {
        Some(c) => s.serialize_str(&crate::money(*c)),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub events: Vec<EventName>,
    /// Derived `invoice.overdue`: days past the due date a watch fires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue_days: Option<i64>,
    /// An invoice more than this many days past its due date is no longer chased (`invoice.too_old`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<i64>,
    /// Derived `appointment.overdue`: how long after the arrival window a watch fires.
    #[serde(skip_serializing_if = "Option::is_none", with = "crate::iso_duration::option")]
    pub after: Option<SignedDuration>,
    #[serde(skip_serializing_if = "is_default")]
    pub filters: Filters,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    /// From the anchor (negative: before it).
    #[serde(with = "crate::iso_duration")]
    pub delay: SignedDuration,
    /// Then moved to this time of day, recipient-local, on the same date.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_time")]
    pub at_local_time: Option<Time>,
    /// Not sent later than anchor + this (a reminder after the visit is worse than none).
    #[serde(skip_serializing_if = "Option::is_none", with = "crate::iso_duration::option")]
    pub latest: Option<SignedDuration>,
    pub channel: Channel,
    /// What the AI platform should do ("estimate_follow_up", "review_request", ...).
    pub intent: String,
    pub template: Template,
    /// Steps can be switched off by a tenant; a disabled step is skipped, not sent.
    pub enabled: bool,
    /// Outside the send window, within a few minutes of the anchor, tenants who choose so send this at once instead
    /// of waiting (a missed call at night: "we're closed, book here").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_hours: Option<AfterHours>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AfterHours {
    #[serde(with = "crate::iso_duration")]
    pub within: SignedDuration,
    pub template: Template,
}

fn ser_time<S: serde::Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.strftime("%H:%M").to_string()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Repeat {
    pub every_days: i64,
    /// Rounds in all, the first included; without it the recipe repeats until a stop condition (at most
    /// [`Repeat::MAX_ROUNDS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_times: Option<u32>,
}

impl Repeat {
    /// A year of weekly rounds: the bound on a recipe that repeats "until paid".
    pub const MAX_ROUNDS: u32 = 52;

    pub fn rounds(&self) -> u32 {
        self.max_times.unwrap_or(Self::MAX_ROUNDS)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopWhen {
    pub events: Vec<EventName>,
    pub states: Vec<Condition>,
    /// A reply from the customer halts the run: a person is talking now.
    pub on_reply: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// While any holds (on the [`CheckAtSend`] facts), the step waits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<Condition>,
    /// Until all hold, the step waits; facts that cannot be read (no invoice yet) do not hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub until: Vec<Condition>,
    #[serde(with = "crate::iso_duration")]
    pub recheck_every: SignedDuration,
    /// Then the step is given up.
    #[serde(with = "crate::iso_duration")]
    pub give_up_after: SignedDuration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub state: Condition,
    /// "sold", "paid", "booked".
    pub label: String,
}

/// A recipe-level send window, recipient-local, stricter than the legal and tenant windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LocalWindow {
    #[serde(serialize_with = "ser_time_plain")]
    pub start: Time,
    #[serde(serialize_with = "ser_time_plain")]
    pub end: Time,
}

fn ser_time_plain<S: serde::Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.strftime("%H:%M").to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipe {
    pub id: String,
    pub title: String,
    pub description: String,
    pub message_class: MessageClass,
    pub subject: EntityKind,
    pub trigger: Trigger,
    pub enroll_when: Vec<Condition>,
    pub anchor: Anchor,
    pub enrollment: Enrollment,
    pub replan_on_anchor_change: bool,
    pub check_at_send: CheckAtSend,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_while: Option<Hold>,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
    pub stop_when: StopWhen,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<LocalWindow>,
}

impl Recipe {
    /// What conditions of this recipe are evaluated with.
    pub fn eval(&self, now: jiff::Timestamp) -> Eval {
        Eval {
            now,
            overdue_days: self.trigger.overdue_days.unwrap_or(0),
            max_age_days: self.trigger.max_age_days,
            after: self.trigger.after.unwrap_or(SignedDuration::ZERO),
        }
    }

    /// The kind of the facts the runner reads at send time.
    pub fn send_facts_kind(&self) -> Option<EntityKind> {
        match self.check_at_send {
            CheckAtSend::Subject | CheckAtSend::JobAppointments => Some(self.subject),
            CheckAtSend::Invoice => Some(EntityKind::Invoice),
            CheckAtSend::None => None,
        }
    }

    /// The stop states that apply: all the recipe names, but another option sold when the filter says the job's
    /// estimates are independent offers.
    pub fn stop_states(&self) -> impl Iterator<Item = &Condition> {
        self.stop_when
            .states
            .iter()
            .filter(|c| !(self.trigger.filters.independent_options && **c == Condition::EstimateOptionSold))
    }

    /// The values of the tenant's settings that the recipe's enabled steps need (used without a fallback), as the
    /// settings name them: `companyName`, `bookingUrl`.
    pub fn required_settings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for step in self.steps.iter().filter(|s| s.enabled) {
            let templates = std::iter::once(&step.template).chain(step.after_hours.as_ref().map(|a| &a.template));
            for t in templates {
                for (variable, setting) in [("company.name", "companyName"), ("bookingUrl", "bookingUrl")] {
                    if t.unguarded().any(|v| v == variable) && !out.contains(&setting) {
                        out.push(setting);
                    }
                }
            }
        }
        out
    }

    /// The ServiceTitan webhook events this recipe listens to: its triggers and stop events, with a derived trigger
    /// (a watch the product sets itself) replaced by the events that set the watch.
    pub fn webhook_events(&self) -> Vec<EventName> {
        let mut out = Vec::new();
        for event in self.trigger.events.iter().chain(&self.stop_when.events) {
            let feeders: &[EventName] = match event {
                EventName::InvoiceOverdue => &[EventName::InvoiceCreated, EventName::PaymentPosted],
                EventName::AppointmentOverdue => &[
                    EventName::JobScheduled,
                    EventName::JobRescheduled,
                    EventName::JobDispatched,
                    EventName::AppointmentChanged,
                ],
                other => std::slice::from_ref(other),
            };
            for e in feeders {
                if !out.contains(e) {
                    out.push(*e);
                }
            }
        }
        out
    }

    /// Whether `event` (on this recipe's subject) halts a run.
    pub fn stops_on(&self, event: EventName) -> bool {
        self.stop_when.events.contains(&event)
    }
}

// ----------------------------------------------------------------------------------------------------------------
// Documents

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecipeDoc {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    id: String,
    title: String,
    description: String,
    message_class: MessageClass,
    subject: EntityKind,
    trigger: TriggerDoc,
    enroll_when: Vec<Condition>,
    anchor: Anchor,
    enrollment: Enrollment,
    #[serde(default)]
    replan_on_anchor_change: bool,
    check_at_send: CheckAtSend,
    #[serde(default)]
    hold_while: Option<HoldDoc>,
    steps: Vec<StepDoc>,
    #[serde(default)]
    repeat: Option<Repeat>,
    #[serde(default)]
    stop_when: StopDoc,
    #[serde(default)]
    goal: Option<GoalDoc>,
    #[serde(default)]
    window: Option<WindowDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TriggerDoc {
    events: Vec<EventName>,
    #[serde(default)]
    overdue_days: Option<i64>,
    #[serde(default)]
    max_age_days: Option<i64>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    filters: Option<FiltersDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FiltersDoc {
    #[serde(default)]
    business_unit_ids: Vec<i64>,
    #[serde(default)]
    job_type_ids: Vec<i64>,
    /// Dollars, as a string or a number ("500", 500.00).
    #[serde(default)]
    min_amount: Option<Value>,
    #[serde(default)]
    independent_options: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StepDoc {
    id: String,
    delay: String,
    #[serde(default)]
    at_local_time: Option<String>,
    #[serde(default)]
    latest: Option<String>,
    channel: Channel,
    intent: String,
    template: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    after_hours: Option<AfterHoursDoc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AfterHoursDoc {
    within_minutes: i64,
    template: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StopDoc {
    #[serde(default)]
    events: Vec<EventName>,
    #[serde(default)]
    states: Vec<Condition>,
    #[serde(default = "yes")]
    on_reply: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HoldDoc {
    #[serde(default)]
    states: Vec<Condition>,
    #[serde(default)]
    until: Vec<Condition>,
    recheck_every: String,
    give_up_after: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GoalDoc {
    state: Condition,
    label: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowDoc {
    start: String,
    end: String,
}

/// Collects field errors by JSON pointer.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError::new(field, reason));
    }

    fn duration(&mut self, field: &str, text: &str) -> SignedDuration {
        match crate::iso_duration::parse(text) {
            Ok(d) => d,
            Err(reason) => {
                self.add(field, reason);
                SignedDuration::ZERO
            }
        }
    }

    fn time(&mut self, field: &str, text: &str) -> Time {
        match parse_hh_mm(text) {
            Some(t) => t,
            None => {
                self.add(field, "must be a time \"HH:MM\" (24-hour)");
                Time::midnight()
            }
        }
    }
}

fn parse_hh_mm(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// "500", "500.5", 500 → cents.
fn dollars_to_cents(v: &Value) -> Option<i64> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if frac.len() > 2 || whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(frac)
}

fn from_doc(doc: RecipeDoc) -> Result<Recipe, Vec<FieldError>> {
    let mut p = Problems::default();
    let allowed_kinds = [
        EntityKind::Estimate,
        EntityKind::Invoice,
        EntityKind::Appointment,
        EntityKind::Job,
        EntityKind::Call,
    ];
    if !allowed_kinds.contains(&doc.subject) {
        p.add("/subject", "must be estimate, invoice, appointment, job or call");
    }
    if !is_identifier(&doc.id) {
        p.add("/id", "must be lowercase letters, digits and underscores, at most 40");
    }
    if doc.trigger.events.is_empty() {
        p.add("/trigger/events", "at least one event starts a recipe");
    }
    let filters = filters(&mut p, "/trigger/filters", doc.trigger.filters.as_ref());
    let after = doc.trigger.after.as_deref().map(|a| p.duration("/trigger/after", a));
    if doc.trigger.overdue_days.is_some_and(|d| !(0..=365).contains(&d)) {
        p.add("/trigger/overdueDays", "must be between 0 and 365");
    }
    if doc.trigger.max_age_days.is_some_and(|d| !(1..=365).contains(&d)) {
        p.add("/trigger/maxAgeDays", "must be between 1 and 365");
    }
    if doc.trigger.max_age_days.is_some() && doc.subject != EntityKind::Invoice {
        p.add("/trigger/maxAgeDays", "a maximum age is an invoice's days past due");
    }
    if doc.trigger.events.contains(&EventName::InvoiceOverdue) && doc.trigger.overdue_days.is_none() {
        p.add(
            "/trigger/overdueDays",
            "an invoice.overdue trigger needs overdueDays (when its watch fires)",
        );
    }
    if doc.trigger.events.contains(&EventName::AppointmentOverdue) && after.is_none() {
        p.add(
            "/trigger/after",
            "an appointment.overdue trigger needs after (when its watch fires)",
        );
    }
    for (i, c) in doc.enroll_when.iter().enumerate() {
        if c.kind() != doc.subject {
            p.add(
                format!("/enrollWhen/{i}"),
                format!("{c} is not about a {}", doc.subject.as_str()),
            );
        }
    }
    for (i, c) in doc.stop_when.states.iter().enumerate() {
        if c.kind() != doc.subject {
            p.add(
                format!("/stopWhen/states/{i}"),
                format!("{c} is not about a {}", doc.subject.as_str()),
            );
        }
    }
    match doc.anchor {
        Anchor::Event => {}
        Anchor::AppointmentStart | Anchor::AppointmentWindowEnd if doc.subject == EntityKind::Appointment => {}
        _ => p.add("/anchor", "appointment anchors need an appointment subject"),
    }
    if doc.replan_on_anchor_change && doc.anchor == Anchor::Event {
        p.add("/replanOnAnchorChange", "only an appointment anchor can change");
    }
    if doc.check_at_send == CheckAtSend::Invoice && doc.subject != EntityKind::Job {
        p.add("/checkAtSend", "invoice is the invoice of a job subject");
    }
    if doc.check_at_send == CheckAtSend::JobAppointments && doc.subject != EntityKind::Appointment {
        p.add("/checkAtSend", "job_appointments needs an appointment subject");
    }
    let hold_while = doc.hold_while.map(|h| {
        let kind = match doc.check_at_send {
            CheckAtSend::Invoice => Some(EntityKind::Invoice),
            CheckAtSend::None => None,
            _ => Some(doc.subject),
        };
        for (list, conditions) in [("states", &h.states), ("until", &h.until)] {
            for (i, c) in conditions.iter().enumerate() {
                if Some(c.kind()) != kind {
                    p.add(
                        format!("/holdWhile/{list}/{i}"),
                        format!("{c} is not among what checkAtSend reads"),
                    );
                }
            }
        }
        if h.states.is_empty() && h.until.is_empty() {
            p.add(
                "/holdWhile",
                "a hold needs states (wait while one holds) or until (wait until all hold)",
            );
        }
        Hold {
            states: h.states,
            until: h.until,
            recheck_every: p.duration("/holdWhile/recheckEvery", &h.recheck_every),
            give_up_after: p.duration("/holdWhile/giveUpAfter", &h.give_up_after),
        }
    });
    let goal = doc.goal.map(|g| {
        if g.state.kind() != doc.subject {
            p.add(
                "/goal/state",
                format!("{} is not about a {}", g.state, doc.subject.as_str()),
            );
        }
        Goal {
            state: g.state,
            label: g.label,
        }
    });
    if doc.steps.is_empty() {
        p.add("/steps", "a recipe has at least one step");
    }
    let allowed = variables(doc.subject);
    let mut steps = Vec::new();
    for (i, s) in doc.steps.iter().enumerate() {
        if !is_identifier(&s.id) {
            p.add(
                format!("/steps/{i}/id"),
                "must be lowercase letters, digits and underscores",
            );
        }
        if doc.steps[..i].iter().any(|o| o.id == s.id) {
            p.add(format!("/steps/{i}/id"), "is used by an earlier step");
        }
        steps.push(step(&mut p, &format!("/steps/{i}"), s, &allowed));
    }
    if let Some(r) = doc.repeat {
        check_repeat(&mut p, &r);
    }
    let window = doc.window.map(|w| window(&mut p, "/window", &w));
    if !p.0.is_empty() {
        return Err(p.0);
    }
    let recipe = Recipe {
        id: doc.id,
        title: doc.title,
        description: doc.description,
        message_class: doc.message_class,
        subject: doc.subject,
        trigger: Trigger {
            events: doc.trigger.events,
            overdue_days: doc.trigger.overdue_days,
            max_age_days: doc.trigger.max_age_days,
            after,
            filters,
        },
        enroll_when: doc.enroll_when,
        anchor: doc.anchor,
        enrollment: doc.enrollment,
        replan_on_anchor_change: doc.replan_on_anchor_change,
        check_at_send: doc.check_at_send,
        hold_while,
        steps,
        repeat: doc.repeat,
        stop_when: StopWhen {
            events: doc.stop_when.events,
            states: doc.stop_when.states,
            on_reply: doc.stop_when.on_reply,
        },
        goal,
        window,
    };
    check_rules(&mut p, &recipe);
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(recipe)
}

fn filters(p: &mut Problems, at: &str, doc: Option<&FiltersDoc>) -> Filters {
    let Some(doc) = doc else { return Filters::default() };
    let min_amount_cents = doc.min_amount.as_ref().and_then(|v| {
        let cents = dollars_to_cents(v);
        if cents.is_none() {
            p.add(
                format!("{at}/minAmount"),
                "must be an amount in dollars, e.g. \"500\" or \"1249.50\"",
            );
        }
        cents
    });
    for (name, ids) in [
        ("businessUnitIds", &doc.business_unit_ids),
        ("jobTypeIds", &doc.job_type_ids),
    ] {
        if ids.iter().any(|id| *id <= 0) {
            p.add(format!("{at}/{name}"), "ids are positive integers");
        }
    }
    Filters {
        business_unit_ids: doc.business_unit_ids.clone(),
        job_type_ids: doc.job_type_ids.clone(),
        min_amount_cents,
        independent_options: doc.independent_options,
    }
}

fn window(p: &mut Problems, at: &str, w: &WindowDoc) -> LocalWindow {
    let window = LocalWindow {
        start: p.time(&format!("{at}/start"), &w.start),
        end: p.time(&format!("{at}/end"), &w.end),
    };
    if window.start >= window.end {
        p.add(at, "start must be before end (a send window within one day)");
    }
    window
}

fn step(p: &mut Problems, at: &str, s: &StepDoc, allowed: &[&str]) -> Step {
    let delay = p.duration(&format!("{at}/delay"), &s.delay);
    if delay.abs() > SignedDuration::from_hours(24 * 120) {
        p.add(format!("{at}/delay"), "must be within 120 days of the anchor");
    }
    let template = match Template::parse(&s.template, allowed) {
        Ok(t) => t,
        Err(e) => {
            p.add(format!("{at}/template"), e.to_string());
            Template::parse("-", &[]).expect("a plain text template parses")
        }
    };
    if s.intent.trim().is_empty() || s.intent.len() > 64 {
        p.add(format!("{at}/intent"), "must be a short name, e.g. estimate_follow_up");
    }
    Step {
        id: s.id.clone(),
        delay,
        at_local_time: s
            .at_local_time
            .as_deref()
            .map(|t| p.time(&format!("{at}/atLocalTime"), t)),
        latest: s.latest.as_deref().map(|l| p.duration(&format!("{at}/latest"), l)),
        channel: s.channel,
        intent: s.intent.clone(),
        template,
        enabled: s.enabled.unwrap_or(true),
        after_hours: s.after_hours.as_ref().map(|a| {
            if !(1..=120).contains(&a.within_minutes) {
                p.add(format!("{at}/afterHours/withinMinutes"), "must be from 1 to 120");
            }
            AfterHours {
                within: SignedDuration::from_mins(a.within_minutes),
                template: match Template::parse(&a.template, allowed) {
                    Ok(t) => t,
                    Err(e) => {
                        p.add(format!("{at}/afterHours/template"), e.to_string());
                        Template::parse("-", &[]).expect("a plain text template parses")
                    }
                },
            }
        }),
    }
}

fn check_repeat(p: &mut Problems, r: &Repeat) {
    if !(1..=90).contains(&r.every_days) {
        p.add("/repeat/everyDays", "must be between 1 and 90");
    }
    if r.max_times.is_some_and(|m| !(1..=Repeat::MAX_ROUNDS).contains(&m)) {
        p.add(
            "/repeat/maxTimes",
            format!(
                "must be between 1 and {} (or left out: until a stop condition)",
                Repeat::MAX_ROUNDS
            ),
        );
    }
}

/// The rules every recipe keeps, shipped or overridden, so that no tenant's change can make a message that should
/// not be sent:
/// - every SMS names the company (`{{company.name}}`, which settings guarantee for tenants with SMS recipes);
/// - a value ServiceTitan may leave empty has a fallback in every template that uses it;
/// - an after-hours notice is an SMS, and only answers a call (a missed call's own text back).
fn check_rules(p: &mut Problems, recipe: &Recipe) {
    for (i, step) in recipe.steps.iter().enumerate() {
        let at = format!("/steps/{i}");
        let mut templates = vec![(format!("{at}/template"), &step.template)];
        if let Some(a) = &step.after_hours {
            templates.push((format!("{at}/afterHours/template"), &a.template));
            if step.channel != Channel::Sms || recipe.subject != EntityKind::Call {
                p.add(
                    format!("{at}/afterHours"),
                    "an after-hours notice is an SMS answering the person's own call (a call recipe's sms step)",
                );
            }
        }
        for (field, template) in templates {
            if step.channel == Channel::Sms && !template.uses("company.name") {
                p.add(
                    field.clone(),
                    "every SMS names the company: use {{company.name}} (the settings' companyName)",
                );
            }
            for name in template.unguarded().filter(|n| crate::render::MAY_BE_EMPTY.contains(n)) {
                p.add(
                    field.clone(),
                    format!(
                        "ServiceTitan may leave {name} empty: give it a fallback, e.g. {{{{{name}|…}}}}, so the \
                         message words around it"
                    ),
                );
            }
        }
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Reads one recipe document.
pub fn parse(json: &str) -> Result<Recipe, Vec<FieldError>> {
    let doc: RecipeDoc = serde_json::from_str(json).map_err(|e| vec![serde_field_error(&e)])?;
    from_doc(doc)
}

fn serde_field_error(e: &serde_json::Error) -> FieldError {
    FieldError::new("", format!("{e}"))
}

// ----------------------------------------------------------------------------------------------------------------
// Overrides

/// A tenant's changes to a recipe. Every field is optional; steps are matched by id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OverrideDoc {
    #[serde(default)]
    steps: Vec<StepOverrideDoc>,
    /// `null` removes the repeat.
    #[serde(default, with = "double_option")]
    repeat: Option<Option<Repeat>>,
    #[serde(default, with = "double_option")]
    window: Option<Option<WindowDoc>>,
    #[serde(default)]
    filters: Option<FiltersDoc>,
    #[serde(default)]
    overdue_days: Option<i64>,
    #[serde(default)]
    max_age_days: Option<i64>,
    #[serde(default)]
    message_class: Option<MessageClass>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StepOverrideDoc {
    id: String,
    #[serde(default)]
    delay: Option<String>,
    #[serde(default, with = "double_option")]
    at_local_time: Option<Option<String>>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// `Some(None)` for an explicit `null`, `None` when absent.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl Recipe {
    /// This recipe with a tenant's override applied, or every problem with it by JSON pointer.
    pub fn with_override(&self, doc: &Value) -> Result<Recipe, Vec<FieldError>> {
        let o: OverrideDoc = serde_json::from_value(doc.clone()).map_err(|e| vec![serde_field_error(&e)])?;
        let mut p = Problems::default();
        let mut out = self.clone();
        let allowed = variables(self.subject);
        for (i, s) in o.steps.iter().enumerate() {
            let at = format!("/steps/{i}");
            let Some(step) = out.steps.iter_mut().find(|x| x.id == s.id) else {
                p.add(
                    format!("{at}/id"),
                    format!(
                        "{:?} is not a step of {}; its steps are {}",
                        s.id,
                        self.id,
                        self.steps.iter().map(|x| x.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            };
            if let Some(d) = &s.delay {
                step.delay = p.duration(&format!("{at}/delay"), d);
            }
            if let Some(t) = &s.at_local_time {
                step.at_local_time = t.as_deref().map(|t| p.time(&format!("{at}/atLocalTime"), t));
            }
            if let Some(c) = s.channel {
                step.channel = c;
            }
            if let Some(t) = &s.template {
                match Template::parse(t, &allowed) {
                    Ok(t) => step.template = t,
                    Err(e) => p.add(format!("{at}/template"), e.to_string()),
                }
            }
            if let Some(e) = s.enabled {
                step.enabled = e;
            }
        }
        if let Some(r) = o.repeat {
            if let Some(r) = r {
                check_repeat(&mut p, &r);
            }
            out.repeat = r;
        }
        if let Some(w) = o.window {
            out.window = w.map(|w| window(&mut p, "/window", &w));
        }
        if let Some(f) = &o.filters {
            out.trigger.filters = filters(&mut p, "/filters", Some(f));
        }
        if let Some(d) = o.overdue_days {
            if self.trigger.overdue_days.is_none() {
                p.add("/overdueDays", format!("{} has no overdue trigger", self.id));
            } else if !(0..=365).contains(&d) {
                p.add("/overdueDays", "must be between 0 and 365");
            }
            out.trigger.overdue_days = Some(d);
        }
        if let Some(d) = o.max_age_days {
            if self.trigger.max_age_days.is_none() {
                p.add("/maxAgeDays", format!("{} has no maximum age", self.id));
            } else if !(1..=365).contains(&d) {
                p.add("/maxAgeDays", "must be between 1 and 365");
            }
            out.trigger.max_age_days = Some(d);
        }
        if let Some(class) = o.message_class {
            if class < self.message_class {
                p.add(
                    "/messageClass",
                    format!(
                        "{} is {}; an override may make it stricter, never looser",
                        self.id,
                        self.message_class.as_str()
                    ),
                );
            }
            out.message_class = class;
        }
        check_rules(&mut p, &out);
        if !p.0.is_empty() {
            return Err(p.0);
        }
        Ok(out)
    }
}

// ----------------------------------------------------------------------------------------------------------------
// The catalogue

#[derive(Debug, thiserror::Error)]
#[error("shipped recipe {id} is invalid: {problems}")]
pub struct InvalidRecipe {
    pub id: String,
    pub problems: String,
}

/// The shipped recipes.
#[derive(Debug, Clone)]
pub struct Catalogue {
    recipes: Vec<Recipe>,
}

/// A tenant's recipes as they run: the enabled ones, overrides applied.
#[derive(Debug, Clone, Default)]
pub struct TenantRecipes {
    pub enabled: Vec<Recipe>,
    /// Overrides that no longer apply (e.g. a step renamed in a new release): the defaults run instead.
    pub ignored_overrides: Vec<(String, Vec<FieldError>)>,
}

impl TenantRecipes {
    pub fn get(&self, id: &str) -> Option<&Recipe> {
        self.enabled.iter().find(|r| r.id == id)
    }
}

impl Catalogue {
    /// Parses and checks every shipped recipe document.
    pub fn load() -> Result<Self, InvalidRecipe> {
        let mut recipes = Vec::new();
        for (id, json) in DOCUMENTS {
            let recipe = parse(json).map_err(|problems| InvalidRecipe {
                id: (*id).to_owned(),
                problems: problems
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            })?;
            if recipe.id != *id {
                return Err(InvalidRecipe {
                    id: (*id).to_owned(),
                    problems: format!("the document's id is {:?}", recipe.id),
                });
            }
            recipes.push(recipe);
        }
        Ok(Self { recipes })
    }

    pub fn all(&self) -> &[Recipe] {
        &self.recipes
    }

    /// Every recipe's id, in the catalogue's order: the ids tenant settings may enable.
    pub fn ids(&self) -> Vec<&str> {
        self.recipes.iter().map(|r| r.id.as_str()).collect()
    }

    pub fn get(&self, id: &str) -> Option<&Recipe> {
        self.recipes.iter().find(|r| r.id == id)
    }

    /// The document a recipe was loaded from (for the admin API and the schema test).
    pub fn document(id: &str) -> Option<&'static str> {
        DOCUMENTS.iter().find(|(i, _)| *i == id).map(|(_, d)| *d)
    }

    /// The tenant's enabled recipes (by the settings' switch list) with its overrides applied.
    pub fn for_tenant(&self, enabled: &[String], overrides: &BTreeMap<String, Value>) -> TenantRecipes {
        let mut out = TenantRecipes::default();
        for recipe in self.recipes.iter().filter(|r| enabled.contains(&r.id)) {
            match overrides.get(&recipe.id) {
                None => out.enabled.push(recipe.clone()),
                Some(o) => match recipe.with_override(o) {
                    Ok(r) => out.enabled.push(r),
                    Err(problems) => {
                        out.ignored_overrides.push((recipe.id.clone(), problems));
                        out.enabled.push(recipe.clone());
                    }
                },
            }
        }
        out
    }
}

/// `Span` → `SignedDuration`, for ISO 8601 durations with days counted as 24 hours.
pub(crate) fn span_to_duration(span: Span) -> Option<SignedDuration> {
    span.to_duration(SpanRelativeTo::days_are_24_hours()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shipped_recipe_loads() {
        let catalogue = Catalogue::load().unwrap();
        let ids: Vec<&str> = DOCUMENTS.iter().map(|(id, _)| *id).collect();
        assert_eq!(catalogue.ids(), ids, "every shipped document, in order");
        let dunning = catalogue.get("invoice_dunning").unwrap();
        assert_eq!(dunning.steps.len(), 2);
        assert_eq!(
            dunning.repeat,
            Some(Repeat {
                every_days: 7,
                max_times: None
            }),
            "dunning runs until paid (up to its maximum age), not three rounds"
        );
        assert_eq!(dunning.trigger.max_age_days, Some(60));
        let estimate = catalogue.get("estimate_follow_up").unwrap();
        assert_eq!(estimate.steps[1].delay, SignedDuration::from_hours(72));
        assert_eq!(estimate.steps[1].channel, Channel::Voice);
        let reminder = catalogue.get("appointment_reminder").unwrap();
        assert_eq!(reminder.steps[0].delay, SignedDuration::from_hours(-24));
        assert_eq!(reminder.steps[0].at_local_time, Some(Time::constant(18, 0, 0, 0)));
    }

    #[test]
    fn semantic_problems_are_reported_by_pointer() {
        let mut doc: Value = serde_json::from_str(Catalogue::document("estimate_follow_up").unwrap()).unwrap();
        doc["enrollWhen"] = json!(["invoice.unpaid"]);
        doc["steps"][0]["delay"] = json!("tomorrow");
        doc["steps"][1]["template"] = json!("Hi {{customer.shoeSize}}");
        doc["steps"][1]["id"] = json!("sms_24h");
        doc["anchor"] = json!("appointment.start");
        let problems: Vec<String> = parse(&doc.to_string())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            problems,
            vec![
                "/enrollWhen/0",
                "/anchor",
                "/steps/0/delay",
                "/steps/1/id",
                "/steps/1/template"
            ]
        );
        doc = serde_json::from_str(Catalogue::document("estimate_follow_up").unwrap()).unwrap();
        doc["colour"] = json!("red");
        assert!(parse(&doc.to_string()).unwrap_err()[0].reason.contains("colour"));
    }

    #[test]
    fn recipes_name_the_webhooks_they_listen_to_and_never_a_derived_one() {
        let catalogue = Catalogue::load().unwrap();
        let dunning = catalogue.get("invoice_dunning").unwrap().webhook_events();
        assert_eq!(dunning, vec![EventName::InvoiceCreated, EventName::PaymentPosted]);
        for r in catalogue.all() {
            assert!(
                !r.webhook_events()
                    .iter()
                    .any(|e| matches!(e, EventName::InvoiceOverdue | EventName::AppointmentOverdue)),
                "{}",
                r.id
            );
        }
    }

    #[test]
    fn overrides_change_delays_channels_templates_and_repeats() {
        let catalogue = Catalogue::load().unwrap();
        let dunning = catalogue.get("invoice_dunning").unwrap();
        let changed = dunning
            .with_override(&json!({
                "steps": [{"id": "email", "delay": "P2D", "enabled": false}, {"id": "sms", "template": "{{company.name}}: pay {{invoice.balance}} please"}],
                "repeat": {"everyDays": 5, "maxTimes": 2},
                "window": {"start": "10:00", "end": "18:00"},
                "filters": {"minAmount": "100"}
            }))
            .unwrap();
        assert_eq!(changed.steps[1].delay, SignedDuration::from_hours(48));
        assert!(!changed.steps[1].enabled);
        assert_eq!(
            changed.steps[0].template.source(),
            "{{company.name}}: pay {{invoice.balance}} please"
        );
        assert_eq!(changed.repeat.unwrap().every_days, 5);
        assert_eq!(changed.trigger.filters.min_amount_cents, Some(10_000));
        assert!(changed.window.is_some());
        let none = dunning.with_override(&json!({"repeat": null})).unwrap();
        assert_eq!(none.repeat, None);
        // No override can make a message that should not go: an SMS without the company's name, an empty value
        // without a fallback, a sales recipe made transactional.
        let fields = |o: serde_json::Value| -> Vec<String> {
            dunning
                .with_override(&o)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(json!({"steps": [{"id": "sms", "template": "Pay {{invoice.balance}}"}]})),
            ["/steps/0/template"]
        );
        assert_eq!(
            fields(json!({"steps": [{"id": "email", "template": "Invoice {{invoice.number}} is due"}]})),
            ["/steps/1/template"]
        );
        let estimate = catalogue.get("estimate_follow_up").unwrap();
        assert!(
            estimate
                .with_override(&json!({"messageClass": "transactional"}))
                .is_err()
        );
        assert_eq!(
            estimate
                .with_override(&json!({"messageClass": "marketing"}))
                .unwrap()
                .message_class,
            MessageClass::Marketing
        );

        let problems: Vec<String> = dunning
            .with_override(&json!({"steps": [{"id": "fax"}, {"id": "sms", "delay": "soon", "template": "{{estimate.amount}}"}], "window": {"start": "19:00", "end": "09:00"}}))
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            problems,
            vec!["/steps/0/id", "/steps/1/delay", "/steps/1/template", "/window"]
        );
        assert!(dunning.with_override(&json!({"colour": 1})).is_err());
    }

    #[test]
    fn tenants_get_their_enabled_recipes_with_valid_overrides() {
        let catalogue = Catalogue::load().unwrap();
        let overrides = BTreeMap::from([
            (
                "estimate_follow_up".to_owned(),
                json!({"steps": [{"id": "sms_24h", "delay": "PT20H"}]}),
            ),
            ("invoice_dunning".to_owned(), json!({"steps": [{"id": "gone"}]})),
        ]);
        let tenant = catalogue.for_tenant(&["invoice_dunning".into(), "estimate_follow_up".into()], &overrides);
        assert_eq!(tenant.enabled.len(), 2);
        assert_eq!(
            tenant.get("estimate_follow_up").unwrap().steps[0].delay,
            SignedDuration::from_hours(20)
        );
        assert_eq!(
            tenant.ignored_overrides.len(),
            1,
            "a stale override falls back to the defaults"
        );
        assert!(tenant.get("missed_call_text_back").is_none());
    }

    #[test]
    fn money_filters() {
        assert_eq!(dollars_to_cents(&json!("500")), Some(50_000));
        assert_eq!(dollars_to_cents(&json!(12.5)), Some(1_250));
        assert_eq!(dollars_to_cents(&json!("12.345")), None);
        assert_eq!(dollars_to_cents(&json!("-3")), None);
    }
}
