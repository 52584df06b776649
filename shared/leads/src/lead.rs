//! A lead as the AI platform posts it to `POST /leads`, checked field by field (every problem at once, by JSON
//! pointer) and normalised: the phone in E.164, the email lowercased, the address complete or absent.

use domain::api_error::FieldError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::address::PostalAddress;
use crate::phone::{Phone, region_of_country};

/// Where a lead came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Chat,
    Voice,
    MissedCall,
    Form,
}

impl Source {
    pub const ALL: [Source; 4] = [Self::Chat, Self::Voice, Self::MissedCall, Self::Form];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Voice => "voice",
            Self::MissedCall => "missed_call",
            Self::Form => "form",
        }
    }

    /// How notes name it ("AI chat", "AI voice call").
    pub fn label(self) -> &'static str {
        match self {
            Self::Chat => "AI chat",
            Self::Voice => "AI voice call",
            Self::MissedCall => "missed call",
            Self::Form => "web form",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityHint {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// The consent given is prior express *written* consent (a signed form or a checkbox with the disclosure),
    /// which sales calls need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_name: Option<String>,
    pub description: String,
    pub quantity: f64,
    /// Dollars and cents, as a decimal string ("3120.50").
    pub unit_price: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<EstimateItem>,
}

/// A checked lead. Serialised as stored (and as `GET /leads/{id}` shows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    pub lead_id: String,
    pub tenant_id: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    /// What the customer asked for, in their words or the AI's ("AC not cooling").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_window: Option<Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityHint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default)]
    pub consent: Consent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimateRequest>,
    /// When the conversation or call happened (the receipt time when not given).
    pub occurred_at: Timestamp,
    /// The ServiceTitan call this lead is (a missed call from the phone log): its text-back is then the call's,
    /// whichever way the call reached us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<i64>,
}

impl Lead {
    pub fn phone(&self) -> Option<Phone> {
        self.phone.as_deref().and_then(Phone::from_e164)
    }
}

pub const MAX_SUMMARY: usize = 4000;
pub const MAX_TRANSCRIPT: usize = 100_000;
const MAX_SHORT: usize = 200;

const FIELDS: &[&str] = &[
    "leadId",
    "tenantId",
    "source",
    "name",
    "phone",
    "email",
    "address",
    "service",
    "jobTypeId",
    "preferredWindow",
    "priority",
    "summary",
    "transcript",
    "recordingUrl",
    "consent",
    "estimate",
    "occurredAt",
    "callId",
];

/// Collects field errors while reading a JSON object.
struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Reader<'a> {
    fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}/{field}", self.prefix), reason));
    }

    fn unknown(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            self.fail(
                &k,
                format!("is not a field of this object; the fields are {}", allowed.join(", ")),
            );
        }
    }

    /// A string field: trimmed, `None` when absent, null or empty; a reason when not a string or too long.
    fn text(&mut self, field: &str, max: usize) -> Option<String> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > max {
                    self.fail(field, format!("must be at most {max} characters"));
                    None
                } else {
                    (!s.is_empty()).then(|| s.to_owned())
                }
            }
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    fn required_text(&mut self, field: &str, max: usize) -> Option<String> {
        let v = self.text(field, max);
        if v.is_none()
            && !self
                .errors
                .iter()
                .any(|e| e.field == format!("{}/{field}", self.prefix))
        {
            self.fail(field, "is required");
        }
        v
    }

    fn time(&mut self, field: &str) -> Option<Timestamp> {
        let s = self.text(field, 64)?;
        match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.fail(
                    field,
                    "must be an RFC 3339 time with an offset, e.g. 2026-12-02T15:00:00Z",
                );
                None
            }
        }
    }

    fn object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                self.fail(field, "must be an object");
                None
            }
        }
    }

    fn child<'b>(&'b mut self, field: &str, obj: &'a Map<String, Value>) -> Reader<'b>
    where
        'a: 'b,
    {
        Reader {
            obj,
            prefix: format!("{}/{field}", self.prefix),
            errors: self.errors,
        }
    }
}

fn valid_lead_id(id: &str) -> bool {
    id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn https_url(s: &str) -> bool {
    s.strip_prefix("https://").is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains(char::is_whitespace)
    })
}

fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

fn decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= 2
        && frac.chars().all(|c| c.is_ascii_digit())
}

/// Checks `body` as a lead. `default_region` reads phone numbers without a country code (the address's country
/// wins when it is the US or Canada); `now` stands in for a missing `occurredAt`.
pub fn parse(body: &Value, default_region: &str, now: Timestamp) -> Result<Lead, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("", "a lead must be a JSON object")]);
    };
    let mut r = Reader {
        obj,
        prefix: String::new(),
        errors: &mut errors,
    };
    r.unknown(FIELDS);

    let lead_id = r.required_text("leadId", 128);
    if let Some(id) = &lead_id
        && !valid_lead_id(id)
    {
        r.fail("leadId", "may hold only letters, digits and - _ . : (at most 128)");
    }
    let tenant_id = r.required_text("tenantId", 32);
    if let Some(t) = &tenant_id
        && !t.chars().all(|c| c.is_ascii_digit())
    {
        r.fail("tenantId", "must be the ServiceTitan tenant id (digits)");
    }
    let source = match r.required_text("source", 32) {
        Some(s) => match Source::ALL.iter().find(|x| x.as_str() == s) {
            Some(x) => Some(*x),
            None => {
                r.fail("source", "must be one of chat, voice, missed_call, form");
                None
            }
        },
        None => None,
    };
    let name = r.text("name", MAX_SHORT);
    let email = r.text("email", 254).map(|e| e.to_lowercase());
    if let Some(e) = &email
        && !plausible_email(e)
    {
        r.fail("email", "is not an email address");
    }

    let address = match r.object("address") {
        Some(a) => {
            let mut ar = r.child("address", a);
            ar.unknown(&["street", "unit", "city", "state", "zip", "country"]);
            let street = ar.required_text("street", MAX_SHORT);
            let unit = ar.text("unit", 50);
            let city = ar.required_text("city", 100);
            let state = ar.required_text("state", 50);
            let zip = ar.required_text("zip", 20);
            let country = ar.text("country", 60).unwrap_or_else(|| "USA".into());
            match (street, city, state, zip) {
                (Some(street), Some(city), Some(state), Some(zip)) => Some(PostalAddress {
                    street,
                    unit,
                    city,
                    state,
                    zip,
                    country,
                }),
                _ => None,
            }
        }
        None => None,
    };
    let region = address
        .as_ref()
        .and_then(|a| region_of_country(&a.country))
        .unwrap_or(default_region);
    let phone = match r.text("phone", 40) {
        Some(p) => match Phone::parse(&p, region) {
            Ok(p) => Some(p.e164().to_owned()),
            Err(e) => {
                r.fail("phone", e.to_string());
                None
            }
        },
        None => None,
    };

    let service = r.text("service", MAX_SHORT);
    let mut positive_id = |field: &str, what: &str| match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => match domain::api_error::whole_number(v).filter(|n| *n > 0) {
            Some(n) => Some(n),
            None => {
                r.fail(field, format!("must be a ServiceTitan {what} id (a positive integer)"));
                None
            }
        },
    };
    let job_type_id = positive_id("jobTypeId", "job type");
    let call_id = positive_id("callId", "call");
    let preferred_window = match r.object("preferredWindow") {
        Some(w) => {
            let mut wr = r.child("preferredWindow", w);
            wr.unknown(&["start", "end"]);
            let start = wr.time("start");
            let end = wr.time("end");
            if w.get("start").is_none() {
                wr.fail("start", "is required");
            }
            if w.get("end").is_none() {
                wr.fail("end", "is required");
            }
            match (start, end) {
                (Some(start), Some(end)) if end > start => Some(Window { start, end }),
                (Some(_), Some(_)) => {
                    wr.fail("end", "must be after start");
                    None
                }
                _ => None,
            }
        }
        None => None,
    };
    let priority = match r.text("priority", 16) {
        Some(p) => match p.to_lowercase().as_str() {
            "low" => Some(PriorityHint::Low),
            "normal" => Some(PriorityHint::Normal),
            "high" => Some(PriorityHint::High),
            "urgent" | "emergency" => Some(PriorityHint::Urgent),
            _ => {
                r.fail("priority", "must be one of low, normal, high, urgent");
                None
            }
        },
        None => None,
    };
    let summary = r.text("summary", MAX_SUMMARY);
    let transcript = r.text("transcript", MAX_TRANSCRIPT);
    let recording_url = r.text("recordingUrl", 2000);
    if let Some(u) = &recording_url
        && !https_url(u)
    {
        r.fail("recordingUrl", "must be an https URL");
    }
    let mut consent = Consent::default();
    if let Some(c) = r.object("consent") {
        let mut cr = r.child("consent", c);
        cr.unknown(&["sms", "email", "voice", "written"]);
        for (k, slot) in [
            ("sms", &mut consent.sms),
            ("email", &mut consent.email),
            ("voice", &mut consent.voice),
            ("written", &mut consent.written),
        ] {
            match c.get(k) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => *slot = Some(*b),
                Some(_) => cr.fail(k, "must be true or false"),
            }
        }
    }
    let estimate = match r.object("estimate") {
        Some(e) => estimate(&mut r.child("estimate", e)),
        None => None,
    };
    let occurred_at = r.time("occurredAt").unwrap_or(now);

    // Someone to reach: a missed call is a phone number; anything else needs a phone or an email, and a name.
    if source == Some(Source::MissedCall) {
        if phone.is_none() && obj.get("phone").is_none() {
            r.fail("phone", "is required for a missed call");
        }
    } else if source.is_some() {
        if phone.is_none() && email.is_none() && obj.get("phone").is_none() && obj.get("email").is_none() {
            r.fail("phone", "a lead needs a phone or an email");
            r.fail("email", "a lead needs a phone or an email");
        }
        if name.is_none() && obj.get("name").is_none_or(Value::is_null) {
            r.fail("name", "is required (the customer's name, for ServiceTitan)");
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Lead {
        lead_id: lead_id.expect("checked"),
        tenant_id: tenant_id.expect("checked"),
        source: source.expect("checked"),
        name,
        phone,
        email,
        address,
        service,
        job_type_id,
        preferred_window,
        priority,
        summary,
        transcript,
        recording_url,
        consent,
        estimate,
        occurred_at,
        call_id,
    })
}

fn estimate(r: &mut Reader<'_>) -> Option<EstimateRequest> {
    r.unknown(&["name", "summary", "items"]);
    let name = r.required_text("name", MAX_SHORT);
    let summary = r.text("summary", MAX_SUMMARY);
    let mut items = Vec::new();
    match r.obj.get("items") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) if list.len() <= 100 => {
            for (i, item) in list.iter().enumerate() {
                let Some(o) = item.as_object() else {
                    r.fail(&format!("items/{i}"), "must be an object");
                    continue;
                };
                let mut ir = r.child(&format!("items/{i}"), o);
                ir.unknown(&["skuId", "skuName", "description", "quantity", "unitPrice"]);
                let description = ir.required_text("description", 2000);
                let sku_id = o.get("skuId").and_then(Value::as_i64);
                if o.get("skuId").is_some_and(|v| !v.is_null()) && sku_id.is_none() {
                    ir.fail("skuId", "must be an integer");
                }
                let sku_name = ir.text("skuName", MAX_SHORT);
                let quantity = match o.get("quantity") {
                    None | Some(Value::Null) => Some(1.0),
                    Some(v) => match v.as_f64().filter(|q| *q > 0.0 && q.is_finite()) {
                        Some(q) => Some(q),
                        None => {
                            ir.fail("quantity", "must be a positive number");
                            None
                        }
                    },
                };
                let unit_price = match o.get("unitPrice") {
                    Some(Value::String(s)) if decimal(s.trim()) => Some(s.trim().to_owned()),
                    Some(Value::Number(n)) if decimal(&n.to_string()) => Some(n.to_string()),
                    _ => {
                        ir.fail(
                            "unitPrice",
                            "must be an amount in dollars with at most 2 decimals, e.g. \"3120.50\"",
                        );
                        None
                    }
                };
                if let (Some(description), Some(quantity), Some(unit_price)) = (description, quantity, unit_price) {
                    items.push(EstimateItem {
                        sku_id,
                        sku_name,
                        description,
                        quantity,
                        unit_price,
                    });
                }
            }
        }
        Some(Value::Array(_)) => r.fail("items", "may hold at most 100 items"),
        Some(_) => r.fail("items", "must be an array"),
    }
    Some(EstimateRequest {
        name: name?,
        summary,
        items,
    })
}

/// The lead's content, canonical, for telling a repeat of the same lead from a different lead under the same id:
/// SHA-256 of the body with object keys sorted at every level (whatever order the map keeps).
pub fn fingerprint(body: &Value) -> String {
    use sha2::{Digest, Sha256};
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    canonical(&map[k.as_str()], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-12-02T15:00:00Z".parse().unwrap()
    }

    fn fields(e: Vec<FieldError>) -> Vec<(String, String)> {
        e.into_iter().map(|e| (e.field, e.reason)).collect()
    }

    #[test]
    fn a_chat_lead_normalised() {
        let lead = parse(
            &json!({
                "leadId": "chat-8f2a", "tenantId": "1001", "source": "chat", "name": " Dana Whitfield ",
                "phone": "(512) 555-0100", "email": "Dana@Example.com",
                "address": {"street": "12 Oak St", "unit": "Apt 4B", "city": "Austin", "state": "TX", "zip": "78704"},
                "service": "AC not cooling", "priority": "urgent",
                "preferredWindow": {"start": "2026-12-03T14:00:00Z", "end": "2026-12-03T18:00:00Z"},
                "summary": "Upstairs AC blowing warm air since last night.",
                "recordingUrl": "https://calls.example.com/r/1", "consent": {"sms": true},
                "estimate": {"name": "Repair options", "items": [{"description": "Capacitor", "unitPrice": "189.00"}]}
            }),
            "US",
            now(),
        )
        .unwrap();
        assert_eq!(lead.name.as_deref(), Some("Dana Whitfield"));
        assert_eq!(lead.phone.as_deref(), Some("+15125550100"));
        assert_eq!(lead.email.as_deref(), Some("dana@example.com"));
        assert_eq!(lead.address.as_ref().unwrap().country, "USA");
        assert_eq!(lead.priority, Some(PriorityHint::Urgent));
        assert_eq!(lead.estimate.as_ref().unwrap().items[0].quantity, 1.0);
        assert_eq!(lead.occurred_at, now());
        assert_eq!(lead.consent.sms, Some(true));
    }

    #[test]
    fn every_problem_at_once_by_pointer() {
        let errors = fields(
            parse(
                &json!({
                    "leadId": "has spaces", "tenantId": "acme", "source": "fax", "phone": "call me",
                    "email": "not-an-email", "address": {"street": "12 Oak St", "zip": 78704},
                    "preferredWindow": {"start": "2026-12-03T18:00:00Z", "end": "2026-12-03T14:00:00Z"},
                    "recordingUrl": "http://insecure", "colour": "blue",
                    "estimate": {"items": [{"description": "x", "unitPrice": "12.345"}]}
                }),
                "US",
                now(),
            )
            .unwrap_err(),
        );
        let names: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        for want in [
            "/colour",
            "/leadId",
            "/tenantId",
            "/source",
            "/phone",
            "/email",
            "/address/city",
            "/address/state",
            "/address/zip",
            "/preferredWindow/end",
            "/recordingUrl",
            "/estimate/name",
            "/estimate/items/0/unitPrice",
        ] {
            assert!(names.contains(&want), "{want} missing from {errors:?}");
        }
    }

    #[test]
    fn someone_to_reach() {
        let base = json!({"leadId": "l1", "tenantId": "1001", "source": "chat", "name": "Dana Whitfield"});
        let errors = fields(parse(&base, "US", now()).unwrap_err());
        assert_eq!(
            errors,
            vec![
                ("/phone".into(), "a lead needs a phone or an email".into()),
                ("/email".into(), "a lead needs a phone or an email".into())
            ]
        );
        let mut with_email = base.clone();
        with_email["email"] = json!("dana@example.com");
        assert!(parse(&with_email, "US", now()).is_ok());
        // A missed call is a number, with or without a name.
        let missed = json!({"leadId": "c1", "tenantId": "1001", "source": "missed_call", "phone": "512-555-0100"});
        assert!(parse(&missed, "US", now()).is_ok());
        let errors = fields(
            parse(
                &json!({"leadId": "c1", "tenantId": "1001", "source": "missed_call"}),
                "US",
                now(),
            )
            .unwrap_err(),
        );
        assert_eq!(errors, vec![("/phone".into(), "is required for a missed call".into())]);
        // A chat needs a name.
        let errors = fields(
            parse(
                &json!({"leadId": "l1", "tenantId": "1001", "source": "chat", "phone": "5125550100"}),
                "US",
                now(),
            )
            .unwrap_err(),
        );
        assert_eq!(errors[0].0, "/name");
    }

    #[test]
    fn canadian_addresses_read_phones_as_canadian() {
        let lead = parse(
            &json!({"leadId": "l2", "tenantId": "1001", "source": "form", "name": "Sam Tremblay", "phone": "416 555 0199",
                    "address": {"street": "200 King St W", "city": "Toronto", "state": "ON", "zip": "M5H 3T4", "country": "Canada"}}),
            "US",
            now(),
        )
        .unwrap();
        assert_eq!(lead.phone.as_deref(), Some("+14165550199"));
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a = json!({"leadId": "l1", "name": "Dana"});
        let b: Value = serde_json::from_str(r#"{"name":"Dana","leadId":"l1"}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"leadId": "l1", "name": "Dana W"})));
    }
}
