//! A record read from an export feed, as the normalised event the webhook intake would have made of the matching
//! webhook. The event is a hint like any webhook: the event processor reads the entity and merges it into its
//! snapshot, which ignores versions that are not newer, and run slots enroll once. So one change seen by the
//! webhook and by the reconciler, in either order, has one effect; the same record read twice (a crash between
//! reading a page and advancing the cursor) has the same event id, which the events table dedupes.

use domain::event::{EntityKind, EntityRef, EventIdSource, EventName, EventSource, ServiceTitanEvent};
use jiff::Timestamp;
use serde_json::{Value, json};
use servicetitan_models::accounting::{Invoice, Payment};
use servicetitan_models::jpm::{Appointment, Job};
use servicetitan_models::sales::Estimate;

/// One changed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub event: EventName,
    pub kind: EntityKind,
    pub id: i64,
    /// ServiceTitan's `modifiedOn`: which version of the record this is.
    pub modified_on: Timestamp,
    /// When what the event names happened (an `event`-anchored run's anchor).
    pub occurred_at: Timestamp,
    /// Fields the processor uses to save reads (an appointment's `jobId`), under `data` as in a webhook.
    pub data: Value,
}

impl Change {
    /// Derived from (kind, id, modifiedOn): the same version of a record is the same event, however often read.
    pub fn event_id(&self) -> String {
        format!(
            "reconcile:{}:{}:{}",
            self.kind.as_str(),
            self.id,
            self.modified_on.as_millisecond()
        )
    }

    /// The event, marked as the reconciler's: `Backfill` while its feed is still reading the lookback (only
    /// follow-ups still ahead are planned from it), `Reconcile` after.
    pub fn into_event(self, tenant_id: &str, source: EventSource, now: Timestamp) -> ServiceTitanEvent {
        let payload = json!({"source": source, "data": self.data});
        ServiceTitanEvent {
            tenant_id: tenant_id.to_owned(),
            event_name: self.event,
            event_id: self.event_id(),
            event_id_source: EventIdSource::Derived,
            entity: EntityRef {
                kind: self.kind,
                id: Some(self.id.to_string()),
            },
            occurred_at: self.occurred_at.min(now),
            received_at: now,
            source,
            payload: serde_json::value::RawValue::from_string(payload.to_string()).expect("JSON"),
        }
    }
}

/// ServiceTitan's estimate records carry no "sent" or "viewed" field. An open estimate stands in for a sent one,
/// at its `createdOn` (the moment the follow-up counts from); "viewed" needs the webhook.
pub fn estimate(e: &Estimate) -> Change {
    let (event, at) = match e.status_name() {
        Some("Sold") => (EventName::EstimateSold, e.sold_on.unwrap_or(e.modified_on)),
        Some("Dismissed") => (EventName::EstimateDismissed, e.modified_on),
        _ => (EventName::EstimateSent, e.created_on.unwrap_or(e.modified_on)),
    };
    Change {
        event,
        kind: EntityKind::Estimate,
        id: e.id,
        modified_on: e.modified_on,
        occurred_at: at,
        data: json!({"id": e.id, "jobId": e.job_id}),
    }
}

/// A job's status as the webhook that would have announced it.
pub fn job(j: &Job) -> Change {
    let (event, at) = match j.job_status.as_str() {
        "Scheduled" => (EventName::JobScheduled, j.modified_on),
        "Dispatched" | "InProgress" | "Working" => (EventName::JobDispatched, j.modified_on),
        "Completed" => (EventName::JobCompleted, j.completed_on.unwrap_or(j.modified_on)),
        "Canceled" => (EventName::JobCanceled, j.modified_on),
        // On hold, or a status this version does not know: the job's appointments are still re-read and merged.
        _ => (EventName::JobCreated, j.modified_on),
    };
    Change {
        event,
        kind: EntityKind::Job,
        id: j.id,
        modified_on: j.modified_on,
        occurred_at: at,
        data: json!({"id": j.id}),
    }
}

pub fn appointment(a: &Appointment) -> Change {
    Change {
        event: EventName::AppointmentChanged,
        kind: EntityKind::Appointment,
        id: a.id,
        modified_on: a.modified_on,
        occurred_at: a.modified_on,
        data: json!({"id": a.id, "jobId": a.job_id}),
    }
}

/// Any invoice change: the processor re-reads it, sets the overdue watch while it is unpaid, and a paid balance
/// stops dunning.
pub fn invoice(i: &Invoice) -> Change {
    let modified = i.modified_on.unwrap_or(i.created_on);
    Change {
        event: EventName::InvoiceCreated,
        kind: EntityKind::Invoice,
        id: i.id,
        modified_on: modified,
        occurred_at: i.created_on,
        data: json!({"id": i.id}),
    }
}

/// `None` for a record with no time on it (nothing to order it by).
pub fn payment(p: &Payment) -> Option<Change> {
    let modified = p.modified_on.or(p.created_on)?;
    Some(Change {
        event: EventName::PaymentPosted,
        kind: EntityKind::Payment,
        id: p.id,
        modified_on: modified,
        occurred_at: p.created_on.unwrap_or(modified),
        data: json!({"id": p.id}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn estimate_record(status: &str) -> Estimate {
        serde_json::from_value(json!({
            "id": 77, "jobId": 5, "status": {"value": 0, "name": status}, "active": true, "subtotal": 1200.0,
            "createdOn": "2026-11-30T15:00:00Z", "modifiedOn": "2026-12-01T09:30:00Z",
            "soldOn": if status == "Sold" { json!("2026-12-01T09:29:00Z") } else { Value::Null },
        }))
        .unwrap()
    }

    #[test]
    fn an_open_estimate_stands_in_for_sent_at_its_creation() {
        let c = estimate(&estimate_record("Open"));
        assert_eq!(c.event, EventName::EstimateSent);
        assert_eq!(c.occurred_at, ts("2026-11-30T15:00:00Z"));
        let sold = estimate(&estimate_record("Sold"));
        assert_eq!(
            (sold.event, sold.occurred_at),
            (EventName::EstimateSold, ts("2026-12-01T09:29:00Z"))
        );
        assert_eq!(
            estimate(&estimate_record("Dismissed")).event,
            EventName::EstimateDismissed
        );
    }

    #[test]
    fn the_event_id_is_the_record_version() {
        let a = estimate(&estimate_record("Open"));
        let mut later = estimate_record("Open");
        later.modified_on = ts("2026-12-01T10:00:00Z");
        assert_eq!(a.event_id(), estimate(&estimate_record("Open")).event_id());
        assert_ne!(a.event_id(), estimate(&later).event_id());
        assert_eq!(a.event_id(), "reconcile:estimate:77:1796117400000");
    }

    #[test]
    fn the_event_is_marked_as_the_reconciler_s_and_never_in_the_future() {
        let now = ts("2026-11-30T14:00:00Z");
        let e = estimate(&estimate_record("Open")).into_event("1001", EventSource::Reconcile, now);
        assert_eq!(e.source, EventSource::Reconcile);
        assert_eq!(e.occurred_at, now);
        assert_eq!(e.entity.id.as_deref(), Some("77"));
        let payload: Value = serde_json::from_str(e.payload.get()).unwrap();
        assert_eq!(payload["data"]["jobId"], 5);
    }

    #[test]
    fn job_statuses_map_to_their_webhooks() {
        let job = |status: &str| -> Job {
            serde_json::from_value(json!({
                "id": 9, "jobNumber": "9", "customerId": 1, "locationId": 2, "jobStatus": status,
                "businessUnitId": 3, "jobTypeId": 4, "campaignId": 5, "invoiceId": 6,
                "completedOn": if status == "Completed" { json!("2026-12-01T12:00:00Z") } else { Value::Null },
                "createdOn": "2026-11-30T08:00:00Z", "modifiedOn": "2026-12-01T12:05:00Z",
            }))
            .unwrap()
        };
        assert_eq!(super::job(&job("Scheduled")).event, EventName::JobScheduled);
        assert_eq!(super::job(&job("Dispatched")).event, EventName::JobDispatched);
        assert_eq!(super::job(&job("Canceled")).event, EventName::JobCanceled);
        assert_eq!(super::job(&job("Hold")).event, EventName::JobCreated);
        let done = super::job(&job("Completed"));
        assert_eq!(
            (done.event, done.occurred_at),
            (EventName::JobCompleted, ts("2026-12-01T12:00:00Z"))
        );
    }

    #[test]
    fn a_payment_without_any_time_is_not_a_change() {
        let p: Payment = serde_json::from_value(json!({"id": 3})).unwrap();
        assert!(payment(&p).is_none());
        let p: Payment = serde_json::from_value(json!({"id": 3, "createdOn": "2026-12-01T10:00:00Z"})).unwrap();
        assert_eq!(payment(&p).unwrap().event, EventName::PaymentPosted);
    }
}
