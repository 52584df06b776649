//! Jobs, appointments, job types.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ExternalDataCreate, datetime};

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
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
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
