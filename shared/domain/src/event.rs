//! The normalised ServiceTitan event every downstream function works with.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// ServiceTitan tenant ids are int64 in the API; they are carried as decimal strings so that they key tables and
/// logs the same way everywhere.
pub type TenantId = String;

/// The events the product reacts to. ServiceTitan's V2 event catalogue is not published, so names are matched
/// loosely (see [`EventName::parse`]) and anything else is parked, not dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventName {
    #[serde(rename = "estimate.created")]
    EstimateCreated,
    #[serde(rename = "estimate.sent")]
    EstimateSent,
    #[serde(rename = "estimate.viewed")]
    EstimateViewed,
    #[serde(rename = "estimate.sold")]
    EstimateSold,
    #[serde(rename = "estimate.dismissed")]
    EstimateDismissed,
    #[serde(rename = "job.created")]
    JobCreated,
    #[serde(rename = "job.scheduled")]
    JobScheduled,
    #[serde(rename = "job.rescheduled")]
    JobRescheduled,
    #[serde(rename = "job.dispatched")]
    JobDispatched,
    #[serde(rename = "job.completed")]
    JobCompleted,
    #[serde(rename = "job.canceled")]
    JobCanceled,
    #[serde(rename = "appointment.changed")]
    AppointmentChanged,
    #[serde(rename = "appointment.no_show")]
    AppointmentNoShow,
    /// Derived, not a ServiceTitan event: a one-shot "watch" schedule at the end of an appointment's arrival window.
    #[serde(rename = "appointment.overdue")]
    AppointmentOverdue,
    #[serde(rename = "invoice.created")]
    InvoiceCreated,
    #[serde(rename = "invoice.overdue")]
    InvoiceOverdue,
    #[serde(rename = "payment.posted")]
    PaymentPosted,
    #[serde(rename = "call.completed")]
    CallCompleted,
    #[serde(rename = "call.missed")]
    CallMissed,
    #[serde(rename = "customer.created")]
    CustomerCreated,
}

/// (canonical name, extra spellings). Matching ignores case and every non-alphanumeric character, so
/// `estimate.sold`, `EstimateSold` and `estimate-sold` are one name.
const NAMES: &[(EventName, &str, &[&str])] = &[
    (EventName::EstimateCreated, "estimate.created", &[]),
    (EventName::EstimateSent, "estimate.sent", &[]),
    (EventName::EstimateViewed, "estimate.viewed", &["estimate.opened"]),
    (EventName::EstimateSold, "estimate.sold", &["estimate.approved"]),
    (
        EventName::EstimateDismissed,
        "estimate.dismissed",
        &["estimate.declined"],
    ),
    (EventName::JobCreated, "job.created", &["job.booked"]),
    (EventName::JobScheduled, "job.scheduled", &[]),
    (EventName::JobRescheduled, "job.rescheduled", &[]),
    (EventName::JobDispatched, "job.dispatched", &["technician.dispatched"]),
    (EventName::JobCompleted, "job.completed", &["job.complete"]),
    (EventName::JobCanceled, "job.canceled", &["job.cancelled"]),
    (
        EventName::AppointmentChanged,
        "appointment.changed",
        &["appointment.updated", "appointment.rescheduled"],
    ),
    (
        EventName::AppointmentNoShow,
        "appointment.no_show",
        &["appointment.noshow", "job.no_show"],
    ),
    (EventName::AppointmentOverdue, "appointment.overdue", &[]),
    (EventName::InvoiceCreated, "invoice.created", &[]),
    (EventName::InvoiceOverdue, "invoice.overdue", &[]),
    (
        EventName::PaymentPosted,
        "payment.posted",
        &["payment.received", "payment.created"],
    ),
    (EventName::CallCompleted, "call.completed", &[]),
    (EventName::CallMissed, "call.missed", &["call.abandoned"]),
    (EventName::CustomerCreated, "customer.created", &[]),
];

fn compact(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl EventName {
    pub fn all() -> impl Iterator<Item = EventName> {
        NAMES.iter().map(|(n, _, _)| *n)
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let wanted = compact(raw);
        if wanted.is_empty() {
            return None;
        }
        NAMES
            .iter()
            .find(|(_, canonical, aliases)| {
                compact(canonical) == wanted || aliases.iter().any(|a| compact(a) == wanted)
            })
            .map(|(name, _, _)| *name)
    }

    /// Whether two spellings name the same event: the same known name, or (for names the product does not know)
    /// the same letters and digits, ignoring case and punctuation.
    pub fn same_name(a: &str, b: &str) -> bool {
        match (Self::parse(a), Self::parse(b)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => compact(a) == compact(b),
            _ => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(n, _, _)| *n == self)
            .map(|(_, c, _)| *c)
            .expect("every name is listed")
    }

    pub fn entity_kind(self) -> EntityKind {
        match self.as_str().split('.').next() {
            Some("estimate") => EntityKind::Estimate,
            Some("job") => EntityKind::Job,
            Some("appointment") => EntityKind::Appointment,
            Some("invoice") => EntityKind::Invoice,
            Some("payment") => EntityKind::Payment,
            Some("call") => EntityKind::Call,
            _ => EntityKind::Customer,
        }
    }
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Estimate,
    Job,
    Appointment,
    Invoice,
    Payment,
    Call,
    Customer,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Estimate => "estimate",
            Self::Job => "job",
            Self::Appointment => "appointment",
            Self::Invoice => "invoice",
            Self::Payment => "payment",
            Self::Call => "call",
            Self::Customer => "customer",
        }
    }
}

/// Where the event id came from. A body hash still deduplicates exact replays, which is all it can promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventIdSource {
    Envelope,
    BodySha256,
    /// Made by the product itself: a watch schedule's derived event (`invoice.overdue`, `appointment.overdue`), whose
    /// id is derived from the entity and the moment it watches, so a repeated watch is one event.
    Derived,
}

/// Which path brought an event. Every path produces the same normalised event, so the engine treats them alike;
/// the source is for the audit trail and the reconciler's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// A ServiceTitan webhook delivery.
    #[default]
    Webhook,
    /// A change the reconciler read from an export feed.
    Reconcile,
    /// A record the reconciler found reading its lookback (a tenant connecting, a re-read from a date): what it
    /// found happened before we were watching, so only follow-ups still ahead are planned from it.
    Backfill,
    /// A watch schedule's derived event (`invoice.overdue`, `appointment.overdue`).
    Watch,
    /// A lead's derived event (a missed call's `call.missed`).
    Lead,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: EntityKind,
    /// ServiceTitan ids are int64; kept as a string because the payload may carry either form.
    pub id: Option<String>,
}

/// One ServiceTitan webhook delivery after verification and normalisation: the SQS message body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServiceTitanEvent {
    pub tenant_id: TenantId,
    pub event_name: EventName,
    pub event_id: String,
    pub event_id_source: EventIdSource,
    pub entity: EntityRef,
    pub occurred_at: Timestamp,
    pub received_at: Timestamp,
    /// Messages queued before the field existed are webhook events.
    #[serde(default)]
    pub source: EventSource,
    /// The delivery body exactly as received (it is JSON, so it embeds without re-encoding).
    pub payload: Box<RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loose_spellings() {
        assert_eq!(EventName::parse("estimate.sold"), Some(EventName::EstimateSold));
        assert_eq!(EventName::parse("EstimateSold"), Some(EventName::EstimateSold));
        assert_eq!(EventName::parse("estimate-sold"), Some(EventName::EstimateSold));
        assert_eq!(EventName::parse("JobComplete"), Some(EventName::JobCompleted));
        assert_eq!(EventName::parse("TechnicianDispatched"), Some(EventName::JobDispatched));
        assert_eq!(EventName::parse("membership.renewed"), None);
        assert_eq!(EventName::parse("..."), None);
    }

    #[test]
    fn canonical_names_round_trip_through_serde_and_parse() {
        for name in EventName::all() {
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
            assert_eq!(EventName::parse(name.as_str()), Some(name));
            assert_eq!(name.entity_kind().as_str(), name.as_str().split('.').next().unwrap());
        }
    }
}
