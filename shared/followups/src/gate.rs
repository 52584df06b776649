//! Check before send: at fire time, whether a step goes out now, waits, is skipped, or ends its run.
//!
//! The checks run in this order, and the first that fails decides:
//! 1. the tenant is connected and the recipe still enabled;
//! 2. the entity's live state (a stop state ends the run with its goal, a hold waits), and someone to send to
//!    (ServiceTitan's `doNotText` / `doNotMail` flags are honoured here);
//! 3. the tenant's opt-out ledger, for the step's channel and for all channels;
//! 4. quiet hours in the recipient's local time ([`crate::window`]);
//! 5. the per-recipient cap across all recipes.
//!
//! Nothing is dropped for being at the wrong time: it is deferred to the next moment it may go, unless the step has
//! a latest moment that has passed.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use shared::tenant_settings::Channel;

use crate::decide::{GoalReached, HaltReason, goal_reached, stop_reason};
use crate::facts::Facts;
use crate::recipe::Recipe;
use crate::recipient::NoRecipient;
use crate::timing::Position;
use crate::window::{Policy, ceil_second};

/// At most `messages` per recipient in any rolling `per`.
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
        let mut within: Vec<Timestamp> = recent.iter().copied().filter(|t| *t > now - self.per).collect();
        if (within.len() as u32) < self.messages {
            return None;
        }
        within.sort_unstable();
        // The oldest sends that must age out before one more fits.
        let must_expire = within.len() + 1 - self.messages as usize;
        Some(within[must_expire - 1] + self.per)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    QuietHours,
    Cap,
    /// A hold condition (the review waits for the invoice to be paid).
    Held,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum SkipReason {
    NoRecipient(NoRecipient),
    /// The tenant does not use this channel.
    ChannelDisabled,
    OptedOut,
    /// The step's latest moment passed while it waited.
    TooLate,
    HeldTooLong,
    /// The quiet-hour rules leave no opening in the next week.
    NoSendWindow,
    /// The template needs a value the tenant or entity does not have (e.g. a booking link).
    MissingValue(String),
}

impl SkipReason {
    pub fn code(&self) -> String {
        match self {
            Self::NoRecipient(n) => n.code().to_owned(),
            Self::ChannelDisabled => "channel_disabled".into(),
            Self::OptedOut => "opted_out".into(),
            Self::TooLate => "too_late".into(),
            Self::HeldTooLong => "held_too_long".into(),
            Self::NoSendWindow => "no_send_window".into(),
            Self::MissingValue(v) => format!("missing_{}", v.replace('.', "_")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send the step's after-hours notice now, instead of its message at the next opening.
    SendAfterHours,
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
    pub all: bool,
}

pub struct SendInput<'a> {
    pub now: Timestamp,
    pub recipe: &'a Recipe,
    pub position: Position,
    /// When the step's latest moment is, if it has one ([`crate::timing::deadline`]).
    pub deadline: Option<Timestamp>,
    /// When a hold on this step started (the first deferral for it).
    pub held_since: Option<Timestamp>,
    pub tenant_connected: bool,
    pub recipe_enabled: bool,
    pub tenant_channels: &'a [Channel],
    /// The live facts [`Recipe::check_at_send`] asks for; `None` when it asks for none.
    pub facts: Option<&'a Facts>,
    /// The address for the step's channel.
    pub recipient: Result<&'a str, NoRecipient>,
    /// The rendered message, or the variable it lacked.
    pub message: Result<&'a str, &'a str>,
    pub opt_outs: OptOuts,
    /// The recipient's sends within the cap's period, any recipe.
    pub recent_sends: &'a [Timestamp],
    pub cap: Cap,
    pub window: &'a Policy,
    /// The run's anchor (for a step's after-hours notice, which goes only within minutes of it).
    pub anchor: Timestamp,
    /// The tenant sends steps' after-hours notices at once instead of waiting for the window.
    pub after_hours_notice: bool,
}

pub fn check(input: &SendInput<'_>) -> Verdict {
    let recipe = input.recipe;
    let step = &recipe.steps[input.position.step];
    // 1. Tenant and recipe.
    if !input.tenant_connected {
        return halt(HaltReason::TenantDisconnected);
    }
    if !input.recipe_enabled {
        return halt(HaltReason::RecipeDisabled);
    }
    // 2. Live state, hold, recipient.
    if let Some(facts) = input.facts {
        if facts.kind == recipe.subject
            && let Some(reason) = stop_reason(recipe, None, facts, input.now)
        {
            return Verdict::Halt {
                reason,
                goal: goal_reached(recipe, facts, input.now),
            };
        }
        if let Some(hold) = &recipe.hold_while {
            let eval = recipe.eval(input.now);
            if hold.states.iter().any(|c| c.holds(facts, &eval)) {
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
    }
    if input.deadline.is_some_and(|d| input.now > d) {
        return skip(SkipReason::TooLate);
    }
    if !input.tenant_channels.contains(&step.channel) {
        return skip(SkipReason::ChannelDisabled);
    }
    if let Err(e) = input.recipient {
        return skip(SkipReason::NoRecipient(e));
    }
    if let Err(var) = input.message {
        return skip(SkipReason::MissingValue(var.to_owned()));
    }
    // 3. The opt-out ledger.
    if input.opt_outs.all {
        return halt(HaltReason::OptedOut);
    }
    if input.opt_outs.channel {
        return skip(SkipReason::OptedOut);
    }
    // 4. Quiet hours, recipient-local.
    let Some(opening) = input.window.next_opening(input.now) else {
        return skip(SkipReason::NoSendWindow);
    };
    if opening > input.now {
        if input.after_hours_notice
            && step
                .after_hours
                .as_ref()
                .is_some_and(|a| input.now <= input.anchor + a.within)
        {
            return after_hours_or_cap(input);
        }
        return defer_unless_too_late(input, opening, DeferReason::QuietHours);
    }
    // 5. The per-recipient cap.
    if let Some(opening) = input.cap.opening(input.recent_sends, input.now) {
        return defer_unless_too_late(input, opening, DeferReason::Cap);
    }
    Verdict::Send
}

/// The after-hours notice still respects the cap.
fn after_hours_or_cap(input: &SendInput<'_>) -> Verdict {
    match input.cap.opening(input.recent_sends, input.now) {
        Some(opening) => defer_unless_too_late(input, opening, DeferReason::Cap),
        None => Verdict::SendAfterHours,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Status;
    use crate::recipe::{Catalogue, MessageClass};
    use jiff::civil::Time;
    use jiff::tz::TimeZone;
    use shared::event::EntityKind;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn chicago_policy() -> Policy {
        Policy {
            time_zone: TimeZone::get("America/Chicago").unwrap(),
            state: Some("TX".into()),
            class: MessageClass::Transactional,
            tenant_quiet: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
            recipe_window: None,
        }
    }

    struct Case {
        recipe: Recipe,
        facts: Option<Facts>,
        now: Timestamp,
        recent: Vec<Timestamp>,
        opt_outs: OptOuts,
        recipient: Result<&'static str, NoRecipient>,
        held_since: Option<Timestamp>,
        connected: bool,
    }

    impl Case {
        fn estimate(status: Status, now: &str) -> Self {
            let c = Catalogue::load().unwrap();
            Self {
                recipe: c.get("estimate_follow_up").unwrap().clone(),
                facts: Some(Facts::new(EntityKind::Estimate, "1", t("2026-12-01T00:00:00Z"), status)),
                now: t(now),
                recent: Vec::new(),
                opt_outs: OptOuts::default(),
                recipient: Ok("+15125550100"),
                held_since: None,
                connected: true,
            }
        }

        fn verdict(&self) -> Verdict {
            let policy = chicago_policy();
            check(&SendInput {
                anchor: self.now,
                after_hours_notice: false,
                now: self.now,
                recipe: &self.recipe,
                position: Position::START,
                deadline: None,
                held_since: self.held_since,
                tenant_connected: self.connected,
                recipe_enabled: true,
                tenant_channels: &[Channel::Sms, Channel::Email, Channel::Voice],
                facts: self.facts.as_ref(),
                recipient: self.recipient,
                message: Ok("hello"),
                opt_outs: self.opt_outs,
                recent_sends: &self.recent,
                cap: Cap::default(),
                window: &policy,
            })
        }
    }

    #[test]
    fn a_missed_call_at_night_gets_the_closed_notice_only_if_the_tenant_chose_it_and_only_at_once() {
        let c = Catalogue::load().unwrap();
        let recipe = c.get("missed_call_text_back").unwrap();
        let policy = chicago_policy();
        let night = t("2026-12-03T05:00:00Z"); // 23:00 in Chicago
        let verdict = |anchor: Timestamp, notice: bool| {
            check(&SendInput {
                anchor,
                after_hours_notice: notice,
                now: night,
                recipe,
                position: Position::START,
                deadline: None,
                held_since: None,
                tenant_connected: true,
                recipe_enabled: true,
                tenant_channels: &[Channel::Sms],
                facts: None,
                recipient: Ok("+15125550100"),
                message: Ok("hello"),
                opt_outs: OptOuts::default(),
                recent_sends: &[],
                cap: Cap::default(),
                window: &policy,
            })
        };
        let minutes = |m| SignedDuration::from_mins(m);
        assert_eq!(verdict(night - minutes(2), true), Verdict::SendAfterHours);
        assert!(matches!(
            verdict(night - minutes(2), false),
            Verdict::Defer {
                reason: DeferReason::QuietHours,
                ..
            }
        ));
        // A retry half an hour later no longer answers the call: the morning text instead.
        assert!(matches!(
            verdict(night - minutes(30), true),
            Verdict::Defer {
                reason: DeferReason::QuietHours,
                ..
            }
        ));
    }

    #[test]
    fn checks_run_in_order() {
        // Midday in Austin, an open estimate: send.
        let mut case = Case::estimate(Status::Open, "2026-12-02T18:00:00Z");
        assert_eq!(case.verdict(), Verdict::Send);
        // Sold: the run ends, whatever else is wrong.
        case.facts.as_mut().unwrap().status = Status::Sold;
        case.opt_outs.all = true;
        assert!(matches!(
            case.verdict(),
            Verdict::Halt {
                reason: HaltReason::State(_),
                goal: Some(_)
            }
        ));
        // Open but opted out of everything: halted.
        case.facts.as_mut().unwrap().status = Status::Open;
        assert_eq!(case.verdict(), halt(HaltReason::OptedOut));
        // Opted out of SMS only: this step is skipped.
        case.opt_outs = OptOuts {
            channel: true,
            all: false,
        };
        assert_eq!(case.verdict(), skip(SkipReason::OptedOut));
        // Disconnected comes first of all.
        case.connected = false;
        assert_eq!(case.verdict(), halt(HaltReason::TenantDisconnected));
    }

    #[test]
    fn do_not_text_skips_and_night_defers_to_the_morning() {
        let mut case = Case::estimate(Status::Open, "2026-12-02T04:00:00Z"); // 22:00 in Austin
        assert_eq!(
            case.verdict(),
            Verdict::Defer {
                until: t("2026-12-02T14:00:00Z"),
                reason: DeferReason::QuietHours
            }
        );
        case.recipient = Err(NoRecipient::DoNotText);
        assert_eq!(case.verdict(), skip(SkipReason::NoRecipient(NoRecipient::DoNotText)));
    }

    #[test]
    fn the_cap_defers_until_a_send_ages_out() {
        let mut case = Case::estimate(Status::Open, "2026-12-02T18:00:00Z");
        case.recent = vec![t("2026-12-02T10:00:00Z"), t("2026-12-02T15:00:00Z")];
        assert_eq!(
            case.verdict(),
            Verdict::Defer {
                until: t("2026-12-03T10:00:00Z"),
                reason: DeferReason::Cap
            }
        );
        case.recent = vec![t("2026-12-01T10:00:00Z"), t("2026-12-02T15:00:00Z")];
        assert_eq!(case.verdict(), Verdict::Send, "one of the two is older than 24 h");
        let cap = Cap {
            messages: 1,
            per: SignedDuration::from_hours(1),
        };
        assert_eq!(cap.opening(&[], t("2026-12-02T18:00:00Z")), None);
    }

    #[test]
    fn a_review_waits_for_payment_then_gives_up() {
        let c = Catalogue::load().unwrap();
        let mut case = Case::estimate(Status::Open, "2026-12-02T18:00:00Z");
        case.recipe = c.get("job_complete_review").unwrap().clone();
        case.facts = Some(Facts::new(
            EntityKind::Invoice,
            "9",
            t("2026-12-01T00:00:00Z"),
            Status::Unpaid,
        ));
        assert_eq!(
            case.verdict(),
            Verdict::Defer {
                until: t("2026-12-03T18:00:00Z"),
                reason: DeferReason::Held
            }
        );
        case.held_since = Some(t("2026-11-18T18:00:00Z"));
        assert_eq!(case.verdict(), skip(SkipReason::HeldTooLong));
        case.facts.as_mut().unwrap().status = Status::Paid;
        assert_eq!(case.verdict(), Verdict::Send);
    }
}
