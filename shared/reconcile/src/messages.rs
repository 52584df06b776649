//! The reconcile queue's message: reconcile this tenant now.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The fan-out schedule's tick.
    Schedule,
    /// An operator's re-run from a date (the feeds were reset first).
    Rerun,
    /// The previous reconcile ran out of its time budget with pages left: go on at once.
    Continue,
    /// The tenant connected or switched a recipe on: read its lookback now rather than at the next tick.
    Connect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", rename = "reconcile")]
pub struct ReconcileRequest {
    pub tenant_id: String,
    pub requested_at: Timestamp,
    pub reason: Reason,
}

impl ReconcileRequest {
    pub fn new(tenant_id: &str, reason: Reason, at: Timestamp) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            requested_at: at,
            reason,
        }
    }

    /// The queue message's body.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("requests serialise")
    }

    /// A scheduled request that a reconcile started after it has already covered.
    pub fn is_stale(&self, last_started: Option<Timestamp>) -> bool {
        self.reason == Reason::Schedule && last_started.is_some_and(|s| s > self.requested_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_knows_when_it_is_stale() {
        let at: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let r = ReconcileRequest {
            tenant_id: "1001".into(),
            requested_at: at,
            reason: Reason::Schedule,
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "reconcile", "tenantId": "1001", "requestedAt": "2026-12-01T12:00:00Z",
                               "reason": "schedule"})
        );
        assert_eq!(serde_json::from_value::<ReconcileRequest>(json).unwrap(), r);
        assert!(!r.is_stale(None));
        assert!(!r.is_stale(Some(at)));
        assert!(r.is_stale(Some(at + jiff::SignedDuration::from_secs(1))));
        let rerun = ReconcileRequest {
            reason: Reason::Rerun,
            ..r
        };
        assert!(
            !rerun.is_stale(Some(at + jiff::SignedDuration::from_secs(1))),
            "a re-run always runs"
        );
    }
}
