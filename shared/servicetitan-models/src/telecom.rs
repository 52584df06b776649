//! Telecom: calls. The list (`GET /telecom/v3/tenant/{t}/calls`) returns `Telecom.V3.CallResponse` — the call's
//! details under `leadCall` — and the export feed (`GET /telecom/v2/tenant/{t}/export/calls`) returns the flat
//! `Telecom.V2.ExportCallResponse`, which also has the status, location and job.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{NamedRef, datetime};

/// `Telecom.V3.CallDirection` / `Telecom.V2.CallDirection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallDirection {
    Inbound,
    Outbound,
}

/// `Telecom.V3.CallType` / `Telecom.V2.CallType`: how the call was classified (`Abandoned` = the caller hung up
/// before anyone answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallType {
    Abandoned,
    Unbooked,
    Excused,
    Booked,
    NotLead,
    /// A value this client does not know yet.
    #[serde(other)]
    Other,
}

/// `Telecom.V2.CallStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallStatus {
    Ringing,
    Answered,
    Completed,
    Initiated,
    /// A value this client does not know yet.
    #[serde(other)]
    Other,
}

/// `Telecom.V3.CallResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: i64,
    #[serde(default)]
    pub job_number: Option<String>,
    pub lead_call: CallDetails,
}

/// `Telecom.V3.CallModelResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallDetails {
    pub id: i64,
    pub direction: CallDirection,
    #[serde(default)]
    pub call_type: Option<CallType>,
    #[serde(with = "call_duration")]
    pub duration: Duration,
    /// The caller's number (for inbound calls).
    pub from: String,
    /// The number called (for inbound calls, the tenant's line or a campaign's tracking number).
    pub to: String,
    #[serde(with = "datetime")]
    pub received_on: Timestamp,
    #[serde(default)]
    pub customer: Option<NamedRef>,
    #[serde(default)]
    pub campaign: Option<NamedRef>,
    #[serde(default)]
    pub agent: Option<NamedRef>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

fn yes() -> bool {
    true
}

/// `Telecom.V2.JobModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallJob {
    pub id: i64,
    pub number: String,
}

/// `Telecom.V2.ExportCallResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportCall {
    pub id: i64,
    pub direction: CallDirection,
    pub status: CallStatus,
    #[serde(rename = "type", default)]
    pub call_type: Option<CallType>,
    #[serde(with = "call_duration")]
    pub duration: Duration,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub customer: Option<NamedRef>,
    #[serde(default)]
    pub location: Option<NamedRef>,
    #[serde(default)]
    pub campaign: Option<NamedRef>,
    #[serde(default)]
    pub job: Option<CallJob>,
    #[serde(default)]
    pub agent: Option<NamedRef>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

/// Filters of `GET /v3/tenant/{t}/calls`. `*_after` bounds are exclusive, `*_on_or_after` inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub created_after: Option<Timestamp>,
    pub created_on_or_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub modified_after: Option<Timestamp>,
    pub caller_phone_number: Option<String>,
    pub phone_number_called: Option<String>,
    pub campaign_id: Option<i64>,
    pub min_duration_seconds: Option<u32>,
}

impl CallFilter {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for (k, t) in [
            ("createdAfter", self.created_after),
            ("createdOnOrAfter", self.created_on_or_after),
            ("createdBefore", self.created_before),
            ("modifiedAfter", self.modified_after),
        ] {
            if let Some(t) = t {
                q.push((k, t.to_string()));
            }
        }
        if let Some(p) = &self.caller_phone_number {
            q.push(("callerPhoneNumber", p.clone()));
        }
        if let Some(p) = &self.phone_number_called {
            q.push(("phoneNumberCalled", p.clone()));
        }
        if let Some(c) = self.campaign_id {
            q.push(("campaignId", c.to_string()));
        }
        if let Some(d) = self.min_duration_seconds {
            q.push(("minDuration", d.to_string()));
        }
        q
    }
}

/// Call durations. The spec declares `format: duration` (ISO 8601, `PT2M35S`); .NET `TimeSpan`s are also written as
/// `00:02:35` or `1.02:03:04.5`. Both are read; ISO 8601 is written.
pub mod call_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("PT{}S", d.as_secs_f64()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a duration: {text:?}")))
    }

    /// `PT1H2M3.5S`, `P1DT2H`, `01:02:03`, `1.01:02:03.5` → a duration.
    pub fn parse(text: &str) -> Option<Duration> {
        let t = text.trim();
        let secs = if let Some(iso) = t.strip_prefix('P') {
            iso_seconds(iso)?
        } else {
            timespan_seconds(t)?
        };
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
    }

    fn iso_seconds(s: &str) -> Option<f64> {
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut total = 0.0;
        let mut any = false;
        for (part, units) in [(Some(date), "WD"), (time, "HMS")] {
            let Some(mut part) = part else { continue };
            while !part.is_empty() {
                let end = part.find(|c: char| c.is_ascii_alphabetic())?;
                let n: f64 = part[..end].parse().ok()?;
                let unit = part[end..].chars().next()?;
                if !units.contains(unit) {
                    return None;
                }
                total += n * match unit {
                    'W' => 604_800.0,
                    'D' => 86_400.0,
                    'H' => 3_600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                any = true;
                part = &part[end + 1..];
            }
        }
        any.then_some(total)
    }

    fn timespan_seconds(s: &str) -> Option<f64> {
        let (days, rest) = match s.split_once(':') {
            Some((head, _)) if head.contains('.') => {
                let (d, _) = head.split_once('.')?;
                (d.parse::<f64>().ok()?, &s[d.len() + 1..])
            }
            _ => (0.0, s),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let [h, m, sec] = parts.as_slice() else { return None };
        Some(
            days * 86_400.0
                + h.parse::<f64>().ok()? * 3_600.0
                + m.parse::<f64>().ok()? * 60.0
                + sec.parse::<f64>().ok()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::call_duration::parse;
    use std::time::Duration;

    #[test]
    fn reads_iso_and_timespan_durations() {
        assert_eq!(parse("PT2M35S"), Some(Duration::from_secs(155)));
        assert_eq!(parse("PT0S"), Some(Duration::ZERO));
        assert_eq!(parse("P1DT1H"), Some(Duration::from_secs(90_000)));
        assert_eq!(parse("00:02:35"), Some(Duration::from_secs(155)));
        assert_eq!(parse("1.00:00:01.5"), Some(Duration::from_secs_f64(86_401.5)));
        assert_eq!(parse("PT"), None);
        assert_eq!(parse("2 minutes"), None);
        assert_eq!(parse("PT5X"), None);
    }
}
