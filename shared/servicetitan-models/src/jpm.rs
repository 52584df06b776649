//! Jobs, appointments, job types.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ExternalDataCreate, ExternalDataItem, datetime, push_external_data};

/// `Jpm.V2.JobTypeResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobType {
    pub id: i64,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub business_unit_ids: Vec<i64>,
    #[serde(default)]
    pub priority: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub duration: Option<i64>,
}

/// `Jpm.V2.AppointmentInformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAppointment {
    #[serde(with = "datetime")]
    pub start: Timestamp,
    #[serde(with = "datetime")]
    pub end: Timestamp,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub arrival_window_start: Option<Timestamp>,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub arrival_window_end: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub technician_ids: Vec<i64>,
}

/// `Jpm.V2.JobCreateRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJob {
    pub customer_id: i64,
    pub location_id: i64,
    pub business_unit_id: i64,
    pub job_type_id: i64,
    /// `Low`, `Normal`, `High` or `Urgent`.
    pub priority: String,
    pub campaign_id: i64,
    pub appointments: Vec<NewAppointment>,
    /// HTML. The product puts the AI conversation summary here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `Jpm.V2.JobResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: i64,
    pub job_number: String,
    pub customer_id: i64,
    pub location_id: i64,
    /// `Scheduled`, `Dispatched`, `InProgress`, `Hold`, `Completed`, `Canceled`.
    pub job_status: String,
    pub business_unit_id: i64,
    pub job_type_id: i64,
    pub campaign_id: i64,
    #[serde(default)]
    pub priority: Option<String>,
    pub invoice_id: i64,
    #[serde(default)]
    pub first_appointment_id: Option<i64>,
    #[serde(default)]
    pub last_appointment_id: Option<i64>,
    #[serde(default)]
    pub appointment_count: Option<i64>,
    #[serde(default, with = "datetime::option")]
    pub completed_on: Option<Timestamp>,
    #[serde(default)]
    pub estimate_ids: Vec<i64>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default, with = "datetime::option")]
    pub created_on: Option<Timestamp>,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
    /// Only the entries of the application GUID the request named (none without one).
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
}

/// `Jpm.V2.JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    Scheduled,
    Dispatched,
    InProgress,
    Hold,
    Completed,
    Canceled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::Dispatched => "Dispatched",
            Self::InProgress => "InProgress",
            Self::Hold => "Hold",
            Self::Completed => "Completed",
            Self::Canceled => "Canceled",
        }
    }
}

/// Filters of `GET /jobs` the lead worker uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub customer_id: Option<i64>,
    pub location_id: Option<i64>,
    /// Any of these statuses (all when empty). `jobStatus` takes one status, so
    /// The client's `find_jobs` asks once per status.
    pub job_statuses: Vec<JobStatus>,
    pub created_on_or_after: Option<Timestamp>,
    /// `externalDataApplicationGuid`, `externalDataKey`, `externalDataValues` (at most 50 values). The jobs found
    /// carry that application's externalData.
    pub external_data: Option<(String, String, Vec<String>)>,
}

impl JobFilter {
    /// The query for one request, without `jobStatus`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = self.customer_id {
            q.push(("customerId", c.to_string()));
        }
        if let Some(l) = self.location_id {
            q.push(("locationId", l.to_string()));
        }
        if let Some(t) = self.created_on_or_after {
            q.push(("createdOnOrAfter", t.to_string()));
        }
        push_external_data(&mut q, &self.external_data);
        q
    }
}

/// `Jpm.V2.AppointmentResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: i64,
    pub job_id: i64,
    #[serde(with = "datetime")]
    pub start: Timestamp,
    #[serde(with = "datetime")]
    pub end: Timestamp,
    #[serde(default, with = "datetime::option")]
    pub arrival_window_start: Option<Timestamp>,
    #[serde(default, with = "datetime::option")]
    pub arrival_window_end: Option<Timestamp>,
    /// `Scheduled`, `Dispatched`, `Working`, `Hold`, `Done`, `Canceled`.
    pub status: String,
    pub customer_id: i64,
    pub active: bool,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

/// `Jpm.V2.AppointmentRescheduleRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RescheduleAppointment {
    #[serde(with = "datetime")]
    pub start: Timestamp,
    #[serde(with = "datetime")]
    pub end: Timestamp,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub arrival_window_start: Option<Timestamp>,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub arrival_window_end: Option<Timestamp>,
}

/// `Jpm.V2.AppointmentAddRequest`: another visit for a job (a rebooking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddAppointment {
    pub job_id: i64,
    #[serde(with = "datetime")]
    pub start: Timestamp,
    #[serde(with = "datetime")]
    pub end: Timestamp,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub arrival_window_start: Option<Timestamp>,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub arrival_window_end: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub technician_ids: Vec<i64>,
}

/// `Jpm.V2.CancelJobRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelJob {
    pub reason_id: i64,
    pub memo: String,
}
