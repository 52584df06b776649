//! What the follow-up functions put on queues.

use followups::timing::Position;
use serde::{Deserialize, Serialize};

/// A run's step is due: the body of a follow-ups queue message (a step schedule's input, or sent directly when the
/// step is due at once). The runner acts only if the run is still at this position and fire sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepDue {
    /// Always `followup.step`.
    pub kind: String,
    pub tenant_id: String,
    pub run_id: String,
    pub step: usize,
    pub round: u32,
    pub seq: u32,
    /// Filled in by EventBridge Scheduler (`<aws.scheduler.scheduled-time>`); for information only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
}

pub const STEP_KIND: &str = "followup.step";

impl StepDue {
    pub fn new(tenant_id: &str, run_id: &str, position: Position, seq: u32) -> Self {
        Self {
            kind: STEP_KIND.into(),
            tenant_id: tenant_id.to_owned(),
            run_id: run_id.to_owned(),
            step: position.step,
            round: position.round,
            seq,
            scheduled_time: None,
        }
    }

    pub fn position(&self) -> Position {
        Position {
            step: self.step,
            round: self.round,
        }
    }
}
