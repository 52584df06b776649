//! telecom: calls. The telecom server URL has no `/v2`; each path carries its own version — the paginated call list
//! is `GET /telecom/v3/tenant/{t}/calls` (`Telecom.V3.CallResponse`) and the export feed is
//! `GET /telecom/v2/tenant/{t}/export/calls` (`Telecom.V2.ExportCallResponse`).

use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::model::Call;
use crate::util::{ApiResult, ListOpts, P, Q, export, list, phone_matches, ts};

/// Seconds → an ISO 8601 duration (`PT2M35S`), the `format: duration` the spec declares.
pub fn iso_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || (h == 0 && m == 0) {
        out.push_str(&format!("{s}S"));
    }
    out
}

fn named(r: &Option<(i64, String)>) -> Value {
    match r {
        Some((id, name)) => json!({ "id": id, "name": name }),
        None => Value::Null,
    }
}

/// `Telecom.V3.CallResponse`: the call wrapped with its job/project refs, details under `leadCall`.
pub fn call_v3_json(c: &Call) -> Value {
    json!({
        "id": c.id,
        "jobNumber": c.job.as_ref().map(|j| j.1.clone()),
        "projectId": 0,
        "businessUnit": null,
        "type": null,
        "leadCall": {
            "createdOn": ts(c.created_on),
            "active": c.active,
            "id": c.id,
            "receivedOn": ts(c.received_on),
            "duration": iso_duration(c.duration_seconds),
            "from": c.from,
            "to": c.to,
            "direction": c.direction,
            "callType": c.call_type,
            "reason": null,
            "recordingUrl": null,
            "voiceMailUrl": null,
            "createdBy": null,
            "customer": named(&c.customer),
            "campaign": named(&c.campaign),
            "modifiedOn": ts(c.modified_on),
            "agent": c.agent.as_ref().map(|(id, name)| json!({ "id": id, "name": name, "externalId": null })),
            "sid": null,
            "tags": [],
        },
    })
}

/// `Telecom.V2.ExportCallResponse`.
pub fn call_export_json(c: &Call) -> Value {
    json!({
        "id": c.id,
        "duration": iso_duration(c.duration_seconds),
        "from": c.from,
        "to": c.to,
        "direction": c.direction,
        "status": c.status,
        "type": c.call_type,
        "recordingUrl": null,
        "voiceMailPath": null,
        "createdOn": ts(c.created_on),
        "modifiedOn": ts(c.modified_on),
        "reason": null,
        "customer": named(&c.customer),
        "location": named(&c.location),
        "campaign": named(&c.campaign),
        "job": c.job.as_ref().map(|(id, number)| json!({ "id": id, "number": number })),
        "agent": named(&c.agent),
        "createdBy": null,
        "excuseMemo": "",
        "tag": "",
        "active": c.active,
        "lead": null,
    })
}

/// `GET /v3/tenant/{t}/calls`: the shared list filters plus `createdAfter`/`modifiedAfter` (exclusive),
/// `campaignId`, `agentId`, `minDuration`, `phoneNumberCalled`, `callerPhoneNumber`.
pub async fn list_calls(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let created_after = q.time("createdAfter")?;
    let modified_after = q.time("modifiedAfter")?;
    let campaign_id = q.i64("campaignId")?;
    let agent_id = q.i64("agentId")?;
    let min_duration = q.i64("minDuration")?;
    let called = q.str("phoneNumberCalled").map(str::to_string);
    let caller = q.str("callerPhoneNumber").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.calls.values(),
            ListOpts { active: true },
            |c| {
                created_after.is_none_or(|a| c.created_on > a)
                    && modified_after.is_none_or(|a| c.modified_on > a)
                    && campaign_id.is_none_or(|id| c.campaign.as_ref().is_some_and(|x| x.0 == id))
                    && agent_id.is_none_or(|id| c.agent.as_ref().is_some_and(|x| x.0 == id))
                    && min_duration.is_none_or(|m| c.duration_seconds >= m)
                    && called.as_deref().is_none_or(|n| phone_matches(n, &c.to))
                    && caller.as_deref().is_none_or(|n| phone_matches(n, &c.from))
            },
            call_v3_json,
        )
    })
}

pub async fn export_calls(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| export(&q, t.calls.values(), call_export_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(0), "PT0S");
        assert_eq!(iso_duration(155), "PT2M35S");
        assert_eq!(iso_duration(3600), "PT1H");
        assert_eq!(iso_duration(3725), "PT1H2M5S");
    }
}
