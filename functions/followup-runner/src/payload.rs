//! The follow-up as the AI platform receives it (`docs/followup.schema.json`), and the values its message
//! template is rendered with.

use std::collections::BTreeMap;

use followup_runtime::profile::Profile;
use followups::facts::Facts;
use followups::recipe::{Recipe, Step};
use followups::recipient::{Contact, ContactKind, e164, first_name};
use followups::timing::Position;
use followups::{money, money_display};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use shared::clock::iso_millis;
use shared::event::EntityKind;
use shared::tenant_settings::{Channel, TenantSettings};

fn local(t: Timestamp, tz: &TimeZone, format: &str) -> String {
    t.to_zoned_datetime(tz.clone()).strftime(format).to_string()
}

/// The values a template may use, from the live facts (or the profile when the step reads nothing live).
pub fn variables(
    recipe: &Recipe,
    facts: Option<&Facts>,
    profile: &Profile,
    settings: Option<&TenantSettings>,
) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    let tz = profile.zone();
    if let Some(name) = &profile.customer_name {
        v.insert("customer.name", name.clone());
        if let Some(first) = first_name(name) {
            v.insert("customer.firstName", first);
        }
    }
    let company = settings
        .and_then(|s| s.company_name.clone())
        .or_else(|| profile.business_unit_name.clone());
    if let Some(c) = company {
        v.insert("company.name", c);
    }
    if let Some(url) = settings.and_then(|s| s.booking_url.clone()) {
        v.insert("bookingUrl", url);
    }
    if let Some(n) = &profile.job_number {
        v.insert("job.number", n.clone());
    }
    let Some(f) = facts else { return v };
    match f.kind {
        EntityKind::Estimate => {
            if let Some(n) = &f.name {
                v.insert("estimate.name", n.clone());
            }
            if let Some(a) = f.amount_cents {
                v.insert("estimate.amount", money_display(a));
            }
        }
        EntityKind::Invoice => {
            if let Some(n) = &f.number {
                v.insert("invoice.number", n.clone());
            }
            if let Some(a) = f.amount_cents {
                v.insert("invoice.amount", money_display(a));
            }
            if let Some(b) = f.balance_cents {
                v.insert("invoice.balance", money_display(b));
            }
            if let Some(d) = f.due_date {
                // Due dates are dates (ServiceTitan writes midnight UTC): shown as the UTC date.
                v.insert("invoice.dueDate", d.strftime("%B %-d").to_string());
            }
        }
        EntityKind::Appointment if recipe.subject == EntityKind::Appointment => {
            if let Some(start) = f.start {
                v.insert("appointment.date", local(start, &tz, "%A, %B %-d"));
                v.insert("appointment.time", local(start, &tz, "%-I:%M %p"));
            }
            if let (Some(a), Some(b)) = (f.window_start, f.window_end) {
                v.insert(
                    "appointment.window",
                    format!("{} and {}", local(a, &tz, "%-I:%M %p"), local(b, &tz, "%-I:%M %p")),
                );
            }
        }
        _ => {}
    }
    v
}

/// The contact details to hand the platform: the address picked for the channel, and the other kind if known.
pub fn recipient(channel: Channel, address: &str, contacts: &[Contact], profile: &Profile) -> Value {
    let phone = match channel {
        Channel::Sms | Channel::Voice => Some(address.to_owned()),
        Channel::Email => contacts
            .iter()
            .filter(|c| matches!(c.kind, ContactKind::MobilePhone | ContactKind::Phone))
            .find_map(|c| e164(&c.value)),
    };
    let email = match channel {
        Channel::Email => Some(address.to_owned()),
        _ => contacts
            .iter()
            .find(|c| c.kind == ContactKind::Email)
            .map(|c| c.value.trim().to_ascii_lowercase()),
    };
    json!({
        "name": profile.customer_name,
        "phone": phone,
        "email": email,
        "timeZone": profile.time_zone,
    })
}

/// Everything a follow-up delivery says.
pub struct Followup<'a> {
    pub tenant_id: &'a str,
    pub run_id: &'a str,
    pub recipe: &'a Recipe,
    pub step: &'a Step,
    pub position: Position,
    pub recipient: Value,
    pub facts: Option<&'a Facts>,
    pub profile: &'a Profile,
    pub subject_kind: EntityKind,
    pub subject_id: &'a str,
    pub text: &'a str,
    /// What the channel rests on: recorded consent, the tenant's attestation, or the customer's own record.
    pub consent: &'a followups::consent::Basis,
    pub booking_url: Option<&'a str>,
    /// The step's own moment (when the recipe makes it due), not the attempt's: a retried delivery is then
    /// byte-identical to its first attempt, so one `webhook-id` always names one body.
    pub step_at: Timestamp,
}

pub fn body(f: &Followup<'_>) -> Value {
    let amount = f.facts.and_then(|x| x.amount_cents).map(money);
    let mut links = serde_json::Map::new();
    if let Some(url) = f.booking_url {
        links.insert("booking".into(), Value::from(url));
    }
    json!({
        "type": "followup.requested",
        "timestamp": iso_millis(f.step_at),
        "data": {
            "tenantId": f.tenant_id,
            "runId": f.run_id,
            "recipe": f.recipe.id,
            "step": f.step.id,
            "stepIndex": f.position.step,
            // Rounds of a repeating recipe, from 1.
            "attempt": f.position.round + 1,
            "channel": followups::optout::channel_name(f.step.channel),
            "intent": f.step.intent,
            "messageClass": f.recipe.message_class.as_str(),
            "recipient": f.recipient,
            "entity": {
                "kind": f.subject_kind.as_str(),
                "id": f.subject_id,
                "number": f.facts.and_then(|x| x.number.clone()).or_else(|| f.profile.job_number.clone()),
                "amount": amount,
                "balance": f.facts.and_then(|x| x.balance_cents).map(money),
                "dueDate": f.facts.and_then(|x| x.due_date).map(iso_millis),
                "start": f.facts.and_then(|x| x.start).map(iso_millis),
                "links": links,
            },
            "message": {"text": f.text},
            "consent": {
                "basis": f.consent.basis,
                "source": f.consent.source,
                "at": f.consent.at.map(iso_millis),
                "written": f.consent.written,
                "attestedBy": f.consent.attested_by,
            },
        }
    })
}
