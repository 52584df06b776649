//! Legal holidays, for the states that forbid sales calls and texts on them.
//!
//! Every state's list is the federal holidays (5 U.S.C. § 6103) plus the state's own named ones. Both the holiday's
//! date and, when it falls on a weekend, the weekday it is observed on count: a holiday is avoided on either day,
//! which never allows a message that one reading of the law forbids.

use jiff::civil::{Date, Weekday};

/// A state's own holidays, beyond the federal ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    GoodFriday,
    MardiGras,
    /// June 14 (Pennsylvania).
    FlagDay,
    /// The Tuesday after the first Monday of November.
    ElectionDay,
    /// Rhode Island: May 4.
    RhodeIslandIndependence,
    /// Rhode Island: the second Monday of August.
    VictoryDay,
    /// Utah: July 24.
    PioneerDay,
}

/// The `n`th (from 1) `weekday` of `month`, or the last one with `n = 0`.
fn nth(year: i16, month: i8, weekday: Weekday, n: i8) -> Date {
    let first = Date::new(year, month, 1).expect("a valid month");
    if n == 0 {
        let last = first.last_of_month();
        let back = (last.weekday().to_monday_zero_offset() - weekday.to_monday_zero_offset()).rem_euclid(7);
        return last
            .checked_sub(jiff::Span::new().days(i64::from(back)))
            .expect("in range");
    }
    let ahead = (weekday.to_monday_zero_offset() - first.weekday().to_monday_zero_offset()).rem_euclid(7);
    first
        .checked_add(jiff::Span::new().days(i64::from(ahead) + 7 * i64::from(n - 1)))
        .expect("in range")
}

/// Easter Sunday (the Gregorian computus, Meeus/Jones/Butcher).
fn easter(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, month as i8, day as i8).expect("a valid Easter")
}

fn fixed(year: i16, month: i8, day: i8) -> Date {
    Date::new(year, month, day).expect("a valid date")
}

/// The federal holidays of `year` (5 U.S.C. § 6103).
fn federal(year: i16) -> [Date; 11] {
    use Weekday::*;
    [
        fixed(year, 1, 1),
        nth(year, 1, Monday, 3),  // Birthday of Martin Luther King, Jr.
        nth(year, 2, Monday, 3),  // Washington's Birthday
        nth(year, 5, Monday, 0),  // Memorial Day
        fixed(year, 6, 19),       // Juneteenth
        fixed(year, 7, 4),        // Independence Day
        nth(year, 9, Monday, 1),  // Labor Day
        nth(year, 10, Monday, 2), // Columbus Day
        fixed(year, 11, 11),      // Veterans Day
        nth(year, 11, Thursday, 4),
        fixed(year, 12, 25),
    ]
}

fn extra(year: i16, e: Extra) -> Date {
    let days = |d: Date, n: i64| d.checked_add(jiff::Span::new().days(n)).expect("in range");
    match e {
        Extra::GoodFriday => days(easter(year), -2),
        Extra::MardiGras => days(easter(year), -47),
        Extra::FlagDay => fixed(year, 6, 14),
        Extra::ElectionDay => days(nth(year, 11, Weekday::Monday, 1), 1),
        Extra::RhodeIslandIndependence => fixed(year, 5, 4),
        Extra::VictoryDay => nth(year, 8, Weekday::Monday, 2),
        Extra::PioneerDay => fixed(year, 7, 24),
    }
}

/// When a weekend holiday is observed: Friday for Saturday, Monday for Sunday.
fn observed(d: Date) -> Date {
    let shift = match d.weekday() {
        Weekday::Saturday => -1,
        Weekday::Sunday => 1,
        _ => 0,
    };
    d.checked_add(jiff::Span::new().days(shift)).unwrap_or(d)
}

/// Whether `date` is a legal holiday (or a day one is observed on) for a state with these extras.
pub fn is_holiday(date: Date, extras: &[Extra]) -> bool {
    // New Year's Day of the next year may be observed on this year's December 31.
    [date.year(), date.year() + 1].iter().any(|&y| {
        federal(y)
            .into_iter()
            .chain(extras.iter().map(|e| extra(y, *e)))
            .any(|h| h == date || observed(h) == date)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn federal_holidays_and_their_observed_days() {
        assert!(is_holiday(date(2026, 11, 26), &[]), "Thanksgiving 2026");
        assert!(is_holiday(date(2026, 12, 25), &[]));
        assert!(
            is_holiday(date(2027, 7, 5), &[]),
            "July 4 2027 is a Sunday, observed Monday"
        );
        assert!(
            is_holiday(date(2027, 12, 31), &[]),
            "New Year's Day 2028 is a Saturday, observed Friday"
        );
        assert!(is_holiday(date(2027, 1, 18), &[]), "MLK day 2027");
        assert!(is_holiday(date(2027, 5, 31), &[]), "Memorial Day 2027");
        assert!(!is_holiday(date(2026, 12, 2), &[]));
    }

    #[test]
    fn state_extras() {
        assert_eq!(easter(2027), date(2027, 3, 28));
        assert!(is_holiday(date(2027, 3, 26), &[Extra::GoodFriday]));
        assert!(!is_holiday(date(2027, 3, 26), &[]));
        assert!(is_holiday(date(2027, 2, 9), &[Extra::MardiGras]));
        assert!(is_holiday(date(2026, 11, 3), &[Extra::ElectionDay]));
        assert!(is_holiday(date(2027, 8, 9), &[Extra::VictoryDay]));
        assert!(is_holiday(date(2027, 7, 24), &[Extra::PioneerDay]));
    }
}
