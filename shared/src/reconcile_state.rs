//! The reconciler's state per tenant (`ReconcileTable`, keyed by `tenant_id` and `sk`):
//!
//! - `lease`: who is reconciling the tenant and until when. A reconcile takes it with a conditional write, so two
//!   never overlap (a scheduled one and an operator's re-run, or a redelivered message);
//! - `feed#<name>`: one export feed's cursor (`continueFrom`), where it started, how far it has read, when it was
//!   last read to its end, and the counts the status page shows.
//!
//! A cursor moves only after the changes of the page it covers are on the events queue, and only if nobody reset
//! it meanwhile (`generation`, bumped by a re-run from a date): a crash re-reads a page, never skips one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::clock::iso_millis;
use crate::dynamo_item::{Item, n, num, s, text, time};

#[derive(Debug, thiserror::Error)]
#[error("reconcile state unavailable: {0}")]
pub struct ReconcileStateError(String);

fn unavailable(e: impl std::fmt::Display) -> ReconcileStateError {
    ReconcileStateError(e.to_string())
}

/// What the table knows about one feed of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedState {
    pub feed: String,
    /// ServiceTitan's `continueFrom` after the last page whose changes were queued.
    #[serde(skip)]
    pub cursor: Option<String>,
    /// Where the feed started (the lookback, or an operator's re-run date).
    pub started_from: Option<Timestamp>,
    /// The newest `modifiedOn` read so far: the cursor's position in time.
    pub position: Option<Timestamp>,
    /// When a read last reached the feed's end (`hasMore: false`): everything changed before is known.
    pub complete_as_of: Option<Timestamp>,
    pub last_run_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Records read, and of them: queued as changes, already known from webhooks, and queued while the feed
    /// was still reading its lookback (backfill).
    pub records: u64,
    pub changes: u64,
    pub confirmed: u64,
    pub backfilled: u64,
    /// Changes that reached us only through the reconciler: webhook gaps.
    pub webhook_gaps: u64,
    /// Bumped by a reset; a cursor advance made under an older generation is refused.
    #[serde(skip)]
    pub generation: u64,
}

impl FeedState {
    /// How far behind now the feed is known to be complete.
    pub fn lag(&self, now: Timestamp) -> Option<SignedDuration> {
        self.complete_as_of
            .map(|t| now.duration_since(t).max(SignedDuration::ZERO))
    }

    fn from_item(item: &Item) -> Self {
        Self {
            feed: text(item, "sk")
                .and_then(|k| k.strip_prefix("feed#"))
                .unwrap_or_default()
                .to_owned(),
            cursor: text(item, "feed_cursor").map(str::to_owned),
            started_from: time(item, "started_from"),
            position: time(item, "read_through"),
            complete_as_of: time(item, "complete_as_of"),
            last_run_at: time(item, "last_run_at"),
            last_error: text(item, "last_error").map(str::to_owned),
            records: num(item, "records").unwrap_or(0),
            changes: num(item, "changes").unwrap_or(0),
            confirmed: num(item, "confirmed").unwrap_or(0),
            backfilled: num(item, "backfilled").unwrap_or(0),
            webhook_gaps: num(item, "webhook_gaps").unwrap_or(0),
            generation: num(item, "generation").unwrap_or(0),
        }
    }
}

/// One page's worth of progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageProgress {
    pub cursor: Option<String>,
    pub position: Option<Timestamp>,
    /// The page was the feed's last (`hasMore: false`).
    pub complete: bool,
    pub records: u64,
    pub changes: u64,
    pub confirmed: u64,
    pub backfilled: u64,
    pub webhook_gaps: u64,
}

/// The last reconcile of a tenant, for the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    pub last_started_at: Option<Timestamp>,
    pub last_finished_at: Option<Timestamp>,
    /// The last reconcile that read every feed without an error.
    pub last_success_at: Option<Timestamp>,
    pub last_outcome: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ReconcileStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl ReconcileStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(tenant_id: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("tenant_id".into(), s(tenant_id)), ("sk".into(), s(sk))])
    }

    /// Takes the tenant's lease for `holder` until `now + lease`; `false` when another holds it.
    pub async fn acquire(
        &self,
        tenant_id: &str,
        holder: &str,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Result<bool, ReconcileStateError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, "lease")))
            .update_expression("SET holder = :h, until_at = :until, last_started_at = :now")
            .condition_expression("attribute_not_exists(holder) OR holder = :h OR until_at < :now")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":until", s(iso_millis(now + lease)))
            .expression_attribute_values(":now", s(iso_millis(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if crate::aws::is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
    }

    /// Gives the lease back and records how the reconcile went (`success`: every feed read without an error).
    pub async fn release(
        &self,
        tenant_id: &str,
        holder: &str,
        outcome: &str,
        success: bool,
        now: Timestamp,
    ) -> Result<(), ReconcileStateError> {
        let mut expression = "REMOVE holder, until_at SET last_finished_at = :now, last_outcome = :o".to_owned();
        if success {
            expression.push_str(", last_success_at = :now");
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, "lease")))
            .update_expression(expression)
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":now", s(iso_millis(now)))
            .expression_attribute_values(":o", s(outcome))
            .send()
            .await;
        match result {
            // The lease ran out and another took it: theirs now.
            Err(e) if crate::aws::is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            Ok(_) => Ok(()),
        }
    }

    pub async fn run_state(&self, tenant_id: &str) -> Result<RunState, ReconcileStateError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, "lease")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?
            .item
            .unwrap_or_default();
        Ok(RunState {
            last_started_at: time(&item, "last_started_at"),
            last_finished_at: time(&item, "last_finished_at"),
            last_success_at: time(&item, "last_success_at"),
            last_outcome: text(&item, "last_outcome").map(str::to_owned),
        })
    }

    /// The feed's state, starting it at `default_from` if it has none (kept, so a crash before the first page
    /// does not move the start).
    pub async fn feed(
        &self,
        tenant_id: &str,
        feed: &str,
        default_from: Timestamp,
    ) -> Result<FeedState, ReconcileStateError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("feed#{feed}"))))
            .update_expression(
                "SET started_from = if_not_exists(started_from, :from), generation = if_not_exists(generation, :zero)",
            )
            .expression_attribute_values(":from", s(iso_millis(default_from)))
            .expression_attribute_values(":zero", n(0))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(FeedState::from_item(&out.attributes.unwrap_or_default()))
    }

    /// Every feed's state (for the status page).
    pub async fn feeds(&self, tenant_id: &str) -> Result<Vec<FeedState>, ReconcileStateError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t AND begins_with(sk, :p)")
            .expression_attribute_values(":t", s(tenant_id))
            .expression_attribute_values(":p", s("feed#"))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(out.items().iter().map(FeedState::from_item).collect())
    }

    /// Moves the cursor past a page whose changes are queued. `false`: the feed was reset meanwhile (the page
    /// belongs to the old reading; the next reconcile starts from the reset).
    pub async fn advance(
        &self,
        tenant_id: &str,
        state: &FeedState,
        page: &PageProgress,
        now: Timestamp,
    ) -> Result<bool, ReconcileStateError> {
        let mut sets = vec!["last_run_at = :now"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("feed#{}", state.feed))))
            .condition_expression("generation = :g")
            .expression_attribute_values(":g", n(state.generation))
            .expression_attribute_values(":now", s(iso_millis(now)))
            .expression_attribute_values(":records", n(page.records))
            .expression_attribute_values(":changes", n(page.changes))
            .expression_attribute_values(":confirmed", n(page.confirmed))
            .expression_attribute_values(":backfilled", n(page.backfilled))
            .expression_attribute_values(":gaps", n(page.webhook_gaps));
        if let Some(c) = &page.cursor {
            sets.push("feed_cursor = :cursor");
            req = req.expression_attribute_values(":cursor", s(c));
        }
        if let Some(p) = page.position.filter(|p| state.position.is_none_or(|q| *p > q)) {
            sets.push("read_through = :position");
            req = req.expression_attribute_values(":position", s(iso_millis(p)));
        }
        if page.complete {
            sets.push("complete_as_of = :now");
        }
        let expression = format!(
            "SET {} REMOVE last_error ADD records :records, changes :changes, confirmed :confirmed, \
             backfilled :backfilled, webhook_gaps :gaps",
            sets.join(", ")
        );
        match req.update_expression(expression).send().await {
            Ok(_) => Ok(true),
            Err(e) if crate::aws::is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
    }

    /// Notes why a feed could not be read (ServiceTitan down, refused); the cursor stays.
    pub async fn record_error(
        &self,
        tenant_id: &str,
        feed: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<(), ReconcileStateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("feed#{feed}"))))
            .update_expression("SET last_error = :e, last_run_at = :now")
            .expression_attribute_values(":e", s(error.chars().take(500).collect::<String>()))
            .expression_attribute_values(":now", s(iso_millis(now)))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Starts `feeds` again from `from` (an operator's re-run): the cursor goes, the generation moves on, so a
    /// reconcile still reading under the old one cannot move the cursor back.
    pub async fn reset(&self, tenant_id: &str, feeds: &[&str], from: Timestamp) -> Result<(), ReconcileStateError> {
        for feed in feeds {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant_id, &format!("feed#{feed}"))))
                .update_expression("SET started_from = :from REMOVE feed_cursor, complete_as_of ADD generation :one")
                .expression_attribute_values(":from", s(iso_millis(from)))
                .expression_attribute_values(":one", n(1))
                .send()
                .await
                .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }

    /// Forgets the tenant (a disconnect): the next connect starts from its lookback again.
    pub async fn delete_tenant(&self, tenant_id: &str) -> Result<(), ReconcileStateError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", s(tenant_id))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        for item in out.items() {
            let sk = text(item, "sk").unwrap_or_default();
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant_id, sk)))
                .send()
                .await
                .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_from_the_last_complete_read() {
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let mut f = FeedState::default();
        assert_eq!(f.lag(now), None);
        f.complete_as_of = Some(now - SignedDuration::from_mins(7));
        assert_eq!(f.lag(now), Some(SignedDuration::from_mins(7)));
    }
}
