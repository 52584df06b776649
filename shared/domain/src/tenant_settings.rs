//! A tenant's settings: how new jobs are tagged in ServiceTitan, when and how customers may be contacted, and which
//! follow-up recipes run.
//!
//! [`parse`] checks everything that can be checked without ServiceTitan (types, time zone, quiet hours, URL, known
//! channels and recipes) and reports every problem at once, by JSON pointer. The tenant-admin function then checks
//! the ids against the tenant's real business units, job types and campaigns.
//!
//! Time zones are looked up in the IANA database: a function that calls [`parse`] enables this crate's
//! `tzdb-bundle` feature, since Lambda's image may not carry one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api_error::FieldError;

/// ServiceTitan's job priorities (`Jpm` `priority`: Low, Normal, High, Urgent).
pub const PRIORITIES: &[&str] = &["Low", "Normal", "High", "Urgent"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
    Voice,
}

impl Channel {
    const ALL: [(&'static str, Channel); 3] = [("sms", Self::Sms), ("email", Self::Email), ("voice", Self::Voice)];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// `HH:MM`, in the *recipient's* local time (the follow-up engine applies them where the customer is); the window
    /// may wrap past midnight.
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSettings {
    pub business_unit_id: i64,
    pub job_type_id: i64,
    pub campaign_id: i64,
    pub priority: String,
    /// IANA name, e.g. `America/Chicago`.
    pub time_zone: String,
    pub quiet_hours: QuietHours,
    #[serde(default)]
    pub booking_url: Option<String>,
    /// Preferred channels, most preferred first.
    pub channels: Vec<Channel>,
    /// Enabled recipe ids, each one the recipe catalogue has (`followups::recipe::Catalogue`).
    pub recipes: Vec<String>,
    /// How follow-ups name the business ("this is Lone Star Home Services"); the business unit's name otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// At most this many follow-ups to one person in any rolling period, across all recipes.
    #[serde(default)]
    pub contact_cap: ContactCap,
    /// Where this tenant's follow-ups are delivered, instead of the deployment's `FOLLOWUP_SINK_URL` (an endpoint of
    /// the AI platform you operate: it receives the deployment's signing secret's signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followup_sink_url: Option<String>,
    /// How leads become ServiceTitan records.
    #[serde(default)]
    pub leads: LeadSettings,
    /// Invoices already overdue when the reconciler first reads them (a tenant connecting) join dunning, from
    /// then; otherwise only invoices that become overdue later are chased.
    #[serde(default)]
    pub include_existing_overdue: bool,
    /// What AI calls rest on: consent recorded per number (the default), or the tenant's attestation.
    #[serde(default)]
    pub ai_call_consent: AiCallConsent,
    /// When each enabled recipe was switched on (kept by the server: an invoice overdue before then was already
    /// overdue when the tenant started dunning).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recipes_enabled_at: std::collections::BTreeMap<String, jiff::Timestamp>,
}

/// The basis for AI calls (an AI voice is an artificial voice under the TCPA, FCC 24-17).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum AiCallConsent {
    /// AI calls go only to numbers with consent on record (a lead's, or the AI platform's).
    #[default]
    Recorded,
    /// The tenant attests that it holds prior express written consent from its customers for AI calls.
    Attested {
        attested_by: String,
        /// Set by the server when the attestation is first made (or made by someone else).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attested_at: Option<jiff::Timestamp>,
    },
}

/// What a lead becomes in ServiceTitan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadMode {
    /// A customer, location and job (with an appointment).
    #[default]
    Job,
    /// A ServiceTitan Booking, for CSRs who accept leads by hand.
    Booking,
}

/// A missed call outside the hours the caller may be texted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterHours {
    /// Text at the next opening.
    #[default]
    Defer,
    /// Text at once, within minutes of the call, that the business is closed, with the booking link.
    ClosedNotice,
}

/// The arrival window given to a new job when the lead asks for none: `daysAhead` days later (skipping Sunday) from
/// `start` for `hours`, in the tenant's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArrivalWindow {
    pub days_ahead: u32,
    pub start: String,
    pub hours: u32,
}

impl Default for ArrivalWindow {
    fn default() -> Self {
        Self {
            days_ahead: 1,
            start: "08:00".into(),
            hours: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadSettings {
    pub mode: LeadMode,
    /// The booking provider tag bookings are filed under (booking mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_provider_id: Option<i64>,
    /// Words in a lead's requested service → job type id (`{"ac repair": 10009, "water heater": 10012}`), matched as
    /// whole words; the longest phrase wins, the settings' `jobTypeId` otherwise.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub job_types: std::collections::BTreeMap<String, i64>,
    /// A second lead for the same customer and location while a job it got within this many hours is still open is
    /// a note on that job, not another job (0: always a new job).
    pub duplicate_job_hours: u32,
    /// Phone numbers without a country code are read as this country's (`US` or `CA`).
    pub country: String,
    pub missed_call_after_hours: AfterHours,
    #[serde(default)]
    pub arrival_window: ArrivalWindow,
}

impl Default for LeadSettings {
    fn default() -> Self {
        Self {
            mode: LeadMode::Job,
            booking_provider_id: None,
            job_types: Default::default(),
            duplicate_job_hours: 72,
            country: "US".into(),
            missed_call_after_hours: AfterHours::Defer,
            arrival_window: ArrivalWindow::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactCap {
    pub messages: u32,
    pub hours: u32,
}

impl Default for ContactCap {
    /// Two messages per rolling 24 hours.
    fn default() -> Self {
        Self { messages: 2, hours: 24 }
    }
}

const FIELDS: &[&str] = &[
    "businessUnitId",
    "jobTypeId",
    "campaignId",
    "priority",
    "timeZone",
    "quietHours",
    "bookingUrl",
    "channels",
    "recipes",
    "companyName",
    "contactCap",
    "followupSinkUrl",
    "leads",
    "includeExistingOverdue",
    "aiCallConsent",
    // The server's own (read back from a GET, ignored on a PUT).
    "recipesEnabledAt",
];

/// Checks a settings document. Defaults: priority `Normal`, quiet hours 21:00–08:00, channels sms, email, voice,
/// and no recipes (nothing is sent to a contractor's customers until a recipe is switched on). `known_recipes` are
/// the catalogue's recipe ids, the only ones `recipes` may list.
pub fn parse(body: &Value, known_recipes: &[&str]) -> Result<TenantSettings, Vec<FieldError>> {
    let mut errors = Vec::new();
    // A string that is no IANA zone fits the API document's schema: its refusal is a rule's (`FieldError::rule`).
    let mut unknown_zone = false;
    let mut fail = |field: &str, reason: String| errors.push(FieldError::new(field, reason));
    let Some(obj) = body.as_object() else {
        fail("", "must be a JSON object".into());
        return Err(errors);
    };
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        fail(
            &format!("/{key}"),
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        );
    }
    let id = |fail: &mut dyn FnMut(&str, String), name: &str| -> i64 {
        match obj.get(name) {
            None | Some(Value::Null) => fail(&format!("/{name}"), "is required".into()),
            Some(v) => match crate::api_error::whole_number(v) {
                Some(n) if n > 0 => return n,
                _ => fail(&format!("/{name}"), "must be a positive integer id".into()),
            },
        }
        0
    };
    let business_unit_id = id(&mut fail, "businessUnitId");
    let job_type_id = id(&mut fail, "jobTypeId");
    let campaign_id = id(&mut fail, "campaignId");

    let priority = match obj.get("priority") {
        None | Some(Value::Null) => "Normal".to_owned(),
        Some(Value::String(p)) if PRIORITIES.contains(&p.as_str()) => p.clone(),
        Some(_) => {
            fail("/priority", format!("must be one of {}", PRIORITIES.join(", ")));
            String::new()
        }
    };

    let time_zone = match obj.get("timeZone") {
        None | Some(Value::Null) => {
            fail(
                "/timeZone",
                "is required (an IANA time zone such as America/Chicago)".into(),
            );
            String::new()
        }
        Some(Value::String(tz)) => match jiff::tz::TimeZone::get(tz) {
            Ok(_) => tz.clone(),
            Err(_) => {
                unknown_zone = true;
                fail(
                    "/timeZone",
                    format!("{tz:?} is not an IANA time zone (e.g. America/Chicago)"),
                );
                String::new()
            }
        },
        Some(_) => {
            fail("/timeZone", "must be a string".into());
            String::new()
        }
    };

    let quiet_hours = match obj.get("quietHours") {
        None | Some(Value::Null) => QuietHours {
            start: "21:00".into(),
            end: "08:00".into(),
        },
        Some(Value::Object(q)) => quiet_hours(q, &mut fail),
        Some(_) => {
            fail(
                "/quietHours",
                "must be an object {\"start\": \"HH:MM\", \"end\": \"HH:MM\"}".into(),
            );
            QuietHours {
                start: String::new(),
                end: String::new(),
            }
        }
    };

    let booking_url = match obj.get("bookingUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => {
            if let Err(reason) = check_url(url) {
                fail("/bookingUrl", reason);
            }
            Some(url.clone())
        }
        Some(_) => {
            fail("/bookingUrl", "must be a string".into());
            None
        }
    };

    let channels = match obj.get("channels") {
        None | Some(Value::Null) => vec![Channel::Sms, Channel::Email, Channel::Voice],
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match Channel::ALL.iter().find(|(name, _)| Some(*name) == item.as_str()) {
                    Some((_, c)) if out.contains(c) => fail(&format!("/channels/{i}"), "is listed twice".into()),
                    Some((_, c)) => out.push(*c),
                    None => fail(&format!("/channels/{i}"), "must be one of sms, email, voice".into()),
                }
            }
            out
        }
        Some(_) => {
            fail("/channels", "must be an array of sms, email, voice".into());
            Vec::new()
        }
    };

    let recipes = match obj.get("recipes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out: Vec<String> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str().filter(|r| known_recipes.contains(r)) {
                    Some(r) if out.iter().any(|o| o == r) => fail(&format!("/recipes/{i}"), "is listed twice".into()),
                    Some(r) => out.push(r.to_owned()),
                    None => fail(
                        &format!("/recipes/{i}"),
                        format!("unknown recipe; expected one of {}", known_recipes.join(", ")),
                    ),
                }
            }
            out
        }
        Some(_) => {
            fail("/recipes", "must be an array of recipe ids".into());
            Vec::new()
        }
    };

    let company_name = match obj.get("companyName") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= 80 => Some(n.trim().to_owned()),
        Some(_) => {
            fail("/companyName", "must be a name of 1 to 80 characters".into());
            None
        }
    };

    let contact_cap = match obj.get("contactCap") {
        None | Some(Value::Null) => ContactCap::default(),
        Some(Value::Object(c)) => {
            let mut field = |name: &str, range: std::ops::RangeInclusive<u64>| match c
                .get(name)
                .and_then(crate::api_error::whole_unsigned)
            {
                Some(v) if range.contains(&v) => v as u32,
                _ => {
                    fail(
                        &format!("/contactCap/{name}"),
                        format!("must be a whole number from {} to {}", range.start(), range.end()),
                    );
                    0
                }
            };
            let cap = ContactCap {
                messages: field("messages", 1..=20),
                hours: field("hours", 1..=168),
            };
            for key in c.keys().filter(|k| *k != "messages" && *k != "hours") {
                fail(
                    &format!("/contactCap/{key}"),
                    "unknown field; expected messages, hours".into(),
                );
            }
            cap
        }
        Some(_) => {
            fail(
                "/contactCap",
                "must be an object {\"messages\": 2, \"hours\": 24}".into(),
            );
            ContactCap::default()
        }
    };

    let followup_sink_url = match obj.get("followupSinkUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => {
            if let Err(reason) = check_sink_url(url) {
                fail("/followupSinkUrl", reason);
            }
            Some(url.clone())
        }
        Some(_) => {
            fail("/followupSinkUrl", "must be a string".into());
            None
        }
    };

    let leads = match obj.get("leads") {
        None | Some(Value::Null) => LeadSettings::default(),
        Some(Value::Object(l)) => lead_settings(l, &mut fail),
        Some(_) => {
            fail("/leads", "must be an object".into());
            LeadSettings::default()
        }
    };

    let include_existing_overdue = match obj.get("includeExistingOverdue") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            fail("/includeExistingOverdue", "must be true or false".into());
            false
        }
    };

    let ai_call_consent = match obj.get("aiCallConsent") {
        None | Some(Value::Null) => AiCallConsent::Recorded,
        Some(Value::Object(c)) => ai_call_consent(c, &mut fail),
        Some(_) => {
            fail(
                "/aiCallConsent",
                "must be {\"basis\": \"recorded\"} or {\"basis\": \"attested\", \"attestedBy\": \"<name>\"}".into(),
            );
            AiCallConsent::Recorded
        }
    };

    if unknown_zone {
        errors
            .iter_mut()
            .filter(|e| e.field == "/timeZone")
            .for_each(|e| e.rule = true);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TenantSettings {
        business_unit_id,
        job_type_id,
        campaign_id,
        priority,
        time_zone,
        quiet_hours,
        booking_url,
        channels,
        recipes,
        company_name,
        contact_cap,
        followup_sink_url,
        leads,
        include_existing_overdue,
        ai_call_consent,
        recipes_enabled_at: Default::default(),
    })
}

fn ai_call_consent(c: &Map<String, Value>, fail: &mut dyn FnMut(&str, String)) -> AiCallConsent {
    for key in c
        .keys()
        .filter(|k| !["basis", "attestedBy", "attestedAt"].contains(&k.as_str()))
    {
        fail(
            &format!("/aiCallConsent/{key}"),
            "unknown field; expected basis, attestedBy".into(),
        );
    }
    match c.get("basis").and_then(Value::as_str) {
        Some("recorded") => AiCallConsent::Recorded,
        Some("attested") => match c.get("attestedBy").and_then(Value::as_str).map(str::trim) {
            Some(name) if !name.is_empty() && name.chars().count() <= 120 => AiCallConsent::Attested {
                attested_by: name.to_owned(),
                // The moment is the server's, not the caller's (`attestedAt` read back from a GET is ignored).
                attested_at: None,
            },
            _ => {
                fail(
                    "/aiCallConsent/attestedBy",
                    "is required with basis attested: the name of the person who attests that the business holds \
                     written consent for AI calls (1 to 120 characters)"
                        .into(),
                );
                AiCallConsent::Recorded
            }
        },
        _ => {
            fail("/aiCallConsent/basis", "must be recorded or attested".into());
            AiCallConsent::Recorded
        }
    }
}

const LEAD_FIELDS: &[&str] = &[
    "mode",
    "bookingProviderId",
    "jobTypes",
    "duplicateJobHours",
    "country",
    "missedCallAfterHours",
    "arrivalWindow",
];

fn lead_settings(l: &Map<String, Value>, fail: &mut dyn FnMut(&str, String)) -> LeadSettings {
    let mut out = LeadSettings::default();
    for key in l.keys().filter(|k| !LEAD_FIELDS.contains(&k.as_str())) {
        fail(
            &format!("/leads/{key}"),
            format!("unknown field; expected one of {}", LEAD_FIELDS.join(", ")),
        );
    }
    match l.get("mode").and_then(Value::as_str) {
        None if l.get("mode").is_none_or(Value::is_null) => {}
        Some("job") => out.mode = LeadMode::Job,
        Some("booking") => out.mode = LeadMode::Booking,
        _ => fail("/leads/mode", "must be job or booking".into()),
    }
    match l.get("bookingProviderId") {
        None | Some(Value::Null) => {}
        Some(v) => match crate::api_error::whole_number(v).filter(|n| *n > 0) {
            Some(n) => out.booking_provider_id = Some(n),
            None => fail("/leads/bookingProviderId", "must be a positive integer id".into()),
        },
    }
    if out.mode == LeadMode::Booking && out.booking_provider_id.is_none() {
        fail(
            "/leads/bookingProviderId",
            "is required in booking mode (the booking provider tag id from ServiceTitan)".into(),
        );
    }
    match l.get("jobTypes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (phrase, id) in map {
                let key = phrase.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
                match crate::api_error::whole_number(id).filter(|n| *n > 0) {
                    _ if key.is_empty() || key.chars().count() > 60 => fail(
                        &format!("/leads/jobTypes/{phrase}"),
                        "the phrase must be 1 to 60 characters".into(),
                    ),
                    Some(n) => {
                        out.job_types.insert(key, n);
                    }
                    None => fail(
                        &format!("/leads/jobTypes/{phrase}"),
                        "must be a positive integer job type id".into(),
                    ),
                }
            }
        }
        Some(_) => fail(
            "/leads/jobTypes",
            "must be an object of phrase → job type id, e.g. {\"ac repair\": 10009}".into(),
        ),
    }
    match l.get("duplicateJobHours") {
        None | Some(Value::Null) => {}
        Some(v) => match crate::api_error::whole_unsigned(v).filter(|h| *h <= 720) {
            Some(h) => out.duplicate_job_hours = h as u32,
            None => fail(
                "/leads/duplicateJobHours",
                "must be a whole number of hours from 0 to 720".into(),
            ),
        },
    }
    match l.get("country").and_then(Value::as_str) {
        None if l.get("country").is_none_or(Value::is_null) => {}
        Some(c) if c == "US" || c == "CA" => out.country = c.to_owned(),
        _ => fail("/leads/country", "must be US or CA".into()),
    }
    match l.get("missedCallAfterHours").and_then(Value::as_str) {
        None if l.get("missedCallAfterHours").is_none_or(Value::is_null) => {}
        Some("defer") => out.missed_call_after_hours = AfterHours::Defer,
        Some("closed_notice") => out.missed_call_after_hours = AfterHours::ClosedNotice,
        _ => fail("/leads/missedCallAfterHours", "must be defer or closed_notice".into()),
    }
    match l.get("arrivalWindow") {
        None | Some(Value::Null) => {}
        Some(Value::Object(w)) => {
            let mut window = ArrivalWindow::default();
            for key in w
                .keys()
                .filter(|k| !["daysAhead", "start", "hours"].contains(&k.as_str()))
            {
                fail(
                    &format!("/leads/arrivalWindow/{key}"),
                    "unknown field; expected daysAhead, start, hours".into(),
                );
            }
            match w.get("daysAhead").map(crate::api_error::whole_unsigned) {
                None => {}
                Some(Some(d)) if d <= 14 => window.days_ahead = d as u32,
                Some(_) => fail(
                    "/leads/arrivalWindow/daysAhead",
                    "must be a whole number from 0 to 14".into(),
                ),
            }
            match w.get("start").map(Value::as_str) {
                None => {}
                Some(Some(t)) if is_hh_mm(t) => window.start = t.to_owned(),
                Some(_) => fail(
                    "/leads/arrivalWindow/start",
                    "must be a time \"HH:MM\" (24-hour)".into(),
                ),
            }
            match w.get("hours").map(crate::api_error::whole_unsigned) {
                None => {}
                Some(Some(h)) if (1..=12).contains(&h) => window.hours = h as u32,
                Some(_) => fail(
                    "/leads/arrivalWindow/hours",
                    "must be a whole number from 1 to 12".into(),
                ),
            }
            out.arrival_window = window;
        }
        Some(_) => fail(
            "/leads/arrivalWindow",
            "must be an object {\"daysAhead\", \"start\", \"hours\"}".into(),
        ),
    }
    out
}

fn quiet_hours(q: &Map<String, Value>, fail: &mut dyn FnMut(&str, String)) -> QuietHours {
    let mut time = |name: &str| match q.get(name).and_then(Value::as_str) {
        Some(t) if is_hh_mm(t) => t.to_owned(),
        _ => {
            fail(
                &format!("/quietHours/{name}"),
                "must be a time \"HH:MM\" (24-hour)".into(),
            );
            String::new()
        }
    };
    let start = time("start");
    let end = time("end");
    for key in q.keys().filter(|k| *k != "start" && *k != "end") {
        fail(
            &format!("/quietHours/{key}"),
            "unknown field; expected start, end".into(),
        );
    }
    QuietHours { start, end }
}

fn is_hh_mm(t: &str) -> bool {
    let Some((h, m)) = t.split_once(':') else { return false };
    h.len() == 2 && m.len() == 2 && h.parse::<u8>().is_ok_and(|h| h < 24) && m.parse::<u8>().is_ok_and(|m| m < 60)
}

/// A link customers will be sent: `https`, a public host, no userinfo ([`crate::egress`]). Where a sink URL may
/// point depends on the deployment, so the admin API checks that against its policy (and resolves both names).
fn check_url(url: &str) -> Result<(), String> {
    crate::egress::EgressPolicy::default()
        .check_link(url)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// An absolute URL; the deployment's rules (https, allowlist) are applied by the admin API and again at send time.
fn check_sink_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if u.has_host() && url.len() <= 2048 && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err("must be an absolute URL of at most 2048 characters, without spaces".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The settings as a tenant with two recipes on offer parses them.
    fn parse(body: &Value) -> Result<TenantSettings, Vec<FieldError>> {
        super::parse(body, &["estimate_follow_up", "invoice_dunning"])
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn minimal_settings_get_defaults() {
        let s = parse(&json!({"businessUnitId": 1, "jobTypeId": 2, "campaignId": 3, "timeZone": "America/Chicago"}))
            .unwrap();
        assert_eq!(s.priority, "Normal");
        assert_eq!(s.quiet_hours.start, "21:00");
        assert_eq!(s.channels, vec![Channel::Sms, Channel::Email, Channel::Voice]);
        assert!(s.recipes.is_empty());
        let round_trip: TenantSettings = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(round_trip, s);
    }

    #[test]
    fn existing_overdue_invoices_are_left_out_unless_asked_for() {
        let base = json!({"businessUnitId": 1, "jobTypeId": 2, "campaignId": 3, "timeZone": "America/Chicago"});
        assert!(!parse(&base).unwrap().include_existing_overdue);
        let mut asked = base.clone();
        asked["includeExistingOverdue"] = json!(true);
        assert!(parse(&asked).unwrap().include_existing_overdue);
        let mut wrong = base;
        wrong["includeExistingOverdue"] = json!("yes");
        assert_eq!(fields(parse(&wrong).unwrap_err()), ["/includeExistingOverdue"]);
    }

    #[test]
    fn every_problem_is_reported_by_pointer() {
        let errors = parse(&json!({
            "businessUnitId": "1", "campaignId": -3, "priority": "ASAP", "timeZone": "Mars/Olympus",
            "quietHours": {"start": "25:00", "end": "8"}, "bookingUrl": "http://example.com",
            "channels": ["sms", "fax", "sms"], "recipes": ["estimate_follow_up", "spam"], "colour": "red"
        }))
        .unwrap_err();
        assert_eq!(
            fields(errors),
            vec![
                "/colour",
                "/businessUnitId",
                "/jobTypeId",
                "/campaignId",
                "/priority",
                "/timeZone",
                "/quietHours/start",
                "/quietHours/end",
                "/bookingUrl",
                "/channels/1",
                "/channels/2",
                "/recipes/1"
            ]
        );
        assert_eq!(fields(parse(&json!([1])).unwrap_err()), vec![""]);
    }

    #[test]
    fn lead_settings_default_and_check() {
        let base = json!({"businessUnitId": 1, "jobTypeId": 2, "campaignId": 3, "timeZone": "America/Chicago"});
        let s = parse(&base).unwrap();
        assert_eq!(s.leads, LeadSettings::default());
        assert_eq!(s.leads.duplicate_job_hours, 72);
        let mut with = base.clone();
        with["leads"] = json!({"mode": "booking", "bookingProviderId": 7, "jobTypes": {"AC  Repair": 10009},
                               "missedCallAfterHours": "closed_notice", "arrivalWindow": {"start": "13:00"}});
        let s = parse(&with).unwrap();
        assert_eq!(s.leads.mode, LeadMode::Booking);
        assert_eq!(s.leads.job_types.get("ac repair"), Some(&10009));
        assert_eq!(s.leads.arrival_window.start, "13:00");
        assert_eq!(s.leads.arrival_window.hours, 4);
        let mut bad = base;
        bad["leads"] = json!({"mode": "booking", "jobTypes": {"x": "y"}, "country": "MX", "duplicateJobHours": -1,
                              "arrivalWindow": {"hours": 30}, "colour": 1});
        assert_eq!(
            fields(parse(&bad).unwrap_err()),
            vec![
                "/leads/colour",
                "/leads/bookingProviderId",
                "/leads/jobTypes/x",
                "/leads/duplicateJobHours",
                "/leads/country",
                "/leads/arrivalWindow/hours"
            ]
        );
    }

    #[test]
    fn quiet_hours_may_wrap_midnight_and_urls_need_a_host() {
        let s = parse(
            &json!({"businessUnitId": 1, "jobTypeId": 2, "campaignId": 3, "timeZone": "Europe/London",
            "quietHours": {"start": "22:30", "end": "07:00"}, "bookingUrl": "https://book.example.com/acme?src=sms"}),
        )
        .unwrap();
        assert_eq!(s.quiet_hours.end, "07:00");
        assert!(check_url("https://localhost").is_err());
        assert!(check_url("https://a.b/c d").is_err());
    }
}
