//! What to create for a lead once it is matched: the job's type, priority and arrival window, whether a repeat
//! request is a new job or a note on the open one, and the text of every note (each carrying the lead id, so a retry
//! after a crash can tell whether the note was already written).

use domain::tenant_settings::{ArrivalWindow, LeadSettings, TenantSettings};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::lead::{Lead, PriorityHint, Window};
use crate::matching::Evidence;

/// Where the job type came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "from")]
pub enum JobTypeSource {
    /// The lead named it.
    Lead,
    /// The tenant's table mapped this phrase of the lead's requested service.
    Mapped { phrase: String },
    /// The tenant's default.
    Default,
}

/// Whole-word containment: "ac" is in "my ac is out" but not in "back porch".
fn contains_words(haystack: &str, phrase: &str) -> bool {
    let norm = |s: &str| {
        s.to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (h, p) = (norm(haystack), norm(phrase));
    !p.is_empty() && format!(" {h} ").contains(&format!(" {p} "))
}

/// The job type for `lead`: its own, else the longest phrase of the tenant's table found in its requested service
/// or summary, else the tenant's default.
pub fn job_type(lead: &Lead, settings: &TenantSettings) -> (i64, JobTypeSource) {
    if let Some(id) = lead.job_type_id {
        return (id, JobTypeSource::Lead);
    }
    let text = [lead.service.as_deref(), lead.summary.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let best = settings
        .leads
        .job_types
        .iter()
        .filter(|(phrase, _)| contains_words(&text, phrase))
        .max_by_key(|(phrase, _)| phrase.len());
    match best {
        Some((phrase, id)) => (*id, JobTypeSource::Mapped { phrase: phrase.clone() }),
        None => (settings.job_type_id, JobTypeSource::Default),
    }
}

/// ServiceTitan's priority name for the lead (the tenant's default when the lead gives none).
pub fn priority(lead: &Lead, settings: &TenantSettings) -> String {
    match lead.priority {
        Some(PriorityHint::Low) => "Low".into(),
        Some(PriorityHint::Normal) => "Normal".into(),
        Some(PriorityHint::High) => "High".into(),
        Some(PriorityHint::Urgent) => "Urgent".into(),
        None => settings.priority.clone(),
    }
}

/// The appointment's arrival window: the lead's preferred window while it has not passed (started already: from
/// the next quarter hour), else the tenant's default window.
pub fn arrival_window(lead: &Lead, leads: &LeadSettings, tz: &TimeZone, now: Timestamp) -> Window {
    if let Some(w) = &lead.preferred_window
        && w.end > now + SignedDuration::from_mins(30)
    {
        let start = if w.start >= now {
            w.start
        } else {
            next_quarter_hour(now)
        };
        if start < w.end {
            return Window { start, end: w.end };
        }
    }
    default_window(&leads.arrival_window, tz, now)
}

fn next_quarter_hour(t: Timestamp) -> Timestamp {
    let secs = t.as_second();
    let q = 15 * 60;
    Timestamp::from_second((secs / q + 1) * q).unwrap_or(t)
}

/// `daysAhead` local days after today (Sunday moves to Monday), at `start`, for `hours`.
pub fn default_window(w: &ArrivalWindow, tz: &TimeZone, now: Timestamp) -> Window {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let mut day = today;
    for _ in 0..w.days_ahead {
        day = day.tomorrow().unwrap_or(day);
    }
    if day.weekday() == Weekday::Sunday {
        day = day.tomorrow().unwrap_or(day);
    }
    let start_time = w
        .start
        .split_once(':')
        .and_then(|(h, m)| Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok())
        .unwrap_or(Time::constant(8, 0, 0, 0));
    let mut start = tz.to_timestamp(day.to_datetime(start_time)).unwrap_or(now);
    // Today's window that has started (daysAhead 0): from the next quarter hour.
    if start < now {
        start = next_quarter_hour(now);
    }
    let end = start + SignedDuration::from_hours(i64::from(w.hours.max(1)));
    Window { start, end }
}

/// An existing job of the customer at the lead's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingJob {
    pub id: i64,
    pub job_type_id: i64,
    pub created_on: Timestamp,
    /// ServiceTitan's job status (Scheduled, Dispatched, InProgress, Hold, Completed, Canceled).
    pub status: String,
}

/// A repeat request (the same customer and location, a job created within `duplicate_job_hours` still open, and no
/// different job type asked for) is a note on that job rather than another visit: the customer asked twice, or the
/// chat and the call were the same request. The newest such job is chosen.
pub fn open_job_for_repeat(
    jobs: &[ExistingJob],
    lead_job_type: (i64, &JobTypeSource),
    leads: &LeadSettings,
    now: Timestamp,
) -> Option<i64> {
    if leads.duplicate_job_hours == 0 {
        return None;
    }
    let since = now - SignedDuration::from_hours(i64::from(leads.duplicate_job_hours));
    jobs.iter()
        .filter(|j| j.created_on >= since)
        .filter(|j| matches!(j.status.as_str(), "Scheduled" | "Dispatched" | "InProgress" | "Hold"))
        // A lead that names (or maps to) a job type asks for that work; the tenant's default asks for nothing.
        .filter(|j| matches!(lead_job_type.1, JobTypeSource::Default) || j.job_type_id == lead_job_type.0)
        .max_by_key(|j| (j.created_on, j.id))
        .map(|j| j.id)
}

/// The marker every note carries, to find it again.
pub fn marker(lead: &Lead) -> String {
    format!("[lead {}]", lead.lead_id)
}

const EXCERPT: usize = 1500;

fn excerpt(text: &str) -> String {
    if text.chars().count() <= EXCERPT {
        return text.to_owned();
    }
    let cut: String = text.chars().take(EXCERPT).collect();
    // End on a word.
    let cut = cut
        .rsplit_once(char::is_whitespace)
        .map_or(cut.as_str(), |(head, _)| head);
    format!("{cut} …")
}

/// The customer note: the AI summary, a transcript excerpt and the recording link.
pub fn conversation_note(lead: &Lead, company: &str) -> String {
    let mut lines = vec![format!(
        "{} {} via {company}, {}.",
        lead.source.label(),
        marker(lead),
        lead.occurred_at.strftime("%Y-%m-%d %H:%M UTC")
    )];
    if let Some(s) = &lead.service {
        lines.push(format!("Asked for: {s}"));
    }
    if let Some(s) = &lead.summary {
        lines.push(format!("Summary: {s}"));
    }
    if let Some(w) = &lead.preferred_window {
        lines.push(format!(
            "Preferred time: {} to {} (UTC)",
            w.start.strftime("%Y-%m-%d %H:%M"),
            w.end.strftime("%H:%M")
        ));
    }
    if let Some(t) = &lead.transcript {
        lines.push(format!("Transcript (excerpt):\n{}", excerpt(t)));
    }
    if let Some(u) = &lead.recording_url {
        lines.push(format!("Recording: {u}"));
    }
    lines.join("\n")
}

/// The job's summary: what was asked for and the AI's summary, short enough for the dispatch board.
pub fn job_summary(lead: &Lead) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &lead.service {
        parts.push(s.clone());
    }
    if let Some(s) = &lead.summary {
        parts.push(s.clone());
    }
    if parts.is_empty() {
        parts.push(format!("New request from an {}", lead.source.label()));
    }
    let mut text = parts.join(" — ");
    if let Some(u) = &lead.recording_url {
        text.push_str(&format!("\nRecording: {u}"));
    }
    text.push_str(&format!("\n{}", marker(lead)));
    text
}

/// The note on an open job when the same customer asks again.
pub fn repeat_request_note(lead: &Lead) -> String {
    let mut text = format!(
        "The customer asked again ({}, {}) {}; no second job was made.",
        lead.source.label(),
        lead.occurred_at.strftime("%Y-%m-%d %H:%M UTC"),
        marker(lead)
    );
    if let Some(s) = &lead.summary {
        text.push_str(&format!("\nSummary: {s}"));
    }
    if let Some(u) = &lead.recording_url {
        text.push_str(&format!("\nRecording: {u}"));
    }
    text
}

/// The note on a new customer that may duplicate existing ones, for the office to review.
pub fn review_note(lead: &Lead, suspects: &[&Evidence]) -> String {
    let mut text = format!(
        "Possible duplicate — please review {}. This customer was created from an {} because no existing customer \
         matched on two signals. Similar customers:",
        marker(lead),
        lead.source.label()
    );
    for e in suspects {
        text.push_str(&format!("\n- #{} {}: {}", e.customer_id, e.name, e.signals()));
    }
    text.push_str("\nIf they are the same household, merge them in ServiceTitan.");
    text
}

/// The name ServiceTitan gets for a lead that gave none (a missed call): the number, formatted.
pub fn caller_name(lead: &Lead) -> String {
    match lead.name.as_deref() {
        Some(n) => n.to_owned(),
        None => match lead
            .phone
            .as_deref()
            .and_then(|p| p.strip_prefix("+1"))
            .filter(|d| d.len() == 10)
        {
            Some(d) => format!("Caller ({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
            None => format!("Caller {}", lead.phone.as_deref().unwrap_or("unknown")),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lead::parse;

    fn now() -> Timestamp {
        "2026-12-02T15:00:00Z".parse().unwrap() // Wednesday 09:00 in Chicago
    }

    fn chicago() -> TimeZone {
        TimeZone::get("America/Chicago").unwrap()
    }

    fn lead(extra: serde_json::Value) -> Lead {
        let mut body = json!({"leadId": "chat-1", "tenantId": "1001", "source": "chat", "name": "Dana Whitfield",
                              "phone": "5125550100"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        parse(&body, "US", now()).unwrap()
    }

    fn settings() -> TenantSettings {
        let mut s = domain::tenant_settings::parse(
            &json!({"businessUnitId": 1, "jobTypeId": 500, "campaignId": 3, "timeZone": "America/Chicago"}),
            &[],
        )
        .unwrap();
        s.leads.job_types.insert("ac".into(), 501);
        s.leads.job_types.insert("ac not cooling".into(), 502);
        s.leads.job_types.insert("water heater".into(), 503);
        s
    }

    #[test]
    fn job_types_from_the_lead_the_table_or_the_default() {
        let s = settings();
        assert_eq!(job_type(&lead(json!({"jobTypeId": 9})), &s), (9, JobTypeSource::Lead));
        assert_eq!(
            job_type(&lead(json!({"service": "My AC not cooling!"})), &s),
            (
                502,
                JobTypeSource::Mapped {
                    phrase: "ac not cooling".into()
                }
            )
        );
        assert_eq!(job_type(&lead(json!({"service": "AC making noise"})), &s).0, 501);
        assert_eq!(job_type(&lead(json!({"summary": "The water heater leaks"})), &s).0, 503);
        assert_eq!(
            job_type(&lead(json!({"service": "back porch light"})), &s),
            (500, JobTypeSource::Default)
        );
    }

    #[test]
    fn arrival_windows() {
        let s = settings();
        let tz = chicago();
        // No preference: tomorrow 08:00–12:00 local.
        let w = arrival_window(&lead(json!({})), &s.leads, &tz, now());
        assert_eq!(
            (w.start.to_string(), w.end.to_string()),
            ("2026-12-03T14:00:00Z".into(), "2026-12-03T18:00:00Z".into())
        );
        // A preference in the future is kept.
        let pref = json!({"preferredWindow": {"start": "2026-12-04T20:00:00Z", "end": "2026-12-04T22:00:00Z"}});
        assert_eq!(
            arrival_window(&lead(pref), &s.leads, &tz, now()).start.to_string(),
            "2026-12-04T20:00:00Z"
        );
        // One that has started runs from the next quarter hour; one that has passed gives the default.
        let started = json!({"preferredWindow": {"start": "2026-12-02T14:00:00Z", "end": "2026-12-02T19:00:00Z"}});
        let w = arrival_window(&lead(started), &s.leads, &tz, now() + SignedDuration::from_mins(7));
        assert_eq!(w.start.to_string(), "2026-12-02T15:15:00Z");
        let passed = json!({"preferredWindow": {"start": "2026-12-01T14:00:00Z", "end": "2026-12-01T19:00:00Z"}});
        assert_eq!(
            arrival_window(&lead(passed), &s.leads, &tz, now()).start.to_string(),
            "2026-12-03T14:00:00Z"
        );
        // Saturday's lead is seen on Monday, not Sunday.
        let saturday: Timestamp = "2026-12-05T16:00:00Z".parse().unwrap();
        assert_eq!(
            default_window(&s.leads.arrival_window, &tz, saturday).start.to_string(),
            "2026-12-07T14:00:00Z"
        );
    }

    #[test]
    fn a_repeat_request_goes_on_the_open_job_of_the_same_work() {
        let s = settings();
        let job = |id, jt, hours_ago: i64, status: &str| ExistingJob {
            id,
            job_type_id: jt,
            created_on: now() - SignedDuration::from_hours(hours_ago),
            status: status.into(),
        };
        let jobs = [
            job(1, 500, 10, "Scheduled"),
            job(2, 503, 5, "Dispatched"),
            job(3, 500, 100, "Scheduled"),
            job(4, 500, 2, "Completed"),
        ];
        assert_eq!(
            open_job_for_repeat(&jobs, (500, &JobTypeSource::Default), &s.leads, now()),
            Some(2),
            "newest open"
        );
        let mapped = JobTypeSource::Mapped { phrase: "ac".into() };
        assert_eq!(open_job_for_repeat(&jobs, (503, &mapped), &s.leads, now()), Some(2));
        assert_eq!(
            open_job_for_repeat(&jobs, (501, &mapped), &s.leads, now()),
            None,
            "other work: a new job"
        );
        let mut off = s.leads.clone();
        off.duplicate_job_hours = 0;
        assert_eq!(
            open_job_for_repeat(&jobs, (500, &JobTypeSource::Default), &off, now()),
            None
        );
    }

    #[test]
    fn notes_carry_the_marker_and_an_excerpt() {
        let long = "word ".repeat(600);
        let l = lead(
            json!({"summary": "AC out", "transcript": long, "recordingUrl": "https://r.example.com/1", "service": "AC repair"}),
        );
        let note = conversation_note(&l, "Lone Star Home Services");
        assert!(
            note.starts_with("AI chat [lead chat-1] via Lone Star Home Services, 2026-12-02 15:00 UTC."),
            "{note}"
        );
        assert!(note.contains("Summary: AC out"));
        assert!(note.contains("Recording: https://r.example.com/1"));
        assert!(note.contains(" …"));
        assert!(note.len() < 2000);
        assert!(job_summary(&l).starts_with("AC repair — AC out\nRecording"));
        assert!(job_summary(&l).ends_with("[lead chat-1]"));
        assert!(repeat_request_note(&l).contains("[lead chat-1]"));
    }

    #[test]
    fn callers_without_a_name() {
        let l = parse(
            &json!({"leadId": "c1", "tenantId": "1001", "source": "missed_call", "phone": "512 555 0100"}),
            "US",
            now(),
        )
        .unwrap();
        assert_eq!(caller_name(&l), "Caller (512) 555-0100");
    }
}
