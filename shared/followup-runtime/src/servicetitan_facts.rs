//! Facts from ServiceTitan: each entity read live and turned into the engine's [`Facts`], the profile read once at
//! enrollment, and a customer's contacts at send time.

use followups::facts::{Facts, Status};
use followups::recipient::{Contact, ContactKind};
use jiff::Timestamp;
use servicetitan::models::accounting::{Invoice, cents};
use servicetitan::models::crm::ContactType;
use servicetitan::models::jpm::{Appointment, Job};
use servicetitan::models::sales::Estimate;
use servicetitan::{Client, Error};
use shared::event::EntityKind;

use crate::profile::Profile;

/// A missed visit counts as rebooked once another visit was booked after it started, or it was itself moved to a
/// time still ahead.
fn rebooked(a: &Appointment, all: &[Appointment], now: Timestamp) -> bool {
    let live = |x: &Appointment| x.active && x.status != "Canceled";
    (live(a) && a.start > now)
        || all
            .iter()
            .any(|b| b.id != a.id && live(b) && b.created_on >= a.start && b.start > a.start)
}

/// An estimate's facts: deactivated is inactive, and a status this build does not know (or none) is unknown, never
/// guessed open.
pub fn estimate_facts(e: &Estimate) -> Facts {
    let status = if e.active {
        e.status_name().and_then(Status::of_estimate).unwrap_or(Status::Unknown)
    } else {
        Status::Inactive
    };
    let mut f = Facts::new(EntityKind::Estimate, e.id.to_string(), e.modified_on, status);
    f.amount_cents = Some((e.subtotal * 100.0).round() as i64);
    f.business_unit_id = e.business_unit_id;
    f.name = e.name.clone();
    f.customer_id = e.customer_id;
    f.location_id = e.location_id;
    f.job_id = e.job_id;
    f.number = e.job_number.clone();
    f
}

pub fn invoice_facts(i: &Invoice) -> Facts {
    let total = i.total.as_deref().and_then(cents).unwrap_or(0);
    let balance = i.balance_cents().unwrap_or(0);
    let modified = i.modified_on.unwrap_or(i.created_on);
    let mut f = Facts::new(
        EntityKind::Invoice,
        i.id.to_string(),
        modified,
        Status::of_invoice(total, balance),
    );
    f.amount_cents = Some(total);
    f.balance_cents = Some(balance);
    f.due_date = i.due_date.as_deref().and_then(shared::clock::parse_flexible);
    f.number = i.reference_number.clone();
    f.business_unit_id = i.business_unit.as_ref().map(|b| b.id);
    f.customer_id = i.customer.as_ref().map(|c| c.id);
    f.location_id = i.location.as_ref().map(|l| l.id);
    f.job_id = i.job.as_ref().map(|j| j.id);
    f
}

pub fn job_facts(j: &Job) -> Facts {
    let status = Status::of_job(&j.job_status).unwrap_or(Status::Unknown);
    let mut f = Facts::new(EntityKind::Job, j.id.to_string(), j.modified_on, status);
    f.business_unit_id = Some(j.business_unit_id);
    f.job_type_id = Some(j.job_type_id);
    f.number = Some(j.job_number.clone());
    f.customer_id = Some(j.customer_id);
    f.location_id = Some(j.location_id);
    f.job_id = Some(j.id);
    f.invoice_id = Some(j.invoice_id);
    f
}

/// An appointment's facts, with its job's fields (for recipe filters) when the job is known, and whether it was
/// rebooked among `all` of its job's appointments.
pub fn appointment_facts(a: &Appointment, job: Option<&Job>, all: &[Appointment], now: Timestamp) -> Facts {
    let status = Status::of_appointment(&a.status).unwrap_or(Status::Unknown);
    let mut f = Facts::new(EntityKind::Appointment, a.id.to_string(), a.modified_on, status);
    f.start = Some(a.start);
    f.window_start = Some(a.arrival_window_start.unwrap_or(a.start));
    f.window_end = Some(a.arrival_window_end.unwrap_or(a.end));
    f.rebooked = rebooked(a, all, now);
    f.customer_id = Some(a.customer_id);
    f.job_id = Some(a.job_id);
    if let Some(j) = job {
        f.business_unit_id = Some(j.business_unit_id);
        f.job_type_id = Some(j.job_type_id);
        f.number = Some(j.job_number.clone());
        f.location_id = Some(j.location_id);
        f.invoice_id = Some(j.invoice_id);
    }
    f
}

/// A missed call, from the event itself (a call's record does not change in a way that matters).
/// A missed call's facts: the caller, and the customer and location when a lead matched or made them (the profile
/// then has the caller's name and time zone).
pub fn call_facts(id: &str, from: Option<&str>, customer: (Option<i64>, Option<i64>), at: Timestamp) -> Facts {
    let mut f = Facts::new(EntityKind::Call, id, at, Status::Missed);
    f.phone = from.and_then(followups::recipient::e164);
    (f.customer_id, f.location_id) = customer;
    f
}

pub async fn estimate(client: &Client, id: i64) -> Result<Facts, Error> {
    Ok(estimate_facts(&client.estimate(id).await?))
}

/// The estimates of one job, each knowing whether another of them is sold (Good/Better/Best options).
pub fn options_facts(estimates: &[Estimate]) -> Vec<Facts> {
    let sold: Vec<i64> = estimates
        .iter()
        .filter(|e| e.active && e.status_name().and_then(Status::of_estimate) == Some(Status::Sold))
        .map(|e| e.id)
        .collect();
    estimates
        .iter()
        .map(|e| {
            let mut f = estimate_facts(e);
            f.option_sold = sold.iter().any(|id| *id != e.id);
            f
        })
        .collect()
}

/// An estimate read with its job's other estimates (one call when the job is known): the estimate's facts, and the
/// other options'.
pub async fn estimate_among_options(
    client: &Client,
    id: i64,
    job_id: Option<i64>,
) -> Result<(Facts, Vec<Facts>), Error> {
    let job_id = match job_id {
        Some(j) => j,
        None => {
            let e = client.estimate(id).await?;
            match e.job_id {
                Some(j) => j,
                None => return Ok((estimate_facts(&e), Vec::new())),
            }
        }
    };
    let mut all = options_facts(&client.job_estimates(job_id, None).await?);
    match all.iter().position(|f| f.id == id.to_string()) {
        Some(i) => {
            let me = all.remove(i);
            Ok((me, all))
        }
        // Moved to another job meanwhile: read it alone.
        None => Ok((estimate_facts(&client.estimate(id).await?), Vec::new())),
    }
}

/// `None` when ServiceTitan has no such invoice.
pub async fn invoice(client: &Client, id: i64) -> Result<Option<Facts>, Error> {
    let found = client
        .invoices(&servicetitan::resources::accounting::InvoiceFilter {
            ids: vec![id],
            ..Default::default()
        })
        .await?;
    Ok(found.first().map(invoice_facts))
}

/// Invoices by id, in one request per 50.
pub async fn invoices(client: &Client, ids: &[i64]) -> Result<Vec<Facts>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = client
        .invoices(&servicetitan::resources::accounting::InvoiceFilter {
            ids: ids.to_vec(),
            ..Default::default()
        })
        .await?;
    Ok(found.iter().map(invoice_facts).collect())
}

/// The invoices a payment was applied to.
pub async fn payment_invoices(client: &Client, payment_id: i64) -> Result<Vec<i64>, Error> {
    let payments = client.payments_by_ids(&[payment_id]).await?;
    let mut ids: Vec<i64> = payments
        .iter()
        .flat_map(|p| p.applied_to.iter().flatten())
        .filter_map(|a| a.applied_to)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// A job's facts and every appointment's, with one call each.
pub async fn job_and_appointments(
    client: &Client,
    job_id: i64,
    now: Timestamp,
) -> Result<(Job, Facts, Vec<Facts>), Error> {
    let job = client.job(job_id).await?;
    let appointments = client.job_appointments(job_id).await?;
    let facts = appointments
        .iter()
        .map(|a| appointment_facts(a, Some(&job), &appointments, now))
        .collect();
    Ok((job.clone(), job_facts(&job), facts))
}

/// One appointment's facts among its job's appointments (one call), without the job's fields.
pub async fn appointment_among_job(
    client: &Client,
    job_id: i64,
    appointment_id: i64,
    now: Timestamp,
) -> Result<Option<Facts>, Error> {
    let appointments = client.job_appointments(job_id).await?;
    Ok(appointments
        .iter()
        .find(|a| a.id == appointment_id)
        .map(|a| appointment_facts(a, None, &appointments, now)))
}

/// One appointment (one call).
pub async fn appointment(client: &Client, id: i64, now: Timestamp) -> Result<Facts, Error> {
    let a = client.appointment(id).await?;
    Ok(appointment_facts(&a, None, std::slice::from_ref(&a), now))
}

/// The customer's phone and email contacts, with ServiceTitan's `doNotText`.
pub async fn contacts(client: &Client, customer_id: i64) -> Result<Vec<Contact>, Error> {
    Ok(client
        .customer_contacts(customer_id)
        .await?
        .into_iter()
        .filter_map(|c| {
            let kind = match c.kind {
                ContactType::MobilePhone => ContactKind::MobilePhone,
                ContactType::Phone => ContactKind::Phone,
                ContactType::Email => ContactKind::Email,
                ContactType::Fax => return None,
            };
            Some(Contact {
                kind,
                value: c.value,
                do_not_text: c.phone_settings.is_some_and(|p| p.do_not_text),
            })
        })
        .collect())
}

/// The profile of the person behind `facts`: the customer (name, `doNotMail`) and the service location's address
/// (time zone), at most two calls; a call's caller needs none.
pub async fn profile(client: &Client, facts: &Facts, tenant_zone: &str) -> Result<Profile, Error> {
    let mut p = Profile {
        customer_id: facts.customer_id,
        location_id: facts.location_id,
        job_id: facts.job_id.or(if facts.kind == EntityKind::Job {
            facts.id.parse().ok()
        } else {
            None
        }),
        job_number: facts.number.clone().filter(|_| facts.kind != EntityKind::Invoice),
        invoice_id: facts.invoice_id.or(if facts.kind == EntityKind::Invoice {
            facts.id.parse().ok()
        } else {
            None
        }),
        phone: facts.phone.clone(),
        ..Profile::default()
    };
    if let Some(id) = facts.customer_id {
        let c = client.customer(id).await?;
        p.customer_name = Some(c.name);
        p.do_not_mail = c.do_not_mail;
        p.state = Some(c.address.state);
        p.zip = Some(c.address.zip);
        p.country = Some(c.address.country);
    }
    // The service location's address sets the time zone; the bill-to address is the fallback.
    if let Some(id) = facts.location_id {
        let l = client.location(id).await?;
        p.state = Some(l.address.state);
        p.zip = Some(l.address.zip);
        p.country = Some(l.address.country);
    }
    p.resolve_time_zone(tenant_zone);
    Ok(p)
}
