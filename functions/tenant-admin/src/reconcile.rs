//! The reconciler as the admin API shows it: per feed, where its cursor is, when it was last read to its end and
//! its lag behind now, and the changes that reached us only through it (webhook gaps); and
//! `POST /admin/tenants/{id}/reconcile {"from"}`, which reads the tenant's feeds again from a date.

use http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tracing::{info, warn};

use reconcile::feeds::Feed;
use reconcile::messages::{Reason, ReconcileRequest};
use shared::api_error::{ApiError, FieldError, json_response};
use shared::clock::iso_millis;
use shared::tenants::TenantStatus;

use crate::{Admin, Handled, storage_error};

/// A re-run reaches back at most this far (ServiceTitan's export feeds are for changes, not archives).
const MAX_RERUN_DAYS: i64 = 90;

impl Admin {
    /// The `reconcile` section of the status page.
    pub(crate) async fn reconcile_status(&self, tenant_id: &str) -> Result<Value, ApiError> {
        let now = self.clock.now();
        let (run, feeds) = tokio::join!(self.reconcile.run_state(tenant_id), self.reconcile.feeds(tenant_id));
        let run = run.map_err(|e| storage_error("reading the reconcile state", e))?;
        let feeds = feeds.map_err(|e| storage_error("reading the reconcile state", e))?;
        let gaps: u64 = feeds.iter().map(|f| f.webhook_gaps).sum();
        Ok(json!({
            "intervalMinutes": self.config.reconcile_interval.as_secs() / 60,
            "lastStartedAt": run.last_started_at.map(iso_millis),
            "lastFinishedAt": run.last_finished_at.map(iso_millis),
            "lastSuccessAt": run.last_success_at.map(iso_millis),
            "lastOutcome": run.last_outcome,
            "webhookGaps": gaps,
            "feeds": feeds.iter().map(|f| json!({
                "feed": f.feed,
                "startedFrom": f.started_from.map(iso_millis),
                "position": f.position.map(iso_millis),
                "completeAsOf": f.complete_as_of.map(iso_millis),
                "lagSeconds": f.lag(now).map(|l| l.as_secs()),
                "lastRunAt": f.last_run_at.map(iso_millis),
                "lastError": f.last_error,
                "records": f.records,
                "changes": f.changes,
                "confirmed": f.confirmed,
                "backfilled": f.backfilled,
                "webhookGaps": f.webhook_gaps,
            })).collect::<Vec<_>>(),
        }))
    }

    /// `POST /admin/tenants/{id}/reconcile`: `{"from": date or time, "feeds"?: [...]}`. The feeds start again from
    /// `from` (what they find is treated as backfill: only follow-ups still ahead are planned), and a reconcile is
    /// queued at once.
    pub(crate) async fn rerun(&self, tenant_id: &str, body: &Value) -> Handled {
        let now = self.clock.now();
        let mut fields = Vec::new();
        let from = match body.get("from").and_then(Value::as_str) {
            Some(raw) => match parse_from(raw) {
                Some(t) if t > now => {
                    fields.push(FieldError::rule("/from", "must not be in the future"));
                    None
                }
                Some(t) if t < now - SignedDuration::from_hours(24 * MAX_RERUN_DAYS) => {
                    fields.push(FieldError::rule(
                        "/from",
                        format!("must be within the last {MAX_RERUN_DAYS} days"),
                    ));
                    None
                }
                Some(t) => Some(t),
                None => {
                    fields.push(FieldError::new(
                        "/from",
                        "must be a date (2026-11-20) or an RFC 3339 time",
                    ));
                    None
                }
            },
            None => {
                fields.push(FieldError::new(
                    "/from",
                    "is required: the date to read the feeds again from",
                ));
                None
            }
        };
        let feeds: Vec<Feed> = match body.get("feeds") {
            None | Some(Value::Null) => Feed::ALL.to_vec(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v.as_str().and_then(Feed::parse) {
                    Some(f) => Some(f),
                    None => {
                        fields.push(FieldError::new(
                            "/feeds",
                            format!("item {i} must be one of {}", Feed::ALL.map(Feed::as_str).join(", ")),
                        ));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                fields.push(FieldError::new("/feeds", "must be a list of feed names"));
                Vec::new()
            }
        };
        if let Some(obj) = body.as_object() {
            for key in obj.keys().filter(|k| !["from", "feeds"].contains(&k.as_str())) {
                fields.push(FieldError::new("/", format!("unknown field {key:?}")));
            }
        }
        if let Some(e) = ApiError::invalid_body("invalid_request", "the re-run request is invalid", fields) {
            return Err(e);
        }
        let from = from.expect("a missing or refused `from` is listed above");
        let record = self.record(tenant_id).await?;
        if record.tenant.status != TenantStatus::Connected {
            return Err(crate::settings::not_connected(tenant_id));
        }
        let names: Vec<&str> = feeds.iter().map(|f| f.as_str()).collect();
        self.reconcile
            .reset(tenant_id, &names, from)
            .await
            .map_err(|e| storage_error("resetting the feeds", e))?;
        self.request_reconcile(tenant_id, Reason::Rerun)
            .await
            .map_err(|e| storage_error("queueing the reconcile", e))?;
        info!(from = %iso_millis(from), feeds = ?names, "reconcile re-run requested");
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"tenantId": tenant_id, "from": iso_millis(from), "feeds": names, "status": "queued"}),
        ))
    }

    /// Queues a reconcile of the tenant now.
    pub(crate) async fn request_reconcile(&self, tenant_id: &str, reason: Reason) -> Result<(), String> {
        let body = ReconcileRequest::new(tenant_id, reason, self.clock.now()).to_body();
        shared::sqs_batch::send_all(&self.sqs, &self.config.reconcile_queue_url, &[body]).await
    }

    /// After a connect or a settings change: read the lookback now rather than at the next tick. Best effort, as
    /// the schedule reconciles the tenant within one interval anyway.
    pub(crate) async fn reconcile_soon(&self, tenant_id: &str) {
        if let Err(e) = self.request_reconcile(tenant_id, Reason::Connect).await {
            warn!(error = %e, "could not queue a reconcile; the next scheduled one covers the tenant");
        }
    }
}

fn parse_from(raw: &str) -> Option<Timestamp> {
    if let Ok(date) = raw.parse::<jiff::civil::Date>() {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok();
    }
    shared::clock::parse_flexible(raw)
}
