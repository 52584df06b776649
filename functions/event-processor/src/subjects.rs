//! What an event is about. Webhooks are hints: the entities they name are read live from ServiceTitan, and an
//! event may concern several (a job's event concerns its appointments; a payment concerns the invoices it paid).
//! Only what an enabled recipe could use is read.

use std::collections::BTreeSet;

use followup_runtime::servicetitan_facts as st;
use followups::decide::Subject;
use followups::facts::Facts;
use jiff::Timestamp;
use serde_json::Value;
use servicetitan::Client;
use shared::event::{EntityKind, EventName, ServiceTitanEvent};

/// The entities an event concerns, read live; `gone` lists those ServiceTitan no longer has.
#[derive(Debug, Default)]
pub struct Concerned {
    pub facts: Vec<Facts>,
    pub gone: Vec<Subject>,
}

/// A ServiceTitan read failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the event's entities from ServiceTitan failed: {0}")]
pub struct FetchError(#[from] pub servicetitan::Error);

/// The entity kinds an event can concern, by the kind it names.
pub fn kinds_reached(event: EventName) -> &'static [EntityKind] {
    match event.entity_kind() {
        EntityKind::Estimate => &[EntityKind::Estimate],
        EntityKind::Job => &[EntityKind::Job, EntityKind::Appointment, EntityKind::Invoice],
        EntityKind::Appointment => &[EntityKind::Appointment],
        EntityKind::Invoice | EntityKind::Payment => &[EntityKind::Invoice],
        EntityKind::Call if event == EventName::CallMissed => &[EntityKind::Call],
        _ => &[],
    }
}

fn payload(event: &ServiceTitanEvent) -> Value {
    serde_json::from_str(event.payload.get()).unwrap_or(Value::Null)
}

/// A field of the delivery's entity: under `data` (the default envelope) or at the top (V1 payloads).
fn hint<'a>(payload: &'a Value, field: &str) -> Option<&'a Value> {
    payload
        .get("data")
        .and_then(|d| d.get(field))
        .or_else(|| payload.get(field))
        .filter(|v| !v.is_null())
}

fn hint_i64(payload: &Value, field: &str) -> Option<i64> {
    hint(payload, field).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
}

fn not_found(e: &servicetitan::Error) -> bool {
    matches!(e, servicetitan::Error::Api { status: 404, .. })
}

/// Reads what `event` concerns among `wanted` kinds. `None` when the event names no usable entity id (nothing to
/// read; retrying would not help).
pub async fn read(
    client: &Client,
    event: &ServiceTitanEvent,
    wanted: &BTreeSet<&'static str>,
    now: Timestamp,
) -> Result<Option<Concerned>, FetchError> {
    let Some(raw_id) = event.entity.id.as_deref() else {
        return Ok(None);
    };
    let wants = |k: EntityKind| wanted.contains(k.as_str());
    let mut out = Concerned::default();
    let id: Option<i64> = raw_id.parse().ok();
    match (event.event_name.entity_kind(), id) {
        (EntityKind::Call, _) => {
            let p = payload(event);
            let from = hint(&p, "from")
                .or_else(|| hint(&p, "callerPhoneNumber"))
                .and_then(Value::as_str);
            let customer = (hint_i64(&p, "customerId"), hint_i64(&p, "locationId"));
            out.facts
                .push(st::call_facts(raw_id, from, customer, event.occurred_at));
        }
        (_, None) => return Ok(None),
        // With the job's other estimates: one option sold ends the follow-ups of the others.
        (EntityKind::Estimate, Some(id)) => {
            match st::estimate_among_options(client, id, hint_i64(&payload(event), "jobId")).await {
                Ok((me, others)) => {
                    let sold = me.status == followups::Status::Sold;
                    out.facts.push(me);
                    if sold {
                        out.facts.extend(others.into_iter().filter(|o| o.option_sold));
                    }
                }
                Err(e) if not_found(&e) => out.gone.push(Subject::new(EntityKind::Estimate, raw_id)),
                Err(e) => return Err(e.into()),
            }
        }
        (EntityKind::Invoice, Some(id)) => match st::invoice(client, id).await? {
            Some(f) => out.facts.push(f),
            None => out.gone.push(Subject::new(EntityKind::Invoice, raw_id)),
        },
        (EntityKind::Payment, Some(id)) => {
            let invoices = st::payment_invoices(client, id).await?;
            out.facts.extend(st::invoices(client, &invoices).await?);
        }
        (EntityKind::Job, Some(id)) => match st::job_and_appointments(client, id, now).await {
            Ok((job, job_facts, appointments)) => {
                if wants(EntityKind::Job) {
                    out.facts.push(job_facts);
                }
                if wants(EntityKind::Appointment) {
                    out.facts.extend(appointments);
                }
                // A completed job's invoice is billed now: the moment to watch it for dunning.
                if wants(EntityKind::Invoice) && event.event_name == EventName::JobCompleted {
                    out.facts.extend(st::invoice(client, job.invoice_id).await?);
                }
            }
            Err(e) if not_found(&e) => out.gone.push(Subject::new(EntityKind::Job, raw_id)),
            Err(e) => return Err(e.into()),
        },
        (EntityKind::Appointment, Some(id)) => {
            // The delivery's jobId saves a read; without it, the appointment itself says which job.
            let job_id = match hint_i64(&payload(event), "jobId") {
                Some(j) => j,
                None => match client.appointment(id).await {
                    Ok(a) => a.job_id,
                    Err(e) if not_found(&e) => {
                        out.gone.push(Subject::new(EntityKind::Appointment, raw_id));
                        return Ok(Some(out));
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            match st::job_and_appointments(client, job_id, now).await {
                Ok((_, _, appointments)) => match appointments.into_iter().find(|f| f.id == raw_id) {
                    Some(f) => out.facts.push(f),
                    None => out.gone.push(Subject::new(EntityKind::Appointment, raw_id)),
                },
                Err(e) if not_found(&e) => out.gone.push(Subject::new(EntityKind::Appointment, raw_id)),
                Err(e) => return Err(e.into()),
            }
        }
        _ => {}
    }
    out.facts.retain(|f| wants(f.kind));
    Ok(Some(out))
}
