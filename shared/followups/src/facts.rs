//! What the engine knows about one ServiceTitan entity: its state, normalised, and the fields recipes use.
//!
//! Webhooks are hints; facts come from ServiceTitan's live answer (or, for calls, the event itself). The engine keeps
//! one snapshot per entity and merges every new version into it with [`merge`]: versions are ordered by
//! `modifiedOn`, then by a status rank, and a terminal state (sold, paid, completed, ...) is never regressed, so a
//! late or replayed "sent" after "sold" cannot reopen an estimate. (A genuine reopening in ServiceTitan, such as an
//! unsold estimate, is therefore not chased again; a person reopened it and a person follows it up.)

use domain::event::EntityKind;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// An entity's status, normalised across ServiceTitan's modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    // Estimates (Open, Sold, Dismissed).
    Open,
    Sold,
    Dismissed,
    // Invoices, from total and balance.
    /// Total 0: ServiceTitan creates a job's invoice empty and bills it on completion.
    Unbilled,
    Unpaid,
    Paid,
    // Jobs (Scheduled, Dispatched, InProgress, Hold, Completed, Canceled) and appointments (Scheduled,
    // Dispatched, Working, Hold, Done, Canceled).
    Scheduled,
    Dispatched,
    InProgress,
    Working,
    Hold,
    Completed,
    Done,
    Canceled,
    // Calls.
    Missed,
    /// Deactivated in ServiceTitan (`active: false`): not chased.
    Inactive,
    /// A status this build does not know, or none: nothing is sent on it (the run stops, failing closed).
    Unknown,
}

impl Status {
    /// Order within an entity's life; equal `modifiedOn` versions keep the higher rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Open | Self::Unbilled | Self::Scheduled | Self::Missed | Self::Unknown => 0,
            Self::Unpaid | Self::Dispatched => 1,
            Self::InProgress | Self::Working | Self::Hold => 2,
            Self::Sold
            | Self::Dismissed
            | Self::Paid
            | Self::Completed
            | Self::Done
            | Self::Canceled
            | Self::Inactive => 10,
        }
    }

    /// A state the entity does not leave in the normal course of business.
    pub fn is_terminal(self) -> bool {
        self.rank() >= 10
    }

    /// A job's `jobStatus`.
    pub fn of_job(status: &str) -> Option<Self> {
        Some(match status {
            "Scheduled" => Self::Scheduled,
            "Dispatched" => Self::Dispatched,
            "InProgress" => Self::InProgress,
            "Hold" => Self::Hold,
            "Completed" => Self::Completed,
            "Canceled" => Self::Canceled,
            _ => return None,
        })
    }

    /// An appointment's `status`.
    pub fn of_appointment(status: &str) -> Option<Self> {
        Some(match status {
            "Scheduled" => Self::Scheduled,
            "Dispatched" => Self::Dispatched,
            "Working" => Self::Working,
            "Hold" => Self::Hold,
            "Done" => Self::Done,
            "Canceled" => Self::Canceled,
            _ => return None,
        })
    }

    /// An estimate's status name.
    pub fn of_estimate(status: &str) -> Option<Self> {
        Some(match status {
            "Open" => Self::Open,
            "Sold" => Self::Sold,
            "Dismissed" => Self::Dismissed,
            _ => return None,
        })
    }

    /// An invoice's status follows from its money.
    pub fn of_invoice(total_cents: i64, balance_cents: i64) -> Self {
        if total_cents <= 0 && balance_cents <= 0 {
            Self::Unbilled
        } else if balance_cents > 0 {
            Self::Unpaid
        } else {
            Self::Paid
        }
    }
}

/// One version of an entity, as the engine uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    pub kind: EntityKind,
    pub id: String,
    /// ServiceTitan's `modifiedOn` (for calls, when the call ended): orders versions.
    pub modified_on: Timestamp,
    pub status: Status,
    /// Estimate subtotal or invoice total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<Timestamp>,
    /// An appointment's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// The end of an appointment's arrival window (or of the appointment when it has no window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<Timestamp>,
    /// An appointment that was missed has been replaced by a later one (or moved later).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebooked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_unit_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<i64>,
    /// Job number, invoice reference number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// An estimate's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<i64>,
    /// A call's caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Another estimate of the same job is sold (Good/Better/Best options: one sold ends the others).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub option_sold: bool,
}

impl Facts {
    /// Bare facts: the kind, id, version and status; the rest empty.
    pub fn new(kind: EntityKind, id: impl Into<String>, modified_on: Timestamp, status: Status) -> Self {
        Self {
            kind,
            id: id.into(),
            modified_on,
            status,
            amount_cents: None,
            balance_cents: None,
            due_date: None,
            start: None,
            window_end: None,
            window_start: None,
            rebooked: false,
            business_unit_id: None,
            job_type_id: None,
            number: None,
            name: None,
            customer_id: None,
            location_id: None,
            job_id: None,
            invoice_id: None,
            phone: None,
            option_sold: false,
        }
    }

    /// Versions are ordered by (terminal, another option sold, `modifiedOn`, rank, status): any terminal version
    /// outranks any open one, so a sold estimate never reopens, and an option whose sibling sold stays so; among the
    /// rest the newest wins. Being a total order, merging versions in
    /// any order gives the same snapshot.
    fn order_key(&self) -> (bool, bool, Timestamp, u8, Status) {
        (
            self.status.is_terminal(),
            // Another option of the job sold: the estimate's own record need not change for that to be news.
            self.option_sold,
            self.modified_on,
            self.status.rank(),
            self.status,
        )
    }

    /// Whether this version should replace `prev` in the snapshot.
    pub fn supersedes(&self, prev: &Facts) -> bool {
        self.order_key() > prev.order_key()
    }
}

/// The snapshot after seeing `next`: `next` when it supersedes `prev` (or there is none), else `prev` unchanged.
/// Returns whether the snapshot changed.
pub fn merge(prev: Option<Facts>, next: Facts) -> (Facts, bool) {
    match prev {
        Some(prev) if !next.supersedes(&prev) => (prev, false),
        _ => (next, true),
    }
}

/// A predicate on an entity's facts, as recipes write them (`"estimate.open"`, `"invoice.overdue"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Condition {
    #[serde(rename = "estimate.open")]
    EstimateOpen,
    #[serde(rename = "estimate.sold")]
    EstimateSold,
    #[serde(rename = "estimate.dismissed")]
    EstimateDismissed,
    #[serde(rename = "invoice.unpaid")]
    InvoiceUnpaid,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    /// Nothing is owed: paid, adjusted or written off to a zero balance, or billed at zero.
    #[serde(rename = "invoice.settled")]
    InvoiceSettled,
    /// More than the trigger's `maxAgeDays` past its due date.
    #[serde(rename = "invoice.too_old")]
    InvoiceTooOld,
    /// Deactivated, or in a status that is missing or unknown: not chased.
    #[serde(rename = "estimate.inactive")]
    EstimateInactive,
    /// Another estimate of the same job was sold.
    #[serde(rename = "estimate.option_sold")]
    EstimateOptionSold,
    /// Unpaid, and at least the trigger's `overdueDays` past its due date.
    #[serde(rename = "invoice.overdue")]
    InvoiceOverdue,
    #[serde(rename = "job.open")]
    JobOpen,
    #[serde(rename = "job.completed")]
    JobCompleted,
    #[serde(rename = "job.canceled")]
    JobCanceled,
    /// Scheduled or dispatched: nobody has arrived yet.
    #[serde(rename = "appointment.pending")]
    AppointmentPending,
    #[serde(rename = "appointment.working")]
    AppointmentWorking,
    #[serde(rename = "appointment.done")]
    AppointmentDone,
    #[serde(rename = "appointment.canceled")]
    AppointmentCanceled,
    /// Starts in the future.
    #[serde(rename = "appointment.upcoming")]
    AppointmentUpcoming,
    /// The arrival window ended at least the trigger's `after` ago.
    #[serde(rename = "appointment.window_passed")]
    AppointmentWindowPassed,
    #[serde(rename = "appointment.rebooked")]
    AppointmentRebooked,
    #[serde(rename = "appointment.not_rebooked")]
    AppointmentNotRebooked,
}

/// What conditions are evaluated against besides the facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eval {
    pub now: Timestamp,
    /// `invoice.overdue`: days past the due date.
    pub overdue_days: i64,
    /// `invoice.too_old`: days past the due date after which an invoice is not chased.
    pub max_age_days: Option<i64>,
    /// `appointment.window_passed`: how long after the window's end.
    pub after: SignedDuration,
}

impl Eval {
    pub fn at(now: Timestamp) -> Self {
        Self {
            now,
            overdue_days: 0,
            max_age_days: None,
            after: SignedDuration::ZERO,
        }
    }
}

impl Condition {
    /// The entity kind the condition is about.
    pub fn kind(self) -> EntityKind {
        use Condition::*;
        match self {
            EstimateOpen | EstimateSold | EstimateDismissed | EstimateInactive | EstimateOptionSold => {
                EntityKind::Estimate
            }
            InvoiceUnpaid | InvoicePaid | InvoiceOverdue | InvoiceSettled | InvoiceTooOld => EntityKind::Invoice,
            JobOpen | JobCompleted | JobCanceled => EntityKind::Job,
            _ => EntityKind::Appointment,
        }
    }

    pub fn as_str(self) -> &'static str {
        use Condition::*;
        match self {
            EstimateOpen => "estimate.open",
            EstimateSold => "estimate.sold",
            EstimateDismissed => "estimate.dismissed",
            InvoiceUnpaid => "invoice.unpaid",
            InvoicePaid => "invoice.paid",
            InvoiceSettled => "invoice.settled",
            InvoiceTooOld => "invoice.too_old",
            EstimateInactive => "estimate.inactive",
            EstimateOptionSold => "estimate.option_sold",
            InvoiceOverdue => "invoice.overdue",
            JobOpen => "job.open",
            JobCompleted => "job.completed",
            JobCanceled => "job.canceled",
            AppointmentPending => "appointment.pending",
            AppointmentWorking => "appointment.working",
            AppointmentDone => "appointment.done",
            AppointmentCanceled => "appointment.canceled",
            AppointmentUpcoming => "appointment.upcoming",
            AppointmentWindowPassed => "appointment.window_passed",
            AppointmentRebooked => "appointment.rebooked",
            AppointmentNotRebooked => "appointment.not_rebooked",
        }
    }

    /// Whether the condition holds for `facts`; false for facts of another kind.
    pub fn holds(self, facts: &Facts, eval: &Eval) -> bool {
        use Condition::*;
        use Status as S;
        if facts.kind != self.kind() {
            return false;
        }
        let s = facts.status;
        match self {
            EstimateOpen => s == S::Open,
            EstimateSold => s == S::Sold,
            EstimateDismissed => s == S::Dismissed,
            InvoiceUnpaid => s == S::Unpaid,
            InvoicePaid => s == S::Paid,
            InvoiceSettled => matches!(s, S::Paid | S::Unbilled) || facts.balance_cents.is_some_and(|b| b <= 0),
            InvoiceTooOld => match (eval.max_age_days, facts.due_date) {
                (Some(days), Some(due)) => due + SignedDuration::from_hours(24 * days) <= eval.now,
                _ => false,
            },
            EstimateInactive => matches!(s, S::Inactive | S::Unknown),
            EstimateOptionSold => facts.option_sold && s != S::Sold,
            InvoiceOverdue => {
                s == S::Unpaid
                    && facts
                        .due_date
                        .is_some_and(|due| due + SignedDuration::from_hours(24 * eval.overdue_days) <= eval.now)
            }
            JobOpen => !matches!(s, S::Completed | S::Canceled),
            JobCompleted => s == S::Completed,
            JobCanceled => s == S::Canceled,
            AppointmentPending => matches!(s, S::Scheduled | S::Dispatched),
            AppointmentWorking => matches!(s, S::Working | S::InProgress),
            AppointmentDone => s == S::Done,
            AppointmentCanceled => s == S::Canceled,
            AppointmentUpcoming => facts.start.is_some_and(|t| t > eval.now),
            AppointmentWindowPassed => facts.window_end.is_some_and(|t| t + eval.after <= eval.now),
            AppointmentRebooked => facts.rebooked,
            AppointmentNotRebooked => !facts.rebooked,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn estimate(status: Status, at: &str) -> Facts {
        Facts::new(EntityKind::Estimate, "1", t(at), status)
    }

    #[test]
    fn newer_versions_win_and_terminal_states_stick() {
        let open = estimate(Status::Open, "2026-12-01T10:00:00Z");
        let sold = estimate(Status::Sold, "2026-12-01T11:00:00Z");
        assert_eq!(merge(Some(open.clone()), sold.clone()), (sold.clone(), true));
        // A stale open after sold: ignored.
        assert_eq!(merge(Some(sold.clone()), open.clone()), (sold.clone(), false));
        // Even a newer open (an unsell) does not reopen it for the engine.
        let reopened = estimate(Status::Open, "2026-12-01T12:00:00Z");
        assert_eq!(merge(Some(sold.clone()), reopened).0, sold);
        // Same modifiedOn: the higher rank wins, whichever arrives first.
        let same_time_sold = estimate(Status::Sold, "2026-12-01T10:00:00Z");
        assert_eq!(merge(Some(open.clone()), same_time_sold.clone()).0, same_time_sold);
        assert_eq!(merge(Some(same_time_sold.clone()), open).0, same_time_sold);
        assert_eq!(merge(None, sold.clone()), (sold, true));
    }

    #[test]
    fn conditions_read_the_facts_of_their_own_kind() {
        let now = t("2026-12-20T00:00:00Z");
        let mut invoice = Facts::new(EntityKind::Invoice, "9", now, Status::of_invoice(10_000, 2_500));
        invoice.due_date = Some(t("2026-12-12T00:00:00Z"));
        let eval = Eval {
            overdue_days: 7,
            ..Eval::at(now)
        };
        assert!(Condition::InvoiceUnpaid.holds(&invoice, &eval));
        assert!(Condition::InvoiceOverdue.holds(&invoice, &eval), "8 days past due");
        let eval_9 = Eval {
            overdue_days: 9,
            ..eval
        };
        assert!(!Condition::InvoiceOverdue.holds(&invoice, &eval_9));
        assert!(
            !Condition::EstimateOpen.holds(&invoice, &eval),
            "another kind never holds"
        );
        assert_eq!(Status::of_invoice(0, 0), Status::Unbilled);
        assert_eq!(Status::of_invoice(10_000, 0), Status::Paid);

        let mut visit = Facts::new(EntityKind::Appointment, "5", now, Status::Dispatched);
        visit.window_end = Some(t("2026-12-19T23:00:00Z"));
        let after = |mins| Eval {
            after: SignedDuration::from_mins(mins),
            ..Eval::at(now)
        };
        assert!(Condition::AppointmentWindowPassed.holds(&visit, &after(30)));
        assert!(!Condition::AppointmentWindowPassed.holds(&visit, &after(90)));
        assert!(Condition::AppointmentPending.holds(&visit, &after(0)));
        assert!(Condition::AppointmentNotRebooked.holds(&visit, &after(0)));
    }

    #[test]
    fn condition_names_round_trip() {
        for c in [
            Condition::EstimateOpen,
            Condition::InvoiceOverdue,
            Condition::AppointmentWindowPassed,
            Condition::AppointmentNotRebooked,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Condition>(&json).unwrap(), c);
        }
    }
}
