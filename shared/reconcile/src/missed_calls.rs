//! Which calls in ServiceTitan's phone log were missed, and the lead each becomes. A missed call goes the way of a
//! `source: missed_call` lead: the caller is matched or made a customer (or a ServiceTitan lead), and the engine's
//! `missed_call_text_back` starts, with opt-outs and quiet hours applied.
//!
//! UNCONFIRMED against live data: the telecom schema marks a call the caller hung up on as `type: Abandoned`, and
//! names as `agent` "the user who clicked the call bubble" — so an inbound call that is over with no agent and no
//! booking was not answered either.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use servicetitan_models::telecom::{CallDirection, CallStatus, CallType, ExportCall};

/// Why a call in the log is not texted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMissed {
    /// Answered, outbound, still ringing, or booked.
    Answered,
    /// Missed longer ago than the text-back is worth sending ("sorry we missed your call" a day later).
    TooOld,
    /// No caller number to text.
    NoNumber,
}

/// A missed inbound call, found no later than `max_age` after it came in.
pub fn check(call: &ExportCall, now: Timestamp, max_age: SignedDuration) -> Result<(), NotMissed> {
    let finished = !matches!(call.status, CallStatus::Ringing);
    let unanswered = match call.call_type {
        Some(CallType::Abandoned) => true,
        Some(CallType::Booked | CallType::Excused | CallType::NotLead) => false,
        _ => call.agent.is_none(),
    };
    if call.direction != CallDirection::Inbound || !finished || !unanswered || !call.active {
        return Err(NotMissed::Answered);
    }
    if call.from.chars().filter(char::is_ascii_digit).count() < 7 {
        return Err(NotMissed::NoNumber);
    }
    if now - max_age > call.created_on {
        return Err(NotMissed::TooOld);
    }
    Ok(())
}

/// The lead a missed call becomes (the body `POST /leads` takes). Its id is the call's, so reading the call again
/// is the same lead, and the text-back is the call's own (a webhook about the call starts no second one).
pub fn lead(tenant_id: &str, call: &ExportCall) -> Value {
    json!({
        "leadId": format!("st-call-{}", call.id),
        "tenantId": tenant_id,
        "source": "missed_call",
        "phone": call.from,
        "callId": call.id,
        "occurredAt": call.created_on.to_string(),
        "summary": "Missed call found in ServiceTitan's phone log.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(extra: Value) -> ExportCall {
        let mut c = json!({
            "id": 501, "direction": "Inbound", "status": "Completed", "type": null, "duration": "00:00:12",
            "from": "5125550188", "to": "5125550100", "active": true,
            "createdOn": "2026-12-01T15:00:00Z", "modifiedOn": "2026-12-01T15:00:20Z",
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-01T15:05:00Z".parse().unwrap()
    }

    const HOUR: SignedDuration = SignedDuration::from_hours(1);

    #[test]
    fn abandoned_and_unanswered_inbound_calls_are_missed() {
        assert_eq!(check(&call(json!({"type": "Abandoned"})), now(), HOUR), Ok(()));
        assert_eq!(check(&call(json!({})), now(), HOUR), Ok(()));
        let agent = json!({"agent": {"id": 3, "name": "Sam"}});
        assert_eq!(check(&call(agent), now(), HOUR), Err(NotMissed::Answered));
        assert_eq!(
            check(&call(json!({"type": "Booked"})), now(), HOUR),
            Err(NotMissed::Answered)
        );
        assert_eq!(
            check(&call(json!({"direction": "Outbound"})), now(), HOUR),
            Err(NotMissed::Answered)
        );
        assert_eq!(
            check(&call(json!({"status": "Ringing"})), now(), HOUR),
            Err(NotMissed::Answered)
        );
        assert_eq!(
            check(&call(json!({"from": "anonymous"})), now(), HOUR),
            Err(NotMissed::NoNumber)
        );
    }

    #[test]
    fn an_old_missed_call_is_not_texted() {
        let later = now() + SignedDuration::from_hours(2);
        assert_eq!(
            check(&call(json!({"type": "Abandoned"})), later, HOUR),
            Err(NotMissed::TooOld)
        );
    }

    #[test]
    fn the_lead_is_the_call_s() {
        let l = lead("1001", &call(json!({})));
        assert_eq!(l["leadId"], "st-call-501");
        assert_eq!(l["callId"], 501);
        assert_eq!(l["source"], "missed_call");
        assert_eq!(
            l,
            lead("1001", &call(json!({"modifiedOn": "2026-12-01T16:00:00Z"}))),
            "stable across versions"
        );
    }
}
