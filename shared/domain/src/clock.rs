//! Time as the functions see it.
//!
//! Production uses the system clock. The local stack gives every function one shared [`VirtualClock`], so that a
//! test or the demo can move time forward by days in milliseconds and see schedules, TTLs and key expiry follow.

use jiff::Timestamp;
use std::fmt::Debug;
use std::sync::Arc;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> Timestamp;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

#[cfg(any(test, feature = "testing"))]
pub use virtual_clock::VirtualClock;

#[cfg(any(test, feature = "testing"))]
mod virtual_clock {
    use std::sync::atomic::{AtomicI64, Ordering};

    use jiff::{SignedDuration, Timestamp};

    use super::Clock;

    /// Wall time plus an offset that only ever grows. For the local stack and tests (feature `testing`).
    #[derive(Debug, Default)]
    pub struct VirtualClock {
        offset_ms: AtomicI64,
    }

    impl VirtualClock {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn advance(&self, by: SignedDuration) {
            let ms = by.as_millis().clamp(0, i64::MAX as i128) as i64;
            self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        }

        /// Moves the clock forward to `to` if it is in the future; never moves it back.
        pub fn advance_to(&self, to: Timestamp) {
            let now = self.now();
            if to > now {
                self.advance(to.duration_since(now));
            }
        }

        pub fn offset(&self) -> SignedDuration {
            SignedDuration::from_millis(self.offset_ms.load(Ordering::SeqCst))
        }
    }

    impl Clock for VirtualClock {
        fn now(&self) -> Timestamp {
            Timestamp::now() + self.offset()
        }
    }
}

/// A fixed-width UTC form (`2026-11-28T05:54:13.120Z`), so that stored timestamps sort as strings.
pub fn iso_millis(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a timestamp the way ServiceTitan writes them: RFC 3339 with or without an offset, with up to 7 (in fact
/// up to 9) fractional digits. A value without an offset is UTC, which is what ServiceTitan documents.
pub fn parse_flexible(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let civil: jiff::civil::DateTime = s.parse().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn virtual_clock_advances_and_never_goes_back() {
        let clock = VirtualClock::new();
        let start = clock.now();
        clock.advance(SignedDuration::from_hours(72));
        let later = clock.now();
        assert!(later.duration_since(start) >= SignedDuration::from_hours(72));
        clock.advance_to(start);
        assert!(clock.now() >= later);
    }

    #[test]
    fn parses_servicetitan_timestamps() {
        let with_z = parse_flexible("2021-07-19T20:35:38.2876004Z").unwrap();
        let without = parse_flexible("2021-07-19T20:35:38.2876004").unwrap();
        assert_eq!(with_z, without);
        assert_eq!(with_z.subsec_nanosecond(), 287_600_400);
        let offset = parse_flexible("2021-07-19T15:35:38-05:00").unwrap();
        assert_eq!(offset, parse_flexible("2021-07-19T20:35:38Z").unwrap());
        assert_eq!(
            parse_flexible("2025-10-13T00:00:00"),
            parse_flexible("2025-10-13T00:00:00Z")
        );
        assert_eq!(parse_flexible("yesterday"), None);
    }

    #[test]
    fn iso_millis_is_fixed_width_and_sortable() {
        let a: Timestamp = "2026-11-28T05:54:13Z".parse().unwrap();
        let b: Timestamp = "2026-11-28T05:54:13.5Z".parse().unwrap();
        assert_eq!(iso_millis(a), "2026-11-28T05:54:13.000Z");
        assert_eq!(iso_millis(b), "2026-11-28T05:54:13.500Z");
        assert!(iso_millis(a) < iso_millis(b));
    }
}
