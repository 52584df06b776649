//! jpm-v2: job types, jobs (with their appointments and invoice), job notes, appointments, job/appointment exports.

use axum::body::Bytes;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::crm::{
    CustomFieldReq, ExtDataReq, custom_fields, ext_data, ext_filter, ext_json, ext_matches, own_guid,
};
use crate::model::{Appointment, ExtData, Invoice, InvoiceItem, Job, JobType, Note, Tenant};
use crate::util::{
    ApiError, ApiResult, Check, ListOpts, P, Q, body_value, contains_ci, day_start, export, list, list_plain,
    money_num, ok, ok_empty, parse_time, ts, ts_opt, typed, with_active,
};

pub const JOB_STATUSES: [&str; 6] = ["Scheduled", "Dispatched", "InProgress", "Hold", "Completed", "Canceled"];
pub const APPOINTMENT_STATUSES: [&str; 6] = ["Scheduled", "Dispatched", "Working", "Hold", "Done", "Canceled"];
pub const PRIORITIES: [&str; 4] = ["Low", "Normal", "High", "Urgent"];
/// Payment terms of invoices the sandbox creates.
pub const TERM_NAME: &str = "Net 15";
pub const TERM_DAYS: i64 = 15;

// ----------------------------------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentReq {
    pub start: Option<String>,
    pub end: Option<String>,
    pub arrival_window_start: Option<String>,
    pub arrival_window_end: Option<String>,
    pub technician_ids: Option<Vec<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadSourceReq {
    pub job_id: Option<i64>,
    pub employee_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobReq {
    pub customer_id: Option<i64>,
    pub location_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub priority: Option<String>,
    pub campaign_id: Option<i64>,
    pub appointments: Option<Vec<AppointmentReq>>,
    pub job_generated_lead_source: Option<LeadSourceReq>,
    pub summary: Option<String>,
    pub custom_fields: Option<Vec<CustomFieldReq>>,
    pub tag_type_ids: Option<Vec<i64>>,
    pub external_data: Option<ExtDataReq>,
    pub customer_po: Option<String>,
    pub sold_by_id: Option<i64>,
    pub booking_id: Option<i64>,
    pub no_charge: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelReq {
    #[allow(dead_code)]
    reason_id: Option<i64>,
    #[allow(dead_code)]
    memo: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RescheduleReq {
    start: Option<String>,
    end: Option<String>,
    arrival_window_start: Option<String>,
    arrival_window_end: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddAppointmentReq {
    job_id: Option<i64>,
    start: Option<String>,
    end: Option<String>,
    arrival_window_start: Option<String>,
    arrival_window_end: Option<String>,
    technician_ids: Option<Vec<i64>>,
    special_instructions: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobNoteReq {
    text: Option<String>,
    pin_to_top: Option<bool>,
}

// ----------------------------------------------------------------------------------------------------------------
// Rendering

pub fn job_type_json(j: &JobType) -> Value {
    json!({
        "id": j.id,
        "name": j.name,
        "businessUnitIds": j.business_unit_ids,
        "skills": [],
        "tagTypeIds": [],
        "priority": j.priority,
        "duration": j.duration,
        "soldThreshold": null,
        "class": j.class,
        "summary": j.summary,
        "noCharge": false,
        "enforceRecurringServiceEventSelection": false,
        "invoiceSignaturesRequired": false,
        "modifiedOn": ts(j.modified_on),
        "createdOn": ts(j.created_on),
        "externalData": [],
        "active": j.active,
        "isSmartDispatched": false,
        "defaultEstimateSoldAction": "None",
        "customFieldTypeIds": [],
    })
}

pub fn job_json(t: &Tenant, j: &Job, guid: Option<&str>) -> Value {
    let total = t
        .invoices
        .get(&j.invoice_id)
        .map(|i| money_num(i.total))
        .unwrap_or(Value::Null);
    json!({
        "id": j.id,
        "jobNumber": j.job_number,
        "projectId": null,
        "customerId": j.customer_id,
        "locationId": j.location_id,
        "jobStatus": j.status,
        "completedOn": ts_opt(j.completed_on),
        "businessUnitId": j.business_unit_id,
        "jobTypeId": j.job_type_id,
        "priority": j.priority,
        "campaignId": j.campaign_id,
        "appointmentCount": j.appointment_ids.len(),
        "firstAppointmentId": j.appointment_ids.first().copied().unwrap_or(0),
        "lastAppointmentId": j.appointment_ids.last().copied().unwrap_or(0),
        "recallForId": null,
        "warrantyId": null,
        "jobGeneratedLeadSource": j.lead_source.map(|(job, emp)| json!({ "jobId": job, "employeeId": emp })),
        "noCharge": j.no_charge,
        "notificationsEnabled": true,
        "createdOn": ts(j.created_on),
        "createdById": j.created_by_id,
        "modifiedOn": ts(j.modified_on),
        "tagTypeIds": j.tag_type_ids,
        "leadCallId": j.lead_call_id,
        "partnerLeadCallId": null,
        "bookingId": j.booking_id,
        "soldById": j.sold_by_id,
        "customerPo": j.customer_po,
        "invoiceId": j.invoice_id,
        "membershipId": null,
        "total": total,
        "createdFromEstimateId": null,
        "estimateIds": j.estimate_ids,
        "equipmentIds": [],
        "isAutoDispatched": false,
        "summary": j.summary,
        "customFields": j.custom_fields.iter()
            .map(|(id, v)| json!({ "typeId": id, "name": format!("Custom Field {id}"), "value": v }))
            .collect::<Vec<_>>(),
        "externalData": ext_json(&j.external_data, guid),
        "summaryOfWork": null,
    })
}

pub fn appointment_json(a: &Appointment) -> Value {
    json!({
        "id": a.id,
        "jobId": a.job_id,
        "appointmentNumber": a.number,
        "start": ts(a.start),
        "end": ts(a.end),
        "arrivalWindowStart": ts_opt(a.arrival_window_start),
        "arrivalWindowEnd": ts_opt(a.arrival_window_end),
        "status": a.status,
        "specialInstructions": a.special_instructions,
        "createdOn": ts(a.created_on),
        "modifiedOn": ts(a.modified_on),
        "customerId": a.customer_id,
        "unused": false,
        "createdById": a.created_by_id,
        "isConfirmed": a.is_confirmed,
        "active": a.active,
        "appointmentSummaries": [],
    })
}

fn job_note_json(n: &Note) -> Value {
    json!({
        "text": n.text,
        "isPinned": n.is_pinned,
        "createdById": n.created_by_id,
        "createdOn": ts(n.created_on),
        "modifiedOn": ts(n.modified_on),
    })
}

// ----------------------------------------------------------------------------------------------------------------
// Job creation (shared with the seed)

/// One appointment of a job to insert.
pub struct NewAppointment {
    pub start: Timestamp,
    pub end: Timestamp,
    pub arrival_window: Option<(Timestamp, Timestamp)>,
    pub technician_ids: Vec<i64>,
}

/// A validated job to insert.
pub struct NewJob {
    pub customer_id: i64,
    pub location_id: i64,
    pub business_unit_id: i64,
    pub job_type_id: i64,
    pub priority: String,
    pub campaign_id: i64,
    pub appointments: Vec<NewAppointment>,
    pub summary: Option<String>,
    pub custom_fields: Vec<(i64, String)>,
    pub tag_type_ids: Vec<i64>,
    pub external_data: Vec<ExtData>,
    pub customer_po: String,
    pub sold_by_id: Option<i64>,
    pub booking_id: Option<i64>,
    pub lead_source: Option<(Option<i64>, Option<i64>)>,
    pub no_charge: bool,
}

/// Referential checks against the tenant's records; errors keyed by field.
pub fn check_refs(t: &Tenant, j: &NewJob) -> ApiResult<()> {
    let mut c = Check::default();
    if !t.customers.contains_key(&j.customer_id) {
        c.add(
            "CustomerId",
            format!("Customer with ID={} was not found.", j.customer_id),
        );
    }
    match t.locations.get(&j.location_id) {
        None => c.add(
            "LocationId",
            format!("Location with ID={} was not found.", j.location_id),
        ),
        Some(l) if l.customer_id != j.customer_id => c.add(
            "LocationId",
            format!(
                "Location {} does not belong to customer {}.",
                j.location_id, j.customer_id
            ),
        ),
        Some(_) => {}
    }
    if !t.business_units.contains_key(&j.business_unit_id) {
        c.add(
            "BusinessUnitId",
            format!("Business unit with ID={} was not found.", j.business_unit_id),
        );
    }
    if !t.job_types.contains_key(&j.job_type_id) {
        c.add(
            "JobTypeId",
            format!("Job type with ID={} was not found.", j.job_type_id),
        );
    }
    if !t.campaigns.contains_key(&j.campaign_id) {
        c.add(
            "CampaignId",
            format!("Campaign with ID={} was not found.", j.campaign_id),
        );
    }
    for (i, a) in j.appointments.iter().enumerate() {
        for tech in &a.technician_ids {
            if !t.technicians.contains_key(tech) {
                c.add(
                    format!("Appointments[{i}].TechnicianIds"),
                    format!("Technician with ID={tech} was not found."),
                );
            }
        }
    }
    c.finish()
}

/// Inserts the job, its appointments (Scheduled) and its invoice; returns the job id.
pub fn insert_job(t: &mut Tenant, j: NewJob, now: Timestamp) -> i64 {
    let id = t.next_id();
    let job_number = id.to_string();
    let mut appointment_ids = Vec::new();
    for (i, a) in j.appointments.into_iter().enumerate() {
        let aid = t.next_id();
        t.appointments.insert(
            aid,
            Appointment {
                id: aid,
                job_id: id,
                number: format!("{job_number}-{}", i + 1),
                start: a.start,
                end: a.end,
                arrival_window_start: a.arrival_window.map(|w| w.0),
                arrival_window_end: a.arrival_window.map(|w| w.1),
                status: "Scheduled".into(),
                technician_ids: a.technician_ids,
                special_instructions: None,
                customer_id: j.customer_id,
                is_confirmed: false,
                active: true,
                created_by_id: t.api_user_id,
                created_on: now,
                modified_on: now,
            },
        );
        appointment_ids.push(aid);
    }
    let invoice_id = t.next_id();
    let invoice_date = day_start(now);
    t.invoices.insert(
        invoice_id,
        Invoice {
            id: invoice_id,
            reference_number: Some(job_number.clone()),
            job_id: Some(id),
            customer_id: j.customer_id,
            location_id: j.location_id,
            business_unit_id: j.business_unit_id,
            invoice_date,
            due_date: invoice_date + SignedDuration::from_hours(24 * TERM_DAYS),
            term_name: TERM_NAME.into(),
            sub_total: 0,
            sales_tax: 0,
            total: 0,
            balance: 0,
            items: Vec::new(),
            summary: j.summary.clone(),
            paid_on: None,
            active: true,
            created_on: now,
            modified_on: now,
        },
    );
    let job = Job {
        id,
        job_number,
        customer_id: j.customer_id,
        location_id: j.location_id,
        business_unit_id: j.business_unit_id,
        job_type_id: j.job_type_id,
        priority: j.priority,
        campaign_id: j.campaign_id,
        status: "Scheduled".into(),
        appointment_ids,
        invoice_id,
        summary: j.summary,
        customer_po: j.customer_po,
        tag_type_ids: j.tag_type_ids,
        custom_fields: j.custom_fields,
        external_data: j.external_data,
        estimate_ids: Vec::new(),
        sold_by_id: j.sold_by_id,
        lead_source: j.lead_source,
        booking_id: j.booking_id,
        lead_call_id: None,
        no_charge: j.no_charge,
        completed_on: None,
        notes: Vec::new(),
        active: true,
        created_by_id: t.api_user_id,
        created_on: now,
        modified_on: now,
    };
    t.jobs.insert(id, job);
    id
}

/// Marks a job Completed (appointments Done) and bills it: when the invoice is still empty it gets one service line
/// at `total` (or the job type's typical price). Returns an error for unknown or canceled jobs.
pub fn complete_job(t: &mut Tenant, id: i64, total: Option<i64>, now: Timestamp) -> ApiResult<()> {
    let job = t.jobs.get(&id).ok_or_else(|| ApiError::not_found("Job", id))?.clone();
    if job.status == "Canceled" {
        return Err(ApiError::field("JobStatus", "A canceled job cannot be completed."));
    }
    let job_type = t.job_types.get(&job.job_type_id).cloned();
    for aid in &job.appointment_ids {
        if let Some(a) = t.appointments.get_mut(aid) {
            a.status = "Done".into();
            a.modified_on = now;
        }
    }
    let item_id = t.next_id();
    let sku_id = t.next_id();
    if let Some(inv) = t.invoices.get_mut(&job.invoice_id) {
        if inv.items.is_empty() {
            let price = total.or(job_type.as_ref().map(|jt| jt.typical_price)).unwrap_or(0);
            let name = job_type
                .as_ref()
                .map(|jt| jt.name.clone())
                .unwrap_or_else(|| "Service".into());
            inv.items.push(InvoiceItem {
                id: item_id,
                sku_id,
                sku_name: name.to_uppercase().replace(' ', "-"),
                description: name,
                quantity: 1,
                price,
                cost: 0,
                created_on: now,
            });
            inv.sub_total = price;
            inv.total = price;
            inv.balance = price;
        }
        inv.invoice_date = day_start(now);
        inv.due_date = inv.invoice_date + SignedDuration::from_hours(24 * TERM_DAYS);
        inv.modified_on = now;
    }
    if let Some(j) = t.jobs.get_mut(&id) {
        j.status = "Completed".into();
        j.completed_on = Some(now);
        j.modified_on = now;
    }
    Ok(())
}

/// `appointment.changed` for each of `ids` (after their status changed).
pub fn emit_appointments(st: &AppState, t: &Tenant, ids: &[i64], now: Timestamp) {
    for a in ids.iter().filter_map(|id| t.appointments.get(id)) {
        st.emit(t, "appointment.changed", &appointment_json(a), now);
    }
}

/// `complete_job` plus its webhooks: `appointment.changed` (Done), `invoice.created` (the invoice is billed now; the
/// sandbox creates it empty with the job) and `job.completed`.
pub fn complete_job_emitting(
    st: &AppState,
    t: &mut Tenant,
    id: i64,
    total: Option<i64>,
    now: Timestamp,
) -> ApiResult<Value> {
    complete_job(t, id, total, now)?;
    let job = t.jobs[&id].clone();
    emit_appointments(st, t, &job.appointment_ids, now);
    if let Some(inv) = t.invoices.get(&job.invoice_id) {
        st.emit(t, "invoice.created", &crate::api::accounting::invoice_json(t, inv), now);
    }
    let out = job_json(t, &job, None);
    st.emit(t, "job.completed", &out, now);
    Ok(out)
}

/// Dispatches a Scheduled job (job and its Scheduled appointments → Dispatched); emits `appointment.changed` and
/// `job.dispatched`.
pub fn dispatch_job(st: &AppState, t: &mut Tenant, id: i64, now: Timestamp) -> ApiResult<Value> {
    let job = t.jobs.get(&id).ok_or_else(|| ApiError::not_found("Job", id))?;
    if job.status != "Scheduled" {
        return Err(ApiError::field(
            "JobStatus",
            format!("Only a Scheduled job can be dispatched; job {id} is {}.", job.status),
        ));
    }
    let ids = job.appointment_ids.clone();
    let mut changed = Vec::new();
    for aid in &ids {
        if let Some(a) = t.appointments.get_mut(aid)
            && a.status == "Scheduled"
        {
            a.status = "Dispatched".into();
            a.modified_on = now;
            changed.push(*aid);
        }
    }
    if let Some(j) = t.jobs.get_mut(&id) {
        j.status = "Dispatched".into();
        j.modified_on = now;
    }
    emit_appointments(st, t, &changed, now);
    let out = job_json(t, &t.jobs[&id], None);
    st.emit(t, "job.dispatched", &out, now);
    Ok(out)
}

fn parse_new_job(v: &Value) -> ApiResult<NewJob> {
    let mut c = Check::default();
    match v["appointments"].as_array() {
        Some(list) if !list.is_empty() => {
            for (i, a) in list.iter().enumerate() {
                c.require(a, &format!("Appointments[{i}]."), "start");
                c.require(a, &format!("Appointments[{i}]."), "end");
            }
        }
        _ => c.add("Appointments", "At least one appointment is required."),
    }
    c.finish()?;
    let r: CreateJobReq = typed(v)?;
    let mut c = Check::default();
    let priority = r.priority.clone().unwrap_or_default();
    let priority = match PRIORITIES.iter().find(|p| p.eq_ignore_ascii_case(&priority)) {
        Some(p) => p.to_string(),
        None => {
            c.add(
                "Priority",
                format!(
                    "The value '{priority}' is not valid. Values: [{}]",
                    PRIORITIES.join(", ")
                ),
            );
            String::new()
        }
    };
    let mut appointments = Vec::new();
    for (i, a) in r.appointments.unwrap_or_default().into_iter().enumerate() {
        let time = |c: &mut Check, s: Option<&str>, f: &str| -> Option<Timestamp> {
            let s = s?;
            let t = parse_time(s);
            if t.is_none() {
                c.add(
                    format!("Appointments[{i}].{f}"),
                    format!("The value '{s}' is not a valid date-time."),
                );
            }
            t
        };
        let start = time(&mut c, a.start.as_deref(), "Start");
        let end = time(&mut c, a.end.as_deref(), "End");
        let ws = time(&mut c, a.arrival_window_start.as_deref(), "ArrivalWindowStart");
        let we = time(&mut c, a.arrival_window_end.as_deref(), "ArrivalWindowEnd");
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                c.add(
                    format!("Appointments[{i}].End"),
                    "The appointment end must be after its start.",
                );
            }
            let window = match (ws, we) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            };
            appointments.push(NewAppointment {
                start: s,
                end: e,
                arrival_window: window,
                technician_ids: a.technician_ids.unwrap_or_default(),
            });
        }
    }
    c.finish()?;
    Ok(NewJob {
        customer_id: r.customer_id.unwrap_or_default(),
        location_id: r.location_id.unwrap_or_default(),
        business_unit_id: r.business_unit_id.unwrap_or_default(),
        job_type_id: r.job_type_id.unwrap_or_default(),
        priority,
        campaign_id: r.campaign_id.unwrap_or_default(),
        appointments,
        summary: r.summary,
        custom_fields: custom_fields(r.custom_fields),
        tag_type_ids: r.tag_type_ids.unwrap_or_default(),
        external_data: ext_data(r.external_data),
        customer_po: r.customer_po.unwrap_or_default(),
        sold_by_id: r.sold_by_id,
        booking_id: r.booking_id,
        lead_source: r.job_generated_lead_source.map(|l| (l.job_id, l.employee_id)),
        no_charge: r.no_charge.unwrap_or(false),
    })
}

// ----------------------------------------------------------------------------------------------------------------
// Handlers

pub async fn list_job_types(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let name = q.str("name").map(str::to_string);
    let min = q.i64("minDuration")?;
    let max = q.i64("maxDuration")?;
    let priority = q.str("priority").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.job_types.values(),
            ListOpts { active: true },
            |j| {
                name.as_deref().is_none_or(|n| contains_ci(&j.name, n))
                    && min.is_none_or(|m| j.duration >= m)
                    && max.is_none_or(|m| j.duration <= m)
                    && priority.as_deref().is_none_or(|p| j.priority.eq_ignore_ascii_case(p))
            },
            job_type_json,
        )
    })
}

pub async fn get_job_type(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let j = t
            .job_types
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Job type", p.id))?;
        ok(job_type_json(j))
    })
}

pub async fn create_job(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(
        &body,
        &[
            "customerId",
            "locationId",
            "businessUnitId",
            "jobTypeId",
            "priority",
            "campaignId",
            "appointments",
        ],
    )?;
    let new_job = parse_new_job(&v)?;
    st.tenant(p.tenant, |t, now| {
        check_refs(t, &new_job)?;
        let id = insert_job(t, new_job, now);
        let job = &t.jobs[&id];
        st.emit(t, "job.scheduled", &job_json(t, job, None), now);
        ok(job_json(t, job, own_guid(&job.external_data)))
    })
}

pub async fn get_job(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let guid = q.str("externalDataApplicationGuid").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        let j = t.jobs.get(&p.id).ok_or_else(|| ApiError::not_found("Job", p.id))?;
        ok(job_json(t, j, guid.as_deref()))
    })
}

pub async fn list_jobs(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let number = q.str("number").map(str::to_string);
    let status = q.enumerated("jobStatus", &JOB_STATUSES)?;
    let priority = q.enumerated("priority", &PRIORITIES)?;
    let customer_id = q.i64("customerId")?;
    let location_id = q.i64("locationId")?;
    let job_type_id = q.i64("jobTypeId")?;
    let campaign_id = q.i64("campaignId")?;
    let business_unit_id = q.i64("businessUnitId")?;
    let invoice_id = q.i64("invoiceId")?;
    let sold_by_id = q.i64("soldById")?;
    let booking_id = q.i64("bookingId")?;
    let technician_id = q.i64("technicianId")?;
    let first_from = q.time("firstAppointmentStartsOnOrAfter")?;
    let first_before = q.time("firstAppointmentStartsBefore")?;
    let any_from = q.time("appointmentStartsOnOrAfter")?;
    let any_before = q.time("appointmentStartsBefore")?;
    let completed_from = q.time("completedOnOrAfter")?;
    let completed_before = q.time("completedBefore")?;
    let guid = q.str("externalDataApplicationGuid").map(str::to_string);
    let ext = ext_filter(&q)?;
    st.tenant(p.tenant, |t, _| {
        let appts = |j: &Job| {
            j.appointment_ids
                .iter()
                .filter_map(|a| t.appointments.get(a))
                .collect::<Vec<_>>()
        };
        list(
            &q,
            t.jobs.values(),
            ListOpts { active: false },
            |j| {
                let a = appts(j);
                number.as_deref().is_none_or(|n| j.job_number == n)
                    && status.is_none_or(|s| j.status == s)
                    && priority.is_none_or(|s| j.priority == s)
                    && customer_id.is_none_or(|x| j.customer_id == x)
                    && location_id.is_none_or(|x| j.location_id == x)
                    && job_type_id.is_none_or(|x| j.job_type_id == x)
                    && campaign_id.is_none_or(|x| j.campaign_id == x)
                    && business_unit_id.is_none_or(|x| j.business_unit_id == x)
                    && invoice_id.is_none_or(|x| j.invoice_id == x)
                    && sold_by_id.is_none_or(|x| j.sold_by_id == Some(x))
                    && booking_id.is_none_or(|x| j.booking_id == Some(x))
                    && technician_id.is_none_or(|x| a.iter().any(|ap| ap.technician_ids.contains(&x)))
                    && first_from.is_none_or(|x| a.first().is_some_and(|ap| ap.start >= x))
                    && first_before.is_none_or(|x| a.first().is_some_and(|ap| ap.start < x))
                    && any_from.is_none_or(|x| a.iter().any(|ap| ap.start >= x))
                    && any_before.is_none_or(|x| a.iter().any(|ap| ap.start < x))
                    && completed_from.is_none_or(|x| j.completed_on.is_some_and(|c| c >= x))
                    && completed_before.is_none_or(|x| j.completed_on.is_some_and(|c| c < x))
                    && ext.as_ref().is_none_or(|f| ext_matches(&j.external_data, f))
            },
            |j| job_json(t, j, guid.as_deref()),
        )
    })
}

pub async fn cancel_job(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["reasonId", "memo"])?;
    let req: CancelReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        let job = t.jobs.get(&p.id).ok_or_else(|| ApiError::not_found("Job", p.id))?;
        if job.status == "Completed" || job.status == "Canceled" {
            return Err(ApiError::field(
                "JobStatus",
                format!("A job in status {} cannot be canceled.", job.status),
            ));
        }
        let appointment_ids = job.appointment_ids.clone();
        for a in appointment_ids {
            if let Some(a) = t.appointments.get_mut(&a) {
                a.status = "Canceled".into();
                a.modified_on = now;
            }
        }
        let note_id = t.next_id();
        let user = t.api_user_id;
        if let Some(j) = t.jobs.get_mut(&p.id) {
            j.status = "Canceled".into();
            j.modified_on = now;
            if let Some(memo) = req.memo.filter(|m| !m.is_empty()) {
                let text = format!("Job canceled: {memo}");
                j.notes.push(Note {
                    id: note_id,
                    text,
                    is_pinned: false,
                    created_by_id: user,
                    created_on: now,
                    modified_on: now,
                });
            }
        }
        let appointment_ids = t.jobs[&p.id].appointment_ids.clone();
        emit_appointments(&st, t, &appointment_ids, now);
        let out = job_json(t, &t.jobs[&p.id], None);
        st.emit(t, "job.canceled", &out, now);
        ok_empty()
    })
}

pub async fn create_job_note(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["text"])?;
    let req: JobNoteReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        if !t.jobs.contains_key(&p.id) {
            return Err(ApiError::not_found("Job", p.id));
        }
        let note = Note {
            id: t.next_id(),
            text: req.text.unwrap_or_default(),
            is_pinned: req.pin_to_top.unwrap_or(false),
            created_by_id: t.api_user_id,
            created_on: now,
            modified_on: now,
        };
        let out = job_note_json(&note);
        if let Some(j) = t.jobs.get_mut(&p.id) {
            j.notes.push(note);
        }
        ok(out)
    })
}

pub async fn list_job_notes(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let j = t.jobs.get(&p.id).ok_or_else(|| ApiError::not_found("Job", p.id))?;
        list_plain(&q, &j.notes, job_note_json)
    })
}

pub async fn list_appointments(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let job_id = q.i64("jobId")?;
    let number = q.str("number").map(str::to_string);
    let status = q.enumerated("status", &APPOINTMENT_STATUSES)?;
    let from = q.time("startsOnOrAfter")?;
    let before = q.time("startsBefore")?;
    let technician_id = q.i64("technicianId")?;
    let customer_id = q.i64("customerId")?;
    let unused = q.bool("unused")?;
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.appointments.values(),
            ListOpts { active: true },
            |a| {
                job_id.is_none_or(|x| a.job_id == x)
                    && number.as_deref().is_none_or(|n| a.number == n)
                    && status.is_none_or(|s| a.status == s)
                    && from.is_none_or(|x| a.start >= x)
                    && before.is_none_or(|x| a.start < x)
                    && technician_id.is_none_or(|x| a.technician_ids.contains(&x))
                    && customer_id.is_none_or(|x| a.customer_id == x)
                    && unused.is_none_or(|u| !u)
            },
            appointment_json,
        )
    })
}

pub async fn get_appointment(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let a = t
            .appointments
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Appointment", p.id))?;
        ok(appointment_json(a))
    })
}

pub async fn export_jobs(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        export(&q, t.jobs.values(), |j| with_active(job_json(t, j, None), j.active))
    })
}

pub async fn export_appointments(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| export(&q, t.appointments.values(), appointment_json))
}

/// A required date-time field of a request, or its field error.
fn required_time(c: &mut Check, field: &str, value: &Option<String>) -> Option<Timestamp> {
    match value.as_deref().map(parse_time) {
        Some(Some(t)) => Some(t),
        Some(None) => {
            c.add(
                pascal_field(field),
                format!("The value of {field} is not a valid date-time."),
            );
            None
        }
        None => {
            c.add(
                pascal_field(field),
                format!("The {} field is required.", pascal_field(field)),
            );
            None
        }
    }
}

fn optional_time(c: &mut Check, field: &str, value: &Option<String>) -> Option<Timestamp> {
    value.as_ref()?;
    required_time(c, field, value)
}

fn pascal_field(field: &str) -> String {
    crate::util::pascal(field)
}

/// `PATCH /appointments/{id}/reschedule`: a new time for a visit. Emits `appointment.changed` and `job.rescheduled`.
pub async fn reschedule_appointment(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &[])?;
    let req: RescheduleReq = typed(&v)?;
    let mut c = Check::default();
    let start = required_time(&mut c, "start", &req.start);
    let end = required_time(&mut c, "end", &req.end);
    let window_start = optional_time(&mut c, "arrivalWindowStart", &req.arrival_window_start);
    let window_end = optional_time(&mut c, "arrivalWindowEnd", &req.arrival_window_end);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        c.add("End", "The end must be after the start.");
    }
    c.finish()?;
    let (start, end) = (start.expect("checked"), end.expect("checked"));
    st.tenant(p.tenant, |t, now| {
        let a = t
            .appointments
            .get_mut(&p.id)
            .ok_or_else(|| ApiError::not_found("Appointment", p.id))?;
        if a.status == "Done" || a.status == "Canceled" {
            return Err(ApiError::field(
                "Status",
                format!("An appointment in status {} cannot be rescheduled.", a.status),
            ));
        }
        a.start = start;
        a.end = end;
        a.arrival_window_start = window_start;
        a.arrival_window_end = window_end;
        a.modified_on = now;
        let job_id = a.job_id;
        let out = appointment_json(a);
        if let Some(j) = t.jobs.get_mut(&job_id) {
            j.modified_on = now;
        }
        st.emit(t, "appointment.changed", &out, now);
        let job = job_json(t, &t.jobs[&job_id], None);
        st.emit(t, "job.rescheduled", &job, now);
        ok(out)
    })
}

/// `POST /appointments`: another visit for a job (a rebooking). Emits `appointment.changed`.
pub async fn add_appointment(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["jobId", "start", "end"])?;
    let req: AddAppointmentReq = typed(&v)?;
    let mut c = Check::default();
    let start = required_time(&mut c, "start", &req.start);
    let end = required_time(&mut c, "end", &req.end);
    let window_start = optional_time(&mut c, "arrivalWindowStart", &req.arrival_window_start);
    let window_end = optional_time(&mut c, "arrivalWindowEnd", &req.arrival_window_end);
    c.finish()?;
    let (start, end) = (start.expect("checked"), end.expect("checked"));
    let job_id = req.job_id.expect("required by body_value");
    st.tenant(p.tenant, |t, now| {
        let job = t.jobs.get(&job_id).ok_or_else(|| ApiError::not_found("Job", job_id))?;
        if job.status == "Completed" || job.status == "Canceled" {
            return Err(ApiError::conflict(format!(
                "Job {job_id} is {}; it takes no new appointments.",
                job.status
            )));
        }
        for tech in req.technician_ids.iter().flatten() {
            if !t.technicians.contains_key(tech) {
                return Err(ApiError::field(
                    "TechnicianIds",
                    format!("Technician with ID={tech} was not found."),
                ));
            }
        }
        let (customer_id, job_number, count) = (job.customer_id, job.job_number.clone(), job.appointment_ids.len());
        let id = t.next_id();
        let appointment = Appointment {
            id,
            job_id,
            number: format!("{job_number}-{}", count + 1),
            start,
            end,
            arrival_window_start: window_start,
            arrival_window_end: window_end,
            status: "Scheduled".into(),
            technician_ids: req.technician_ids.clone().unwrap_or_default(),
            special_instructions: req.special_instructions.clone(),
            customer_id,
            is_confirmed: false,
            active: true,
            created_by_id: t.api_user_id,
            created_on: now,
            modified_on: now,
        };
        let out = appointment_json(&appointment);
        t.appointments.insert(id, appointment);
        if let Some(j) = t.jobs.get_mut(&job_id) {
            j.appointment_ids.push(id);
            j.modified_on = now;
        }
        st.emit(t, "appointment.changed", &out, now);
        ok(out)
    })
}
