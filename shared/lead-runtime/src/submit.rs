//! Taking a lead in: stored, then queued for the creator. Used by `POST /leads` and by the reconciler for the
//! missed calls it finds in the phone log, so both keep the same promise: the same lead twice is one lead, and one
//! stored but never queued (a crash between the two) is queued by its repeat.

use jiff::Timestamp;
use leads::lead::Lead;

use crate::messages::LeadMessage;
use crate::store::{Accepted, LeadRecord, LeadStatus, LeadStore, StoreError};

#[derive(Debug)]
pub enum Submitted {
    New,
    Repeat(Box<LeadRecord>),
    /// Another lead under this id.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the leads queue is unavailable: {0}")]
    Queue(String),
}

pub struct Submitter<'a> {
    pub store: &'a LeadStore,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub queue_url: &'a str,
}

impl Submitter<'_> {
    pub async fn submit(&self, lead: &Lead, fingerprint: &str, now: Timestamp) -> Result<Submitted, SubmitError> {
        match self.store.accept(lead, fingerprint, now).await? {
            Accepted::New => {
                self.enqueue(lead).await?;
                Ok(Submitted::New)
            }
            Accepted::Repeat(existing) => {
                if !existing.queued && existing.status == LeadStatus::Accepted {
                    self.enqueue(lead).await?;
                }
                Ok(Submitted::Repeat(existing))
            }
            Accepted::Conflict => Ok(Submitted::Conflict),
        }
    }

    async fn enqueue(&self, lead: &Lead) -> Result<(), SubmitError> {
        let message = LeadMessage::Create {
            tenant_id: lead.tenant_id.clone(),
            lead_id: lead.lead_id.clone(),
        };
        self.sqs
            .send_message()
            .queue_url(self.queue_url)
            .message_body(serde_json::to_string(&message).expect("messages serialise"))
            .send()
            .await
            .map_err(|e| SubmitError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        self.store.mark_queued(&lead.tenant_id, &lead.lead_id).await?;
        Ok(())
    }
}
