//! When a recipient may be contacted, in *their* local time.
//!
//! The allowed hours of a day are the intersection of:
//! - the federal window, 08:00–21:00 (47 CFR 64.1200(c)(1)), for every class of message;
//! - for solicitation and marketing, the recipient's state's rule ([`crate::state_rules`]): its hours, forbidden
//!   days and holidays;
//! - the tenant's quiet hours (a contractor may be stricter, never looser);
//! - the recipe's own send window, if it has one.
//!
//! Where the recipient's zone is not certain (a ZIP area that straddles a zone line, an area code that spans two),
//! the policy holds several candidate zones, and a moment is allowed only if it is allowed in every one of them:
//! the window that all of them allow.
//!
//! A message outside the window is moved to the next opening, never dropped. Local times are turned into instants
//! through the time zone database, so daylight-saving changes need no special cases.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::recipe::{LocalWindow, MessageClass};
use crate::state_rules::{self, StateRule};

/// Minutes since local midnight, half-open intervals `[start, end)`.
type Minutes = (u16, u16);

const DAY: u16 = 24 * 60;
const FEDERAL: Minutes = (8 * 60, 21 * 60);

fn minutes(t: Time) -> u16 {
    t.hour() as u16 * 60 + t.minute() as u16
}

/// Who is contacted and under which rules.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The recipient's zone, or the candidates when it is not certain (never empty).
    pub zones: Vec<TimeZone>,
    /// Two-letter state code of the recipient's address, when known.
    pub state: Option<String>,
    pub class: MessageClass,
    /// The tenant's quiet hours `(start, end)`, local; may wrap past midnight (21:00–08:00).
    pub tenant_quiet: Option<(Time, Time)>,
    pub recipe_window: Option<LocalWindow>,
}

/// Why a moment is outside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The federal window, the tenant's quiet hours or the recipe's window.
    QuietHours,
    /// The recipient's state's rule for sales messages.
    StateRule(&'static StateRule),
}

/// A day's allowed intervals: at most a few, so kept inline (the check before send runs for every step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    items: [Minutes; 4],
    len: usize,
}

impl Intervals {
    const EMPTY: Self = Self {
        items: [(0, 0); 4],
        len: 0,
    };

    fn one(m: Minutes) -> Self {
        let mut out = Self::EMPTY;
        out.push(m);
        out
    }

    fn push(&mut self, m: Minutes) {
        // Intersections of sorted, disjoint intervals never produce more than the inputs hold.
        if self.len < self.items.len() {
            self.items[self.len] = m;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[Minutes] {
        &self.items[..self.len]
    }

    fn intersect(&self, other: &[Minutes]) -> Self {
        let mut out = Self::EMPTY;
        for &(s1, e1) in self.as_slice() {
            for &(s2, e2) in other {
                let (s, e) = (s1.max(s2), e1.min(e2));
                if s < e {
                    out.push((s, e));
                }
            }
        }
        out.items[..out.len].sort_unstable();
        out
    }
}

impl Policy {
    /// A policy for one certain zone.
    pub fn single(time_zone: TimeZone, state: Option<String>, class: MessageClass) -> Self {
        Self {
            zones: vec![time_zone],
            state,
            class,
            tenant_quiet: None,
            recipe_window: None,
        }
    }

    /// The state's rule, when it applies to this class of message.
    pub fn state_rule(&self) -> Option<&'static StateRule> {
        if !self.class.is_sales() {
            return None;
        }
        self.state.as_deref().and_then(state_rules::rule_for)
    }

    /// The allowed local intervals on `date`, without the state's rule (`false`) or with it (`true`).
    fn allowed(&self, date: Date, with_state: bool) -> Intervals {
        let mut allowed = Intervals::one(FEDERAL);
        if with_state && let Some(rule) = self.state_rule() {
            allowed = match rule.allowed_on(date) {
                Some(w) => allowed.intersect(&[w]),
                None => Intervals::EMPTY,
            };
        }
        if let Some((quiet_start, quiet_end)) = self.tenant_quiet {
            let (qs, qe) = (minutes(quiet_start), minutes(quiet_end));
            allowed = if qs == qe {
                allowed
            } else if qs > qe {
                allowed.intersect(&[(qe, qs)]) // quiet wraps midnight: open in between
            } else {
                allowed.intersect(&[(0, qs), (qe, DAY)])
            };
        }
        if let Some(w) = self.recipe_window {
            allowed = allowed.intersect(&[(minutes(w.start), minutes(w.end))]);
        }
        allowed
    }

    /// The allowed local intervals on `date`.
    pub fn allowed_on(&self, date: Date) -> Vec<Minutes> {
        self.allowed(date, true).as_slice().to_vec()
    }

    /// `now` if allowed in `tz`, else the start of its next opening there (within a week).
    fn opening_in(&self, tz: &TimeZone, now: Timestamp, with_state: bool) -> Option<Timestamp> {
        let local = tz.to_datetime(now);
        let today = local.date();
        // The common case, open now: decided on the wall clock, without turning the bounds into instants.
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        if self
            .allowed(today, with_state)
            .as_slice()
            .iter()
            .any(|&(start, end)| start <= minute && minute < end)
        {
            return Some(now);
        }
        for offset in 0..8 {
            let date = today.checked_add(jiff::Span::new().days(offset)).ok()?;
            for &(start, end) in self.allowed(date, with_state).as_slice() {
                let at = |m: u16| -> Option<Timestamp> {
                    let dt = if m >= DAY {
                        date.tomorrow().ok()?.to_datetime(Time::midnight())
                    } else {
                        date.to_datetime(Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).ok()?)
                    };
                    tz.to_timestamp(dt).ok()
                };
                let (open, close) = (at(start)?, at(end)?);
                if now < close {
                    return Some(now.max(open));
                }
            }
        }
        None
    }

    /// The first moment from `now` allowed in every candidate zone.
    fn opening(&self, now: Timestamp, with_state: bool) -> Option<Timestamp> {
        let horizon = now + SignedDuration::from_hours(24 * 8);
        let mut t = now;
        // Each zone moves `t` to its next opening; when none moves it, every zone allows it.
        for _ in 0..64 {
            let mut latest = t;
            for tz in &self.zones {
                latest = latest.max(self.opening_in(tz, t, with_state)?);
            }
            if latest == t {
                return Some(t);
            }
            if latest > horizon {
                return None;
            }
            t = latest;
        }
        None
    }

    /// `now` if a message may go out now, else the start of the next opening (within a week), or `None` when the
    /// rules leave no opening at all.
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        self.opening(now, true)
    }

    /// Why `now` is outside the window, if it is: the state's rule when the rest would allow it.
    pub fn closed_by(&self, now: Timestamp) -> Option<Closed> {
        if self.next_opening(now) == Some(now) {
            return None;
        }
        match self.state_rule() {
            Some(rule) if self.opening(now, false) == Some(now) => Some(Closed::StateRule(rule)),
            _ => Some(Closed::QuietHours),
        }
    }

    pub fn allows(&self, now: Timestamp) -> bool {
        self.next_opening(now) == Some(now)
    }
}

/// Rounds up to a whole second: Scheduler's `at()` has second precision, and rounding down could fire a message a
/// fraction of a second before the window opens.
pub fn ceil_second(t: Timestamp) -> Timestamp {
    let whole = Timestamp::from_second(t.as_second()).unwrap_or(t);
    if whole < t {
        whole + SignedDuration::from_secs(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn policy(tz: &str, state: Option<&str>, class: MessageClass) -> Policy {
        Policy {
            zones: vec![TimeZone::get(tz).unwrap()],
            state: state.map(str::to_owned),
            class,
            tenant_quiet: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
            recipe_window: None,
        }
    }

    #[test]
    fn outside_the_window_waits_for_eight_local_across_a_dst_change() {
        // 2027-03-14 is the spring-forward Sunday in the US: 08:00 EDT is 12:00 UTC, not 13:00 as the day before.
        let ny = policy("America/New_York", Some("NY"), MessageClass::Transactional);
        assert_eq!(
            ny.next_opening(t("2027-03-14T06:30:00Z")),
            Some(t("2027-03-14T12:00:00Z"))
        );
        assert_eq!(
            ny.next_opening(t("2027-03-13T06:30:00Z")),
            Some(t("2027-03-13T13:00:00Z"))
        );
        // Fall back (2027-11-07): 08:00 EST is 13:00 UTC.
        assert_eq!(
            ny.next_opening(t("2027-11-07T05:00:00Z")),
            Some(t("2027-11-07T13:00:00Z"))
        );
        // 21:30 local: next morning.
        assert_eq!(
            ny.next_opening(t("2027-06-02T01:30:00Z")),
            Some(t("2027-06-02T12:00:00Z"))
        );
        // Inside the window: now.
        let noon = t("2027-06-02T16:00:00Z");
        assert_eq!(ny.next_opening(noon), Some(noon));
        assert!(ny.allows(noon));
    }

    #[test]
    fn marketing_in_strict_states_and_stricter_tenants() {
        // 20:30 in Miami: fine for a transactional text, too late for marketing.
        let at = t("2027-06-03T00:30:00Z");
        assert!(policy("America/New_York", Some("FL"), MessageClass::Transactional).allows(at));
        let fl = policy("America/New_York", Some("FL"), MessageClass::Solicitation);
        assert_eq!(fl.next_opening(at), Some(t("2027-06-03T12:00:00Z")));
        // A Texas Sunday morning: marketing waits for noon.
        let tx = policy("America/Chicago", Some("TX"), MessageClass::Marketing);
        assert_eq!(
            tx.next_opening(t("2027-06-06T15:00:00Z")),
            Some(t("2027-06-06T17:00:00Z"))
        );
        // A tenant quiet from 18:00: the window closes early.
        let mut strict = policy("America/Chicago", None, MessageClass::Transactional);
        strict.tenant_quiet = Some((Time::constant(18, 0, 0, 0), Time::constant(9, 30, 0, 0)));
        assert_eq!(
            strict.next_opening(t("2027-06-02T23:30:00Z")),
            Some(t("2027-06-03T14:30:00Z"))
        );
        // A quiet lunch hour that does not wrap.
        strict.tenant_quiet = Some((Time::constant(12, 0, 0, 0), Time::constant(13, 0, 0, 0)));
        assert_eq!(
            strict.next_opening(t("2027-06-02T17:15:00Z")),
            Some(t("2027-06-02T18:00:00Z"))
        );
        // Rules that never overlap: no opening.
        strict.recipe_window = Some(LocalWindow {
            start: Time::constant(22, 0, 0, 0),
            end: Time::constant(23, 0, 0, 0),
        });
        assert_eq!(strict.next_opening(t("2027-06-02T17:15:00Z")), None);
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(ceil_second(t("2027-01-01T00:00:00.2Z")), t("2027-01-01T00:00:01Z"));
        assert_eq!(ceil_second(t("2027-01-01T00:00:00Z")), t("2027-01-01T00:00:00Z"));
    }
}
