//! State rules for sales messages: the hours, days, holidays and caps that states set for telephone solicitation
//! and telemarketing, beyond the federal 08:00–21:00 (47 CFR 64.1200(c)(1)). They apply to the solicitation and
//! marketing classes (an unsigned estimate's follow-up, a review request), by text and by AI call alike: several
//! states name texts, and an AI voice is an artificial voice (FCC 24-17).
//!
//! Where a statute is narrower than this table (only automated calls, an exemption for existing customers, a
//! holiday ban a state repealed for some callers), the row applies it anyway: a contractor can defend a message
//! held back, not one sent. The rows are a summary for engineers, not legal advice; the README lists them with
//! their sources.

use jiff::civil::Date;

use crate::holidays::{self, Extra};

/// Minutes since local midnight, `[start, end)`.
pub type Minutes = (u16, u16);

const fn h(start: u16, end: u16) -> Option<Minutes> {
    Some((start * 60, end * 60))
}

/// At most `messages` sales messages to one person within `hours`; on one subject only, or on any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCap {
    pub messages: u32,
    pub hours: i64,
    pub per_subject: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRule {
    pub state: &'static str,
    pub statute: &'static str,
    /// Allowed local hours, Monday to Sunday; `None`: no sales message that day.
    pub hours: [Option<Minutes>; 7],
    /// No sales message on legal holidays (the federal ones and these extras).
    pub holidays: Option<&'static [Extra]>,
    pub cap: Option<StateCap>,
    /// What the row summarises, for the README and the timeline.
    pub summary: &'static str,
}

const fn every_day(hours: Option<Minutes>) -> [Option<Minutes>; 7] {
    [hours; 7]
}

const THREE_A_DAY_PER_SUBJECT: Option<StateCap> = Some(StateCap {
    messages: 3,
    hours: 24,
    per_subject: true,
});

/// One row per state, in code order.
pub const STATE_RULES: &[StateRule] = &[
    StateRule {
        state: "AL",
        statute: "Ala. Admin. Code r. 770-X-5-.17(1)(b)",
        hours: [h(8, 20), h(8, 20), h(8, 20), h(8, 20), h(8, 20), h(8, 20), None],
        holidays: Some(&[]),
        cap: None,
        summary: "08:00–20:00; no Sundays or legal holidays",
    },
    StateRule {
        state: "CT",
        statute: "Conn. Gen. Stat. § 42-288a (P.A. 23-98)",
        hours: every_day(h(9, 20)),
        holidays: None,
        cap: None,
        summary: "09:00–20:00",
    },
    StateRule {
        state: "FL",
        statute: "Fla. Stat. § 501.616(6)(a)–(b)",
        hours: every_day(h(8, 20)),
        holidays: None,
        cap: THREE_A_DAY_PER_SUBJECT,
        summary: "08:00–20:00; at most 3 per 24 h on one subject",
    },
    StateRule {
        state: "KY",
        statute: "KRS 367.46955 (live solicitation); KRS 367.461(2)(e)",
        hours: every_day(h(10, 21)),
        holidays: None,
        cap: None,
        summary: "10:00–21:00",
    },
    StateRule {
        state: "LA",
        statute: "La. R.S. 45:844.11 et seq.; LPSC General Order R-29617",
        hours: [h(8, 20), h(8, 20), h(8, 20), h(8, 20), h(8, 20), h(8, 20), None],
        holidays: Some(&[Extra::MardiGras, Extra::GoodFriday]),
        cap: None,
        summary: "08:00–20:00; no Sundays or legal holidays",
    },
    StateRule {
        state: "MA",
        statute: "201 CMR 12.02(2)",
        hours: every_day(h(8, 20)),
        holidays: None,
        cap: None,
        summary: "08:00–20:00",
    },
    StateRule {
        state: "MD",
        statute: "Md. Code, Com. Law § 14-4502 (Stop the Spam Calls Act of 2023)",
        hours: every_day(h(8, 20)),
        holidays: None,
        cap: THREE_A_DAY_PER_SUBJECT,
        summary: "08:00–20:00; at most 3 per 24 h on one subject",
    },
    StateRule {
        state: "ME",
        statute: "10 M.R.S. § 1498(3)",
        hours: [h(9, 17), h(9, 17), h(9, 17), h(9, 17), h(9, 17), None, None],
        holidays: None,
        cap: Some(StateCap {
            messages: 1,
            hours: 8,
            per_subject: false,
        }),
        summary: "weekdays 09:00–17:00; at most 1 per 8 h",
    },
    StateRule {
        state: "MS",
        statute: "Miss. Code § 77-3-723(1)",
        hours: [h(8, 20), h(8, 20), h(8, 20), h(8, 20), h(8, 20), h(8, 20), None],
        holidays: None,
        cap: None,
        summary: "08:00–20:00; no Sundays",
    },
    StateRule {
        state: "NJ",
        statute: "N.J.S.A. 56:8-128(d)",
        hours: every_day(h(8, 21)),
        holidays: None,
        cap: None,
        summary: "08:00–21:00 (as federal)",
    },
    StateRule {
        state: "NV",
        statute: "NRS 597.814(2)",
        hours: every_day(h(9, 21)),
        holidays: None,
        cap: None,
        summary: "09:00–21:00",
    },
    StateRule {
        state: "OK",
        statute: "15 O.S. § 775C.4 (Telephone Solicitation Act of 2022)",
        hours: every_day(h(8, 20)),
        holidays: None,
        cap: THREE_A_DAY_PER_SUBJECT,
        summary: "08:00–20:00; at most 3 per 24 h on one subject",
    },
    StateRule {
        state: "PA",
        statute: "73 P.S. § 2245(a)(1), (a)(10)",
        hours: every_day(h(8, 21)),
        holidays: Some(&[Extra::GoodFriday, Extra::FlagDay, Extra::ElectionDay]),
        cap: None,
        summary: "08:00–21:00; no legal holidays",
    },
    StateRule {
        state: "RI",
        statute: "R.I. Gen. Laws §§ 5-61-2(2), 5-61-3.6",
        hours: [h(9, 18), h(9, 18), h(9, 18), h(9, 18), h(9, 18), h(10, 17), None],
        holidays: Some(&[Extra::RhodeIslandIndependence, Extra::VictoryDay, Extra::ElectionDay]),
        cap: None,
        summary: "weekdays 09:00–18:00, Saturdays 10:00–17:00; no Sundays or holidays",
    },
    StateRule {
        state: "SD",
        statute: "SDCL 37-30-28",
        hours: [h(9, 21), h(9, 21), h(9, 21), h(9, 21), h(9, 21), None, None],
        holidays: None,
        cap: None,
        summary: "weekdays 09:00–21:00",
    },
    StateRule {
        state: "TX",
        statute: "Tex. Bus. & Com. Code § 301.051",
        hours: [h(9, 21), h(9, 21), h(9, 21), h(9, 21), h(9, 21), h(9, 21), h(12, 21)],
        holidays: None,
        cap: None,
        summary: "09:00–21:00, Sundays 12:00–21:00",
    },
    StateRule {
        state: "UT",
        statute: "Utah Code § 13-25a-103(3)",
        hours: [h(8, 21), h(8, 21), h(8, 21), h(8, 21), h(8, 21), h(8, 21), None],
        holidays: Some(&[Extra::PioneerDay]),
        cap: None,
        summary: "08:00–21:00; no Sundays or legal holidays",
    },
    StateRule {
        state: "WA",
        statute: "RCW 19.158.040(2)",
        hours: every_day(h(8, 20)),
        holidays: None,
        cap: None,
        summary: "08:00–20:00",
    },
];

/// The rule of a state (two-letter code), if it has one.
pub fn rule_for(state: &str) -> Option<&'static StateRule> {
    STATE_RULES.iter().find(|r| r.state == state)
}

impl StateRule {
    /// The allowed hours on `date` (none on a forbidden day or holiday).
    pub fn allowed_on(&self, date: Date) -> Option<Minutes> {
        if self.holidays.is_some_and(|extras| holidays::is_holiday(date, extras)) {
            return None;
        }
        let index = date.weekday().to_monday_zero_offset() as usize;
        self.hours[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn one_row_per_state_with_its_statute() {
        let states: Vec<&str> = STATE_RULES.iter().map(|r| r.state).collect();
        for required in ["FL", "OK", "MD", "MS", "NJ", "CT", "RI", "TX", "WA", "LA", "AL", "UT"] {
            assert!(states.contains(&required), "{required}");
        }
        let mut sorted = states.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, states, "one row each, in code order");
        assert!(
            STATE_RULES
                .iter()
                .all(|r| !r.statute.is_empty() && !r.summary.is_empty())
        );
    }

    #[test]
    fn days_and_holidays() {
        let sunday = date(2026, 12, 6);
        assert_eq!(sunday.weekday(), jiff::civil::Weekday::Sunday);
        assert_eq!(rule_for("MS").unwrap().allowed_on(sunday), None);
        assert_eq!(rule_for("TX").unwrap().allowed_on(sunday), Some((720, 1260)));
        assert_eq!(rule_for("RI").unwrap().allowed_on(date(2026, 12, 5)), Some((600, 1020)));
        assert_eq!(
            rule_for("UT").unwrap().allowed_on(date(2026, 11, 26)),
            None,
            "Thanksgiving"
        );
        assert_eq!(
            rule_for("FL").unwrap().allowed_on(date(2026, 11, 26)),
            Some((480, 1200))
        );
        assert_eq!(rule_for("LA").unwrap().allowed_on(date(2027, 2, 9)), None, "Mardi Gras");
        assert!(rule_for("CA").is_none());
    }
}
