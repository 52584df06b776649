//! When steps fire. A run has an anchor (the triggering event, or an appointment's start or window end); a step
//! fires at anchor + delay, optionally moved to a local time of day (the evening before a visit), and repeating
//! recipes start each round `everyDays` local days after the last.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use serde::{Deserialize, Serialize};

use crate::recipe::Recipe;

/// A point in a run: a step of a round (both from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub step: usize,
    pub round: u32,
}

impl Position {
    pub const START: Position = Position { step: 0, round: 0 };
}

/// Why a step was passed over when planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Passed {
    /// The tenant switched the step off.
    Disabled,
    /// Its latest moment (`latest`) is already behind us.
    TooLate,
    /// Its moment had passed when the entity was found in the reconciler's lookback (a tenant connecting, a
    /// recipe switched on): nothing old is chased.
    BeforeEnrolment,
}

/// The next step to fire and when, with the steps passed over on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub position: Position,
    pub at: Timestamp,
    pub passed: Vec<(Position, Passed)>,
}

/// The anchor of a round: `everyDays` local calendar days per round after the run's anchor (so a round starts at the
/// same local time of day across a daylight-saving change).
pub fn round_anchor(recipe: &Recipe, anchor: Timestamp, round: u32, tz: &TimeZone) -> Timestamp {
    let Some(repeat) = recipe.repeat.filter(|_| round > 0) else {
        return anchor;
    };
    let days = repeat.every_days * i64::from(round);
    anchor
        .to_zoned_datetime(tz.clone())
        .checked_add(Span::new().days(days))
        .map(|z| z.timestamp())
        .unwrap_or(anchor)
}

/// When the step at `pos` is due.
pub fn step_time(recipe: &Recipe, pos: Position, anchor: Timestamp, tz: &TimeZone) -> Timestamp {
    let step = &recipe.steps[pos.step];
    let base = round_anchor(recipe, anchor, pos.round, tz) + step.delay;
    match step.at_local_time {
        None => base,
        Some(time) => {
            let date = base.to_zoned_datetime(tz.clone()).date();
            tz.to_timestamp(date.to_datetime(time)).unwrap_or(base)
        }
    }
}

/// The latest moment the step at `pos` may still be sent, if the recipe sets one.
pub fn deadline(recipe: &Recipe, pos: Position, anchor: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let latest = recipe.steps[pos.step].latest?;
    Some(round_anchor(recipe, anchor, pos.round, tz) + latest)
}

/// The position after `pos`: the next step, or the first step of the next round, or none.
pub fn after(recipe: &Recipe, pos: Position) -> Option<Position> {
    if pos.step + 1 < recipe.steps.len() {
        return Some(Position {
            step: pos.step + 1,
            round: pos.round,
        });
    }
    let repeat = recipe.repeat?;
    (pos.round + 1 < repeat.rounds()).then_some(Position {
        step: 0,
        round: pos.round + 1,
    })
}

/// What comes next in a run: the step to fire, or (when nothing is left) the steps passed over on the way.
pub type Plan = Result<Planned, Vec<(Position, Passed)>>;

/// The first position from `from` (inclusive) that can still fire, and when: never before `now`. Disabled steps
/// and steps past their latest moment are passed over. When nothing is left, the error lists what was passed
/// over, so the run's record still counts those steps.
pub fn plan(recipe: &Recipe, from: Position, anchor: Timestamp, tz: &TimeZone, now: Timestamp) -> Plan {
    plan_with(recipe, from, anchor, tz, now, None)
}

/// [`plan`] for an entity found in the reconciler's lookback at `found`: steps whose moment had passed by then are
/// passed over rather than sent at once, so only what was still ahead is planned (the 72-hour call of an estimate
/// sent two days before).
pub fn plan_ahead(
    recipe: &Recipe,
    from: Position,
    anchor: Timestamp,
    tz: &TimeZone,
    now: Timestamp,
    found: Timestamp,
) -> Plan {
    plan_with(recipe, from, anchor, tz, now, Some(found))
}

fn plan_with(
    recipe: &Recipe,
    from: Position,
    anchor: Timestamp,
    tz: &TimeZone,
    now: Timestamp,
    found: Option<Timestamp>,
) -> Plan {
    let mut passed = Vec::new();
    let mut pos = Some(from);
    while let Some(p) = pos {
        if p.step >= recipe.steps.len() {
            break;
        }
        if !recipe.steps[p.step].enabled {
            passed.push((p, Passed::Disabled));
        } else {
            // Due already: now (sent at once). Due later: on a whole second (Scheduler's precision), never early.
            let due = step_time(recipe, p, anchor, tz);
            if found.is_some_and(|f| due < f) {
                passed.push((p, Passed::BeforeEnrolment));
                pos = after(recipe, p);
                continue;
            }
            let at = if due <= now {
                now
            } else {
                crate::window::ceil_second(due)
            };
            match deadline(recipe, p, anchor, tz) {
                Some(d) if at > d => passed.push((p, Passed::TooLate)),
                _ => {
                    return Ok(Planned {
                        position: p,
                        at,
                        passed,
                    });
                }
            }
        }
        pos = after(recipe, p);
    }
    Err(passed)
}

/// What comes after the step at `done`: [`plan`] from the next position, if there is one.
pub fn plan_after(recipe: &Recipe, done: Position, anchor: Timestamp, tz: &TimeZone, now: Timestamp) -> Plan {
    match after(recipe, done) {
        Some(next) => plan(recipe, next, anchor, tz, now),
        None => Err(Vec::new()),
    }
}

/// Waits between delivery retries to the AI platform: 1, 2, 4 ... minutes, capped at an hour, with the second
/// half of each wait random ("equal jitter"), so retries after an outage do not all land at once.
pub fn retry_delay(retry: u32, jitter: u64) -> SignedDuration {
    let base = 60i64.saturating_mul(1i64 << retry.min(20)).min(3600);
    let half = base / 2;
    SignedDuration::from_secs(half + (jitter % (half as u64 + 1)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::Catalogue;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn chicago() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    #[test]
    fn estimate_steps_count_from_the_event() {
        let c = Catalogue::load().unwrap();
        let r = c.get("estimate_follow_up").unwrap();
        let sent = t("2026-12-01T15:00:00Z");
        assert_eq!(
            step_time(r, Position::START, sent, &chicago()),
            t("2026-12-02T15:00:00Z")
        );
        assert_eq!(
            step_time(r, Position { step: 1, round: 0 }, sent, &chicago()),
            t("2026-12-04T15:00:00Z")
        );
        assert_eq!(after(r, Position { step: 1, round: 0 }), None);
    }

    #[test]
    fn reminders_go_the_evening_before_and_never_after_the_latest_moment() {
        let c = Catalogue::load().unwrap();
        let r = c.get("appointment_reminder").unwrap();
        let visit = t("2026-12-10T15:00:00Z"); // 09:00 in Chicago
        let booked = t("2026-12-01T15:00:00Z");
        let planned = plan(r, Position::START, visit, &chicago(), booked).unwrap();
        assert_eq!(planned.at, t("2026-12-10T00:00:00Z"), "18:00 Chicago the day before");
        // Booked at 20:00 the evening before: as soon as possible.
        let late = t("2026-12-10T02:00:00Z");
        assert_eq!(plan(r, Position::START, visit, &chicago(), late).unwrap().at, late);
        // Booked an hour before the visit: too late for a reminder.
        let planned = plan(r, Position::START, visit, &chicago(), t("2026-12-10T14:00:00Z"));
        assert_eq!(planned, Err(vec![(Position::START, Passed::TooLate)]));
    }

    #[test]
    fn dunning_repeats_every_seven_local_days_then_ends() {
        let c = Catalogue::load().unwrap();
        let r = c.get("invoice_dunning").unwrap();
        let start = t("2027-03-08T15:00:00Z"); // 09:00 CST, before the DST change on the 14th
        let round2 = step_time(r, Position { step: 0, round: 1 }, start, &chicago());
        assert_eq!(round2, t("2027-03-15T14:00:00Z"), "still 09:00 local, now CDT");
        let mut pos = Position::START;
        let mut count = 1;
        while let Some(next) = after(r, pos) {
            pos = next;
            count += 1;
        }
        assert_eq!(
            count,
            2 * 52,
            "two steps a round, until a stop condition (paid, or past its age) or a year"
        );
        let three = r
            .with_override(&serde_json::json!({"repeat": {"everyDays": 7, "maxTimes": 3}}))
            .unwrap();
        let (mut pos, mut count) = (Position::START, 1);
        while let Some(next) = after(&three, pos) {
            pos = next;
            count += 1;
        }
        assert_eq!(count, 6, "two steps, three rounds");
    }

    #[test]
    fn disabled_steps_are_passed_over() {
        let c = Catalogue::load().unwrap();
        let r = c
            .get("estimate_follow_up")
            .unwrap()
            .with_override(&serde_json::json!({"steps": [{"id": "sms_24h", "enabled": false}]}))
            .unwrap();
        let sent = t("2026-12-01T15:00:00Z");
        let planned = plan(&r, Position::START, sent, &chicago(), sent).unwrap();
        assert_eq!(planned.position, Position { step: 1, round: 0 });
        assert_eq!(planned.passed, vec![(Position::START, Passed::Disabled)]);
    }

    #[test]
    fn steps_disabled_at_the_end_are_still_reported_when_nothing_is_left() {
        let c = Catalogue::load().unwrap();
        let r = c
            .get("estimate_follow_up")
            .unwrap()
            .with_override(&serde_json::json!({"steps": [{"id": "call_72h", "enabled": false}]}))
            .unwrap();
        let sent = t("2026-12-01T15:00:00Z");
        let done = Position::START;
        assert_eq!(
            plan_after(&r, done, sent, &chicago(), sent),
            Err(vec![(Position { step: 1, round: 0 }, Passed::Disabled)])
        );
        assert_eq!(
            plan_after(&r, Position { step: 1, round: 0 }, sent, &chicago(), sent),
            Err(vec![])
        );
    }

    #[test]
    fn retry_delays_grow_and_are_bounded() {
        for retry in 0..12 {
            for jitter in [0, 7, u64::MAX] {
                let d = retry_delay(retry, jitter).as_secs();
                let base = (60i64 << retry).min(3600);
                assert!(d >= base / 2 && d <= base, "retry {retry}: {d}");
            }
        }
    }
}
