//! Messages on the leads queue.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum LeadMessage {
    /// Create (or finish creating) the lead's records.
    #[serde(rename = "lead.create", rename_all = "camelCase")]
    Create { tenant_id: String, lead_id: String },
    /// Attach a later transcript or summary to the lead's records.
    #[serde(rename = "lead.attachment", rename_all = "camelCase")]
    Attachment {
        tenant_id: String,
        lead_id: String,
        fingerprint: String,
    },
}

impl LeadMessage {
    pub fn tenant_id(&self) -> &str {
        match self {
            Self::Create { tenant_id, .. } | Self::Attachment { tenant_id, .. } => tenant_id,
        }
    }

    pub fn lead_id(&self) -> &str {
        match self {
            Self::Create { lead_id, .. } | Self::Attachment { lead_id, .. } => lead_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let m = LeadMessage::Create {
            tenant_id: "1001".into(),
            lead_id: "chat-1".into(),
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "lead.create", "tenantId": "1001", "leadId": "chat-1"})
        );
        assert_eq!(serde_json::from_value::<LeadMessage>(json).unwrap(), m);
    }
}
