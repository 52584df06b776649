//! Check before send: at fire time, from everything the runner gathered, whether a step goes out now (and exactly
//! what goes: the text, the consent it rests on, the cap it counts against), waits, is skipped, or ends its run.
//!
//! The checks run in this order, and the first that fails decides:
//! 1. the tenant is connected and the recipe still enabled;
//! 2. the entity's live state: gone or in an unknown state ends the run, a stop state ends it with its goal, a
//!    hold waits (the review request waits for an invoice that exists and is paid);
//! 3. the step's latest moment, the tenant's channels, and someone to send to (ServiceTitan's `doNotText` and
//!    `doNotMail`, read live);
//! 4. the opt-out ledger, for the step's channel (skip) or every channel (halt);
//! 5. consent: an AI call needs recorded consent or the tenant's attestation ([`crate::consent`]);
//! 6. the message renders (a value the tenant's settings must give, such as the booking link);
//! 7. the window in the recipient's local time, in every candidate zone: federal, the state's rule for sales
//!    messages, the tenant's quiet hours ([`crate::window`]); a missed call at night may get its closed notice;
//! 8. the recipient's cap for the message's class, and the state's cap for sales messages on one subject.
//!
//! Nothing is dropped for being at the wrong time: it is deferred to the next moment it may go, unless the step has
//! a latest moment that has passed. Everything here is pure: the runner gathers, this decides, the runner acts.

use std::collections::BTreeMap;

use domain::tenant_settings::{AiCallConsent, Channel};
use jiff::civil::Time;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::consent::{self, Basis, Recorded};
use crate::decide::{GoalReached, HaltReason, goal_reached, stop_reason};
use crate::facts::{Facts, Status};
use crate::recipe::{MessageClass, Recipe};
use crate::recipient::NoRecipient;
use crate::state_rules::StateCap;
use crate::timing::Position;
use crate::window::{Closed, Policy, ceil_second};

/// At most `messages` per recipient and class in any rolling `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub messages: u32,
    pub per: SignedDuration,
}

impl Default for Cap {
    /// Two messages per rolling 24 hours.
    fn default() -> Self {
        Self {
            messages: 2,
            per: SignedDuration::from_hours(24),
        }
    }
}

impl Cap {
    /// `None` while under the cap, else the moment a message may go again.
    pub fn opening(&self, recent: &[Timestamp], now: Timestamp) -> Option<Timestamp> {
        self.opening_of(recent.iter().copied(), now)
    }

    /// [`Cap::opening`] over any sends; allocates only when the cap is full.
    fn opening_of(&self, recent: impl Iterator<Item = Timestamp> + Clone, now: Timestamp) -> Option<Timestamp> {
        let since = now - self.per;
        if (recent.clone().filter(|t| *t > since).count() as u32) < self.messages {
            return None;
        }
        let mut within: Vec<Timestamp> = recent.filter(|t| *t > since).collect();
        within.sort_unstable();
        // The oldest sends that must age out before one more fits.
        let must_expire = within.len() + 1 - self.messages as usize;
        Some(within[must_expire - 1] + self.per)
    }
}

/// A send counted against a recipient's cap: when, and about what (`estimate:90211`; unknown for old records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub at: Timestamp,
    pub subject: Option<String>,
}

/// The caps one send counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits<'a> {
    /// The tenant's cap for the message's class.
    pub class: Cap,
    /// The recipient's state's cap on sales messages, and the subject it counts per.
    pub state: Option<(StateCap, &'a str)>,
}

impl<'a> Limits<'a> {
    /// The caps of a send about `subject`: the tenant's for the class, and the state's for sales messages.
    pub fn of(class: Cap, window: &Policy, subject: &'a str) -> Self {
        Self {
            class,
            state: window.state_rule().and_then(|r| r.cap).map(|c| (c, subject)),
        }
    }

    /// `None` while under every cap, else when a message may go again and which cap held it.
    pub fn opening(&self, recent: &[Sent], now: Timestamp) -> Option<(Timestamp, DeferReason)> {
        if let Some(at) = self.class.opening_of(recent.iter().map(|s| s.at), now) {
            return Some((at, DeferReason::Cap));
        }
        let (cap, subject) = self.state.as_ref()?;
        // Older records without a subject count against every subject.
        let counted = recent
            .iter()
            .filter(|s| !cap.per_subject || s.subject.as_deref().is_none_or(|x| x == *subject))
            .map(|s| s.at);
        let state = Cap {
            messages: cap.messages,
            per: SignedDuration::from_hours(cap.hours),
        };
        state.opening_of(counted, now).map(|at| (at, DeferReason::StateCap))
    }
}

/// The cap's key for a person and class: the customer when known (one person, several numbers), else the address.
pub fn cap_key(customer_id: Option<i64>, address: Option<&str>, class: MessageClass) -> String {
    let person = match (customer_id, address) {
        (Some(id), _) => format!("customer:{id}"),
        (None, Some(a)) => a.to_owned(),
        (None, None) => "unknown".into(),
    };
    format!("{person}#{}", class.as_str())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// The federal window, the tenant's quiet hours or the recipe's window.
    QuietHours,
    /// The recipient's state's hours, days or holidays for sales messages.
    StateRule(#[serde(skip)] &'static crate::state_rules::StateRule),
    /// The tenant's cap for the message's class.
    Cap,
    /// The state's cap on sales messages (three a day on one subject in FL, OK, MD).
    StateCap,
    /// A hold condition (the review waits for the invoice to be paid).
    Held,
}

impl DeferReason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::QuietHours => "quiet_hours",
            Self::StateRule(_) => "state_rule",
            Self::Cap => "cap",
            Self::StateCap => "state_cap",
            Self::Held => "held",
        }
    }

    /// What the timeline records beside the code.
    pub fn detail(&self) -> Value {
        match self {
            Self::StateRule(rule) => json!({"state": rule.state, "statute": rule.statute, "rule": rule.summary}),
            _ => json!({}),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum SkipReason {
    NoRecipient(NoRecipient),
    /// The tenant does not use this channel.
    ChannelDisabled,
    OptedOut,
    /// An AI call without recorded consent or the tenant's attestation.
    NoCallConsent,
    /// The step's latest moment passed while it waited.
    TooLate,
    HeldTooLong,
    /// The quiet-hour rules leave no opening in the next week.
    NoSendWindow,
    /// The template needs a value the tenant or entity does not have (e.g. a booking link).
    MissingValue(String),
    /// Rendered (its values filled in, the opt-out notice added) the message is longer than a follow-up may be.
    TooLong(usize),
}

impl SkipReason {
    pub fn code(&self) -> String {
        match self {
            Self::NoRecipient(n) => n.code().to_owned(),
            Self::ChannelDisabled => "channel_disabled".into(),
            Self::OptedOut => "opted_out".into(),
            Self::NoCallConsent => consent::NoBasis::NoCallConsent.code().into(),
            Self::TooLate => "too_late".into(),
            Self::HeldTooLong => "held_too_long".into(),
            Self::NoSendWindow => "no_send_window".into(),
            Self::MissingValue(v) => format!("missing_{}", v.replace('.', "_")),
            Self::TooLong(_) => "message_too_long".into(),
        }
    }
}

/// What to send, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPlan {
    pub text: String,
    /// The step's after-hours notice (a missed call at night, answered within minutes), not its message.
    pub after_hours: bool,
    /// What the channel rests on, as the follow-up carries it.
    pub consent: Basis,
    /// The first text from this tenant to this number: it says how to opt out.
    pub opt_out_notice: bool,
    /// The text carries the tenant's booking link (the follow-up lists it among its links).
    pub booking_link: bool,
}

/// Where a follow-up is delivered: the tenant's own sink, else the deployment's.
pub fn sink<'a>(tenant: Option<&'a str>, deployment: Option<&'a str>) -> Option<&'a str> {
    tenant.or(deployment).filter(|u| !u.trim().is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send(Box<SendPlan>),
    Defer {
        until: Timestamp,
        reason: DeferReason,
    },
    /// This step is not sent; the run goes on with the next one.
    Skip {
        reason: SkipReason,
    },
    Halt {
        reason: HaltReason,
        goal: Option<GoalReached>,
    },
}

/// The opt-out ledger's answer for the recipient's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptOuts {
    pub channel: bool,
    /// Every channel (sms, voice and email).
    pub all: bool,
}

/// The tenant, as its settings and registry say.
#[derive(Debug, Clone, Copy)]
pub struct TenantRules<'a> {
    pub connected: bool,
    pub recipe_enabled: bool,
    pub channels: &'a [Channel],
    /// The cap per recipient and class.
    pub cap: Cap,
    /// Steps' after-hours notices go at once instead of waiting for the window.
    pub after_hours_notice: bool,
    pub ai_call_consent: &'a AiCallConsent,
}

/// The entity's live state, as read at fire time.
#[derive(Debug, Clone, Copy)]
pub enum Live<'a> {
    /// Read, or nothing to read (`None`: the recipe reads nothing, or the thing it reads does not exist yet).
    Facts(Option<&'a Facts>),
    /// ServiceTitan no longer has the entity.
    Gone,
}

pub struct SendInput<'a> {
    pub now: Timestamp,
    pub recipe: &'a Recipe,
    pub position: Position,
    /// When the step's latest moment is, if it has one ([`crate::timing::deadline`]).
    pub deadline: Option<Timestamp>,
    /// When a hold on this step started (the first deferral for it).
    pub held_since: Option<Timestamp>,
    /// The run's anchor (for a step's after-hours notice, which goes only within minutes of it).
    pub anchor: Timestamp,
    /// `estimate:90211`: what a state's per-subject cap counts by.
    pub subject: &'a str,
    pub tenant: TenantRules<'a>,
    pub live: Live<'a>,
    /// The address for the step's channel.
    pub recipient: Result<&'a str, NoRecipient>,
    /// The values the templates render with.
    pub vars: &'a BTreeMap<&'a str, String>,
    pub opt_outs: OptOuts,
    /// Consent recorded for the address on the step's channel.
    pub consent: Option<&'a Recorded>,
    /// The recipient's sends within the cap's period, in the message's class.
    pub recent_sends: &'a [Sent],
    pub window: &'a Policy,
    /// No text from this tenant has gone to this number before.
    pub first_text: bool,
}

/// The sentence the first text to a number ends with (CTIA's messaging principles).
pub const OPT_OUT_NOTICE: &str = "Reply STOP to opt out.";

/// The longest message a follow-up carries, in characters (`docs/followup.schema.json`'s `message.text`). A template
/// within its own cap can still pass it once its values are filled in; such a step is skipped, not cut short.
pub const MAX_MESSAGE_CHARS: usize = 4000;

pub fn check(input: &SendInput<'_>) -> Verdict {
    let recipe = input.recipe;
    let step = &recipe.steps[input.position.step];
    // 1. Tenant and recipe.
    if !input.tenant.connected {
        return halt(HaltReason::TenantDisconnected);
    }
    if !input.tenant.recipe_enabled {
        return halt(HaltReason::RecipeDisabled);
    }
    // 2. Live state and holds.
    let facts = match input.live {
        Live::Gone => return halt(HaltReason::EntityGone),
        Live::Facts(f) => f,
    };
    // (Facts of another kind, such as the invoice a review waits for, only ever hold a step.)
    if let Some(facts) = facts.filter(|f| f.kind == recipe.subject) {
        if let Some(reason) = stop_reason(recipe, None, facts, input.now) {
            return Verdict::Halt {
                reason,
                goal: goal_reached(recipe, facts, input.now),
            };
        }
        if facts.status == Status::Unknown {
            return halt(HaltReason::StateUnknown);
        }
    }
    if let Some(hold) = &recipe.hold_while {
        let eval = recipe.eval(input.now);
        let waiting = facts.is_some_and(|f| hold.states.iter().any(|c| c.holds(f, &eval)))
            || (!hold.until.is_empty() && !facts.is_some_and(|f| hold.until.iter().all(|c| c.holds(f, &eval))));
        if waiting {
            let since = input.held_since.unwrap_or(input.now);
            if since + hold.give_up_after <= input.now {
                return skip(SkipReason::HeldTooLong);
            }
            return Verdict::Defer {
                until: ceil_second(input.now + hold.recheck_every),
                reason: DeferReason::Held,
            };
        }
    }
    // 3. Deadline, channel, recipient.
    if input.deadline.is_some_and(|d| input.now > d) {
        return skip(SkipReason::TooLate);
    }
    if !input.tenant.channels.contains(&step.channel) {
        return skip(SkipReason::ChannelDisabled);
    }
    if let Err(e) = input.recipient {
        return skip(SkipReason::NoRecipient(e));
    }
    // 4. The opt-out ledger.
    if input.opt_outs.all {
        return halt(HaltReason::OptedOut);
    }
    if input.opt_outs.channel {
        return skip(SkipReason::OptedOut);
    }
    // 5. Consent.
    let Ok(basis) = consent::basis(
        step.channel,
        recipe.message_class,
        input.tenant.ai_call_consent,
        input.consent,
    ) else {
        return skip(SkipReason::NoCallConsent);
    };
    // 6. The message.
    let main = match step.template.render(input.vars) {
        Ok(t) => t,
        Err(var) => return skip(SkipReason::MissingValue(var)),
    };
    let limits = Limits::of(input.tenant.cap, input.window, input.subject);
    let plan = |text: String, after_hours: bool| {
        let template = match (&step.after_hours, after_hours) {
            (Some(a), true) => &a.template,
            _ => &step.template,
        };
        let booking_link = template.uses("bookingUrl") && input.vars.contains_key("bookingUrl");
        let opt_out_notice = step.channel == Channel::Sms && input.first_text && !mentions_stop(&text);
        let text = if opt_out_notice {
            format!("{text} {OPT_OUT_NOTICE}")
        } else {
            text
        };
        let chars = text.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return skip(SkipReason::TooLong(chars));
        }
        Verdict::Send(Box::new(SendPlan {
            text,
            after_hours,
            consent: basis.clone(),
            opt_out_notice,
            booking_link,
        }))
    };
    // 7. The window, recipient-local.
    let Some(opening) = input.window.next_opening(input.now) else {
        return skip(SkipReason::NoSendWindow);
    };
    if opening > input.now {
        // A missed call at night: the closed notice, by SMS, as the answer to the person's own call.
        if input.tenant.after_hours_notice
            && step.channel == Channel::Sms
            && recipe.subject == domain::event::EntityKind::Call
            && let Some(a) = &step.after_hours
            && input.now <= input.anchor + a.within
            && input.window.closed_by(input.now) == Some(Closed::QuietHours)
        {
            if let Some((until, reason)) = limits.opening(input.recent_sends, input.now) {
                return defer_unless_too_late(input, until, reason);
            }
            return match a.template.render(input.vars) {
                Ok(text) => plan(text, true),
                Err(var) => skip(SkipReason::MissingValue(var)),
            };
        }
        let reason = match input.window.closed_by(input.now) {
            Some(Closed::StateRule(rule)) => DeferReason::StateRule(rule),
            _ => DeferReason::QuietHours,
        };
        return defer_unless_too_late(input, opening, reason);
    }
    // 8. The caps.
    if let Some((until, reason)) = limits.opening(input.recent_sends, input.now) {
        return defer_unless_too_late(input, until, reason);
    }
    plan(main, false)
}

/// Whether a text already tells the reader how to opt out.
fn mentions_stop(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).any(|w| w == "STOP")
}

fn defer_unless_too_late(input: &SendInput<'_>, until: Timestamp, reason: DeferReason) -> Verdict {
    if input.deadline.is_some_and(|d| until > d) {
        return skip(SkipReason::TooLate);
    }
    Verdict::Defer {
        until: ceil_second(until),
        reason,
    }
}

fn halt(reason: HaltReason) -> Verdict {
    Verdict::Halt { reason, goal: None }
}

fn skip(reason: SkipReason) -> Verdict {
    Verdict::Skip { reason }
}

/// The tenant's quiet hours as times (`HH:MM`), if both parse.
pub fn quiet_hours(start: &str, end: &str) -> Option<(Time, Time)> {
    let parse = |t: &str| -> Option<Time> {
        let (h, m) = t.split_once(':')?;
        Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
    };
    Some((parse(start)?, parse(end)?))
}

#[cfg(test)]
mod tests;
