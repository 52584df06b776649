//! Deterministic names. Every id below is computed from what it identifies, never random, so that a retried
//! create finds (or conflicts with) what the first attempt made.
//!
//! EventBridge Scheduler names are 1–64 characters of `[0-9a-zA-Z-_.]`, unique within a group, and every name
//! starts with [`domain::schedule_names::tenant_prefix`] so that a disconnect can find a tenant's schedules. A readable
//! name that would be too long is replaced by the prefix and a hash of it.

use domain::event::EntityKind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The entity a run is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subject {
    pub kind: EntityKind,
    pub id: String,
}

impl Subject {
    pub fn new(kind: EntityKind, id: impl Into<String>) -> Self {
        Self { kind, id: id.into() }
    }

    /// `estimate:90211`, as the admin API takes it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }

    /// Parses [`Subject::key`].
    pub fn parse(key: &str) -> Option<Self> {
        let (kind, id) = key.split_once(':')?;
        let kind = match kind {
            "estimate" => EntityKind::Estimate,
            "invoice" => EntityKind::Invoice,
            "appointment" => EntityKind::Appointment,
            "job" => EntityKind::Job,
            "call" => EntityKind::Call,
            _ => return None,
        };
        (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .then(|| Self::new(kind, id))
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

const MAX_NAME: usize = 64;

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

/// `<recipe>.<kind>-<id>.<generation>`, e.g. `estimate_follow_up.estimate-90211.1`.
pub fn run_id(recipe: &str, subject: &Subject, generation: u32) -> String {
    format!("{recipe}.{}-{}.{generation}", subject.kind.as_str(), clean(&subject.id))
}

/// The schedule that fires a run's step: one name per (run, step, round, fire sequence). The sequence grows with
/// every deferral or retry, so each is a schedule of its own and a repeated create of the same one conflicts.
pub fn step_schedule(tenant_id: &str, run_id: &str, step: usize, round: u32, seq: u32) -> String {
    fit(tenant_id, &format!("{run_id}-s{step}r{round}n{seq}"))
}

/// The schedule that re-reads an entity at a watched moment (an invoice's due date + N days, an arrival window's
/// end): one per entity and moment.
pub fn watch_schedule(tenant_id: &str, subject: &Subject, at: Timestamp) -> String {
    fit(
        tenant_id,
        &format!(
            "watch-{}{}-{}",
            subject.kind.as_str(),
            clean(&subject.id),
            at.as_second()
        ),
    )
}

/// The schedule that delivers an event again after ServiceTitan was unavailable: one per event and attempt.
pub fn event_retry_schedule(tenant_id: &str, event_id: &str, attempt: u32) -> String {
    fit(tenant_id, &format!("retry-{}-{attempt}", short_hash(event_id)))
}

/// The derived event a watch delivers; the same watch always makes the same event.
pub fn watch_event_id(subject: &Subject, at: Timestamp) -> String {
    format!("watch:{}:{}:{}", subject.kind.as_str(), subject.id, at.as_second())
}

/// Standard Webhooks' `webhook-id` of a follow-up: the same across our delivery retries, different for each step
/// and round.
pub fn webhook_id(tenant_id: &str, run_id: &str, step: usize, round: u32) -> String {
    format!("fu_{tenant_id}_{run_id}_s{step}r{round}")
}

fn fit(tenant_id: &str, rest: &str) -> String {
    let prefix = domain::schedule_names::tenant_prefix(tenant_id);
    let readable = format!("{prefix}{}", clean(rest));
    if readable.len() <= MAX_NAME {
        readable
    } else {
        format!("{prefix}h{}", short_hash(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_NAME).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    #[test]
    fn names_are_valid_deterministic_and_tenant_prefixed() {
        let s = Subject::new(EntityKind::Estimate, "90211");
        let run = run_id("estimate_follow_up", &s, 1);
        assert_eq!(run, "estimate_follow_up.estimate-90211.1");
        let name = step_schedule("1001", &run, 1, 0, 2);
        assert_eq!(name, "t1001-estimate_follow_up.estimate-90211.1-s1r0n2");
        assert!(valid(&name));
        assert_eq!(name, step_schedule("1001", &run, 1, 0, 2));
        assert_ne!(name, step_schedule("1001", &run, 1, 0, 3));

        let huge = Subject::new(EntityKind::Appointment, "9223372036854775807");
        let long_run = run_id("appointment_reminder", &huge, 4_000_000_000);
        let name = step_schedule("9223372036854775807", &long_run, 11, 12, 99_999);
        assert!(valid(&name), "{name}");
        assert!(name.starts_with("t9223372036854775807-h"));
        let watch = watch_schedule("1001", &Subject::new(EntityKind::Invoice, "77"), Timestamp::UNIX_EPOCH);
        assert!(valid(&watch) && watch.starts_with("t1001-watch-invoice77-"));
    }

    #[test]
    fn subject_keys_round_trip_and_reject_junk() {
        let s = Subject::new(EntityKind::Invoice, "7713");
        assert_eq!(Subject::parse(&s.key()), Some(s));
        assert_eq!(Subject::parse("payment:1"), None);
        assert_eq!(Subject::parse("estimate:"), None);
        assert_eq!(Subject::parse("estimate:1#x"), None);
    }
}
