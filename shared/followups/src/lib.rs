//! The follow-up engine's rules, kept apart from every AWS and HTTP call.
//!
//! The functions fetch and store; this crate decides, from what they fetched:
//! - [`recipe`]: the recipes (data, checked when loaded) and a tenant's overrides;
//! - [`facts`]: an entity's state, normalised, and how a new version merges into its snapshot;
//! - [`decide`]: on an event, which runs to enroll, halt or re-plan, and which watches to set;
//! - [`gate`]: at fire time, whether a step is sent now, deferred, skipped, or its run halted, and why;
//! - [`timing`], [`window`], [`geo`]: when steps fire, recipient-local quiet hours, time zones from addresses;
//! - [`state_rules`], [`holidays`]: the states' hours, days and caps for sales messages;
//! - [`recipient`], [`optout`], [`consent`], [`render`]: who gets the message, what replies mean, what a message
//!   rests on, the message text;
//! - [`ids`]: deterministic run ids, schedule names and idempotency keys.

pub mod consent;
pub mod decide;
pub mod facts;
pub mod gate;
pub mod geo;
pub mod holidays;
pub mod ids;
pub mod optout;
pub mod preview;
pub mod recipe;
pub mod recipient;
pub mod render;
pub mod state_rules;
pub mod timing;
pub mod window;

pub use decide::{Action, EventInput, GoalReached, HaltReason, Slot, Subject};
pub use facts::{Condition, Facts, Status};
pub use recipe::{Catalogue, MessageClass, Recipe, TenantRecipes};

/// Cents → "1249.00".
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Cents → "1,249.00", for message text.
pub fn money_display(cents: i64) -> String {
    let plain = money(cents);
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain.as_str()), |r| ("-", r));
    let (whole, frac) = rest.split_once('.').unwrap_or((rest, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

/// ISO 8601 durations (`PT24H`, `P1D`, `-PT2H`; days are 24 hours), as recipes write them.
pub mod iso_duration {
    use jiff::{SignedDuration, Span};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn parse(text: &str) -> Result<SignedDuration, String> {
        let bad = || format!("{text:?} is not an ISO 8601 duration such as PT24H, P1D or -PT2H");
        let span: Span = text.trim().parse().map_err(|_| bad())?;
        crate::recipe::span_to_duration(span).ok_or_else(bad)
    }

    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<SignedDuration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_str(&d.to_string()),
                None => s.serialize_none(),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn days_are_24_hours_and_signs_are_kept() {
            assert_eq!(parse("PT24H"), Ok(SignedDuration::from_hours(24)));
            assert_eq!(parse("P1D"), Ok(SignedDuration::from_hours(24)));
            assert_eq!(parse("-P1D"), Ok(SignedDuration::from_hours(-24)));
            assert_eq!(parse("PT15M"), Ok(SignedDuration::from_mins(15)));
            assert!(parse("soon").is_err());
            assert!(parse("P1M").is_err(), "months have no fixed length");
            assert_eq!(SignedDuration::from_hours(72).to_string(), "PT72H");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_formats() {
        assert_eq!(super::money(124_950), "1249.50");
        assert_eq!(super::money(-5), "-0.05");
        assert_eq!(super::money_display(124_950), "1,249.50");
        assert_eq!(super::money_display(112_400_000), "1,124,000.00");
        assert_eq!(super::money_display(900), "9.00");
    }
}
